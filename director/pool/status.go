package pool

import (
	"net/netip"
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
	st := Status{QuorumUp: p.quorumUp, SorryIn: p.sorryIn, Sorry: p.cfg.Sorry, SorryWeight: p.cfg.SorryWeight,
		Servers: make([]ServerStatus, 0, len(p.servers))}
	for _, s := range p.servers {
		ss := ServerStatus{
			Addr: s.cfg.Addr, State: s.state, Since: s.since, Reason: s.reason,
			Weight: s.weight, Present: s.present, ConfiguredWeight: s.cfg.Weight, CheckWeight: s.effWeight(),
			Agent: s.agent, AgentReason: s.agentReason, Drain: s.drain,
			Active: s.active, Inactive: s.inactive, Leaving: s.leaving,
			DrainDeadline: p.drainDeadline(s),
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
