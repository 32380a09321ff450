package app

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tandemlb/tandem/director/checks"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/metrics"
	"github.com/tandemlb/tandem/director/peerwatch"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// metricsListening is the log line that says where /metrics is served.
var metricsListening = regexp.MustCompile(`msg="metrics listening" addr=(\S+)`)

// scrape fetches the daemon's /metrics, as Prometheus would.
func (h *harness) scrape() []byte {
	h.t.Helper()
	m := metricsListening.FindStringSubmatch(h.logs.String())
	if m == nil {
		h.t.Fatalf("no metrics listener in the log:\n%s", h.logs.String())
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + m[1] + "/metrics")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET /metrics: %v %v\n%s", resp.Status, err, b)
	}
	return b
}

// parseExposition reads the text exposition.
func parseExposition(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample is the value of the series of family name whose labels include
// labels (name, value pairs); false when there is none.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := fams[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		ok := true
		for i := 0; i+1 < len(labels); i += 2 {
			ok = ok && have[labels[i]] == labels[i+1]
		}
		if !ok {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount()), true
		case m.Untyped != nil:
			return m.Untyped.GetValue(), true
		}
	}
	return 0, false
}

// metricsConfig is loopbackConfig with a TCP_CHECK of the first real
// server against port (on 127.0.0.1), every 50 ms.
func metricsConfig(port int) string {
	c := loopbackConfig("DIR", 1, "")
	c = strings.Replace(c, "    lvs_sched: lc\n", "    lvs_sched: lc\n    delay_loop: 50ms\n", 1)
	return strings.Replace(c, "      - address: 127.0.0.11:80\n        weight: 1\n", fmt.Sprintf(`      - address: 127.0.0.11:80
        weight: 1
        checks:
          - type: TCP_CHECK
            connect_ip: 127.0.0.1
            connect_port: %d
            connect_timeout: 1s
`, port), 1)
}

// withMetrics serves /metrics on an ephemeral port of 127.0.0.1.
func withMetrics(o *Options) {
	o.adjust = func(c *config.Config) {
		c.Metrics.Enabled = true
		c.Metrics.Listen = "127.0.0.1:0"
	}
}

