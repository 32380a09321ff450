package peerwatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vishvananda/netns"

	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/director/witness"
	"github.com/tandemlb/tandem/shared/clock"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/logging"
)

// Defaults of Options.
const (
	DefaultWitnessWait = 100 * time.Millisecond
	DefaultLeaveWait   = 2 * time.Second
	// DefaultMaxVeto bounds a witness veto (fast_failover.witness_max_veto).
	DefaultMaxVeto = 30 * time.Second
	// DefaultLogInterval is the shortest time between two log lines of one
	// drop reason.
	DefaultLogInterval = 10 * time.Second
	// queueSize bounds the authenticated probes waiting for Run.
	queueSize = 64
	// goodbyeCopies is how many AdminDown probes Leave sends (UDP may drop
	// one).
	goodbyeCopies = 3
	// probeSlack and advertSlack are added to the peer's send interval
	// when computing the moment we should last have heard it (the witness
	// query's After): scheduling and transit delays.
	probeSlack  = 10 * time.Millisecond
	advertSlack = 100 * time.Millisecond
	// maxPoll bounds the interval at which VRRP status is polled.
	maxPoll = 100 * time.Millisecond
	// leavePoll is how often, once ctx has ended, the watcher checks
	// whether the local masters have released.
	leavePoll = 2 * time.Millisecond
)

// Instance is a running VRRP instance; *vrrp.Driver is one.
type Instance interface {
	Status() vrrp.Status
	Inject(ctx context.Context, ev vrrp.Event) error
}

// Binding is one VRRP instance the watcher protects.
type Binding struct {
	// VRRP is the instance's driver.
	VRRP Instance
	// NoPreempt is the instance's nopreempt: a witness veto then also
	// holds against a master of lower priority.
	NoPreempt bool
}

// Options configure a Watcher. Name and, unless DisableProbe, Key and
// Interface (or Conn) are required.
type Options struct {
	// Name is our director name: in our probes, and the name agents know
	// us by (the heartbeat reply's director field).
	Name string
	// Key seals our probes and is accepted on receive: the directors' key
	// (hbproto.DeriveDirectorKey of the cluster secret), which real
	// servers never hold.
	Key []byte
	// AcceptKeys are further keys accepted on receive (never sent with):
	// the directors' key of the previous secret during a rotation, and
	// the raw cluster secret from directors older than the directors'
	// key, unless agent keys are scoped (docs/ha.md).
	AcceptKeys [][]byte
	// Interface carries the probe: the sync interface if there is one,
	// else the VRRP interface.
	Interface string
	// Port is the UDP port (default DefaultPort).
	Port int
	// PeerPort is the peer's port (default Port).
	PeerPort int
	// Peer is the other director's address on Interface: only probes
	// from it are accepted. When invalid the peer is found by broadcast
	// (IPv4) or all-nodes multicast (IPv6); the source of the first
	// authenticated probe is then pinned until the watcher stops, probed
	// by unicast, and probes from any other address are dropped ("unknown
	// peer").
	Peer netip.Addr
	// IPv6 selects an IPv6 socket when Peer is not set.
	IPv6 bool
	// Session is the probe timing.
	Session Config
	// Window is the accepted clock difference (default DefaultWindow).
	Window time.Duration
	// DisableProbe runs only the witness rule (no probe socket): for a
	// peer that is keepalived, or with fast_failover off.
	DisableProbe bool

	// Instances are the VRRP instances to protect.
	Instances []Binding

	// Witness is the board the heartbeat listener feeds; nil disables the
	// witness rule.
	Witness *witness.Board
	// WitnessWait is how long a backup that lost the probe waits for the
	// agents' answer before taking over (default DefaultWitnessWait).
	WitnessWait time.Duration
	// MaxVeto bounds a witness veto (default DefaultMaxVeto): after it the
	// veto is lifted until the master is heard again (an advert, or the
	// probe up), and plain VRRP decides: a backup whose Master_Down time
	// has passed takes over at once.
	MaxVeto time.Duration
	// RequestReports asks every live agent for a report now (a director
	// reply with report_now, sent unsolicited); nil if the listener cannot.
	// It must not block.
	RequestReports func()

	// LeaveWait bounds how long Run, when ctx ends, waits for our VRRP
	// instances to release the VIPs before it says goodbye (default
	// DefaultLeaveWait).
	LeaveWait time.Duration

	// Conn replaces the UDP socket (tests). Run closes it.
	Conn PacketConn
	// NetNS is the namespace of Interface (default: the current one).
	NetNS netns.NsHandle
	// Logger receives the logs (default slog.Default()).
	Logger *slog.Logger
	// LogInterval is the shortest time between two log lines of one drop
	// reason (default DefaultLogInterval).
	LogInterval time.Duration
	// Clock times the probes, the witness wait and the status polls, and
	// dates what the watcher sees (default clock.Real).
	Clock clock.Clock
	// SessionID is our session id (default: random).
	SessionID uint64
	// ProbeInterval, if set, is called (on Run's goroutine; it must not
	// block) with the time between two probes received from the peer in
	// one of its sessions: what the detection time is measured against.
	ProbeInterval func(time.Duration)
}

