package witness

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// Defaults of Config, for agents that report every second.
const (
	DefaultMaxReportAge   = 3 * time.Second
	DefaultMaxEvidenceAge = 3 * time.Second
	// MaxAgents bounds the table (and the configured real servers it
	// accepts); beyond it the agent heard from least recently is forgotten.
	MaxAgents = 4096
)

// Config is the rule's configuration.
type Config struct {
	// Quorum is the number of agents that must vouch for the master; 0
	// disables the rule (Verdict never says Alive).
	Quorum int
	// MaxReportAge: an agent counts only while its last report was received
	// within this time (default DefaultMaxReportAge).
	MaxReportAge time.Duration
	// MaxEvidenceAge: an agent vouches only for a master reply at most this
	// old (default DefaultMaxEvidenceAge), so a master that dies while the
	// link is broken stops being vouched for.
	MaxEvidenceAge time.Duration
}

// WithDefaults fills in the zero durations.
func (c Config) WithDefaults() Config {
	if c.MaxReportAge <= 0 {
		c.MaxReportAge = DefaultMaxReportAge
	}
	if c.MaxEvidenceAge <= 0 {
		c.MaxEvidenceAge = DefaultMaxEvidenceAge
	}
	return c
}

// seen is one director as one agent last reported it.
type seen struct {
	role hbproto.Role
	at   time.Time // when the agent had that director's reply (receive time − age)
}

type agentEntry struct {
	node      string
	received  time.Time
	directors map[string]seen
}

// Table holds the latest report of each configured real server's agent.
// It is pure: no clock, no I/O; not safe for concurrent use (see Board).
//
// A witness is a configured real server (SetServers), counted once by its
// real IP: a report whose real IP is not a configured real server is
// ignored, and two node names that claim one real IP are one witness (the
// later report replaces the earlier). The agent's node name is only shown.
type Table struct {
	cfg     Config
	servers map[netip.Addr]bool
	agents  map[netip.Addr]*agentEntry
	ignored uint64
}

// NewTable returns an empty table with no configured real server: nobody
// counts until SetServers.
func NewTable(cfg Config) *Table {
	return &Table{cfg: cfg.WithDefaults(), servers: map[netip.Addr]bool{}, agents: map[netip.Addr]*agentEntry{}}
}

// SetServers replaces the configured real servers (the addresses of the
// virtual services' real servers, at start and on reload; at most
// MaxAgents are kept) and forgets the agents of the others.
func (t *Table) SetServers(ips []netip.Addr) {
	t.servers = make(map[netip.Addr]bool, min(len(ips), MaxAgents))
	for _, ip := range ips {
		if len(t.servers) >= MaxAgents {
			break
		}
		if ip = ip.Unmap(); ip.IsValid() {
			t.servers[ip.WithZone("")] = true
		}
	}
	for ip := range t.agents {
		if !t.servers[ip] {
			delete(t.agents, ip)
		}
	}
}

// Ignored returns how many reports were ignored because their real IP is
// not a configured real server.
func (t *Table) Ignored() uint64 { return t.ignored }

// Config returns the configuration in force (with defaults).
func (t *Table) Config() Config { return t.cfg }

// Observe records an accepted agent report received at now. The agent is
// identified by its real IP (the report's real_ip, which the heartbeat
// listener binds to the agent's key and source address), and counts only
// when that IP is a configured real server; a later report replaces an
// earlier one.
func (t *Table) Observe(now time.Time, r *hbproto.AgentReport) {
	if r == nil {
		return
	}
	ip := r.RealIP.Unmap().WithZone("")
	if !t.servers[ip] {
		t.ignored++
		return
	}
	e := &agentEntry{node: r.Node, received: now, directors: make(map[string]seen, len(r.Seen))}
	for _, s := range r.Seen {
		e.directors[s.Director] = seen{role: s.Role, at: now.Add(-s.Age)}
	}
	if _, ok := t.agents[ip]; !ok && len(t.agents) >= MaxAgents {
		t.prune(now)
		for len(t.agents) >= MaxAgents {
			var oldest netip.Addr
			for n, a := range t.agents {
				if !oldest.IsValid() || a.received.Before(t.agents[oldest].received) {
					oldest = n
				}
			}
			delete(t.agents, oldest)
		}
	}
	t.agents[ip] = e
}

