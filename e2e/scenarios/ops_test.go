package scenarios

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	backendapp "github.com/tandemlb/tandem/backend/app"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The operational scenarios (Ops1-Ops5): what an operator does to a running
// cluster, and what happens to a real server, under bounded load from the
// client with every failure classified.

const (
	opsArpTable = "tandem_backend" // backend config default nft_table (backend/arpguard's table)
	// opsConnectTimeout is the director's HTTP_GET connect_timeout (writeConf).
	opsConnectTimeout = 1 * time.Second
	// opsHBInterval is the agents' heartbeat interval (backendConf); the
	// director forgets an agent silent for 3 of them (dead_after).
	opsHBInterval = 1 * time.Second
	opsDeadAfter  = 3 * opsHBInterval
	// opsUpgradeEnv names the second tandem-backend build (another version
	// stamp) that TestVMScenarios builds on the host for Ops3; opsVersionEnv
	// is its version.
	opsUpgradeEnv = "TANDEM_UPGRADE_BACKEND"
	opsVersionEnv = "TANDEM_UPGRADE_VERSION"
)

// opsLogCount counts the lines of out stamped at or after since that contain
// every one of subs.
func opsLogCount(out string, since time.Time, subs ...string) int {
	n := 0
	for _, line := range strings.Split(out, "\n") {
		if !prodlab.LogTime(line, since, subs...).IsZero() {
			n++
		}
	}
	return n
}

// opsWaitDirectorLog polls the director's log until a line stamped at or after
// since contains every one of subs, and returns its time; it fails the test
// after limit.
func (l *lab) opsWaitDirectorLog(what string, limit time.Duration, since time.Time, subs ...string) time.Time {
	l.t.Helper()
	var at time.Time
	if !testutil.WaitFor(limit, func() bool { at = prodlab.LogTime(l.director.Output(), since, subs...); return !at.IsZero() }) {
		l.t.Fatalf("%s: not in the director's log within %v:\n%s", what, limit, prodlab.Tail(l.director.Output(), 30))
	}
	return at
}

// opsAgent returns rs's current agent process.
func (l *lab) opsAgent(rs string) *netlab.Process {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.agents[rs]
}

// opsKillAgent kills rs's agent with SIGKILL and waits for it.
func (l *lab) opsKillAgent(rs string) {
	l.t.Helper()
	p := l.opsAgent(rs)
	if err := p.Signal(syscall.SIGKILL); err != nil {
		l.t.Fatal(err)
	}
	_ = p.Wait()
}

// opsArpTableProblem reads the agent's arp table through c and says what is
// missing ("" when the table, both chains and one rule in each, for the
// lab's one VIP, are there).
func opsArpTableProblem(c *nftables.Conn) string {
	tb, err := c.ListTableOfFamily(opsArpTable, nftables.TableFamilyARP)
	if err != nil {
		return "table missing"
	}
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyARP)
	if err != nil {
		return "list chains: " + err.Error()
	}
	rules := map[string]int{"in": -1, "out": -1}
	for _, ch := range chains {
		if ch.Table == nil || ch.Table.Name != opsArpTable {
			continue
		}
		rs, err := c.GetRules(tb, ch)
		if err != nil {
			return "list rules: " + err.Error()
		}
		rules[ch.Name] = len(rs)
	}
	if rules["in"] != 1 || rules["out"] != 1 {
		return fmt.Sprintf("chain in: %d rules, chain out: %d rules (-1: chain missing)", rules["in"], rules["out"])
	}
	return ""
}

// opsNftIn opens an nftables connection in host's namespace.
func (l *lab) opsNftIn(host string) *nftables.Conn {
	l.t.Helper()
	ns, err := l.net.NsHandle(host)
	if err != nil {
		l.t.Fatal(err)
	}
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		l.t.Fatal(err)
	}
	return c
}

// opsRSWatch watches, until stopped, what an agent restart must not
// change, without loading the guest (a busy TCG guest makes the agents'
// 250 ms probes time out): `ip monitor address` and `nft monitor` in rs's
// namespace see every deletion of the VIP or change of the arp table,
// however brief; a poll every 200 ms checks both are there; and rs's IPVS
// entry at the director is polled every 50 ms (a handle of its own).
type opsRSWatch struct {
	rs              string
	ipmon, nftmon   *netlab.Process
	ipFrom, nftFrom int // output offsets after the monitors' readiness markers
	cancel          context.CancelFunc
	wg              sync.WaitGroup
	stopped         sync.Once

	mu                              sync.Mutex
	hostSamples, ipvsSamples        int
	vipMissing, tableBad, ipvsBad   int
	firstVIP, firstTable, firstIPVS string
}