// Status is a snapshot of the watcher.
type Status struct {
	// Session is the probe session state; Peer what we know of the peer.
	Session SessionState
	Peer    Peer
	// Sent, Received and SendErrors count probes.
	Sent, Received, SendErrors uint64
	// Lost counts the probes the peer sent that never reached the session:
	// gaps in its sequence numbers within one of its sessions (lost on
	// the way, or dropped here after authentication, "queue full").
	Lost uint64
	// Dropped counts refused datagrams by reason (hbproto.Reason labels,
	// "unknown peer", "ttl", "queue full").
	Dropped map[string]uint64
	// Pinned is the peer address probes are accepted from: the configured
	// one, or the one learnt from the first authenticated probe.
	Pinned netip.Addr
	// LastDown and LastDownDiag describe the last time the session left Up.
	LastDown     time.Time
	LastDownDiag Diag
	// Takeovers counts PeerDead injected; Vetoes the takeovers the agents
	// prevented; VetoesExpired the vetoes lifted after MaxVeto.
	Takeovers, Vetoes, VetoesExpired uint64
	// Witnesses are the agents that vouched at the last veto.
	Witnesses []string
}

type inst struct {
	b          Binding
	received   uint64
	lastAdvert time.Time
	veto       bool      // the last Witness level injected
	vetoSince  time.Time // first veto since the master was last heard
	vetoSpent  bool      // a veto lasted MaxVeto: none until the master is heard again
}

type pending struct {
	deadline time.Time
	insts    []*inst
}

// packet is an authenticated probe from the peer, as the reader queues it.
type packet struct {
	p    *Probe
	from netip.AddrPort
}

// Watcher runs the probe session with the other director and applies its
// verdicts, and the witness rule, to the local VRRP instances.
type Watcher struct {
	// handoff: Run says goodbye as soon as ctx ends (Handoff).
	handoff atomic.Bool

	opts  Options
	log   *slog.Logger
	lim   *logging.Limiter
	clock clock.Clock
	sess  *Session
	seal  *Sealer
	open  *Opener
	insts []*inst

	probeLost bool // the session was Up and is not any more
	pend      *pending
	// last is the peer's last probe received: its session, sequence
	// number and arrival (Lost, ProbeInterval).
	last struct {
		session, seq uint64
		at           time.Time
	}

	mu     sync.Mutex
	status Status
	// next holds the bindings of the last SetInstances until Run takes
	// them; rebind wakes Run.
	next   []Binding
	nextOK bool
	rebind chan struct{}
}

