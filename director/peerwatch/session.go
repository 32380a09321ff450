package peerwatch

import (
	"net/netip"
	"time"
)

// Defaults of Config.
const (
	DefaultTxInterval   = 50 * time.Millisecond
	DefaultDetectMult   = 3
	DefaultSlowInterval = time.Second
)

// Config sets the session's timing.
type Config struct {
	// TxInterval is the probe interval while the session is Up (default
	// 50ms). The peer declares us dead after DetectMult × TxInterval
	// without a probe.
	TxInterval time.Duration
	// DetectMult is the number of intervals without a probe that declare
	// the peer dead (default 3).
	DetectMult int
	// SlowInterval is the probe interval while the session is not Up
	// (default 1s, as BFD): a peer that never answers, such as keepalived,
	// costs one datagram a second.
	SlowInterval time.Duration
}

// WithDefaults fills in zero fields.
func (c Config) WithDefaults() Config {
	if c.TxInterval <= 0 {
		c.TxInterval = DefaultTxInterval
	}
	if c.DetectMult <= 0 {
		c.DetectMult = DefaultDetectMult
	}
	if c.DetectMult > 255 {
		c.DetectMult = 255
	}
	if c.SlowInterval <= 0 {
		c.SlowInterval = DefaultSlowInterval
	}
	if c.SlowInterval < c.TxInterval {
		c.SlowInterval = c.TxInterval
	}
	return c
}

// Peer is what the session knows of the other director.
type Peer struct {
	// Name is its director name.
	Name string
	// Session is its session id.
	Session uint64
	// Addr is the source of its last probe.
	Addr netip.AddrPort
	// Instances are its VRRP instances as of its last probe that was not
	// AdminDown (a goodbye reports them stopped; what matters is what they
	// were).
	Instances []InstanceRole
	// TxInterval and DetectMult are its timing, as it advertises it.
	TxInterval time.Duration
	DetectMult uint8
	// LastHeard is when its last probe arrived.
	LastHeard time.Time
}

// DetectTime is how long the peer may stay silent.
func (p Peer) DetectTime() time.Duration { return time.Duration(p.DetectMult) * p.TxInterval }

// Event is an input to Session.Step: Start, Received, TimerFired or Leave.
type Event interface{ isEvent() }

// Start starts the session in Down; the first probe goes out at once.
type Start struct{}

// Received is an authenticated probe (from Opener.Open).
type Received struct {
	Probe *Probe
	From  netip.AddrPort
}

// TimerFired tells the session that NextDeadline has been reached: a probe
// is due, or the peer's detection time ran out. One that comes early
// changes nothing.
type TimerFired struct{}

// Leave stops the session: AdminDown with Diag (DiagReleased: our VRRP
// instances have stopped and released the VIPs; DiagDisabled: only the
// probe stops). One probe is sent; none after.
type Leave struct{ Diag Diag }

func (Start) isEvent()      {}
func (Received) isEvent()   {}
func (TimerFired) isEvent() {}
func (Leave) isEvent()      {}

// Action is an output of Session.Step for the driver to perform, in order:
// Send, PeerUp or PeerDown.
type Action interface{ isAction() }

// Send asks the driver to send a probe with these session fields (the
// driver adds name, instances, sequence and time).
type Send struct {
	State       SessionState
	Diag        Diag
	YourSession uint64
	TxInterval  time.Duration
	DetectMult  uint8
}

// PeerUp: the session came up (three-way handshake done).
type PeerUp struct{ Peer Peer }

// PeerDown: the session left Up. Diag says why: DiagDetectExpired (silent:
// dead, or the path is broken), DiagReleased (it stopped after releasing
// its VIPs), DiagNeighborDown (it no longer hears us), DiagDisabled,
// DiagPeerRestarted. Peer is as last heard.
type PeerDown struct {
	Peer Peer
	Diag Diag
}

func (Send) isAction()     {}
func (PeerUp) isAction()   {}
func (PeerDown) isAction() {}

// Session is the pure BFD-like detector for one peer (RFC 5880's
// asynchronous mode, simplified: no echo, no demand mode, no
// authentication inside; the datagram is authenticated around it). No
// clock, no I/O: the driver feeds it events with the current time and
// performs its actions; it calls Step(TimerFired) at NextDeadline. Not safe
// for concurrent use.
type Session struct {
	cfg   Config
	local uint64

	state    SessionState
	diag     Diag
	remote   uint64 // the peer's session id, 0 if none
	peer     Peer
	detectAt time.Time
	nextTx   time.Time
	started  bool
}

// NewSession returns a session for our session id local (non-zero).
func NewSession(cfg Config, local uint64) *Session {
	return &Session{cfg: cfg.WithDefaults(), local: local, state: StateDown}
}

// State returns our session state.
func (s *Session) State() SessionState { return s.state }

// Peer returns the peer as last heard (zero Name if never).
func (s *Session) Peer() Peer {
	p := s.peer
	p.Instances = append([]InstanceRole(nil), s.peer.Instances...)
	return p
}

