package app

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// BenchmarkScrape1000x10 is one whole /metrics scrape of a director at the
// design size, 1,000 services × 10 real servers, on the fake kernel (whose
// every destination has traffic counters), through the daemon's handler
// (metrics.Metrics.Handler): the registry's small families gathered and
// encoded by client_golang, the large ones written from their series'
// prebuilt text, the traffic read from the fake kernel at scrape time
// included. "text" is the plain answer, "gzip" the same compressed, as
// Prometheus asks for it. cpu-ms/scrape is the process' CPU time per
// scrape (the daemon is idle meanwhile), which a busy host does not
// inflate as it does the wall time (ms/scrape).
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
	hd := h.a.Metrics().Handler()
	scrape := func(b *testing.B, gz bool) {
		var size, text int
		cpu0 := cpuTime(b)
		for b.Loop() {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if gz {
				req.Header.Set("Accept-Encoding", "gzip")
			}
			var w countingWriter
			hd.ServeHTTP(&w, req)
			if w.code != http.StatusOK || (w.Header().Get("Content-Encoding") == "gzip") != gz {
				b.Fatal(w.code, w.Header())
			}
			size = w.n
		}
		b.StopTimer()
		cpu := cpuTime(b) - cpu0
		// The series, counted on the last answer (not timed).
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		rec := httptest.NewRecorder()
		hd.ServeHTTP(rec, req)
		text = rec.Body.Len()
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(rec.Body)
		if err != nil {
			b.Fatal(err)
		}
		series := 0
		for _, mf := range fams {
			series += len(mf.GetMetric())
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/scrape")
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/scrape")
		b.ReportMetric(float64(series), "series")
		b.ReportMetric(float64(size)/(1<<20), "MiB")
		b.ReportMetric(float64(text)/(1<<20), "text-MiB")
	}
	b.Run("text", func(b *testing.B) { scrape(b, false) })
	b.Run("gzip", func(b *testing.B) { scrape(b, true) })
	h.stop()
}

// cpuTime is the process' CPU time so far (user and system): the daemon
// is idle meanwhile, and what other processes on the host take does not
// count, unlike the wall time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// countingWriter is a ResponseWriter that counts the body's bytes: the
// scrape's cost without that of keeping a 10 MiB answer in memory (a
// daemon writes it to the socket as it goes).
type countingWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *countingWriter) Header() http.Header {
	if w.h == nil {
		w.h = http.Header{}
	}
	return w.h
}

func (w *countingWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	w.n += len(p)
	return len(p), nil
}

// bigLoopback is a native configuration of n services × 10 real servers
// whose real servers are n agents on loopback addresses (agentAddr), each
// the real server of 10 services, with the heartbeat on and /metrics
// served (withMetrics).
func bigLoopback(n int) string {
	var b strings.Builder
	b.WriteString(testConfig("DIR", 1, "")[:strings.Index(testConfig("DIR", 1, ""), "virtual_servers:")])
	b.WriteString("virtual_servers:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - address: 198.18.%d.%d:80\n    lvs_sched: wlc\n    real_servers:\n", i/250, i%250+1)
		for j := range 10 {
			fmt.Fprintf(&b, "      - address: %s:80\n        weight: 1\n", agentAddr((i*10+j)%n))
		}
	}
	return b.String()
}

// agentAddr is the loopback address of simulated agent i.
func agentAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 1, byte(i / 250), byte(i%250 + 1)})
}

// simAgent is one simulated agent: its socket, its sealer, its report,
// and when its last report left (unix nanoseconds, 0: none pending).
type simAgent struct {
	conn   *net.UDPConn
	sealer *hbproto.Sealer
	report hbproto.AgentReport
	sent   atomic.Int64
}

