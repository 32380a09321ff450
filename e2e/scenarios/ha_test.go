package scenarios

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The HA scenarios run e2e/prodlab's two-director lab (newHALab): dir1
// MASTER, dir2 BACKUP, both tandem-director with the seed's keepalived.conf
// (lvs_sync_daemon_interface eth1, HTTP_GET checks) plus fast_failover
// 200 ms × 5, both real servers running tandem-backend (heartbeats to both
// directors: the witnesses).

// haIdleConns and haIdleEvery are scenario A's long-lived connections;
// haRate is the other scenarios' load in requests per second (each new
// connection or keep-alive request).
const (
	haRate      = 40
	haIdleConns = 20
	haIdleEvery = 100 * time.Millisecond
)

// haMixed is the load of HA2-HA4 for d: haRate requests a second, a
// quarter of them over 4 keep-alive connections, the rest each on a new
// one.
func haMixed(d time.Duration) loadgen.Config {
	return loadgen.Config{Rate: haRate, Duration: d, KeepAliveRatio: 0.25, KeepAliveConns: 4}
}

// TestGuestScenarioHA1ConnSync: 20 long-lived keep-alive connections, one
// request each every 100 ms; the backup's IPVS connection table holds every
// one of them (the kernel sync daemon on eth1) before the master dies
// (SIGKILL, then both its links down: a dead machine). The backup takes
// over and every connection goes on, to the same real server: no
// connection broken, no request failed. A request in flight at the kill
// waits for TCP to resend it to the new master (about 1 s of takeover plus
// the retransmission backoff), so these requests time out after 5 s, not
// the default 2 s; the slowest one is printed.
func TestGuestScenarioHA1ConnSync(t *testing.T) {
	l := newHALab(t)
	wait := l.load(loadgen.Config{
		Target:   loadgen.Target{Timeout: 5 * time.Second},
		Duration: 16 * time.Second,
		Idle:     loadgen.IdleConfig{Conns: haIdleConns, Every: haIdleEvery},
	})
	started := time.Now()

	// The master's table has the client's connections; wait until the
	// backup's holds every one of them.
	var onMaster, onBackup map[string]prodlab.Conn
	synced := false
	for time.Since(started) < 8*time.Second {
		testutil.Settle(500 * time.Millisecond)
		onMaster, onBackup = l.clientConns("dir1"), l.clientConns("dir2")
		est := 0
		missing := 0
		for k, c := range onMaster {
			if c.State != "ESTABLISHED" {
				continue
			}
			est++
			if _, ok := onBackup[k]; !ok {
				missing++
			}
		}
		if est >= haIdleConns && missing == 0 {
			synced = true
			break
		}
	}
	t.Logf("MEASURED connections in the master's IPVS table: %d; synced into the backup's: %d (%v after the load started)",
		len(onMaster), len(onBackup), time.Since(started).Round(100*time.Millisecond))
	if !synced {
		out, _ := l.Net.Exec("dir2", "ipvsadm", "-Lnc")
		d, _ := l.Net.Exec("dir2", "ipvsadm", "-L", "--daemon")
		t.Fatalf("the backup's connection table does not hold the master's %d established client connections within 8s (it holds %d):\n%s\nsync daemons on dir2:\n%s",
			len(onMaster), len(onBackup), out, d)
	}
	var sample []string
	for k, c := range onBackup {
		if len(sample) < 3 {
			sample = append(sample, fmt.Sprintf("%s %s -> %s", k, c.State, c.Destination))
		}
	}
	t.Logf("backup's synced entries, e.g.: %s", strings.Join(sample, "; "))

	stop := l.sampleVIP(10 * time.Millisecond)
	killed := time.Now()
	if err := l.Process("dir1").Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-l.Process("dir1").Done()
	l.Forget("dir1")
	for _, ifname := range l.Links() {
		if err := l.LinkSet("dir1", ifname, false); err != nil {
			t.Fatal(err)
		}
	}
	testutil.WaitFor(6*time.Second, func() bool { return l.HasVIP("dir2") })
	rep := wait()
	samples := stop()
	took, ok := haFirst(samples, killed, func(s haVIPSample) bool { return s.holds("dir2") })
	if !ok {
		t.Fatalf("dir2 never took the VIP after the master died")
	}
	takeover := took.at.Sub(killed)
	t.Logf("MEASURED master SIGKILL + links down -> the backup holds the VIP: %s", haMs(takeover))
	st, err := l.Status("dir2")
	t.Logf("dir2 now %s; fast failover: %+v", st.Role, st.FastFailover)
	if err != nil || st.Role != "master" {
		t.Errorf("dir2 after the takeover: role %q (%v), want master", st.Role, err)
	}

	idle := rep.ByKind[loadgen.IdleConn]
	stall := rep.Window(killed.Add(-time.Second), took.at.Add(time.Second)).Latency.Max
	t.Logf("MEASURED long-lived connections: %d requests, %d failed, %d dials for %d connections; slowest request across the failover %s",
		idle.Sent, idle.Failed, idle.Dials, haIdleConns, haMs(stall))
	haLogFailures(t, rep, killed, "the kill")
	if rep.Failed != 0 {
		t.Errorf("%d requests failed across the failover: %v %v", rep.Failed, rep.ByClass, rep.Errors)
	}
	if idle.Dials != haIdleConns {
		t.Errorf("%d dials for %d long-lived connections: %d broke and were dialled again", idle.Dials, haIdleConns, idle.Dials-haIdleConns)
	}
	// Every connection answered after the takeover, from the real server
	// it had before.
	before, after := map[uint32]string{}, map[uint32]string{}
	for _, r := range rep.Results() {
		if r.Class != loadgen.OK {
			continue
		}
		switch {
		case r.Start.Before(killed):
			before[r.Conn] = r.Server
		case r.Start.After(took.at.Add(time.Second)):
			after[r.Conn] = r.Server
		}
	}
	t.Logf("connections answering after the takeover (+1s): %d of %d", len(after), haIdleConns)
	if len(after) != haIdleConns {
		t.Errorf("%d of %d connections answered after the takeover", len(after), haIdleConns)
	}
	for c, s := range after {
		if before[c] != s {
			t.Errorf("connection %d answered by %q before the failover, %q after", c, before[c], s)
		}
	}
}

