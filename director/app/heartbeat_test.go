package app

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The heartbeat tests put the real servers on loopback addresses, so that
// each agent can send from its own real IP (the director checks it).
var (
	loRS1 = netip.MustParseAddr("127.0.0.11")
	loRS2 = netip.MustParseAddr("127.0.0.12")
)

// loopbackConfig is testConfig with the real servers at loRS1 and loRS2.
func loopbackConfig(dir string, weight1 int, heartbeatExtra string) string {
	c := testConfig(dir, weight1, "")
	c = strings.ReplaceAll(c, "192.0.2.11", loRS1.String())
	c = strings.ReplaceAll(c, "192.0.2.12", loRS2.String())
	return strings.Replace(c, "  interval: 1s\n", "  interval: 1s\n"+heartbeatExtra, 1)
}

func loopbackLoaded(weight1 int) lvs.ServiceState {
	s := loaded(weight1)
	s.Destinations[0].Addr, s.Destinations[1].Addr = loRS1, loRS2
	return s
}

// harnessSecret is the cluster secret the harness writes.
var harnessSecret = []byte(strings.Repeat("k", 32))

// dialAgent opens a UDP socket from ip to the director's heartbeat port.
func dialAgent(t *testing.T, h *harness, ip netip.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)), h.a.HeartbeatAddr().(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// readReply waits (bounded) for one datagram on c; nil if none.
func readReply(c *net.UDPConn, wait time.Duration) []byte {
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, hbproto.MaxDatagram)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// TestHeartbeatReplyAndMaintenance: an agent in maintenance gets weight 0
// at once, and the reply to that very report says so, with the role, the
// connection counters and the echo of the report, sealed with the agent's
// own key. A forged report (another key) is dropped and counted.
func TestHeartbeatReplyAndMaintenance(t *testing.T) {
	h := start(t, loopbackConfig("DIR", 1, ""), func(_ string, f *fakeIPVS) { f.Load(loopbackLoaded(1)) })
	h.ipvs.SetConns("TCP 192.0.2.100:80", "127.0.0.11:80", 2, 5)
	h.driver("VI0").set(vrrp.StateMaster)
	h.status()
	testutil.WaitFor(5*time.Second, func() bool { return h.status().Services[0].RealServers[0].Active == 2 })
	h.ipvs.Reset()
	key := hbproto.DeriveAgentKey(harnessSecret, loRS1)
	c := dialAgent(t, h, loRS1)
	b, _ := hbproto.NewSealer(key, 7).SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: loRS1, State: hbproto.StateMaintenance, Reason: "deploy"})
	c.Write(b)
	out := readReply(c, 3*time.Second)
	if out == nil {
		t.Fatal("no reply")
	}
	m, err := hbproto.NewOpener(key, 0).Open("director", out, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster, Destinations: []hbproto.DestinationStatus{{
		Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort("127.0.0.11:80"), Weight: 0, ConfiguredWeight: 1,
		ActiveConns: 2, InactiveConns: 5, Pool: hbproto.PoolDraining}}, Echo: &hbproto.ReplyEcho{Session: 7, Seq: 1}}
	if diff := cmp.Diff(want, *m.Director, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("reply (-want +got)\n%s", diff)
	}
	if got, want := h.ipvs.CallStrings(), []string{"UpdateDestination TCP 192.0.2.100:80 127.0.0.11:80 weight=0 DR"}; !cmp.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	st := h.status()
	if len(st.Agents) != 1 || st.Agents[0].State != "maintenance" || !st.Agents[0].Known || st.Heartbeat.Accepted != 1 {
		t.Errorf("agents %+v heartbeat %+v", st.Agents, st.Heartbeat)
	}
	forged, _ := hbproto.NewSealer([]byte(strings.Repeat("x", 32)), 8).SealAgent(time.Now(), &hbproto.AgentReport{Node: "evil", RealIP: loRS2, State: hbproto.StateMaintenance})
	dialAgent(t, h, loRS2).Write(forged)
	waitDropped(t, h, "mac", 1)
	if st := h.status(); st.Services[0].RealServers[1].State != "up" {
		t.Errorf("forged report: rs2 %s", st.Services[0].RealServers[1].State)
	}
}

func waitDropped(t *testing.T, h *harness, reason string, n uint64) {
	t.Helper()
	testutil.WaitFor(5*time.Second, func() bool { return h.status().Heartbeat.Dropped[reason] == n })
	if got := h.status().Heartbeat.Dropped[reason]; got != n {
		t.Fatalf("dropped[%s] = %d, want %d (%+v)", reason, got, n, h.status().Heartbeat)
	}
}

