package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// Settings is the reloadable part of the configuration.
type Settings struct {
	// Key is the shared HMAC key; nil disables heartbeats.
	Key []byte
	// Interval is the time between two periodic reports.
	Interval time.Duration
	// Targets are the directors' addresses.
	Targets []netip.AddrPort
	// RealIP filters the destinations kept from replies.
	RealIP netip.Addr
	// Window is the accepted clock difference (0: hbproto.DefaultWindow).
	Window time.Duration
}

// Hooks report events, for metrics. Any may be nil. They are called from
// the agent's goroutines and must not block.
type Hooks struct {
	// Sent is called after each datagram sent (err nil) or failed.
	Sent func(target netip.AddrPort, st hbproto.State, err error)
	// Reply is called for each accepted reply.
	Reply func(target netip.AddrPort, v maintenance.DirectorView)
	// Rejected is called for each dropped datagram with its reason label.
	Rejected func(peer string, reason string)
}

// Stats are totals since start.
type Stats struct {
	Sent       uint64            `json:"sent"`
	SendErrors uint64            `json:"send_errors"`
	Received   uint64            `json:"received"`
	Rejected   map[string]uint64 `json:"rejected"`
	SessionID  uint64            `json:"session_id"`
	Disabled   bool              `json:"disabled"`
}

// Agent sends reports and collects replies.
type Agent struct {
	log   *slog.Logger
	hooks Hooks

	mu      sync.Mutex
	set     Settings
	sealer  *hbproto.Sealer
	opener  *hbproto.Opener
	report  *hbproto.AgentReport
	views   map[netip.AddrPort]*maintenance.DirectorView
	stats   Stats
	changed chan struct{} // closed and replaced on each accepted reply
	kick    chan struct{}
	reset   chan struct{}
	// requests are witness requests (report_now) being served, by the
	// requesting director's address.
	requests map[netip.AddrPort]*request
}

// request is a director's report_now being served: until it expires, every
// reply from another director is relayed to the requester by one more
// report, at most once per other director.
type request struct {
	until   time.Time
	relayed map[netip.AddrPort]bool
}

// Witness request handling (docs/ha.md).
const (
	// RequestHold is how long a report_now is served: replies from other
	// directors within it are relayed to the requester.
	RequestHold = time.Second
	// RequestMinGap is the shortest time between two report_now accepted
	// from one director; closer requests are ignored.
	RequestMinGap = 100 * time.Millisecond
)

// New returns an agent. It does no I/O.
func New(log *slog.Logger, s Settings, hooks Hooks) *Agent {
	a := &Agent{
		log:     log,
		hooks:   hooks,
		views:   map[netip.AddrPort]*maintenance.DirectorView{},
		changed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		reset:   make(chan struct{}, 1),
		stats:   Stats{Rejected: map[string]uint64{}},

		requests: map[netip.AddrPort]*request{},
	}
	a.apply(s)
	return a
}

func (a *Agent) apply(s Settings) {
	if s.Interval <= 0 {
		s.Interval = time.Second
	}
	keyChanged := !slices.Equal(s.Key, a.set.Key) || a.sealer == nil
	a.set = s
	a.set.Targets = slices.Clone(s.Targets)
	if keyChanged {
		a.sealer, a.opener = nil, nil
		if s.Key != nil {
			// A new key is a new session: the sequence starts again at 1.
			id, err := hbproto.NewSessionID()
			if err != nil {
				a.log.Error("heartbeat: no session id", "err", err)
			} else {
				a.sealer = hbproto.NewSealer(s.Key, id)
				a.opener = hbproto.NewOpener(s.Key, s.Window)
				a.stats.SessionID = id
			}
		}
	}
	a.stats.Disabled = a.sealer == nil
	for addr := range a.views {
		if !slices.Contains(a.set.Targets, addr) {
			delete(a.views, addr)
		}
	}
	for _, t := range a.set.Targets {
		if a.views[t] == nil {
			a.views[t] = &maintenance.DirectorView{Addr: t.String(), RoleName: hbproto.RoleUnknown.String()}
		}
	}
}