// New checks opts and returns a watcher. It does no I/O.
func New(opts Options) (*Watcher, error) {
	if opts.Name == "" {
		return nil, errors.New("peerwatch: no director name")
	}
	if !opts.DisableProbe {
		if len(opts.Key) < hbproto.MinKeySize {
			return nil, fmt.Errorf("peerwatch: key of %d bytes, need %d", len(opts.Key), hbproto.MinKeySize)
		}
		if opts.Interface == "" && opts.Conn == nil {
			return nil, errors.New("peerwatch: no probe interface")
		}
	}
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.PeerPort == 0 {
		opts.PeerPort = opts.Port
	}
	if opts.WitnessWait <= 0 {
		opts.WitnessWait = DefaultWitnessWait
	}
	if opts.LeaveWait <= 0 {
		opts.LeaveWait = DefaultLeaveWait
	}
	if opts.MaxVeto <= 0 {
		opts.MaxVeto = DefaultMaxVeto
	}
	if opts.LogInterval <= 0 {
		opts.LogInterval = DefaultLogInterval
	}
	if opts.SessionID == 0 {
		id, err := hbproto.NewSessionID()
		if err != nil {
			return nil, err
		}
		opts.SessionID = max(id, 1)
	}
	w := &Watcher{opts: opts, log: opts.Logger, clock: clock.Or(opts.Clock), rebind: make(chan struct{}, 1)}
	if w.log == nil {
		w.log = slog.Default()
	}
	w.log = w.log.With("component", "peerwatch")
	w.lim = logging.NewLimiter(opts.LogInterval, w.clock.Now)
	w.sess = NewSession(opts.Session, opts.SessionID)
	w.seal = NewSealer(opts.Key, opts.SessionID)
	w.open = NewOpenerKeys(append([][]byte{opts.Key}, opts.AcceptKeys...), opts.Window)
	for _, b := range opts.Instances {
		w.insts = append(w.insts, &inst{b: b})
	}
	w.status = Status{Session: StateDown, Dropped: map[string]uint64{}, Pinned: opts.Peer}
	return w, nil
}

// Handoff makes Run, once its ctx ends, say goodbye at once instead of
// waiting up to LeaveWait for the local masters to release: a reload
// replaces the watcher while the VRRP instances keep running. With a
// local MASTER the goodbye is "disabled", on which the peer only keeps
// plain VRRP (it takes over on "released" alone).
func (w *Watcher) Handoff() { w.handoff.Store(true) }

// SetInstances replaces the VRRP instances the watcher protects (after a
// reload, or when a driver was restarted). It does not block; Run applies
// it. Instances given again keep their state; new ones start as if an
// advert had just been heard.
func (w *Watcher) SetInstances(b []Binding) {
	w.mu.Lock()
	w.next, w.nextOK = append([]Binding(nil), b...), true
	w.mu.Unlock()
	select {
	case w.rebind <- struct{}{}:
	default:
	}
}

// takeInstances applies a pending SetInstances (Run's goroutine).
func (w *Watcher) takeInstances(now time.Time) {
	w.mu.Lock()
	next, ok := w.next, w.nextOK
	w.next, w.nextOK = nil, false
	w.mu.Unlock()
	if !ok {
		return
	}
	old := map[Instance]*inst{}
	for _, in := range w.insts {
		old[in.b.VRRP] = in
	}
	w.insts = w.insts[:0]
	for _, b := range next {
		in := old[b.VRRP]
		if in == nil {
			in = &inst{b: b, lastAdvert: now, received: b.VRRP.Status().Received}
		}
		in.b = b
		w.insts = append(w.insts, in)
	}
	if w.pend != nil {
		var keep []*inst
		for _, in := range w.pend.insts {
			if slices.Contains(w.insts, in) {
				keep = append(keep, in)
			}
		}
		w.pend.insts = keep
	}
}

// Status returns a snapshot.
func (w *Watcher) Status() Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.status
	s.Dropped = maps.Clone(w.status.Dropped)
	s.Witnesses = append([]string(nil), w.status.Witnesses...)
	return s
}

func (w *Watcher) count(f func(*Status)) {
	w.mu.Lock()
	f(&w.status)
	w.mu.Unlock()
}

func (w *Watcher) witnessOn() bool {
	return w.opts.Witness != nil && w.opts.Witness.Config().Quorum > 0
}

func (w *Watcher) pollInterval() time.Duration {
	if w.opts.DisableProbe {
		return maxPoll
	}
	return min(w.sess.Config().TxInterval, maxPoll)
}

