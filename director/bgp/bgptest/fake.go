// Package bgptest is the recording fake of bgp.Speaker.
package bgptest

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"

	"github.com/tandemlb/tandem/director/bgp"
)

// Speaker records what is asked of it and keeps the announced routes; the
// test sets the sessions' states with SetPeer. It is safe for concurrent
// use.
type Speaker struct {
	mu      sync.Mutex
	started bool
	stopped bool
	ops     []string
	routes  map[netip.Prefix]bgp.Route
	peers   []bgp.PeerState
	changed chan struct{}
	// Err, when set, is returned by Announce and Withdraw (and recorded).
	Err error
}

var _ bgp.Speaker = (*Speaker)(nil)

// New returns a fake with the given peers, all idle.
func New(peers ...netip.Addr) *Speaker {
	s := &Speaker{routes: make(map[netip.Prefix]bgp.Route), changed: make(chan struct{})}
	for _, p := range peers {
		s.peers = append(s.peers, bgp.PeerState{Addr: p, State: "idle"})
	}
	return s
}

// Start records "start".
func (s *Speaker) Start(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started {
		return errors.New("bgptest: already started")
	}
	s.started = true
	s.ops = append(s.ops, "start")
	return nil
}

// Announce records "announce <route>" and keeps the route.
func (s *Speaker) Announce(_ context.Context, r bgp.Route) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	op := "announce " + r.Prefix.String()
	for _, c := range r.Communities {
		op += " " + c.String()
	}
	s.ops = append(s.ops, op)
	if s.Err != nil {
		return s.Err
	}
	r.Communities = slices.Clone(r.Communities)
	s.routes[r.Prefix] = r
	return nil
}

// Withdraw records "withdraw <prefix>" and forgets the route.
func (s *Speaker) Withdraw(_ context.Context, p netip.Prefix) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ops = append(s.ops, "withdraw "+p.String())
	if s.Err != nil {
		return s.Err
	}
	delete(s.routes, p)
	return nil
}

// Peers returns the peers' states.
func (s *Speaker) Peers() []bgp.PeerState {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.peers)
}

// Changed returns a channel closed at the next SetPeer.
func (s *Speaker) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// Stop records "stop".
func (s *Speaker) Stop(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopped = true
	s.ops = append(s.ops, "stop")
	return nil
}

// SetPeer sets peer's state (adding the peer if unknown) and notifies
// Changed.
func (s *Speaker) SetPeer(peer netip.Addr, established bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := bgp.PeerState{Addr: peer, State: "active"}
	if established {
		st.State, st.Established = "established", true
	}
	if i := slices.IndexFunc(s.peers, func(p bgp.PeerState) bool { return p.Addr == peer }); i >= 0 {
		s.peers[i] = st
	} else {
		s.peers = append(s.peers, st)
	}
	close(s.changed)
	s.changed = make(chan struct{})
}

// Ops returns the operations so far, in order.
func (s *Speaker) Ops() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ops)
}

// Routes returns the announced routes, sorted by prefix.
func (s *Speaker) Routes() []bgp.Route {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]bgp.Route, 0, len(s.routes))
	for _, r := range s.routes {
		out = append(out, r)
	}
	slices.SortFunc(out, func(a, b bgp.Route) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}

// Stopped reports whether Stop was called.
func (s *Speaker) Stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}
