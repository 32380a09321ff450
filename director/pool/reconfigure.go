package pool

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// Reconfigure replaces the configuration (a reload). Servers that stay keep
// their state, checks, agent information and drain; new servers start as
// at New (alpha or not). A removed server that carries traffic (up or
// draining) leaves gracefully: it drains like an operator drain (weight 0,
// established connections finish, DrainTimeout bounds it) and then gets a
// SetDest absent with Removed; one that carries none gets that at once.
// A removed server that comes back before it has gone stays, as it was.
// Quorum and the sorry server are re-evaluated.
func (p *Pool) Reconfigure(cfg Config, now time.Time) ([]Action, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("pool: %w", err)
	}
	old := p.byAddr
	oldSorry, oldSorryIn := p.cfg.Sorry, p.sorryIn
	p.cfg = cfg.withDefaults()
	p.servers, p.byAddr = nil, make(map[netip.AddrPort]*server)
	for _, sc := range cfg.Servers {
		s := old[sc.Addr]
		if s == nil {
			s = p.newServer(sc)
		} else {
			s.cfg = sc
			s.leaving = false
			if s.checks == nil && len(sc.Checkers) > 0 {
				s.checks = make(map[string]check, len(sc.Checkers))
			}
			for _, c := range sc.Checkers {
				if _, ok := s.checks[c]; !ok {
					s.checks[c] = check{up: !p.cfg.Alpha, reason: "new checker"}
				}
			}
			for c, st := range s.checks {
				switch {
				case !slices.Contains(sc.Checkers, c):
					delete(s.checks, c) // and its weight with it
				case st.weightSet && !slices.Contains(sc.Weighted, c):
					st.weightSet, st.weight = false, 0
					s.checks[c] = st
				}
			}
		}
		p.servers = append(p.servers, s)
		p.byAddr[sc.Addr] = s
	}
	var acts []Action
	var gone, leaving []netip.AddrPort
	for addr, s := range old {
		if _, ok := p.byAddr[addr]; ok {
			continue
		}
		switch {
		case s.present && (s.state == Up || s.state == Draining):
			leaving = append(leaving, addr) // it may hold connections
		case s.present:
			gone = append(gone, addr)
		}
	}
	slices.SortFunc(gone, netip.AddrPort.Compare)
	for _, addr := range gone {
		acts = append(acts, SetDest{Server: addr, Present: false, Removed: true, Reason: "removed from the configuration"})
	}
	slices.SortFunc(leaving, netip.AddrPort.Compare)
	for _, addr := range leaving {
		s := old[addr]
		s.leaving = true
		p.servers = append(p.servers, s)
		p.byAddr[addr] = s
	}
	if oldSorryIn && oldSorry != p.cfg.Sorry {
		acts = append(acts, SorryOut{Server: oldSorry, Reason: "sorry server changed"})
		p.sorryIn = false
	}
	return append(acts, p.evaluate(now, "reload")...), nil
}