// Run runs until ctx ends. Then, unless the probe is disabled, it waits
// (at most LeaveWait) until no local instance is MASTER and says goodbye:
// AdminDown "released" (the peer may take over at once) or, if an instance
// is still MASTER, AdminDown "disabled" (the peer keeps plain VRRP). Run
// the watcher with the same context as the VRRP drivers: they release the
// VIPs when it ends, and the goodbye follows.
func (w *Watcher) Run(ctx context.Context) error {
	var pkts chan packet
	readDone := make(chan struct{})
	if !w.opts.DisableProbe {
		if w.opts.Conn == nil {
			v6 := w.opts.IPv6
			if w.opts.Peer.IsValid() {
				v6 = w.opts.Peer.Is6()
			}
			c, err := ListenUDP(w.opts.NetNS, w.opts.Interface, w.opts.Port, v6)
			if err != nil {
				return err
			}
			w.opts.Conn = c
		}
		w.filter(w.opts.Peer)
		pkts = make(chan packet, queueSize)
		go w.read(pkts, readDone)
		defer func() {
			w.opts.Conn.Close()
			<-readDone
		}()
	} else {
		close(readDone)
	}
	now := w.clock.Now()
	for _, in := range w.insts {
		in.lastAdvert = now
		in.received = in.b.VRRP.Status().Received
	}
	if !w.opts.DisableProbe {
		w.apply(ctx, now, w.sess.Step(now, Start{}))
		w.log.Info("peer probe starting", "interface", w.opts.Interface, "port", w.opts.Port,
			"peer", addrString(w.opts.Peer), "tx_interval", w.sess.Config().TxInterval.String(), "detect_mult", w.sess.Config().DetectMult)
	}
	var changed <-chan struct{}
	if w.witnessOn() {
		changed = w.opts.Witness.Changed()
	}
	nextPoll := now
	alarm := clock.NewAlarm(w.clock)
	defer alarm.Stop()
	done := ctx.Done()
	var leaveBy time.Time // set once ctx has ended: probing goes on until our masters release
	for {
		// The VRRP counters are polled for the witness rule only: without
		// it the probe's own deadlines are the only wake-ups.
		var next time.Time
		if w.witnessOn() {
			next = nextPoll
		}
		if !leaveBy.IsZero() {
			now := w.clock.Now()
			if w.opts.DisableProbe || !w.masters() || !now.Before(leaveBy) {
				w.leave()
				return nil
			}
			next = now.Add(leavePoll)
		}
		for _, t := range []time.Time{w.sess.NextDeadline(), w.pendingDeadline()} {
			if !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
		select {
		case <-w.rebind:
			w.takeInstances(w.clock.Now())
		case <-done:
			done = nil
			leaveBy = w.clock.Now().Add(w.opts.LeaveWait)
			if w.handoff.Load() {
				leaveBy = w.clock.Now()
			}
			w.pend = nil
			ctx = context.WithoutCancel(ctx)
		case p := <-pkts:
			w.receive(ctx, p)
		case <-changed:
			changed = w.opts.Witness.Changed()
			w.witness(ctx, w.clock.Now())
		case <-alarm.At(next):
			now := w.clock.Now()
			w.apply(ctx, now, w.sess.Step(now, TimerFired{}))
			if w.witnessOn() && !now.Before(nextPoll) {
				w.poll(now)
				w.witness(ctx, now)
				nextPoll = now.Add(w.pollInterval())
			} else if w.pend != nil {
				w.witness(ctx, now)
			}
		}
	}
}

// Drop reasons of the reader besides the hbproto.Reason labels.
const (
	DropTTL         = "ttl"          // TTL or hop limit not 255
	DropUnknownPeer = "unknown peer" // not the configured or pinned peer
	DropQueueFull   = "queue full"   // Run is behind: authenticated probes only
)

// read is the only goroutine that sees datagrams. Everything that refuses
// a datagram happens here, before anything is queued: the TTL, the peer's
// address, then the Opener (framing, MAC, time, replay). Only
// authenticated probes from the peer reach the bounded queue, so junk, at
// any rate, never takes the place of a real probe in it.
func (w *Watcher) read(out chan<- packet, done chan<- struct{}) {
	defer close(done)
	buf := make([]byte, MaxDatagram+1)
	for {
		n, from, ttl, err := w.opts.Conn.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				w.log.Error("probe read failed", "err", err)
			}
			return
		}
		p, reason, err := w.accept(buf[:n], from, ttl, w.clock.Now())
		if reason != "" {
			w.drop(reason, from, err)
			continue
		}
		if p == nil {
			continue // our own broadcast
		}
		select {
		case out <- packet{p: p, from: from}:
		default:
			w.drop(DropQueueFull, from, nil)
		}
	}
}

