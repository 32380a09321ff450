package agents

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestServerBatchKeepsOrder: an agent's reports sent back to back (likely
// read in one batch): unchanged (the fast path), a change (the handler),
// the change again (after it). The replies come back in that
// order, each opening with the agent's opener, whose replay check would
// refuse a reply that overtook an earlier one.
func TestServerBatchKeepsOrder(t *testing.T) {
	s, h, addr := start(t, &testutil.SyncBuffer{})
	c := dialFrom(t, rs1, addr)
	agent := hbproto.NewSealer(agentKey(rs1), 5)
	seal := func(st hbproto.State) []byte {
		b, err := agent.SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: st})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	opener := hbproto.NewOpener(agentKey(rs1), 0)
	if out := exchange(t, c, seal(hbproto.StateUp), 2*time.Second); out == nil {
		t.Fatal("no reply to the first report")
	} else if _, err := opener.Open("director", out, time.Now()); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(2*time.Second, func() bool { return s.slotOf(rs1).inflight.Load() == 0 })
	for _, st := range []hbproto.State{hbproto.StateUp, hbproto.StateMaintenance, hbproto.StateMaintenance} {
		if _, err := c.Write(seal(st)); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, hbproto.MaxDatagram)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for want := uint64(2); want <= 4; want++ {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("reply to seq %d: %v", want, err)
		}
		m, err := opener.Open("director", buf[:n], time.Now())
		if err != nil {
			t.Fatalf("reply to seq %d: %v", want, err)
		}
		if m.Director.Echo.Seq != want {
			t.Errorf("reply echoes seq %d, want %d", m.Director.Echo.Seq, want)
		}
	}
	// The report after the change goes to the handler if the change is
	// still there, else on the fast path from the view the change
	// published.
	h.mu.Lock()
	defer h.mu.Unlock()
	if n := len(h.reports); n < 2 || n > 3 || h.reports[0].Agent.State != hbproto.StateUp || h.reports[1].Agent.State != hbproto.StateMaintenance {
		t.Errorf("the handler got %d reports (%+v), want the first and the change (and maybe the one after it)", n, h.reports)
	}
}

// TestServerRcvBuf: Run asks for RcvBuf; the kernel grants it (reported
// doubled) or, when net.core.rmem_max is lower, the server logs that it
// got less.
func TestServerRcvBuf(t *testing.T) {
	var logs testutil.SyncBuffer
	s, _, _ := start(t, &logs)
	udp := s.conn.(*net.UDPConn)
	granted := func() bool {
		got, err := rcvBufOf(udp)
		return err == nil && got >= 2*RcvBuf
	}
	warned := func() bool { return strings.Contains(logs.String(), "receive buffer smaller than asked") }
	if !testutil.WaitFor(2*time.Second, func() bool { return granted() || warned() }) {
		got, err := rcvBufOf(udp)
		t.Fatalf("SO_RCVBUF %d (%v), want at least %d, and no warning logged:\n%s", got, err, 2*RcvBuf, logs.String())
	}
}
