package scenarios

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/e2e/promlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The BGP scale-out scenarios (issue 18, docs/scale-out.md) run
// e2e/prodlab's BGPLab: FRR (zebra and bgpd) as the ECMP router between
// the client and three tandem-directors in BGP mode (mh with mh-fallback
// and mh-port, sloppy_tcp), two real servers with tandem-backend
// reporting to all three.

// bgpIdle are the long-lived connections of the BGP scenarios: a request
// every 200 ms each for the whole run; a broken one would be redialled.
var bgpIdle = loadgen.IdleConfig{Conns: 12, Every: 200 * time.Millisecond}

// bgpLab is the world of the BGP scenarios.
type bgpLab struct {
	t *testing.T
	*prodlab.BGPLab
}

// newBGPLab builds and starts the lab: three next hops at the router.
func newBGPLab(t *testing.T) *bgpLab {
	t.Helper()
	testutil.InVM(t)
	bin := testutil.Bin(t, "tandem-director")
	testutil.Bin(t, "tandem-backend")
	testutil.Bin(t, "tandem-bgp-speaker")
	frr := testutil.FetchedTool(t, promlab.Root, "frr.sh")
	l, err := prodlab.NewBGPLab(t, prodlab.BGPOptions{Bin: strings.TrimSuffix(bin, "/tandem-director"), Dir: t.TempDir(), FRR: frr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", l.Logs(60))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if err := l.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED lab start (router, agents, three directors) -> three next hops at the router: %s", haMs(time.Since(start)))
	return &bgpLab{t: t, BGPLab: l}
}

// load starts a bounded load from the client to the VIP.
func (l *bgpLab) load(cfg loadgen.Config) func() *loadgen.Report {
	l.t.Helper()
	cfg.Target.Addr = prodlab.BGPVIP + ":80"
	cfg.Target.Dial = l.Net.DialContext("client")
	cfg.Target.Expected = []string{"rs1", "rs2"}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = int(cfg.Rate*cfg.Duration.Seconds()) + 100
		if cfg.Idle.Conns > 0 {
			cfg.MaxRequests += cfg.Idle.Conns * (int(cfg.Duration/cfg.Idle.Every) + 1)
		}
	}
	if cfg.Target.Timeout == 0 {
		// Three directors, their speakers, FRR and two real servers
		// share the emulated guest: 3 s, not loadgen's 2 s.
		cfg.Target.Timeout = 3 * time.Second
	}
	cfg.Interval = 2 * time.Second
	cfg.OnSnapshot = func(s loadgen.Snapshot) { l.t.Logf("load %s", s) }
	g, err := loadgen.New(cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	return runLoad(l.t, g)
}

// connections reads each running director's connection counter.
func (l *bgpLab) connections(dirs []string) map[string]uint32 {
	out := map[string]uint32{}
	for _, d := range dirs {
		n, err := l.Connections(d)
		if err != nil {
			l.t.Fatalf("connection counter of %s: %v", d, err)
		}
		out[d] = n
	}
	return out
}

// checkIdle fails the test when a long-lived connection broke (more dials
// than connections) or one of its requests failed.
func checkIdle(t *testing.T, what string, rep *loadgen.Report) {
	t.Helper()
	idle := rep.ByKind[loadgen.IdleConn]
	t.Logf("MEASURED %s: long-lived connections: %d requests, %d failed, %d dials for %d connections", what, idle.Sent, idle.Failed, idle.Dials, bgpIdle.Conns)
	if idle.Dials != bgpIdle.Conns || idle.Failed != 0 {
		t.Errorf("%s: %d established connections broken (%d dials for %d), %d of their requests failed", what, idle.Dials-bgpIdle.Conns, idle.Dials, bgpIdle.Conns, idle.Failed)
	}
}

// TestGuestScenarioBGP1ScaleOut: three directors announce the VIP and the
// router installs three next hops; every director shows the same IPVS
// fingerprint, mh with mh-fallback and mh-port, sloppy_tcp on; under new
// connections plus 12 long-lived ones:
//
//   - spread: each director schedules at least 20 % of the new flows;
//   - drain: `maintenance on --wait` on rs1: weight 0 on all three at
//     once, --wait returns only when every director reports rs1 at
//     weight 0 and without active connections, 0 failed;
//   - clean stop of dir3 (SIGTERM): its route leaves the router after
//     the graceful shutdown wait, 0 failed requests, 0 established
//     connections broken (those of dir3 move to the others: same real
//     server by mh, picked up mid-flow by sloppy_tcp);
//   - dir3 joins again with rs2 at weight 2 (another fingerprint): its
//     session comes up but the router keeps two next hops; its weight
//     put back and reloaded, the fingerprints agree and its next hop
//     comes back; 0 failed, 0 broken.
func TestGuestScenarioBGP1ScaleOut(t *testing.T) {
	l := newBGPLab(t)
	var fps []string
	for _, d := range prodlab.BGPDirectors {
		st, err := l.Status(d)
		if err != nil {
			t.Fatalf("status of %s: %v", d, err)
		}
		if len(st.Services) != 1 || st.Services[0].Scheduler != "mh" || !slices.Equal(st.Services[0].SchedulerFlags, []string{"mh-fallback", "mh-port"}) {
			t.Errorf("%s's service: %+v; want mh with mh-fallback and mh-port", d, st.Services)
		}
		if st.BGP == nil || len(st.BGP.VIPs) != 1 || st.BGP.VIPs[0].State != "announced" || len(st.BGP.Peers) != 1 || !st.BGP.Peers[0].Established {
			t.Errorf("%s's bgp status: %+v; want the VIP announced, the router established", d, st.BGP)
		}
		if len(st.Services) == 1 {
			fps = append(fps, st.Services[0].Fingerprint)
		}
		if v, err := l.Net.Exec(d, "cat", "/proc/sys/net/ipv4/vs/sloppy_tcp"); err != nil || strings.TrimSpace(v) != "1" {
			t.Errorf("%s: net.ipv4.vs.sloppy_tcp = %q (%v), want 1", d, strings.TrimSpace(v), err)
		}
	}
	t.Logf("fingerprints: %v", fps)
	if len(slices.Compact(slices.Clone(fps))) != 1 {
		t.Errorf("the directors' fingerprints differ: %v", fps)
	}
	if o, err := l.Net.Exec("router", "ip", "route", "show", prodlab.BGPVIP); err == nil {
		t.Logf("router: ip route show %s:\n%s", prodlab.BGPVIP, o)
	}

	// Spread.
	before := l.connections(prodlab.BGPDirectors)
	rep := l.load(loadgen.Config{Rate: rate, Duration: 10 * time.Second})()
	after := l.connections(prodlab.BGPDirectors)
	total := 0
	for _, d := range prodlab.BGPDirectors {
		total += int(after[d] - before[d])
	}
	for _, d := range prodlab.BGPDirectors {
		n := int(after[d] - before[d])
		t.Logf("MEASURED spread: %s scheduled %d of %d new flows (%.0f %%)", d, n, total, 100*float64(n)/float64(max(total, 1)))
		if float64(n) < 0.2*float64(total) {
			t.Errorf("%s scheduled %d of %d flows: less than 20 %%", d, n, total)
		}
	}
	t.Logf("spread load: %s", fmtServers(rep))
	noFailures(t, "spread", rep, rep.Start, "start")
	if rep.PerServer["rs1"] == 0 || rep.PerServer["rs2"] == 0 {
		t.Errorf("a real server answered nothing: %v", rep.PerServer)
	}

	l.drain()
	l.stopAndJoin()
}

// drain: `maintenance on --wait` on rs1 under load across the three.
func (l *bgpLab) drain() {
	t := l.t
	rip := prodlab.RSIPs["rs1"]
	waitKA := l.load(loadgen.Config{Rate: 10, Duration: 9 * time.Second, KeepAliveRatio: 1, KeepAliveConns: 6})
	testutil.Settle(time.Second)
	waitNew := l.load(loadgen.Config{Rate: rate, Duration: 18 * time.Second})
	testutil.Settle(3 * time.Second)
	active := 0
	for _, d := range prodlab.BGPDirectors {
		active += l.Dests(d)[rip].ActiveConnections
	}
	t.Logf("rs1's active connections on the three directors before the maintenance: %d", active)
	start := time.Now()
	done := make(chan v6CLI, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		out, err := l.Backend(ctx, "rs1", "maintenance", "on", "--wait", "--timeout", "60s", "--reason", "bgp scenario")
		done <- v6CLI{out: out, err: err, end: time.Now()}
	}()
	for _, d := range prodlab.BGPDirectors {
		at := l.waitDests(d, "rs1 at weight 0", 5*time.Second, weightIs(rip, 0))
		t.Logf("MEASURED maintenance on (CLI start) -> rs1 at weight 0 on %s: %s", d, haMs(at.Sub(start)))
	}
	// Each director's last moment with an active connection of rs1.
	lastActive := map[string]time.Time{}
	var drained time.Time
	// Sampled every 100 ms: the guest's CPU is the real servers' too.
	testutil.WaitFor(60*time.Second, func() bool {
		defer time.Sleep(100 * time.Millisecond)
		for _, d := range prodlab.BGPDirectors {
			if x, ok := l.Dests(d)[rip]; ok && x.ActiveConnections > 0 {
				lastActive[d] = time.Now()
			}
		}
		select {
		case r := <-done:
			done <- r
			return true
		default:
			return false
		}
	})
	drained = checkWait(t, done, start, time.Second)
	for _, d := range prodlab.BGPDirectors {
		x, ok := l.Dests(d)[rip]
		last := "never seen active"
		if !lastActive[d].IsZero() {
			last = "last seen active " + haMs(lastActive[d].Sub(start)) + " after the CLI start"
		}
		t.Logf("MEASURED at --wait's return, %s: rs1 weight %d, %d active (%s)", d, x.Weight, x.ActiveConnections, last)
		if !ok || x.Weight != 0 || x.ActiveConnections != 0 {
			t.Errorf("--wait returned while %s had rs1 at weight %d with %d active connections (present %v)", d, x.Weight, x.ActiveConnections, ok)
		}
		if lastActive[d].After(drained) {
			t.Errorf("%s had an active connection of rs1 after --wait returned", d)
		}
	}
	testutil.Settle(time.Second)
	offAt := time.Now()
	if o, err := l.Backend(t.Context(), "rs1", "maintenance", "off"); err != nil {
		t.Fatalf("maintenance off: %v\n%s", err, o)
	}
	for _, d := range prodlab.BGPDirectors {
		at := l.waitDests(d, "rs1 back at weight 1", 15*time.Second, weightIs(rip, 1))
		t.Logf("MEASURED maintenance off -> rs1 at weight 1 on %s: %s", d, haMs(at.Sub(offAt)))
	}
	ka, nc := waitKA(), waitNew()
	t.Logf("drain: keep-alive %s; new connections %s", fmtServers(ka), fmtServers(nc))
	noFailures(t, "drain: keep-alive connections", ka, start, "maintenance on")
	noFailures(t, "drain: new connections", nc, start, "maintenance on")
	if n := nc.Window(drained.Add(500*time.Millisecond), offAt).PerServer["rs1"]; n != 0 {
		t.Errorf("rs1 answered %d new connections started after --wait returned", n)
	}
}

// waitDests waits for cond on director d's destinations.
func (l *bgpLab) waitDests(d, what string, limit time.Duration, cond func(map[string]ipvs.Destination) bool) time.Time {
	l.t.Helper()
	var at time.Time
	if !testutil.WaitFor(limit, func() bool {
		if m := l.Dests(d); m != nil && cond(m) {
			at = time.Now()
			return true
		}
		return false
	}) {
		o, _ := l.Net.Exec(d, "ipvsadm", "-Ln")
		l.t.Fatalf("%s on %s: not within %v; ipvsadm -Ln:\n%s", what, d, limit, o)
	}
	return at
}

// stopAndJoin: dir3 stopped cleanly under load, then started again with
// rs2 at weight 2 in its configuration: its table's fingerprint differs
// from dir1's and dir2's, so it must not announce the VIP (the router
// keeps two next hops while dir3's session is established); the weight
// put back and reloaded, its fingerprint matches and its next hop comes
// back. 0 failed requests, 0 established connections broken throughout.
func (l *bgpLab) stopAndJoin() {
	t := l.t
	cfg := loadgen.Config{Rate: rate, Duration: 40 * time.Second, Target: loadgen.Target{Timeout: 3 * time.Second}, Idle: bgpIdle}
	wait := l.load(cfg)
	testutil.Settle(4 * time.Second)
	stopAt := time.Now()
	stopped := make(chan error, 1)
	go func() { stopped <- l.StopDirector("dir3", syscall.SIGTERM, 20*time.Second, false) }()
	gone, err := l.WaitNextHops(20*time.Second, "dir1", "dir2")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED dir3 SIGTERM -> its next hop gone from the router: %s (graceful_shutdown_wait %s)", haMs(gone.Sub(stopAt)), prodlab.BGPGracefulWait)
	if err := <-stopped; err != nil {
		t.Errorf("dir3's clean stop: %v", err)
	}
	t.Logf("MEASURED dir3 SIGTERM -> process exited: %s", haMs(time.Since(stopAt)))
	if p := l.Process("dir3 (stopped)"); p != nil {
		for _, line := range strings.Split(p.Output(), "\n") {
			if strings.Contains(line, "bgp:") {
				t.Logf("dir3: %s", line)
			}
		}
	}
	testutil.Settle(3 * time.Second) // the load on two directors

	// dir3 joins with another table: no announcement.
	if err := l.WriteConfig("dir3", l.DirectorConfWeights("dir3", map[string]int{"rs2": 2})); err != nil {
		t.Fatal(err)
	}
	joinAt := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := l.StartDirector(ctx, "dir3"); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool {
		st, err := l.Status("dir3")
		return err == nil && st.BGP != nil && len(st.BGP.Peers) == 1 && st.BGP.Peers[0].Established
	}, "dir3's BGP session not established")
	established := time.Now()
	t.Logf("MEASURED dir3 (rs2 at weight 2) started -> session established: %s", haMs(established.Sub(joinAt)))
	testutil.Settle(5 * time.Second) // session up, tables differ: nothing may be announced
	if hops := l.NextHops(); len(hops) != 2 {
		t.Errorf("dir3 announced the VIP with a table unlike the others': next hops %v", hops)
	}
	if st, err := l.Status("dir3"); err != nil || st.BGP == nil || st.BGP.Agreement == nil {
		t.Errorf("dir3's agreement status: %+v (%v)", st.BGP, err)
	} else {
		for _, g := range st.BGP.Agreement.Gates {
			t.Logf("dir3's gate of %s: open %v: %s", g.VIP, g.Open, g.Reason)
			if g.Open {
				t.Errorf("dir3's gate of %s is open with rs2 at weight 2", g.VIP)
			}
		}
		for _, v := range st.BGP.VIPs {
			t.Logf("dir3's VIP %s: %s (%s)", v.VIP, v.State, v.Why)
		}
	}

	// The weight back: the same fingerprint, the next hop back.
	if err := l.WriteConfig("dir3", l.DirectorConf("dir3")); err != nil {
		t.Fatal(err)
	}
	reloadAt := time.Now()
	if o, err := l.Reload(ctx, "dir3"); err != nil {
		t.Fatalf("reload of dir3: %v\n%s", err, o)
	}
	back, err := l.WaitNextHops(30*time.Second, prodlab.BGPDirectors...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED dir3's table made equal (reload) -> its next hop at the router: %s", haMs(back.Sub(reloadAt)))
	rep := wait()
	t.Logf("stop and join: %s", fmtServers(rep))
	stop, join := rep.Window(rep.Start, joinAt), rep.Window(joinAt, rep.End)
	t.Logf("MEASURED clean stop of dir3: %d requests, %d failed; join of dir3: %d requests, %d failed", stop.Sent, stop.Failed, join.Sent, join.Failed)
	noFailures(t, "clean stop and join", rep, stopAt, "dir3 SIGTERM")
	checkIdle(t, "clean stop and join", rep)
}

// TestGuestScenarioBGP2DirectorDies: under new connections plus 12
// long-lived ones, dir3 dies as a machine does (its link down, then
// tandem-director and its speaker SIGKILLed): the router keeps its next
// hop until the hold time (BGPHoldTime, no BFD) runs out, the new flows
// hashed to dir3 are lost until then; afterwards new connections are
// answered again, and the established connections that went through dir3
// go on through the others (mh: the same real server; sloppy_tcp: picked
// up mid-flow) after TCP's retransmissions: 0 broken.
func TestGuestScenarioBGP2DirectorDies(t *testing.T) {
	l := newBGPLab(t)
	cfg := loadgen.Config{Rate: rate, Duration: 16 * time.Second, Target: loadgen.Target{Timeout: 10 * time.Second}, Idle: bgpIdle}
	wait := l.load(cfg)
	testutil.Settle(4 * time.Second)
	killAt := time.Now()
	if err := l.StopDirector("dir3", syscall.SIGKILL, 0, true); err != nil {
		t.Fatal(err)
	}
	gone, err := l.WaitNextHops(20*time.Second, "dir1", "dir2")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED dir3 killed -> its next hop gone from the router: %s (hold time %s)", haMs(gone.Sub(killAt)), prodlab.BGPHoldTime)
	rep := wait()
	if rep.Failed > 0 {
		t.Logf("MEASURED dir3 killed -> the last failed request started %s after the kill (the withdrawal at %s)", haMs(rep.LastFailure.Sub(killAt)), haMs(gone.Sub(killAt)))
	}
	during, afterGone := rep.Window(killAt, gone), rep.Window(gone.Add(500*time.Millisecond), rep.End)
	t.Logf("MEASURED dir3 killed: slowest request started in the detection window %s (TCP retransmits what the dead director lost)", haMs(during.Latency.Max))
	t.Logf("MEASURED load: %s; in the detection window (%s): %d requests, %d failed %v; from 500 ms after the withdrawal: %d requests, %d failed",
		fmtServers(rep), haMs(gone.Sub(killAt)), during.Sent, during.Failed, failedClasses(during.ByClass), afterGone.Sent, afterGone.Failed)
	haLogFailures(t, rep, killAt, "dir3 killed")
	checkIdle(t, "dir3 killed", rep)
	if afterGone.Failed != 0 {
		t.Errorf("%d requests started 500 ms after the withdrawal failed: %v", afterGone.Failed, failedClasses(afterGone.ByClass))
	}
	// FRR's hold timer runs in the emulated guest: 3 s of slack.
	if gone.Sub(killAt) > prodlab.BGPHoldTime+3*time.Second {
		t.Errorf("the router kept dir3's next hop %s after the kill: longer than the hold time %s + 3 s", haMs(gone.Sub(killAt)), prodlab.BGPHoldTime)
	}
}

// bgpGuestEnv gives the guest the module root when a BGP scenario runs:
// the router's zebra and bgpd are scripts/frr.sh's (fetched on the host
// first; the guest sees the host's files).
func bgpGuestEnv(t *testing.T, want []string, env map[string]string) map[string]string {
	t.Helper()
	if !slices.ContainsFunc(want, func(n string) bool { return strings.HasPrefix(n, "TestGuestScenarioBGP") }) {
		return env
	}
	root := testutil.ModuleRoot(t)
	if out, err := exec.Command(filepath.Join(root, "scripts", "frr.sh"), "--version").CombinedOutput(); err != nil {
		t.Fatalf("the BGP scenarios need FRR: scripts/frr.sh --version: %v\n%s", err, out)
	}
	if env == nil {
		env = map[string]string{}
	}
	env[promlab.EnvRoot] = root
	if d := os.Getenv("TANDEM_TOOLS_DIR"); d != "" {
		env["TANDEM_TOOLS_DIR"] = d
	}
	return env
}