// accept checks one datagram; it returns the probe, or the drop reason,
// or neither for our own probe looped back. The first authenticated probe
// of another session pins the peer when none is configured.
func (w *Watcher) accept(b []byte, from netip.AddrPort, ttl int, now time.Time) (*Probe, string, error) {
	if ttl != ProbeTTL {
		return nil, DropTTL, nil
	}
	pinned := w.pinned()
	if pinned.IsValid() && !sameAddr(from.Addr(), pinned) {
		return nil, DropUnknownPeer, nil
	}
	p, err := w.open.Open("", b, now)
	if err != nil {
		return nil, hbproto.Reason(err), err
	}
	if p.Session == w.opts.SessionID {
		return nil, "", nil
	}
	if !pinned.IsValid() {
		ip := from.Addr()
		w.count(func(s *Status) { s.Pinned = ip })
		w.log.Info("peer pinned: probes from any other address are dropped until restart", "peer", ip.String(), "name", p.Name)
		w.filter(ip)
	}
	return p, "", nil
}

// peerFilter is a PacketConn that can drop, in the kernel, what the reader
// would drop for its TTL or source (UDPConn.FilterPeer).
type peerFilter interface{ FilterPeer(peer netip.Addr) error }

// filter installs the kernel filter when the conn has one.
func (w *Watcher) filter(peer netip.Addr) {
	if f, ok := w.opts.Conn.(peerFilter); ok {
		if err := f.FilterPeer(peer); err != nil {
			w.log.Warn("probe socket filter not installed: junk is refused by the reader only", "err", err)
		}
	}
}

// pinned is the address probes are accepted from, invalid until known.
func (w *Watcher) pinned() netip.Addr {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.status.Pinned
}

// sameAddr compares two addresses without their zones (the socket is bound
// to one interface).
func sameAddr(a, b netip.Addr) bool { return a.Unmap().WithZone("") == b.Unmap().WithZone("") }

// drop counts a refused datagram and logs it, at most one line per reason
// per LogInterval (with the count suppressed meanwhile).
func (w *Watcher) drop(reason string, from netip.AddrPort, err error) {
	w.count(func(s *Status) { s.Dropped[reason]++ })
	ok, n := w.lim.Allow(reason)
	if !ok {
		return
	}
	args := []any{"peer", from.String(), "reason", reason}
	if err != nil {
		args = append(args, "err", err)
	}
	if n > 0 {
		args = append(args, logging.KeySuppressed, n)
	}
	w.log.Warn("probe dropped", args...)
}

func (w *Watcher) receive(ctx context.Context, pk packet) {
	now := w.clock.Now()
	var lost uint64
	if p := pk.p; p.Session == w.last.session && p.Seq > w.last.seq {
		lost = p.Seq - w.last.seq - 1
		if w.opts.ProbeInterval != nil {
			w.opts.ProbeInterval(now.Sub(w.last.at))
		}
	}
	w.last.session, w.last.seq, w.last.at = pk.p.Session, pk.p.Seq, now
	w.count(func(s *Status) { s.Received++; s.Lost += lost })
	w.apply(ctx, now, w.sess.Step(now, Received{Probe: pk.p, From: pk.from}))
}

// dest is where probes go: the configured peer, the peer heard from, or
// the discovery address.
func (w *Watcher) dest() netip.AddrPort {
	if w.opts.Peer.IsValid() {
		return netip.AddrPortFrom(w.opts.Peer, uint16(w.opts.PeerPort))
	}
	if p := w.sess.Peer(); p.Addr.IsValid() && w.sess.State() != StateDown {
		return p.Addr
	}
	if p := w.sess.Peer(); p.Addr.IsValid() && p.LastHeard.After(w.clock.Now().Add(-2*w.sess.Config().SlowInterval)) {
		return p.Addr
	}
	if pin := w.pinned(); pin.IsValid() {
		return netip.AddrPortFrom(pin, uint16(w.opts.PeerPort))
	}
	if w.opts.IPv6 {
		return netip.AddrPortFrom(allNodes6.WithZone(w.opts.Interface), uint16(w.opts.PeerPort))
	}
	return netip.AddrPortFrom(broadcast4, uint16(w.opts.PeerPort))
}

