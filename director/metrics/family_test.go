package metrics

import (
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tandemlb/tandem/shared/testutil"
)

// seriesOf is the label values of f's served series, as "a,b" strings,
// sorted.
func seriesOf(t *testing.T, m *Metrics, name string) []string {
	t.Helper()
	mf := served(t, m)[name]
	var out []string
	for _, s := range mf.GetMetric() {
		v := ""
		for i, l := range s.GetLabel() {
			if i > 0 {
				v += ","
			}
			v += l.GetName() + "=" + l.GetValue()
		}
		out = append(out, v)
	}
	return out
}

// The vector methods director/app calls, on the served series: creation,
// deletion of one, of a partial match, of all; a label the family does
// not have matches nothing; a handle kept after its series left writes
// into nothing served.
func TestFamilyMethods(t *testing.T) {
	m := New()
	const name = Namespace + "_destination_weight"
	for _, svc := range []string{"s1", "s2"} {
		for _, rs := range []string{"r1", "r2"} {
			m.Weight.WithLabelValues(svc, rs).Set(1)
		}
	}
	kept := m.Weight.WithLabelValues("s2", "r2")
	if got := m.Weight.DeletePartialMatch(map[string]string{"other": "s1"}); got != 0 {
		t.Errorf("a label the family lacks matched %d series", got)
	}
	if got := m.Weight.DeletePartialMatch(map[string]string{"service": "s1"}); got != 2 {
		t.Errorf("DeletePartialMatch service=s1: %d, want 2", got)
	}
	if !m.Weight.DeleteLabelValues("s2", "r2") || m.Weight.DeleteLabelValues("s2", "r2") || m.Weight.DeleteLabelValues("s2") {
		t.Error("DeleteLabelValues: true once, then false; false for a wrong arity")
	}
	kept.Set(7)
	want := []string{"rs=r1,service=s2"}
	if diff := cmp.Diff(want, seriesOf(t, m, name)); diff != "" {
		t.Errorf("after deletions (-want +got)\n%s", diff)
	}
	m.Weight.WithLabelValues("s3", "r1").Set(2)
	m.Weight.WithLabelValues("s2", "r2").Set(3) // created again: a new series
	if v := m.Weight.WithLabelValues("s2", "r2").Value(); v != 3 {
		t.Errorf("the series created again holds %v, want 3 (not the old handle's 7)", v)
	}
	want = []string{"rs=r1,service=s2", "rs=r1,service=s3", "rs=r2,service=s2"}
	got := seriesOf(t, m, name)
	if diff := cmp.Diff(want, sortedStrings(got)); diff != "" {
		t.Errorf("after creations (-want +got)\n%s", diff)
	}
	m.Weight.Reset()
	if mf := served(t, m)[name]; mf != nil {
		t.Errorf("%d series after Reset, and the family still described", len(mf.GetMetric()))
	}
	if _, err := m.Weight.GetMetricWithLabelValues("one"); err == nil {
		t.Error("one label value for two labels accepted")
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Error("WithLabelValues with a wrong arity did not panic")
			}
		}()
		m.Weight.WithLabelValues("a", "b", "c")
	}()
	// Counters and histograms the same way.
	m.CheckResults.WithLabelValues("s", "r", "c", "success").Inc()
	if n := m.CheckResults.DeletePartialMatch(map[string]string{"service": "s", "rs": "r"}); n != 1 {
		t.Errorf("counter partial delete: %d", n)
	}
	obs := m.CheckObserver("s", "TCP_CHECK")
	m.ForgetCheckType("s", "TCP_CHECK")
	obs(time.Millisecond)
	if mf := served(t, m)[Namespace+"_check_duration_seconds"]; mf != nil {
		t.Errorf("an observer taken before ForgetCheckType brought its series back: %v", mf)
	}
}