// TestGuestScenarioHA2CleanStop: the master stopped with SIGTERM under load:
// it releases the VIP and sends a priority-0 advert (and the probe's
// goodbye); the backup takes over at once. Never two VIP holders; the gap
// (VIP released -> VIP held by the backup) is measured. No keep-alive
// request fails, and no new connection fails except one that was open
// across the switch: its SYN reached dir1 while it held the VIP, its ACK
// or request reach dir2, which cannot know it (IPVS syncs a TCP
// connection after its third packet, and the sync daemon sends a buffer
// when it is full or 2 s old), so dir2 resets it. That is LVS's,
// keepalived's alike (docs/ha.md). Each failure is checked to be such a
// connection (new connection, reset, started no later than the takeover,
// still open at the release); the connections open at the release and
// those reset are counted and printed; any other failure fails the test.
func TestGuestScenarioHA2CleanStop(t *testing.T) {
	l := newHALab(t)
	cfg := haMixed(12 * time.Second)
	cfg.Target.Timeout = 3 * time.Second
	wait := l.load(cfg)
	testutil.Settle(5 * time.Second)
	stop := l.sampleVIP(5 * time.Millisecond)
	capture := l.captureTCP()
	testutil.Settle(200 * time.Millisecond)
	stopAt := time.Now()
	p := l.Process("dir1")
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(15 * time.Second):
		t.Fatalf("dir1 did not exit within 15s of SIGTERM")
	}
	exited := time.Now()
	l.Forget("dir1")
	testutil.WaitFor(5*time.Second, func() bool { return l.HasVIP("dir2") })
	testutil.Settle(time.Second)
	samples := stop()
	rep := wait()
	packets, drops := capture.packets()

	released, ok1 := haFirst(samples, stopAt, func(s haVIPSample) bool { return !s.holds("dir1") })
	took, ok2 := haFirst(samples, stopAt, func(s haVIPSample) bool { return s.holds("dir2") })
	if !ok1 || !ok2 {
		t.Fatalf("after SIGTERM: dir1 released the VIP %v, dir2 took it %v", ok1, ok2)
	}
	t.Logf("MEASURED SIGTERM -> dir1 released the VIP %s, dir2 held it %s; gap %s (sampled every 5 ms); dir1 exited after %s",
		haMs(released.at.Sub(stopAt)), haMs(took.at.Sub(stopAt)), haMs(took.at.Sub(released.at)), haMs(exited.Sub(stopAt)))
	for _, s := range samples {
		if len(s.holders) > 1 {
			t.Errorf("two VIP holders at %s", s)
		}
	}
	wire := capture.handOver(packets, released.at, took.at)
	t.Logf("MEASURED on the wire at the client: %s (tcpdump: %s)", wire, drops)
	if wire.lastToDir1.IsZero() || wire.firstToDir2.IsZero() {
		t.Errorf("the capture did not see the client's packets go to both directors: %s", wire)
	}
	for _, l := range haStateChanges(l.Process("dir2").Output()) {
		t.Logf("dir2: %s", l)
	}
	stall := rep.Window(stopAt.Add(-time.Second), took.at.Add(time.Second)).Latency.Max
	t.Logf("MEASURED load across the stop: %d requests, %d failed; slowest request around the stop %s", rep.Sent, rep.Failed, haMs(stall))
	haLogFailures(t, rep, stopAt, "the SIGTERM")
	// open: a new connection whose SYN could have reached dir1 (sent no
	// later than the takeover) and that was still open at the release.
	open := func(r loadgen.Result) bool {
		return r.Kind == loadgen.NewConn && !r.Start.After(took.at) &&
			!r.Start.Add(r.Latency).Before(released.at)
	}
	straddle := func(r loadgen.Result) bool { return open(r) && r.Class == loadgen.Reset }
	inFlight := rep.Where(open)
	handshake := rep.Where(func(r loadgen.Result) bool { return r.Class.Failed() && straddle(r) })
	other := rep.Where(func(r loadgen.Result) bool { return r.Class.Failed() && !straddle(r) })
	t.Logf("MEASURED failures: %d of the %d new connections open across the switch reset, %d other", handshake.Failed, inFlight.Sent, other.Failed)
	if other.Failed != 0 {
		t.Errorf("%d requests failed across the clean stop other than a new connection open across the switch: %v %v", other.Failed, failedClasses(other.ByClass), rep.Errors)
	}
	if st, err := l.Status("dir2"); err != nil || st.Role != "master" {
		t.Errorf("dir2 after the stop: role %q (%v), want master", st.Role, err)
	}
}

