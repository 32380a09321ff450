package agents

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestServerRealIPIsSender: with rs1's key, a report claiming rs2 is
// dropped (reason real_ip) whether it comes from rs1's address or from
// rs2's; the application never sees it.
func TestServerRealIPIsSender(t *testing.T) {
	var logs testutil.SyncBuffer
	s, h, addr := start(t, &logs)
	claimRS2 := &hbproto.AgentReport{Node: "evil", RealIP: rs2, State: hbproto.StateMaintenance, Reason: "forged"}
	tests := []struct {
		name   string
		from   netip.Addr
		key    []byte
		reason string
	}{
		{"rs1's key from rs1 claiming rs2", rs1, agentKey(rs1), ReasonRealIP},
		{"rs1's key from rs2 claiming rs2", rs2, agentKey(rs1), "mac"},
		{"cluster key from rs1 claiming rs2 (both)", rs1, testKey, ReasonRealIP},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := s.Stats().Dropped[tt.reason]
			b, err := hbproto.NewSealer(tt.key, uint64(100+i)).SealAgent(time.Now(), claimRS2)
			if err != nil {
				t.Fatal(err)
			}
			if out := exchange(t, dialFrom(t, tt.from, addr), b, 200*time.Millisecond); out != nil {
				t.Error("got a reply")
			}
			if got := s.Stats().Dropped[tt.reason]; got != before+1 {
				t.Errorf("dropped[%s] = %d, want %d (stats %+v)", tt.reason, got, before+1, s.Stats())
			}
		})
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.reports) != 0 {
		t.Errorf("the application saw %d forged reports: %+v", len(h.reports), h.reports)
	}
	if !strings.Contains(logs.String(), "heartbeat from 127.0.0.11: real_ip 127.0.0.12 is not the sender") {
		t.Errorf("log lacks the real_ip reason:\n%s", logs.String())
	}
}

// TestServerAgentKeys: which keys open a report in each mode, and that the
// reply is sealed with the key that opened the report.
func TestServerAgentKeys(t *testing.T) {
	oldSecret := []byte("the previous secret, rotated out!")
	other := []byte("some other cluster secret entirely")
	keys := map[string][]byte{
		"derived":          agentKey(rs1),
		"cluster":          testKey,
		"previous derived": hbproto.DeriveAgentKey(oldSecret, rs1),
		"previous secret":  oldSecret,
		"foreign derived":  hbproto.DeriveAgentKey(other, rs1),
	}
	tests := []struct {
		mode     string
		previous []byte
		accepted []string
	}{
		{AgentKeysScoped, nil, []string{"derived"}},
		{AgentKeysScoped, oldSecret, []string{"derived", "previous derived"}},
		{AgentKeysBoth, nil, []string{"derived", "cluster"}},
		{"", nil, []string{"derived", "cluster"}},
		{AgentKeysCluster, oldSecret, []string{"derived", "cluster", "previous derived"}},
	}
	for _, tt := range tests {
		for name, key := range keys {
			t.Run(tt.mode+"/previous="+boolStr(tt.previous != nil)+"/"+name, func(t *testing.T) {
				var logs testutil.SyncBuffer
				_, h, addr := startWith(t, &logs, Options{Key: testKey, PreviousKey: tt.previous, AgentKeys: tt.mode})
				b, err := hbproto.NewSealer(key, 1).SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: hbproto.StateUp})
				if err != nil {
					t.Fatal(err)
				}
				out := exchange(t, dialFrom(t, rs1, addr), b, 150*time.Millisecond)
				want := contains(tt.accepted, name)
				if (out != nil) != want {
					t.Fatalf("accepted %v, want %v", out != nil, want)
				}
				if out == nil {
					return
				}
				if _, err := hbproto.NewOpener(key, 0).Open("lb1", out, time.Now()); err != nil {
					t.Errorf("the reply does not open with the key of the report: %v", err)
				}
				legacy := name == "cluster"
				h.mu.Lock()
				if len(h.reports) != 1 || h.reports[0].Legacy != legacy {
					t.Errorf("reports %+v, want one with Legacy %v", h.reports, legacy)
				}
				h.mu.Unlock()
				if warned := strings.Contains(logs.String(), "tandem-director keys derive --real-ip 127.0.0.11"); warned != legacy {
					t.Errorf("legacy warning %v, want %v:\n%s", warned, legacy, logs.String())
				}
			})
		}
	}
}