// BenchmarkHeartbeatReplyLatency is the time from an agent's report to
// the director's reply, over loopback, for 1,000 agents each reporting
// once a second (one report every millisecond, round robin) to a director
// of 1,000 services × 10 real servers (the agents are its real servers),
// without and with scrapes of /metrics running back to back (gzip, as
// Prometheus asks) meanwhile. One op is one report; run it with
// -benchtime=3000x (3 s of load per case). It reports the latency's
// p50, p99 and maximum, the replies missing after the run, and the
// scrapes done.
func BenchmarkHeartbeatReplyLatency(b *testing.B) {
	const n = 1000
	h := startWith(b, bigLoopback(n), nil, withMetrics)
	m := metricsListening.FindStringSubmatch(h.logs.String())
	if m == nil {
		b.Fatalf("no metrics listener in the log")
	}
	url := "http://" + m[1] + "/metrics"
	hb := h.a.HeartbeatAddr().(*net.UDPAddr)
	agents := make([]*simAgent, n)
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for i := range agents {
		ip := agentAddr(i)
		c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)), hb)
		if err != nil {
			b.Fatal(err)
		}
		a := &simAgent{conn: c, sealer: hbproto.NewSealer(hbproto.DeriveAgentKey(harnessSecret, ip), uint64(i+1)),
			report: hbproto.AgentReport{Node: fmt.Sprintf("sim%04d", i), RealIP: ip, State: hbproto.StateUp}}
		agents[i] = a
		wg.Go(func() {
			buf := make([]byte, hbproto.MaxDatagram)
			for {
				if _, err := c.Read(buf); err != nil {
					return // closed at the end
				}
				if t := a.sent.Swap(0); t != 0 {
					mu.Lock()
					lat = append(lat, time.Duration(time.Now().UnixNano()-t))
					mu.Unlock()
				}
			}
		})
	}
	defer func() {
		for _, a := range agents {
			a.conn.Close()
		}
		wg.Wait()
	}()
	send := func(a *simAgent) {
		p, err := a.sealer.SealAgent(time.Now(), &a.report)
		if err != nil {
			b.Fatal(err)
		}
		a.sent.Store(time.Now().UnixNano())
		if _, err := a.conn.Write(p); err != nil {
			b.Fatal(err)
		}
	}
	pending := func() int {
		k := 0
		for _, a := range agents {
			if a.sent.Load() != 0 {
				k++
			}
		}
		return k
	}
	// Warm-up: every agent heard once (the director logs each and
	// rebuilds what agents are told).
	warm := time.NewTicker(time.Millisecond)
	for _, a := range agents {
		<-warm.C
		send(a)
	}
	warm.Stop()
	if !testutil.WaitFor(30*time.Second, func() bool { return pending() == 0 }) {
		b.Fatalf("%d agents without a reply after the warm-up", pending())
	}

	run := func(b *testing.B, scrape bool) {
		mu.Lock()
		lat = lat[:0]
		mu.Unlock()
		stop := make(chan struct{})
		var scrapes atomic.Int64
		var sw sync.WaitGroup
		if scrape {
			sw.Go(func() {
				c := &http.Client{Timeout: 10 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					req, _ := http.NewRequest(http.MethodGet, url, nil)
					req.Header.Set("Accept-Encoding", "gzip")
					resp, err := c.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					scrapes.Add(1)
				}
			})
		}
		// One report every millisecond: 1,000 agents × 1 report/s.
		tick := time.NewTicker(time.Millisecond)
		k := 0
		for b.Loop() {
			<-tick.C
			send(agents[k%n])
			k++
		}
		tick.Stop()
		// The last replies.
		testutil.WaitFor(2*time.Second, func() bool { return pending() == 0 })
		close(stop)
		sw.Wait()
		missing := pending()
		for _, a := range agents {
			a.sent.Store(0)
		}
		mu.Lock()
		d := slices.Clone(lat)
		mu.Unlock()
		slices.Sort(d)
		if len(d) == 0 {
			b.Fatal("no reply")
		}
		q := func(p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) }
		b.ReportMetric(q(0.5), "p50-µs")
		b.ReportMetric(q(0.99), "p99-µs")
		b.ReportMetric(float64(d[len(d)-1].Microseconds()), "max-µs")
		b.ReportMetric(float64(missing), "missing")
		b.ReportMetric(float64(scrapes.Load()), "scrapes")
	}
	b.Run("idle", func(b *testing.B) { run(b, false) })
	b.Run("scraping", func(b *testing.B) { run(b, true) })
}
