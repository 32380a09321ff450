package loadgen_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/shared/testutil"
)

func run(t *testing.T, cfg loadgen.Config) *loadgen.Report {
	t.Helper()
	rep, err := loadgen.Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("\n%s", rep)
	return rep
}

// TestRate checks that a run sends Rate*Duration requests spread evenly
// over Duration.
func TestRate(t *testing.T) {
	srv := nameServer(t, "rs1", false)
	const rate, dur = 200.0, 1500 * time.Millisecond
	begin := time.Now()
	rep := run(t, loadgen.Config{Target: loadgen.Target{Addr: srv.addr()}, Rate: rate, Duration: dur})
	took := time.Since(begin)
	if rep.Sent != 300 || rep.OK != 300 || rep.Skipped != 0 {
		t.Errorf("sent %d ok %d skipped %d, want 300 300 0", rep.Sent, rep.OK, rep.Skipped)
	}
	if took < dur-100*time.Millisecond || took > dur+700*time.Millisecond {
		t.Errorf("run took %v, want about %v", took, dur)
	}
	// Each 500 ms window holds 100 requests, give or take scheduling jitter
	// on a busy 2-core machine.
	for w := range 3 {
		from := rep.Start.Add(time.Duration(w) * 500 * time.Millisecond)
		n := rep.Window(from, from.Add(500*time.Millisecond)).Sent
		if n < 85 || n > 115 {
			t.Errorf("window %d: %d requests started, want 100±15", w, n)
		}
	}
	if srv.conns.Load() != 300 {
		t.Errorf("server saw %d connections, want 300 (one per request)", srv.conns.Load())
	}
}

// TestMix checks the exact split between new and keep-alive connections
// and that keep-alive requests reuse the pool's connections.
func TestMix(t *testing.T) {
	srv := nameServer(t, "rs1", false)
	rep := run(t, loadgen.Config{
		Target:         loadgen.Target{Addr: srv.addr()},
		Rate:           400,
		Duration:       time.Second,
		KeepAliveRatio: 0.25,
		KeepAliveConns: 3,
	})
	want := map[loadgen.Kind]loadgen.KindCounts{
		loadgen.NewConn:       {Sent: 300, OK: 300, Dials: 300},
		loadgen.KeepAliveConn: {Sent: 100, OK: 100, Dials: 3},
	}
	if diff := cmp.Diff(want, rep.ByKind); diff != "" {
		t.Errorf("ByKind (-want +got):\n%s", diff)
	}
	if got := srv.conns.Load(); got != 303 {
		t.Errorf("server saw %d connections, want 303", got)
	}
}

// TestClasses provokes every failure class for real, over new and
// keep-alive connections.
func TestClasses(t *testing.T) {
	status := newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Server", "rs1")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	tests := []struct {
		name  string
		addr  string
		class loadgen.Class
	}{
		{"refused", closedPort(t), loadgen.Refused},
		{"reset", resetServer(t), loadgen.Reset},
		{"timeout", silentServer(t), loadgen.Timeout},
		{"wrong server", nameServer(t, "rs9", false).addr(), loadgen.WrongServer},
		{"status", status.addr(), loadgen.HTTPStatus},
		{"ok", nameServer(t, "rs2", false).addr(), loadgen.OK},
	}
	for _, tt := range tests {
		for _, ratio := range []float64{0, 1} {
			t.Run(fmt.Sprintf("%s/keepalive=%v", tt.name, ratio), func(t *testing.T) {
				rep := run(t, loadgen.Config{
					Target: loadgen.Target{
						Addr:     tt.addr,
						Timeout:  300 * time.Millisecond,
						Expected: []string{"rs1", "rs2"},
					},
					Rate:           40,
					Duration:       250 * time.Millisecond,
					KeepAliveRatio: ratio,
					KeepAliveConns: 2,
				})
				if rep.Sent == 0 || rep.ByClass[tt.class] != rep.Sent {
					t.Errorf("classes %v, want all %d %v", rep.ByClass, rep.Sent, tt.class)
				}
				if tt.class.Failed() {
					if len(rep.Errors[tt.class]) == 0 && tt.class != loadgen.WrongServer && tt.class != loadgen.HTTPStatus {
						t.Errorf("no error sample for %v", tt.class)
					}
					if rep.FirstFailure.IsZero() || rep.LastFailure.Before(rep.FirstFailure) {
						t.Errorf("first/last failure %v %v", rep.FirstFailure, rep.LastFailure)
					}
				}
				switch tt.class {
				case loadgen.WrongServer:
					if diff := cmp.Diff(map[string]int{"rs9": rep.Sent}, rep.WrongServers); diff != "" {
						t.Errorf("WrongServers (-want +got):\n%s", diff)
					}
				case loadgen.HTTPStatus:
					if diff := cmp.Diff(map[int]int{503: rep.Sent}, rep.Statuses); diff != "" {
						t.Errorf("Statuses (-want +got):\n%s", diff)
					}
				case loadgen.Timeout:
					for _, r := range rep.Results() {
						if r.Latency < 250*time.Millisecond || r.Latency > time.Second {
							t.Errorf("timed-out request took %v, want about 300ms", r.Latency)
							break
						}
					}
				}
			})
		}
	}
}