func boolStr(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// TestServerPushScoped: an unsolicited reply is sealed with the agent's
// key (the cluster key for a legacy agent) and echoes no report.
func TestServerPushScoped(t *testing.T) {
	var logs testutil.SyncBuffer
	s, _, addr := start(t, &logs)
	for _, tt := range []struct {
		name  string
		ip    netip.Addr
		key   []byte
		wrong []byte
	}{
		{"scoped agent", rs1, agentKey(rs1), testKey},
		{"legacy agent", rs2, testKey, agentKey(rs2)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := dialFrom(t, tt.ip, addr)
			b, _ := hbproto.NewSealer(tt.key, 5).SealAgent(time.Now(), &hbproto.AgentReport{Node: "n", RealIP: tt.ip, State: hbproto.StateUp})
			if exchange(t, c, b, 2*time.Second) == nil {
				t.Fatal("no reply")
			}
			s.Push(c.LocalAddr().(interface{ AddrPort() netip.AddrPort }).AddrPort(), hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleBackup, ReportNow: true})
			c.SetReadDeadline(time.Now().Add(2 * time.Second))
			buf := make([]byte, hbproto.MaxDatagram)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := hbproto.NewOpener(tt.wrong, 0).Open("lb1", buf[:n], time.Now()); !errors.Is(err, hbproto.ErrMAC) {
				t.Errorf("push opened with the wrong key: %v", err)
			}
			m, err := hbproto.NewOpener(tt.key, 0).Open("lb1", buf[:n], time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if e := m.Director.Echo; e == nil || *e != (hbproto.ReplyEcho{}) || !m.Director.ReportNow {
				t.Errorf("push: echo %+v report_now %v, want {0 0} and true", e, m.Director.ReportNow)
			}
		})
	}
}

// longHandler answers with many destinations with long service names.
type longHandler struct{ fakeHandler }

func (l *longHandler) Reply(ip netip.Addr) hbproto.DirectorReply {
	r := hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster}
	for i := 0; i < hbproto.MaxDestinations; i++ {
		r.Destinations = append(r.Destinations, hbproto.DestinationStatus{Service: strings.Repeat("s", 200), Addr: netip.AddrPortFrom(ip, uint16(i)), Pool: hbproto.PoolUp})
	}
	return r
}

// TestServerReplyTrimmedBySize: 128 destinations with 200-byte names do
// not fit in a datagram; the reply is trimmed to what fits rather than
// not sent.
func TestServerReplyTrimmedBySize(t *testing.T) {
	var logs testutil.SyncBuffer
	conn, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(conn, &longHandler{}, Options{Key: testKey, Log: logger(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	runServer(t, s)
	b, _ := hbproto.NewSealer(agentKey(rs1), 1).SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: hbproto.StateUp})
	out := exchange(t, dialFrom(t, rs1, conn.LocalAddr()), b, 2*time.Second)
	if out == nil {
		t.Fatalf("no reply (stats %+v)", s.Stats())
	}
	m, err := hbproto.NewOpener(agentKey(rs1), 0).Open("lb1", out, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.Director.Destinations); n == 0 || n >= hbproto.MaxDestinations {
		t.Errorf("%d destinations sent", n)
	}
	if !strings.Contains(logs.String(), "trimmed") {
		t.Errorf("trim not logged:\n%s", logs.String())
	}
	t.Logf("%d of %d destinations in %d bytes", len(m.Director.Destinations), hbproto.MaxDestinations, len(out))
}
