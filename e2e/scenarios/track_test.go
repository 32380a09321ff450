package scenarios

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The track scenarios run the HA scenarios' two-director lab (newHALab's:
// dir1 MASTER, dir2 BACKUP, nopreempt, priority 100, advert_int 1,
// fast_failover 200 ms × 5, agents as witnesses) with keepalived's
// vrrp_script: both directors track a long-running process of their own
// (sleep(1) through a symlink named trk-XXXXXXXX, unique to the run,
// started in each director's namespace before the directors; the test
// writes their PIDs, one a line, to PIDFILE) through
//
//	vrrp_script chk_app {
//	    script "/bin/sh -c 'while read p; do kill -0 $p 2>/dev/null && [ /proc/$p/ns/net -ef /proc/$$/ns/net ] && exit 0; done < PIDFILE; exit 1'"
//	    interval 1
//	    fall 2
//	    rise 1
//	    weight 0
//	}
//
// and `track_script { chk_app }` in VI0: kill -0 on each tracked PID, the
// one in the check's own network namespace counts. The lab's namespaces
// share one PID namespace, so a bare `kill -0` or `pgrep -x NAME` on dir2
// would see dir1's process (and, once it is killed, fail on both); both
// directors thus read one keepalived.conf, as keepalived users do. The
// check is dash builtins only (one exec): `pgrep --ns` does the same but
// loads ten shared libraries over the guest's 9p root, and under TCG its
// runs took more than the 1 s timeout (= interval) often enough to fail
// twice in a row (measured: FAULT at start, the master flapping).
const (
	trkInterval = time.Second // vrrp_script interval
	trkFall     = 2           // vrrp_script fall
	trkRise     = 1           // vrrp_script rise
	trkAdvert   = time.Second // advert_int
	// trkSlack is the bound's allowance for what the design does not
	// time: the script's own run (a fork and exec of sh; the check's
	// duration on the guest is printed at set-up), the
	// hand-over from the tracker to the instance's driver and the VIP's
	// netlink add, and the 10 ms sampling period.
	trkSlack = time.Second
	// trkSyncRun is the sync group's tolerance at a transition. The
	// members act each in its own driver goroutine, each removing or
	// adding its own VIPs with its own netlink call (vrrp.SyncHub): on
	// the master VI0 goes FAULT and releases its VIP, then reports, and
	// the hub queues GroupFault to VI1, which releases its own; on the
	// backup the hub orders ForceMaster to both once the last one wants
	// MASTER. Nothing orders the two netlink calls in time, so a director
	// may show one member's VIP without the other's for one run of at
	// most this many consecutive 10 ms samples, spanning at most 50 ms,
	// per transition (as TestNetnsDirectorTrackScript allows); never
	// outside a transition.
	trkSyncRun = 5
	// trkVIP2 is VI1's VIP (sync group scenario), VRID 101 on eth0.
	trkVIP2 = "10.99.0.101"
)

// trkBound is the takeover bound of a weight-0 script failure: the first
// failing run starts within one interval of the kill, the fall-th one
// (fall − 1) intervals later, so the script is down within interval ×
// fall; the master goes FAULT at once, releases the VIP and sends a
// priority-0 advert, and the backup takes over after its Skew_Time
// ((256 − 100) / 256 × advert_int = 0.61 s), within one advert interval;
// plus trkSlack.
const trkBound = trkInterval*trkFall + trkAdvert + trkSlack

// trkMinTakeover is the lower bound that shows fall is honoured: one
// failed run does not move the VIP. The fall-th failing run starts (fall −
// 1) intervals after the first, whose start can precede the kill by no
// more than its own start-up (its kill -0 must come after the kill); half
// an interval is kept for that.
const trkMinTakeover = trkInterval*(trkFall-1) - trkInterval/2

// trkCheck is the check's shell text: true when a PID listed in pidfile
// is alive in the check's own network namespace.
func trkCheck(pidfile string) string {
	return "while read p; do kill -0 $p 2>/dev/null && [ /proc/$p/ns/net -ef /proc/$$/ns/net ] && exit 0; done < " + pidfile + "; exit 1"
}

// trkPrelude is the vrrp_script block running trkCheck(pidfile).
func trkPrelude(pidfile string) string {
	return fmt.Sprintf(`vrrp_script chk_app {
    script "/bin/sh -c '%s'"
    interval %d
    fall %d
    rise %d
    weight 0
}

`, trkCheck(pidfile), int(trkInterval/time.Second), trkFall, trkRise)
}