// roles reports our instances for our probes.
func (w *Watcher) roles() []InstanceRole {
	out := make([]InstanceRole, 0, len(w.insts))
	for _, in := range w.insts {
		st := in.b.VRRP.Status()
		if st.VRID == 0 {
			continue
		}
		out = append(out, InstanceRole{VRID: st.VRID, Family: family(st), Role: role(st.State), Priority: st.Priority})
	}
	return out
}

func family(st vrrp.Status) uint8 {
	if st.Src.Is6() {
		return 6
	}
	return 4
}

func role(s vrrp.State) hbproto.Role {
	switch s {
	case vrrp.StateBackup:
		return hbproto.RoleBackup
	case vrrp.StateMaster:
		return hbproto.RoleMaster
	case vrrp.StateFault:
		return hbproto.RoleFault
	}
	return hbproto.RoleUnknown
}

func (w *Watcher) send(a Send) {
	p := Probe{State: a.State, Diag: a.Diag, DetectMult: a.DetectMult, TxInterval: a.TxInterval,
		YourSession: a.YourSession, Name: w.opts.Name, Instances: w.roles()}
	b, err := w.seal.Seal(w.clock.Now(), p)
	if err == nil {
		err = w.opts.Conn.WriteTo(b, w.dest())
	}
	if err != nil {
		w.count(func(s *Status) { s.SendErrors++ })
		w.log.Debug("probe not sent", "peer", w.dest().String(), "err", err)
		return
	}
	w.count(func(s *Status) { s.Sent++ })
}

// apply performs the session's actions.
func (w *Watcher) apply(ctx context.Context, now time.Time, acts []Action) {
	for _, a := range acts {
		switch a := a.(type) {
		case Send:
			w.send(a)
		case PeerUp:
			w.probeLost = false
			for _, in := range w.insts {
				in.vetoSpent, in.vetoSince = false, time.Time{} // the master is heard again
			}
			w.log.Info("peer probe up", "peer", a.Peer.Addr.String(), "name", a.Peer.Name,
				"detect_time", a.Peer.DetectTime().String())
		case PeerDown:
			w.count(func(s *Status) { s.LastDown, s.LastDownDiag, s.Session = now, a.Diag, w.sess.State() })
			w.peerDown(ctx, now, a)
		}
	}
	w.count(func(s *Status) { s.Session, s.Peer = w.sess.State(), w.sess.Peer() })
}

// masterOf returns the local instances in BACKUP of which the peer was
// MASTER.
func (w *Watcher) masterOf(p Peer) []*inst {
	var out []*inst
	for _, in := range w.insts {
		st := in.b.VRRP.Status()
		if st.State != vrrp.StateBackup {
			continue
		}
		for _, r := range p.Instances {
			if r.VRID == st.VRID && r.Family == family(st) && r.Role == hbproto.RoleMaster {
				out = append(out, in)
				break
			}
		}
	}
	return out
}

func (w *Watcher) peerDown(ctx context.Context, now time.Time, a PeerDown) {
	log := w.log.With("peer", a.Peer.Addr.String(), "name", a.Peer.Name, "diag", a.Diag.String())
	cands := w.masterOf(a.Peer)
	switch a.Diag {
	case DiagReleased, DiagPeerRestarted:
		// The master's own word that it left (or its new run, which starts
		// by removing the VIPs): no witness needed.
		log.Info("peer probe down: the master stopped and released its VIPs", "instances", len(cands))
		w.takeover(ctx, cands, a.Diag.String())
	case DiagDetectExpired:
		w.probeLost = true
		log.Warn("peer probe down: no probe within the detection time", "last_heard", a.Peer.LastHeard.Format(time.RFC3339Nano),
			"instances", len(cands))
		if len(cands) == 0 {
			return
		}
		if w.witnessOn() && w.opts.Witness.Agents(now) > 0 {
			if w.opts.RequestReports != nil {
				w.opts.RequestReports()
			}
			w.pend = &pending{deadline: now.Add(w.opts.WitnessWait), insts: cands}
			w.witness(ctx, now)
			return
		}
		w.takeover(ctx, cands, "peer dead")
	default:
		log.Info("peer probe down")
	}
}

