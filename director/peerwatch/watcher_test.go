package peerwatch

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/director/witness"
	"github.com/tandemlb/tandem/shared/clock/clocktest"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

var key = []byte("0123456789abcdef0123456789abcdef")

// patience bounds every wait for a watcher's goroutine or a datagram on
// loopback (real time).
const patience = 5 * time.Second

// web1 is the configured real server whose agent is the witness.
var web1 = netip.MustParseAddr("10.9.0.11")

// fakeInst is a VRRP instance: a settable status and the injected events.
type fakeInst struct {
	mu     sync.Mutex
	st     vrrp.Status
	events chan vrrp.Event
	// asked counts the Status calls: a watcher asks only for the
	// instances it has taken.
	asked atomic.Int64
}

func newInst(state vrrp.State, prio, masterPrio uint8) *fakeInst {
	return &fakeInst{st: vrrp.Status{VRID: 51, Version: 2, State: state, Priority: prio, MasterPriority: masterPrio,
		Src: netip.MustParseAddr("10.9.0.1"), MasterAdverInterval: time.Second}, events: make(chan vrrp.Event, 16)}
}

func (f *fakeInst) Status() vrrp.Status {
	f.asked.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}
func (f *fakeInst) Inject(_ context.Context, ev vrrp.Event) error {
	f.events <- ev
	return nil
}
func (f *fakeInst) set(s vrrp.State) { f.mu.Lock(); f.st.State = s; f.mu.Unlock() }

// next returns the next injected event within d, or nil; next(0) takes
// an event already injected, without waiting.
func (f *fakeInst) next(d time.Duration) vrrp.Event {
	select {
	case ev := <-f.events:
		return ev
	default:
	}
	if d <= 0 {
		return nil
	}
	select {
	case ev := <-f.events:
		return ev
	case <-time.After(d):
		return nil
	}
}

// muteConn drops every write while muted: the process "crashed".
type muteConn struct {
	UDPConn
	muted atomic.Bool
	// sent counts the datagrams written while not muted, from the start
	// of the write: a write under way already counts.
	sent atomic.Int64
}

func (m *muteConn) WriteTo(b []byte, to netip.AddrPort) error {
	if m.muted.Load() {
		return nil
	}
	m.sent.Add(1)
	err := m.UDPConn.WriteTo(b, to)
	if err != nil {
		m.sent.Add(-1)
	}
	return err
}

type side struct {
	w      *Watcher
	inst   *fakeInst
	conn   *muteConn
	cancel context.CancelFunc
	done   chan error
	// clk is the watcher's manual clock; nil when it runs on real time.
	clk *clocktest.Clock
}