// Update replaces the settings (on reload) and sends a report at once.
func (a *Agent) Update(s Settings) {
	a.mu.Lock()
	a.apply(s)
	a.mu.Unlock()
	signal(a.reset)
	signal(a.kick)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// SetReport sets what the next reports say; a report that differs from the
// previous one is sent to every director at once.
func (a *Agent) SetReport(r hbproto.AgentReport) {
	a.mu.Lock()
	same := a.report != nil && reflect.DeepEqual(*a.report, r)
	if !same {
		cp := r
		cp.Services = slices.Clone(r.Services)
		a.report = &cp
	}
	a.mu.Unlock()
	if !same {
		signal(a.kick)
	}
}

// Poke sends the current report at once (e.g. to get fresh replies while
// waiting for a drain).
func (a *Agent) Poke() { signal(a.kick) }

// Views returns each configured director's last reply, in configuration
// order.
func (a *Agent) Views() []maintenance.DirectorView {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]maintenance.DirectorView, 0, len(a.set.Targets))
	for _, t := range a.set.Targets {
		v := *a.views[t]
		v.Destinations = slices.Clone(v.Destinations)
		out = append(out, v)
	}
	return out
}

// Changed returns a channel that is closed at the next accepted reply.
func (a *Agent) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// Stats returns the totals.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.stats
	st.Rejected = make(map[string]uint64, len(a.stats.Rejected))
	for k, v := range a.stats.Rejected {
		st.Rejected[k] = v
	}
	return st
}

// Run opens a UDP socket on any address and runs RunConn on it.
func (a *Agent) Run(ctx context.Context) error {
	conn, err := net.ListenUDP("udp", nil)
	if err != nil {
		return fmt.Errorf("heartbeat: open socket: %w", err)
	}
	return a.RunConn(ctx, conn)
}

// RunConn sends and receives on conn until ctx ends, then closes conn.
func (a *Agent) RunConn(ctx context.Context, conn net.PacketConn) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.receive(ctx, conn)
	}()
	defer wg.Wait()
	defer conn.Close()

	a.mu.Lock()
	interval := a.set.Interval
	a.mu.Unlock()
	t := time.NewTicker(interval)
	defer t.Stop()
	a.send(conn)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.reset:
			a.mu.Lock()
			interval = a.set.Interval
			a.mu.Unlock()
			t.Reset(interval)
		case <-a.kick:
			a.send(conn)
			t.Reset(interval) // the next periodic report is a full interval away
		case <-t.C:
			a.send(conn)
		}
	}
}

func (a *Agent) send(conn net.PacketConn) {
	a.mu.Lock()
	targets := slices.Clone(a.set.Targets)
	a.mu.Unlock()
	a.sendTo(conn, targets)
}

// seen is the witness field: every director that has replied, in
// configuration order, with the age of its last reply at now. Called with
// a.mu held.
func (a *Agent) seen(now time.Time) []hbproto.DirectorSeen {
	var out []hbproto.DirectorSeen
	for _, t := range a.set.Targets {
		v := a.views[t]
		if v == nil || v.Name == "" || v.LastReply.IsZero() || len(out) == hbproto.MaxSeen {
			continue
		}
		out = append(out, hbproto.DirectorSeen{Director: v.Name, Role: v.Role, Age: max(now.Sub(v.LastReply), 0)})
	}
	return out
}

// sendTo sends the current report, with the witness field as of now, to
// targets.
func (a *Agent) sendTo(conn net.PacketConn, targets []netip.AddrPort) {
	now := time.Now()
	a.mu.Lock()
	sealer := a.sealer
	var report *hbproto.AgentReport
	if a.report != nil {
		r := *a.report
		r.Seen = a.seen(now)
		report = &r
	}
	a.mu.Unlock()
	if sealer == nil || report == nil || len(targets) == 0 {
		return
	}
	b, err := sealer.SealAgent(now, report)
	if err != nil {
		a.log.Error("heartbeat: cannot encode the report", "err", err)
		return
	}
	for _, t := range targets {
		_, err := conn.WriteTo(b, net.UDPAddrFromAddrPort(t))
		a.mu.Lock()
		if err != nil {
			a.stats.SendErrors++
		} else {
			a.stats.Sent++
		}
		a.mu.Unlock()
		if err != nil {
			a.log.Debug("heartbeat: send failed", "director", t, "err", err)
		}
		if a.hooks.Sent != nil {
			a.hooks.Sent(t, report.State, err)
		}
	}
}