// roundRobin returns a dial function that sends successive connections to
// addrs in turn, standing in for a load balancer.
func roundRobin(addrs ...string) loadgen.DialFunc {
	var n atomic.Uint64
	var d net.Dialer
	return func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addrs[(n.Add(1)-1)%uint64(len(addrs))])
	}
}

// TestPerServer counts answers per server, named in a header (rs1, whose
// body is a decoy) or in the body (rs2).
func TestPerServer(t *testing.T) {
	rs1 := nameServer(t, "rs1", true)
	rs2 := nameServer(t, "rs2", false)
	rep := run(t, loadgen.Config{
		Target: loadgen.Target{
			Addr:     "192.0.2.1:80", // never dialled: roundRobin ignores it
			Dial:     roundRobin(rs1.addr(), rs2.addr()),
			Expected: []string{"rs1", "rs2"},
		},
		Rate:     200,
		Duration: 500 * time.Millisecond,
	})
	if diff := cmp.Diff(map[string]int{"rs1": 50, "rs2": 50}, rep.PerServer); diff != "" {
		t.Errorf("PerServer (-want +got):\n%s", diff)
	}
	if rep.OK != 100 || rep.Failed != 0 {
		t.Errorf("ok %d failed %d, want 100 0", rep.OK, rep.Failed)
	}
}

// TestSetExpected changes the expected set during a run: rs2's answers are
// wrong until it is added.
func TestSetExpected(t *testing.T) {
	rs2 := nameServer(t, "rs2", false)
	g, err := loadgen.New(loadgen.Config{
		Target:   loadgen.Target{Addr: rs2.addr(), Expected: []string{"rs1"}},
		Rate:     100,
		Duration: 600 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	var changed time.Time
	var wg sync.WaitGroup
	wg.Go(func() {
		testutil.Settle(300 * time.Millisecond) // half the run with the first expectation
		changed = time.Now()
		g.SetExpected("rs1", "rs2")
	})
	rep, err := g.Run(context.Background())
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", rep)
	if rep.ByClass[loadgen.WrongServer] == 0 || rep.OK == 0 || rep.Failed != rep.ByClass[loadgen.WrongServer] {
		t.Fatalf("want wrong-server answers then OK ones, got %v", rep.ByClass)
	}
	for _, r := range rep.Results() {
		end := r.Start.Add(r.Latency)
		if r.Class == loadgen.WrongServer && end.After(changed) {
			t.Errorf("wrong-server answer at %v, after the change at %v", end, changed)
		}
		if r.Class == loadgen.OK && end.Before(changed) {
			t.Errorf("OK answer at %v, before the change at %v", end, changed)
		}
	}
}

// TestIdle checks that idle connections stay open and carry requests at
// their pace, outside the rate.
func TestIdle(t *testing.T) {
	srv := nameServer(t, "rs1", false)
	rep := run(t, loadgen.Config{
		Target:   loadgen.Target{Addr: srv.addr()},
		Duration: 500 * time.Millisecond,
		Idle:     loadgen.IdleConfig{Conns: 2, Every: 100 * time.Millisecond},
	})
	kc := rep.ByKind[loadgen.IdleConn]
	if kc.Dials != 2 || kc.Sent < 8 || kc.Sent > 12 || kc.OK != kc.Sent {
		t.Errorf("idle: %+v, want 2 dials and about 10 OK requests", kc)
	}
	if srv.conns.Load() != 2 {
		t.Errorf("server saw %d connections, want 2", srv.conns.Load())
	}
}

// TestIdleBreakIsSeen checks that a persistent connection that breaks is
// reported (not silently retried as net/http would) and redialled.
func TestIdleBreakIsSeen(t *testing.T) {
	var served atomic.Int64
	addr := rawServer(t, func(c *net.TCPConn) {
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(3 * time.Second))
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			if served.Add(1) == 3 { // the third request overall: RST
				_ = c.SetLinger(0)
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nrs1\n"); err != nil {
				return
			}
		}
	})
	rep := run(t, loadgen.Config{
		Target:   loadgen.Target{Addr: addr},
		Duration: 450 * time.Millisecond,
		Idle:     loadgen.IdleConfig{Conns: 1, Every: 100 * time.Millisecond},
	})
	res := rep.Results()
	var classes []loadgen.Class
	var conns []uint32
	for _, r := range res {
		classes = append(classes, r.Class)
		conns = append(conns, r.Conn)
	}
	wantClasses := []loadgen.Class{loadgen.OK, loadgen.OK, loadgen.Reset, loadgen.OK, loadgen.OK}
	if diff := cmp.Diff(wantClasses, classes); diff != "" {
		t.Errorf("classes (-want +got):\n%s", diff)
	}
	if len(conns) == 5 && (conns[0] != conns[2] || conns[3] == conns[2] || conns[3] != conns[4]) {
		t.Errorf("connection ids %v: want the first three on one connection, the rest on a second", conns)
	}
	if kc := rep.ByKind[loadgen.IdleConn]; kc.Dials != 2 {
		t.Errorf("idle dials %d, want 2", kc.Dials)
	}
}