// Config returns the timing in force.
func (s *Session) Config() Config { return s.cfg }

// NextDeadline returns when Step(TimerFired) is due; zero when nothing is
// scheduled (not started, or after Leave).
func (s *Session) NextDeadline() time.Time {
	next := s.nextTx
	if !s.detectAt.IsZero() && (next.IsZero() || s.detectAt.Before(next)) {
		next = s.detectAt
	}
	return next
}

func (s *Session) interval() time.Duration {
	if s.state == StateUp {
		return s.cfg.TxInterval
	}
	return s.cfg.SlowInterval
}

// send returns the Send action for our current state and schedules the
// next periodic probe.
func (s *Session) send(now time.Time) Send {
	s.nextTx = now.Add(s.interval())
	return Send{State: s.state, Diag: s.diag, YourSession: s.remote, TxInterval: s.interval(), DetectMult: uint8(s.cfg.DetectMult)}
}

// Step feeds one event at now and returns the actions, in order.
func (s *Session) Step(now time.Time, ev Event) []Action {
	if s.state == StateAdminDown {
		return nil
	}
	switch ev := ev.(type) {
	case Start:
		if s.started {
			return nil
		}
		s.started = true
		return []Action{s.send(now)}
	case TimerFired:
		return s.timer(now)
	case Received:
		if ev.Probe == nil || !s.started {
			return nil
		}
		return s.received(now, ev.Probe, ev.From)
	case Leave:
		s.state, s.diag = StateAdminDown, ev.Diag
		a := s.send(now)
		s.nextTx, s.detectAt = time.Time{}, time.Time{}
		return []Action{a}
	}
	return nil
}

func (s *Session) due(t time.Time, now time.Time) bool { return !t.IsZero() && !now.Before(t) }

func (s *Session) timer(now time.Time) []Action {
	var acts []Action
	if s.due(s.detectAt, now) {
		acts = append(acts, s.down(now, DiagDetectExpired)...)
		// The peer is forgotten: a probe from it starts a new handshake.
		s.remote = 0
	}
	if s.due(s.nextTx, now) {
		acts = append(acts, s.send(now))
	}
	return acts
}

// down leaves Init or Up for Down; PeerDown only when we were Up.
func (s *Session) down(now time.Time, d Diag) []Action {
	was := s.state
	s.state, s.diag, s.detectAt = StateDown, d, time.Time{}
	if was == StateUp {
		// Back to the slow rate from now on.
		s.nextTx = now.Add(s.cfg.SlowInterval)
		return []Action{PeerDown{Peer: s.Peer(), Diag: d}}
	}
	return nil
}

func (s *Session) received(now time.Time, p *Probe, from netip.AddrPort) []Action {
	if p.Session == s.local {
		return nil // our own probe (broadcast looped back)
	}
	if p.YourSession != 0 && p.YourSession != s.local {
		// Meant for an earlier run of ours: the peer will notice our new
		// session, or time out.
		return nil
	}
	if s.remote != 0 && p.Session != s.remote && s.peer.Addr.IsValid() && from.Addr().WithZone("") != s.peer.Addr.Addr().WithZone("") {
		// A new session from another address is not our peer restarting
		// (the driver pins the peer; this holds for any driver).
		return nil
	}
	var acts []Action
	if s.remote != 0 && p.Session != s.remote {
		acts = append(acts, s.down(now, DiagPeerRestarted)...)
	}
	s.remote = p.Session
	s.peer.Name, s.peer.Session, s.peer.Addr = p.Name, p.Session, from
	s.peer.TxInterval, s.peer.DetectMult, s.peer.LastHeard = p.TxInterval, p.DetectMult, now
	if p.State != StateAdminDown {
		s.peer.Instances = append(s.peer.Instances[:0], p.Instances...)
	}
	if p.State == StateAdminDown {
		d := p.Diag
		if d != DiagReleased {
			d = DiagDisabled
		}
		acts = append(acts, s.down(now, d)...)
		s.remote = 0
		return acts
	}
	changed := false
	switch s.state {
	case StateDown:
		switch p.State {
		case StateDown:
			s.state, changed = StateInit, true
		case StateInit:
			s.state, changed = StateUp, true
		}
	case StateInit:
		if p.State == StateInit || p.State == StateUp {
			s.state, changed = StateUp, true
		}
	case StateUp:
		if p.State == StateDown {
			acts = append(acts, s.down(now, DiagNeighborDown)...)
			changed = true
		}
	}
	if s.state == StateInit || s.state == StateUp {
		s.detectAt = now.Add(s.peer.DetectTime())
	}
	if changed {
		if s.state == StateUp {
			s.diag = DiagNone
			acts = append(acts, PeerUp{Peer: s.Peer()})
		}
		// Tell the peer at once (BFD sends promptly on a state change).
		acts = append(acts, s.send(now))
	}
	return acts
}
