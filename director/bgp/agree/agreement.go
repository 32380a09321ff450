package agree

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Defaults of the Agreement and the driver.
const (
	// DefaultInterval is how often a director sends its message to each
	// of the others (and at once on a change).
	DefaultInterval = time.Second
	// DefaultStale is how long a report counts: three intervals.
	DefaultStale = 3 * DefaultInterval
	// DefaultGrace is how long after its start a director waits to hear
	// the others before it announces a VIP that no director it heard
	// announces.
	DefaultGrace = 3 * time.Second
)

// Config is the Agreement's timing.
type Config struct {
	// Stale: a peer heard longer ago than this does not count (0:
	// DefaultStale).
	Stale time.Duration
	// Grace: from the start, how long a VIP waits for the directors not
	// heard yet before no one announcing it opens its gate (0:
	// DefaultGrace).
	Grace time.Duration
}

// Gate is one VIP's fingerprint gate: Open when this director's table
// may be announced as far as the other directors' go, and why.
type Gate struct {
	VIP    netip.Addr
	Open   bool
	Reason string
}

// PeerStatus is what this director knows of another one.
type PeerStatus struct {
	Addr netip.Addr
	// Node is the name it reports ("" before it is heard).
	Node string
	// Heard is when its last message arrived (zero: never).
	Heard time.Time
	// Fresh: heard within the staleness bound.
	Fresh bool
	// Announcing are the VIPs it announces, of those it reports.
	Announcing []netip.Addr
	// Agree: fresh, and for every VIP both serve, the same services with
	// the same fingerprints. Disagree says where not.
	Agree    bool
	Disagree string
}

type report struct {
	heard time.Time
	msg   *Message
}

// Agreement is the pure rule of a director joining the tier: a VIP is
// first announced only when, for each of its services, this director's
// IPVS fingerprint equals that of every other director that announces
// the VIP and was heard within the staleness bound; when no director
// announcing the VIP is heard (the first director of the tier, or all
// the others down), the gate opens too, after the start grace: the gate
// never keeps a lone director dark. Events in (own fingerprints, the
// peers' reports with their receive time), gates out; no I/O, no clock.
// Not safe for concurrent use.
type Agreement struct {
	cfg   Config
	start time.Time
	peers []netip.Addr
	rep   map[netip.Addr]report
	vips  []netip.Addr
	own   map[netip.Addr][]Service // by VIP, sorted by key
}

