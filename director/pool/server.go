package pool

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// check is one checker's last verdict on a server.
type check struct {
	up     bool
	reason string
	// weightSet: the checker set weight (see CheckResult).
	weightSet bool
	weight    int
}

// server is one real server's inputs and state.
type server struct {
	cfg    ServerConfig
	checks map[string]check

	agent       AgentState
	agentReason string
	agentAt     time.Time

	drain       bool
	drainReason string
	// leaving: removed from the configuration while it carried traffic;
	// it drains, then leaves the pool (see Reconfigure).
	leaving bool

	state      State
	since      time.Time
	reason     string
	drainStart time.Time
	connsSeen  bool // a Conns event arrived since the drain started
	active     int
	inactive   int

	weight  int
	present bool
	emitted bool // a SetDest was returned at least once
}

func (s *server) checksUp() (bool, string) {
	if len(s.checks) == 0 {
		return true, ""
	}
	var failed []string
	for _, n := range slices.Sorted(maps.Keys(s.checks)) {
		if c := s.checks[n]; !c.up {
			r := c.reason
			if r == "" {
				r = n + " failed"
			}
			failed = append(failed, r)
		}
	}
	if len(failed) > 0 {
		return false, strings.Join(failed, "; ")
	}
	return true, ""
}

// target is where the inputs put a server, before drain progress.
type target struct {
	state  State // Up, Down, or Draining for the admin track
	maint  bool  // admin track because of the agent (else the operator)
	reason string
}

func (s *server) target() target {
	checksOK, why := s.checksUp()
	switch {
	case s.leaving:
		return target{state: Draining, reason: "removed from the configuration"}
	case s.agent == AgentMaintenance:
		return target{state: Draining, maint: true, reason: withReason("maintenance from agent", s.agentReason)}
	case s.agent == AgentDown:
		return target{state: Down, reason: withReason("agent reports down", s.agentReason)}
	case !checksOK:
		return target{state: Down, reason: why}
	case s.drain:
		return target{state: Draining, reason: withReason("operator drain", s.drainReason)}
	}
	return target{state: Up}
}

// effWeight is the server's weight while up: the configured weight, moved
// by the weights its checkers set (keepalived: configured +
// Σ(Weight_i − configured)), clamped to 0..MaxWeight.
func (s *server) effWeight() int {
	w := s.cfg.Weight
	for _, c := range s.checks {
		if c.weightSet {
			w += c.weight - s.cfg.Weight
		}
	}
	return max(0, min(w, MaxWeight))
}

func withReason(what, why string) string {
	if why == "" {
		return what
	}
	return what + ": " + why
}

// next computes the state the server moves to at now.
func (p *Pool) next(s *server, now time.Time) (State, string) {
	t := s.target()
	if t.state != Draining {
		if t.state == Up && s.state != Up {
			return Up, p.upReason(s)
		}
		return t.state, t.reason
	}
	final := Drained
	if t.maint {
		final = Maintenance
	}
	switch s.state {
	case Up:
		return Draining, t.reason
	case Draining:
		if s.connsSeen && s.active == 0 && (!p.cfg.CountInactive || s.inactive == 0) {
			return final, t.reason + "; no connections left"
		}
		if p.drainTimedOut(s, now) {
			return final, fmt.Sprintf("%s; drain_timeout %s elapsed with %d active, %d inactive connections", t.reason, p.cfg.DrainTimeout, s.active, s.inactive)
		}
		return Draining, t.reason
	}
	// Down, Initial, Drained or Maintenance: nothing carries traffic to
	// drain.
	return final, t.reason
}

// drainDeadline is when a draining server's drain ends at the latest; zero
// when the server is not draining or without DrainTimeout.
func (p *Pool) drainDeadline(s *server) time.Time {
	if s.state != Draining || p.cfg.DrainTimeout <= 0 {
		return time.Time{}
	}
	return s.drainStart.Add(p.cfg.DrainTimeout)
}

func (p *Pool) drainTimedOut(s *server, now time.Time) bool {
	d := p.drainDeadline(s)
	return !d.IsZero() && !now.Before(d)
}

func (p *Pool) upReason(s *server) string {
	switch s.state {
	case Initial:
		return "start"
	case Draining, Drained, Maintenance:
		if s.agent == AgentUp || s.agent == AgentNone {
			return fmt.Sprintf("back in service at weight %d", s.effWeight())
		}
	}
	var ok []string
	for _, n := range slices.Sorted(maps.Keys(s.checks)) {
		if r := s.checks[n].reason; r != "" && r != "start" {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return "healthy"
	}
	return strings.Join(ok, "; ")
}