// trkInstance is VI0's track_script block.
const trkInstance = "    track_script {\n        chk_app\n    }"

// trkSyncExtra is the sync group scenario's addition: VI1 (VRID 101, VIP
// trkVIP2 on eth0, untracked), a virtual_server on trkVIP2:80 with both
// real servers, and vrrp_sync_group G of VI0 and VI1.
var trkSyncExtra = func() string {
	var b strings.Builder
	fmt.Fprintf(&b, `
vrrp_instance VI1 {
    state BACKUP
    interface eth0
    virtual_router_id 101
    priority 100
    nopreempt
    advert_int %d
    authentication {
        auth_type PASS
        auth_pass password
    }
    virtual_ipaddress {
        %s/24 dev eth0
    }
}

virtual_server %s 80 {
    delay_loop 2
    lb_algo lc
    lb_kind DR
    protocol TCP
`, int(trkAdvert/time.Second), trkVIP2, trkVIP2)
	for _, rs := range prodlab.RealServers {
		fmt.Fprintf(&b, `    real_server %s 80 {
        weight 1
        HTTP_GET {
            url {
              path /check.txt
              status_code 200
            }
            connect_timeout 1
        }
    }
`, prodlab.RSIPs[rs])
	}
	b.WriteString(`}

vrrp_sync_group G {
    group {
        VI0
        VI1
    }
}
`)
	return b.String()
}()

// trackLab is the HA lab with the tracked processes.
type trackLab struct {
	*haLab
	appName string // the tracked process's name (its comm)
	appPath string // the symlink to sleep(1) by that name
	pidfile string // the tracked PIDs, one a line

	mu   sync.Mutex
	apps map[string]*netlab.Process // per director
}

