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
	"github.com/tandemlb/tandem/shared/hbproto"
)

var key = []byte("0123456789abcdef0123456789abcdef")

// web1 is the configured real server whose agent is the witness.
var web1 = netip.MustParseAddr("10.9.0.11")

// fakeInst is a VRRP instance: a settable status and the injected events.
type fakeInst struct {
	mu     sync.Mutex
	st     vrrp.Status
	events chan vrrp.Event
}

func newInst(state vrrp.State, prio, masterPrio uint8) *fakeInst {
	return &fakeInst{st: vrrp.Status{VRID: 51, Version: 2, State: state, Priority: prio, MasterPriority: masterPrio,
		Src: netip.MustParseAddr("10.9.0.1"), MasterAdverInterval: time.Second}, events: make(chan vrrp.Event, 16)}
}

func (f *fakeInst) Status() vrrp.Status { f.mu.Lock(); defer f.mu.Unlock(); return f.st }
func (f *fakeInst) Inject(_ context.Context, ev vrrp.Event) error {
	f.events <- ev
	return nil
}
func (f *fakeInst) set(s vrrp.State) { f.mu.Lock(); f.st.State = s; f.mu.Unlock() }

// next returns the next injected event within d, or nil.
func (f *fakeInst) next(d time.Duration) vrrp.Event {
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
}

func (m *muteConn) WriteTo(b []byte, to netip.AddrPort) error {
	if m.muted.Load() {
		return nil
	}
	return m.UDPConn.WriteTo(b, to)
}

type side struct {
	w      *Watcher
	inst   *fakeInst
	conn   *muteConn
	cancel context.CancelFunc
	done   chan error
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

// pair starts a master "lb1" and a backup "lb2" probing each other over
// loopback at 20 ms × 5 and waits until both sessions are up.
func pair(t *testing.T, tweak func(o *Options)) (a, b *side) {
	t.Helper()
	return pairWith(t, nil, tweak)
}

// pairWith is pair with both applied to both sides' options first.
func pairWith(t *testing.T, both, tweak func(o *Options)) (a, b *side) {
	t.Helper()
	ca, cb := listen(t), listen(t)
	mk := func(name string, c, peer *muteConn, in *fakeInst, tw func(*Options)) *side {
		o := Options{Name: name, Key: key, Conn: c, Port: port(c), Peer: netip.MustParseAddr("127.0.0.1"), PeerPort: port(peer),
			Session:   Config{TxInterval: 20 * time.Millisecond, DetectMult: 5, SlowInterval: 100 * time.Millisecond},
			Instances: []Binding{{VRRP: in}}, Logger: quiet(), LeaveWait: 200 * time.Millisecond}
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
		s := &side{w: w, inst: in, conn: c, cancel: cancel, done: make(chan error, 1)}
		go func() { s.done <- w.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-s.done })
		return s
	}
	a = mk("lb1", ca, cb, newInst(vrrp.StateMaster, 150, 150), nil)
	b = mk("lb2", cb, ca, newInst(vrrp.StateBackup, 100, 150), tweak)
	for i := 0; i < 200 && (a.w.Status().Session != StateUp || b.w.Status().Session != StateUp); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	if a.w.Status().Session != StateUp || b.w.Status().Session != StateUp {
		t.Fatalf("sessions not up: %v %v", a.w.Status().Session, b.w.Status().Session)
	}
	return a, b
}

func TestWatcherCrash(t *testing.T) {
	a, b := pair(t, nil)
	start := time.Now()
	a.conn.muted.Store(true)
	ev := b.inst.next(2 * time.Second)
	took := time.Since(start)
	if _, ok := ev.(vrrp.PeerDead); !ok {
		t.Fatalf("backup got %#v, want PeerDead", ev)
	}
	t.Logf("PeerDead %v after the master went silent (detection time 100ms)", took)
	if took < 60*time.Millisecond || took > 600*time.Millisecond {
		t.Errorf("PeerDead after %v, want about 100ms", took)
	}
	st := b.w.Status()
	if st.Takeovers != 1 || st.LastDownDiag != DiagDetectExpired || st.Peer.Name != "lb1" {
		t.Errorf("status %+v", st)
	}
	if ev := a.inst.next(100 * time.Millisecond); ev != nil {
		t.Errorf("the master got %#v", ev)
	}
}

func TestWatcherGoodbye(t *testing.T) {
	a, b := pair(t, nil)
	// The VRRP driver stops first (VIPs released, priority 0), then the
	// watcher's context ends: goodbye "released".
	a.inst.set(vrrp.StateStop)
	start := time.Now()
	a.cancel()
	ev := b.inst.next(2 * time.Second)
	if _, ok := ev.(vrrp.PeerDead); !ok {
		t.Fatalf("backup got %#v, want PeerDead", ev)
	}
	t.Logf("PeerDead %v after the master's stop", time.Since(start))
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("PeerDead after %v, want at once", d)
	}
	if st := b.w.Status(); st.LastDownDiag != DiagReleased {
		t.Errorf("diag %v", st.LastDownDiag)
	}
}

