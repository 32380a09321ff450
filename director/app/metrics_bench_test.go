package app

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"

	"github.com/tandemlb/tandem/director/lvs"
)

// BenchmarkScrape1000x10 is one whole /metrics scrape of a director at the
// design size, 1,000 services × 10 real servers, on the fake kernel (whose
// every destination has traffic counters): the registry gathered (the
// traffic read from the fake kernel at scrape time included) and encoded
// as text. "gzip" is the same through the daemon's handler, as Prometheus
// asks for it (gzip).
func BenchmarkScrape1000x10(b *testing.B) {
	const n = 1000
	h := startWith(b, bigKeepalived(n, 1), nil, func(o *Options) { o.InsecureHeartbeat = true })
	states, err := h.ipvs.Services()
	if err != nil {
		b.Fatal(err)
	}
	if len(states) != n {
		b.Fatalf("%d services in the fake kernel", len(states))
	}
	for i, st := range states {
		for j, d := range st.Destinations {
			s := lvs.Stats{Conns: uint64(i*10 + j), PktsIn: 1 << 20, BytesIn: 1 << 30}
			if err := h.ipvs.SetDestStats(st.Service.Key(), d.Key(), s); err != nil {
				b.Fatal(err)
			}
		}
		if err := h.ipvs.SetServiceStats(st.Service.Key(), lvs.Stats{Conns: uint64(i), PktsIn: 10 << 20, BytesIn: 10 << 30}); err != nil {
			b.Fatal(err)
		}
	}
	reg := h.a.Metrics().Registry
	b.Run("text", func(b *testing.B) {
		var buf bytes.Buffer
		series := 0
		for b.Loop() {
			buf.Reset()
			mfs, err := reg.Gather()
			if err != nil {
				b.Fatal(err)
			}
			enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
			series = 0
			for _, mf := range mfs {
				series += len(mf.GetMetric())
				if err := enc.Encode(mf); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
		b.ReportMetric(float64(series), "series")
		b.ReportMetric(float64(buf.Len())/(1<<20), "MiB")
	})
	b.Run("gzip", func(b *testing.B) {
		hd := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		size := 0
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			rec := httptest.NewRecorder()
			hd.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatal(rec.Code)
			}
			size = rec.Body.Len()
			_, _ = io.Copy(io.Discard, rec.Body)
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/scrape")
		b.ReportMetric(float64(size)/(1<<20), "MiB")
	})
	b.StopTimer()
	h.stop()
}
