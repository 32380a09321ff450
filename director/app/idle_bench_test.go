package app

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/agents"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// idleKeepalived is a keepalived.conf of one VRRP instance and n
// services × 10 real servers without checks. The first service's first real server, idleDrainRS, is
// its alone (the others are shared by every service), so that draining it
// drains one destination.
func idleKeepalived(n int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id idle\n}\n")
	b.WriteString("\nvrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority 100\n" +
		"    advert_int 1\n    virtual_ipaddress {\n        198.18.255.1/24\n    }\n}\n")
	for i := range n {
		fmt.Fprintf(&b, "\nvirtual_server 198.18.%d.%d 80 {\n    lb_algo wlc\n    lb_kind DR\n    protocol TCP\n", i/250, i%250+1)
		for j := range 10 {
			ip := fmt.Sprintf("198.19.0.%d", j+1)
			if i == 0 && j == 0 {
				ip = idleDrainRS
			}
			fmt.Fprintf(&b, "    real_server %s 80 {\n        weight 1\n    }\n", ip)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// idleDrainRS is the real server of idleKeepalived in one service only.
const idleDrainRS = "198.19.1.1"

// processCPU is the CPU time (user + system) of the whole test process.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdle runs a director with nothing happening (no traffic, no
// agents, no checkers, a VRRP instance whose fake driver does nothing) on the fake kernel; one operation is one
// second of idleness. It reports the CPU time of the whole test process
// per second (getrusage RUSAGE_SELF: every goroutine, the runtime's
// included; nothing else runs in the binary meanwhile) and the main
// loop's wake-ups per second. The cases: no service; 1,000 services × 10
// real servers; the same with one destination draining (connections in
// flight keep it draining).
//
//	go test ./director/app/ -run '^$' -bench BenchmarkIdle -benchtime 5x
func BenchmarkIdle(b *testing.B) {
	for _, c := range []struct {
		name  string
		n     int
		drain bool
	}{
		{"services=0", 0, false},
		{"services=1000x10", 1000, false},
		{"services=1000x10/draining=1", 1000, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			h := startWith(b, idleKeepalived(c.n), nil, func(o *Options) { o.InsecureHeartbeat = true })
			if c.drain {
				svc := lvs.ServiceKey("TCP 198.18.0.1:80")
				if err := h.ipvs.SetConns(svc, idleDrainRS+":80", 5, 0); err != nil {
					b.Fatal(err)
				}
				var res control.DrainResult
				if err := h.call(control.OpDrain, control.DrainArgs{Target: idleDrainRS + ":80"}, &res); err != nil {
					b.Fatal(err)
				}
				if len(res.Servers) != 1 || res.Servers[0].State != "draining" {
					b.Fatalf("drain: %+v", res)
				}
			}
			testutil.Settle(time.Second) // what follows the start
			// The runtime's background scavenger returns the start's
			// garbage to the OS at up to 1 % of a CPU for a while: a
			// transient of the start, not the idle cost (FreeOSMemory
			// returns it all now).
			debug.FreeOSMemory()
			cpu0, wakes0, t0 := processCPU(b), h.a.wakes.Load(), time.Now()
			b.ResetTimer()
			for b.Loop() {
				testutil.Settle(time.Second)
			}
			b.StopTimer()
			secs := time.Since(t0).Seconds()
			cpu := (processCPU(b) - cpu0).Seconds() * 1000 / secs
			wakes := float64(h.a.wakes.Load()-wakes0) / secs
			b.ReportMetric(cpu, "cpu-ms/s")
			b.ReportMetric(wakes, "wakes/s")
			b.ReportMetric(0, "ns/op")
			if c.drain {
				if st := h.status(); st.Services[0].RealServers[0].State != "draining" {
					b.Errorf("%s is %s at the end, want draining", idleDrainRS, st.Services[0].RealServers[0].State)
				}
			}
			h.stop()
		})
	}
}

// BenchmarkDrainWake is one wake of the main loop for the drain read at
// 1,000 services × 10 with one destination draining: the alarm's work
// (onAlarm), the flush and the next deadline (nextWake), on the App of a
// stopped director (its loop no longer runs).
func BenchmarkDrainWake(b *testing.B) {
	h := startWith(b, idleKeepalived(1000), nil, func(o *Options) { o.InsecureHeartbeat = true })
	svc := lvs.ServiceKey("TCP 198.18.0.1:80")
	if err := h.ipvs.SetConns(svc, idleDrainRS+":80", 5, 0); err != nil {
		b.Fatal(err)
	}
	if err := h.call(control.OpDrain, control.DrainArgs{Target: idleDrainRS + ":80"}, nil); err != nil {
		b.Fatal(err)
	}
	h.stop()
	a := h.a
	for b.Loop() {
		a.drainedAt = time.Time{}
		a.onAlarm()
		a.flush()
		if a.nextWake().IsZero() {
			b.Fatal("no next wake while draining")
		}
	}
}

// heldReads is the fake kernel as the background read's handle sees it:
// each whole-table read waits until the test releases it, so that a
// safety read is in flight as long as the test needs.
type heldReads struct {
	*fakeIPVS
	started chan struct{} // one value per read begun
	release chan struct{} // closed: the reads go on
}

func (r *heldReads) Services() ([]lvs.ServiceState, error) {
	select {
	case r.started <- struct{}{}:
	default:
	}
	<-r.release
	return r.fakeIPVS.Services()
}

// TestReloadWhileTableRead: at 1,000 services × 10 real servers, a reload
// (the control operation, then SIGHUP) is served while a whole-table read
// is in flight and does not end: the read is off the main loop. It prints
// how long each reload took, from the request (the signal) to the new
// weight in the fake kernel; it asserts only that both are served.
func TestReloadWhileTableRead(t *testing.T) {
	const n = 1000
	held := &heldReads{started: make(chan struct{}, 1), release: make(chan struct{})}
	h := startWith(t, bigKeepalived(n, 1), nil, func(o *Options) {
		o.InsecureHeartbeat = true
		o.ResyncInterval = 10 * time.Millisecond
		open, first := o.OpenIPVS, true
		o.OpenIPVS = func(log *slog.Logger) (IPVS, error) {
			k, err := open(log)
			if err != nil {
				return nil, err
			}
			held.fakeIPVS = k.(*fakeIPVS)
			if first { // the main loop's handle
				first = false
				return k, nil
			}
			return held, nil
		}
	})
	t.Cleanup(func() { close(held.release) }) // before the harness stops
	select {
	case <-held.started:
	case <-time.After(10 * time.Second):
		t.Fatal("no whole-table read began")
	}
	svc := lvs.Service{Protocol: lvs.TCP, Addr: netip.AddrFrom4([4]byte{198, 18, byte(n / 2 / 250), byte(n/2%250 + 1)}), Port: 80, Scheduler: "wlc"}
	weight := func() int {
		st, err := h.ipvs.Service(svc)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range st.Destinations {
			if d.Addr == netip.MustParseAddr("198.19.0.4") {
				return d.Weight
			}
		}
		return -1
	}

	h.write(bigKeepalived(n, 2))
	t0 := time.Now()
	if err := h.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	took := time.Since(t0)
	if w := weight(); w != 2 {
		t.Fatalf("after the reload: weight %d, want 2", w)
	}
	t.Logf("reload (control operation) during a whole-table read: %v", took)

	h.write(bigKeepalived(n, 3))
	t0 = time.Now()
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !testutil.WaitFor(30*time.Second, func() bool { return weight() == 3 }) {
		t.Fatalf("SIGHUP not served: weight %d, want 3", weight())
	}
	t.Logf("SIGHUP → new weight in the kernel during a whole-table read: %v", time.Since(t0))
	select {
	case <-held.started:
		t.Fatal("a second whole-table read began while the first was in flight")
	default:
	}
}

// BenchmarkTakeTable is the main loop's part of a whole-table read at
// 1,000 services × 10 (takeTable: every service's counters and drift),
// nothing changed since the previous read; BenchmarkWholeReadFake is the
// read itself on the fake kernel (the real one: 0.89 s under emulation,
// docs/benchmarks-reconcile.md).
func BenchmarkTakeTable(b *testing.B) {
	h := startWith(b, idleKeepalived(1000), nil, func(o *Options) { o.InsecureHeartbeat = true })
	h.stop()
	states, err := h.ipvs.Services()
	if err != nil {
		b.Fatal(err)
	}
	h.a.takeTable(states, time.Now()) // the first: every counter is new
	for b.Loop() {
		h.a.takeTable(states, time.Now())
	}
}

func BenchmarkWholeReadFake(b *testing.B) {
	h := startWith(b, idleKeepalived(1000), nil, func(o *Options) { o.InsecureHeartbeat = true })
	h.stop()
	for b.Loop() {
		if _, err := h.ipvs.Services(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestWatchdogOnTheAlarm: with systemd's watchdog on (WATCHDOG_USEC), an
// idle director pings it from its one alarm, every quarter of the period.
func TestWatchdogOnTheAlarm(t *testing.T) {
	t.Setenv("WATCHDOG_USEC", "400000") // pings every 100 ms
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	h := startWith(t, idleKeepalived(0), nil, func(o *Options) { o.InsecureHeartbeat = true })
	pings := func() int {
		n := 0
		for _, e := range h.notify.Events() {
			if e == "WATCHDOG=1" {
				n++
			}
		}
		return n
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return pings() >= 3 }) {
		t.Fatalf("%d watchdog pings in 5 s, want 3 or more", pings())
	}
}

// BenchmarkAgentsArrive is the main loop's cost of 10,000 agents heard
// for the first time (a director started among running agents): each
// report reaches the main loop, which takes them in batches (maxBatch)
// and flushes after each (the view rebuilt), on the App of a stopped
// director with 1,000 services × 10 distinct real servers. One op is the
// 10,000 reports.
func BenchmarkAgentsArrive(b *testing.B) {
	const n = 10000
	h := startWith(b, scaleKeepalived(n/10), nil, func(o *Options) { o.InsecureHeartbeat = true })
	h.stop()
	a := h.a
	a.hb = nil
	a.heardOf = func(netip.Addr) (agents.Heard, bool) { return agents.Heard{}, false }
	ips := make([]netip.Addr, n)
	for i := range ips {
		ips[i] = netip.AddrFrom4([4]byte{10, 64, byte(i / 250), byte(i%250 + 1)})
	}
	for b.Loop() {
		b.StopTimer()
		for ip := range a.agentsTab {
			delete(a.agentsTab, ip)
		}
		a.agentsQ = agentQueue{}
		a.agentCounts = newAgentCounts()
		b.StartTimer()
		for i, ip := range ips {
			a.onEvent(agentEvent{r: agents.Report{Peer: netip.AddrPortFrom(ip, 7481), At: time.Now(),
				Agent: hbproto.AgentReport{Node: "rs", RealIP: ip, State: hbproto.StateUp}}})
			if i%maxBatch == maxBatch-1 || i == n-1 {
				a.flush()
			}
		}
	}
	if len(a.agentsTab) != n {
		b.Fatalf("%d agents in the table, want %d", len(a.agentsTab), n)
	}
}

// scaleKeepalived is a keepalived.conf of n services × 10 real servers,
// each its own (10.64.0.1 onwards, 250 a /24), as e2e/bench/scale's.
func scaleKeepalived(n int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id scale\n}\n")
	for i := range n {
		fmt.Fprintf(&b, "\nvirtual_server 198.18.%d.%d 80 {\n    lb_algo wlc\n    lb_kind DR\n    protocol TCP\n", i/250, i%250+1)
		for j := range 10 {
			k := i*10 + j
			fmt.Fprintf(&b, "    real_server 10.64.%d.%d 80 {\n        weight 1\n    }\n", k/250, k%250+1)
		}
		b.WriteString("}\n")
	}
	return b.String()
}
