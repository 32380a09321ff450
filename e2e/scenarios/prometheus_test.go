package scenarios

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/ipvs"
	"go.yaml.in/yaml/v3"

	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/e2e/promlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The lab's Prometheus: in the client's namespace, scraping every second.
const (
	promListen = prodlab.ClientIP + ":9090"
	// promFor replaces the shipped rules' `for` (30 s to 6 h): the
	// expressions are the shipped ones, only how long they must hold
	// changes, so that each alert fires within seconds.
	promFor = 3 * time.Second
	// promFire bounds a wait for an alert to fire or clear: a scrape, an
	// evaluation, promFor, an evaluation, with the guest's slowness.
	promFire = 45 * time.Second
	// promPlotEnv names the directory of the plot data (TestVMScenarios
	// writes there what the guest prints).
	promPlotEnv = "TANDEM_PLOT_DATA"
	// promPlotMarker starts a guest log line that carries one plot file.
	promPlotMarker = "tandem-plot-data"
	// promScenario is the scenario's name, for TestVMScenarios.
	promScenario = "TestGuestScenarioProm1Alerts"
)

// promPlotFiles are the plot data files, the only names the host writes.
var promPlotFiles = []string{"drain-connections.json", "failover-rps.json", "failover-state.json"}

// promLab is the HA lab with metrics reachable from the client and a real
// Prometheus there.
type promLab struct {
	*haLab
	prom *promlab.Server
	dirs map[string]string // scrape instance -> director
}