// haPartition is the nftables table that cuts the director-to-director
// path in dir2's namespace: nothing from dir1's addresses comes in, nothing
// to them goes out (VRRP, the fast failover probe and the sync daemon
// alike). The agents still reach both directors.
const haPartition = `table inet tandem_partition {
	chain in {
		type filter hook input priority -300; policy accept;
		ip saddr { 10.99.0.2, 10.99.1.2 } counter drop
	}
	chain out {
		type filter hook output priority -300; policy accept;
		ip daddr { 10.99.0.2, 10.99.1.2 } counter drop
	}
}
`

// TestGuestScenarioHA3Partition: the link between the directors breaks
// while the agents hear both. The backup stops hearing VRRP and the probe,
// but the agents vouch for the master (the witness rule, docs/ha.md): the
// VIP stays on dir1 alone, checked every 50 ms for 6 s past the
// Master_Down_Interval, and dir2 never says master. Healed, the pair is
// one master again; no request fails throughout.
func TestGuestScenarioHA3Partition(t *testing.T) {
	l := newHALab(t)
	const window = 10 * time.Second // Master_Down_Interval 3.61 s + 6.4 s
	wait := l.load(haMixed(18 * time.Second))
	testutil.Settle(2 * time.Second)
	stop := l.sampleVIP(50 * time.Millisecond)
	if err := l.nft("dir2", haPartition); err != nil {
		t.Fatal(err)
	}
	cut := time.Now() // the rules are in place
	// dir2's role, every second while the partition lasts (the CLI is a
	// process start: cheap on a host, not under TCG; the VIP is sampled
	// every 50 ms meanwhile). The first status, 1.5 s in, is the baseline
	// of the advert counter: an advert queued before the cut is counted
	// by then.
	var roles []string
	var first, last *control.Status
	testutil.Settle(500 * time.Millisecond)
	for time.Since(cut) < window {
		testutil.Settle(time.Second)
		st, err := l.Status("dir2")
		if err != nil {
			t.Errorf("status of dir2: %v", err)
			continue
		}
		roles = append(roles, fmt.Sprintf("+%.1fs %s", time.Since(cut).Seconds(), st.Role))
		if first == nil {
			first = &st
		}
		last = &st
	}
	healAt := time.Now()
	counters, _ := l.Net.Exec("dir2", "nft", "list", "table", "inet", "tandem_partition")
	if _, err := l.Net.Exec("dir2", "nft", "delete", "table", "inet", "tandem_partition"); err != nil {
		t.Fatal(err)
	}
	t.Logf("partition for %s; dir2's roles: %s", haMs(healAt.Sub(cut)), strings.Join(roles, ", "))
	t.Logf("partition table:\n%s", counters)

	// The partition was real: dir2 heard no advert from 1.5 s in and its
	// probe session was down.
	if first == nil || len(first.VRRP) == 0 || len(last.VRRP) == 0 {
		t.Fatalf("no status of dir2 with its VRRP instance during the partition")
	}
	t.Logf("dir2 adverts received: %d at +1.5s, %d at the end of the partition", first.VRRP[0].Received, last.VRRP[0].Received)
	if last.VRRP[0].Received != first.VRRP[0].Received {
		t.Errorf("dir2 still received adverts during the partition (%d -> %d): the cut is not effective", first.VRRP[0].Received, last.VRRP[0].Received)
	}
	if at := prodlab.LogTime(l.Process("dir2").Output(), cut, "report the master alive"); !at.IsZero() {
		t.Logf("MEASURED dir2 first logged the witness veto %s after the cut", haMs(at.Sub(cut)))
	}
	if ff := last.FastFailover; ff == nil {
		t.Errorf("dir2's status during the partition has no fast failover: no witness veto to see")
	} else {
		t.Logf("MEASURED dir2 fast failover during the partition: session %s, takeovers %d, vetoes %d, witnesses %v",
			ff.Session, ff.Takeovers, ff.Vetoes, ff.Witnesses)
		if ff.Session == "up" {
			t.Errorf("dir2's probe session is up during the partition: the cut is not effective")
		}
		if ff.Vetoes == 0 {
			t.Errorf("dir2 counted no witness veto during the partition: the agents' word did not keep it BACKUP")
		}
	}

	// Heal: one master, dir1 (nopreempt, equal priority: it keeps it).
	upAt := time.Time{}
	for time.Since(healAt) < 10*time.Second {
		testutil.Settle(time.Second)
		if st, err := l.Status("dir2"); err == nil && st.FastFailover != nil && st.FastFailover.Session == "up" {
			upAt = time.Now()
			break
		}
	}
	if upAt.IsZero() {
		t.Errorf("dir2's probe session not up again within 10s of healing")
	} else {
		t.Logf("probe session up again %s after healing (polled every second)", haMs(upAt.Sub(healAt)))
	}
	testutil.Settle(2 * time.Second)
	samples := stop()
	rep := wait()

	bad := 0
	var during, after int
	for _, s := range samples {
		switch {
		case s.at.Before(cut):
		case s.at.Before(healAt):
			during++
		default:
			after++
		}
		if len(s.holders) != 1 || s.holders[0] != "dir1" {
			bad++
			if bad <= 10 {
				t.Errorf("VIP holders at %s (partition from %s, healed %s): want dir1 alone",
					s, cut.Format("15:04:05.000"), healAt.Format("15:04:05.000"))
			}
		}
	}
	t.Logf("MEASURED VIP holders sampled every 50 ms: %d samples during the partition, %d after healing; %d not dir1 alone", during, after, bad)
	for _, r := range roles {
		if strings.HasSuffix(r, " master") {
			t.Errorf("dir2 said master during the partition: %s", strings.Join(roles, " "))
			break
		}
	}
	for _, line := range haStateChanges(l.Process("dir2").Output()) {
		if strings.Contains(line, "state=MASTER") {
			t.Errorf("dir2 became master: %s", line)
		}
	}
	if m, b := l.Roles(); m != "dir1" || b != "dir2" {
		t.Errorf("after healing: master %q, backup %q; want dir1, dir2", m, b)
	}
	t.Logf("MEASURED load across the partition: %d requests, %d failed", rep.Sent, rep.Failed)
	haLogFailures(t, rep, cut, "the cut")
	if rep.Failed != 0 {
		t.Errorf("%d requests failed across the partition: %v %v", rep.Failed, rep.ByClass, rep.Errors)
	}
}