func listen(t *testing.T) *muteConn {
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	if err := SetConnTTL(c, false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &muteConn{UDPConn: UDPConn{C: c}}
}

func port(c *muteConn) int { return int(c.C.LocalAddr().(*net.UDPAddr).Port) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// pairWith starts a master "lb1" and a backup "lb2" probing each other
// over loopback at 20 ms × 5, on real time, and waits until both sessions
// are up; both is applied to both sides' options, then tweak to lb2's.
func pairWith(t *testing.T, both, tweak func(o *Options)) (a, b *side) {
	t.Helper()
	return startPair(t, false, both, tweak)
}

// clockPair is pairWith with each watcher on its own manual clock, both
// at t0 (session_test.go): time passes for one side only when the test
// advances it (step), so the detection time, the witness wait and
// LeaveWait are checked exactly.
// The probes still cross loopback: the handshake that brings the
// sessions up needs no time, only datagrams.
func clockPair(t *testing.T, tweak func(o *Options)) (a, b *side) {
	t.Helper()
	return startPair(t, true, nil, tweak)
}

func startPair(t *testing.T, manual bool, both, tweak func(o *Options)) (a, b *side) {
	t.Helper()
	ca, cb := listen(t), listen(t)
	mk := func(name string, c, peer *muteConn, in *fakeInst, tw func(*Options)) *side {
		o := Options{Name: name, Key: key, Conn: c, Port: port(c), Peer: netip.MustParseAddr("127.0.0.1"), PeerPort: port(peer),
			Session:   Config{TxInterval: 20 * time.Millisecond, DetectMult: 5, SlowInterval: 100 * time.Millisecond},
			Instances: []Binding{{VRRP: in}}, Logger: quiet(), LeaveWait: 200 * time.Millisecond}
		var clk *clocktest.Clock
		if manual {
			clk = clocktest.New(t0)
			o.Clock = clk
		}
		if both != nil {
			both(&o)
		}
		if tw != nil {
			tw(&o)
		}
		w, err := New(o)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s := &side{w: w, inst: in, conn: c, cancel: cancel, done: make(chan error, 1), clk: clk}
		go func() { s.done <- w.Run(ctx) }()
		t.Cleanup(func() {
			if manual {
				in.set(vrrp.StateStop) // released: Run says goodbye without waiting on its clock
			}
			cancel()
			<-s.done
		})
		return s
	}
	a = mk("lb1", ca, cb, newInst(vrrp.StateMaster, 150, 150), nil)
	b = mk("lb2", cb, ca, newInst(vrrp.StateBackup, 100, 150), tweak)
	testutil.Eventually(t, patience, func() bool { return a.w.Status().Session == StateUp && b.w.Status().Session == StateUp },
		"sessions not up: %v %v", a.w.Status().Session, b.w.Status().Session)
	return a, b
}

// settle waits until every probe either side sent has reached the other's
// Run (loopback is real).
func settle(t *testing.T, a, b *side) {
	t.Helper()
	testutil.Eventually(t, patience, func() bool {
		return uint64(a.conn.sent.Load()) == b.w.Status().Received && uint64(b.conn.sent.Load()) == a.w.Status().Received
	}, "probes in flight: lb1 sent %d, lb2 took %d; lb2 sent %d, lb1 took %d",
		a.conn.sent.Load(), b.w.Status().Received, b.conn.sent.Load(), a.w.Status().Received)
}

// step lets d pass on s's clock and waits until s's watcher has handled
// what came due and waits on its next deadline.
func (s *side) step(t *testing.T, d time.Duration) {
	t.Helper()
	s.clk.Advance(d)
	if !s.clk.WaitPending(1, patience) {
		t.Fatalf("%s: no deadline armed after %v", s.w.opts.Name, d)
	}
}

// until steps s's clock by 1 ms until its instance is given an event, at
// most limit, and returns the event; nil when none came.
func (s *side) until(t *testing.T, limit time.Duration) vrrp.Event {
	t.Helper()
	for end := s.clk.Now().Add(limit); s.clk.Now().Before(end); {
		s.step(t, time.Millisecond)
		if ev := s.inst.next(0); ev != nil {
			return ev
		}
	}
	return nil
}

// stepBoth lets d pass on both sides' clocks and waits until each has
// handled what came due and the other has taken its probes.
func stepBoth(t *testing.T, a, b *side, d time.Duration) {
	t.Helper()
	a.step(t, d)
	b.step(t, d)
	settle(t, a, b)
}

// detection mutes a, the master, once all it sent has arrived, and
// returns when b last heard it: read once b's next deadline has fired,
// so that b has handled every probe before it.
func detection(t *testing.T, a, b *side) time.Time {
	t.Helper()
	settle(t, a, b)
	a.conn.muted.Store(true)
	next, _ := b.clk.Next()
	b.step(t, next.Sub(b.clk.Now()))
	return b.w.Status().Peer.LastHeard
}

// The master's process dies: the backup is told PeerDead exactly one
// detection time (5 × 20 ms) after the last probe it heard, not before.
func TestWatcherCrash(t *testing.T) {
	a, b := clockPair(t, nil)
	heard := detection(t, a, b)
	ev := b.until(t, time.Second)
	if _, ok := ev.(vrrp.PeerDead); !ok {
		t.Fatalf("backup got %#v, want PeerDead", ev)
	}
	if took := b.clk.Now().Sub(heard); took != 100*time.Millisecond {
		t.Errorf("PeerDead %v after the last probe heard, want the detection time, 100ms", took)
	}
	st := b.w.Status()
	if st.Takeovers != 1 || st.LastDownDiag != DiagDetectExpired || st.Peer.Name != "lb1" {
		t.Errorf("status %+v", st)
	}
	if ev := a.inst.next(0); ev != nil {
		t.Errorf("the master got %#v", ev)
	}
}

// The master stops cleanly: its goodbye hands over at once. Neither
// clock moves: the datagram alone does it.
func TestWatcherGoodbye(t *testing.T) {
	a, b := clockPair(t, nil)
	// The VRRP driver stops first (VIPs released, priority 0), then the
	// watcher's context ends: goodbye "released".
	a.inst.set(vrrp.StateStop)
	a.cancel()
	ev := b.inst.next(patience)
	if _, ok := ev.(vrrp.PeerDead); !ok {
		t.Fatalf("backup got %#v, want PeerDead", ev)
	}
	if st := b.w.Status(); st.LastDownDiag != DiagReleased {
		t.Errorf("diag %v", st.LastDownDiag)
	}
	if !b.clk.Now().Equal(t0) {
		t.Errorf("the backup's clock moved to %v", b.clk.Now())
	}
}

// The watcher stops while its instance stays MASTER (probe turned off):
// it probes on for LeaveWait, then says "disabled", and the backup does
// nothing.
func TestWatcherDisabledWhileMaster(t *testing.T) {
	a, b := clockPair(t, nil)
	a.cancel()
	// Once Run has seen ctx end it polls the instances every leavePoll.
	testutil.Eventually(t, patience, func() bool {
		next, _ := a.clk.Next()
		return next.Equal(a.clk.Now().Add(leavePoll))
	}, "lb1 does not wait for its master to release")
	// Both clocks move, so that each keeps hearing the other.
	for range 19 {
		stepBoth(t, a, b, 10*time.Millisecond)
	}
	stepBoth(t, a, b, 10*time.Millisecond-leavePoll)
	select {
	case <-a.done:
		t.Fatalf("lb1 stopped %v before LeaveWait", a.clk.Now().Sub(t0))
	default:
	}
	if st := a.w.Status(); st.Session != StateUp || b.w.Status().Session != StateUp {
		t.Fatalf("sessions %v %v at LeaveWait - leavePoll", st.Session, b.w.Status().Session)
	}
	a.clk.Advance(leavePoll)
	select {
	case err := <-a.done:
		if err != nil {
			t.Fatal(err)
		}
		a.done <- nil // for the cleanup
	case <-time.After(patience):
		t.Fatal("lb1 did not stop at LeaveWait")
	}
	testutil.Eventually(t, patience, func() bool { return b.w.Status().LastDownDiag == DiagDisabled },
		"lb2: last down %v, want disabled", b.w.Status().LastDownDiag)
	if st := b.w.Status(); st.Session != StateDown {
		t.Errorf("lb2 session %v", st.Session)
	}
	if ev := b.inst.next(0); ev != nil {
		t.Fatalf("backup got %#v, want nothing", ev)
	}
}

// The link between the directors breaks; the agents still hear the
// master: it must stay master, and the backup backup.
func TestWatcherWitnessVeto(t *testing.T) {
	board := witness.NewBoard(witness.Config{Quorum: 1})
	board.SetServers([]netip.Addr{web1})
	board.Observe(t0, &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: 900 * time.Millisecond}}})
	var asked atomic.Int32
	var a, b *side
	a, b = clockPair(t, func(o *Options) {
		o.Witness = board
		o.WitnessWait = 300 * time.Millisecond
		o.RequestReports = func() {
			asked.Add(1)
			// The agent's first answer is its periodic view; the relay
			// after the master's reply is fresh.
			now := b.clk.Now()
			board.Observe(now, &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: 950 * time.Millisecond}}})
			board.Observe(now, &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: time.Millisecond}}})
		}
	})
	// The probe path breaks (VRRP too: the fake's advert counter stays).
	heard := detection(t, a, b)
	ev := b.until(t, time.Second)
	if w, ok := ev.(vrrp.Witness); !ok || !w.MasterAlive {
		t.Fatalf("backup got %#v, want Witness{MasterAlive: true}", ev)
	}
	if took := b.clk.Now().Sub(heard); took != 100*time.Millisecond {
		t.Errorf("veto %v after the last probe, want at detection, 100ms", took)
	}
	// Past the witness wait: still vetoed, nothing more.
	if ev := b.until(t, 400*time.Millisecond); ev != nil {
		t.Fatalf("then %#v, want nothing", ev)
	}
	st := b.w.Status()
	if asked.Load() != 1 || st.Vetoes != 1 || st.Takeovers != 0 || len(st.Witnesses) != 1 {
		t.Errorf("asked %d, status %+v", asked.Load(), st)
	}
}