func (a *Agent) reject(peer, reason string, err error) {
	a.mu.Lock()
	a.stats.Rejected[reason]++
	a.mu.Unlock()
	a.log.Debug("heartbeat: reply rejected", "peer", peer, "reason", reason, "err", err)
	if a.hooks.Rejected != nil {
		a.hooks.Rejected(peer, reason)
	}
}

// witnessRequest notes a report_now from peer (called with a.mu held) and
// reports whether a report must go out at once.
func (a *Agent) witnessRequest(now time.Time, peer netip.AddrPort) bool {
	if r := a.requests[peer]; r != nil && now.Sub(r.until.Add(-RequestHold)) < RequestMinGap {
		return false
	}
	a.requests[peer] = &request{until: now.Add(RequestHold), relayed: map[netip.AddrPort]bool{}}
	return true
}

// relays returns the requesters to which a reply from peer must be relayed
// (called with a.mu held), and forgets expired requests.
func (a *Agent) relays(now time.Time, peer netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for req, r := range a.requests {
		switch {
		case now.After(r.until) || a.views[req] == nil:
			delete(a.requests, req)
		case req != peer && !r.relayed[peer]:
			r.relayed[peer] = true
			out = append(out, req)
		}
	}
	return out
}

func (a *Agent) receive(ctx context.Context, conn net.PacketConn) {
	buf := make([]byte, hbproto.MaxDatagram+1)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			a.log.Warn("heartbeat: receive failed", "err", err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		now := time.Now()
		var peer netip.AddrPort
		if ua, ok := from.(*net.UDPAddr); ok {
			peer = ua.AddrPort()
			peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		}
		a.mu.Lock()
		opener, known := a.opener, a.views[peer] != nil
		realIP := a.set.RealIP
		a.mu.Unlock()
		if !known {
			a.reject(from.String(), "unknown_peer", nil)
			continue
		}
		if opener == nil {
			a.reject(from.String(), "disabled", nil)
			continue
		}
		msg, err := opener.Open(peer.String(), buf[:n], now)
		if err != nil {
			a.reject(peer.String(), hbproto.Reason(err), err)
			continue
		}
		if msg.Director == nil {
			a.reject(peer.String(), "unexpected_type", nil)
			continue
		}
		r := msg.Director
		var dests []hbproto.DestinationStatus
		for _, d := range r.Destinations {
			if d.Addr.Addr().Unmap() == realIP {
				dests = append(dests, d)
			}
		}
		a.mu.Lock()
		v := a.views[peer]
		if v == nil { // removed by a reload meanwhile
			a.mu.Unlock()
			continue
		}
		if v.Role != r.Role && v.Name != "" {
			a.log.Info("director role changed", "director", r.Director, "peer", peer, "from", v.Role, "to", r.Role)
		}
		v.Name, v.Role, v.RoleName, v.LastReply, v.Destinations = r.Director, r.Role, r.Role.String(), now, dests
		view := *v
		a.stats.Received++
		close(a.changed)
		a.changed = make(chan struct{})
		relay := a.relays(now, peer)
		kick := r.ReportNow && a.witnessRequest(now, peer)
		a.mu.Unlock()
		if a.hooks.Reply != nil {
			a.hooks.Reply(peer, view)
		}
		if len(relay) > 0 {
			// A witness request is pending: tell the requester at once
			// what we just heard from this director.
			a.sendTo(conn, relay)
		}
		if kick {
			signal(a.kick)
		}
	}
}