// nft applies an nftables ruleset in host's namespace.
func (l *haLab) nft(host, ruleset string) error {
	f := l.t.TempDir() + "/ruleset.nft"
	if err := os.WriteFile(f, []byte(ruleset), 0o644); err != nil {
		return err
	}
	_, err := l.Net.Exec(host, "nft", "-f", f)
	return err
}

// TestGuestScenarioHA4LinkFlap: the master's tracked interface (eth1,
// track_interface) goes down for 1.5 s under load: dir1 goes FAULT and
// releases the VIP, dir2 takes over; when the link returns dir1 comes back
// as BACKUP (nopreempt) and dir2 keeps the VIP. Never two VIP holders,
// exactly one from the takeover on (sampled every 10 ms), and no request
// that started later than 500 ms after the takeover fails; the failures of
// the detection window are reported.
func TestGuestScenarioHA4LinkFlap(t *testing.T) {
	l := newHALab(t, "eth1")
	wait := l.load(haMixed(14 * time.Second))
	testutil.Settle(3 * time.Second)
	stop := l.sampleVIP(10 * time.Millisecond)
	testutil.Settle(100 * time.Millisecond)
	down := time.Now()
	if err := l.LinkSet("dir1", "eth1", false); err != nil {
		t.Fatal(err)
	}
	testutil.Settle(1500 * time.Millisecond)
	up := time.Now()
	if err := l.LinkSet("dir1", "eth1", true); err != nil {
		t.Fatal(err)
	}
	rep := wait()
	samples := stop()

	released, ok1 := haFirst(samples, down, func(s haVIPSample) bool { return !s.holds("dir1") })
	took, ok2 := haFirst(samples, down, func(s haVIPSample) bool { return s.holds("dir2") })
	if !ok1 || !ok2 {
		t.Fatalf("after eth1 went down on dir1: dir1 released the VIP %v, dir2 took it %v", ok1, ok2)
	}
	t.Logf("MEASURED dir1 eth1 down -> dir1 released the VIP %s, dir2 held it %s (link up again after %s)",
		haMs(released.at.Sub(down)), haMs(took.at.Sub(down)), haMs(up.Sub(down)))
	var two, notOne int
	for _, s := range samples {
		if len(s.holders) > 1 {
			two++
			if two <= 5 {
				t.Errorf("two VIP holders at %s", s)
			}
		}
		if !s.at.Before(took.at) && (len(s.holders) != 1 || s.holders[0] != "dir2") {
			notOne++
			if notOne <= 5 {
				t.Errorf("after the takeover (%s) the VIP holders at %s: want dir2 alone", took.at.Format("15:04:05.000"), s)
			}
		}
	}
	t.Logf("MEASURED %d VIP samples, %d with two holders, %d after the takeover not dir2 alone", len(samples), two, notOne)

	dir1 := haStateChanges(l.Process("dir1").Output())
	for _, s := range dir1 {
		t.Logf("dir1: %s", s)
	}
	if !slices.ContainsFunc(dir1, func(l string) bool { return strings.Contains(l, "state=FAULT") }) {
		t.Errorf("dir1 never went FAULT")
	}
	if m, b := l.Roles(); m != "dir2" || b != "dir1" {
		t.Errorf("after the flap: master %q, backup %q; want dir2 (it keeps the VIP, nopreempt), dir1", m, b)
	}

	haLogFailures(t, rep, down, "eth1 down")
	margin := 500 * time.Millisecond
	late := rep.Window(took.at.Add(margin), rep.End)
	t.Logf("MEASURED load across the flap: %d requests, %d failed (%v), first failure %s, last %s after the link went down; after takeover + %v: %d failed",
		rep.Sent, rep.Failed, failedClasses(rep.ByClass), haRelTo(rep.FirstFailure, down), haRelTo(rep.LastFailure, down), margin, late.Failed)
	if late.Failed != 0 {
		t.Errorf("%d requests started more than %v after the takeover failed: %v", late.Failed, margin, failedClasses(late.ByClass))
	}
}

func haRelTo(at, ref time.Time) string {
	if at.IsZero() {
		return "none"
	}
	return haMs(at.Sub(ref))
}
