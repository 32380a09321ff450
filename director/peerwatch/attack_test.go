package peerwatch

import (
	"context"
	"crypto/rand"
	"log/slog"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/director/witness"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// sender is a UDP socket on src with a chosen TTL: an attacker on the
// segment (or behind a router).
func sender(t *testing.T, src string, ttl int) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(src), 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_TTL, ttl) }); err != nil || serr != nil {
		t.Fatal(err, serr)
	}
	return c
}

// forgeRestart seals, under k, a probe from "lb1" with a new session id:
// the master "restarted" (docs/ha.md: the backup takes over at once).
func forgeRestart(t *testing.T, k []byte, b *side) []byte {
	t.Helper()
	pk, err := NewSealer(k, 0xbad5e55).Seal(time.Now(), Probe{State: StateUp, DetectMult: 5, TxInterval: 20 * time.Millisecond,
		YourSession: b.w.opts.SessionID, Name: "lb1",
		Instances: []InstanceRole{{VRID: 51, Family: 4, Role: hbproto.RoleMaster, Priority: 150}}})
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

// TestWatcherForgedRestart (issue 15): one forged "new session" probe made
// the backup take over at once. Now it must come from the peer's address,
// with TTL 255, sealed with the directors' key: a real server holding only
// the agents' shared secret, a host elsewhere on the segment, or a sender
// one router away cannot do it. The last case shows the same forgery does
// work when it passes every check (so the test forges the right thing).
func TestWatcherForgedRestart(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef") // the cluster secret
	dkey := hbproto.DeriveDirectorKey(secret)
	for _, pinned := range []bool{false, true} {
		name := "configured peer"
		if pinned {
			name = "learnt peer"
		}
		t.Run(name, func(t *testing.T) {
			// Detection at 1 s, not pairWith's 100 ms: the session must
			// stay up across the forgeries on a loaded machine too.
			_, b := pairWith(t, func(o *Options) { o.Key = dkey; o.Session.DetectMult = 50 }, func(o *Options) {
				if pinned {
					o.Peer = netip.Addr{} // learnt from lb1's first probe
				}
			})
			to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port(b.conn))))
			for _, tt := range []struct {
				name   string
				src    string
				ttl    int
				key    []byte
				reason string
			}{
				{"raw shared secret (agent_keys scoped)", "127.0.0.1", 255, secret, "mac"},
				{"not the peer's address", "127.0.0.2", 255, dkey, DropUnknownPeer},
				{"TTL 64: from beyond a router", "127.0.0.1", 64, dkey, DropTTL},
			} {
				before := b.w.Status().Dropped[tt.reason]
				if _, err := sender(t, tt.src, tt.ttl).WriteTo(forgeRestart(t, tt.key, b), to); err != nil {
					t.Fatal(err)
				}
				if ev := b.inst.next(300 * time.Millisecond); ev != nil {
					t.Fatalf("%s: the backup got %#v", tt.name, ev)
				}
				st := b.w.Status()
				if st.Session != StateUp || st.Takeovers != 0 {
					t.Fatalf("%s: session %v, takeovers %d, dropped %v", tt.name, st.Session, st.Takeovers, st.Dropped)
				}
				// TTL and source are refused by the socket filter, in the
				// kernel (uncounted), else by the reader (counted).
				t.Logf("%s: dropped %q %d (0: in the kernel)", tt.name, tt.reason, st.Dropped[tt.reason]-before)
			}
			// The control: sealed with the pair's key, from the peer, TTL 255.
			if _, err := sender(t, "127.0.0.1", 255).WriteTo(forgeRestart(t, dkey, b), to); err != nil {
				t.Fatal(err)
			}
			if _, ok := b.inst.next(time.Second).(vrrp.PeerDead); !ok {
				t.Fatal("a valid restart probe from the peer did not hand over: the forgeries above prove nothing")
			}
		})
	}
}

// countHandler counts the log records at Warn and above.
type countHandler struct{ n *atomic.Int64 }

func (h countHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h countHandler) Handle(context.Context, slog.Record) error    { h.n.Add(1); return nil }
func (h countHandler) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h countHandler) WithGroup(string) slog.Handler                { return h }

