package pool

import (
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// ServerStatus is one real server as the pool sees it.
type ServerStatus struct {
	Addr  netip.AddrPort
	State State
	// Since is when the server entered State; Reason says why.
	Since  time.Time
	Reason string
	// Weight and Present are the IPVS entry the server should have now;
	// ConfiguredWeight is the weight from the configuration.
	Weight           int
	Present          bool
	ConfiguredWeight int
	// CheckWeight is the weight the server has while up: ConfiguredWeight
	// moved by the weights its checkers set (see CheckResult).
	CheckWeight int
	// Agent is the agent's last fresh report (AgentNone when it never
	// reported or went silent).
	Agent       AgentState
	AgentReason string
	// Drain is true while an operator drain is requested.
	Drain bool
	// Leaving: removed from the configuration, draining before it goes.
	Leaving bool
	// Active and Inactive are the last IPVS counters received.
	Active, Inactive int
	// DrainDeadline is when a drain in progress ends at the latest; zero
	// when not draining or without DrainTimeout.
	DrainDeadline time.Time
}

// Status is the whole pool: what the lvs package's desired state is built
// from, and what the heartbeat tells agents.
type Status struct {
	Servers []ServerStatus // in configuration order
	// QuorumUp and LiveWeight: see Config.Quorum.
	QuorumUp   bool
	LiveWeight int
	// SorryIn is true while the sorry server should be in IPVS, at
	// SorryWeight.
	SorryIn     bool
	Sorry       netip.AddrPort
	SorryWeight int
}

// Status returns the current state of every server and of the service.
func (p *Pool) Status() Status {
	st := Status{QuorumUp: p.quorumUp, SorryIn: p.sorryIn, Sorry: p.cfg.Sorry, SorryWeight: p.cfg.SorryWeight}
	for _, s := range p.servers {
		ss := ServerStatus{
			Addr: s.cfg.Addr, State: s.state, Since: s.since, Reason: s.reason,
			Weight: s.weight, Present: s.present, ConfiguredWeight: s.cfg.Weight, CheckWeight: s.effWeight(),
			Agent: s.agent, AgentReason: s.agentReason, Drain: s.drain,
			Active: s.active, Inactive: s.inactive, Leaving: s.leaving,
		}
		if s.state == Draining && p.cfg.DrainTimeout > 0 {
			ss.DrainDeadline = s.drainStart.Add(p.cfg.DrainTimeout)
		}
		if s.state == Up {
			st.LiveWeight += s.effWeight()
		}
		st.Servers = append(st.Servers, ss)
	}
	return st
}

// Draining reports whether a server is draining (what Status would say,
// without building it).
func (p *Pool) Draining() bool {
	for _, s := range p.servers {
		if s.state == Draining {
			return true
		}
	}
	return false
}

// NextDeadline returns when the pool next needs a [Tick] (an agent report
// expiring, a drain timing out), or the zero time when nothing is pending.
func (p *Pool) NextDeadline() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	limit := time.Duration(p.cfg.AgentMissed) * p.cfg.AgentInterval
	for _, s := range p.servers {
		if s.agent != AgentNone {
			earlier(s.agentAt.Add(limit))
		}
		if s.state == Draining && p.cfg.DrainTimeout > 0 {
			earlier(s.drainStart.Add(p.cfg.DrainTimeout))
		}
	}
	return next
}

// Shutdown returns what keepalived's omega reports when the director
// stops: every server that is up goes down and quorum is lost. Without
// Omega it returns nothing. The IPVS entries themselves are the lvs
// package's business (left in place unless remove-on-stop).
func (p *Pool) Shutdown() []Action {
	if !p.cfg.Omega {
		return nil
	}
	var acts []Action
	for _, s := range p.servers {
		if s.state == Up {
			acts = append(acts, Action{Kind: Transition, Server: s.cfg.Addr, From: Up, To: Down, Reason: "shutdown (omega)"})
		}
	}
	if p.quorumUp {
		acts = append(acts, Action{Kind: QuorumLost, Reason: "shutdown (omega)"})
	}
	return acts
}

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
		acts = append(acts, Action{Kind: SetDest, Server: addr, Present: false, Removed: true, Reason: "removed from the configuration"})
	}
	slices.SortFunc(leaving, netip.AddrPort.Compare)
	for _, addr := range leaving {
		s := old[addr]
		s.leaving = true
		p.servers = append(p.servers, s)
		p.byAddr[addr] = s
	}
	if oldSorryIn && oldSorry != p.cfg.Sorry {
		acts = append(acts, Action{Kind: SorryOut, Server: oldSorry, Reason: "sorry server changed"})
		p.sorryIn = false
	}
	return append(acts, p.evaluate(now, "reload")...), nil
}
