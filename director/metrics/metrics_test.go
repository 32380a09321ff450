package metrics

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/tandemlb/tandem/shared/testutil"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// sampled is a registry with every scrape-time source set and one series
// in every vector.
func sampled() *Metrics {
	m := New()
	m.SetVRRPSource(func() []VRRPSample {
		return []VRRPSample{{Instance: "VI_1", AdvertsSent: 10, AdvertsReceived: 7, SendErrors: 1, BecomeMaster: 2, ReleaseMaster: 1,
			PriorityZeroSent: 1, PriorityZeroReceived: 3, Priority: 150, LastTransition: t0,
			Dropped: map[string]uint64{VRRPDropAuth: 4, VRRPDropTTL: 5}}}
	})
	m.SetIPVSSource(func() ([]IPVSServiceSample, error) {
		return []IPVSServiceSample{
			{Service: "TCP 192.0.2.100:80", Traffic: Traffic{Conns: 3, PktsIn: 30, BytesIn: 3000},
				Dests: []IPVSDestSample{{RS: "192.0.2.101:80", Traffic: Traffic{Conns: 2, PktsIn: 20, BytesIn: 2000}}, {RS: "192.0.2.102:80", Traffic: Traffic{Conns: 1, PktsIn: 10, BytesIn: 1000}}}},
			{Service: "TCP 192.0.2.100:443", Traffic: Traffic{Conns: 1, PktsIn: 5, PktsOut: 4, BytesIn: 500, BytesOut: 400, Out: true},
				Dests: []IPVSDestSample{{RS: "10.0.0.1:443", Traffic: Traffic{Conns: 1, PktsIn: 5, PktsOut: 4, BytesIn: 500, BytesOut: 400, Out: true}}}},
		}, nil
	})
	m.SetFastFailoverSource(func() (FastFailoverSample, bool) {
		return FastFailoverSample{SessionUp: true, Sent: 100, Received: 98, Lost: 2, Takeovers: 1, Dropped: map[string]uint64{"mac": 3}}, true
	})
	svc, rs := "TCP 192.0.2.100:80", "192.0.2.101:80"
	m.CheckObserver(svc, "HTTP_GET")(12 * time.Millisecond)
	m.LastChange.WithLabelValues(svc, rs).Set(UnixSeconds(t0))
	m.SetAgent("192.0.2.101", t0, true)
	m.ReloadLastSuccess.Set(UnixSeconds(t0))
	m.ReloadSuccessful.Set(1)
	m.SetConfigHash("0123456789ab")
	m.ObserveProbeInterval(50 * time.Millisecond)
	for _, v := range []*GaugeFamily{m.Weight, m.ConfiguredWeight, m.Present, m.PoolState, m.ActiveConns, m.InactiveConns} {
		v.WithLabelValues(svc, rs).Set(1)
	}
	m.CheckUp.WithLabelValues(svc, rs, "HTTP_GET").Set(1)
	m.CheckResults.WithLabelValues(svc, rs, "HTTP_GET", "success").Inc()
	m.QuorumUp.WithLabelValues(svc).Set(1)
	m.SorryActive.WithLabelValues(svc).Set(0)
	m.Agents.WithLabelValues("up").Set(1)
	m.IPVSOps.WithLabelValues("add destination", "ok").Inc()
	m.SyncDaemon.WithLabelValues("master").Set(1)
	m.VRRPState.WithLabelValues("VI_1").Set(2)
	m.VRRPTransitions.WithLabelValues("VI_1", "MASTER").Inc()
	m.Info.WithLabelValues("test").Set(1)
	return m
}

// families gathers g by name.
func families(t *testing.T, g prometheus.Gatherer) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		out[mf.GetName()] = mf
	}
	return out
}

// value is the value of the series of family name with labels (name=value
// pairs), and whether there is one.
func value(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
next:
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		for i, l := range m.GetLabel() {
			if l.GetName() != labels[2*i] || l.GetValue() != labels[2*i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		}
	}
	return 0, false
}