// The master dies; the agents' last word about it predates the loss: the
// backup takes over once the witness wait has run, exactly.
func TestWatcherWitnessMasterDead(t *testing.T) {
	board := witness.NewBoard(witness.Config{Quorum: 1})
	board.SetServers([]netip.Addr{web1})
	board.Observe(t0, &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: 100 * time.Millisecond}}})
	var a, b *side
	a, b = clockPair(t, func(o *Options) {
		o.Witness = board
		o.WitnessWait = 80 * time.Millisecond
		o.RequestReports = func() {
			board.Observe(b.clk.Now(), &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: 500 * time.Millisecond}}})
		}
	})
	heard := detection(t, a, b)
	ev := b.until(t, time.Second)
	if _, ok := ev.(vrrp.PeerDead); !ok {
		t.Fatalf("backup got %#v, want PeerDead", ev)
	}
	if took := b.clk.Now().Sub(heard); took != 180*time.Millisecond {
		t.Errorf("PeerDead %v after the last probe, want 100ms detection + 80ms witness wait", took)
	}
}

// Without the probe (a keepalived peer, or fast_failover off) the watcher
// still feeds the witness level: a backup whose master the agents hear
// after the backup should have heard its next advert is vetoed, while the
// evidence is fresh; a backup that would preempt never is.
func TestWatcherWitnessOnly(t *testing.T) {
	board := witness.NewBoard(witness.Config{Quorum: 1, MaxEvidenceAge: 400 * time.Millisecond})
	board.SetServers([]netip.Addr{web1})
	keep := newInst(vrrp.StateBackup, 100, 150)    // master has the higher priority
	preempt := newInst(vrrp.StateBackup, 200, 150) // we would preempt it
	for _, in := range []*fakeInst{keep, preempt} {
		in.st.MasterAdverInterval = 100 * time.Millisecond
	}
	clk := clocktest.New(t0)
	w, err := New(Options{Name: "lb2", DisableProbe: true, Witness: board, Logger: quiet(), Clock: clk,
		Instances: []Binding{{VRRP: keep}, {VRRP: preempt}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	s := &side{w: w, inst: keep, clk: clk}

	// Evidence older than the last advert (t0) plus interval plus slack:
	// nothing, through two status polls.
	board.Observe(t0, &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: time.Second}}})
	if ev := s.until(t, 250*time.Millisecond); ev != nil {
		t.Fatalf("got %#v for old evidence", ev)
	}
	// Fresh evidence, 250 ms after the start (= the last advert heard):
	// the agents heard the master after the backup should have.
	fresh := clk.Now()
	board.Observe(fresh, &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster}}})
	if ev, ok := keep.next(patience).(vrrp.Witness); !ok || !ev.MasterAlive {
		t.Fatalf("got %#v, want Witness{MasterAlive: true}", ev)
	}
	// The evidence ages out (400 ms): the veto is lifted at the next
	// status poll (every 100 ms without the probe).
	ev := s.until(t, time.Second)
	if ev, ok := ev.(vrrp.Witness); !ok || ev.MasterAlive {
		t.Fatalf("got %#v, want Witness{MasterAlive: false}", ev)
	}
	if age := clk.Now().Sub(fresh); age <= 400*time.Millisecond || age > 400*time.Millisecond+maxPoll {
		t.Errorf("veto lifted with evidence %v old, want past 400ms by at most a poll (%v)", age, maxPoll)
	}
	if ev := preempt.next(0); ev != nil {
		t.Fatalf("the preempting backup got %#v", ev)
	}
}