// NewAgreement returns an Agreement started at start with the other directors
// peers (our own address excluded by the caller).
func NewAgreement(cfg Config, start time.Time, peers []netip.Addr) *Agreement {
	if cfg.Stale <= 0 {
		cfg.Stale = DefaultStale
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	a := &Agreement{cfg: cfg, start: start, rep: map[netip.Addr]report{}, own: map[netip.Addr][]Service{}}
	a.SetPeers(peers)
	return a
}

// SetPeers replaces the other directors; the reports of those that stay
// are kept.
func (a *Agreement) SetPeers(peers []netip.Addr) {
	a.peers = a.peers[:0]
	for _, p := range peers {
		p = p.Unmap()
		if !slices.Contains(a.peers, p) {
			a.peers = append(a.peers, p)
		}
	}
	slices.SortFunc(a.peers, netip.Addr.Compare)
	for p := range a.rep {
		if !slices.Contains(a.peers, p) {
			delete(a.rep, p)
		}
	}
}

// SetOwn gives this director's announced VIPs and the services of them
// with their fingerprints (Announcing is not looked at here).
func (a *Agreement) SetOwn(vips []netip.Addr, services []Service) {
	a.vips = slices.Clone(vips)
	slices.SortFunc(a.vips, netip.Addr.Compare)
	a.vips = slices.Compact(a.vips)
	a.own = map[netip.Addr][]Service{}
	for _, s := range services {
		v := s.Key.VIP()
		a.own[v] = append(a.own[v], s)
	}
	for _, ss := range a.own {
		slices.SortFunc(ss, func(x, y Service) int { return x.Key.Compare(y.Key) })
	}
}

// Heard records m, received from peer at at. It reports false (nothing
// recorded) for an address that is not a peer or a report older than the
// one kept.
func (a *Agreement) Heard(peer netip.Addr, at time.Time, m *Message) bool {
	peer = peer.Unmap()
	if m == nil || !slices.Contains(a.peers, peer) {
		return false
	}
	if old, ok := a.rep[peer]; ok && at.Before(old.heard) {
		return false
	}
	a.rep[peer] = report{heard: at, msg: m}
	return true
}

func (a *Agreement) fresh(r report, now time.Time) bool {
	return r.msg != nil && now.Sub(r.heard) <= a.cfg.Stale
}

// of returns m's services of vip.
func of(m *Message, vip netip.Addr) []Service {
	var out []Service
	for _, s := range m.Services {
		if s.Key.VIP() == vip {
			out = append(out, s)
		}
	}
	return out
}

func announces(ss []Service) bool {
	return slices.ContainsFunc(ss, func(s Service) bool { return s.Announcing })
}

// diff says how the peer's services of a VIP (theirs) differ from ours,
// "" when they are the same with the same fingerprints.
func diff(ours, theirs []Service) string {
	for _, o := range ours {
		i := slices.IndexFunc(theirs, func(t Service) bool { return t.Key == o.Key })
		switch {
		case !o.HasFingerprint:
			return fmt.Sprintf("%v: no fingerprint here yet (not written to IPVS)", o.Key)
		case i < 0:
			return fmt.Sprintf("%v: not a service there", o.Key)
		case !theirs[i].HasFingerprint:
			return fmt.Sprintf("%v: no fingerprint there yet", o.Key)
		case theirs[i].Fingerprint != o.Fingerprint:
			return fmt.Sprintf("%v: fingerprint %016x there, %016x here", o.Key, theirs[i].Fingerprint, o.Fingerprint)
		}
	}
	for _, t := range theirs {
		if !slices.ContainsFunc(ours, func(o Service) bool { return o.Key == t.Key }) {
			return fmt.Sprintf("%v: not a service here", t.Key)
		}
	}
	return ""
}

func (a *Agreement) name(p netip.Addr) string {
	if r, ok := a.rep[p]; ok && r.msg != nil {
		return r.msg.Node + " (" + p.String() + ")"
	}
	return p.String()
}

// Gates returns the gate of each own VIP at now, sorted by address.
func (a *Agreement) Gates(now time.Time) []Gate {
	out := make([]Gate, 0, len(a.vips))
	for _, v := range a.vips {
		out = append(out, a.gate(v, now))
	}
	return out
}

func (a *Agreement) gate(v netip.Addr, now time.Time) Gate {
	ours := a.own[v]
	var agreed []string
	for _, p := range a.peers {
		r := a.rep[p]
		if !a.fresh(r, now) {
			continue
		}
		theirs := of(r.msg, v)
		if !announces(theirs) {
			continue
		}
		if d := diff(ours, theirs); d != "" {
			return Gate{VIP: v, Reason: "differs from " + a.name(p) + ", which announces it: " + d}
		}
		agreed = append(agreed, a.name(p))
	}
	if len(agreed) > 0 {
		return Gate{VIP: v, Open: true, Reason: "agrees with " + strings.Join(agreed, ", ")}
	}
	if now.Before(a.start.Add(a.cfg.Grace)) {
		var waiting []string
		for _, p := range a.peers {
			if !a.fresh(a.rep[p], now) {
				waiting = append(waiting, p.String())
			}
		}
		if len(waiting) > 0 {
			return Gate{VIP: v, Reason: fmt.Sprintf("start: waiting up to %v to hear %s", a.cfg.Grace, strings.Join(waiting, ", "))}
		}
	}
	if len(a.peers) == 0 {
		return Gate{VIP: v, Open: true, Reason: "no other director configured"}
	}
	return Gate{VIP: v, Open: true, Reason: fmt.Sprintf("no director announcing it heard within %v", a.cfg.Stale)}
}

// Peers returns what is known of each peer at now, sorted by address.
func (a *Agreement) Peers(now time.Time) []PeerStatus {
	out := make([]PeerStatus, 0, len(a.peers))
	for _, p := range a.peers {
		r := a.rep[p]
		st := PeerStatus{Addr: p, Heard: r.heard}
		if r.msg == nil {
			st.Disagree = "never heard"
			out = append(out, st)
			continue
		}
		st.Node, st.Fresh = r.msg.Node, a.fresh(r, now)
		var vips []netip.Addr
		for _, s := range r.msg.Services {
			if v := s.Key.VIP(); !slices.Contains(vips, v) {
				vips = append(vips, v)
				if announces(of(r.msg, v)) {
					st.Announcing = append(st.Announcing, v)
				}
			}
		}
		if !st.Fresh {
			st.Disagree = fmt.Sprintf("not heard for more than %v", a.cfg.Stale)
		}
		// Only the VIPs both serve: a tier may split its VIPs.
		for _, v := range a.vips {
			if st.Disagree != "" {
				break
			}
			if !slices.Contains(vips, v) {
				continue
			}
			if d := diff(a.own[v], of(r.msg, v)); d != "" {
				st.Disagree = d
			}
		}
		st.Agree = st.Disagree == ""
		out = append(out, st)
	}
	return out
}

// NextDeadline returns the next time a gate may change by time alone (the
// end of the start grace, a fresh peer going stale), or the zero time.
func (a *Agreement) NextDeadline(now time.Time) time.Time {
	var next time.Time
	at := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	at(a.start.Add(a.cfg.Grace))
	for _, p := range a.peers {
		if r := a.rep[p]; a.fresh(r, now) {
			at(r.heard.Add(a.cfg.Stale + time.Nanosecond))
		}
	}
	return next
}