// The new families: name, type and labels (label names in the order the
// exposition sorts them).
var newFamilies = []struct {
	name   string
	typ    dto.MetricType
	labels []string
}{
	{"tandem_director_vrrp_adverts_sent_total", dto.MetricType_COUNTER, []string{"vrrp_instance"}},
	{"tandem_director_vrrp_adverts_received_total", dto.MetricType_COUNTER, []string{"vrrp_instance"}},
	{"tandem_director_vrrp_advert_send_errors_total", dto.MetricType_COUNTER, []string{"vrrp_instance"}},
	{"tandem_director_vrrp_adverts_dropped_total", dto.MetricType_COUNTER, []string{"reason", "vrrp_instance"}},
	{"tandem_director_vrrp_become_master_total", dto.MetricType_COUNTER, []string{"vrrp_instance"}},
	{"tandem_director_vrrp_release_master_total", dto.MetricType_COUNTER, []string{"vrrp_instance"}},
	{"tandem_director_vrrp_priority_zero_sent_total", dto.MetricType_COUNTER, []string{"vrrp_instance"}},
	{"tandem_director_vrrp_priority_zero_received_total", dto.MetricType_COUNTER, []string{"vrrp_instance"}},
	{"tandem_director_vrrp_priority", dto.MetricType_GAUGE, []string{"vrrp_instance"}},
	{"tandem_director_vrrp_last_transition_timestamp_seconds", dto.MetricType_GAUGE, []string{"vrrp_instance"}},
	{"tandem_director_ipvs_service_connections_total", dto.MetricType_COUNTER, []string{"service"}},
	{"tandem_director_ipvs_service_packets_total", dto.MetricType_COUNTER, []string{"direction", "service"}},
	{"tandem_director_ipvs_service_bytes_total", dto.MetricType_COUNTER, []string{"direction", "service"}},
	{"tandem_director_ipvs_destination_connections_total", dto.MetricType_COUNTER, []string{"rs", "service"}},
	{"tandem_director_ipvs_destination_packets_total", dto.MetricType_COUNTER, []string{"direction", "rs", "service"}},
	{"tandem_director_ipvs_destination_bytes_total", dto.MetricType_COUNTER, []string{"direction", "rs", "service"}},
	{"tandem_director_ipvs_stats_read_success", dto.MetricType_GAUGE, nil},
	{"tandem_director_ipvs_stats_read_duration_seconds", dto.MetricType_GAUGE, nil},
	{"tandem_director_check_duration_seconds", dto.MetricType_HISTOGRAM, []string{"check", "service"}},
	{"tandem_director_destination_last_change_timestamp_seconds", dto.MetricType_GAUGE, []string{"rs", "service"}},
	{"tandem_director_agent_last_seen_timestamp_seconds", dto.MetricType_GAUGE, []string{"agent"}},
	{"tandem_director_agent_maintenance", dto.MetricType_GAUGE, []string{"agent"}},
	{"tandem_director_config_last_reload_success_timestamp_seconds", dto.MetricType_GAUGE, nil},
	{"tandem_director_config_last_reload_successful", dto.MetricType_GAUGE, nil},
	{"tandem_director_config_info", dto.MetricType_GAUGE, []string{"hash"}},
	{"tandem_director_fast_failover_session_up", dto.MetricType_GAUGE, nil},
	{"tandem_director_fast_failover_probes_sent_total", dto.MetricType_COUNTER, nil},
	{"tandem_director_fast_failover_probes_received_total", dto.MetricType_COUNTER, nil},
	{"tandem_director_fast_failover_probes_lost_total", dto.MetricType_COUNTER, nil},
	{"tandem_director_fast_failover_probe_send_errors_total", dto.MetricType_COUNTER, nil},
	{"tandem_director_fast_failover_probes_dropped_total", dto.MetricType_COUNTER, []string{"reason"}},
	{"tandem_director_fast_failover_takeovers_total", dto.MetricType_COUNTER, nil},
	{"tandem_director_fast_failover_vetoes_total", dto.MetricType_COUNTER, nil},
	{"tandem_director_fast_failover_vetoes_expired_total", dto.MetricType_COUNTER, nil},
	{"tandem_director_fast_failover_probe_interval_seconds", dto.MetricType_HISTOGRAM, nil},
}

