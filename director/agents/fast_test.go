package agents

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// reportsOf returns how many reports the handler got.
func (f *fakeHandler) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reports)
}

// TestServerFastPath: the first report of an agent goes to the handler;
// the same report again is answered without it, with the echo of that
// report and the published reply; a change goes to the handler again;
// Heard counts both kinds.
func TestServerFastPath(t *testing.T) {
	var logs testutil.SyncBuffer
	s, h, addr := start(t, &logs)
	c := dialFrom(t, rs1, addr)
	agent := hbproto.NewSealer(agentKey(rs1), 9)
	opener := hbproto.NewOpener(agentKey(rs1), 0)
	send := func(st hbproto.State, seen int) *hbproto.DirectorReply {
		t.Helper()
		r := &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: st,
			Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: time.Duration(seen) * time.Millisecond}}}
		b, err := agent.SealAgent(time.Now(), r)
		if err != nil {
			t.Fatal(err)
		}
		out := exchange(t, c, b, 2*time.Second)
		if out == nil {
			t.Fatalf("no reply (stats %+v)", s.Stats())
		}
		m, err := opener.Open("director", out, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if e := m.Director.Echo; e == nil || e.Session != 9 {
			t.Fatalf("echo %+v", e)
		}
		return m.Director
	}
	for i, tt := range []struct {
		state   hbproto.State
		handled int
	}{
		{hbproto.StateUp, 1},          // first: the handler
		{hbproto.StateUp, 1},          // same (other witness ages): fast
		{hbproto.StateUp, 1},          // fast
		{hbproto.StateMaintenance, 2}, // a change: the handler
		{hbproto.StateMaintenance, 2}, // fast again
	} {
		// The previous report's worker ends after its reply: until
		// then the next report follows it (tested below).
		testutil.WaitFor(2*time.Second, func() bool { return s.slotOf(rs1).inflight.Load() == 0 })
		r := send(tt.state, 100*i)
		if got := h.count(); got != tt.handled {
			t.Errorf("report %d (%s): handler got %d reports, want %d", i+1, tt.state, got, tt.handled)
		}
		if r.Echo.Seq != uint64(i+1) || r.Director != "lb1" || len(r.Destinations) != 1 || r.Destinations[0].Pool != hbproto.PoolDraining {
			t.Errorf("report %d: reply %+v", i+1, r)
		}
	}
	heard, ok := s.Heard(rs1)
	if !ok || heard.Reports != 5 || heard.LastSeen.IsZero() || heard.Latest == nil || heard.Latest.Seen[0].Age != 400*time.Millisecond {
		t.Errorf("heard %+v %v", heard, ok)
	}
	// A reply is counted once its send returned, which may be after the
	// agent got it.
	testutil.WaitFor(2*time.Second, func() bool { return s.Stats().Replies == 5 })
	if st := s.Stats(); st.Accepted != 5 || st.Replies != 5 {
		t.Errorf("stats %+v", st)
	}
}

// holdingHandler holds the reports whose state is hold until released,
// then publishes like fakeHandler.
type holdingHandler struct {
	fakeHandler
	hold    hbproto.State
	release chan struct{}
	held    chan struct{}
}

func (b *holdingHandler) Report(r Report) {
	if r.Agent.State == b.hold {
		close(b.held)
		<-b.release
	}
	b.fakeHandler.Report(r)
}

// TestServerFastPathWaitsForChange: while a change of an agent waits for
// the application, its next report, although it says what the published
// view reflects, is not answered from that (old) view ahead of the change:
// it follows the change, and the replies go out in order.
func TestServerFastPathWaitsForChange(t *testing.T) {
	conn, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &holdingHandler{hold: hbproto.StateMaintenance, release: make(chan struct{}), held: make(chan struct{})}
	s, err := New(conn, h, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	s.Publish(map[netip.Addr]*View{rs1: {Reply: h.Reply(rs1)}})
	runServer(t, s)
	c := dialFrom(t, rs1, conn.LocalAddr())
	agent := hbproto.NewSealer(agentKey(rs1), 3)
	seal := func(st hbproto.State) []byte {
		b, _ := agent.SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: st})
		return b
	}
	if exchange(t, c, seal(hbproto.StateUp), 2*time.Second) == nil {
		t.Fatal("no reply")
	}
	c.Write(seal(hbproto.StateMaintenance)) // held
	<-h.held
	if out := exchange(t, c, seal(hbproto.StateUp), 300*time.Millisecond); out != nil {
		t.Fatal("a report was answered from the old view while a change waited")
	}
	close(h.release)
	opener := hbproto.NewOpener(agentKey(rs1), 0)
	buf := make([]byte, hbproto.MaxDatagram)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	for want := uint64(2); want <= 3; want++ {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("reply to seq %d: %v", want, err)
		}
		m, err := opener.Open("director", buf[:n], time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if m.Director.Echo.Seq != want {
			t.Errorf("reply echoes seq %d, want %d", m.Director.Echo.Seq, want)
		}
	}
	if got := h.count(); got != 3 {
		t.Errorf("handler got %d reports, want 3 (the one after the change too)", got)
	}
}

