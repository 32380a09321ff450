package scenarios

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestGuestScenarioV6AppDown: the web app on rs1 crashes (its listeners
// and connections closed) under IPv6 load: its agent sees the listener
// vanish and reports down at once, so rs1 leaves [VIP6]:80 within 1 s (as
// Scenario3AppDown for IPv4); the app back, the probe's rise brings rs1
// back at weight 1. Requests fail only while the dead server was still in
// IPVS (printed); the real servers leak nothing on the LAN (checkND).
func TestGuestScenarioV6AppDown(t *testing.T) {
	l := newV6Lab(t, prodlab.FamilyIPv6)
	rip := prodlab.RSIPs6["rs1"]
	wait := l.loadTo(v6Addr, haMixed(14*time.Second))
	testutil.Settle(3 * time.Second) // load before the crash
	stop := time.Now()
	l.Apps["rs1"].Stop()
	out := l.waitDests("dir1", prodlab.VIP6, "rs1 out of "+prodlab.VIP6, 10*time.Second, absent(rip))
	t.Logf("MEASURED app down on rs1 -> out of [%s]:80 (agent's listener watch): %s", prodlab.VIP6, haMs(out.Sub(stop)))
	if d := out.Sub(stop); d > time.Second {
		t.Errorf("rs1 out after %s, want within 1s through its agent", haMs(d))
	}
	back := time.Now()
	if err := l.Apps["rs1"].Start(); err != nil {
		t.Fatal(err)
	}
	in := l.waitDests("dir1", prodlab.VIP6, "rs1 back at weight 1", 15*time.Second, weightIs(rip, 1))
	t.Logf("MEASURED app back on rs1 -> in [%s]:80 at weight 1: %s", prodlab.VIP6, haMs(in.Sub(back)))
	rep := wait()
	t.Logf("%s: %s", v6Addr, fmtServers(rep))
	haLogFailures(t, rep, stop, "the crash")
	if late := rep.Window(out.Add(500*time.Millisecond), rep.End); late.Failed != 0 {
		t.Errorf("%d requests started 500 ms after rs1 was out failed: %v", late.Failed, late.ByClass)
	}
	if n := rep.Window(in.Add(time.Second), rep.End).PerServer["rs1"]; n == 0 {
		t.Errorf("rs1 answered nothing after it was back")
	}
	l.checkND(l.ndPackets())
}

// TestGuestScenarioV6Reload: under IPv6 load, dir1's rs1 weight on
// [VIP6]:80 edited from 1 to 2 and reloaded through its control socket:
// the new weight in IPVS within 5 s, VRRP not restarted, dir1 still
// MASTER holding VIP6, 0 failed requests.
func TestGuestScenarioV6Reload(t *testing.T) {
	l := newV6Lab(t, prodlab.FamilyIPv6)
	rip := prodlab.RSIPs6["rs1"]
	wait := l.loadTo(v6Addr, haMixed(10*time.Second))
	testutil.Settle(3 * time.Second) // load before the reload
	setV6Weight(t, l.ConfigPath("dir1"), rip, 2)
	start := time.Now()
	took, out := l.reloadDirector("dir1")
	t.Logf("MEASURED reload of dir1 took %s: %s", haMs(took), strings.TrimSpace(out))
	done := l.waitDests("dir1", prodlab.VIP6, "rs1 at weight 2", 5*time.Second, func(d map[string]ipvs.Destination) bool {
		return weightIs(rip, 2)(d) && weightIs(prodlab.RSIPs6["rs2"], 1)(d)
	})
	t.Logf("MEASURED reload -> rs1 at weight 2 in [%s]:80: %s", prodlab.VIP6, haMs(done.Sub(start)))
	rep := wait()
	t.Logf("%s: %s", v6Addr, fmtServers(rep))
	noFailures(t, v6Addr, rep, start, "reload")
	if log := l.Process("dir1").Output(); strings.Contains(log, "vrrp instance restarts") {
		t.Errorf("the reload restarted VRRP")
	}
	if h := l.VIPHolders(); len(h) != 1 || h[0] != "dir1" {
		t.Errorf("after the reload the VIPs are on %v, want dir1 only", h)
	}
	l.checkND(l.ndPackets())
}

// setV6Weight sets the weight of the real server rip in the native YAML
// at path: the first "weight:" line after the line naming rip.
func setV6Weight(t *testing.T, path, rip string, w int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	found := false
	for i := 0; i < len(lines) && !found; i++ {
		if !strings.Contains(lines[i], rip) {
			continue
		}
		for j := i; j < len(lines) && j < i+8; j++ {
			if k := strings.Index(lines[j], "weight:"); k >= 0 {
				lines[j] = lines[j][:k] + "weight: " + strconv.Itoa(w)
				found = true
				break
			}
		}
	}
	if !found {
		t.Fatalf("no weight line for %s in %s:\n%s", rip, path, b)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}