// TestMaxRequests checks the hard cap ends the run early.
func TestMaxRequests(t *testing.T) {
	srv := nameServer(t, "rs1", false)
	begin := time.Now()
	rep := run(t, loadgen.Config{
		Target: loadgen.Target{Addr: srv.addr()}, Rate: 1000, Duration: 5 * time.Second,
		MaxRequests: 50, KeepAliveRatio: 0.5,
		Idle: loadgen.IdleConfig{Conns: 1, Every: 10 * time.Millisecond},
	})
	if rep.Sent != 50 {
		t.Errorf("sent %d, want 50", rep.Sent)
	}
	if took := time.Since(begin); took > time.Second {
		t.Errorf("run took %v, want it to end at the cap (about 50ms)", took)
	}
}

// TestMaxInFlight checks that requests beyond the in-flight bound are
// skipped, not queued.
func TestMaxInFlight(t *testing.T) {
	addr := silentServer(t)
	rep := run(t, loadgen.Config{
		Target: loadgen.Target{Addr: addr, Timeout: time.Second}, Rate: 100, Duration: 300 * time.Millisecond,
		MaxInFlight: 5,
	})
	if rep.Sent != 5 || rep.Skipped != 25 || rep.ByClass[loadgen.Timeout] != 5 {
		t.Errorf("sent %d skipped %d timeouts %d, want 5 25 5", rep.Sent, rep.Skipped, rep.ByClass[loadgen.Timeout])
	}
}

// TestSnapshots checks the live reports add up to the final one.
func TestSnapshots(t *testing.T) {
	rs1 := nameServer(t, "rs1", false)
	var snaps []loadgen.Snapshot
	rep := run(t, loadgen.Config{
		Target: loadgen.Target{
			Addr: "192.0.2.1:80", Dial: roundRobin(rs1.addr(), closedPort(t)), Expected: []string{"rs1"},
		},
		Rate: 100, Duration: 550 * time.Millisecond, Interval: 100 * time.Millisecond,
		OnSnapshot: func(s loadgen.Snapshot) { snaps = append(snaps, s) },
	})
	if len(snaps) < 5 || len(snaps) > 7 || !snaps[len(snaps)-1].Final {
		t.Fatalf("%d snapshots (last final: %v), want 5 to 7 ending with a final one", len(snaps), len(snaps) > 0 && snaps[len(snaps)-1].Final)
	}
	ok, refused, sent := 0, 0, 0
	for i, s := range snaps {
		t.Log(s)
		if s.Seq != i+1 {
			t.Errorf("snapshot %d has Seq %d", i, s.Seq)
		}
		ok += s.OK["rs1"]
		refused += s.Failures[loadgen.Refused]
		sent += s.Sent
	}
	last := snaps[len(snaps)-1]
	if ok != rep.OK || refused != rep.ByClass[loadgen.Refused] || sent != rep.Sent ||
		last.TotalOK != rep.OK || last.TotalFailed != rep.Failed || last.InFlight != 0 {
		t.Errorf("snapshots: ok %d refused %d sent %d, last %+v; report ok %d refused %d sent %d",
			ok, refused, sent, last, rep.OK, rep.ByClass[loadgen.Refused], rep.Sent)
	}
	if rep.OK != 28 || rep.ByClass[loadgen.Refused] != 27 {
		t.Errorf("ok %d refused %d, want 28 27 (alternating)", rep.OK, rep.ByClass[loadgen.Refused])
	}
}