func (w *Watcher) pendingDeadline() time.Time {
	if w.pend == nil {
		return time.Time{}
	}
	return w.pend.deadline
}

func (w *Watcher) inject(ctx context.Context, in *inst, ev vrrp.Event) {
	ictx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := in.b.VRRP.Inject(ictx, ev); err != nil {
		w.log.Error("cannot reach the VRRP instance", "vrid", int(in.b.VRRP.Status().VRID), "event", fmt.Sprintf("%T", ev), "err", err)
	}
}

func (w *Watcher) takeover(ctx context.Context, insts []*inst, why string) {
	for _, in := range insts {
		if in.veto {
			in.veto = false
			w.inject(ctx, in, vrrp.Witness{MasterAlive: false})
		}
		w.log.Warn("taking over from the peer", "vrid", int(in.b.VRRP.Status().VRID), "reason", why)
		w.count(func(s *Status) { s.Takeovers++ })
		w.inject(ctx, in, vrrp.PeerDead{})
	}
}

// poll notes, from the VRRP counters, when each instance last heard an
// advert.
func (w *Watcher) poll(now time.Time) {
	for _, in := range w.insts {
		if r := in.b.VRRP.Status().Received; r != in.received {
			in.received, in.lastAdvert = r, now
			// The master is heard again: a new veto budget.
			in.vetoSpent, in.vetoSince = false, time.Time{}
		}
	}
}

// verdict applies the witness rule to one instance at now.
func (w *Watcher) verdict(now time.Time, in *inst) (bool, witness.Verdict) {
	if !w.witnessOn() {
		return false, witness.Verdict{}
	}
	st := in.b.VRRP.Status()
	if st.State != vrrp.StateBackup || !(in.b.NoPreempt || st.MasterPriority >= st.Priority) {
		// Not waiting for a master we would keep: preemption and plain
		// takeover are not vetoed.
		return false, witness.Verdict{}
	}
	after := in.lastAdvert.Add(st.MasterAdverInterval + advertSlack)
	q := witness.Query{Self: w.opts.Name}
	p := w.sess.Peer()
	for _, r := range p.Instances {
		if r.VRID == st.VRID && r.Family == family(st) && r.Role == hbproto.RoleMaster {
			q.Master = p.Name
		}
	}
	if w.probeLost && !p.LastHeard.IsZero() {
		if t := p.LastHeard.Add(p.TxInterval + probeSlack); t.Before(after) {
			after = t
		}
	}
	q.After = after
	v := w.opts.Witness.Verdict(now, q)
	return v.Alive, v
}

// witness feeds each instance the witness level, and settles a pending
// decision after a probe loss.
func (w *Watcher) witness(ctx context.Context, now time.Time) {
	if !w.witnessOn() {
		return
	}
	for _, in := range w.insts {
		alive, v := w.verdict(now, in)
		// The veto budget runs from the first veto since the master was
		// last heard (poll resets it), so agents that vouch on and off
		// (a forged report between honest ones) cannot renew it.
		expired := false
		if !in.vetoSpent && alive && !in.vetoSince.IsZero() && now.Sub(in.vetoSince) >= w.opts.MaxVeto {
			expired, in.vetoSpent = true, true
		}
		if in.vetoSpent {
			alive = false
		}
		if alive == in.veto && !expired {
			continue
		}
		st := in.b.VRRP.Status()
		vrid := int(st.VRID)
		switch {
		case expired:
			w.log.Warn("witness veto lifted after witness_max_veto: plain VRRP decides until the master is heard again", "vrid", vrid,
				"max_veto", w.opts.MaxVeto.String(), "witnesses", v.Witnesses)
			w.count(func(s *Status) { s.VetoesExpired++ })
		case alive:
			if in.vetoSince.IsZero() {
				in.vetoSince = now
			}
			w.log.Warn("agents report the master alive: not taking over while they do", "vrid", vrid, "witnesses", v.Witnesses, "agents", v.Agents,
				"max_veto", w.opts.MaxVeto.String())
			w.count(func(s *Status) { s.Vetoes++; s.Witnesses, s.Session = v.Witnesses, w.sess.State() })
		default:
			w.log.Info("agents no longer vouch for the master", "vrid", vrid, "agents", v.Agents)
		}
		if alive != in.veto {
			in.veto = alive
			w.inject(ctx, in, vrrp.Witness{MasterAlive: alive})
		}
		if expired && st.State == vrrp.StateBackup && now.Sub(in.lastAdvert) >= masterDownInterval(st) {
			// Plain VRRP would have taken over already: the vetoes held
			// it back, and re-armed its timer. Take over now.
			w.takeover(ctx, []*inst{in}, "witness veto expired, no advert within Master_Down_Interval")
		}
	}
	if w.pend == nil {
		return
	}
	var waiting []*inst
	for _, in := range w.pend.insts {
		if !in.veto {
			waiting = append(waiting, in)
		}
	}
	if len(waiting) == 0 {
		w.pend = nil
		return
	}
	if now.Before(w.pend.deadline) {
		w.pend.insts = waiting
		return
	}
	w.pend = nil
	w.takeover(ctx, waiting, "peer dead, no agent vouches for it")
}

