package scenarios

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The IPv6 scenarios (ipv6_test.go) run e2e/prodlab's Pair with
// PairOptions.Family IPv6 or dual stack, otherwise as the HA scenarios'
// (newHALab): eth1 for the connection sync and the probe, fast_failover
// 200 ms × 5, dir1 MASTER. A capture of every ICMPv6 packet on the LAN
// bridge runs from before the daemons start to the end of the scenario.

// v6Lab is the world of an IPv6 scenario.
type v6Lab struct {
	*haLab
	capt *prodlab.NDCapture
	// macs are the hosts' eth0 MACs by name.
	macs map[string]string
}

// v6Addr is the IPv6 service's address for a dialer.
var v6Addr = "[" + prodlab.VIP6 + "]:80"

// v6Detect is the fast failover's detection time in the lab
// (prodlab.DefaultFastFailover: 200 ms × 5).
const v6Detect = 5 * 200 * time.Millisecond

// newV6Lab builds the pair of family f with the ND capture running from
// before any daemon starts, and checks dir1 MASTER with the lab's VIPs.
func newV6Lab(t *testing.T, f prodlab.Family) *v6Lab {
	t.Helper()
	testutil.InVM(t)
	bin := filepath.Dir(testutil.Bin(t, "tandem-director"))
	testutil.Bin(t, "tandem-backend")
	p, err := prodlab.NewPair(t, prodlab.PairOptions{Bin: bin, Dir: t.TempDir(), SyncLink: true, LogLevel: "debug", Family: f})
	if err != nil {
		t.Fatal(err)
	}
	l := &v6Lab{haLab: &haLab{t: t, Pair: p}, macs: map[string]string{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", p.Logs(80))
		}
	})
	for _, h := range append([]string{"client"}, append(prodlab.Directors, prodlab.RealServers...)...) {
		m, err := p.Net.MAC(h, "eth0")
		if err != nil {
			t.Fatal(err)
		}
		l.macs[h] = m.String()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if l.capt, err = prodlab.StartNDCapture(ctx, p.Net, ""); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED %s pair set up (sorry, real servers, directors, probe session, IPVS) in %s", f, haMs(time.Since(start)))
	if m, b := p.Roles(); m != "dir1" || b != "dir2" {
		t.Fatalf("after start: master %q, backup %q; want dir1, dir2", m, b)
	}
	if h := p.VIPHolders(); len(h) != 1 || h[0] != "dir1" {
		t.Fatalf("after start the VIPs %v are on %v, want dir1 only", f.VIPs(), h)
	}
	return l
}