// TestMetricsExposition scrapes the running daemon's /metrics: the new
// families are there with their types and the values of the fakes (the
// kernel's traffic counters, an agent in maintenance, a health check, the
// configuration's hash after a reload), and promtool's lint passes on the
// whole exposition.
func TestMetricsExposition(t *testing.T) {
	ln := testutil.TCPAcceptor(t)
	text := metricsConfig(ln.Addr().(*net.TCPAddr).Port)
	h := startWith(t, text, func(_ string, f *fakeIPVS) { f.Load(loopbackLoaded(1)) }, withMetrics)
	svc := lvs.ServiceKey("TCP 192.0.2.100:80")
	if err := h.ipvs.SetServiceStats(svc, lvs.Stats{Conns: 30, PktsIn: 300, BytesIn: 30000}); err != nil {
		t.Fatal(err)
	}
	if err := h.ipvs.SetDestStats(svc, "127.0.0.11:80", lvs.Stats{Conns: 20, PktsIn: 200, BytesIn: 20000}); err != nil {
		t.Fatal(err)
	}
	h.driver("VI0").set(vrrp.StateMaster)
	// An agent in maintenance.
	key := hbproto.DeriveAgentKey(harnessSecret, loRS1)
	c := dialAgent(t, h, loRS1)
	b, _ := hbproto.NewSealer(key, 7).SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: loRS1, State: hbproto.StateMaintenance, Reason: "deploy"})
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	if readReply(c, 5*time.Second) == nil {
		t.Fatal("no reply to the agent")
	}

	var fams map[string]*dto.MetricFamily
	ready := func() bool {
		fams = parseExposition(t, h.scrape())
		_, checked := sample(fams, "tandem_director_check_duration_seconds")
		_, agent := sample(fams, "tandem_director_agent_maintenance")
		return checked && agent
	}
	if !testutil.WaitFor(10*time.Second, ready) {
		t.Fatalf("no check duration or agent series after 10s")
	}
	want := map[string]dto.MetricType{
		"tandem_director_vrrp_adverts_sent_total":                      dto.MetricType_COUNTER,
		"tandem_director_vrrp_adverts_received_total":                  dto.MetricType_COUNTER,
		"tandem_director_vrrp_adverts_dropped_total":                   dto.MetricType_COUNTER,
		"tandem_director_vrrp_become_master_total":                     dto.MetricType_COUNTER,
		"tandem_director_vrrp_release_master_total":                    dto.MetricType_COUNTER,
		"tandem_director_vrrp_priority_zero_sent_total":                dto.MetricType_COUNTER,
		"tandem_director_vrrp_priority_zero_received_total":            dto.MetricType_COUNTER,
		"tandem_director_vrrp_priority":                                dto.MetricType_GAUGE,
		"tandem_director_ipvs_service_connections_total":               dto.MetricType_COUNTER,
		"tandem_director_ipvs_service_packets_total":                   dto.MetricType_COUNTER,
		"tandem_director_ipvs_service_bytes_total":                     dto.MetricType_COUNTER,
		"tandem_director_ipvs_destination_connections_total":           dto.MetricType_COUNTER,
		"tandem_director_ipvs_destination_packets_total":               dto.MetricType_COUNTER,
		"tandem_director_ipvs_destination_bytes_total":                 dto.MetricType_COUNTER,
		"tandem_director_ipvs_stats_read_success":                      dto.MetricType_GAUGE,
		"tandem_director_check_duration_seconds":                       dto.MetricType_HISTOGRAM,
		"tandem_director_destination_last_change_timestamp_seconds":    dto.MetricType_GAUGE,
		"tandem_director_agent_last_seen_timestamp_seconds":            dto.MetricType_GAUGE,
		"tandem_director_agent_maintenance":                            dto.MetricType_GAUGE,
		"tandem_director_heartbeats_total":                             dto.MetricType_COUNTER,
		"tandem_director_config_info":                                  dto.MetricType_GAUGE,
		"tandem_director_config_last_reload_success_timestamp_seconds": dto.MetricType_GAUGE,
		"tandem_director_config_last_reload_successful":                dto.MetricType_GAUGE,
		"tandem_director_fast_failover_probe_interval_seconds":         dto.MetricType_HISTOGRAM,
	}
	for name, typ := range want {
		if mf := fams[name]; mf == nil {
			t.Errorf("%s missing from /metrics", name)
		} else if mf.GetType() != typ {
			t.Errorf("%s is a %v, want %v", name, mf.GetType(), typ)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"tandem_director_ipvs_service_connections_total", []string{"service", "TCP 192.0.2.100:80"}, 30},
		{"tandem_director_ipvs_service_bytes_total", []string{"service", "TCP 192.0.2.100:80", "direction", "in"}, 30000},
		{"tandem_director_ipvs_destination_packets_total", []string{"service", "TCP 192.0.2.100:80", "rs", "127.0.0.11:80", "direction", "in"}, 200},
		{"tandem_director_ipvs_destination_connections_total", []string{"service", "TCP 192.0.2.100:80", "rs", "127.0.0.12:80"}, 0},
		{"tandem_director_ipvs_stats_read_success", nil, 1},
		{"tandem_director_vrrp_priority", []string{"vrrp_instance", "VI0"}, 100},
		{"tandem_director_vrrp_adverts_dropped_total", []string{"vrrp_instance", "VI0", "reason", "authentication"}, 0},
		{"tandem_director_agent_maintenance", []string{"agent", "127.0.0.11"}, 1},
		{"tandem_director_heartbeats_total", []string{"result", "accepted"}, 1},
		{"tandem_director_config_last_reload_successful", nil, 1},
		{"tandem_director_config_info", []string{"hash", h.a.cfg.FilesHash}, 1},
	} {
		if got, ok := sample(fams, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	// The active connections of a destination that is not draining come
	// from the scrape's own read of the kernel, not from the main loop's
	// last one (which may be minutes old: it reads for drains only).
	if err := h.ipvs.SetConns(svc, "127.0.0.12:80", 7, 3); err != nil {
		t.Fatal(err)
	}
	fams = parseExposition(t, h.scrape())
	if got, ok := sample(fams, "tandem_director_destination_active_connections", "service", "TCP 192.0.2.100:80", "rs", "127.0.0.12:80"); !ok || got != 7 {
		t.Errorf("active connections of rs 127.0.0.12:80 = %v (present %v), want 7 from the scrape's read", got, ok)
	}
	if got, ok := sample(fams, "tandem_director_destination_inactive_connections", "service", "TCP 192.0.2.100:80", "rs", "127.0.0.12:80"); !ok || got != 3 {
		t.Errorf("inactive connections of rs 127.0.0.12:80 = %v (present %v), want 3", got, ok)
	}
	// A DR destination has no "out" direction: the kernel never sees the
	// replies.
	if _, ok := sample(fams, "tandem_director_ipvs_destination_packets_total", "direction", "out"); ok {
		t.Error("an out series for a DR destination")
	}
	if _, ok := sample(fams, "tandem_director_check_duration_seconds", "service", "TCP 192.0.2.100:80", "check", "TCP_CHECK"); !ok {
		t.Error("no check duration for TCP_CHECK")
	}
	if v, _ := sample(fams, "tandem_director_agent_last_seen_timestamp_seconds", "agent", "127.0.0.11"); time.Since(time.Unix(int64(v), 0)) > time.Minute {
		t.Errorf("agent last seen %v", v)
	}
	exposition := h.scrape() // for promtool, at the end

	// A reload of another file: another hash, a later success.
	before, _ := sample(fams, "tandem_director_config_last_reload_success_timestamp_seconds")
	hash := h.a.cfg.FilesHash
	if len(hash) != 12 {
		t.Fatalf("the loaded configuration's hash is %q", hash)
	}
	h.reload(strings.Replace(text, "node: lb1", "node: lb1 # reloaded", 1))
	fams = parseExposition(t, h.scrape())
	if _, ok := sample(fams, "tandem_director_config_info", "hash", hash); ok {
		t.Errorf("config_info still has the old hash %s", hash)
	}
	if n := len(fams["tandem_director_config_info"].GetMetric()); n != 1 {
		t.Errorf("%d config_info series", n)
	}
	if after, _ := sample(fams, "tandem_director_config_last_reload_success_timestamp_seconds"); after < before {
		t.Errorf("last success %v after the reload, was %v", after, before)
	}
	// A failed reload keeps the hash and says so.
	h.write("version: [broken")
	if err := h.call("reload", nil, nil); err == nil {
		t.Fatal("a broken file reloaded")
	}
	fams = parseExposition(t, h.scrape())
	if v, _ := sample(fams, "tandem_director_config_last_reload_successful"); v != 0 {
		t.Errorf("last reload successful %v after a failed reload", v)
	}
	if v, _ := sample(fams, "tandem_director_reloads_total", "result", "error"); v != 1 {
		t.Errorf("reloads_total{result=error} %v", v)
	}
	if _, ok := sample(fams, "tandem_director_config_info", "hash", h.a.cfg.FilesHash); !ok {
		t.Errorf("config_info lost the running hash %s after a failed reload", h.a.cfg.FilesHash)
	}
	// promtool's lint comes last: where promtool is missing it skips the
	// test, and the checks above must have run.
	testutil.PromtoolCheckMetrics(t, exposition)
}

// The hash of a configuration read from files is the reader's
// (config.Config.FilesHash, TestFilesHash there); one built in Go has
// none: "unknown".
func TestConfigHashUnknown(t *testing.T) {
	a, _ := edgeApp(t, Options{})
	a.configMetrics(true)
	mfs, err := a.met.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	fams := map[string]*dto.MetricFamily{}
	for _, mf := range mfs {
		fams[mf.GetName()] = mf
	}
	if v, ok := sample(fams, "tandem_director_config_info", "hash", "unknown"); !ok || v != 1 {
		t.Errorf("config_info{hash=unknown} = %v (present %v)", v, ok)
	}
}

// Every reason the VRRP driver counts maps onto the metrics' fixed set,
// and the codec's fields of an authentication or interval error are not
// "malformed".
func TestVRRPDropReasons(t *testing.T) {
	known := map[string]bool{}
	for _, r := range metrics.VRRPDropReasons {
		known[r] = true
	}
	for in, want := range map[string]string{
		vrrp.DropTTL: "ttl", vrrp.DropAuth: "authentication", "auth type": "authentication", vrrp.DropVersion: "version",
		vrrp.DropInterval: "interval", "adver int": "interval", vrrp.DropAddresses: "addresses", vrrp.DropInterface: "interface",
		vrrp.DropLooped: "own_advert", vrrp.DropOtherVRID: "other_vrid", vrrp.DropPeer: "unicast_source", "queue full": "queue_full",
		"checksum": "malformed", "count ip addrs": "malformed", "length": "malformed", "something new": "other",
	} {
		got := vrrpDropReason(in)
		if got != want || !known[got] {
			t.Errorf("%q → %q, want %q (in the fixed set: %v)", in, got, want, known[got])
		}
	}
}

// Every reason the fast-failover watcher counts maps onto the metrics'
// fixed set: its own by name, the envelope's as they are.
func TestProbeDropReasons(t *testing.T) {
	for in, want := range map[string]string{
		peerwatch.DropTTL: "ttl", peerwatch.DropUnknownPeer: "unknown_peer", peerwatch.DropQueueFull: "queue_full",
		"truncated": "truncated", "version": "version", "mac": "mac", "stale": "stale", "replay": "replay",
		"malformed": "malformed", "something new": "other",
	} {
		if got := probeDropReason(in); got != want || !slices.Contains(metrics.ProbeDropReasons, got) {
			t.Errorf("%q → %q, want %q (in the fixed set: %v)", in, got, want, slices.Contains(metrics.ProbeDropReasons, got))
		}
	}
}

// A driver's reasons are summed into the fixed set.
func TestVRRPSample(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := vrrpSample("VI_1", vrrp.Status{Sent: 5, Received: 4, Priority: 90, LastTransition: t0, BecameMaster: 2, ReleasedMaster: 1,
		PriorityZeroSent: 1, PriorityZeroReceived: 3, Dropped: map[string]uint64{"checksum": 2, "length": 3, vrrp.DropAuth: 1}})
	if s.Instance != "VI_1" || s.AdvertsSent != 5 || s.AdvertsReceived != 4 || s.Priority != 90 || !s.LastTransition.Equal(t0) ||
		s.BecomeMaster != 2 || s.ReleaseMaster != 1 || s.PriorityZeroSent != 1 || s.PriorityZeroReceived != 3 {
		t.Errorf("sample %+v", s)
	}
	if s.Dropped["malformed"] != 5 || s.Dropped["authentication"] != 1 || len(s.Dropped) != 2 {
		t.Errorf("dropped %v", s.Dropped)
	}
}

type weighted struct{ calls int }

func (w *weighted) Name() string                    { return "MISC_CHECK" }
func (w *weighted) Probe(ctx context.Context) error { w.calls++; return nil }
func (w *weighted) ProbeWeight(ctx context.Context) (int, bool, error) {
	w.calls++
	return 7, true, nil
}

// A timed probe keeps its weights and name, and does not observe an
// attempt cut short by the checker's stop.
func TestTimedProbe(t *testing.T) {
	var seen []time.Duration
	w := &weighted{}
	p := timed(w, func(d time.Duration) { seen = append(seen, d) })
	wp, ok := p.(checks.WeightedProbe)
	if !ok || p.Name() != "MISC_CHECK" {
		t.Fatalf("timed probe %T named %q", p, p.Name())
	}
	if weight, set, err := wp.ProbeWeight(context.Background()); weight != 7 || !set || err != nil {
		t.Errorf("ProbeWeight: %d %v %v", weight, set, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = p.Probe(ctx)
	if len(seen) != 1 || w.calls != 2 {
		t.Errorf("observed %v after %d attempts, want one (the cancelled one is not)", seen, w.calls)
	}
	if _, ok := timed(failedProbe{name: "X"}, func(time.Duration) {}).(checks.WeightedProbe); ok {
		t.Error("a plain probe became weighted")
	}
}