// TestGuestScenarioProm1Alerts: the real Prometheus (Debian's 2.42, in
// the client's namespace) scrapes both directors and both agents every
// second and evaluates the shipped rules
// (packaging/monitoring/tandem-alerts.yml) with every `for` shortened to
// promFor, the expressions unchanged:
//
//   - all healthy: every target up, no alert pending or firing;
//   - rs1 to maintenance under keep-alive and new-connection load: the
//     query_range of dir1's per-destination metrics shows rs1's weight
//     1 → 0 → 1 and its active connections from above 0 to 0 once the
//     keep-alive connections close; then rs2 to maintenance too: the
//     sorry server serves and TandemSorryServerInService fires; both back:
//     it is listed no more;
//   - under load, dir1's tracked eth1 down: FAULT, dir2 MASTER (the
//     query_range of tandem_director_vrrp_state shows dir1 2 → 3 and dir2
//     1 → 2); then dir2's eth1 down too: both FAULT, both still scraped,
//     no director MASTER: TandemNoVRRPMaster fires; both links up: a
//     master again and the alert is listed no more; at the end no alert
//     is pending or firing.
//
// With TANDEM_PLOT_DATA set the scenario prints the drain's and the
// failover's query_range answers (rs1's and rs2's active connections on
// dir1; each director's connections per second through the VIP and VRRP
// state) for TestVMScenarios to write into that directory.
func TestGuestScenarioProm1Alerts(t *testing.T) {
	l := newPromLab(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// All healthy: every target scraped, then a window of promFor and two
	// evaluations in which nothing may even be pending.
	scraped := time.Now()
	testutil.Eventually(t, 30*time.Second, promPoll(func() bool {
		return l.value(ctx, `count(up{job=~"tandem-director|tandem-backend"} == 1)`) == 4 &&
			l.value(ctx, `count(tandem_director_vrrp_state)`) == 2
	}), "Prometheus does not scrape both directors and both agents (up == 1)")
	t.Logf("MEASURED Prometheus ready -> all 4 targets scraped: %v", haMs(time.Since(scraped)))
	testutil.Settle(promFor + 2*time.Second) // healthy: nothing may become pending
	if a := l.alerts(ctx); len(a) != 0 {
		t.Fatalf("alerts with everything healthy: %v", promAlertList(a))
	}

	l.drainAndSorry(ctx)
	l.failoverAndNoMaster(ctx)

	// Everything back: every alert that reads the present clears. Those
	// that count events over a past window (increase, changes over 10 min
	// and more) would stay until it passes; none is expected here, and
	// any that fired is named.
	back := time.Now()
	var left, windowed []promlab.Alert
	present := func() bool {
		left, windowed = nil, nil
		for _, a := range l.alerts(ctx) {
			if slices.Contains(promWindowed, a.Name) {
				windowed = append(windowed, a)
			} else {
				left = append(left, a)
			}
		}
		return len(left) == 0
	}
	if !testutil.WaitFor(promFire, promPoll(present)) {
		t.Errorf("%v after the last recovery alerts are still active: %v", promFire, promAlertList(left))
	}
	t.Logf("MEASURED last recovery -> no alert on the present active: %v", haMs(time.Since(back)))
	if len(windowed) > 0 {
		t.Errorf("alerts on past events fired in the scenario (they stay until their window passes): %v", promAlertList(windowed))
	}
}

// promWindowed are the shipped alerts that count events over a window of
// 10 minutes or more (no `for`): once fired, they stay for that window.
var promWindowed = []string{"TandemVRRPFlapping", "TandemRealServerFlapping", "TandemHeartbeatAuthFailures", "TandemReloadFailed",
	"TandemIPVSErrors", "TandemAgentKeepsRepairing", "TandemAgentHeartbeatAuthFailures", "TandemBGPFlapping"}

// drainAndSorry: rs1 drained by its agent's maintenance under load, then
// rs2 too (sorry server in service), then both back.
func (l *promLab) drainAndSorry(ctx context.Context) {
	t := l.t
	rs1 := prodlab.RSIPs["rs1"]
	rs1Label := rs1 + ":80"
	begin := time.Now()
	// The keep-alive generator starts alone, 1 s before the other, so that
	// lc deals its 4 connections to rs1 and rs2 in turn: rs1 holds some
	// when it goes to maintenance. It ends during the drain, which then
	// completes.
	stopKA := l.startLoad(loadgen.Config{Rate: 10, Duration: 9 * time.Second, KeepAliveRatio: 1, KeepAliveConns: 4}, "rs1", "rs2")
	testutil.Settle(time.Second)
	stopNew := l.startLoad(loadgen.Config{Rate: 20, Duration: 2 * time.Minute}, "rs1", "rs2", "sorry")
	testutil.Settle(2 * time.Second) // load on both before the drain
	if d := l.Dests("dir1")[rs1]; d.ActiveConnections == 0 {
		t.Fatalf("rs1 holds no active connection before its maintenance: the drain would show nothing")
	}
	// The conns gauge is refreshed by the director's poll: wait until a
	// scrape has seen rs1's connections, so the range shows them.
	testutil.Eventually(t, 10*time.Second, promPoll(func() bool {
		return l.value(ctx, fmt.Sprintf(`tandem_director_destination_active_connections{instance=%q,rs=%q}`, l.instance("dir1"), rs1Label)) > 0
	}), "Prometheus never saw rs1's active connections")

	maint := time.Now()
	l.maintenance(ctx, "rs1", "on")
	if _, err := l.WaitIPVS("dir1", "rs1 at weight 0", 10*time.Second, weightIs(rs1, 0)); err != nil {
		t.Fatal(err)
	}
	ka := stopKA(true)
	t.Logf("keep-alive load: %d OK, %d failed %v", ka.OK, ka.Failed, failedClasses(ka.ByClass))
	if _, err := l.WaitIPVS("dir1", "rs1 without active connections", 15*time.Second, func(m map[string]ipvs.Destination) bool {
		d, ok := m[rs1]
		return ok && d.ActiveConnections == 0
	}); err != nil {
		t.Fatal(err)
	}
	// The pool state as scraped: 5, maintenance (a completed drain).
	testutil.Eventually(t, 15*time.Second, promPoll(func() bool {
		return l.value(ctx, fmt.Sprintf(`tandem_director_destination_state{instance=%q,rs=%q}`, l.instance("dir1"), rs1Label)) == 5 &&
			l.value(ctx, fmt.Sprintf(`tandem_director_destination_active_connections{instance=%q,rs=%q}`, l.instance("dir1"), rs1Label)) == 0
	}), "Prometheus never saw rs1 in maintenance with no active connection")
	t.Logf("MEASURED rs1 maintenance on -> drained as scraped: %v", haMs(time.Since(maint)))

	// rs2 too: no real server left, the sorry server serves.
	sorryOn := time.Now()
	l.maintenance(ctx, "rs2", "on")
	sorryIn, err := l.WaitIPVS("dir1", "the sorry server in", 15*time.Second, func(m map[string]ipvs.Destination) bool {
		_, ok := m[prodlab.SorryIP]
		return ok
	})
	if err != nil {
		t.Fatal(err)
	}
	fired := l.waitAlert(ctx, "TandemSorryServerInService", func(a []promlab.Alert) bool {
		return slices.ContainsFunc(a, func(x promlab.Alert) bool {
			return x.State == promlab.Firing && x.Labels["instance"] == l.instance("dir1") && x.Labels["service"] == "TCP "+prodlab.VIP+":80"
		})
	}, "fire on dir1")
	t.Logf("MEASURED both real servers in maintenance -> sorry server in IPVS %v, TandemSorryServerInService firing %v (for %v); firing: %v",
		haMs(sorryIn.Sub(sorryOn)), haMs(fired.Sub(sorryOn)), promFor, promlab.Names(l.alerts(ctx), promlab.Firing))

	backAt := time.Now()
	l.maintenance(ctx, "rs1", "off")
	l.maintenance(ctx, "rs2", "off")
	sorryOut, err := l.WaitIPVS("dir1", "both real servers back, the sorry server out", 20*time.Second, func(m map[string]ipvs.Destination) bool {
		_, s := m[prodlab.SorryIP]
		return !s && prodlab.Weight(m, rs1) == 1 && prodlab.Weight(m, prodlab.RSIPs["rs2"]) == 1
	})
	if err != nil {
		t.Fatal(err)
	}
	cleared := l.waitAlert(ctx, "TandemSorryServerInService", func(a []promlab.Alert) bool {
		return len(promlab.Find(a, "TandemSorryServerInService", "")) == 0
	}, "clear")
	t.Logf("MEASURED both back -> sorry server out of IPVS %v, TandemSorryServerInService inactive %v",
		haMs(sorryOut.Sub(backAt)), haMs(cleared.Sub(backAt)))
	testutil.Settle(2 * time.Second) // two scrapes of rs1 back at weight 1
	rep := stopNew(false)
	if n := rep.Window(sorryIn, backAt).PerServer["sorry"]; n == 0 {
		t.Errorf("the sorry server answered nothing while both real servers were in maintenance")
	}
	t.Logf("MEASURED new-connection load over the drain and the sorry server: %d OK (%v), %d failed %v",
		rep.OK, rep.PerServer, rep.Failed, failedClasses(rep.ByClass))

	// The drain as Prometheus recorded it: dir1's gauges for rs1.
	end := time.Now()
	sel := fmt.Sprintf(`{job="tandem-director",instance=%q}`, l.instance("dir1"))
	weights := l.queryRange(ctx, "tandem_director_destination_weight"+sel, begin, end)
	conns := l.queryRange(ctx, "tandem_director_destination_active_connections"+sel, begin, end)
	sorry := l.queryRange(ctx, "tandem_director_service_sorry_active"+sel, begin, end)
	l.plot("drain-connections.json", conns.Raw)
	w := promOne(t, weights, "rs", rs1Label)
	c := promOne(t, conns, "rs", rs1Label)
	t.Logf("rs1 on dir1, every second from %s: weight %v, active connections %v; sorry_active %v",
		begin.Format("15:04:05"), w.Values(), c.Values(), promValues(sorry))
	if got := promRuns(w.Values()); !slices.Equal(got, []float64{1, 0, 1}) {
		t.Errorf("rs1's weight over the drain: %v, want 1, then 0, then 1", w.Values())
	}
	before, after := promSplit(c, maint)
	if len(before) == 0 || slices.Max(before) == 0 || !slices.Contains(after, 0) {
		t.Errorf("rs1's active connections: %v before its maintenance, %v after; want some before, then down to 0", before, after)
	}
	if len(sorry.Series) != 1 || !slices.Equal(promRuns(sorry.Series[0].Values()), []float64{0, 1, 0}) {
		t.Errorf("sorry_active over the phase: %v, want 0, then 1, then 0", promValues(sorry))
	}
}

// failoverAndNoMaster: under load, dir1's tracked eth1 down (dir2 takes
// over), then dir2's too (no master), then both up.
func (l *promLab) failoverAndNoMaster(ctx context.Context) {
	t := l.t
	begin := time.Now()
	stop := l.startLoad(loadgen.Config{Rate: 20, Duration: 2 * time.Minute}, "rs1", "rs2")
	testutil.Settle(3 * time.Second) // load through dir1

	down1 := time.Now()
	if err := l.LinkSet("dir1", "eth1", false); err != nil {
		t.Fatal(err)
	}
	var holders []string
	if !testutil.WaitFor(15*time.Second, func() bool { holders = l.VIPHolders(); return slices.Equal(holders, []string{"dir2"}) }) {
		t.Fatalf("dir1's eth1 down: the VIP is on %v, want dir2 alone", holders)
	}
	took := time.Now()
	testutil.Eventually(t, 15*time.Second, promPoll(func() bool { return l.stateOf(ctx, "dir1") == 3 && l.stateOf(ctx, "dir2") == 2 }),
		"Prometheus does not see dir1 FAULT (3) and dir2 MASTER (2)")
	t.Logf("MEASURED dir1 eth1 down -> VIP on dir2 %v, scraped as dir1 FAULT and dir2 MASTER %v", haMs(took.Sub(down1)), haMs(time.Since(down1)))
	testutil.Settle(3 * time.Second) // load through dir2

	down2 := time.Now()
	if err := l.LinkSet("dir2", "eth1", false); err != nil {
		t.Fatal(err)
	}
	fired := l.waitAlert(ctx, "TandemNoVRRPMaster", func(a []promlab.Alert) bool {
		return slices.ContainsFunc(a, func(x promlab.Alert) bool {
			return x.Name == "TandemNoVRRPMaster" && x.State == promlab.Firing && x.Labels["vrrp_instance"] == "VI0"
		})
	}, "fire")
	if n := l.value(ctx, `count(up{job="tandem-director"} == 1)`); n != 2 {
		t.Errorf("TandemNoVRRPMaster fired with %v directors scraped, want both (in FAULT, not gone)", n)
	}
	if h := l.VIPHolders(); len(h) != 0 {
		t.Errorf("both directors FAULT but the VIP is on %v", h)
	}
	t.Logf("MEASURED dir2 eth1 down too (both FAULT) -> TandemNoVRRPMaster firing %v (for %v); firing: %v",
		haMs(fired.Sub(down2)), promFor, promlab.Names(l.alerts(ctx), promlab.Firing))

	up := time.Now()
	for _, d := range prodlab.Directors {
		if err := l.LinkSet(d, "eth1", true); err != nil {
			t.Fatal(err)
		}
	}
	master, err := l.WaitMaster(20 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	mastered := time.Now()
	cleared := l.waitAlert(ctx, "TandemNoVRRPMaster", func(a []promlab.Alert) bool {
		return len(promlab.Find(a, "TandemNoVRRPMaster", "")) == 0
	}, "clear")
	t.Logf("MEASURED both eth1 up -> %s MASTER %v, TandemNoVRRPMaster inactive %v", master, haMs(mastered.Sub(up)), haMs(cleared.Sub(up)))
	testutil.Settle(3 * time.Second) // load through the new master
	rep := stop(false)
	t.Logf("MEASURED load over the failover and the outage: %d OK (%v), %d failed %v",
		rep.OK, rep.PerServer, rep.Failed, failedClasses(rep.ByClass))
	// Requests started within 1 s of the takeover, or of dir2's eth1
	// down (their handshake may straddle it), are not held to this.
	if n := rep.Window(took.Add(time.Second), down2.Add(-time.Second)).Failed; n != 0 {
		t.Errorf("%d requests failed while dir2 was MASTER (from the takeover + 1 s to its eth1 down - 1 s)", n)
	}
	if n := rep.Window(down2.Add(time.Second), up).OK; n != 0 {
		t.Errorf("%d requests were answered while no director was MASTER", n)
	}

	end := time.Now()
	states := l.queryRange(ctx, `tandem_director_vrrp_state{job="tandem-director"}`, begin, end)
	l.plot("failover-state.json", states.Raw)
	// Connections per second through the VIP, by director: the rate of
	// IPVS's per-service counter (the load opens one connection per
	// request) over 3 scrapes. The load generator's own answers per second
	// are the cross-check, and the plot's data if the counter is missing.
	rps := l.queryRange(ctx, promRPS, begin, end)
	perSecond := promLoadPerSecond(rep.Results(), begin, end)
	if len(rps.Series) > 0 {
		l.plot("failover-rps.json", rps.Raw)
		by1 := promOne(t, rps, "director", "dir1")
		by2 := promOne(t, rps, "director", "dir2")
		t.Logf("%s every second from %s: dir1 %v, dir2 %v", promRPS, begin.Format("15:04:05"), promRound(by1.Values()), promRound(by2.Values()))
		if b, _ := promSplit(by1, down1); len(b) == 0 || slices.Max(b) == 0 {
			t.Errorf("dir1's connections per second before its eth1 down: %v, want traffic (it was MASTER under load)", b)
		}
		if _, a := promSplit(by2, took); len(a) == 0 || slices.Max(a) == 0 {
			t.Errorf("dir2's connections per second after the takeover: %v, want traffic", a)
		}
	} else {
		t.Logf("%s: no series (the director exports no per-service IPVS counter?); the plot gets the load generator's answers per second", promRPS)
		l.plot("failover-rps.json", perSecond)
	}
	if m, err := promlab.ParseMatrix(perSecond); err == nil {
		t.Logf("load generator, answers per second from %s: ok %v, failed %v", begin.Format("15:04:05"),
			promlab.Select(m, map[string]string{"result": "ok"})[0].Values(), promlab.Select(m, map[string]string{"result": "failed"})[0].Values())
	}
	d1 := promOne(t, states, "director", "dir1")
	d2 := promOne(t, states, "director", "dir2")
	t.Logf("vrrp_state every second from %s: dir1 %v, dir2 %v", begin.Format("15:04:05"), d1.Values(), d2.Values())
	if r := promRuns(d1.Values()); len(r) < 2 || r[0] != 2 || r[1] != 3 {
		t.Errorf("dir1's vrrp_state: %v, want MASTER (2) then FAULT (3)", d1.Values())
	}
	if r := promRuns(d2.Values()); len(r) < 3 || r[0] != 1 || r[1] != 2 || r[2] != 3 {
		t.Errorf("dir2's vrrp_state: %v, want BACKUP (1), MASTER (2), then FAULT (3)", d2.Values())
	}
	last := func(s promlab.Series) float64 { return s.Points[len(s.Points)-1].Value }
	if n := btoi(last(d1) == 2) + btoi(last(d2) == 2); n != 1 {
		t.Errorf("after the recovery %d directors are MASTER as scraped (dir1 %v, dir2 %v), want 1", n, last(d1), last(d2))
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// newPromLab builds the HA lab (eth1 tracked, as HA4), its daemons'
// metrics on their lab addresses, and starts Prometheus in the client.
func newPromLab(t *testing.T) *promLab {
	t.Helper()
	testutil.InVM(t)
	bin := filepath.Dir(testutil.Bin(t, "tandem-director"))
	testutil.Bin(t, "tandem-backend")
	prom := promlab.Binary(t)
	root, err := promlab.Root()
	if err != nil {
		t.Fatalf("%v (TestVMScenarios passes %s)", err, promlab.EnvRoot)
	}
	rules, err := os.ReadFile(filepath.Join(root, "packaging", "monitoring", "tandem-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	p, err := prodlab.NewPair(t, prodlab.PairOptions{Bin: bin, Dir: t.TempDir(), SyncLink: true, TrackInterfaces: []string{"eth1"}})
	if err != nil {
		t.Fatal(err)
	}
	l := &promLab{haLab: &haLab{t: t, Pair: p}, dirs: map[string]string{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", p.Logs(80))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The lab's daemons serve metrics on 127.0.0.1 of their namespaces;
	// Prometheus scrapes from the client's. The agents move theirs to the
	// real server's address by a reload (the listener moves without a
	// gap, shared/relisten); the directors get it in their config.
	if err := p.StartSorry(); err != nil {
		t.Fatal(err)
	}
	if err := p.StartRealServers(ctx); err != nil {
		t.Fatal(err)
	}
	for _, rs := range prodlab.RealServers {
		l.agentMetricsOnLAN(rs)
	}
	if err := p.WriteDirectorConfigs(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range prodlab.Directors {
		// remove_when_drained off: a drained real server stays in IPVS at
		// weight 0, so its gauges go to 0 instead of disappearing.
		extra := fmt.Sprintf("metrics: {listen: %q}\ndrain: {remove_when_drained: false}\n", l.instance(d))
		f, err := os.OpenFile(p.ConfigPath(d), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.WriteString(extra)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := p.StartDirectors(ctx); err != nil {
		t.Fatal(err)
	}
	if m, b := p.Roles(); m != "dir1" || b != "dir2" {
		t.Fatalf("after start: master %q, backup %q; want dir1, dir2", m, b)
	}

	// The shipped rules with a short `for`: the expressions unchanged.
	short, changed, err := promlab.WithFor(rules, promFor)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tandem-alerts.yml"), short, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("rules: packaging/monitoring/tandem-alerts.yml with the `for` of %d alerts set to %v (expressions unchanged): %s",
		len(changed), promFor, strings.Join(changed, ", "))
	// Each target is also labelled with its host's name (director, node):
	// the plots' legends.
	dirJob := promlab.Job{Name: "tandem-director", TargetLabels: map[string]map[string]string{}}
	for _, d := range prodlab.Directors {
		dirJob.Targets = append(dirJob.Targets, l.instance(d))
		dirJob.TargetLabels[l.instance(d)] = map[string]string{"director": d}
	}
	rsJob := promlab.Job{Name: "tandem-backend", TargetLabels: map[string]map[string]string{}}
	for _, rs := range prodlab.RealServers {
		target := prodlab.RSIPs[rs] + ":9481"
		rsJob.Targets = append(rsJob.Targets, target)
		rsJob.TargetLabels[target] = map[string]string{"node": rs}
	}
	start := time.Now()
	s, err := promlab.Start(ctx, promlab.Config{
		Binary: prom, Dir: dir, Listen: promListen,
		Jobs:      []promlab.Job{dirJob, rsJob},
		RuleFiles: []string{"tandem-alerts.yml"},
		Retention: time.Hour,
		// One thread: the guest's two vCPUs run the lab.
		Env: []string{"GOMAXPROCS=1"},
		Start: func(argv []string) (promlab.Process, error) {
			proc, err := p.Net.Start("client", argv...)
			if err != nil {
				return nil, err
			}
			return proc, nil
		},
		Client: p.Net.HTTPClient("client", 10*time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	l.prom = s
	t.Cleanup(func() {
		if err := s.Stop(); err != nil {
			t.Errorf("stop prometheus: %v", err)
		}
		if t.Failed() {
			t.Logf("prometheus output (tail):\n%s", prodlab.Tail(s.Output(), 40))
		}
	})
	t.Logf("MEASURED Prometheus started -> ready: %v (%s in the client's namespace)", haMs(time.Since(start)), promListen)
	return l
}

// agentMetricsOnLAN moves rs's agent's metrics listener from 127.0.0.1 to
// the real server's address (its config rewritten, SIGHUP) and waits
// until the client reaches it.
func (l *promLab) agentMetricsOnLAN(rs string) {
	t := l.t
	t.Helper()
	cfg := filepath.Join(l.Dir, rs, "backend.yaml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	const local = `metrics: {listen: "127.0.0.1:9481"}`
	if !bytes.Contains(b, []byte(local)) {
		t.Fatalf("%s: no %s line to move (prodlab.BackendConf changed?)", cfg, local)
	}
	addr := prodlab.RSIPs[rs] + ":9481"
	b = bytes.Replace(b, []byte(local), []byte(fmt.Sprintf("metrics: {listen: %q}", addr)), 1)
	if err := os.WriteFile(cfg, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := l.Process(rs).Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	c := l.Net.HTTPClient("client", 2*time.Second)
	testutil.Eventually(t, 15*time.Second, func() bool {
		resp, err := c.Get("http://" + addr + "/metrics")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, "the agent on %s does not serve metrics on %s after its reload", rs, addr)
}

// instance is director d's scrape target: its metrics listener.
func (l *promLab) instance(d string) string { return prodlab.DirIPs[d] + ":9480" }

// maintenance runs `tandem-backend maintenance on|off` on rs.
func (l *promLab) maintenance(ctx context.Context, rs, onOff string) {
	l.t.Helper()
	if out, err := l.Backend(ctx, rs, "maintenance", onOff); err != nil {
		l.t.Fatalf("maintenance %s on %s: %v\n%s", onOff, rs, err, out)
	}
}

// startLoad starts a load from the client to the VIP; stop ends it (at
// once, the requests in flight aborted, unless wait asks to let it run
// its Duration) and returns its report, logged.
func (l *promLab) startLoad(cfg loadgen.Config, expected ...string) (stop func(wait bool) *loadgen.Report) {
	l.t.Helper()
	cfg.Target = loadgen.Target{Addr: prodlab.VIP + ":80", Dial: l.Net.DialContext("client"), Expected: expected}
	cfg.MaxRequests = int(cfg.Rate*cfg.Duration.Seconds()) + 100
	cfg.Interval = 5 * time.Second
	cfg.OnSnapshot = func(s loadgen.Snapshot) { l.t.Logf("load %s", s) }
	g, err := loadgen.New(cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *loadgen.Report, 1)
	go func() {
		rep, err := g.Run(ctx)
		if err != nil && ctx.Err() == nil {
			l.t.Errorf("load: %v", err)
		}
		done <- rep
	}()
	var rep *loadgen.Report
	var got bool
	l.t.Cleanup(func() {
		cancel()
		if !got {
			<-done
		}
	})
	return func(wait bool) *loadgen.Report {
		if got {
			return rep
		}
		if !wait {
			cancel()
		}
		rep, got = <-done, true
		if rep == nil {
			l.t.Fatal("load: no report")
		}
		return rep
	}
}

// value is the single value of an instant query, NaN for none.
func (l *promLab) value(ctx context.Context, expr string) float64 {
	l.t.Helper()
	v, err := l.prom.Query(ctx, expr, time.Time{})
	if err != nil {
		l.t.Fatal(err)
	}
	if len(v) != 1 {
		return nan
	}
	return v[0].Value
}

var nan = math.NaN()

// promPoll lets WaitFor run cond, a question to Prometheus, at most every
// 250 ms: Prometheus scrapes and evaluates every second, and WaitFor
// would ask every few milliseconds (the guest's CPUs run the lab).
func promPoll(cond func() bool) func() bool {
	var last time.Time
	return func() bool {
		if time.Since(last) < 250*time.Millisecond {
			return false
		}
		last = time.Now()
		return cond()
	}
}

// stateOf is director d's tandem_director_vrrp_state for VI0 as last
// scraped, NaN when absent.
func (l *promLab) stateOf(ctx context.Context, d string) float64 {
	return l.value(ctx, fmt.Sprintf(`tandem_director_vrrp_state{instance=%q,vrrp_instance="VI0"}`, l.instance(d)))
}

func (l *promLab) alerts(ctx context.Context) []promlab.Alert {
	l.t.Helper()
	a, err := l.prom.Alerts(ctx)
	if err != nil {
		l.t.Fatal(err)
	}
	return a
}

// waitAlert waits, at most promFire, until the active alerts satisfy ok
// and returns when; what says what was awaited of alert name.
func (l *promLab) waitAlert(ctx context.Context, name string, ok func([]promlab.Alert) bool, what string) time.Time {
	l.t.Helper()
	var last []promlab.Alert
	if !testutil.WaitFor(promFire, promPoll(func() bool { last = l.alerts(ctx); return ok(last) })) {
		l.t.Fatalf("%s did not %s within %v; active alerts: %v", name, what, promFire, promAlertList(last))
	}
	return time.Now()
}

func (l *promLab) queryRange(ctx context.Context, expr string, start, end time.Time) promlab.Range {
	l.t.Helper()
	r, err := l.prom.QueryRange(ctx, expr, start, end, time.Second)
	if err != nil {
		l.t.Fatal(err)
	}
	return r
}

// plot prints one plot data file for TestVMScenarios when TANDEM_PLOT_DATA
// is set: the guest cannot write the host's directory (it sees the host's
// root read-only), so the file leaves in the test's output, as one line
// "tandem-plot-data NAME BASE64".
func (l *promLab) plot(name string, body []byte) {
	if os.Getenv(promPlotEnv) == "" {
		return
	}
	l.t.Logf("%s %s %s", promPlotMarker, name, base64.StdEncoding.EncodeToString(body))
}

// promOne returns the one series of r whose label k is v, failing t
// otherwise.
func promOne(t *testing.T, r promlab.Range, k, v string) promlab.Series {
	t.Helper()
	s := promlab.Select(r.Series, map[string]string{k: v})
	if len(s) != 1 {
		t.Fatalf("%d series with %s=%q in %.300s, want 1", len(s), k, v, r.Raw)
	}
	return s[0]
}

// promRuns folds repeated values: 1 1 0 0 1 is 1 0 1.
func promRuns(v []float64) []float64 {
	var out []float64
	for _, x := range v {
		if len(out) == 0 || out[len(out)-1] != x {
			out = append(out, x)
		}
	}
	return out
}

// promSplit returns s's values before t and from t on.
func promSplit(s promlab.Series, t time.Time) (before, after []float64) {
	for _, p := range s.Points {
		if p.Time.Before(t) {
			before = append(before, p.Value)
		} else {
			after = append(after, p.Value)
		}
	}
	return before, after
}

// promValues lists every series' values by their labels, for a log line.
func promValues(r promlab.Range) string {
	var parts []string
	for _, s := range r.Series {
		parts = append(parts, fmt.Sprintf("%v %v", s.Metric, s.Values()))
	}
	return strings.Join(parts, "; ")
}

// promAlertList is a one-line list of alerts: name{labels} state.
func promAlertList(a []promlab.Alert) string {
	var parts []string
	for _, x := range a {
		parts = append(parts, fmt.Sprintf("%s%v %s", x.Name, x.Labels, x.State))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// promRPS is the failover plot's connections per second through the VIP,
// by director.
const promRPS = `sum by (director) (rate(tandem_director_ipvs_service_connections_total{job="tandem-director"}[3s]))`

// promRound rounds rates to 0.1 for a log line.
func promRound(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = math.Round(x*10) / 10
	}
	return out
}

// promLoadPerSecond is the load's answers per second, from begin to end,
// as a query_range answer: what the client got through the VIP, counted
// by the load generator itself (the failover plot's data when the
// director exports no per-service counter). A request counts in the
// second in which its answer (or its failure) came; "ok" and "failed" are
// two series. The body has the shape of Prometheus's answer, plus a
// "note" saying where the data comes from.
func promLoadPerSecond(results []loadgen.Result, begin, end time.Time) []byte {
	first, last := begin.Unix(), end.Unix()
	ok := make([]int, last-first+1)
	failed := make([]int, last-first+1)
	for _, r := range results {
		i := r.Start.Add(r.Latency).Unix() - first
		if i < 0 || i >= int64(len(ok)) {
			continue
		}
		switch {
		case r.Class == loadgen.OK:
			ok[i]++
		case r.Class.Failed():
			failed[i]++
		}
	}
	series := func(result string, n []int) map[string]any {
		values := make([][2]any, len(n))
		for i, c := range n {
			values[i] = [2]any{first + int64(i), strconv.Itoa(c)}
		}
		return map[string]any{
			"metric": map[string]string{"__name__": "loadgen_answers_per_second", "result": result, "target": prodlab.VIP + ":80"},
			"values": values,
		}
	}
	body, _ := json.Marshal(map[string]any{
		"status": "success",
		"data":   map[string]any{"resultType": "matrix", "result": []any{series("ok", ok), series("failed", failed)}},
		"note": "not from Prometheus: the load generator's (e2e/loadgen) answers per second through the VIP, by the second of the answer " +
			"(or failure)",
	})
	return body
}

// promGuestEnv adds to env what the guest needs when the Prometheus
// scenario runs: the module root (the shipped rules, scripts/prometheus.sh)
// and TANDEM_PLOT_DATA. Prometheus is fetched on the host first: the
// guest cannot (read-only root, no network).
func promGuestEnv(t *testing.T, want []string, env map[string]string) map[string]string {
	t.Helper()
	if !slices.Contains(want, promScenario) {
		return env
	}
	root := testutil.ModuleRoot(t)
	if out, err := exec.Command(filepath.Join(root, "scripts", "prometheus.sh"), "--version").CombinedOutput(); err != nil {
		t.Fatalf("%s needs prometheus: scripts/prometheus.sh --version: %v\n%s", promScenario, err, out)
	}
	if env == nil {
		env = map[string]string{}
	}
	env[promlab.EnvRoot] = root
	if d := os.Getenv("TANDEM_TOOLS_DIR"); d != "" { // where prometheus.sh finds the binary
		env["TANDEM_TOOLS_DIR"] = d
	}
	if d := os.Getenv(promPlotEnv); d != "" {
		env[promPlotEnv] = d
	}
	return env
}

// promSavePlotData writes the plot data files the guest printed (plot)
// into $TANDEM_PLOT_DATA on the host.
func promSavePlotData(t *testing.T, output []byte) {
	t.Helper()
	dir := os.Getenv(promPlotEnv)
	if dir == "" {
		return
	}
	files, errs := promPlotData(output)
	for _, err := range errs {
		t.Error(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		if err := os.WriteFile(filepath.Join(dir, name), files[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("plot data: %d files written into %s", len(files), dir)
}

// promMaxPlotFile bounds one plot data file.
const promMaxPlotFile = 8 << 20

// promPlotData reads the plot data lines of the guest's output: only the
// known names (the guest's output names no path of the host), each at
// most promMaxPlotFile bytes; the last line of a name wins.
func promPlotData(output []byte) (map[string][]byte, []error) {
	files := map[string][]byte{}
	var errs []error
	for line := range strings.Lines(string(output)) {
		i := strings.Index(line, promPlotMarker+" ")
		if i < 0 {
			continue
		}
		f := strings.Fields(line[i+len(promPlotMarker):])
		if len(f) != 2 || !slices.Contains(promPlotFiles, f[0]) || base64.StdEncoding.DecodedLen(len(f[1])) > promMaxPlotFile {
			errs = append(errs, fmt.Errorf("plot data line not understood: %.120s", line))
			continue
		}
		b, err := base64.StdEncoding.DecodeString(f[1])
		if err != nil {
			errs = append(errs, fmt.Errorf("plot data %s: %w", f[0], err))
			continue
		}
		files[f[0]] = b
	}
	return files, errs
}

// TestPromPlotData: what plot prints comes back whole on the host;
// lines with another name or broken data are refused.
func TestPromPlotData(t *testing.T) {
	body := []byte(`{"status":"success","data":{"resultType":"matrix","result":[]}}`)
	enc := base64.StdEncoding.EncodeToString(body)
	out := "guest: === RUN   TestGuestScenarioProm1Alerts\n" +
		"guest:     prometheus_test.go:120: " + promPlotMarker + " drain-connections.json " + enc + "\n" +
		"guest:     prometheus_test.go:121: " + promPlotMarker + " ../../etc/passwd " + enc + "\n" +
		"guest:     prometheus_test.go:122: " + promPlotMarker + " failover-state.json !!!\n" +
		"guest:     prometheus_test.go:123: " + promPlotMarker + " failover-rps.json\n" +
		"guest: --- PASS: TestGuestScenarioProm1Alerts (95.00s)\n"
	files, errs := promPlotData([]byte(out))
	if diff := cmp.Diff(map[string][]byte{"drain-connections.json": body}, files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if len(errs) != 3 {
		t.Errorf("errors: %v, want 3 (a name that is not a plot file, bad base64, no data)", errs)
	}
}

// TestPromLoadPerSecond: answers and failures counted in the second of
// their end, every second of the span present (0 when nothing ended), in
// the shape of a query_range answer the plots read.
func TestPromLoadPerSecond(t *testing.T) {
	begin := time.Unix(1700000000, 500e6)
	at := func(start, latency float64, c loadgen.Class) loadgen.Result {
		return loadgen.Result{Start: begin.Add(time.Duration(start * float64(time.Second))), Latency: time.Duration(latency * float64(time.Second)), Class: c}
	}
	results := []loadgen.Result{
		at(0, 0.1, loadgen.OK),        // ends 1700000000.6
		at(0.3, 0.3, loadgen.OK),      // ends 1700000001.1
		at(0.4, 2, loadgen.Timeout),   // ends 1700000002.9
		at(2.0, 0.1, loadgen.Aborted), // not counted
		at(3.2, 0.1, loadgen.OK),      // ends 1700000003.8
		at(5.0, 0.1, loadgen.OK),      // after the end: not counted
	}
	body := promLoadPerSecond(results, begin, begin.Add(3500*time.Millisecond))
	m, err := promlab.ParseMatrix(body)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]float64{}
	for _, s := range m {
		got[s.Metric["result"]] = s.Values()
		if s.Points[0].Time != time.Unix(1700000000, 0) || len(s.Points) != 5 {
			t.Errorf("%v: points %v, want 1700000000 to 1700000004", s.Metric, s.Points)
		}
	}
	want := map[string][]float64{"ok": {1, 1, 0, 1, 0}, "failed": {0, 0, 1, 0, 0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("per second (-want +got):\n%s", diff)
	}
	if !bytes.Contains(body, []byte(`"note":"not from Prometheus`)) {
		t.Errorf("no note in %s", body)
	}
}

// TestPromWindowedAlerts: every alert the scenario lets stay after the
// recovery is a shipped alert without `for` whose expression reads a
// window (increase, changes).
func TestPromWindowedAlerts(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(testutil.ModuleRoot(t), "packaging", "monitoring", "tandem-alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []struct{ Alert, Expr, For string }
		}
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	rules := map[string]string{}
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			if r.For == "" && (strings.Contains(r.Expr, "increase(") || strings.Contains(r.Expr, "changes(")) {
				rules[r.Alert] = r.Expr
			}
		}
	}
	for _, name := range promWindowed {
		if _, ok := rules[name]; !ok {
			t.Errorf("%s: not a shipped alert without for on increase or changes", name)
		}
	}
	if len(rules) != len(promWindowed) {
		t.Errorf("shipped alerts on a window without for: %v; promWindowed: %v", slices.Sorted(maps.Keys(rules)), promWindowed)
	}
}