func sortedStrings(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

// A histogram's buckets are cumulative, the +Inf bucket is the count,
// NaN is not counted; bounds are inclusive (le).
func TestHistogramObserve(t *testing.T) {
	m := New()
	h := m.CheckDuration.WithLabelValues("s", "HTTP_GET")
	for _, v := range []float64{0.001, 0.0011, 0.5, 11, 1e9} {
		h.Observe(v)
	}
	h.Observe(math.NaN())
	mf := served(t, m)[Namespace+"_check_duration_seconds"]
	hist := mf.GetMetric()[0].GetHistogram()
	got := map[float64]uint64{}
	for _, b := range hist.GetBucket() {
		got[b.GetUpperBound()] = b.GetCumulativeCount()
	}
	if got[0.001] != 1 || got[0.0025] != 2 || got[0.5] != 3 || got[10] != 3 || got[math.Inf(1)] != 5 || hist.GetSampleCount() != 5 {
		t.Errorf("buckets %v count %d", got, hist.GetSampleCount())
	}
	if sum := hist.GetSampleSum(); sum != 0.001+0.0011+0.5+11+1e9 {
		t.Errorf("sum %v", sum)
	}
}

// blockingWriter is a client that reads nothing until released: the
// handler is stuck in its first Write.
type blockingWriter struct {
	h       http.Header
	writing chan struct{}
	release chan struct{}
	once    sync.Once
}

func (w *blockingWriter) Header() http.Header { return w.h }
func (w *blockingWriter) WriteHeader(int)     {}
func (w *blockingWriter) Write(p []byte) (int, error) {
	w.once.Do(func() { close(w.writing) })
	<-w.release
	return len(p), nil
}

// While a scrape is stuck writing to a slow client, every method of the
// families (creation and deletion included, which take their write lock)
// and the registry's vectors go on: the scrape holds no lock while it
// writes.
func TestScrapeHoldsNoLockWhileWriting(t *testing.T) {
	m := big(false)
	m.AgentLastSeen.WithLabelValues("192.0.2.1").Set(1)
	w := &blockingWriter{h: http.Header{}, writing: make(chan struct{}), release: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	}()
	select {
	case <-w.writing:
	case <-time.After(10 * time.Second):
		t.Fatal("the scrape never wrote")
	}
	ops := make(chan struct{})
	go func() {
		defer close(ops)
		for i := range 100 {
			agent := fmt.Sprintf("192.0.2.%d", i+2)
			m.SetAgent(agent, t0, false)
			m.ForgetAgent(agent)
			m.Weight.WithLabelValues("new service", "rs").Set(1)
			m.ForgetService("new service")
			m.CheckObserver("TCP 198.18.0.1:80", "TCP_CHECK")(time.Millisecond)
			m.Heartbeats.WithLabelValues("accepted").Inc()
		}
	}()
	if !testutil.WaitFor(10*time.Second, func() bool {
		select {
		case <-ops:
			return true
		default:
			return false
		}
	}) {
		t.Error("the families' methods blocked behind a scrape that is writing")
	}
	close(w.release)
	<-done
}

// Scrapes, updates, creations and deletions at once (go test -race).
func TestConcurrentScrapes(t *testing.T) {
	m := New()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				svc := fmt.Sprintf("svc%d", i%20)
				m.Weight.WithLabelValues(svc, fmt.Sprint(g)).Set(float64(i))
				m.CheckResults.WithLabelValues(svc, "rs", "c", "success").Inc()
				m.CheckObserver(svc, "TCP_CHECK")(time.Duration(i) * time.Microsecond)
				if i%7 == 0 {
					m.ForgetService(svc)
				}
			}
		})
	}
	for range 20 {
		served(t, m)
	}
	close(stop)
	wg.Wait()
}

// Accept-Encoding as RFC 9110 writes it: names case-insensitive,
// q-values, q=0 refuses.
func TestAcceptsGzip(t *testing.T) {
	for in, want := range map[string]bool{
		"":                   false,
		"gzip":               true,
		"GZip":               true,
		"deflate, gzip":      true,
		"gzip;q=0":           false,
		"gzip; q=0.5, br":    true,
		"br, identity":       false,
		"x-gzip":             false,
		"gzip ;q=0.000, *":   false,
		"zstd,gzip;q=1.0":    true,
		"identity;q=1, gzip": true,
	} {
		if got := acceptsGzip([]string{in}); got != want {
			t.Errorf("Accept-Encoding %q: gzip %v, want %v", in, got, want)
		}
	}
}

// BenchmarkWithLabelValuesSet is what the main loop does per destination
// and gauge (serviceGauges): find the series of (service, rs) among
// 10,000 and set it; "client_golang" is the vector the family replaced.
func BenchmarkWithLabelValuesSet(b *testing.B) {
	var svcs, rss []string
	for i := range 1000 {
		svcs = append(svcs, fmt.Sprintf("TCP 198.18.%d.%d:80", i/250, i%250+1))
	}
	for j := range 10 {
		rss = append(rss, fmt.Sprintf("198.19.0.%d:80", j+1))
	}
	b.Run("family", func(b *testing.B) {
		f := newGaugeFamily("x", "x", "service", "rs")
		i := 0
		for b.Loop() {
			f.WithLabelValues(svcs[i%1000], rss[i%10]).Set(float64(i))
			i++
		}
	})
	b.Run("client_golang", func(b *testing.B) {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "x", Help: "x"}, []string{"service", "rs"})
		i := 0
		for b.Loop() {
			v.WithLabelValues(svcs[i%1000], rss[i%10]).Set(float64(i))
			i++
		}
	})
}