func TestNewFamilies(t *testing.T) {
	fams := served(t, sampled())
	for _, f := range newFamilies {
		mf := fams[f.name]
		if mf == nil {
			t.Errorf("%s missing", f.name)
			continue
		}
		if mf.GetType() != f.typ {
			t.Errorf("%s is a %v, want %v", f.name, mf.GetType(), f.typ)
		}
		if mf.GetHelp() == "" {
			t.Errorf("%s has no help", f.name)
		}
		var got []string
		for _, l := range mf.GetMetric()[0].GetLabel() {
			got = append(got, l.GetName())
		}
		if strings.Join(got, ",") != strings.Join(f.labels, ",") {
			t.Errorf("%s labels %v, want %v", f.name, got, f.labels)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tandem_director_vrrp_adverts_dropped_total", []string{"reason", "authentication", "vrrp_instance", "VI_1"}, 4},
		{"tandem_director_vrrp_adverts_dropped_total", []string{"reason", "ttl", "vrrp_instance", "VI_1"}, 5},
		{"tandem_director_vrrp_adverts_dropped_total", []string{"reason", "queue_full", "vrrp_instance", "VI_1"}, 0},
		{"tandem_director_vrrp_priority", []string{"vrrp_instance", "VI_1"}, 150},
		{"tandem_director_vrrp_last_transition_timestamp_seconds", []string{"vrrp_instance", "VI_1"}, UnixSeconds(t0)},
		{"tandem_director_vrrp_become_master_total", []string{"vrrp_instance", "VI_1"}, 2},
		{"tandem_director_vrrp_priority_zero_received_total", []string{"vrrp_instance", "VI_1"}, 3},
		{"tandem_director_ipvs_destination_bytes_total", []string{"direction", "in", "rs", "192.0.2.101:80", "service", "TCP 192.0.2.100:80"}, 2000},
		{"tandem_director_ipvs_destination_bytes_total", []string{"direction", "out", "rs", "10.0.0.1:443", "service", "TCP 192.0.2.100:443"}, 400},
		{"tandem_director_ipvs_service_packets_total", []string{"direction", "out", "service", "TCP 192.0.2.100:443"}, 4},
		{"tandem_director_ipvs_service_connections_total", []string{"service", "TCP 192.0.2.100:80"}, 3},
		{"tandem_director_ipvs_stats_read_success", nil, 1},
		{"tandem_director_fast_failover_probes_dropped_total", []string{"reason", "mac"}, 3},
		{"tandem_director_fast_failover_probes_dropped_total", []string{"reason", "unknown_peer"}, 0},
		{"tandem_director_fast_failover_session_up", nil, 1},
		{"tandem_director_config_info", []string{"hash", "0123456789ab"}, 1},
		{"tandem_director_agent_maintenance", []string{"agent", "192.0.2.101"}, 1},
		{"tandem_director_check_duration_seconds", []string{"check", "HTTP_GET", "service", "TCP 192.0.2.100:80"}, 1},
	} {
		if got, ok := value(fams, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// Direct routing: the kernel does not see the replies; no "out".
	if _, ok := value(fams, "tandem_director_ipvs_destination_packets_total", "direction", "out", "rs", "192.0.2.101:80", "service", "TCP 192.0.2.100:80"); ok {
		t.Error("an out series for a DR destination")
	}
	if n := len(fams["tandem_director_vrrp_adverts_dropped_total"].GetMetric()); n != len(VRRPDropReasons) {
		t.Errorf("%d drop series for one instance, want every reason (%d)", n, len(VRRPDropReasons))
	}
}

// What the scrape-time collector describes is what it collects: checked
// by a pedantic registry.
func TestScrapeCollectorPedantic(t *testing.T) {
	m := sampled()
	r := prometheus.NewPedanticRegistry()
	if err := r.Register(newScrapeCollector(m.sources)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Gather(); err != nil {
		t.Fatal(err)
	}
}

// Without sources (before the application runs, or VRRP only) the
// scrape-time families are absent, and a failed kernel read is a gauge,
// not a failed scrape.
func TestScrapeSources(t *testing.T) {
	m := New()
	fams := served(t, m)
	for _, f := range newFamilies {
		if strings.Contains(f.name, "_vrrp_") || strings.Contains(f.name, "_ipvs_") || strings.HasPrefix(f.name, "tandem_director_fast_failover_") && f.typ != dto.MetricType_HISTOGRAM {
			if fams[f.name] != nil {
				t.Errorf("%s present without a source", f.name)
			}
		}
	}
	m.SetIPVSSource(func() ([]IPVSServiceSample, error) { return nil, errors.New("no ip_vs") })
	m.SetFastFailoverSource(func() (FastFailoverSample, bool) { return FastFailoverSample{}, false })
	fams = served(t, m)
	if v, ok := value(fams, "tandem_director_ipvs_stats_read_success"); !ok || v != 0 {
		t.Errorf("read success %v (present %v) after a failed read", v, ok)
	}
	if fams["tandem_director_ipvs_service_connections_total"] != nil || fams["tandem_director_fast_failover_session_up"] != nil {
		t.Error("traffic or fast-failover families without data")
	}
	m.SetIPVSSource(nil)
	if fams := served(t, m); fams["tandem_director_ipvs_stats_read_success"] != nil {
		t.Error("IPVS families after the source was removed")
	}
}

// Forgetting a service removes its check durations and last changes;
// ConfigInfo has one series.
func TestForget(t *testing.T) {
	m := sampled()
	m.SetConfigHash("bbbbbbbbbbbb")
	m.ForgetService("TCP 192.0.2.100:80")
	m.ForgetAgent("192.0.2.101")
	fams := served(t, m)
	for _, name := range []string{"tandem_director_check_duration_seconds", "tandem_director_destination_last_change_timestamp_seconds",
		"tandem_director_agent_last_seen_timestamp_seconds", "tandem_director_agent_maintenance"} {
		if fams[name] != nil {
			t.Errorf("%s still has %d series", name, len(fams[name].GetMetric()))
		}
	}
	if mf := fams["tandem_director_config_info"]; len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetLabel()[0].GetValue() != "bbbbbbbbbbbb" {
		t.Errorf("config_info: %v", mf.GetMetric())
	}
}

// The whole exposition passes promtool's lint (counters end in _total,
// units in names, help texts).
func TestPromtoolCheckMetrics(t *testing.T) {
	text := scrape(t, fixture(), false)
	testutil.PromtoolCheckMetrics(t, text)
}

// SetExampleSources shows every scrape-time family, on /metrics.
func TestExampleSources(t *testing.T) {
	m := New()
	m.SetExampleSources()
	fams := served(t, m)
	for _, c := range []prometheus.Collector{newScrapeCollector(m.sources), m.fast[len(m.fast)-1]} {
		r := prometheus.NewPedanticRegistry()
		if err := r.Register(c); err != nil {
			t.Fatal(err)
		}
		got := families(t, r)
		ch := make(chan *prometheus.Desc)
		go func() { c.Describe(ch); close(ch) }()
		n := 0
		for range ch {
			n++
		}
		if len(got) != n {
			t.Errorf("%T: %d families gathered, %d described", c, len(got), n)
		}
		for name := range got {
			if fams[name] == nil {
				t.Errorf("%s not served", name)
			}
		}
	}
}