// opsMonitor starts argv in host and waits until marker() (run after the
// start) shows up in its output as want; it returns the process and the
// output offset after the marker.
func (l *lab) opsMonitor(host string, argv []string, marker [][]string, want string) (*netlab.Process, int) {
	l.t.Helper()
	p, err := l.net.Start(host, argv...)
	if err != nil {
		l.t.Fatal(err)
	}
	shown := func() bool {
		for _, m := range marker {
			if out, err := l.net.Exec(host, m...); err != nil {
				l.t.Fatalf("%v: %v\n%s", m, err, out)
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err = p.WaitOutput(ctx, want)
		cancel()
		return err == nil
	}
	if !testutil.WaitFor(20*time.Second, shown) {
		l.t.Fatalf("%v on %s never showed %q: %v", argv, host, want, err)
	}
	out := p.Output()
	return p, strings.LastIndex(out, want) + len(want)
}

func (l *lab) opsWatchRS(rs string, weight int) *opsRSWatch {
	l.t.Helper()
	w := &opsRSWatch{rs: rs}
	w.ipmon, w.ipFrom = l.opsMonitor(rs, []string{"ip", "-o", "monitor", "address"},
		[][]string{{"ip", "addr", "add", "192.0.2.254/32", "dev", "lo"}, {"ip", "addr", "del", "192.0.2.254/32", "dev", "lo"}}, "192.0.2.254")
	w.nftmon, w.nftFrom = l.opsMonitor(rs, []string{"nft", "monitor"},
		[][]string{{"nft", "add", "table", "ip", "ops_marker"}, {"nft", "delete", "table", "ip", "ops_marker"}}, "delete table ip ops_marker")
	nh, err := l.net.Netlink(rs)
	if err != nil {
		l.t.Fatal(err)
	}
	lo, err := nh.LinkByName("lo")
	if err != nil {
		l.t.Fatal(err)
	}
	nft := l.opsNftIn(rs)
	ih, err := ipvs.New(l.net.NetnsPath("director"))
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	ip, want := rsIPs[rs], net.ParseIP(vip)
	w.wg.Go(func() {
		for ctx.Err() == nil {
			addrs, err := nh.AddrList(lo, netlink.FAMILY_V4)
			found := false
			for _, a := range addrs {
				found = found || a.IP.Equal(want)
			}
			p := opsArpTableProblem(nft)
			now := time.Now().Format("15:04:05.000")
			w.mu.Lock()
			w.hostSamples++
			if err != nil || !found {
				w.vipMissing++
				if w.firstVIP == "" {
					w.firstVIP = fmt.Sprintf("%s: VIP not on lo (%v)", now, err)
				}
			}
			if p != "" {
				w.tableBad++
				if w.firstTable == "" {
					w.firstTable = now + ": " + p
				}
			}
			w.mu.Unlock()
			testutil.Settle(200 * time.Millisecond) // the sampling period
		}
	})
	w.wg.Go(func() {
		defer ih.Close()
		for ctx.Err() == nil {
			ds, err := ih.GetDestinations(prodlab.Service())
			got := "absent"
			for _, d := range ds {
				if d.Address.String() == ip {
					got = fmt.Sprintf("weight %d", d.Weight)
				}
			}
			if err != nil {
				got = err.Error()
			}
			w.mu.Lock()
			w.ipvsSamples++
			if got != fmt.Sprintf("weight %d", weight) {
				w.ipvsBad++
				if w.firstIPVS == "" {
					w.firstIPVS = time.Now().Format("15:04:05.000") + ": " + got
				}
			}
			w.mu.Unlock()
			testutil.Settle(50 * time.Millisecond) // the sampling period
		}
	})
	l.t.Cleanup(w.stop)
	return w
}

// stop ends the watch (once; check and the test's cleanup both call it).
func (w *opsRSWatch) stop() {
	w.stopped.Do(func() {
		w.cancel()
		w.wg.Wait()
		_ = w.ipmon.Stop(2 * time.Second)
		_ = w.nftmon.Stop(2 * time.Second)
	})
}

// check stops the watch and fails t on any deletion seen by the monitors
// and any bad sample.
func (w *opsRSWatch) check(t *testing.T) {
	t.Helper()
	w.stop()
	var ipEvents, nftEvents []string
	for _, line := range strings.Split(w.ipmon.Output()[w.ipFrom:], "\n") {
		if strings.Contains(line, vip+"/32") {
			ipEvents = append(ipEvents, strings.TrimSpace(line))
		}
	}
	for _, line := range strings.Split(w.nftmon.Output()[w.nftFrom:], "\n") {
		if strings.Contains(line, opsArpTable) {
			nftEvents = append(nftEvents, strings.TrimSpace(line))
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("MEASURED %s watch: ip monitor saw %d changes of the VIP, nft monitor %d changes of the arp table; %d polls of both (VIP missing in %d, table incomplete in %d); %d polls of IPVS (%s not at its weight in %d)",
		w.rs, len(ipEvents), len(nftEvents), w.hostSamples, w.vipMissing, w.tableBad, w.ipvsSamples, w.rs, w.ipvsBad)
	if len(ipEvents) > 0 {
		t.Errorf("the VIP on %s's lo changed: %q", w.rs, ipEvents)
	}
	if len(nftEvents) > 0 {
		t.Errorf("%s's arp table changed: %q", w.rs, nftEvents)
	}
	if w.hostSamples < 20 || w.ipvsSamples < 100 {
		t.Errorf("%s watch took too few samples to mean anything", w.rs)
	}
	if w.vipMissing > 0 {
		t.Errorf("the VIP was missing from %s's lo in %d polls, first %s", w.rs, w.vipMissing, w.firstVIP)
	}
	if w.tableBad > 0 {
		t.Errorf("%s's arp table was incomplete in %d polls, first %s", w.rs, w.tableBad, w.firstTable)
	}
	if w.ipvsBad > 0 {
		t.Errorf("the director took %s out (or changed its weight) in %d polls, first %s", w.rs, w.ipvsBad, w.firstIPVS)
	}
}

// opsNoFailures fails t unless every request of rep succeeded.
func opsNoFailures(t *testing.T, what string, rep *loadgen.Report) {
	t.Helper()
	if rep == nil {
		t.Fatalf("%s: no report", what)
	}
	t.Logf("MEASURED %s: %d requests, %d OK, %d failed %v, per server %v, new %+v, keep-alive %+v",
		what, rep.Sent, rep.OK, rep.Failed, failedClasses(rep.ByClass), rep.PerServer, rep.ByKind[loadgen.NewConn], rep.ByKind[loadgen.KeepAliveConn])
	if rep.Failed != 0 {
		t.Errorf("%s: %d requests failed: %v %v", what, rep.Failed, failedClasses(rep.ByClass), rep.Errors)
	}
	if rep.OK == 0 {
		t.Errorf("%s: no request succeeded", what)
	}
}

// TestGuestScenarioOps1DrainCLI: `tandem-director drain RIP:PORT` under
// load: weight 0 at once, draining until the keep-alive connections rs1
// still serves are closed by their client, then drained (and, with
// keepalived.conf's default remove_when_drained, out of IPVS); `undrain`
// brings it back at its weight. Nothing fails. Keep-alive connections are
// one generator that ends during the drain (a drain waits for them, up to
// drain.timeout, 5 min by default); new connections run throughout. The
// keep-alive generator starts alone, 1 s before the other: lc then deals
// its 4 connections to rs1 and rs2 in turn, so rs1 holds some at the
// drain.
func TestGuestScenarioOps1DrainCLI(t *testing.T) {
	l := newLab(t, labOpts{})
	ip := rsIPs["rs1"]
	_, waitKA := l.load(10*time.Second, 10, 1, "rs1", "rs2")
	testutil.Settle(time.Second) // the keep-alive generator starts alone
	_, waitNew := l.load(22*time.Second, 30, 0, "rs1", "rs2")
	testutil.Settle(3 * time.Second) // load before the drain
	before := l.dests()[ip]
	t.Logf("rs1 before the drain: weight %d, %d active, %d inactive connections", before.Weight, before.ActiveConnections, before.InactiveConnections)
	if before.ActiveConnections == 0 {
		t.Fatalf("rs1 holds no active connection before the drain: the drain would have nothing to wait for")
	}

	start := time.Now()
	type cliOut struct {
		out string
		err error
		end time.Time
	}
	done := make(chan cliOut, 1)
	go func() {
		out, err := l.cli("drain", ip+":80", "--reason", "ops1")
		done <- cliOut{out, err, time.Now()}
	}()
	zero := l.waitIPVS("rs1 at weight 0 (or drained out)", 5*time.Second, func(d map[string]ipvs.Destination) bool {
		x, ok := d[ip]
		return !ok || x.Weight == 0
	})
	res := <-done
	if res.err != nil {
		t.Fatalf("drain: %v\n%s", res.err, res.out)
	}
	t.Logf("tandem-director drain: %s (CLI ran %v)", strings.TrimSpace(res.out), res.end.Sub(start).Round(time.Millisecond))
	got := l.opsWaitDirectorLog("operator drain", 2*time.Second, start.Add(-time.Second), `msg="operator drain"`, "rs="+ip+":80")
	draining := l.opsWaitDirectorLog("rs1 draining", 2*time.Second, start.Add(-time.Second), `msg="real server state changed"`, "rs="+ip+":80", "to=draining")
	t.Logf("MEASURED drain CLI start -> weight 0 in IPVS: %v (daemon got the request -> weight 0: %v; state draining logged %v after the CLI start)",
		zero.Sub(start).Round(time.Millisecond), zero.Sub(got).Round(time.Millisecond), draining.Sub(start).Round(time.Millisecond))
	if d := zero.Sub(got); d > 500*time.Millisecond {
		t.Errorf("weight 0 %v after the daemon got the drain, want at once (0.5 s)", d)
	}
	if d := l.dests(); d[ip].ActiveConnections == 0 {
		t.Errorf("rs1 had no active connection left at weight 0: the drain had nothing to wait for")
	}

	// The keep-alive generator ends; its connections close; then drained.
	ka := waitKA()
	kaEnd := ka.End
	drained := l.opsWaitDirectorLog("rs1 drained", 10*time.Second, start, `msg="real server state changed"`, "rs="+ip+":80", "to=drained")
	out := l.waitIPVS("rs1 removed once drained (remove_when_drained)", 5*time.Second, absent(ip))
	var lastKA time.Time
	for _, r := range ka.Results() {
		if r.Server == "rs1" && r.Start.After(zero) {
			lastKA = r.Start.Add(r.Latency)
		}
	}
	t.Logf("MEASURED drain CLI start -> drained: %v; keep-alive load ended -> drained: %v; drained -> out of IPVS: %v; last keep-alive answer of rs1 after weight 0: %s",
		drained.Sub(start).Round(time.Millisecond), drained.Sub(kaEnd).Round(time.Millisecond), out.Sub(drained).Round(time.Millisecond), lastKA.Format("15:04:05.000"))
	if lastKA.IsZero() {
		t.Errorf("no keep-alive request was answered by rs1 after weight 0: the drain had nothing to wait for")
	} else if drained.Before(lastKA) {
		t.Errorf("drained at %s, before rs1's last keep-alive answer at %s: the drain did not wait for its active connections",
			drained.Format("15:04:05.000"), lastKA.Format("15:04:05.000"))
	}
	if d := drained.Sub(kaEnd); d > 3*time.Second {
		t.Errorf("drained %v after the last keep-alive connection closed, want within 3 s (counters polled every 200 ms)", d)
	}
	st := l.status()
	var state string
	for _, rs := range st.Services[0].RealServers {
		if rs.Addr == ip+":80" {
			state = fmt.Sprintf("%s drain=%v reason=%q present=%v", rs.State, rs.Drain, rs.DrainReason, rs.Present)
			if rs.State != "drained" || !rs.Drain || rs.DrainReason != "ops1" {
				t.Errorf("status after the drain: %s", state)
			}
		}
	}
	t.Logf("status after the drain: rs1 %s", state)

	testutil.Settle(time.Second) // load with rs1 drained
	uStart := time.Now()
	uout, err := l.cli("undrain", ip+":80")
	if err != nil {
		t.Fatalf("undrain: %v\n%s", err, uout)
	}
	back := l.waitIPVS("rs1 back at weight 1", 5*time.Second, weightIs(ip, 1))
	t.Logf("tandem-director undrain: %s", strings.TrimSpace(uout))
	t.Logf("MEASURED undrain CLI start -> weight 1 in IPVS: %v", back.Sub(uStart).Round(time.Millisecond))

	rep := waitNew()
	opsNoFailures(t, "new connections", rep)
	opsNoFailures(t, "keep-alive connections", ka)
	if n := rep.Window(zero.Add(200*time.Millisecond), uStart).PerServer["rs1"]; n != 0 {
		t.Errorf("rs1 got %d new connections while drained", n)
	}
	if n := rep.Window(back.Add(time.Second), rep.End).PerServer["rs1"]; n == 0 {
		t.Errorf("rs1 got no new connection after the undrain")
	}
	// Before the drain rs1 serves: with lc, new connections may all go to
	// rs2 while rs1 holds the keep-alive ones, so both loads count.
	if n := rep.Window(rep.Start, start).PerServer["rs1"] + ka.Window(ka.Start, start).PerServer["rs1"]; n == 0 {
		t.Errorf("rs1 answered nothing before the drain")
	}
}

// opsRestartGap reports a restart of rs's agent: how long it was away and
// whether the director forgot it meanwhile ("agent silent").
func (l *lab) opsRestartGap(t *testing.T, what, rs string, from, ready time.Time) {
	t.Helper()
	away := ready.Sub(from)
	silent := prodlab.LogTime(l.director.Output(), from, `msg="agent silent"`, "rs="+rsIPs[rs])
	t.Logf("MEASURED %s: agent away %v (from the signal to the new agent's READY); the director forgot it: %v",
		what, away.Round(time.Millisecond), !silent.IsZero())
	// The last report before the signal is at most one interval old: a
	// restart shorter than dead_after minus one interval keeps the
	// agent's silence under dead_after, and the director must not even
	// forget it. A longer one may be forgotten: nothing to check.
	limit := opsDeadAfter - opsHBInterval - 300*time.Millisecond
	switch {
	case away >= limit:
		t.Logf("%s: no check that the director kept the agent: away %v, not under %v (dead_after %v minus one heartbeat interval and 300 ms)",
			what, away.Round(time.Millisecond), limit, opsDeadAfter)
	case !silent.IsZero():
		t.Errorf("%s: the director took the agent as silent though it was away only %v", what, away)
	}
}

// TestGuestScenarioOps2AgentRestart: tandem-backend on rs1 restarted under
// load: SIGTERM and start (systemctl restart), SIGKILL and start, and a
// stop that lasts longer than dead_after (3 heartbeat intervals). The VIP
// on lo and the arp table stay throughout, the director never takes rs1
// out: a short restart is not even noticed; a long one makes the director
// forget the agent ("agent silent", docs/director.md), after which its
// HTTP_GET alone decides, and the check file the agent left keeps rs1 in.
// Nothing fails.
func TestGuestScenarioOps2AgentRestart(t *testing.T) {
	l := newLab(t, labOpts{})
	ip := rsIPs["rs1"]
	_, wait := l.load(32*time.Second, rate, 0.3, "rs1", "rs2")
	w := l.opsWatchRS("rs1", 1)
	testutil.Settle(3 * time.Second) // load and samples before the first restart

	// 1. SIGTERM, then start at once (systemctl restart).
	from := time.Now()
	l.stopAgent("rs1")
	exited := time.Now()
	l.startAgent("rs1")
	l.opsRestartGap(t, fmt.Sprintf("SIGTERM (exited in %v) and start", exited.Sub(from).Round(time.Millisecond)), "rs1", from, time.Now())
	testutil.Settle(3 * time.Second) // load and samples after the restart

	// 2. SIGKILL, then start at once.
	from = time.Now()
	l.opsKillAgent("rs1")
	l.startAgent("rs1")
	l.opsRestartGap(t, "SIGKILL and start", "rs1", from, time.Now())
	testutil.Settle(3 * time.Second) // load and samples after the restart

	// 3. SIGTERM and a start only after the director forgot the agent.
	from = time.Now()
	l.stopAgent("rs1")
	silent := l.opsWaitDirectorLog("rs1's agent silent", opsDeadAfter+3*time.Second, from, `msg="agent silent"`, "rs="+ip)
	t.Logf("MEASURED agent stopped -> director logs it silent: %v (dead_after %v, checked once a second)", silent.Sub(from).Round(time.Millisecond), opsDeadAfter)
	if d := silent.Sub(from); d < opsDeadAfter-opsHBInterval {
		t.Errorf("the director forgot the agent %v after it stopped, before dead_after could have passed", d)
	}
	testutil.Settle(1500 * time.Millisecond) // load with the agent forgotten: HTTP_GET alone keeps rs1
	st := l.status()
	for _, a := range st.Agents {
		if a.RealIP == ip && a.Fresh {
			t.Errorf("status: rs1's agent still fresh after %v of silence", time.Since(from))
		}
	}
	for _, rs := range st.Services[0].RealServers {
		if rs.Addr == ip+":80" && (rs.State != "up" || !rs.Present) {
			t.Errorf("status with rs1's agent silent: state %s present %v, want up (its HTTP_GET passes)", rs.State, rs.Present)
		}
	}
	restart := time.Now()
	l.startAgent("rs1")
	heard := l.opsWaitDirectorLog("rs1's agent heard again", 5*time.Second, restart, `msg="agent state"`, "rs="+ip)
	t.Logf("MEASURED agent away %v (director forgot it, HTTP_GET kept rs1 in); started -> heard again %v",
		restart.Sub(from).Round(time.Millisecond), heard.Sub(restart).Round(time.Millisecond))
	testutil.Settle(2 * time.Second) // load and samples after the agent is back

	rep := wait()
	w.check(t)
	opsNoFailures(t, "load across three agent restarts", rep)
	if n := rep.Window(rep.Start, rep.End).PerServer["rs1"]; n < rep.OK/4 {
		t.Errorf("rs1 answered only %d of %d", n, rep.OK)
	}
}

// opsAgentStatus returns the director's entry for the agent of real
// server ip.
func opsAgentStatus(st control.Status, ip string) (control.AgentStatus, bool) {
	for _, a := range st.Agents {
		if a.RealIP == ip {
			return a, true
		}
	}
	return control.AgentStatus{}, false
}

// opsWaitAgentSeen polls the director's status until the agent of ip is
// fresh with a report received after since, and returns that report's
// time; it fails the test after limit.
func (l *lab) opsWaitAgentSeen(ip string, since time.Time, limit time.Duration) time.Time {
	l.t.Helper()
	var a control.AgentStatus
	var ok bool
	if !testutil.WaitFor(limit, func() bool {
		a, ok = opsAgentStatus(l.status(), ip)
		return ok && a.Fresh && a.LastSeen.After(since)
	}) {
		l.t.Fatalf("no fresh report from %s's agent after %s within %v; its entry: %+v (found %v)", ip, since.Format("15:04:05.000"), limit, a, ok)
	}
	return a.LastSeen
}

// opsCopyFile copies src to dst (created with mode, parent directories too).
func opsCopyFile(t *testing.T, src, dst string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// opsBinVersion returns what `BIN --version` prints.
func opsBinVersion(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	return strings.TrimSpace(string(out))
}

// TestGuestScenarioOps3AgentUpgrade: an upgrade of tandem-backend on rs1
// under load, in the order the .deb does it (packaging/scripts): the old
// prerm does nothing on upgrade; dpkg unpacks the new binary over the old
// one (a new file renamed into place, the running agent keeps the old
// inode); the new postinst checks the configuration with the new binary
// and restarts the unit (SIGTERM, wait, start). Nothing fails, the VIP and
// the arp table never go, the director keeps rs1, and the agent runs the
// new version. (packaging/vmtest's TestGuestBackendPackage upgrades the real
// package under systemd, without load and director.)
func TestGuestScenarioOps3AgentUpgrade(t *testing.T) {
	testutil.InVM(t)
	newBin, newVer := os.Getenv(opsUpgradeEnv), os.Getenv(opsVersionEnv)
	if newBin == "" || newVer == "" {
		t.Fatalf("%s and %s are not set: TestVMScenarios builds the second version on the host; run this scenario through it", opsUpgradeEnv, opsVersionEnv)
	}
	l := newLab(t, labOpts{})
	ip := rsIPs["rs1"]
	oldVer := opsBinVersion(t, l.bbin)
	if strings.Contains(oldVer, newVer) {
		t.Fatalf("the upgrade has the installed version: %q", oldVer)
	}
	// Install the current build as rs1's /usr/sbin/tandem-backend (a
	// copy in the lab's directory) and run rs1's agent from there.
	installed := filepath.Join(l.dir, "rs1-root", "usr", "sbin", "tandem-backend")
	opsCopyFile(t, l.bbin, installed, 0o755)
	l.bbin = installed
	l.stopAgent("rs1")
	l.startAgent("rs1")
	cfg := filepath.Join(l.dir, "rs1", "backend.yaml")

	_, wait := l.load(24*time.Second, rate, 0.3, "rs1", "rs2")
	w := l.opsWatchRS("rs1", 1)
	testutil.Settle(4 * time.Second) // load and samples before the upgrade

	start := time.Now()
	// prerm upgrade NEW: nothing. dpkg unpack: new file, renamed over the old.
	opsCopyFile(t, newBin, installed+".dpkg-new", 0o755)
	if err := os.Rename(installed+".dpkg-new", installed); err != nil {
		t.Fatal(err)
	}
	unpacked := time.Now()
	// postinst configure OLD: check-config with the new binary, then
	// systemctl restart.
	if out, err := exec.Command(installed, "check-config", cfg).CombinedOutput(); err != nil {
		t.Fatalf("new version's check-config: %v\n%s", err, out)
	}
	restart := time.Now()
	l.stopAgent("rs1")
	l.startAgent("rs1")
	ready := time.Now()
	t.Logf("MEASURED upgrade: unpack %v, check-config %v, restart (SIGTERM to READY) %v, total %v",
		unpacked.Sub(start).Round(time.Millisecond), restart.Sub(unpacked).Round(time.Millisecond),
		ready.Sub(restart).Round(time.Millisecond), ready.Sub(start).Round(time.Millisecond))
	l.opsRestartGap(t, "upgrade restart", "rs1", restart, ready)

	v := opsBinVersion(t, installed)
	t.Logf("installed binary: %q (was %q)", v, oldVer)
	if !strings.Contains(v, newVer) {
		t.Errorf("tandem-backend --version after the upgrade: %q, want %s", v, newVer)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := l.backend(ctx, "rs1", "status", "--json")
	if err != nil {
		t.Fatalf("tandem-backend status: %v\n%s", err, out)
	}
	var st backendapp.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	t.Logf("running agent: version %s, pid %d", st.Version, st.PID)
	if st.Version != newVer || st.PID != l.opsAgent("rs1").Pid() {
		t.Errorf("the running agent is version %s pid %d, want %s pid %d", st.Version, st.PID, newVer, l.opsAgent("rs1").Pid())
	}
	// Heard by the director after the upgrade: rs1's agent is fresh with a
	// report received after the new agent's READY (one heartbeat interval
	// away), and still fresh 2 s later.
	heard := l.opsWaitAgentSeen(ip, ready, 5*time.Second)
	t.Logf("MEASURED new agent READY -> a report of it at the director: %v", heard.Sub(ready).Round(time.Millisecond))
	testutil.Settle(2 * time.Second) // the upgraded agent must stay fresh
	if a, ok := opsAgentStatus(l.status(), ip); !ok || !a.Fresh {
		t.Errorf("the director does not hear the upgraded agent: %+v", a)
	}
	rep := wait()
	w.check(t)
	opsNoFailures(t, "load across the agent upgrade", rep)
	if n := rep.Window(ready.Add(time.Second), rep.End).PerServer["rs1"]; n == 0 {
		t.Errorf("rs1 answered nothing after the upgrade")
	}
}

// TestGuestScenarioOps4RealServerCrash: rs1 dies as a host does: its link
// goes down first (no FIN, no RST leaves it), then its app and agent are
// killed. Requests sent to it before the director takes it out fail; the
// director must take it out within HTTP_GET's bound (agent silence only
// makes the director forget the agent: the checks decide), and nothing
// started after that (plus 1 s) may fail.
func TestGuestScenarioOps4RealServerCrash(t *testing.T) {
	l := newLab(t, labOpts{})
	ip := rsIPs["rs1"]
	_, wait := l.load(24*time.Second, rate, 0.3, "rs1", "rs2")
	testutil.Settle(4 * time.Second) // load before the crash

	crash := time.Now()
	if out, err := l.net.Exec("rs1", "ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatalf("link down: %v\n%s", err, out)
	}
	l.opsKillAgent("rs1")
	l.apps["rs1"].Stop()
	killed := time.Now()
	out := l.waitIPVS("rs1 out", 15*time.Second, absent(ip))
	// HTTP_GET: the attempt after a success comes delay_loop later and times
	// out after connect_timeout; the retry delay_before_retry later too.
	// Plus 1 s of slack for the director's timers and the test's 10 ms
	// poll, which run late on a TCG guest.
	bound := delayLoop + 2*opsConnectTimeout + retryDelay + time.Second
	detect := out.Sub(crash)
	silent := l.opsWaitDirectorLog("rs1's agent silent", opsDeadAfter+3*time.Second, crash, `msg="agent silent"`, "rs="+ip)
	down := opsLogLine(l.director.Output(), crash, `msg="real server state changed"`, "rs="+ip+":80")
	t.Logf("MEASURED crash (link down, agent and app killed in %v) -> rs1 out of IPVS: %v (bound %v = delay_loop %v + 2 x connect_timeout %v + delay_before_retry %v + 1 s); agent silent at the director after %v; director: %s",
		killed.Sub(crash).Round(time.Millisecond), detect.Round(time.Millisecond), bound, delayLoop, opsConnectTimeout, retryDelay,
		silent.Sub(crash).Round(time.Millisecond), down)
	if detect > bound {
		t.Errorf("rs1 taken out %v after the crash, want within %v", detect, bound)
	}
	rep := wait()
	const margin = time.Second
	before := rep.Window(rep.Start, crash)
	during := rep.Window(crash, out.Add(margin))
	after := rep.Window(out.Add(margin), rep.End)
	t.Logf("MEASURED failures: before the crash %d; from the crash to out+%v: %d of %d %v (%d new, %d keep-alive); after: %d of %d",
		before.Failed, margin, during.Failed, during.Sent, failedClasses(during.ByClass),
		during.ByKind[loadgen.NewConn].Failed, during.ByKind[loadgen.KeepAliveConn].Failed, after.Failed, after.Sent)
	if o := rep.Outage(crash); o.Failures > 0 {
		t.Logf("MEASURED outage after the crash: %d failures, first %v, last %v after it",
			o.Failures, o.FirstFailure.Sub(crash).Round(time.Millisecond), o.LastFailure.Sub(crash).Round(time.Millisecond))
	}
	if before.Failed != 0 {
		t.Errorf("%d requests failed before the crash: %v", before.Failed, rep.Errors)
	}
	if after.Failed != 0 {
		t.Errorf("%d requests started more than %v after rs1 was out failed: %v", after.Failed, margin, failedClasses(after.ByClass))
	}
	if n := after.PerServer["rs1"]; n != 0 {
		t.Errorf("rs1 answered %d requests after it crashed", n)
	}
	if after.OK == 0 || after.PerServer["rs2"] != after.OK {
		t.Errorf("after the crash rs2 should answer everything: %v of %d", after.PerServer, after.OK)
	}
}

// opsLogLine returns the first line of a daemon's log stamped at or after
// since that contains every one of subs ("(none)" if there is none).
func opsLogLine(out string, since time.Time, subs ...string) string {
	for _, line := range strings.Split(out, "\n") {
		if !prodlab.LogTime(line, since, subs...).IsZero() {
			return line
		}
	}
	return "(none)"
}

// opsARPWatch watches, at the client, who speaks for the VIP: tcpdump of
// every ARP packet on the client's eth0 and the client's neighbour entry
// for the VIP, sampled every 20 ms.
type opsARPWatch struct {
	l       *lab
	macs    map[string]string // MAC -> host
	dirMAC  string
	tcpdump *netlab.Process
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	stopped sync.Once

	mu                     sync.Mutex
	neighSamples, neighBad int
	neighStates            map[string]int
	firstNeighBad          string
}

// opsMACs maps the lab's eth0 MACs to host names.
func (l *lab) opsMACs() map[string]string {
	l.t.Helper()
	macs := map[string]string{}
	for _, h := range []string{"director", "rs1", "rs2", "rs3", "sorry", "client"} {
		m, err := l.net.MAC(h, "eth0")
		if err != nil {
			l.t.Fatal(err)
		}
		macs[m.String()] = h
	}
	return macs
}

func opsHost(macs map[string]string, mac string) string {
	if h, ok := macs[mac]; ok {
		return h
	}
	if mac == "" {
		return "(none)"
	}
	return mac
}

func (l *lab) opsWatchARP() *opsARPWatch {
	l.t.Helper()
	w := &opsARPWatch{l: l, macs: l.opsMACs(), neighStates: map[string]int{}}
	for m, h := range w.macs {
		if h == "director" {
			w.dirMAC = m
		}
	}
	w.tcpdump = startTcpdump(l.t, l.net, "client", "arp")
	nh, err := l.net.Netlink("client")
	if err != nil {
		l.t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	w.cancel = scancel
	want := net.ParseIP(vip)
	w.wg.Go(func() {
		for sctx.Err() == nil {
			ns, err := nh.NeighList(0, unix.AF_INET)
			w.mu.Lock()
			w.neighSamples++
			for _, n := range ns {
				if !n.IP.Equal(want) {
					continue
				}
				mac := n.HardwareAddr.String()
				w.neighStates[opsHost(w.macs, mac)]++
				if mac != "" && mac != w.dirMAC && n.State&(netlink.NUD_INCOMPLETE|netlink.NUD_FAILED) == 0 {
					w.neighBad++
					if w.firstNeighBad == "" {
						w.firstNeighBad = fmt.Sprintf("%s: VIP -> %s (%s) state %#x", time.Now().Format("15:04:05.000"), mac, opsHost(w.macs, mac), n.State)
					}
				}
			}
			if err != nil {
				w.neighBad++
			}
			w.mu.Unlock()
			testutil.Settle(20 * time.Millisecond) // the sampling period
		}
	})
	l.t.Cleanup(w.stop)
	return w
}

// stop ends the watch (once; check and the test's cleanup both call it).
func (w *opsARPWatch) stop() {
	w.stopped.Do(func() {
		w.cancel()
		w.wg.Wait()
		stopTcpdump(w.tcpdump)
	})
}

var opsTcpdumpARP = regexp.MustCompile(`^\S+ ([0-9a-f:]{17}) > [0-9a-f:]{17}, .*?: (?:Request who-has (\S+)(?: \([^)]*\))? tell (\S+)|Reply (\S+) is-at ([0-9a-f:]{17}))`)

// check stops the watch and fails t if any ARP packet with the VIP as
// sender (a request's "tell VIP" or a reply "VIP is-at") came from another
// MAC than the director's, or the client's neighbour entry for the VIP
// pointed elsewhere.
func (w *opsARPWatch) check(t *testing.T) {
	t.Helper()
	w.stop()
	fromVIP := map[string]int{}
	var bad []string
	lines := 0
	for _, line := range strings.Split(w.tcpdump.Output(), "\n") {
		m := opsTcpdumpARP.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		lines++
		src, sender := m[1], m[3]
		if m[4] != "" {
			sender = m[4]
			if m[4] == vip && m[5] != w.dirMAC {
				bad = append(bad, line)
				continue
			}
		}
		if sender == vip {
			fromVIP[opsHost(w.macs, src)]++
			if src != w.dirMAC {
				bad = append(bad, line)
			}
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	t.Logf("MEASURED client ARP watch: %d ARP packets captured, with the VIP as sender by %v; %d samples of the client's neighbour entry for the VIP: %v",
		lines, fromVIP, w.neighSamples, w.neighStates)
	if len(bad) > 0 {
		t.Errorf("%d ARP packets spoke for the VIP from another MAC than the director's (%s), first: %s", len(bad), w.dirMAC, bad[0])
	}
	if w.neighBad > 0 {
		t.Errorf("the client's neighbour entry for the VIP was not the director's in %d samples, first %s", w.neighBad, w.firstNeighBad)
	}
	if w.neighSamples < 100 || w.neighStates["director"] == 0 {
		t.Errorf("the neighbour watch saw too little: %d samples, %v", w.neighSamples, w.neighStates)
	}
}

// opsBreakArpTable changes rs's arp table as someone else would (how: "flush
// table", "delete table" through nftables in rs's namespace, or the nft CLI
// "nft flush ruleset") and measures how long until the agent put it back
// completely, polling the kernel every 2 ms.
func (l *lab) opsBreakArpTable(t *testing.T, rs, how string) time.Duration {
	t.Helper()
	c := l.opsNftIn(rs)
	if p := opsArpTableProblem(c); p != "" {
		t.Fatalf("%s's arp table is not whole before the test: %s", rs, p)
	}
	tb := &nftables.Table{Name: opsArpTable, Family: nftables.TableFamilyARP}
	t0 := time.Now()
	switch how {
	case "flush table":
		c.FlushTable(tb)
		if err := c.Flush(); err != nil {
			t.Fatalf("%s on %s: %v", how, rs, err)
		}
	case "delete table":
		c.DelTable(tb)
		if err := c.Flush(); err != nil {
			t.Fatalf("%s on %s: %v", how, rs, err)
		}
	case "nft flush ruleset":
		if out, err := l.net.Exec(rs, "nft", "flush", "ruleset"); err != nil {
			t.Fatalf("%s on %s: %v\n%s", how, rs, err, out)
		}
	default:
		t.Fatalf("breakArpTable: %q", how)
	}
	t1 := time.Now()
	broken, polls, p := "", 0, ""
	whole := func() bool {
		p = opsArpTableProblem(c)
		polls++
		if p == "" {
			return true
		}
		if broken == "" {
			broken = p
		}
		return false
	}
	if !testutil.WaitFor(5*time.Second, whole) {
		t.Fatalf("%s's arp table not repaired 5 s after %s: %s", rs, how, p)
	}
	fixed := time.Now()
	seen := "already whole at the first poll"
	if broken != "" {
		seen = fmt.Sprintf("seen broken (%s), whole after %d polls", broken, polls)
	}
	t.Logf("MEASURED %s on %s: the change took %v; whole again %v after it began (%v after it returned); %s",
		how, rs, t1.Sub(t0).Round(time.Microsecond), fixed.Sub(t0).Round(time.Microsecond), fixed.Sub(t1).Round(time.Microsecond), seen)
	return fixed.Sub(t0)
}

// TestGuestScenarioOps5ArpFlush: someone flushes or deletes the agent's arp
// table on a real server under load (rs1, in the service, and rs3, which
// has the VIP on lo and its agent but is no real server of the service: an
// ARP hijack by it would show as WrongServer). The agent puts the table
// back within 1 s each time (docs/backend.md: 5-20 ms through nftables
// events, 500 ms periodic check as a fallback), nothing fails, nothing is
// answered by the wrong host, every ARP packet speaking for the VIP at the
// client comes from the director and the client's neighbour entry for the
// VIP stays the director's.
//
// After the load, the exposure while the table is missing is measured (not
// asserted): arping asks for the VIP every 10 ms from the client while
// rs1's table is flushed, and the replies from rs1 are counted. With
// arp_mode nftables alone (the lab's), nothing else stops a real server
// from answering for the VIP until the agent has put the table back.
func TestGuestScenarioOps5ArpFlush(t *testing.T) {
	l := newLab(t, labOpts{})
	aw := l.opsWatchARP()
	_, wait := l.load(22*time.Second, rate, 0.3, "rs1", "rs2")
	testutil.Settle(3 * time.Second) // load and samples before the first change
	breaks := []struct{ rs, how string }{
		{"rs1", "flush table"}, {"rs1", "delete table"}, {"rs1", "nft flush ruleset"},
		{"rs3", "flush table"}, {"rs3", "delete table"}, {"rs3", "nft flush ruleset"},
	}
	start := time.Now()
	var all []time.Duration
	for _, b := range breaks {
		r := l.opsBreakArpTable(t, b.rs, b.how)
		all = append(all, r)
		if r > time.Second {
			t.Errorf("%s on %s: repaired %v after the change, want within 1 s", b.how, b.rs, r)
		}
		testutil.Settle(2500 * time.Millisecond) // load and samples after the repair
	}
	slices.Sort(all)
	t.Logf("MEASURED arp table repairs (sorted): %v", all)
	for _, rs := range []string{"rs1", "rs3"} {
		n := opsLogCount(l.opsAgent(rs).Output(), start, "arp table was changed or removed by someone else")
		t.Logf("%s's agent logged %d repairs", rs, n)
		if n < 3 {
			t.Errorf("%s's agent logged %d repairs for 3 changes", rs, n)
		}
	}
	rep := wait()
	aw.check(t)
	opsNoFailures(t, "load across the arp table changes", rep)
	if n := rep.WrongServers; len(n) != 0 {
		t.Errorf("answers from the wrong host: %v", n)
	}

	// Exposure, measured only.
	macs := l.opsMACs()
	for i := range 3 {
		a, err := l.net.Start("client", "arping", "-i", "eth0", "-W", "0.01", "-c", "150", vip)
		if err != nil {
			t.Fatal(err)
		}
		testutil.Settle(500 * time.Millisecond) // arping asks a while before the flush
		r := l.opsBreakArpTable(t, "rs1", "flush table")
		_ = a.Wait()
		replies := map[string]int{}
		for _, line := range strings.Split(a.Output(), "\n") {
			if m := opsArpingReply.FindStringSubmatch(line); m != nil && m[2] == vip {
				replies[opsHost(macs, m[1])]++
			}
		}
		t.Logf("MEASURED exposure %d: arping every 10 ms during rs1's flush (repaired after %v): replies for the VIP by %v", i+1, r, replies)
		if replies["director"] == 0 {
			t.Errorf("arping got no answer from the director: %s", prodlab.Tail(a.Output(), 5))
		}
	}
}

var opsArpingReply = regexp.MustCompile(`bytes from ([0-9a-f:]{17}) \(([0-9.]+)\)`)

// opsGuestEnv builds, on the host, a second tandem-backend from this
// checkout stamped with another version (shared/version, as the Makefile
// stamps it) for TestGuestScenarioOps3AgentUpgrade, and returns the guest
// environment that names it: the guest sees the host's files, its
// temporary directory too.
func opsGuestEnv(t *testing.T) map[string]string {
	t.Helper()
	ver := "ops3-upgrade-" + time.Now().UTC().Format("20060102T150405")
	out := filepath.Join(t.TempDir(), "tandem-backend")
	cmd := exec.Command("go", "build", "-trimpath",
		"-ldflags", "-s -w -X github.com/tandemlb/tandem/shared/version.Version="+ver,
		"-o", out, "github.com/tandemlb/tandem/backend/cmd/tandem-backend")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the upgrade tandem-backend: %v\n%s", err, b)
	}
	return map[string]string{opsUpgradeEnv: out, opsVersionEnv: ver}
}
