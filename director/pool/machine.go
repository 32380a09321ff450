package pool

import (
	"fmt"
	"net/netip"
	"time"
)

// Pool is the state machine of one virtual service's real servers. It is
// not safe for concurrent use: one goroutine drives it.
type Pool struct {
	cfg      Config
	servers  []*server // in configuration order
	byAddr   map[netip.AddrPort]*server
	quorumUp bool
	sorryIn  bool
}

// New builds the pool at time now and returns the initial actions: the
// initial quorum state, a Transition from Initial and a SetDest for every
// server, and SorryIn when quorum is lost from the start (keepalived does
// the same at start-up). It does no I/O.
func New(cfg Config, now time.Time) (*Pool, []Action, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("pool: %w", err)
	}
	p := &Pool{cfg: cfg.withDefaults(), byAddr: make(map[netip.AddrPort]*server, len(cfg.Servers)),
		servers: make([]*server, 0, len(cfg.Servers))}
	for _, sc := range cfg.Servers {
		s := p.newServer(sc)
		p.servers = append(p.servers, s)
		p.byAddr[sc.Addr] = s
	}
	live := p.liveWeight(p.proposed(now))
	p.quorumUp = live >= p.cfg.Quorum
	var acts []Action
	if p.quorumUp {
		acts = append(acts, QuorumGained{Weight: live, Reason: fmt.Sprintf("start: live weight %d >= quorum %d", live, p.cfg.Quorum)})
	} else {
		acts = append(acts, QuorumLost{Weight: live, Reason: fmt.Sprintf("start: live weight %d < quorum %d", live, p.cfg.Quorum)})
	}
	return p, append(acts, p.evaluate(now, "start")...), nil
}

func (p *Pool) newServer(sc ServerConfig) *server {
	s := &server{cfg: sc}
	if len(sc.Checkers) > 0 { // none without checkers: 10,000 maps at 1,000 × 10
		s.checks = make(map[string]check, len(sc.Checkers))
	}
	for _, c := range sc.Checkers {
		if p.cfg.Alpha {
			s.checks[c] = check{up: false, reason: "alpha: down until " + c + " succeeds"}
		} else {
			s.checks[c] = check{up: true, reason: "start"}
		}
	}
	return s
}

// Step applies one event that happened at now and returns the resulting
// actions (none when nothing changed). Events about unknown servers are
// ignored. Whatever the event, what time made due by now (agent expiry,
// drain timeouts) happens too.
func (p *Pool) Step(now time.Time, ev Event) []Action {
	var acts []Action
	cause := ""
	switch e := ev.(type) {
	case CheckResult:
		s := p.byAddr[e.Server]
		if s == nil {
			return nil
		}
		c, known := s.checks[e.Checker]
		if !known {
			return nil // a checker this server does not have (any more)
		}
		c.up, c.reason = e.Up, e.Reason
		switch {
		case !e.Up:
			c.weightSet, c.weight = false, 0
		case e.WeightSet:
			c.weightSet, c.weight = true, e.Weight
		}
		s.checks[e.Checker] = c
		cause = e.Reason
	case AgentReport:
		// The common case, an agent saying again what it said: only its
		// time moves (expiry and everything else happen at TimerFired),
		// so nothing is evaluated.
		var mine []*server
		same := true
		for _, s := range p.servers {
			if s.cfg.Addr.Addr() == e.Addr {
				mine = append(mine, s)
				same = same && s.agent == e.State && s.agentReason == e.Reason
			}
		}
		if len(mine) == 0 {
			return nil
		}
		if same {
			for _, s := range mine {
				s.agentAt = now
			}
			return nil
		}
		for _, s := range mine {
			was := s.agent
			s.agent, s.agentReason, s.agentAt = e.State, e.Reason, now
			if (was == AgentDown || was == AgentMaintenance) && e.State == AgentUp {
				if ok, _ := s.checksUp(); !ok {
					acts = append(acts, Recheck{Server: s.cfg.Addr, Reason: "agent reports " + e.State.String() + " again"})
				}
			}
		}
	case Drain:
		s := p.byAddr[e.Server]
		if s == nil {
			return nil
		}
		s.drain, s.drainReason = true, e.Reason
	case Undrain:
		s := p.byAddr[e.Server]
		if s == nil {
			return nil
		}
		s.drain, s.drainReason = false, ""
	case Conns:
		s := p.byAddr[e.Server]
		if s == nil {
			return nil
		}
		s.active, s.inactive = e.Active, e.Inactive
		if s.state == Draining {
			s.connsSeen = true
		}
	case TimerFired:
	}
	acts = append(acts, p.expireAgents(now)...)
	return append(acts, p.evaluate(now, cause)...)
}

// NextDeadline returns when the pool next needs a [TimerFired] (an agent
// report expiring, a drain timing out), or the zero time when nothing is
// pending.
func (p *Pool) NextDeadline() time.Time {
	var next time.Time
	earlier := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	for _, s := range p.servers {
		if s.agent != AgentNone {
			earlier(s.agentAt.Add(p.cfg.agentLimit()))
		}
		earlier(p.drainDeadline(s))
	}
	return next
}