// loadTo starts a bounded load from the client to addr ("host:port"; cfg's
// Target address, dial and expected servers are filled in) and returns a
// function that waits for its report.
func (l *v6Lab) loadTo(addr string, cfg loadgen.Config) func() *loadgen.Report {
	l.t.Helper()
	cfg.Target.Addr = addr
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

// ndPackets stops the capture (the client's sentinel to dir2, which is up
// in every scenario) and returns what it saw.
func (l *v6Lab) ndPackets() []prodlab.NDPacket {
	l.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pk, err := l.capt.Stop(ctx, "client", prodlab.DirIPs6["dir2"])
	if err != nil {
		l.t.Fatal(err)
	}
	return pk
}

// checkND fails the test if the capture holds a packet by which a real
// server could draw a VIP's traffic (prodlab.NDLeaks: an NA for the VIP,
// an RA, a redirect, ND from the VIP) or an NA for the VIP from any host
// but a director; and, so that the capture is known to see such packets,
// if it holds no NA for the VIP from dir1 (its unsolicited NAs on
// becoming master, its answers to the client's solicitations).
func (l *v6Lab) checkND(pk []prodlab.NDPacket) {
	l.t.Helper()
	rsMACs := []string{l.macs["rs1"], l.macs["rs2"]}
	leaks := prodlab.NDLeaks(pk, rsMACs, []string{prodlab.VIP6})
	var others []string
	for _, p := range pk {
		if p.Kind == "NA" && p.Target == prodlab.VIP6 && p.SrcMAC != l.macs["dir1"] && p.SrcMAC != l.macs["dir2"] {
			others = append(others, p.Line)
		}
	}
	rsNS := prodlab.NDCount(pk, l.macs["rs1"], "NS", "") + prodlab.NDCount(pk, l.macs["rs2"], "NS", "")
	l.t.Logf("MEASURED ND capture of the LAN: %d ICMPv6 packets; NA for the VIP: dir1 %d, dir2 %d, others %d; NS for the VIP from the client %d; NS from the real servers %d; real server leaks %d",
		len(pk), prodlab.NDCount(pk, l.macs["dir1"], "NA", prodlab.VIP6), prodlab.NDCount(pk, l.macs["dir2"], "NA", prodlab.VIP6), len(others),
		prodlab.NDCount(pk, l.macs["client"], "NS", prodlab.VIP6), rsNS, len(leaks))
	for i, p := range leaks {
		if i < 10 {
			l.t.Errorf("a real server leaked the VIP on the LAN: %s", p.Line)
		}
	}
	for i, line := range others {
		if i < 10 {
			l.t.Errorf("an NA for the VIP from a host that is no director: %s", line)
		}
	}
	if prodlab.NDCount(pk, l.macs["dir1"], "NA", prodlab.VIP6) == 0 {
		l.t.Errorf("the capture holds no NA for the VIP from dir1, the master: it cannot be trusted to see one\n%s", prodlab.Tail(l.capt.Output(), 40))
	}
}

// clientNeigh is the MAC of the client's neighbour entry for VIP6 ("" if
// none or incomplete), read through netlink.
func (l *v6Lab) clientNeigh() string {
	h, err := l.Net.Netlink("client")
	if err != nil {
		return ""
	}
	lk, err := h.LinkByName("eth0")
	if err != nil {
		return ""
	}
	ns, err := h.NeighList(lk.Attrs().Index, netlink.FAMILY_V6)
	if err != nil {
		return ""
	}
	vip := net.ParseIP(prodlab.VIP6)
	for _, n := range ns {
		if n.IP.Equal(vip) && len(n.HardwareAddr) == 6 {
			return n.HardwareAddr.String()
		}
	}
	return ""
}

// neighSample is the client's entry for VIP6 at one moment.
type neighSample struct {
	at  time.Time
	mac string
}

// sampleNeigh reads the client's entry for VIP6 every period until stop.
func (l *v6Lab) sampleNeigh(period time.Duration) (stop func() []neighSample) {
	stop, _ = sampleEvery(l.t, period, func() neighSample { return neighSample{at: time.Now(), mac: l.clientNeigh()} })
	return stop
}

// host names a MAC of the lab ("" if unknown).
func (l *v6Lab) host(mac string) string {
	for h, m := range l.macs {
		if m == mac {
			return h
		}
	}
	return ""
}

// waitDests polls director d's IPVS service vip:80 until cond holds and
// returns when; it fails the test after limit.
func (l *v6Lab) waitDests(d, vip, what string, limit time.Duration, cond func(map[string]ipvs.Destination) bool) time.Time {
	l.t.Helper()
	at, err := l.WaitIPVSOf(d, vip, what, limit, cond)
	if err != nil {
		l.t.Fatal(err)
	}
	return at
}

// maintenanceWait runs `tandem-backend maintenance on --wait` on rs in the
// background; the channel gets its output and when it returned.
func (l *v6Lab) maintenanceWait(rs, reason string) <-chan v6CLI {
	done := make(chan v6CLI, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		out, err := l.Backend(ctx, rs, "maintenance", "on", "--wait", "--timeout", "60s", "--reason", reason)
		done <- v6CLI{out: out, err: err, end: time.Now()}
	}()
	return done
}

// v6CLI is a CLI run's output, error and end.
type v6CLI struct {
	out string
	err error
	end time.Time
}

// checkWait fails the test unless `maintenance on --wait` returned (within
// limit) without error and reported a drain; it returns when it did.
func checkWait(t *testing.T, done <-chan v6CLI, start time.Time, limit time.Duration) time.Time {
	t.Helper()
	select {
	case r := <-done:
		t.Logf("maintenance on --wait returned after %s:\n%s", haMs(r.end.Sub(start)), strings.TrimSpace(r.out))
		if r.err != nil || !strings.Contains(r.out, "drained after") {
			t.Errorf("maintenance on --wait did not report a drain (err %v)", r.err)
		}
		return r.end
	case <-time.After(limit):
		t.Fatalf("maintenance on --wait did not return within %v", limit)
	}
	return time.Time{}
}

// noFailures fails the test for any failed request of rep, each listed.
func noFailures(t *testing.T, what string, rep *loadgen.Report, event time.Time, eventName string) {
	t.Helper()
	if rep.Failed == 0 {
		return
	}
	haLogFailures(t, rep, event, eventName)
	t.Errorf("%s: %d requests failed: %v %v", what, rep.Failed, failedClasses(rep.ByClass), rep.Errors)
}

// fmtServers prints a report's answers per server.
func fmtServers(rep *loadgen.Report) string {
	return fmt.Sprintf("rs1 %d, rs2 %d, failed %d", rep.PerServer["rs1"], rep.PerServer["rs2"], rep.Failed)
}
