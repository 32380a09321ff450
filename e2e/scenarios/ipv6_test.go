package scenarios

import (
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// v6Drain drains rs1 with `maintenance on --wait` under load on every
// service of the lab (addrs: loadgen addresses; vips: the services' VIPs,
// in the same order): each address gets a keep-alive generator (10
// requests/s over 4 connections, 9 s, started 1 s before the rest so that
// lc deals rs1 some of them: the drain has connections to wait for) and
// new connections at rate/len(addrs) for 18 s. rs1 goes to weight 0 on
// every service within 5 s of the command (a CLI start under TCG), then
// out of each once its keep-alive connections closed; --wait returns; rs1
// answers nothing afterwards; maintenance off brings it back on every
// service; no request fails on any address.
func v6Drain(t *testing.T, l *v6Lab, addrs, vips []string) {
	t.Helper()
	rips := map[string]string{}
	for _, s := range l.Family().Services() {
		rips[s.VIP] = s.RIPs["rs1"]
	}
	var waitKA, waitNew []func() *loadgen.Report
	for _, a := range addrs {
		waitKA = append(waitKA, l.loadTo(a, loadgen.Config{Rate: 10, Duration: 9 * time.Second, KeepAliveRatio: 1, KeepAliveConns: 4}))
	}
	testutil.Settle(time.Second) // the keep-alive generators start alone
	for _, a := range addrs {
		waitNew = append(waitNew, l.loadTo(a, loadgen.Config{Rate: float64(rate) / float64(len(addrs)), Duration: 18 * time.Second}))
	}
	testutil.Settle(3 * time.Second) // load before the maintenance
	for _, v := range vips {
		d := l.DestsOf("dir1", v)[rips[v]]
		t.Logf("rs1 on %s before the maintenance: weight %d, %d active, %d inactive connections", v, d.Weight, d.ActiveConnections, d.InactiveConnections)
		if d.ActiveConnections == 0 {
			t.Errorf("rs1 holds no active connection on %s before the maintenance: the drain would have nothing to wait for", v)
		}
	}

	start := time.Now()
	done := l.maintenanceWait("rs1", "v6 scenario")
	zero := map[string]time.Time{}
	for _, v := range vips {
		zero[v] = l.waitDests("dir1", v, "rs1 at weight 0 on "+v, 5*time.Second, func(d map[string]ipvs.Destination) bool {
			x, ok := d[rips[v]]
			return ok && x.Weight == 0
		})
		t.Logf("MEASURED maintenance on (CLI start) -> rs1 at weight 0 on %s: %s", v, haMs(zero[v].Sub(start)))
	}
	out := map[string]time.Time{}
	for _, v := range vips {
		out[v] = l.waitDests("dir1", v, "rs1 out of "+v+" once drained", 30*time.Second, absent(rips[v]))
		t.Logf("MEASURED maintenance on (CLI start) -> rs1 drained and out of %s: %s", v, haMs(out[v].Sub(start)))
	}
	drained := checkWait(t, done, start, 60*time.Second)
	for _, v := range vips {
		if drained.Before(out[v]) {
			t.Errorf("--wait returned at %s, before rs1 was out of %s at %s", drained.Format("15:04:05.000"), v, out[v].Format("15:04:05.000"))
		}
	}
	testutil.Settle(2 * time.Second) // load with rs1 in maintenance: it must answer nothing
	offAt := time.Now()
	if o, err := l.Backend(t.Context(), "rs1", "maintenance", "off"); err != nil {
		t.Fatalf("maintenance off: %v\n%s", err, o)
	}
	for _, v := range vips {
		back := l.waitDests("dir1", v, "rs1 back at weight 1 on "+v, 15*time.Second, weightIs(rips[v], 1))
		t.Logf("MEASURED maintenance off -> rs1 at weight 1 on %s: %s", v, haMs(back.Sub(offAt)))
	}
	for i, a := range addrs {
		ka, nc := waitKA[i](), waitNew[i]()
		t.Logf("%s: keep-alive %s; new connections %s", a, fmtServers(ka), fmtServers(nc))
		noFailures(t, a+" keep-alive connections", ka, start, "maintenance on")
		noFailures(t, a+" new connections", nc, start, "maintenance on")
		if n := nc.Window(nc.Start, start).PerServer["rs1"] + ka.Window(ka.Start, start).PerServer["rs1"]; n == 0 {
			t.Errorf("%s: rs1 answered nothing before the maintenance", a)
		}
		if n := nc.Window(drained.Add(500*time.Millisecond), offAt).PerServer["rs1"]; n != 0 {
			t.Errorf("%s: rs1 answered %d new connections started after --wait returned", a, n)
		}
		if n := nc.Window(nc.Start, nc.End).PerServer["rs2"]; n == 0 {
			t.Errorf("%s: rs2 answered nothing", a)
		}
	}
}

// TestGuestScenarioV6Drain: the pair serving VIP6 only ([VIP6]:80, VRRP v3,
// the real servers' VIP6 on lo as /128 through tandem-backend, heartbeats
// over IPv6). `tandem-backend maintenance on --wait` on rs1 under IPv6 load
// (v6Drain): weight 0, then out once drained, --wait returns, 0 failed
// requests. The capture of the LAN from before the daemons started to the
// end holds no NA for the VIP but the directors', and nothing by which a
// real server could draw the VIP's traffic (checkND).
func TestGuestScenarioV6Drain(t *testing.T) {
	l := newV6Lab(t, prodlab.FamilyIPv6)
	if o, err := l.Net.Exec("rs1", "ip", "-6", "addr", "show", "dev", "lo"); err == nil {
		t.Logf("rs1's lo:\n%s", o)
	}
	if o, err := l.Net.Exec("dir1", "ipvsadm", "-Ln"); err == nil {
		t.Logf("ipvsadm -Ln on dir1:\n%s", o)
	}
	v6Drain(t, l, []string{v6Addr}, []string{prodlab.VIP6})
	l.checkND(l.ndPackets())
}

// TestGuestScenarioV6Failover: under IPv6 load (40 requests/s, a quarter
// over 4 keep-alive connections) the master dies: SIGKILL, then its links
// down, as HA1. VIP6 moves to dir2 (sampled every 10 ms); a probe of new
// connections every 20 ms is answered again within the fast failover's
// detection time plus 1 s (plain VRRP would wait 3.61 s to notice); dir2
// took over through the fast failover. The capture holds
// dir2's unsolicited NA for VIP6 (to ff02::1), the client's neighbour
// entry for VIP6 (sampled every 10 ms) points at dir2's MAC after the
// takeover, and no request started later than 500 ms after the probe's
// first answer fails; the real servers leak nothing (checkND).
func TestGuestScenarioV6Failover(t *testing.T) {
	l := newV6Lab(t, prodlab.FamilyIPv6)
	cfg := haMixed(12 * time.Second)
	cfg.Target.Timeout = 3 * time.Second
	wait := l.loadTo(v6Addr, cfg)
	testutil.Settle(4 * time.Second) // load before the kill
	before := l.clientNeigh()
	t.Logf("client's entry for the VIP before the kill: %s (%s)", before, l.host(before))
	if before != l.macs["dir1"] {
		t.Errorf("the client's entry for the VIP is %q before the kill, want dir1's %s", before, l.macs["dir1"])
	}
	stopVIP := l.sampleVIP(10 * time.Millisecond)
	stopNeigh := l.sampleNeigh(10 * time.Millisecond)
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
	// The probe starts once the links are down: until then dir1's kernel
	// still forwards to the real servers (IPVS outlives the daemon).
	t.Logf("dir1 killed and its links down %s after the kill", haMs(time.Since(killed)))
	probe, perr := loadgen.Probe(t.Context(), loadgen.ProbeConfig{
		Target:      loadgen.Target{Addr: v6Addr, Dial: l.Net.DialContext("client"), Timeout: 300 * time.Millisecond, Expected: []string{"rs1", "rs2"}},
		Interval:    20 * time.Millisecond,
		MaxDuration: 10 * time.Second,
	}, killed)
	testutil.WaitFor(6*time.Second, func() bool { return l.HasVIP("dir2") })
	testutil.Settle(time.Second) // the client's entry settles; the load goes on on dir2
	vips, neigh := stopVIP(), stopNeigh()
	rep := wait()

	took, ok := haFirst(vips, killed, func(s haVIPSample) bool { return s.holds("dir2") })
	if !ok {
		t.Fatalf("dir2 never took VIP6 after the master died")
	}
	// The dead dir1 keeps VIP6 in its namespace, unreachable with its links
	// down: only dir2's hold counts.
	t.Logf("MEASURED master SIGKILL -> dir2 holds VIP6: %s", haMs(took.at.Sub(killed)))
	bound := v6Detect + time.Second
	if perr != nil || !probe.Recovered {
		t.Errorf("no new connection to [VIP6]:80 answered within 10 s of the kill: %v", perr)
	} else {
		t.Logf("MEASURED master SIGKILL -> first new IPv6 connection answered: %s (bound: detection %s + 1 s = %s; plain VRRP notices after 3.61 s)",
			haMs(probe.Recovery), v6Detect, bound)
		if probe.Recovery > bound {
			t.Errorf("new connections answered again %s after the kill, want within %s", haMs(probe.Recovery), bound)
		}
	}
	st, err := l.Status("dir2")
	if err != nil || st.Role != "master" {
		t.Errorf("dir2 after the takeover: role %q (%v), want master", st.Role, err)
	} else if st.FastFailover == nil || st.FastFailover.Takeovers == 0 {
		t.Errorf("dir2 took over without the fast failover: %+v", st.FastFailover)
	} else {
		t.Logf("dir2 fast failover: session %s, takeovers %d", st.FastFailover.Session, st.FastFailover.Takeovers)
	}

	// The client's neighbour entry follows the new master.
	var moved time.Time
	for _, s := range neigh {
		if s.mac == l.macs["dir2"] {
			moved = s.at
			break
		}
	}
	after := l.clientNeigh()
	t.Logf("client's entry for VIP6 after the takeover: %s (%s)", after, l.host(after))
	if after != l.macs["dir2"] {
		t.Errorf("the client's entry for VIP6 is %q (%s) after the takeover, want dir2's %s", after, l.host(after), l.macs["dir2"])
	}
	if moved.IsZero() {
		t.Errorf("the client's entry for VIP6 never pointed at dir2 while sampled (until %s after the kill)", haMs(neigh[len(neigh)-1].at.Sub(killed)))
	} else {
		t.Logf("MEASURED the client's entry for VIP6 pointed at dir2 %s after dir2 held VIP6 (%s after the kill)", haMs(moved.Sub(took.at)), haMs(moved.Sub(killed)))
	}

	// dir2's unsolicited NA for VIP6, on the wire.
	pk := l.ndPackets()
	var na []prodlab.NDPacket
	for _, p := range pk {
		if p.Kind == "NA" && p.Target == prodlab.VIP6 && p.SrcMAC == l.macs["dir2"] && p.Dst == "ff02::1" && !p.At.Before(killed) {
			na = append(na, p)
		}
	}
	if len(na) == 0 {
		t.Errorf("the capture holds no unsolicited NA for VIP6 from dir2 after the kill\n%s", prodlab.Tail(l.capt.Output(), 40))
	} else {
		t.Logf("MEASURED dir2's unsolicited NAs for VIP6: %d, the first %s after dir2 held VIP6: %s", len(na), haMs(na[0].At.Sub(took.at)), na[0].Line)
	}
	l.checkND(pk)

	haLogFailures(t, rep, killed, "the kill")
	if probe.Recovered {
		late := rep.Window(probe.FirstOK.Add(500*time.Millisecond), rep.End)
		t.Logf("MEASURED load across the kill: %d requests, %d failed (%v); started after the first answer + 500 ms: %d failed",
			rep.Sent, rep.Failed, failedClasses(rep.ByClass), late.Failed)
		if late.Failed != 0 {
			t.Errorf("%d requests started more than 500 ms after service was back failed: %v", late.Failed, failedClasses(late.ByClass))
		}
	}
}

// TestGuestScenarioV6DualStack: one service, www, on VIP and VIP6 (two
// virtual_servers, VI0 and VI6 in the sync group VG_WWW, as an operator
// adds IPv6 to the seed's file); each agent reports for both addresses of
// its server. The client reaches both through dir1, served by both real
// servers; `maintenance on --wait` on rs1 drains it from both services
// (v6Drain): weight 0 on both, out of both, 0 failed requests on either
// family. Nothing of the real servers' leaks into neighbour discovery.
func TestGuestScenarioV6DualStack(t *testing.T) {
	l := newV6Lab(t, prodlab.FamilyDual)
	if o, err := l.Net.Exec("dir1", "ipvsadm", "-Ln"); err == nil {
		t.Logf("ipvsadm -Ln on dir1:\n%s", o)
	}
	if st, err := l.Status("dir1"); err == nil {
		for _, in := range st.VRRP {
			t.Logf("dir1 %s: v%d %s %v sync group %s", in.Instance, in.Version, in.State, in.VIPs, in.SyncGroup)
			if in.State != "MASTER" {
				t.Errorf("dir1's %s is %s, want MASTER", in.Instance, in.State)
			}
		}
	}
	v6Drain(t, l, []string{prodlab.VIP + ":80", v6Addr}, []string{prodlab.VIP, prodlab.VIP6})
	l.checkND(l.ndPackets())
}