// masterDownInterval is RFC 5798's 3 × Master_Adver_Interval + Skew_Time
// (VRRPv2: the skew in seconds) for st.
func masterDownInterval(st vrrp.Status) time.Duration {
	unit := time.Second
	if st.Version == 3 {
		unit = st.MasterAdverInterval
	}
	return 3*st.MasterAdverInterval + time.Duration(256-int(st.Priority))*unit/256
}

// masters reports whether a local instance is MASTER.
func (w *Watcher) masters() bool {
	for _, in := range w.insts {
		if in.b.VRRP.Status().State == vrrp.StateMaster {
			return true
		}
	}
	return false
}

// leave says goodbye: "released" when no local instance is MASTER any
// more, else "disabled".
func (w *Watcher) leave() {
	if w.opts.DisableProbe {
		return
	}
	d := DiagReleased
	if w.masters() {
		d = DiagDisabled
	}
	now := w.clock.Now()
	for _, a := range w.sess.Step(now, Leave{Diag: d}) {
		if s, ok := a.(Send); ok {
			for range goodbyeCopies {
				w.send(s)
			}
		}
	}
	w.count(func(s *Status) { s.Session = StateAdminDown })
	w.log.Info("peer probe stopped", "diag", d.String())
}

func addrString(a netip.Addr) string {
	if !a.IsValid() {
		return "discover"
	}
	return a.String()
}

// String renders the status for `tandem-director status`.
func (s Status) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "peer probe: %s", s.Session)
	if s.Pinned.IsValid() && (s.Peer.Name == "" || !sameAddr(s.Peer.Addr.Addr(), s.Pinned)) {
		fmt.Fprintf(&b, ", pinned to %s", s.Pinned)
	}
	if s.Peer.Name != "" {
		fmt.Fprintf(&b, ", peer %s at %s (%v × %d)", s.Peer.Name, s.Peer.Addr, s.Peer.TxInterval, s.Peer.DetectMult)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "  probes: %d sent, %d received, %d send errors\n", s.Sent, s.Received, s.SendErrors)
	if !s.LastDown.IsZero() {
		fmt.Fprintf(&b, "  last down: %s: %s\n", s.LastDown.Format(time.RFC3339), s.LastDownDiag)
	}
	fmt.Fprintf(&b, "  takeovers: %d, vetoed by agents: %d", s.Takeovers, s.Vetoes)
	if s.VetoesExpired > 0 {
		fmt.Fprintf(&b, ", lifted after witness_max_veto: %d", s.VetoesExpired)
	}
	if len(s.Witnesses) > 0 {
		fmt.Fprintf(&b, " (last: %s)", strings.Join(s.Witnesses, ", "))
	}
	b.WriteString("\n")
	for _, k := range slices.Sorted(maps.Keys(s.Dropped)) {
		fmt.Fprintf(&b, "  dropped (%s): %d\n", k, s.Dropped[k])
	}
	return b.String()
}
