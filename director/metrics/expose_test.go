package metrics

import (
	"bytes"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tandemlb/tandem/shared/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// awkward are label values the text format must escape or carry as they
// are: quotes, backslashes, newlines, UTF-8, the empty string.
var awkward = []string{`TCP "quoted"`, `back\slash`, "new\nline", "UTF-8 ünïcødé ✓ 日本", "", "mix \\\"\n\\n end"}

// fixture is sampled() plus, for every awkward value, a service (and a
// real server, a check, an agent) of that name in every family that has
// such a label, with distinct values.
func fixture() *Metrics {
	m := sampled()
	ipvs := *m.sources.ipvs.Load()
	m.SetIPVSSource(func() ([]IPVSServiceSample, error) {
		out, err := ipvs()
		for i, v := range awkward {
			n := uint64(i + 1)
			out = append(out, IPVSServiceSample{Service: v, Traffic: Traffic{Conns: n, PktsIn: 10 * n, PktsOut: 9 * n, BytesIn: 1000 * n, BytesOut: 900 * n, Out: i%2 == 0},
				Dests: []IPVSDestSample{{RS: v, Traffic: Traffic{Conns: n, PktsIn: 20 * n, PktsOut: 19 * n, BytesIn: 2000 * n, BytesOut: 1900 * n, Out: i%2 == 0}}}})
		}
		return out, err
	})
	for i, v := range awkward {
		f := float64(i + 1)
		rs := "rs " + v
		m.Weight.WithLabelValues(v, rs).Set(f * 10)
		m.ConfiguredWeight.WithLabelValues(v, rs).Set(f*10 + 1)
		m.Present.WithLabelValues(v, rs).Set(f*10 + 2)
		m.PoolState.WithLabelValues(v, rs).Set(f*10 + 3)
		m.ActiveConns.WithLabelValues(v, rs).Set(f*10 + 4)
		m.InactiveConns.WithLabelValues(v, rs).Set(f*10 + 5)
		m.LastChange.WithLabelValues(v, rs).Set(f*10 + 6)
		m.CheckUp.WithLabelValues(v, v, "HTTP_GET "+v).Set(float64(i % 2))
		for range i + 1 {
			m.CheckResults.WithLabelValues(v, v, v, "success").Inc()
		}
		m.CheckResults.WithLabelValues(v, v, v, "failure").Inc()
		m.QuorumUp.WithLabelValues(v).Set(float64(i % 2))
		m.SorryActive.WithLabelValues(v).Set(float64((i + 1) % 2))
		obs := m.CheckObserver(v, "TCP_CHECK")
		for k := range i + 2 {
			obs(time.Duration(k*k) * 3 * time.Millisecond)
		}
		m.SetAgent("agent "+v, t0.Add(time.Duration(i)*time.Second), i%2 == 1)
	}
	m.Weight.WithLabelValues("big", "values").Set(1e300)
	m.Weight.WithLabelValues("small", "values").Set(-2.5e-7)
	m.LastChange.WithLabelValues("precise", "values").Set(UnixSeconds(t0.Add(123456789 * time.Nanosecond)))
	return m
}

// normalized is an exposition parsed and encoded again, Tandem's families
// only, families by name and series by labels, without the one series
// whose value is a measured time (ipvs_stats_read_duration_seconds).
func normalized(t testing.TB, text []byte) []byte {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(text))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, text)
	}
	var b bytes.Buffer
	enc := expfmt.NewEncoder(&b, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range fams {
			if !yield(n) {
				return
			}
		}
	}) {
		mf := fams[name]
		if !strings.HasPrefix(name, Namespace+"_") || name == Namespace+"_ipvs_stats_read_duration_seconds" {
			continue
		}
		slices.SortFunc(mf.Metric, func(a, b *dto.Metric) int { return strings.Compare(labelKey(a), labelKey(b)) })
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return b.Bytes()
}

// labelKey orders series by their label pairs.
func labelKey(m *dto.Metric) string {
	var s strings.Builder
	for _, l := range m.GetLabel() {
		s.WriteString(l.GetName() + "\x00" + l.GetValue() + "\x00")
	}
	return s.String()
}

// TestExpositionGolden: the families and values of the fixture, as
// /metrics serves them (text and gzip), are those of
// testdata/exposition.golden, which was written by the registry path
// (client_golang gathering and encoding every family) before the large
// families left the registry.
func TestExpositionGolden(t *testing.T) {
	for _, gz := range []bool{false, true} {
		got := normalized(t, scrape(t, fixture(), gz))
		testutil.Golden(t, "exposition", got, *update)
	}
}