// TestWatcherJunkFlood (issue 15): without any key, a flood of junk at the
// probe port filled the queue the real probes share and caused a false
// takeover; every datagram logged a line. Now junk is refused in the
// reader, before the queue. A real peer probes every 100 ms (× 10: a
// detection time that a loaded test machine's scheduler cannot reach by
// itself, so that only a starved queue could) while
// three senders flood (at most 200,000 datagrams, at most 4 s): well-framed
// junk from the peer's own address with TTL 255 (reaches the MAC check),
// junk from another address, junk with TTL 64. The session must stay Up,
// nothing may be injected, and the log lines stay bounded. (The flood is
// paced, 90,000 datagrams/s: unpaced, the test's own senders would take
// the machine's two cores from the watcher, which no receiver survives.)
func TestWatcherJunkFlood(t *testing.T) {
	var lines atomic.Int64
	log := slog.New(countHandler{&lines})
	ca, cb := listen(t), listen(t)
	mk := func(name string, c, peer *muteConn, in *fakeInst) *side {
		w, err := New(Options{Name: name, Key: key, Conn: c, Port: port(c), Peer: netip.MustParseAddr("127.0.0.1"), PeerPort: port(peer),
			Session:   Config{TxInterval: 100 * time.Millisecond, DetectMult: 10, SlowInterval: 100 * time.Millisecond},
			Instances: []Binding{{VRRP: in}}, Logger: log, LogInterval: time.Second, LeaveWait: 200 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		s := &side{w: w, inst: in, conn: c, cancel: cancel, done: make(chan error, 1)}
		go func() { s.done <- w.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-s.done })
		return s
	}
	a := mk("lb1", ca, cb, newInst(vrrp.StateMaster, 150, 150))
	b := mk("lb2", cb, ca, newInst(vrrp.StateBackup, 100, 150))
	testutil.WaitFor(3*time.Second, func() bool { return a.w.Status().Session == StateUp && b.w.Status().Session == StateUp })
	if b.w.Status().Session != StateUp {
		t.Fatalf("session not up: %v", b.w.Status().Session)
	}
	linesBefore := lines.Load()
	recvBefore := b.w.Status().Received

	// Junk: a probe's frame (magic, version, length) with a random body.
	junk := make([]byte, 200)
	rand.Read(junk)
	copy(junk, []byte{'T', 'P', Version})
	to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(port(cb))))
	const maxDatagrams, maxTime = 200000, 4 * time.Second
	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{}, 3)
	for _, s := range []struct {
		src string
		ttl int
	}{{"127.0.0.1", 255}, {"127.0.0.2", 255}, {"127.0.0.1", 64}} {
		c := sender(t, s.src, s.ttl)
		go func() {
			defer func() { done <- struct{}{} }()
			// 150 datagrams every 5 ms per sender: 90,000/s in all.
			tk := time.NewTicker(5 * time.Millisecond)
			defer tk.Stop()
			for sent.Load() < maxDatagrams {
				select {
				case <-stop:
					return
				case <-tk.C:
				}
				for range 150 {
					if _, err := c.WriteTo(junk, to); err == nil {
						sent.Add(1)
					}
				}
			}
		}()
	}
	start := time.Now()
	var ev vrrp.Event
	select {
	case ev = <-b.inst.events:
	case <-time.After(maxTime):
	}
	close(stop)
	for range 3 {
		<-done
	}
	took := time.Since(start)
	st := b.w.Status()
	n := sent.Load()
	t.Logf("flood: %d datagrams in %v (%.0f/s); dropped %v; real probes received %d; warn lines %d",
		n, took.Round(time.Millisecond), float64(n)/took.Seconds(), st.Dropped, st.Received-recvBefore, lines.Load()-linesBefore)
	if ev != nil {
		t.Fatalf("false takeover during the flood after %v: %#v", took, ev)
	}
	if st.Session != StateUp || st.Takeovers != 0 {
		t.Errorf("session %v, takeovers %d", st.Session, st.Takeovers)
	}
	// One line per reason per second, at most: 3 reasons ("mac" or
	// "malformed", "unknown peer", "ttl"), a 4 s flood.
	if got := lines.Load() - linesBefore; got > 3*5+2 {
		t.Errorf("%d warn lines for %d datagrams, want at most one per reason per second", got, n)
	}
	if st.Received-recvBefore < uint64(took/(100*time.Millisecond))/2 {
		t.Errorf("only %d real probes in %v", st.Received-recvBefore, took)
	}
}