// TestCancel cancels a run whose requests hang: Run returns at once, the
// requests in flight are Aborted, and nothing is left running.
func TestCancel(t *testing.T) {
	addr := silentServer(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	begin := time.Now()
	rep, err := loadgen.Run(ctx, loadgen.Config{
		Target: loadgen.Target{Addr: addr, Timeout: 10 * time.Second}, Rate: 100, Duration: 10 * time.Second,
		KeepAliveRatio: 0.5, KeepAliveConns: 2,
		Idle: loadgen.IdleConfig{Conns: 2, Every: 10 * time.Millisecond},
	})
	took := time.Since(begin)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run error %v, want context.Canceled", err)
	}
	if took > time.Second {
		t.Errorf("Run returned %v after the start, want soon after the cancel at 300ms", took)
	}
	if rep == nil {
		t.Fatal("no report")
	}
	t.Logf("\n%s", rep)
	if rep.Aborted == 0 || rep.Failed != 0 || rep.Aborted != rep.Sent {
		t.Errorf("aborted %d failed %d sent %d: want every request aborted, none failed", rep.Aborted, rep.Failed, rep.Sent)
	}
	noLoadgenGoroutines(t)
}

// TestNoLeak checks that a normal run with every kind of connection leaves
// no goroutine behind, and that a Generator runs only once.
func TestNoLeak(t *testing.T) {
	srv := nameServer(t, "rs1", false)
	g, err := loadgen.New(loadgen.Config{
		Target: loadgen.Target{Addr: srv.addr()}, Rate: 200, Duration: 300 * time.Millisecond,
		KeepAliveRatio: 0.5, Idle: loadgen.IdleConfig{Conns: 3, Every: 20 * time.Millisecond},
		Interval: 50 * time.Millisecond, OnSnapshot: func(loadgen.Snapshot) {},
	})
	if err != nil {
		t.Fatal(err)
	}
	if g.Report() != nil {
		t.Error("Report before Run is not nil")
	}
	rep, err := g.Run(context.Background())
	if err != nil || rep.Failed != 0 {
		t.Fatalf("Run: %v, %d failed\n%s", err, rep.Failed, rep)
	}
	noLoadgenGoroutines(t)
	if _, err := g.Run(context.Background()); !errors.Is(err, loadgen.ErrRunning) {
		t.Errorf("second Run: %v, want ErrRunning", err)
	}
	if got := g.Report(); got.Sent != rep.Sent {
		t.Errorf("Report after Run: sent %d, want %d", got.Sent, rep.Sent)
	}
}

// TestProbe measures the recovery of a server that starts listening 300ms
// after the event.
func TestProbe(t *testing.T) {
	addr := closedPort(t)
	event := time.Now()
	var srv *http.Server
	var mu sync.Mutex
	started := time.AfterFunc(300*time.Millisecond, func() {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("listen %s: %v", addr, err)
			return
		}
		mu.Lock()
		srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "rs1\n")
		})}
		mu.Unlock()
		go func() { _ = srv.Serve(ln) }()
	})
	t.Cleanup(func() {
		started.Stop()
		mu.Lock()
		defer mu.Unlock()
		if srv != nil {
			srv.Close()
		}
	})
	res, err := loadgen.Probe(context.Background(), loadgen.ProbeConfig{
		Target: loadgen.Target{Addr: addr}, MaxDuration: 3 * time.Second,
	}, event)
	if err != nil {
		t.Fatalf("Probe: %v\n%s", err, res.Report)
	}
	t.Logf("recovery %v\n%s", res.Recovery, res.Report)
	if res.Recovery < 290*time.Millisecond || res.Recovery > 600*time.Millisecond {
		t.Errorf("recovery %v, want about 300ms", res.Recovery)
	}
	if got := res.Report.ByClass[loadgen.Refused]; got < 20 || got > 40 {
		t.Errorf("%d refused probes before recovery, want about 30 (one per 10ms)", got)
	}
	if res.Report.OK != 1 {
		t.Errorf("%d OK probes, want the probe to stop at the first", res.Report.OK)
	}
	noLoadgenGoroutines(t)
}