// scrape is m's /metrics as Handler serves it, gzipped on the wire if gz,
// checking the headers.
func scrape(t testing.TB, m *Metrics, gz bool) []byte {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8; escaping=underscores" {
		t.Errorf("Content-Type %q", ct)
	}
	if got := rec.Header().Get("Content-Encoding"); (got == "gzip") != gz {
		t.Fatalf("Content-Encoding %q, gzip asked: %v", got, gz)
	}
	if !gz {
		return rec.Body.Bytes()
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// served is m's /metrics parsed, by family name.
func served(t testing.TB, m *Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(scrape(t, m, false)))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// big is a Metrics at the design size: 1,000 services × 10 destinations in
// every per-destination family and the IPVS traffic; with checks, also a
// TCP_CHECK per destination (check_up, check_results_total success and
// failure, a duration histogram per service) and 1,000 agents.
func big(checks bool) *Metrics {
	m := New()
	if checks {
		for a := range 1000 {
			m.SetAgent(fmt.Sprintf("198.19.%d.%d", a/250, a%250+1), t0, false)
		}
	}
	var svcs []IPVSServiceSample
	for i := range 1000 {
		svc := fmt.Sprintf("TCP 198.18.%d.%d:80", i/250, i%250+1)
		s := IPVSServiceSample{Service: svc, Traffic: Traffic{Conns: uint64(i), PktsIn: 10 << 20, BytesIn: 10 << 30}}
		for j := range 10 {
			rs := fmt.Sprintf("198.19.0.%d:80", j+1)
			for _, f := range []*GaugeFamily{m.Weight, m.ConfiguredWeight, m.Present, m.PoolState, m.ActiveConns, m.InactiveConns} {
				f.WithLabelValues(svc, rs).Set(1)
			}
			m.LastChange.WithLabelValues(svc, rs).Set(1.7e9 + float64(i))
			if checks {
				m.CheckUp.WithLabelValues(svc, rs, "TCP_CHECK").Set(1)
				m.CheckResults.WithLabelValues(svc, rs, "TCP_CHECK", "success").Inc()
				m.CheckResults.WithLabelValues(svc, rs, "TCP_CHECK", "failure").Inc()
				m.CheckObserver(svc, "TCP_CHECK")(time.Duration(j) * time.Millisecond)
			}
			s.Dests = append(s.Dests, IPVSDestSample{RS: rs, Traffic: Traffic{Conns: uint64(i*10 + j), PktsIn: 1 << 20, BytesIn: 1 << 30}})
		}
		m.QuorumUp.WithLabelValues(svc).Set(1)
		m.SorryActive.WithLabelValues(svc).Set(0)
		svcs = append(svcs, s)
	}
	m.SetIPVSSource(func() ([]IPVSServiceSample, error) { return svcs, nil })
	return m
}

// BenchmarkHandler is Handler at the design size (big), the answer
// counted and dropped: without checks (105,000 series, as
// BenchmarkScrape1000x10 in director/app), and with a check per
// destination and 1,000 agents (153,000 series). cpu-ms/op is the
// process' CPU time per scrape, which other processes on the host do not
// inflate.
func BenchmarkHandler(b *testing.B) {
	for _, c := range []struct {
		name   string
		checks bool
		gz     bool
	}{{"text", false, false}, {"gzip", false, true}, {"checks-text", true, false}, {"checks-gzip", true, true}} {
		m := big(c.checks)
		gz := c.gz
		b.Run(c.name, func(b *testing.B) {
			h := m.Handler()
			cpu0 := cpuTime(b)
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				if gz {
					req.Header.Set("Accept-Encoding", "gzip")
				}
				h.ServeHTTP(discardWriter{http.Header{}}, req)
			}
			b.ReportMetric(float64((cpuTime(b)-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

type discardWriter struct{ h http.Header }

func (w discardWriter) Header() http.Header         { return w.h }
func (w discardWriter) WriteHeader(int)             {}
func (w discardWriter) Write(p []byte) (int, error) { return len(p), nil }

// cpuTime is the process' CPU time so far (user and system): unlike the
// wall time, what other processes on the host take does not count.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// view is a family as the tests compare it: what the text format
// carries, whichever path produced it.
type view struct {
	Name, Help string
	Type       dto.MetricType
	Series     []seriesView
}

type seriesView struct {
	Labels  map[string]string
	Value   float64
	Count   uint64
	Sum     float64
	Buckets map[float64]uint64
}

// views turns families into views sorted by name and labels, the
// measured read time zeroed (two reads never take the same time).
func views(mfs []*dto.MetricFamily) []view {
	var out []view
	for _, mf := range mfs {
		v := view{Name: mf.GetName(), Help: mf.GetHelp(), Type: mf.GetType()}
		for _, m := range mf.GetMetric() {
			s := seriesView{Labels: map[string]string{}}
			for _, l := range m.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch {
			case m.Gauge != nil:
				s.Value = m.Gauge.GetValue()
			case m.Counter != nil:
				s.Value = m.Counter.GetValue()
			case m.Histogram != nil:
				s.Count, s.Sum, s.Buckets = m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum(), map[float64]uint64{}
				for _, b := range m.Histogram.GetBucket() {
					// The text carries the +Inf bucket, client_golang's
					// Gather leaves it implicit (the count): kept only
					// when it is not the count.
					if math.IsInf(b.GetUpperBound(), 1) && b.GetCumulativeCount() == s.Count {
						continue
					}
					s.Buckets[b.GetUpperBound()] = b.GetCumulativeCount()
				}
			}
			if v.Name == Namespace+"_ipvs_stats_read_duration_seconds" {
				s.Value = 0
			}
			v.Series = append(v.Series, s)
		}
		slices.SortFunc(v.Series, func(a, b seriesView) int { return strings.Compare(fmt.Sprint(a.Labels), fmt.Sprint(b.Labels)) })
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b view) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// fastOnly is m's /metrics parsed, the families Handler writes itself
// only (not the registry's), each checked for duplicate series.
func fastOnly(t *testing.T, m *Metrics, gz bool) []*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(scrape(t, m, gz)))
	if err != nil {
		t.Fatal(err)
	}
	onRegistry := map[string]bool{}
	for _, mf := range families(t, m.Registry) {
		onRegistry[mf.GetName()] = true
	}
	var out []*dto.MetricFamily
	for name, mf := range fams {
		seen := map[string]bool{}
		for _, s := range mf.GetMetric() {
			k := labelKey(s)
			if seen[k] {
				t.Errorf("%s: series %q twice", name, k)
			}
			seen[k] = true
		}
		if !onRegistry[name] {
			out = append(out, mf)
		}
	}
	return out
}

// TestFastMatchesClientGolang: the families Handler writes itself, parsed
// back by expfmt's text parser, are those client_golang gathers from the
// same collectors (the path the registry took): names, types, help texts,
// label sets and values, with label values to escape.
func TestFastMatchesClientGolang(t *testing.T) {
	for _, c := range []struct{ name, svc, rs string }{
		{"plain", "TCP 192.0.2.100:80", "192.0.2.101:80"},
		{"quotes", `TCP "a" "b"`, `"rs"`},
		{"backslashes", `FWM \1\`, `\\`},
		{"newlines", "line\none\n", "\n"},
		{"utf8", "服务 ünïcødé ✓", "⚙ 192.0.2.1"},
		{"empty", "", ""},
		{"everything", "\\\"\n\\n\"\\", "\"\\\n"},
		{"invalid utf8", "bad \xff\xfe", "\xc3"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := New()
			for i, f := range []*GaugeFamily{m.Weight, m.ConfiguredWeight, m.Present, m.PoolState, m.ActiveConns, m.InactiveConns, m.LastChange} {
				f.WithLabelValues(c.svc, c.rs).Set(float64(i) + 0.5)
				f.WithLabelValues(c.svc, c.rs+"2").Set(float64(-i))
			}
			m.CheckUp.WithLabelValues(c.svc, c.rs, c.rs).Set(1)
			m.CheckResults.WithLabelValues(c.svc, c.rs, c.rs, "success").Inc()
			m.CheckResults.WithLabelValues(c.svc, c.rs, c.rs, "failure").Inc()
			m.CheckResults.WithLabelValues(c.svc, c.rs, c.rs, "failure").Inc()
			m.QuorumUp.WithLabelValues(c.svc).Set(1)
			m.SorryActive.WithLabelValues(c.svc).Set(0)
			m.SetServiceFingerprint(c.svc, c.rs)
			m.SetAgent(c.rs, t0, true)
			obs := m.CheckObserver(c.svc, c.rs)
			for _, d := range []time.Duration{0, time.Millisecond, 7 * time.Millisecond, time.Second, time.Minute} {
				obs(d)
			}
			m.SetIPVSSource(func() ([]IPVSServiceSample, error) {
				return []IPVSServiceSample{{Service: c.svc, Traffic: Traffic{Conns: 1, PktsIn: 2, PktsOut: 3, BytesIn: 4, BytesOut: 5, Out: true},
					Dests: []IPVSDestSample{
						{RS: c.rs, Traffic: Traffic{Conns: 6, PktsIn: 7, PktsOut: 8, BytesIn: 9, BytesOut: 10, Out: true}},
						{RS: c.rs + "2", Traffic: Traffic{Conns: 11, PktsIn: 12, BytesIn: 1 << 40}},
					}}}, nil
			})
			ref := prometheus.NewPedanticRegistry()
			for _, f := range m.fast {
				ref.MustRegister(f)
			}
			mfs, err := ref.Gather()
			if err != nil {
				t.Fatal(err)
			}
			want := views(mfs)
			if len(want) != len(m.fast)-1+8 { // the tables, then the 8 IPVS families
				t.Fatalf("%d families gathered, want every one of them", len(want))
			}
			for _, gz := range []bool{false, true} {
				if diff := cmp.Diff(want, views(fastOnly(t, m, gz))); diff != "" {
					t.Errorf("gzip %v: served (-client_golang +fast)\n%s", gz, diff)
				}
			}
		})
	}
}
