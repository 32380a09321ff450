package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// State is a real server's pool state. The numbers are those of the
// heartbeat protocol's pool field (hbproto.PoolState).
type State uint8

// Pool states. See docs/pool.md for the full semantics.
const (
	// Up: healthy and in service at its configured weight.
	Up State = 1
	// Down: failed its health checks (after retries) or its agent reports
	// it down. Removed from IPVS, or kept at weight 0 with
	// InhibitOnFailure.
	Down State = 2
	// Draining: taken out of rotation (agent maintenance or operator
	// drain): weight 0, established connections finish, new ones go
	// elsewhere. Ends when IPVS counts no connection or at DrainTimeout.
	Draining State = 3
	// Drained: an operator drain has completed. Weight 0, or removed with
	// RemoveDrained.
	Drained State = 4
	// Maintenance: a drain its agent asked for has completed (or the
	// server carried no traffic when maintenance began). Weight 0, or
	// removed with RemoveDrained. Safe to work on.
	Maintenance State = 5
)

// String returns the state's lower-case name.
func (s State) String() string {
	switch s {
	case 0:
		return "new"
	case Up:
		return "up"
	case Down:
		return "down"
	case Draining:
		return "draining"
	case Drained:
		return "drained"
	case Maintenance:
		return "maintenance"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// AgentState is what a real server's agent reports.
type AgentState uint8

// Agent states. The zero value means no agent information: never heard, or
// silent for AgentMissed intervals.
const (
	AgentNone        AgentState = 0
	AgentUp          AgentState = 1
	AgentDown        AgentState = 2
	AgentMaintenance AgentState = 3
)

// String returns "none", "up", "down" or "maintenance".
func (a AgentState) String() string {
	switch a {
	case AgentNone:
		return "none"
	case AgentUp:
		return "up"
	case AgentDown:
		return "down"
	case AgentMaintenance:
		return "maintenance"
	}
	return fmt.Sprintf("agent(%d)", uint8(a))
}

// ServerConfig is one real server of the service.
type ServerConfig struct {
	Addr netip.AddrPort
	// Weight is the configured weight (keepalived weight; default 1 is
	// the caller's business). 0 is allowed: in service but sent nothing.
	Weight int
	// InhibitOnFailure keeps a failed server in IPVS at weight 0 instead
	// of removing it (keepalived inhibit_on_failure).
	InhibitOnFailure bool
	// Checkers names the health checkers of this server ("HTTP_GET",
	// "TCP_CHECK", ...). The server is healthy when all of them are up; a
	// server without checkers is always healthy (as in keepalived).
	Checkers []string
	// Weighted names the checkers among Checkers that may set the
	// server's weight (MISC_CHECK with misc_dynamic, FILE_CHECK with a
	// weight): see [CheckResult.WeightSet]. A reload forgets the weight
	// of a checker no longer listed here, so that a checker that stopped
	// setting weights does not pin the last one it set.
	Weighted []string
}

// MaxWeight is the largest weight the pool gives a server (IPVS's and
// keepalived's limit): a weight set by checks is clamped to 0..MaxWeight.
const MaxWeight = 65535

// Config is the pool of one virtual service.
type Config struct {
	Servers []ServerConfig
	// Sorry is the sorry server (keepalived sorry_server); the zero value
	// means none. It is put in IPVS, at SorryWeight, while quorum is lost.
	Sorry       netip.AddrPort
	SorryWeight int // 0 means 1
	// Quorum is the minimum total weight of live servers (keepalived
	// quorum); 0 means 1. Hysteresis dampens flapping: quorum is gained at
	// Quorum+Hysteresis and lost below Quorum-Hysteresis.
	Quorum     int
	Hysteresis int
	// Alpha starts every server with checkers down until its checkers
	// succeed (keepalived alpha). Without it servers start up.
	Alpha bool
	// Omega makes Shutdown report servers and quorum going down
	// (keepalived omega), so notifiers run on stop.
	Omega bool
	// DrainTimeout bounds a drain: after it the server counts as drained
	// whatever its connections. 0 waits for the connections only.
	DrainTimeout time.Duration
	// RemoveDrained removes a drained server from IPVS instead of keeping
	// it at weight 0.
	RemoveDrained bool
	// CountInactive makes a drain wait for IPVS's inactive connections to
	// reach 0 as well as the active ones. Off by default: in DR mode a
	// finished connection stays "inactive" (FIN_WAIT) for two minutes.
	CountInactive bool
	// AgentInterval is the agents' report interval (0 means 1s);
	// AgentMissed (0 means 3) reports missed in a row make the agent's
	// information expire.
	AgentInterval time.Duration
	AgentMissed   int
}

func (c Config) withDefaults() Config {
	if c.Quorum == 0 {
		c.Quorum = 1
	}
	if c.SorryWeight == 0 {
		c.SorryWeight = 1
	}
	if c.AgentInterval == 0 {
		c.AgentInterval = time.Second
	}
	if c.AgentMissed == 0 {
		c.AgentMissed = 3
	}
	return c
}

// Validate reports what is wrong with a configuration.
func (c Config) Validate() error {
	var errs []error
	seen := make(map[netip.AddrPort]bool)
	for _, s := range c.Servers {
		if !s.Addr.IsValid() {
			errs = append(errs, errors.New("real server without an address"))
			continue
		}
		if seen[s.Addr] {
			errs = append(errs, fmt.Errorf("real server %s listed twice", s.Addr))
		}
		seen[s.Addr] = true
		if s.Weight < 0 {
			errs = append(errs, fmt.Errorf("real server %s: negative weight %d", s.Addr, s.Weight))
		}
		for _, w := range s.Weighted {
			if !slices.Contains(s.Checkers, w) {
				errs = append(errs, fmt.Errorf("real server %s: weighted checker %q is not one of its checkers", s.Addr, w))
			}
		}
	}
	if c.Sorry.IsValid() && seen[c.Sorry] {
		errs = append(errs, fmt.Errorf("sorry server %s is also a real server", c.Sorry))
	}
	if c.Quorum < 0 || c.Hysteresis < 0 || c.SorryWeight < 0 || c.DrainTimeout < 0 || c.AgentInterval < 0 || c.AgentMissed < 0 {
		errs = append(errs, errors.New("quorum, hysteresis, sorry weight, drain timeout and agent interval must not be negative"))
	}
	return errors.Join(errs...)
}

// Event is an input to [Pool.Step]: [CheckResult], [AgentReport], [Drain],
// [Undrain], [Conns] or [Tick].
type Event interface{ event() }

// CheckResult is a health checker's verdict on a server after its retries
// (see the checks package): up or down, with a reason such as "HTTP_GET
// failed 3 times: status 503, want 200".
//
// A passing result may also set the weight the checker asks for the
// server (WeightSet, Weight: absolute, as checks.Result carries it). With
// several checkers setting weights, the server's weight follows
// keepalived's rule: configured + Σ(Weight_i − configured) over the
// checkers that set one, clamped to 0..MaxWeight. A checker's weight holds
// until it sets another or goes down; a result that is down, or up
// without WeightSet, leaves it (down drops it).
type CheckResult struct {
	Server  netip.AddrPort
	Checker string
	Up      bool
	Reason  string
	// WeightSet and Weight: the weight this checker asks for (only with
	// Up).
	WeightSet bool
	Weight    int
}

// AgentReport is what the agent on a real server reports; it applies to
// every server of the pool with that address. The application turns the
// agent's per-service health into State (an unhealthy service is AgentDown
// for that service's pool).
type AgentReport struct {
	Addr   netip.Addr
	State  AgentState
	Reason string
}

// Drain is an operator's request to take a server out of rotation
// gracefully.
type Drain struct {
	Server netip.AddrPort
	Reason string
}

// Undrain cancels a Drain.
type Undrain struct{ Server netip.AddrPort }

// Conns carries a server's IPVS connection counters, read after its weight
// went to 0; they drive a drain to its end.
type Conns struct {
	Server           netip.AddrPort
	Active, Inactive int
}

// Tick lets time pass: agent expiry and drain timeouts. Send one at
// [Pool.NextDeadline].
type Tick struct{}

func (CheckResult) event() {}
func (AgentReport) event() {}
func (Drain) event()       {}
func (Undrain) event()     {}
func (Conns) event()       {}
func (Tick) event()        {}

// ActionKind says what an [Action] is.
type ActionKind uint8

// Action kinds, in the order a Step returns them.
const (
	// Transition: Server went From -> To, for Reason. Log it, notify.
	Transition ActionKind = iota + 1
	// QuorumLost and QuorumGained: the live weight (Weight) crossed the
	// quorum (keepalived quorum_down / quorum_up).
	QuorumLost
	QuorumGained
	// SorryIn: put the sorry server (Server) in IPVS at Weight.
	SorryIn
	// SetDest: Server's IPVS entry must become Present at Weight (or
	// absent when !Present).
	SetDest
	// SorryOut: remove the sorry server.
	SorryOut
	// Recheck: ask Server's checkers to probe now instead of at their
	// next delay_loop (its agent just cleared it while checks say down).
	Recheck
)

// String returns the kind's name.
func (k ActionKind) String() string {
	switch k {
	case Transition:
		return "transition"
	case QuorumLost:
		return "quorum-lost"
	case QuorumGained:
		return "quorum-gained"
	case SorryIn:
		return "sorry-in"
	case SetDest:
		return "set-dest"
	case SorryOut:
		return "sorry-out"
	case Recheck:
		return "recheck"
	}
	return fmt.Sprintf("action(%d)", uint8(k))
}

// Action is an output of the pool.
type Action struct {
	Kind    ActionKind
	Server  netip.AddrPort
	From    State // Transition
	To      State // Transition
	Weight  int   // SetDest, SorryIn; live weight for quorum actions
	Present bool  // SetDest
	// Removed (SetDest absent): the server has left the pool for good.
	Removed bool
	Reason  string
}

// String renders the action for logs and tests.
func (a Action) String() string {
	switch a.Kind {
	case Transition:
		return fmt.Sprintf("%s %s: %s -> %s (%s)", a.Kind, a.Server, a.From, a.To, a.Reason)
	case SetDest:
		if !a.Present {
			return fmt.Sprintf("%s %s absent", a.Kind, a.Server)
		}
		return fmt.Sprintf("%s %s weight %d", a.Kind, a.Server, a.Weight)
	case SorryIn:
		return fmt.Sprintf("%s %s weight %d (%s)", a.Kind, a.Server, a.Weight, a.Reason)
	case SorryOut:
		return fmt.Sprintf("%s %s (%s)", a.Kind, a.Server, a.Reason)
	case QuorumLost, QuorumGained:
		return fmt.Sprintf("%s (%s)", a.Kind, a.Reason)
	case Recheck:
		return fmt.Sprintf("%s %s (%s)", a.Kind, a.Server, a.Reason)
	}
	return a.Kind.String()
}

type check struct {
	up     bool
	reason string
	// weightSet: the checker set weight (see CheckResult).
	weightSet bool
	weight    int
}

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

// Pool is the state machine of one virtual service's real servers. It is
// not safe for concurrent use: one goroutine drives it.
type Pool struct {
	cfg      Config
	servers  []*server // in configuration order
	byAddr   map[netip.AddrPort]*server
	quorumUp bool
	sorryIn  bool
}

// New builds the pool at time now and returns the initial actions: a
// Transition from "new" and a SetDest for every server, the initial quorum
// state, and SorryIn when quorum is lost from the start (keepalived does the
// same at start-up). It does no I/O.
func New(cfg Config, now time.Time) (*Pool, []Action, error) {
	if err := cfg.Validate(); err != nil {
		return nil, nil, fmt.Errorf("pool: %w", err)
	}
	p := &Pool{cfg: cfg.withDefaults(), byAddr: make(map[netip.AddrPort]*server)}
	for _, sc := range cfg.Servers {
		s := p.newServer(sc)
		p.servers = append(p.servers, s)
		p.byAddr[sc.Addr] = s
	}
	live := p.liveWeight(p.proposed(now))
	p.quorumUp = live >= p.cfg.Quorum
	var acts []Action
	if p.quorumUp {
		acts = append(acts, Action{Kind: QuorumGained, Weight: live, Reason: fmt.Sprintf("start: live weight %d >= quorum %d", live, p.cfg.Quorum)})
	} else {
		acts = append(acts, Action{Kind: QuorumLost, Weight: live, Reason: fmt.Sprintf("start: live weight %d < quorum %d", live, p.cfg.Quorum)})
	}
	return p, append(acts, p.evaluate(now, "start")...), nil
}

func (p *Pool) newServer(sc ServerConfig) *server {
	s := &server{cfg: sc, checks: make(map[string]check)}
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
// ignored.
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
		// time moves (expiry and everything else happen at Tick), so
		// nothing is evaluated.
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
					acts = append(acts, Action{Kind: Recheck, Server: s.cfg.Addr, Reason: "agent reports " + e.State.String() + " again"})
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
	case Tick:
	}
	acts = append(acts, p.expireAgents(now)...)
	return append(acts, p.evaluate(now, cause)...)
}

// expireAgents forgets agent information older than AgentMissed intervals.
func (p *Pool) expireAgents(now time.Time) []Action {
	var acts []Action
	limit := time.Duration(p.cfg.AgentMissed) * p.cfg.AgentInterval
	for _, s := range p.servers {
		if s.agent == AgentNone || now.Sub(s.agentAt) < limit {
			continue
		}
		was := s.agent
		s.agent, s.agentReason = AgentNone, fmt.Sprintf("agent silent for %d intervals (%s)", p.cfg.AgentMissed, limit)
		if was != AgentUp {
			if ok, _ := s.checksUp(); !ok {
				acts = append(acts, Action{Kind: Recheck, Server: s.cfg.Addr, Reason: s.agentReason})
			}
		}
	}
	return acts
}

func (s *server) checksUp() (bool, string) {
	names := make([]string, 0, len(s.checks))
	for n := range s.checks {
		names = append(names, n)
	}
	slices.Sort(names)
	var failed []string
	for _, n := range names {
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
		if p.cfg.DrainTimeout > 0 && !now.Before(s.drainStart.Add(p.cfg.DrainTimeout)) {
			return final, fmt.Sprintf("%s; drain_timeout %s elapsed with %d active, %d inactive connections", t.reason, p.cfg.DrainTimeout, s.active, s.inactive)
		}
		return Draining, t.reason
	}
	// Down, new, Drained or Maintenance: nothing carries traffic to drain.
	return final, t.reason
}

func (p *Pool) upReason(s *server) string {
	switch s.state {
	case 0:
		return "start"
	case Draining, Drained, Maintenance:
		if s.agent == AgentUp || s.agent == AgentNone {
			return fmt.Sprintf("back in service at weight %d", s.effWeight())
		}
	}
	var ok []string
	for _, n := range slices.Sorted(mapKeys(s.checks)) {
		if r := s.checks[n].reason; r != "" && r != "start" {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		return "healthy"
	}
	return strings.Join(ok, "; ")
}

func mapKeys(m map[string]check) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
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
			trans = append(trans, Action{Kind: Transition, Server: s.cfg.Addr, From: s.state, To: pr.state, Reason: reason})
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
		quorum = append(quorum, Action{Kind: QuorumLost, Weight: live, Reason: fmt.Sprintf("live weight %d < quorum %d - hysteresis %d", live, p.cfg.Quorum, p.cfg.Hysteresis)})
	case !p.quorumUp && live >= p.cfg.Quorum+p.cfg.Hysteresis:
		p.quorumUp = true
		quorum = append(quorum, Action{Kind: QuorumGained, Weight: live, Reason: fmt.Sprintf("live weight %d >= quorum %d + hysteresis %d", live, p.cfg.Quorum, p.cfg.Hysteresis)})
	}
	held := !p.quorumUp && p.cfg.Sorry.IsValid()

	kept := p.servers[:0]
	for _, s := range p.servers {
		if s.leaving && s.state != Draining {
			// Drained (or it carried nothing): now it goes.
			dests = append(dests, Action{Kind: SetDest, Server: s.cfg.Addr, Present: false, Removed: true, Reason: "removed from the configuration; " + s.reason})
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
			dests = append(dests, Action{Kind: SetDest, Server: s.cfg.Addr, Weight: w, Present: present})
		}
		s.weight, s.present, s.emitted = w, present, true
	}

	var acts []Action
	acts = append(acts, trans...)
	acts = append(acts, quorum...)
	wantSorry := held
	if wantSorry && !p.sorryIn {
		acts = append(acts, Action{Kind: SorryIn, Server: p.cfg.Sorry, Weight: p.cfg.SorryWeight, Reason: "quorum lost"})
	}
	acts = append(acts, dests...)
	if !wantSorry && p.sorryIn {
		acts = append(acts, Action{Kind: SorryOut, Server: p.cfg.Sorry, Reason: "quorum gained"})
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
