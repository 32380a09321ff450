package metrics

import (
	"bytes"
	"flag"
	"slices"
	"strings"
	"testing"
	"time"

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
func normalized(t *testing.T, text []byte) []byte {
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
// /metrics serves them, are those of testdata/exposition.golden, which
// was written by the registry path (client_golang gathering and encoding
// every family) before the fast exposition existed.
func TestExpositionGolden(t *testing.T) {
	got := normalized(t, exposition(t, fixture().Registry))
	testutil.Golden(t, "exposition", got, *update)
}