// newTrackLab builds the lab; with sync, VI1, its virtual_server and the
// sync group too (the agents then hold trkVIP2 as well).
func newTrackLab(t *testing.T, sync bool) *trackLab {
	t.Helper()
	testutil.InVM(t)
	bin := filepath.Dir(testutil.Bin(t, "tandem-director"))
	testutil.Bin(t, "tandem-backend")
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	name := "trk-" + hex.EncodeToString(rnd[:]) // 12 characters: comm keeps 15
	dir := t.TempDir()
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, name)
	if err := os.Symlink(sleep, link); err != nil {
		t.Fatal(err)
	}
	pidfile := filepath.Join(dir, "tracked.pids")
	o := prodlab.PairOptions{Bin: bin, Dir: dir, SyncLink: true, LogLevel: "debug",
		ConfPrelude: trkPrelude(pidfile), ConfInstance: trkInstance}
	if sync {
		o.ConfExtra, o.ExtraVIPs = trkSyncExtra, []string{trkVIP2}
	}
	p, err := prodlab.NewPair(t, o)
	if err != nil {
		t.Fatal(err)
	}
	l := &trackLab{haLab: &haLab{t: t, Pair: p}, appName: name, appPath: link, pidfile: pidfile, apps: map[string]*netlab.Process{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", p.Logs(80))
		}
	})
	for _, d := range prodlab.Directors {
		l.startApp(d)
	}
	// The check as the directors run it: true in each director (its own
	// process), false where there is none (the client): the namespace
	// scoping works, so killing dir1's process fails dir1's check only.
	// Its duration here is what a script run costs on the guest.
	check := []string{"/bin/sh", "-c", trkCheck(pidfile)}
	for _, d := range prodlab.Directors {
		var took []string
		for range 3 {
			start := time.Now()
			if _, err := l.Net.Exec(d, check...); err != nil {
				t.Fatalf("the check fails on %s with its process running: %v", d, err)
			}
			took = append(took, haMs(time.Since(start)))
		}
		t.Logf("MEASURED the check on %s (%s, pid %d) took %s", d, name, l.apps[d].Pid(), strings.Join(took, ", "))
	}
	if out, err := l.Net.Exec("client", check...); err == nil {
		t.Fatalf("the check succeeds in the client's namespace, which runs no %s (%s): it is not scoped to the namespace", name, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if m, b := p.Roles(); m != "dir1" || b != "dir2" {
		t.Fatalf("after start: master %q, backup %q; want dir1, dir2", m, b)
	}
	if h := p.VIPHolders(); len(h) != 1 || h[0] != "dir1" {
		t.Fatalf("after start the VIP is on %v, want dir1 only", h)
	}
	return l
}

// startApp starts the tracked process in director d's namespace.
func (l *trackLab) startApp(d string) {
	l.t.Helper()
	p, err := l.Net.Start(d, l.appPath, "3600")
	if err != nil {
		l.t.Fatal(err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.apps[d] = p
	var b strings.Builder
	for _, x := range l.apps {
		fmt.Fprintf(&b, "%d\n", x.Pid())
	}
	// Renamed into place: a check never reads half a file.
	tmp := l.pidfile + ".new"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Rename(tmp, l.pidfile); err != nil {
		l.t.Fatal(err)
	}
}

// killApp SIGKILLs director d's tracked process (a crash) and returns when
// the signal was sent; the process is reaped at once by its waiter.
func (l *trackLab) killApp(d string) time.Time {
	l.t.Helper()
	l.mu.Lock()
	p := l.apps[d]
	l.mu.Unlock()
	at := time.Now()
	if err := p.Signal(syscall.SIGKILL); err != nil {
		l.t.Fatal(err)
	}
	return at
}

// status is director d's status; it fails the test on error.
func (l *trackLab) status(d string) control.Status {
	l.t.Helper()
	st, err := l.Status(d)
	if err != nil {
		l.t.Fatalf("status of %s: %v", d, err)
	}
	return st
}

// trkInstanceStatus returns the status of instance name in st (nil if
// none).
func trkInstanceStatus(st control.Status, name string) *control.VRRPStatus {
	for i := range st.VRRP {
		if st.VRRP[i].Instance == name {
			return &st.VRRP[i]
		}
	}
	return nil
}

// trkTracker returns the state of script tracker name in st ("" if none).
func trkTracker(st control.Status, name string) string {
	for _, tr := range st.Trackers {
		if tr.Kind == "script" && tr.Name == name {
			return tr.State
		}
	}
	return ""
}

// loadTo is haLab.load to addr (the VIP or trkVIP2), its snapshots
// labelled.
func (l *trackLab) loadTo(addr string, cfg loadgen.Config) func() *loadgen.Report {
	l.t.Helper()
	cfg.Target.Addr = addr + ":80"
	cfg.Target.Dial = l.Net.DialContext("client")
	cfg.Target.Expected = []string{"rs1", "rs2"}
	cfg.MaxRequests = int(cfg.Rate*cfg.Duration.Seconds()) + 100
	cfg.Interval = 2 * time.Second
	cfg.OnSnapshot = func(s loadgen.Snapshot) { l.t.Logf("load %s %s", addr, s) }
	g, err := loadgen.New(cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	return runLoad(l.t, g)
}

// waitFor polls cond (testutil.WaitFor) up to limit and returns when it
// held (zero if never).
func waitFor(limit time.Duration, cond func() bool) time.Time {
	var at time.Time
	testutil.WaitFor(limit, func() bool {
		if cond() {
			at = time.Now()
			return true
		}
		return false
	})
	return at
}

// TestGuestScenarioTrack1Script: the master's tracked process is killed
// (SIGKILL) under mixed load (40 requests/s, a quarter over 4 keep-alive
// connections). Its vrrp_script fails twice (fall 2) and, weight 0, puts
// VI0 in FAULT: dir1 releases the VIP and sends priority 0; dir2 takes over
// after its Skew_Time. The time from the kill to the VIP on dir2 (sampled
// every 10 ms) is within trkBound and not below trkMinTakeover (fall is
// honoured); the VIP is never on both; no request started from 1 s after
// the move fails. The process back, dir1 leaves FAULT (rise 1) as BACKUP
// and the VIP stays on dir2 (nopreempt).
func TestGuestScenarioTrack1Script(t *testing.T) {
	l := newTrackLab(t, false)
	st := l.status("dir1")
	t.Logf("dir1 before: %s, tracker chk_app %q", st.Role, trkTracker(st, "chk_app"))

	wait := l.load(haMixed(9 * time.Second))
	testutil.Settle(2 * time.Second) // load before the kill
	stop := l.sampleVIP(10 * time.Millisecond)
	testutil.Settle(100 * time.Millisecond) // samples before the kill
	killed := l.killApp("dir1")
	if waitFor(trkBound+4*time.Second, func() bool { return l.HasVIP("dir2") }).IsZero() {
		t.Errorf("dir2 does not hold the VIP %v after the kill", trkBound+4*time.Second)
	}
	rep := wait()
	samples := stop()

	released, ok1 := haFirst(samples, killed, func(s haVIPSample) bool { return !s.holds("dir1") })
	took, ok2 := haFirst(samples, killed, func(s haVIPSample) bool { return s.holds("dir2") })
	if !ok1 || !ok2 {
		t.Fatalf("after the kill: dir1 released the VIP %v, dir2 took it %v", ok1, ok2)
	}
	takeover := took.at.Sub(killed)
	t.Logf("MEASURED tracked process SIGKILL -> dir1 released the VIP %s, dir2 held it %s (gap %s; sampled every 10 ms); bound %v = interval %v × fall %d + advert_int %v + slack %v; at least %v",
		haMs(released.at.Sub(killed)), haMs(takeover), haMs(took.at.Sub(released.at)), trkBound, trkInterval, trkFall, trkAdvert, trkSlack, trkMinTakeover)
	if takeover > trkBound {
		t.Errorf("the VIP reached dir2 %s after the kill, bound %v", haMs(takeover), trkBound)
	}
	if takeover < trkMinTakeover {
		t.Errorf("the VIP reached dir2 %s after the kill, before %v: fall %d not honoured", haMs(takeover), trkMinTakeover, trkFall)
	}
	// dir1's own account: FAULT not before the fall-th failed run; a run
	// that failed or was skipped before the kill would have spent one
	// of the fall in advance.
	out1 := l.Process("dir1").Output()
	if at := prodlab.LogTime(out1, killed, "vrrp state changed", "state=FAULT"); at.IsZero() {
		t.Errorf("dir1 logged no FAULT after the kill")
	} else {
		t.Logf("MEASURED dir1 logged FAULT %s after the kill", haMs(at.Sub(killed)))
		if d := at.Sub(killed); d < trkMinTakeover {
			t.Errorf("dir1 went FAULT %s after the kill, before %v: fall %d not honoured", haMs(d), trkMinTakeover, trkFall)
		}
	}
	l.trkSteady(killed, rep)
	var two, notDir2 int
	for _, s := range samples {
		if len(s.holders) > 1 {
			if two++; two <= 5 {
				t.Errorf("two VIP holders at %s", s)
			}
		}
		if !s.at.Before(took.at) && (len(s.holders) != 1 || s.holders[0] != "dir2") {
			if notDir2++; notDir2 <= 5 {
				t.Errorf("after the takeover (%s) the VIP holders at %s: want dir2 alone", took.at.Format("15:04:05.000"), s)
			}
		}
	}
	t.Logf("MEASURED %d VIP samples, %d with two holders, %d after the takeover not dir2 alone", len(samples), two, notDir2)

	st1, st2 := l.status("dir1"), l.status("dir2")
	vi := trkInstanceStatus(st1, "VI0")
	if vi == nil || vi.State != "FAULT" || !strings.Contains(strings.Join(vi.FaultSources, ";"), "script chk_app") {
		t.Errorf("dir1's VI0 after the kill: %+v; want FAULT with fault source script chk_app", vi)
	} else {
		t.Logf("dir1's VI0: %s, fault sources %q, priority %d", vi.State, vi.FaultSources, vi.Priority)
	}
	t.Logf("dir1 tracker chk_app %q; dir2 role %s, tracker chk_app %q", trkTracker(st1, "chk_app"), st2.Role, trkTracker(st2, "chk_app"))
	if st2.Role != "master" {
		t.Errorf("dir2 after the takeover: role %q, want master", st2.Role)
	}
	for _, line := range haStateChanges(l.Process("dir2").Output()) {
		t.Logf("dir2: %s", line)
	}

	haLogFailures(t, rep, killed, "the kill")
	after := rep.Window(took.at.Add(time.Second), rep.End)
	t.Logf("MEASURED load: %d requests, %d failed (%v), first failure %s, last %s after the kill; from the move + 1s: %d requests, %d failed",
		rep.Sent, rep.Failed, failedClasses(rep.ByClass), haRelTo(rep.FirstFailure, killed), haRelTo(rep.LastFailure, killed), after.Sent, after.Failed)
	if after.Sent == 0 {
		t.Errorf("no request started from 1 s after the move: the load ended too soon to show anything")
	}
	if after.Failed != 0 {
		t.Errorf("%d requests started from 1 s after the move failed: %v", after.Failed, failedClasses(after.ByClass))
	}

	// The process back: rise 1, the next run succeeds; dir1 leaves FAULT
	// as BACKUP, and dir2 keeps the VIP.
	back := time.Now()
	l.startApp("dir1")
	var vi0 *control.VRRPStatus
	// A costly condition (the CLI is a process start): WaitFor pauses
	// twice its duration between two tests, not 10 ms.
	ok := !waitFor(trkInterval*trkRise+trkAdvert+trkSlack+2*time.Second, func() bool {
		vi0 = trkInstanceStatus(l.status("dir1"), "VI0")
		return vi0 != nil && vi0.State == "BACKUP"
	}).IsZero()
	if !ok {
		t.Errorf("dir1's VI0 not BACKUP after its process came back: %+v", vi0)
	} else {
		t.Logf("MEASURED process back -> dir1's VI0 BACKUP within %s (status polled with pauses of twice a status call)", haMs(time.Since(back)))
	}
	if h := l.VIPHolders(); len(h) != 1 || h[0] != "dir2" {
		t.Errorf("after dir1's recovery the VIP is on %v, want dir2 alone (nopreempt)", h)
	}
}

// trkPairSample is which of the two VIPs each director held at one
// instant (one address dump per director: the pair of a director is
// consistent).
type trkPairSample struct {
	at  time.Time
	has map[string][2]bool // director -> [VIP, trkVIP2]
}

// sampleVIPPairs reads both VIPs on both directors every period until
// stop (each director's eth0 resolved once, one address dump per
// director and sample); latest returns the newest sample (the test waits
// on it instead of dumping the addresses again). The test's end stops it
// too.
func (l *trackLab) sampleVIPPairs(period time.Duration) (stop func() []trkPairSample, latest func() trkPairSample) {
	l.t.Helper()
	type dirLink struct {
		h  *netlink.Handle
		lk netlink.Link
	}
	links := map[string]dirLink{}
	for _, d := range prodlab.Directors {
		h, err := l.Net.Netlink(d)
		if err != nil {
			l.t.Fatal(err)
		}
		lk, err := h.LinkByName("eth0")
		if err != nil {
			l.t.Fatal(err)
		}
		links[d] = dirLink{h, lk}
	}
	read := func(x dirLink) (out [2]bool) {
		addrs, err := x.h.AddrList(x.lk, netlink.FAMILY_V4)
		if err != nil {
			return out
		}
		for _, a := range addrs {
			switch a.IP.String() {
			case prodlab.VIP:
				out[0] = true
			case trkVIP2:
				out[1] = true
			}
		}
		return out
	}
	return sampleEvery(l.t, period, func() trkPairSample {
		s := trkPairSample{at: time.Now(), has: map[string][2]bool{}}
		for _, d := range prodlab.Directors {
			s.has[d] = read(links[d])
		}
		return s
	})
}

// trkPeriods returns the median and the largest interval between
// consecutive samples.
func trkPeriods(samples []trkPairSample) (median, largest time.Duration) {
	var gaps []time.Duration
	for i := 1; i < len(samples); i++ {
		gaps = append(gaps, samples[i].at.Sub(samples[i-1].at))
	}
	if len(gaps) == 0 {
		return 0, 0
	}
	slices.Sort(gaps)
	return gaps[len(gaps)/2], gaps[len(gaps)-1]
}

// trkApart is one run of consecutive samples in which a director held one
// member's VIP without the other's.
type trkApart struct {
	dir      string
	from, to time.Time
	n        int
	first    [2]bool // the pair in the run's first sample
}

// trkApartRuns finds the runs of each director.
func trkApartRuns(samples []trkPairSample) []trkApart {
	var runs []trkApart
	for _, d := range prodlab.Directors {
		var cur *trkApart
		for _, s := range samples {
			h := s.has[d]
			if h[0] != h[1] {
				if cur == nil {
					cur = &trkApart{dir: d, from: s.at, first: h}
				}
				cur.to, cur.n = s.at, cur.n+1
				continue
			}
			if cur != nil {
				runs = append(runs, *cur)
				cur = nil
			}
		}
		if cur != nil {
			runs = append(runs, *cur)
		}
	}
	return runs
}

// trkHTTPOK waits until a GET to addr from the client answers from a real
// server.
func (l *trackLab) trkHTTPOK(addr string, limit time.Duration) error {
	c := l.Net.HTTPClient("client", time.Second)
	var last error
	if waitFor(limit, func() bool {
		resp, err := c.Get("http://" + net.JoinHostPort(addr, "80") + "/")
		if err != nil {
			last = err
			testutil.Settle(200 * time.Millisecond) // the retry pace
			return false
		}
		resp.Body.Close()
		if s := resp.Header.Get("X-Server"); s != "rs1" && s != "rs2" {
			last = fmt.Errorf("answered by %q", s)
			testutil.Settle(200 * time.Millisecond) // the retry pace
			return false
		}
		return true
	}).IsZero() {
		return fmt.Errorf("%s: no answer from a real server within %v: %v", addr, limit, last)
	}
	return nil
}

// TestGuestScenarioTrack2SyncGroup: VI0 (the VIP, tracking chk_app) and VI1
// (trkVIP2, VRID 101, tracking nothing) in vrrp_sync_group G, load on both
// VIPs (20 requests/s each, a quarter keep-alive). The master's tracked
// process is killed: VI0 goes FAULT and the group takes VI1 with it on
// dir1; on dir2 both become MASTER together. Both VIPs on both directors
// are sampled every 10 ms: a director holding one member's VIP without the
// other's is allowed only at a transition, one run of at most trkSyncRun
// samples per director; never elsewhere. Each VIP reaches dir2 within
// trkBound, neither is ever on both directors, and no request to either
// VIP started from 1 s after the move fails. dir1 ends with both members
// and the group in FAULT, dir2 with both MASTER.
func TestGuestScenarioTrack2SyncGroup(t *testing.T) {
	l := newTrackLab(t, true)
	// dir1 holds both VIPs, dir2 none; the second virtual_server serves.
	if waitFor(10*time.Second, func() bool {
		h1, h2 := l.pairNow("dir1"), l.pairNow("dir2")
		return h1 == [2]bool{true, true} && h2 == [2]bool{false, false}
	}).IsZero() {
		t.Fatalf("after start: dir1 holds %v, dir2 %v of [VIP, VIP2]; want dir1 both, dir2 none", l.pairNow("dir1"), l.pairNow("dir2"))
	}
	if err := l.waitService2("dir1", 20*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.trkHTTPOK(trkVIP2, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, d := range prodlab.Directors {
		st := l.status(d)
		var states []string
		for _, v := range st.VRRP {
			states = append(states, v.Instance+" "+v.State)
		}
		t.Logf("%s before: %s; sync groups %+v", d, strings.Join(states, ", "), st.SyncGroups)
	}

	mixed := func() loadgen.Config {
		return loadgen.Config{Rate: haRate / 2, Duration: 9 * time.Second, KeepAliveRatio: 0.25, KeepAliveConns: 4}
	}
	wait1 := l.loadTo(prodlab.VIP, mixed())
	wait2 := l.loadTo(trkVIP2, mixed())
	stop, latest := l.sampleVIPPairs(10 * time.Millisecond)
	testutil.Settle(2 * time.Second) // load and samples before the kill
	killed := l.killApp("dir1")
	moved := waitFor(trkBound+4*time.Second, func() bool {
		s := latest()
		return s.at.After(killed) && s.has["dir2"] == [2]bool{true, true} && s.has["dir1"] == [2]bool{false, false}
	})
	if moved.IsZero() {
		t.Errorf("both VIPs not on dir2 (and off dir1) %v after the kill: dir1 %v, dir2 %v", trkBound+4*time.Second, l.pairNow("dir1"), l.pairNow("dir2"))
		moved = time.Now()
	}
	rep1, rep2 := wait1(), wait2()
	samples := stop()

	// Takeover of each VIP, from the samples.
	first := func(d string, i int, held bool) (time.Time, bool) {
		for _, s := range samples {
			if !s.at.Before(killed) && s.has[d][i] == held {
				return s.at, true
			}
		}
		return time.Time{}, false
	}
	for i, name := range []string{"VIP (VI0)", "VIP2 (VI1)"} {
		rel, ok1 := first("dir1", i, false)
		took, ok2 := first("dir2", i, true)
		if !ok1 || !ok2 {
			t.Errorf("%s: released by dir1 %v, taken by dir2 %v", name, ok1, ok2)
			continue
		}
		t.Logf("MEASURED %s: kill -> released by dir1 %s, held by dir2 %s (bound %v)", name, haMs(rel.Sub(killed)), haMs(took.Sub(killed)), trkBound)
		if d := took.Sub(killed); d > trkBound || d < trkMinTakeover {
			t.Errorf("%s reached dir2 %s after the kill, want within [%v, %v]", name, haMs(d), trkMinTakeover, trkBound)
		}
	}

	// Never a VIP on both directors; the members of one director apart
	// only at a transition.
	both := 0
	for _, s := range samples {
		for i := range 2 {
			if s.has["dir1"][i] && s.has["dir2"][i] {
				if both++; both <= 5 {
					t.Errorf("VIP %d on both directors at %s: %v", i, s.at.Format("15:04:05.000"), s.has)
				}
			}
		}
	}
	runs := trkApartRuns(samples)
	apart := 0
	perDir := map[string]int{}
	for _, r := range runs {
		apart += r.n
		perDir[r.dir]++
		which := "VIP (VI0) alone"
		if r.first[1] {
			which = "VIP2 (VI1) alone"
		}
		t.Logf("MEASURED %s held %s for %d samples (%s to %s after the kill)", r.dir, which, r.n,
			haMs(r.from.Sub(killed)), haMs(r.to.Sub(killed)))
		if r.n > trkSyncRun || r.to.Sub(r.from) > trkSyncRun*10*time.Millisecond {
			t.Errorf("%s held one member's VIP without the other's for %d consecutive samples (%s), at most %d (%v) allowed at a transition",
				r.dir, r.n, haMs(r.to.Sub(r.from)), trkSyncRun, trkSyncRun*10*time.Millisecond)
		}
		if r.from.Before(killed) || r.to.After(moved.Add(time.Second)) {
			t.Errorf("%s: members apart outside the transition (%s to %s after the kill)", r.dir, haMs(r.from.Sub(killed)), haMs(r.to.Sub(killed)))
		}
	}
	for d, n := range perDir {
		if n > 1 {
			t.Errorf("%s had its members apart in %d separate runs; one transition allows one", d, n)
		}
	}
	med, big := trkPeriods(samples)
	t.Logf("MEASURED %d samples (both VIPs on both directors, every 10 ms: median interval %s, largest %s): %d with a director's members apart (%d runs: dir1 %d, dir2 %d), %d with a VIP on both directors",
		len(samples), haMs(med), haMs(big), apart, len(runs), perDir["dir1"], perDir["dir2"], both)
	if med > 20*time.Millisecond {
		t.Errorf("the sampler kept a median interval of %s, not 10 ms: too coarse to count the members apart", haMs(med))
	}

	l.trkSteady(killed, rep1, rep2)

	// The daemons' view.
	st1, st2 := l.status("dir1"), l.status("dir2")
	for _, in := range []string{"VI0", "VI1"} {
		v1, v2 := trkInstanceStatus(st1, in), trkInstanceStatus(st2, in)
		if v1 == nil || v1.State != "FAULT" {
			t.Errorf("dir1's %s after the kill: %+v, want FAULT", in, v1)
		} else {
			t.Logf("dir1's %s: %s, fault sources %q", in, v1.State, v1.FaultSources)
		}
		if v2 == nil || v2.State != "MASTER" {
			t.Errorf("dir2's %s after the kill: %+v, want MASTER", in, v2)
		}
	}
	if v := trkInstanceStatus(st1, "VI0"); v != nil && !strings.Contains(strings.Join(v.FaultSources, ";"), "script chk_app") {
		t.Errorf("dir1's VI0 fault sources %q: no script chk_app", v.FaultSources)
	}
	groupState := func(st control.Status) string {
		if len(st.SyncGroups) != 1 {
			return fmt.Sprintf("%d groups", len(st.SyncGroups))
		}
		return st.SyncGroups[0].State
	}
	t.Logf("sync group G: dir1 %s, dir2 %s", groupState(st1), groupState(st2))
	if groupState(st1) != "FAULT" || groupState(st2) != "MASTER" {
		t.Errorf("sync group G: dir1 %s, dir2 %s; want FAULT, MASTER", groupState(st1), groupState(st2))
	}
	for _, d := range prodlab.Directors {
		for _, line := range haStateChanges(l.Process(d).Output()) {
			t.Logf("%s: %s", d, line)
		}
	}

	for _, x := range []struct {
		addr string
		rep  *loadgen.Report
	}{{prodlab.VIP, rep1}, {trkVIP2, rep2}} {
		haLogFailures(t, x.rep, killed, "the kill ("+x.addr+")")
		after := x.rep.Window(moved.Add(time.Second), x.rep.End)
		t.Logf("MEASURED load on %s: %d requests, %d failed (%v), first failure %s, last %s after the kill; from the move + 1s: %d requests, %d failed",
			x.addr, x.rep.Sent, x.rep.Failed, failedClasses(x.rep.ByClass), haRelTo(x.rep.FirstFailure, killed), haRelTo(x.rep.LastFailure, killed), after.Sent, after.Failed)
		if after.Sent == 0 {
			t.Errorf("%s: no request started from 1 s after the move", x.addr)
		}
		if after.Failed != 0 {
			t.Errorf("%s: %d requests started from 1 s after the move failed: %v", x.addr, after.Failed, failedClasses(after.ByClass))
		}
	}
}

// pairNow reads director d's [VIP, trkVIP2] now.
func (l *trackLab) pairNow(d string) [2]bool {
	h, err := l.Net.Netlink(d)
	if err != nil {
		return [2]bool{}
	}
	return [2]bool{prodlab.HasVIPOn(h, prodlab.VIP), prodlab.HasVIPOn(h, trkVIP2)}
}

// waitService2 waits until director d's IPVS has trkVIP2:80 with both real
// servers at weight 1.
func (l *trackLab) waitService2(d string, limit time.Duration) error {
	h, err := ipvs.New(l.Net.NetnsPath(d))
	if err != nil {
		return err
	}
	defer h.Close()
	svc := prodlab.Service()
	svc.Address = net.ParseIP(trkVIP2).To4()
	var got []string
	if waitFor(limit, func() bool {
		ds, err := h.GetDestinations(svc)
		if err != nil {
			return false
		}
		got = got[:0]
		for _, x := range ds {
			if x.Weight == 1 {
				got = append(got, x.Address.String())
			}
		}
		slices.Sort(got)
		return slices.Equal(got, []string{prodlab.RSIPs["rs1"], prodlab.RSIPs["rs2"]})
	}).IsZero() {
		return fmt.Errorf("%s: %s:80 not with both real servers at weight 1 within %v (in at 1: %v)", d, trkVIP2, limit, got)
	}
	return nil
}

// trkScriptTrouble returns a director's log lines of skipped or
// timed-out chk_app runs stamped before until (a run longer than its
// timeout, = interval, counts as failed and makes the next one skipped):
// with one before the event the fall was partly spent in advance.
func trkScriptTrouble(out string, until time.Time) []string {
	var lines []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, `tracker="script chk_app"`) ||
			!strings.Contains(line, "run skipped") && !strings.Contains(line, "timeout after") {
			continue
		}
		ts, _, _ := strings.Cut(strings.TrimPrefix(line, "time="), " ")
		if at, err := time.Parse(time.RFC3339Nano, ts); err == nil && at.Before(until) {
			lines = append(lines, line)
		}
	}
	return lines
}

// trkSteady fails the test unless the lab was steady before the event:
// no failed request (reps) and no skipped or timed-out script run on
// either director. A loaded host starves the TCG guest (the agents'
// 300 ms probes, the 1 s script runs and the load time out alike); the
// scenario's numbers then measure the starvation, not the daemon, and
// the failure says so.
func (l *trackLab) trkSteady(event time.Time, reps ...*loadgen.Report) {
	l.t.Helper()
	for _, rep := range reps {
		if pre := rep.Window(rep.Start, event); pre.Failed != 0 {
			l.t.Errorf("NOT STEADY (guest starved?): %d of %d requests to %s started before the event failed (%v): the numbers below measure the guest, not the daemon",
				pre.Failed, pre.Sent, rep.Target, failedClasses(pre.ByClass))
		}
	}
	for _, d := range prodlab.Directors {
		lines := trkScriptTrouble(l.Process(d).Output(), event)
		l.t.Logf("MEASURED %s: %d skipped or timed-out script runs before the event", d, len(lines))
		if len(lines) != 0 {
			l.t.Errorf("NOT STEADY (guest starved?): %s's check overran its 1 s timeout before the event:\n%s", d, strings.Join(lines, "\n"))
		}
	}
}