// TestWatcherVetoBounded (issue 15): forged or stale witnesses that keep
// vouching for a dead master blocked the backup's takeover, even the
// plain VRRP Master_Down one, for as long as they kept sending. Now a veto
// lasts MaxVeto; then the backup, whose Master_Down time has long passed,
// takes over.
func TestWatcherVetoBounded(t *testing.T) {
	testVetoBounded(t, func(int) time.Duration { return 0 })
}

// TestWatcherVetoBoundedToggled: one agent vouches in every other report
// (a forged report between honest ones that no longer see the master):
// the veto goes on and off, and its budget still runs from the first veto.
func TestWatcherVetoBoundedToggled(t *testing.T) {
	testVetoBounded(t, func(i int) time.Duration {
		if i%2 == 1 {
			return 10 * time.Second // heard long before the master went quiet: no vouch
		}
		return 0
	})
}

// testVetoBounded feeds a fresh report every 20 ms whose witness age for
// the master is age(i), and checks that the backup is told to take over
// about witness_max_veto after the first veto.
func testVetoBounded(t *testing.T, age func(i int) time.Duration) {
	board := witness.NewBoard(witness.Config{Quorum: 1})
	board.SetServers([]netip.Addr{web1})
	in := newInst(vrrp.StateBackup, 100, 150)
	in.st.Version, in.st.MasterAdverInterval = 3, 50*time.Millisecond // Master_Down ≈ 180 ms
	const maxVeto = 400 * time.Millisecond
	w, err := New(Options{Name: "lb2", DisableProbe: true, Witness: board, Logger: quiet(), MaxVeto: maxVeto,
		Instances: []Binding{{VRRP: in}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	stop := make(chan struct{})
	fed := make(chan struct{})
	go func() {
		// The "agent" vouches, fresh, every 20 ms, without end (bounded
		// by the test's own stop).
		defer close(fed)
		tk := time.NewTicker(20 * time.Millisecond)
		defer tk.Stop()
		for i := 0; i < 500; i++ {
			board.Observe(time.Now(), &hbproto.AgentReport{Node: "web1", RealIP: web1,
				Seen: []hbproto.DirectorSeen{{Director: "lb1", Role: hbproto.RoleMaster, Age: age(i)}}})
			select {
			case <-stop:
				return
			case <-tk.C:
			}
		}
	}()
	defer func() { close(stop); <-fed; cancel(); <-done }()

	if ev, ok := in.next(time.Second).(vrrp.Witness); !ok || !ev.MasterAlive {
		t.Fatalf("got %#v, want the veto", ev)
	}
	vetoAt := time.Now()
	// Then the veto goes (and, toggled, comes back) until the takeover.
	var lifted time.Duration
	for {
		ev := in.next(2 * time.Second)
		if w, ok := ev.(vrrp.Witness); ok {
			if !w.MasterAlive {
				lifted = time.Since(vetoAt)
			}
			continue
		}
		if _, ok := ev.(vrrp.PeerDead); !ok {
			t.Fatalf("got %#v, want the backup told to take over once the veto ended", ev)
		}
		break
	}
	t.Logf("veto lifted %v after it was set (witness_max_veto %v); takeover followed", lifted.Round(time.Millisecond), maxVeto)
	if lifted < maxVeto-50*time.Millisecond || lifted > maxVeto+300*time.Millisecond {
		t.Errorf("veto lifted after %v, want about %v", lifted, maxVeto)
	}
	// The agents still vouch: no new veto until the master is heard again.
	if ev := in.next(300 * time.Millisecond); ev != nil {
		t.Errorf("then %#v, want nothing", ev)
	}
	if st := w.Status(); st.VetoesExpired != 1 || st.Takeovers != 1 {
		t.Errorf("status %+v", st)
	}
}