func TestWatcherDisabledWhileMaster(t *testing.T) {
	a, b := pair(t, nil)
	// The watcher stops while its instance stays MASTER (probe turned
	// off): after LeaveWait it says "disabled" and the backup does nothing.
	a.cancel()
	<-a.done
	a.done <- nil // for the cleanup
	if ev := b.inst.next(300 * time.Millisecond); ev != nil {
		t.Fatalf("backup got %#v, want nothing", ev)
	}
	if st := b.w.Status(); st.LastDownDiag != DiagDisabled || st.Session != StateDown {
		t.Errorf("status %v %v", st.Session, st.LastDownDiag)
	}
}

// The link between the directors breaks; the agents still hear the
// master: it must stay master, and the backup backup.
func TestWatcherWitnessVeto(t *testing.T) {
	board := witness.NewBoard(witness.Config{Quorum: 1})
	board.SetServers([]netip.Addr{web1})
	board.Observe(time.Now(), &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: 900 * time.Millisecond}}})
	var asked atomic.Int32
	a, b := pair(t, func(o *Options) {
		o.Witness = board
		o.WitnessWait = 300 * time.Millisecond
		o.RequestReports = func() {
			asked.Add(1)
			go func() {
				// The agent's first answer is its periodic view; the relay
				// after the master's reply is fresh.
				board.Observe(time.Now(), &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: 950 * time.Millisecond}}})
				time.Sleep(5 * time.Millisecond)
				board.Observe(time.Now(), &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: time.Millisecond}}})
			}()
		}
	})
	// The probe path breaks (VRRP too: the fake's advert counter stays).
	a.conn.muted.Store(true)
	ev := b.inst.next(2 * time.Second)
	if w, ok := ev.(vrrp.Witness); !ok || !w.MasterAlive {
		t.Fatalf("backup got %#v, want Witness{MasterAlive: true}", ev)
	}
	if ev := b.inst.next(400 * time.Millisecond); ev != nil {
		t.Fatalf("then %#v, want nothing", ev)
	}
	st := b.w.Status()
	if asked.Load() != 1 || st.Vetoes != 1 || st.Takeovers != 0 || len(st.Witnesses) != 1 {
		t.Errorf("asked %d, status %+v", asked.Load(), st)
	}
}

// The master dies; the agents' last word about it predates the loss: the
// backup takes over after WitnessWait.
func TestWatcherWitnessMasterDead(t *testing.T) {
	board := witness.NewBoard(witness.Config{Quorum: 1})
	board.SetServers([]netip.Addr{web1})
	board.Observe(time.Now(), &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: 100 * time.Millisecond}}})
	a, b := pair(t, func(o *Options) {
		o.Witness = board
		o.WitnessWait = 80 * time.Millisecond
		o.RequestReports = func() {
			go board.Observe(time.Now(), &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: 500 * time.Millisecond}}})
		}
	})
	start := time.Now()
	a.conn.muted.Store(true)
	ev := b.inst.next(2 * time.Second)
	if _, ok := ev.(vrrp.PeerDead); !ok {
		t.Fatalf("backup got %#v, want PeerDead", ev)
	}
	took := time.Since(start)
	t.Logf("PeerDead %v after the crash (100ms detection + 80ms witness wait)", took)
	// Detection itself may end up to one probe interval early (the last
	// probe heard predates the mute), so only the wait is a sure floor.
	if took < 80*time.Millisecond {
		t.Errorf("PeerDead after %v, before the witness wait (80ms) could have ended", took)
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
	w, err := New(Options{Name: "lb2", DisableProbe: true, Witness: board, Logger: quiet(),
		Instances: []Binding{{VRRP: keep}, {VRRP: preempt}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Evidence older than the last advert plus interval plus slack: nothing.
	board.Observe(time.Now(), &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: time.Second}}})
	if ev := keep.next(150 * time.Millisecond); ev != nil {
		t.Fatalf("got %#v for old evidence", ev)
	}
	// Fresh evidence, 250 ms after the start (= the last advert heard).
	time.Sleep(100 * time.Millisecond)
	board.Observe(time.Now(), &hbproto.AgentReport{Node: "web1", RealIP: web1, Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster}}})
	if ev, ok := keep.next(500 * time.Millisecond).(vrrp.Witness); !ok || !ev.MasterAlive {
		t.Fatalf("got %#v, want Witness{MasterAlive: true}", ev)
	}
	// The evidence ages out: the veto is lifted.
	if ev, ok := keep.next(time.Second).(vrrp.Witness); !ok || ev.MasterAlive {
		t.Fatalf("got %#v, want Witness{MasterAlive: false}", ev)
	}
	if ev := preempt.next(0); ev != nil {
		t.Fatalf("the preempting backup got %#v", ev)
	}
}

func TestWatcherSetInstances(t *testing.T) {
	a, b := pair(t, nil)
	// The backup's driver is restarted: the new one replaces the old.
	fresh := newInst(vrrp.StateBackup, 100, 150)
	b.w.SetInstances([]Binding{{VRRP: fresh}})
	time.Sleep(100 * time.Millisecond)
	a.conn.muted.Store(true)
	if _, ok := fresh.next(2 * time.Second).(vrrp.PeerDead); !ok {
		t.Fatal("the new driver did not get PeerDead")
	}
	if ev := b.inst.next(100 * time.Millisecond); ev != nil {
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