func TestWatcherSetInstances(t *testing.T) {
	a, b := clockPair(t, nil)
	// The backup's driver is restarted: the new one replaces the old.
	fresh := newInst(vrrp.StateBackup, 100, 150)
	b.w.SetInstances([]Binding{{VRRP: fresh}})
	// Run has taken it once it asks for its status.
	testutil.Eventually(t, patience, func() bool { return fresh.asked.Load() > 0 }, "the new driver was not taken")
	heard := detection(t, a, b)
	nb := *b
	nb.inst = fresh
	if ev, ok := nb.until(t, time.Second).(vrrp.PeerDead); !ok {
		t.Fatalf("the new driver got %#v, want PeerDead", ev)
	}
	if took := b.clk.Now().Sub(heard); took != 100*time.Millisecond {
		t.Errorf("PeerDead %v after the last probe, want 100ms", took)
	}
	if ev := b.inst.next(0); ev != nil {
		t.Fatalf("the old driver got %#v", ev)
	}
}

func TestStatusString(t *testing.T) {
	s := Status{Session: StateUp, Peer: Peer{Name: "lb1", Addr: netip.MustParseAddrPort("10.0.0.1:7481"), TxInterval: 50 * time.Millisecond, DetectMult: 3},
		Sent: 5, Received: 4, LastDown: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), LastDownDiag: DiagDetectExpired,
		Takeovers: 1, Vetoes: 2, Witnesses: []string{"web1", "web2"}, Dropped: map[string]uint64{"mac": 3}}
	want := `peer probe: up, peer lb1 at 10.0.0.1:7481 (50ms × 3)
  probes: 5 sent, 4 received, 0 send errors
  last down: 2026-01-02T03:04:05Z: detection time expired
  takeovers: 1, vetoed by agents: 2 (last: web1, web2)
  dropped (mac): 3
`
	if got := s.String(); got != want {
		t.Errorf("String:\n%s\nwant:\n%s", got, want)
	}
}