// TestServerStrayBudget: senders without a slot are answered within
// StrayRate a second; beyond it their datagrams are dropped as rate before
// any key is derived, while a published agent is still answered.
func TestServerStrayBudget(t *testing.T) {
	var b bucket = bucket{rate: StrayRate, burst: StrayRate}
	now := time.Now()
	for i := 0; i < StrayRate; i++ {
		if !b.take(now) {
			t.Fatalf("budget empty after %d", i)
		}
	}
	if b.take(now) {
		t.Fatal("budget not empty after StrayRate")
	}
	if !b.take(now.Add(2 * time.Millisecond)) {
		t.Fatal("no refill after 2 ms")
	}

	conn, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHandler{}
	s, err := New(conn, h, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	h.s = s
	s.Publish(map[netip.Addr]*View{rs1: {Reply: h.Reply(rs1)}})
	s.strays = bucket{} // an empty budget that never refills
	runServer(t, s)
	addr := conn.LocalAddr()
	stray := netip.MustParseAddr("127.0.0.66")
	d, _ := hbproto.NewSealer(agentKey(stray), 1).SealAgent(time.Now(), &hbproto.AgentReport{Node: "x", RealIP: stray, State: hbproto.StateUp})
	if out := exchange(t, dialFrom(t, stray, addr), d, 200*time.Millisecond); out != nil {
		t.Error("a stray beyond the budget was answered")
	}
	d, _ = hbproto.NewSealer(agentKey(rs1), 1).SealAgent(time.Now(), &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: hbproto.StateUp})
	if out := exchange(t, dialFrom(t, rs1, addr), d, 2*time.Second); out == nil {
		t.Error("a published agent was not answered")
	}
	if got := s.Stats().Dropped[ReasonRate]; got != 1 {
		t.Errorf("dropped[rate] = %d, want 1", got)
	}
}

// BenchmarkServerFastPath is the listener's cost per report answered on
// the fast path, through a loopback socket (the agent's sends and reads
// included): allocs/op are the server's, as the agent's side allocates
// nothing. The reports are sealed before the timer starts.
func BenchmarkServerFastPath(b *testing.B) {
	conn, err := Listen("127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	h := &fakeHandler{}
	s, err := New(conn, h, Options{Key: testKey, Window: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	h.s = s
	s.Publish(map[netip.Addr]*View{rs1: {Reply: h.Reply(rs1)}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			b.Error(err)
		}
	}()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(rs1, 0)), conn.LocalAddr().(*net.UDPAddr))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	agent := hbproto.NewSealer(agentKey(rs1), 9)
	r := &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: hbproto.StateUp,
		Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: time.Second}}}
	seal := func() []byte {
		d, err := agent.SealAgent(time.Now(), r)
		if err != nil {
			b.Fatal(err)
		}
		return d
	}
	buf := make([]byte, hbproto.MaxDatagram)
	c.SetReadDeadline(time.Now().Add(time.Minute))
	// The first report goes to the handler, which publishes the view that
	// answers the next ones on the fast path.
	if _, err := c.Write(seal()); err != nil {
		b.Fatal(err)
	}
	if _, err := c.Read(buf); err != nil {
		b.Fatal(err)
	}
	testutil.WaitFor(2*time.Second, func() bool { return s.slotOf(rs1).inflight.Load() == 0 })
	dgrams := make([][]byte, b.N)
	for i := range dgrams {
		dgrams[i] = seal()
	}
	const window = 32 // reports in flight at most
	b.ReportAllocs()
	b.ResetTimer()
	sent, got := 0, 0
	for got < b.N {
		for sent < b.N && sent-got < window {
			if _, err := c.Write(dgrams[sent]); err != nil {
				b.Fatal(err)
			}
			sent++
		}
		if _, err := c.Read(buf); err != nil {
			b.Fatalf("after %d of %d replies: %v (stats %+v)", got, b.N, err, s.Stats())
		}
		got++
	}
	b.StopTimer()
	if h.count() != 1 {
		b.Errorf("the handler got %d reports, want 1 (the rest on the fast path)", h.count())
	}
}
