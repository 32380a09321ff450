package ops

// Guest side of the benchmark: runs inside the QEMU guest (testutil.InVM),
// started by TestVMBenchOps.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/bench/benchutil"
	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

const (
	defaultRuns   = 5
	maxRuns       = 50
	defaultWindow = 15 * time.Second
	simAgents     = 1000
	warmUp        = 2 * time.Second // load before the event; after rs1 is out: afterOut
)

func envWindow(t *testing.T) time.Duration {
	s := os.Getenv("TANDEM_BENCH_WINDOW")
	if s == "" {
		return defaultWindow
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > 5*time.Minute {
		t.Fatalf("TANDEM_BENCH_WINDOW=%q: want 1s..5m", s)
	}
	return d
}

func emit(t *testing.T, s Sample) {
	t.Helper()
	fmt.Println(SampleLine(s))
	if s.Proc != "" {
		t.Logf("%s %s run %d: RSS %s, CPU %s", s.Case, s.Proc, s.Run, MiB(float64(s.RSSKiB)), Pct(s.CPUPct))
	} else {
		t.Logf("%s %s run %d: %s, %d of %d requests failed", s.Scenario, s.Variant, s.Run, benchutil.Seconds(s.Seconds), s.Failed, s.Sent)
	}
}

// TestGuestBenchOps is the benchmark itself: one phase per implementation,
// each in a fresh lab. It prints BENCH lines and a BENCHMETA line.
func TestGuestBenchOps(t *testing.T) {
	testutil.InVM(t)
	runs, window := benchutil.EnvRuns(t, defaultRuns, maxRuns), envWindow(t)
	meta := guestMeta(t, runs, window)

	t.Run("keepalived", func(t *testing.T) {
		l := newLab(t, labOpts{delayLoop: 10, phase: 10 * time.Second})
		for r := 1; r <= runs; r++ {
			u, err := Measure(context.Background(), "/proc", window, l.daemon.Pid())
			if err != nil {
				t.Fatal(err)
			}
			if u[0].Procs != 3 {
				t.Errorf("keepalived: %d processes, want 3 (parent, VRRP, checkers)", u[0].Procs)
			}
			emit(t, Sample{Case: CaseIdle, Proc: ProcKA, Run: r, Procs: u[0].Procs, RSSKiB: u[0].RSSKiB, CPUPct: u[0].CPUPct})
		}
		for r := 1; r <= runs; r++ {
			l.drainKeepalived(VarKeepalived, r)
			l.unhealthy(VarKeepalived, r)
		}
	})
	t.Run("keepalived-dl1", func(t *testing.T) {
		l := newLab(t, labOpts{delayLoop: 1, phase: time.Second})
		for r := 1; r <= runs; r++ {
			l.drainKeepalived(VarKeepalivedDL1, r)
			l.unhealthy(VarKeepalivedDL1, r)
		}
	})
	t.Run("tandem", func(t *testing.T) {
		l := newLab(t, labOpts{tandem: true, delayLoop: 10, phase: 2 * time.Second})
		for r := 1; r <= runs; r++ {
			l.drainTandem(r)
			l.unhealthy(VarTandem, r)
		}
		l.resources(runs, window)
	})
	t.Run("tandem-fast", func(t *testing.T) {
		l := newLab(t, labOpts{tandem: true, delayLoop: 10, fastProbe: true, phase: 300 * time.Millisecond})
		for r := 1; r <= runs; r++ {
			l.unhealthy(VarTandemFast, r)
		}
	})
	fmt.Println(MetaLine(meta))
}

func guestMeta(t *testing.T, runs int, window time.Duration) Meta {
	m := Meta{Runs: runs, GuestCPUs: runtime.NumCPU(), Rate: loadRate, KeepAlive: fmt.Sprintf("%.0f %%", loadKeepAlive*100),
		Poll: pollEvery.String(), Window: window.String(), Agents: simAgents,
		GuestKernel: benchutil.KernelRelease(), GuestMemMB: benchutil.GuestMemMB()}
	m.Keepalived = benchutil.FirstLine(t, "keepalived", "--version")
	m.Director = strings.TrimPrefix(benchutil.FirstLine(t, testutil.Bin(t, "tandem-director"), "--version"), "tandem-director version ")
	m.Backend = strings.TrimPrefix(benchutil.FirstLine(t, testutil.Bin(t, "tandem-backend"), "--version"), "tandem-backend version ")
	return m
}

// checkLoad fails the run when a request failed where none may (drain), or
// from lateFrom after rs1 was out (unhealthy), and when fewer than minLate
// requests started from then on have ended, so that neither check passes
// on a load that had stopped or stalled.
func (l *lab) checkLoad(what string, rep *loadgen.Report, event, out time.Time, mayFail bool) {
	l.t.Helper()
	if n := rep.Window(rep.Start, event).PerServer["rs1"]; n == 0 {
		// lc: the refused connections of an earlier unhealthy run linger
		// in IPVS as inactive entries and count against rs1 for a while.
		l.t.Logf("note: %s: rs1 answered nothing before the event", what)
	}
	if !mayFail && rep.Failed != 0 {
		l.t.Errorf("%s: %d requests failed: %v\n%s", what, rep.Failed, rep.Errors, rep)
	}
	late := rep.Window(out.Add(lateFrom), rep.End)
	if mayFail && late.Failed != 0 {
		l.t.Errorf("%s: %d requests started %v or more after rs1 was out failed: %v", what, late.Failed, lateFrom, rep.Errors)
	}
	if ended := late.Sent - late.Aborted; ended < minLate {
		l.t.Errorf("%s: %d requests started %v or more after rs1 was out ended (%d cut off by the stop), want at least %d\n%s",
			what, ended, lateFrom, late.Aborted, minLate, rep)
	}
}

// beforeEvent waits warmUp plus a random part of the checker's period, so
// that the event falls at a random phase of it (the restore of the
// previous run ends right after a check).
func (l *lab) beforeEvent() {
	testutil.Settle(warmUp + rand.N(l.o.phase))
}

// drainKeepalived: the seed's way to take rs1 out: remove its check file.
func (l *lab) drainKeepalived(variant string, run int) {
	t := l.t
	stop := l.startLoad()
	l.beforeEvent()
	event := time.Now()
	if err := os.Remove(l.checkFile("rs1")); err != nil {
		stop()
		t.Fatal(err)
	}
	out, ok := l.waitOut("rs1")
	if !ok {
		stop()
		t.Fatalf("%s drain run %d: rs1 still in IPVS %v after its check file went", variant, run, outBound)
	}
	testutil.Settle(afterOut) // load after rs1 is out
	rep := stop()
	what := fmt.Sprintf("%s drain run %d", variant, run)
	// keepalived deletes the destination: its established connections
	// then hang (expire_nodest_conn 0, the kernel's default) and time
	// out. Those failures are the result, not a broken scenario.
	if n := rep.Window(rep.Start, event).PerServer["rs1"]; n == 0 {
		l.t.Logf("note: %s: rs1 answered nothing before the event", what)
	}
	emit(t, Sample{Scenario: ScDrain, Variant: variant, Run: run, Seconds: out.Sub(event).Seconds(), Sent: rep.Sent - rep.Aborted, Failed: rep.Failed})
	l.writeCheck("rs1")
	l.waitIn(what+": rs1 back", "rs1", "rs2")
}

// drainTandem: `tandem-backend maintenance on` on rs1.
func (l *lab) drainTandem(run int) {
	t := l.t
	stop := l.startLoad()
	l.beforeEvent()
	event := time.Now()
	cli := make(chan string, 1)
	go func() {
		out, err := l.backendCLI("rs1", "maintenance", "on", "--reason", "ops benchmark")
		if err != nil {
			out += "\nERROR: " + err.Error()
		}
		cli <- out
	}()
	out, ok := l.waitOut("rs1")
	if o := <-cli; strings.Contains(o, "ERROR") {
		t.Errorf("maintenance on: %s", o)
	}
	if !ok {
		stop()
		t.Fatalf("tandem drain run %d: rs1 not at weight 0 %v after maintenance on", run, outBound)
	}
	testutil.Settle(afterOut) // load after rs1 is out
	rep := stop()
	what := fmt.Sprintf("tandem drain run %d", run)
	l.checkLoad(what, rep, event, out, false)
	sent := rep.Sent - rep.Aborted
	emit(t, Sample{Scenario: ScDrain, Variant: VarTandem, Run: run, Seconds: out.Sub(event).Seconds(), Sent: sent, Failed: rep.Failed})
	if sw := prodlab.LogTime(l.agents["rs1"].Output(), event.Add(-time.Second), `msg="maintenance switched"`); sw.IsZero() {
		t.Errorf("%s: no \"maintenance switched\" in rs1's agent log", what)
	} else {
		emit(t, Sample{Scenario: ScDrain, Variant: VarTandemAgent, Run: run, Seconds: out.Sub(sw).Seconds(), Sent: sent, Failed: rep.Failed})
	}
	if o, err := l.backendCLI("rs1", "maintenance", "off"); err != nil {
		t.Fatalf("maintenance off: %v\n%s", err, o)
	}
	l.waitIn(what+": rs1 back", "rs1", "rs2")
}

// unhealthy: the app on rs1 killed, then started again.
func (l *lab) unhealthy(variant string, run int) {
	t := l.t
	stop := l.startLoad()
	l.beforeEvent()
	event := time.Now()
	l.apps["rs1"].Stop()
	out, ok := l.waitOut("rs1")
	if !ok {
		stop()
		t.Fatalf("%s unhealthy run %d: rs1 still in IPVS %v after its app died", variant, run, outBound)
	}
	testutil.Settle(afterOut) // load after rs1 is out
	rep := stop()
	what := fmt.Sprintf("%s unhealthy run %d", variant, run)
	l.checkLoad(what, rep, event, out, true)
	emit(t, Sample{Scenario: ScUnhealthy, Variant: variant, Run: run, Seconds: out.Sub(event).Seconds(), Sent: rep.Sent - rep.Aborted, Failed: rep.Failed})
	if err := l.apps["rs1"].Start(); err != nil {
		t.Fatal(err)
	}
	l.waitIn(what+": rs1 back", "rs1", "rs2")
}

// resources measures tandem-director and rs1's tandem-backend idle and
// under the heartbeats of simAgents simulated agents, then adds the second
// service (their real servers) and measures the director idle with it and
// under the same load.
func (l *lab) resources(runs int, window time.Duration) {
	t := l.t
	ctx := context.Background()
	dpid, bpid := l.daemon.Pid(), l.agents["rs1"].Pid()
	addrs := simAddrs(simAgents)
	if len(addrs) != simAgents {
		t.Fatalf("%d simulated addresses, want %d", len(addrs), simAgents)
	}
	key, err := hbproto.LoadKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for r := 1; r <= runs; r++ {
		u, err := Measure(ctx, "/proc", window, dpid, bpid)
		if err != nil {
			t.Fatal(err)
		}
		emit(t, Sample{Case: CaseIdle, Proc: ProcDirector, Run: r, Procs: u[0].Procs, RSSKiB: u[0].RSSKiB, CPUPct: u[0].CPUPct})
		emit(t, Sample{Case: CaseIdle, Proc: ProcBackend, Run: r, Procs: u[1].Procs, RSSKiB: u[1].RSSKiB, CPUPct: u[1].CPUPct})
		l.hbWindow(CaseHBUnknown, r, window, key, addrs)
	}

	l.writeConf(simService(addrs))
	if out, err := l.directorCLI("reload"); err != nil {
		t.Fatalf("reload with %d more real servers: %v\n%s", simAgents, err, out)
	}
	if !testutil.WaitFor(backBound, func() bool { return l.simDests() == simAgents }) {
		t.Fatalf("the second service has %d of %d real servers after %v", l.simDests(), simAgents, backBound)
	}
	testutil.Settle(2 * time.Second) // the reload's aftermath
	for r := 1; r <= runs; r++ {
		u, err := Measure(ctx, "/proc", window, dpid)
		if err != nil {
			t.Fatal(err)
		}
		emit(t, Sample{Case: CaseIdleBig, Proc: ProcDirector, Run: r, Procs: u[0].Procs, RSSKiB: u[0].RSSKiB, CPUPct: u[0].CPUPct})
		l.hbWindow(CaseHBLoad, r, window, key, addrs)
	}
}

// hbWindow runs the simulated agents for window + 2 s and measures the
// director and rs1's agent over window, from 1 s in. A run without one
// reply, with a bad reply or with fewer replies than hbMinReplies[c] of
// the reports sent fails the benchmark.
func (l *lab) hbWindow(c string, r int, window time.Duration, key []byte, addrs []netip.Addr) {
	t := l.t
	ctx := context.Background()
	dpid, bpid := l.daemon.Pid(), l.agents["rs1"].Pid()
	st0, err := l.status()
	if err != nil {
		t.Fatal(err)
	}
	qf0, err := l.queueFull()
	if err != nil {
		t.Fatal(err)
	}
	load := &HBLoad{Key: key, Director: netip.MustParseAddrPort(directorIP + ":7480"), Addrs: addrs,
		Listen: func(a netip.AddrPort) (net.PacketConn, error) {
			var c net.PacketConn
			err := l.net.Do("sim", func() error {
				var err error
				c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
				return err
			})
			return c, err
		},
		Duration: window + 2*time.Second, Grace: time.Second}
	type result struct {
		res HBResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := load.Run(ctx)
		done <- result{res, err}
	}()
	testutil.Settle(time.Second) // every agent has reported once
	u, err := Measure(ctx, "/proc", window, dpid, bpid)
	res := <-done
	if err != nil {
		t.Fatal(err)
	}
	if res.err != nil {
		t.Fatal(res.err)
	}
	st1, err := l.status()
	if err != nil {
		t.Fatal(err)
	}
	qf1, err := l.queueFull()
	if err != nil {
		t.Fatal(err)
	}
	dropped := 0
	for k, v := range st1.Heartbeat.Dropped {
		dropped += int(v - st0.Heartbeat.Dropped[k])
	}
	hb := &HBCounts{Agents: len(addrs), Sent: res.res.Sent, Replies: res.res.Replies, SendErrors: res.res.SendErrors,
		Accepted: int(st1.Heartbeat.Accepted - st0.Heartbeat.Accepted), Dropped: dropped, QueueFull: qf1 - qf0}
	answered := 0.0
	if hb.Sent > 0 {
		answered = float64(hb.Replies) / float64(hb.Sent)
	}
	t.Logf("%s run %d: %d of %d reports answered (%.1f %%); %+v (bad replies %d)", c, r, hb.Replies, hb.Sent, 100*answered, *hb, res.res.BadReplies)
	if res.res.BadReplies != 0 {
		t.Errorf("%s run %d: %d bad replies", c, r, res.res.BadReplies)
	}
	if minimum := hbMinReplies[c]; hb.Replies == 0 || answered < minimum {
		t.Errorf("%s run %d: %d of %d reports answered (%.1f %%), want at least one and %.0f %%", c, r, hb.Replies, hb.Sent, 100*answered, 100*minimum)
	}
	emit(t, Sample{Case: c, Proc: ProcDirector, Run: r, Procs: u[0].Procs, RSSKiB: u[0].RSSKiB, CPUPct: u[0].CPUPct, HB: hb})
	emit(t, Sample{Case: c, Proc: ProcBackend, Run: r, Procs: u[1].Procs, RSSKiB: u[1].RSSKiB, CPUPct: u[1].CPUPct})
}