// TestHeartbeatStolenKeyCannotDrainOthers: the holder of rs1's key (a
// compromised real server) reports "maintenance" for rs2, from its own
// address and from rs2's: both are dropped and rs2 is not drained. The
// cluster secret from rs1's address (agent_keys both) cannot speak for rs2
// either.
func TestHeartbeatStolenKeyCannotDrainOthers(t *testing.T) {
	h := start(t, loopbackConfig("DIR", 1, ""), func(_ string, f *fakeIPVS) { f.Load(loopbackLoaded(1)) })
	h.status()
	h.ipvs.Reset()
	stolen := hbproto.DeriveAgentKey(harnessSecret, loRS1)
	claim := &hbproto.AgentReport{Node: "rs2", RealIP: loRS2, State: hbproto.StateMaintenance, Reason: "forged"}
	for i, tt := range []struct {
		from   netip.Addr
		key    []byte
		reason string
		n      uint64
	}{
		{loRS1, stolen, "real_ip", 1},
		{loRS2, stolen, "mac", 1},
		{loRS1, harnessSecret, "real_ip", 2},
	} {
		b, _ := hbproto.NewSealer(tt.key, uint64(20+i)).SealAgent(time.Now(), claim)
		c := dialAgent(t, h, tt.from)
		c.Write(b)
		if out := readReply(c, 200*time.Millisecond); out != nil {
			t.Errorf("case %d: forged report answered", i)
		}
		waitDropped(t, h, tt.reason, tt.n)
	}
	st := h.status()
	if rs := st.Services[0].RealServers[1]; rs.State != "up" {
		t.Errorf("rs2 is %s after forged reports", rs.State)
	}
	if len(st.Agents) != 0 {
		t.Errorf("agents %+v", st.Agents)
	}
	if calls := h.ipvs.CallStrings(); len(calls) != 0 {
		t.Errorf("IPVS calls after forged reports: %v", calls)
	}
}

// TestHeartbeatAgentKeysModes: a legacy agent (cluster key) is heard in
// the default mode (both) with a warning that says how to fix it, and
// dropped in scoped mode; a key derived from previous_key_file is heard.
func TestHeartbeatAgentKeysModes(t *testing.T) {
	old := []byte(strings.Repeat("o", 32))
	for _, tt := range []struct {
		name  string
		extra string
		key   []byte
		heard bool
		log   string
	}{
		{"legacy agent, default both", "", harnessSecret, true, "keys derive --real-ip 127.0.0.11"},
		{"legacy agent, scoped", "  agent_keys: scoped\n", harnessSecret, false, ""},
		{"derived agent, scoped", "  agent_keys: scoped\n", hbproto.DeriveAgentKey(harnessSecret, loRS1), true, ""},
		{"previous secret's agent key, scoped", "  agent_keys: scoped\n  previous_key_file: DIR/old\n", hbproto.DeriveAgentKey(old, loRS1), true, ""},
		{"previous secret's agent key, no previous_key_file", "  agent_keys: scoped\n", hbproto.DeriveAgentKey(old, loRS1), false, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, loopbackConfig("DIR", 1, tt.extra), func(dir string, f *fakeIPVS) {
				writeKey(t, dir+"/old", old)
				f.Load(loopbackLoaded(1))
			})
			c := dialAgent(t, h, loRS1)
			b, _ := hbproto.NewSealer(tt.key, 3).SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: loRS1, State: hbproto.StateUp})
			c.Write(b)
			wait := time.Second
			if !tt.heard {
				// The drop is counted before a reply could be sent: once it
				// is, no reply is coming and the test need not sit out the
				// second a reply may take.
				testutil.WaitFor(5*time.Second, func() bool { return droppedTotal(h) > 0 })
				wait = 50 * time.Millisecond
			}
			out := readReply(c, wait)
			if (out != nil) != tt.heard {
				t.Fatalf("heard %v, want %v (%+v)", out != nil, tt.heard, h.status().Heartbeat)
			}
			if out != nil {
				if _, err := hbproto.NewOpener(tt.key, 0).Open("lb1", out, time.Now()); err != nil {
					t.Errorf("reply does not open with the agent's key: %v", err)
				}
			}
			if tt.log != "" && !strings.Contains(h.logs.String(), tt.log) {
				t.Errorf("log lacks %q:\n%s", tt.log, h.logs.String())
			}
			if out != nil {
				// status marks the agents a migration has not reached yet.
				legacy := bytes.Equal(tt.key, harnessSecret)
				for _, ag := range h.status().Agents {
					if ag.RealIP == loRS1.String() && ag.ClusterKey != legacy {
						t.Errorf("status: agent %s cluster_key %v, want %v", ag.RealIP, ag.ClusterKey, legacy)
					}
				}
			}
		})
	}
}

// TestHeartbeatStrayAgentsBounded: agents whose real IP is no real server
// here are remembered up to maxStrayAgents; configured ones always.
func TestHeartbeatStrayAgentsBounded(t *testing.T) {
	h := start(t, loopbackConfig("DIR", 1, ""), nil)
	// Queued without waiting for each (the main loop takes them in order
	// and in batches); the configured agent's, last, is waited for.
	for i := 0; i < maxStrayAgents+10; i++ {
		ip := netip.MustParseAddr(fmt.Sprintf("10.%d.%d.1", i>>8, i&0xff))
		h.a.events <- agentEvent{r: agentReport(ip, hbproto.StateUp)}
	}
	h.agent(loRS1.String(), hbproto.StateUp)
	st := h.status()
	if len(st.Agents) != maxStrayAgents+1 {
		t.Errorf("%d agents in the table, want %d strays + 1 configured", len(st.Agents), maxStrayAgents)
	}
	found := false
	for _, ag := range st.Agents {
		found = found || (ag.RealIP == loRS1.String() && ag.Known)
	}
	if !found {
		t.Error("the configured real server's agent is not in the table")
	}
}

// droppedTotal is the count of reports dropped, for any reason.
func droppedTotal(h *harness) uint64 {
	var n uint64
	for _, c := range h.status().Heartbeat.Dropped {
		n += c
	}
	return n
}

// writeKey writes a key file, mode 0600.
func writeKey(t *testing.T, path string, key []byte) {
	t.Helper()
	if err := os.WriteFile(path, append(append([]byte(nil), key...), '\n'), 0o600); err != nil {
		t.Fatal(err)
	}
}
