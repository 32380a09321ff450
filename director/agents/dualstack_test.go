package agents

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestServerDualStackAgent: on the default kind of listen address (":port",
// one socket for both families), a dual-stack agent's two identities are
// two agents: the report from 127.0.0.11 opens with the key derived for
// it, the one from ::1 with the key derived for ::1, each is handed on
// with its sender as real_ip and answered to its sender with its key. The
// key of one identity does not open a report from the other.
func TestServerDualStackAgent(t *testing.T) {
	rs6 := netip.MustParseAddr("::1")
	conn, err := Listen(":0")
	if err != nil {
		t.Fatal(err)
	}
	var logs testutil.SyncBuffer
	h := &fakeHandler{}
	s, err := New(conn, h, Options{Key: testKey, AgentKeys: AgentKeysScoped, Log: logger(&logs), LogEvery: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	s.Publish(map[netip.Addr]*View{rs1: {Reply: h.Reply(rs1)}, rs6: {Reply: h.Reply(rs6)}})
	runServer(t, s)
	port := conn.LocalAddr().(*net.UDPAddr).Port
	director := map[netip.Addr]netip.Addr{rs1: netip.MustParseAddr("127.0.0.1"), rs6: rs6} // its address of the agent's family
	for i, ip := range []netip.Addr{rs1, rs6} {
		c := dialFrom(t, ip, net.UDPAddrFromAddrPort(netip.AddrPortFrom(director[ip], uint16(port))))
		report := &hbproto.AgentReport{Node: "web1", RealIP: ip, State: hbproto.StateMaintenance, Reason: "deploy"}
		other := rs6
		if ip == rs6 {
			other = rs1
		}
		wrong, _ := hbproto.NewSealer(agentKey(other), uint64(60+i)).SealAgent(time.Now(), report)
		if out := exchange(t, c, wrong, 200*time.Millisecond); out != nil {
			t.Errorf("%s: a report sealed with %s's key was answered", ip, other)
		}
		// The first report goes to the handler (a worker replies), the
		// same again is answered on the fast path (the batch's write, to
		// an IPv4 agent through the dual-stack socket too).
		agent := hbproto.NewSealer(agentKey(ip), uint64(50+i))
		opener := hbproto.NewOpener(agentKey(ip), 0)
		for n, path := range []string{"handler", "fast path"} {
			if n == 1 {
				testutil.WaitFor(2*time.Second, func() bool { return s.slotOf(ip).inflight.Load() == 0 })
			}
			good, err := agent.SealAgent(time.Now(), report)
			if err != nil {
				t.Fatal(err)
			}
			out := exchange(t, c, good, 2*time.Second)
			if out == nil {
				t.Fatalf("%s, %s: no reply (stats %+v)\n%s", ip, path, s.Stats(), logs.String())
			}
			if _, err := opener.Open("director", out, time.Now()); err != nil {
				t.Errorf("%s, %s: the reply does not open with its key: %v", ip, path, err)
			}
		}
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reports) != 2 || h.reports[0].Agent.RealIP != rs1 || h.reports[1].Agent.RealIP != rs6 || h.reports[1].Peer.Addr() != rs6 {
		t.Errorf("reports %+v: want one from each identity, its sender as real_ip", h.reports)
	}
	if got := s.Stats().Dropped["mac"]; got != 2 {
		t.Errorf("dropped as mac: %d, want 2 (stats %+v)", got, s.Stats())
	}
}