// prune forgets agents whose last report is too old to count.
func (t *Table) prune(now time.Time) {
	for n, a := range t.agents {
		if now.Sub(a.received) > t.cfg.MaxReportAge {
			delete(t.agents, n)
		}
	}
}

// Query asks whether the master is alive.
type Query struct {
	// Self is our own director name: never counted as the master.
	Self string
	// Master is the master's director name when known (the peerwatch probe
	// carries it); empty means any director other than Self.
	Master string
	// After is the moment we should last have heard from the master (our
	// last advert or probe from it plus its send interval): only a master
	// reply later than After shows the master alive while we hear nothing.
	After time.Time
}

// Verdict is the rule's answer.
type Verdict struct {
	// Alive: at least Quorum agents vouch for the master.
	Alive bool
	// Witnesses are the real servers whose agents vouch, "ip (node)",
	// sorted by address.
	Witnesses []string
	// Agents is the number of agents whose report is fresh.
	Agents int
	// Quorum is the number needed.
	Quorum int
}

// Verdict applies the rule at now: an agent vouches when its last report
// was received within MaxReportAge and says the master (Query.Master, or
// any director but Query.Self) was MASTER in a reply later than Query.After
// and at most MaxEvidenceAge old.
func (t *Table) Verdict(now time.Time, q Query) Verdict {
	v := Verdict{Quorum: t.cfg.Quorum}
	var ips []netip.Addr
	for ip, a := range t.agents {
		if now.Sub(a.received) > t.cfg.MaxReportAge {
			continue
		}
		v.Agents++
		for dir, s := range a.directors {
			if dir == q.Self || (q.Master != "" && dir != q.Master) || s.role != hbproto.RoleMaster {
				continue
			}
			if s.at.After(q.After) && now.Sub(s.at) <= t.cfg.MaxEvidenceAge {
				ips = append(ips, ip)
				break
			}
		}
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	for _, ip := range ips {
		v.Witnesses = append(v.Witnesses, ip.String()+" ("+t.agents[ip].node+")")
	}
	v.Alive = t.cfg.Quorum > 0 && len(ips) >= t.cfg.Quorum
	return v
}

// Agents returns the number of agents whose last report is fresh at now.
func (t *Table) Agents(now time.Time) int {
	n := 0
	for _, a := range t.agents {
		if now.Sub(a.received) <= t.cfg.MaxReportAge {
			n++
		}
	}
	return n
}

// Board is a Table safe for concurrent use: the heartbeat listener feeds
// it, the peer watcher queries it.
type Board struct {
	mu      sync.Mutex
	t       *Table
	changed chan struct{}
}

// NewBoard returns an empty board.
func NewBoard(cfg Config) *Board {
	return &Board{t: NewTable(cfg), changed: make(chan struct{})}
}

// Observe records an accepted agent report (see Table.Observe) and wakes
// the waiters of Changed.
func (b *Board) Observe(now time.Time, r *hbproto.AgentReport) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.Observe(now, r)
	close(b.changed)
	b.changed = make(chan struct{})
}

// Verdict applies the rule (see Table.Verdict).
func (b *Board) Verdict(now time.Time, q Query) Verdict {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.t.Verdict(now, q)
}

// Agents returns the number of agents with a fresh report.
func (b *Board) Agents(now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.t.Agents(now)
}

// SetServers replaces the configured real servers (see Table.SetServers).
func (b *Board) SetServers(ips []netip.Addr) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.SetServers(ips)
}

// Ignored returns how many reports came from unconfigured real IPs.
func (b *Board) Ignored() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.t.Ignored()
}

// SetQuorum changes the number of agents that must vouch for the master
// (fast_failover.witness_quorum, at start and on reload); 0 turns the rule
// off.
func (b *Board) SetQuorum(n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.t.cfg.Quorum = max(n, 0)
}

// Config returns the configuration in force.
func (b *Board) Config() Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.t.Config()
}

// Changed returns a channel closed at the next Observe.
func (b *Board) Changed() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.changed
}