// TestProbeNotRecovered checks a probe that never succeeds is bounded.
func TestProbeNotRecovered(t *testing.T) {
	res, err := loadgen.Probe(context.Background(), loadgen.ProbeConfig{
		Target: loadgen.Target{Addr: closedPort(t)}, MaxDuration: 200 * time.Millisecond,
	}, time.Now())
	if !errors.Is(err, loadgen.ErrNotRecovered) {
		t.Fatalf("Probe error %v, want ErrNotRecovered", err)
	}
	if res.Recovered || res.Report.Sent < 15 || res.Report.Sent > 21 {
		t.Errorf("recovered %v after %d probes, want false after about 20", res.Recovered, res.Report.Sent)
	}
}

func TestConfigErrors(t *testing.T) {
	base := loadgen.Config{Target: loadgen.Target{Addr: "127.0.0.1:1"}, Rate: 1, Duration: time.Second}
	tests := []struct {
		name string
		mod  func(*loadgen.Config)
		want string
	}{
		{"ok", func(*loadgen.Config) {}, ""},
		{"addr", func(c *loadgen.Config) { c.Addr = "127.0.0.1" }, "target address"},
		{"path", func(c *loadgen.Config) { c.Path = "x" }, "path"},
		{"host", func(c *loadgen.Config) { c.Host = "a\r\nb" }, "host"},
		{"duration", func(c *loadgen.Config) { c.Duration = 0 }, "duration"},
		{"long", func(c *loadgen.Config) { c.Duration = 2 * time.Hour }, "duration"},
		{"rate", func(c *loadgen.Config) { c.Rate = -1 }, "rate"},
		{"nan", func(c *loadgen.Config) { c.Rate = math.NaN() }, "rate"},
		{"ratio", func(c *loadgen.Config) { c.KeepAliveRatio = 1.5 }, "keep-alive ratio"},
		{"idle", func(c *loadgen.Config) { c.Idle = loadgen.IdleConfig{Conns: 1} }, "idle every"},
		{"nothing", func(c *loadgen.Config) { c.Rate = 0 }, "nothing to send"},
		{"interval", func(c *loadgen.Config) { c.Interval = time.Millisecond }, "interval"},
		{"timeout", func(c *loadgen.Config) { c.Timeout = time.Hour }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := base
			tt.mod(&cfg)
			_, err := loadgen.New(cfg)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("New: %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var ds []time.Duration
		for _, n := range ns {
			ds = append(ds, time.Duration(n)*time.Millisecond)
		}
		return ds
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted
	}
	tests := []struct {
		name string
		in   []time.Duration
		want loadgen.Latency
	}{
		{"empty", nil, loadgen.Latency{}},
		{"one", ms(7), loadgen.Latency{N: 1, P50: 7 * time.Millisecond, P90: 7 * time.Millisecond, P99: 7 * time.Millisecond, Max: 7 * time.Millisecond, Mean: 7 * time.Millisecond}},
		{"four", ms(4, 1, 3, 2), loadgen.Latency{N: 4, P50: 2 * time.Millisecond, P90: 4 * time.Millisecond, P99: 4 * time.Millisecond, Max: 4 * time.Millisecond, Mean: 2500 * time.Microsecond}},
		{"hundred", ms(hundred...), loadgen.Latency{N: 100, P50: 50 * time.Millisecond, P90: 90 * time.Millisecond, P99: 99 * time.Millisecond, Max: 100 * time.Millisecond, Mean: 50500 * time.Microsecond}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, loadgen.Summarise(tt.in)); diff != "" {
				t.Errorf("Summarise (-want +got):\n%s", diff)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	opErr := func(err error) error {
		return fmt.Errorf("dial tcp from client: %w", &net.OpError{Op: "dial", Net: "tcp", Err: err})
	}
	tests := []struct {
		err  error
		want loadgen.Class
	}{
		{nil, loadgen.OK},
		{opErr(os.NewSyscallError("connect", syscall.ECONNREFUSED)), loadgen.Refused},
		{opErr(syscall.ECONNRESET), loadgen.Reset},
		{opErr(syscall.EPIPE), loadgen.Reset},
		{fmt.Errorf("read response: %w", io.ErrUnexpectedEOF), loadgen.Reset},
		{fmt.Errorf("read response: %w", io.EOF), loadgen.Reset},
		{opErr(syscall.ETIMEDOUT), loadgen.Timeout},
		{context.DeadlineExceeded, loadgen.Timeout},
		{opErr(syscall.EHOSTUNREACH), loadgen.Other},
		{errors.New("malformed HTTP response"), loadgen.Other},
	}
	for _, tt := range tests {
		if got := loadgen.Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