// expireAgents forgets agent information older than AgentMissed intervals.
func (p *Pool) expireAgents(now time.Time) []Action {
	var acts []Action
	limit := p.cfg.agentLimit()
	for _, s := range p.servers {
		if s.agent == AgentNone || now.Sub(s.agentAt) < limit {
			continue
		}
		was := s.agent
		s.agent, s.agentReason = AgentNone, fmt.Sprintf("agent silent for %d intervals (%s)", p.cfg.AgentMissed, limit)
		if was != AgentUp {
			if ok, _ := s.checksUp(); !ok {
				acts = append(acts, Recheck{Server: s.cfg.Addr, Reason: s.agentReason})
			}
		}
	}
	return acts
}

// proposed returns each server's next state and reason without changing
// anything.
func (p *Pool) proposed(now time.Time) []proposal {
	out := make([]proposal, len(p.servers))
	for i, s := range p.servers {
		st, why := p.next(s, now)
		out[i] = proposal{s: s, state: st, reason: why}
	}
	return out
}

type proposal struct {
	s      *server
	state  State
	reason string
}

func (p *Pool) liveWeight(props []proposal) int {
	sum := 0
	for _, pr := range props {
		if pr.state == Up {
			sum += pr.s.effWeight()
		}
	}
	return sum
}

// evaluate moves every server to its next state, updates quorum and the
// sorry server, and returns the actions in the documented order.
func (p *Pool) evaluate(now time.Time, cause string) []Action {
	props := p.proposed(now)
	var trans, dests, quorum []Action
	for _, pr := range props {
		s := pr.s
		if pr.state != s.state {
			reason := pr.reason
			if reason == "" {
				reason = cause
			}
			if trans == nil {
				trans = make([]Action, 0, len(props))
			}
			trans = append(trans, Transition{Server: s.cfg.Addr, From: s.state, To: pr.state, Reason: reason})
			if pr.state == Draining {
				s.drainStart, s.connsSeen = now, false
			}
			s.state, s.since, s.reason = pr.state, now, reason
		} else if pr.state != Up {
			s.reason = pr.reason
		}
	}

	live := p.liveWeight(props)
	switch {
	case p.quorumUp && (live == 0 || live < p.cfg.Quorum-p.cfg.Hysteresis):
		p.quorumUp = false
		quorum = append(quorum, QuorumLost{Weight: live, Reason: fmt.Sprintf("live weight %d < quorum %d - hysteresis %d", live, p.cfg.Quorum, p.cfg.Hysteresis)})
	case !p.quorumUp && live >= p.cfg.Quorum+p.cfg.Hysteresis:
		p.quorumUp = true
		quorum = append(quorum, QuorumGained{Weight: live, Reason: fmt.Sprintf("live weight %d >= quorum %d + hysteresis %d", live, p.cfg.Quorum, p.cfg.Hysteresis)})
	}
	held := !p.quorumUp && p.cfg.Sorry.IsValid()

	kept := p.servers[:0]
	for _, s := range p.servers {
		if s.leaving && s.state != Draining {
			// Drained (or it carried nothing): now it goes.
			dests = append(dests, SetDest{Server: s.cfg.Addr, Present: false, Removed: true, Reason: "removed from the configuration; " + s.reason})
			delete(p.byAddr, s.cfg.Addr)
			continue
		}
		kept = append(kept, s)
	}
	clear(p.servers[len(kept):])
	p.servers = kept
	for _, s := range p.servers {
		w, present := p.output(s, held)
		if !s.emitted || w != s.weight || present != s.present {
			if dests == nil {
				dests = make([]Action, 0, len(p.servers))
			}
			dests = append(dests, SetDest{Server: s.cfg.Addr, Weight: w, Present: present})
		}
		s.weight, s.present, s.emitted = w, present, true
	}

	var acts []Action
	if k := len(trans) + len(quorum) + len(dests); k > 0 {
		acts = make([]Action, 0, k+1)
	}
	acts = append(acts, trans...)
	acts = append(acts, quorum...)
	wantSorry := held
	if wantSorry && !p.sorryIn {
		acts = append(acts, SorryIn{Server: p.cfg.Sorry, Weight: p.cfg.SorryWeight, Reason: "quorum lost"})
	}
	acts = append(acts, dests...)
	if !wantSorry && p.sorryIn {
		acts = append(acts, SorryOut{Server: p.cfg.Sorry, Reason: "quorum gained"})
	}
	p.sorryIn = wantSorry
	return acts
}

// output is the IPVS entry a server in its current state should have.
// held means quorum is lost and a sorry server takes new connections: live
// servers are then kept at weight 0.
func (p *Pool) output(s *server, held bool) (weight int, present bool) {
	switch s.state {
	case Up:
		if held {
			return 0, true
		}
		return s.effWeight(), true
	case Down:
		return 0, s.cfg.InhibitOnFailure
	case Draining:
		return 0, true
	case Drained, Maintenance:
		return 0, !p.cfg.RemoveDrained
	}
	return 0, false
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
			acts = append(acts, Transition{Server: s.cfg.Addr, From: Up, To: Down, Reason: "shutdown (omega)"})
		}
	}
	if p.quorumUp {
		acts = append(acts, QuorumLost{Reason: "shutdown (omega)"})
	}
	return acts
}
