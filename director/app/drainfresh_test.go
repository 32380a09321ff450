package app

import (
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestDrainWaitsForTheKernelsConnections: a drain started long after the
// main loop last read the table (it reads for drains only) still waits
// for the connections the kernel holds: the first drain read must not
// find "none left" in stale or missing counters.
func TestDrainWaitsForTheKernelsConnections(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)
	if err := h.ipvs.SetConns("TCP 192.0.2.100:80", "192.0.2.11:80", 4, 0); err != nil {
		t.Fatal(err)
	}
	var res control.DrainResult
	if err := h.call(control.OpDrain, control.DrainArgs{Target: "192.0.2.11:80", Reason: "patching"}, &res); err != nil {
		t.Fatalf("drain: %v", err)
	}
	// Several drain reads (every 200 ms).
	testutil.Settle(time.Second)
	if rs := h.status().Services[0].RealServers[0]; rs.State != "draining" {
		t.Fatalf("with 4 active connections in the kernel: %s, want draining", rs.State)
	}
	if err := h.ipvs.SetConns("TCP 192.0.2.100:80", "192.0.2.11:80", 0, 0); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return h.status().Services[0].RealServers[0].State == "drained" }, "not drained once the connections ended")
}

// TestMaintenanceReplyCountsFreshConnections: the loop reads the table
// for drains only, so its counters of a server that was not draining are
// stale; the reply to the report that starts the drain, which
// `maintenance on --wait` trusts, must carry the kernel's counters, not
// "0 active" (which would end the wait at once).
func TestMaintenanceReplyCountsFreshConnections(t *testing.T) {
	h := start(t, loopbackConfig("DIR", 1, ""), func(_ string, f *fakeIPVS) { f.Load(loopbackLoaded(1)) })
	// After the start's read: the loop has not seen these.
	if err := h.ipvs.SetConns("TCP 192.0.2.100:80", "127.0.0.11:80", 3, 1); err != nil {
		t.Fatal(err)
	}
	key := hbproto.DeriveAgentKey(harnessSecret, loRS1)
	c := dialAgent(t, h, loRS1)
	b, _ := hbproto.NewSealer(key, 7).SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: loRS1, State: hbproto.StateMaintenance, Reason: "deploy"})
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	out := readReply(c, 3*time.Second)
	if out == nil {
		t.Fatal("no reply")
	}
	m, err := hbproto.NewOpener(key, 0).Open("director", out, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Director.Destinations) != 1 {
		t.Fatalf("reply destinations %+v", m.Director.Destinations)
	}
	if d := m.Director.Destinations[0]; d.Weight != 0 || d.ActiveConns != 3 || d.InactiveConns != 1 {
		t.Errorf("reply to the maintenance report: weight %d, %d active, %d inactive; want 0, 3, 1 (the kernel's)", d.Weight, d.ActiveConns, d.InactiveConns)
	}
}
