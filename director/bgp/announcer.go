package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Community is a BGP standard community (RFC 1997): the AS in the high 16
// bits, the value in the low 16.
type Community uint32

// GracefulShutdown is the GRACEFUL_SHUTDOWN well-known community of RFC
// 8326, 65535:0: "this route is about to go, prefer another one".
const GracefulShutdown Community = 0xFFFF0000

// String returns the community as "as:value".
func (c Community) String() string {
	return strconv.FormatUint(uint64(c>>16), 10) + ":" + strconv.FormatUint(uint64(c&0xFFFF), 10)
}

// ParseCommunity parses "as:value", both parts 0..65535.
func ParseCommunity(s string) (Community, error) {
	a, v, ok := strings.Cut(s, ":")
	if !ok {
		return 0, fmt.Errorf("community %q: want as:value", s)
	}
	hi, err1 := strconv.ParseUint(a, 10, 16)
	lo, err2 := strconv.ParseUint(v, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("community %q: want as:value, both 0..65535", s)
	}
	return Community(hi<<16 | lo), nil
}

// MaxCommunities bounds the communities added to every announcement.
const MaxCommunities = 32

// Config is the Announcer's policy.
type Config struct {
	// GracefulShutdownWait is how long a VIP stays announced with the
	// GRACEFUL_SHUTDOWN community before its withdrawal: the time the
	// routers take to move the traffic to the other directors. Zero
	// withdraws at once.
	GracefulShutdownWait time.Duration
	// Communities are added to every announcement (at most
	// MaxCommunities).
	Communities []Community
}

// Validate checks the config.
func (c Config) Validate() error {
	var errs []error
	if c.GracefulShutdownWait < 0 {
		errs = append(errs, fmt.Errorf("graceful shutdown wait %s is negative", c.GracefulShutdownWait))
	}
	if len(c.Communities) > MaxCommunities {
		errs = append(errs, fmt.Errorf("%d communities, at most %d", len(c.Communities), MaxCommunities))
	}
	if slices.Contains(c.Communities, GracefulShutdown) {
		errs = append(errs, errors.New("community 65535:0 (GRACEFUL_SHUTDOWN) is added by the withdrawal, not by configuration"))
	}
	return errors.Join(errs...)
}

// Event is an input to [Announcer.Step]: [Service], [Quorum], [Remove],
// [DrainSelf], [Stop], [Fingerprint], [Session] or [TimerFired].
type Event interface{ isEvent() }

// Service: VIP's IPVS service is (Programmed) or is not in the kernel.
// A VIP without its service is withdrawn at once: nothing on this
// director would serve its traffic, so there is nothing to wait for.
type Service struct {
	VIP        netip.Addr
	Programmed bool
}

// Quorum: VIP's pool has its quorum (pool.QuorumGained) or lost it
// (pool.QuorumLost). Losing it withdraws the VIP gracefully.
type Quorum struct {
	VIP netip.Addr
	Up  bool
}

// Remove: VIP has left the configuration; withdrawn at once, forgotten.
type Remove struct{ VIP netip.Addr }

// DrainSelf: `tandem-director drain --self` (On) or its undo: every VIP
// withdrawn gracefully, or announced again.
type DrainSelf struct{ On bool }

// Stop: a clean stop. Every VIP is withdrawn gracefully; once
// [Announcer.Done], the driver stops the speaker.
type Stop struct{}

// Fingerprint: this director's IPVS table matches the others'
// fingerprint (Agreed) or not. It gates the first announcement of a VIP
// (a joining director, or a VIP back after a withdrawal): a VIP is
// announced only while the gate is open. A gate that closes does not
// withdraw what is announced: the directors' tables differ for a moment
// at every reload or pool change, and all of them withdrawing at once
// would take the service down. The gate starts closed. With VIP set it
// is that VIP's gate (the agreement between directors is per VIP);
// without, every VIP's, and the gate a VIP seen later starts with.
type Fingerprint struct {
	VIP    netip.Addr
	Agreed bool
}

// Session: the BGP session with Peer is established (Up) or not. With no
// session established, a graceful withdrawal does not wait: no router
// would see the community.
type Session struct {
	Peer netip.Addr
	Up   bool
}

// TimerFired: [Announcer.NextDeadline] has come.
type TimerFired struct{}

func (Service) isEvent()     {}
func (Quorum) isEvent()      {}
func (Remove) isEvent()      {}
func (DrainSelf) isEvent()   {}
func (Stop) isEvent()        {}
func (Fingerprint) isEvent() {}
func (Session) isEvent()     {}
func (TimerFired) isEvent()  {}

// Action is an output of [Announcer.Step] for the driver to perform on
// the [Speaker], in order: [Announce] or [Withdraw].
type Action interface {
	fmt.Stringer
	isAction()
}

// Announce: announce Prefix (a /32 or /128) with Communities, replacing
// an earlier announcement of it. GracefulShutdown: the communities end
// with 65535:0, the first half of a graceful withdrawal.
type Announce struct {
	Prefix           netip.Prefix
	Communities      []Community
	GracefulShutdown bool
	Reason           string
}

// Withdraw: withdraw Prefix.
type Withdraw struct {
	Prefix netip.Prefix
	Reason string
}

func (Announce) isAction() {}
func (Withdraw) isAction() {}

func (a Announce) String() string {
	var b strings.Builder
	b.WriteString("announce ")
	b.WriteString(a.Prefix.String())
	for _, c := range a.Communities {
		b.WriteString(" " + c.String())
	}
	if a.GracefulShutdown {
		b.WriteString(" (graceful shutdown: " + a.Reason + ")")
	} else {
		b.WriteString(" (" + a.Reason + ")")
	}
	return b.String()
}

func (a Withdraw) String() string { return "withdraw " + a.Prefix.String() + " (" + a.Reason + ")" }

// State is a VIP's announcement state.
type State uint8

// The states of a VIP.
const (
	// Withdrawn: not announced.
	Withdrawn State = iota
	// Announced: announced without GRACEFUL_SHUTDOWN.
	Announced
	// ShuttingDown: announced with GRACEFUL_SHUTDOWN, withdrawn at Until.
	ShuttingDown
)

func (s State) String() string {
	switch s {
	case Withdrawn:
		return "withdrawn"
	case Announced:
		return "announced"
	case ShuttingDown:
		return "shutting-down"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// VIPStatus is one VIP's state for `status`.
type VIPStatus struct {
	VIP   netip.Addr
	State State
	// Until: when a ShuttingDown VIP is withdrawn.
	Until time.Time
	// Why: why the VIP is not announced (empty when it is and should be).
	Why string
}

type vip struct {
	programmed, quorum bool
	agreed             bool // its fingerprint gate
	state              State
	until              time.Time
}

// Announcer decides which VIPs are announced. It is not safe for
// concurrent use: one goroutine drives it.
type Announcer struct {
	cfg      Config
	vips     map[netip.Addr]*vip
	sessions map[netip.Addr]bool // established peers only
	drain    bool
	stopping bool
	gate     bool // the fingerprint gate of a VIP seen later
}

// New returns an Announcer with no VIP, no session and the fingerprint
// gate closed.
func New(cfg Config) (*Announcer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bgp: %w", err)
	}
	cfg.Communities = slices.Clone(cfg.Communities)
	return &Announcer{cfg: cfg, vips: make(map[netip.Addr]*vip), sessions: make(map[netip.Addr]bool)}, nil
}

// Step applies ev, which happened at now, and returns the actions, sorted
// by VIP. What time made due by now happens too.
func (a *Announcer) Step(now time.Time, ev Event) []Action {
	var acts []Action
	switch e := ev.(type) {
	case Service:
		a.get(e.VIP).programmed = e.Programmed
	case Quorum:
		a.get(e.VIP).quorum = e.Up
	case Remove:
		v := a.vips[e.VIP]
		if v == nil {
			break
		}
		if v.state != Withdrawn {
			acts = append(acts, Withdraw{Prefix: hostPrefix(e.VIP), Reason: "removed from the configuration"})
		}
		delete(a.vips, e.VIP)
	case DrainSelf:
		a.drain = e.On
	case Stop:
		a.stopping = true
	case Fingerprint:
		if e.VIP.IsValid() {
			a.get(e.VIP).agreed = e.Agreed
			break
		}
		a.gate = e.Agreed
		for _, v := range a.vips {
			v.agreed = e.Agreed
		}
	case Session:
		if e.Up {
			a.sessions[e.Peer] = true
		} else {
			delete(a.sessions, e.Peer)
		}
	case TimerFired:
	}
	return append(acts, a.evaluate(now)...)
}

func (a *Announcer) get(addr netip.Addr) *vip {
	v := a.vips[addr]
	if v == nil {
		v = &vip{agreed: a.gate}
		a.vips[addr] = v
	}
	return v
}

// why returns why v should not be announced, or "".
func (a *Announcer) why(v *vip) string {
	switch {
	case a.stopping:
		return "stopping"
	case !v.programmed:
		return "IPVS service not programmed"
	case !v.quorum:
		return "quorum down"
	case a.drain:
		return "drain --self"
	case v.state == Withdrawn && !v.agreed:
		return "IPVS fingerprint not agreed"
	}
	return ""
}

func (a *Announcer) sorted() []netip.Addr {
	addrs := make([]netip.Addr, 0, len(a.vips))
	for addr := range a.vips {
		addrs = append(addrs, addr)
	}
	slices.SortFunc(addrs, func(x, y netip.Addr) int { return x.Compare(y) })
	return addrs
}

func (a *Announcer) evaluate(now time.Time) []Action {
	var acts []Action
	for _, addr := range a.sorted() {
		v := a.vips[addr]
		p := hostPrefix(addr)
		why := a.why(v)
		switch {
		case why == "" && v.state == Withdrawn:
			v.state = Announced
			acts = append(acts, Announce{Prefix: p, Communities: slices.Clone(a.cfg.Communities), Reason: "service programmed, quorum up"})
		case why == "" && v.state == ShuttingDown:
			v.state, v.until = Announced, time.Time{}
			acts = append(acts, Announce{Prefix: p, Communities: slices.Clone(a.cfg.Communities), Reason: "graceful shutdown cancelled"})
		case why == "":
		case v.state == Announced && (!v.programmed || len(a.sessions) == 0 || a.cfg.GracefulShutdownWait == 0):
			v.state = Withdrawn
			acts = append(acts, Withdraw{Prefix: p, Reason: why + a.noWait(v)})
		case v.state == Announced:
			v.state, v.until = ShuttingDown, now.Add(a.cfg.GracefulShutdownWait)
			acts = append(acts, Announce{Prefix: p, Communities: append(slices.Clone(a.cfg.Communities), GracefulShutdown),
				GracefulShutdown: true, Reason: why + ", withdrawal in " + a.cfg.GracefulShutdownWait.String()})
		case v.state == ShuttingDown && (!v.programmed || len(a.sessions) == 0 || !now.Before(v.until)):
			r := why + a.noWait(v)
			if v.programmed && len(a.sessions) > 0 {
				r = why + ", graceful shutdown wait over"
			}
			v.state, v.until = Withdrawn, time.Time{}
			acts = append(acts, Withdraw{Prefix: p, Reason: r})
		}
	}
	return acts
}

// noWait says why a withdrawal does not wait (or "" when it does).
func (a *Announcer) noWait(v *vip) string {
	switch {
	case !v.programmed:
		return ""
	case len(a.sessions) == 0:
		return ", no BGP session established"
	case a.cfg.GracefulShutdownWait == 0:
		return ", graceful shutdown wait 0"
	}
	return ""
}

// NextDeadline returns when the next graceful withdrawal is due, or the
// zero time.
func (a *Announcer) NextDeadline() time.Time {
	var next time.Time
	for _, v := range a.vips {
		if v.state == ShuttingDown && (next.IsZero() || v.until.Before(next)) {
			next = v.until
		}
	}
	return next
}

// Done reports that a Stop has been received and every VIP is withdrawn:
// the speaker may stop.
func (a *Announcer) Done() bool {
	if !a.stopping {
		return false
	}
	for _, v := range a.vips {
		if v.state != Withdrawn {
			return false
		}
	}
	return true
}

// Status returns every VIP's state, sorted by address.
func (a *Announcer) Status() []VIPStatus {
	out := make([]VIPStatus, 0, len(a.vips))
	for _, addr := range a.sorted() {
		v := a.vips[addr]
		out = append(out, VIPStatus{VIP: addr, State: v.state, Until: v.until, Why: a.why(v)})
	}
	return out
}

// hostPrefix returns addr's /32 or /128.
func hostPrefix(addr netip.Addr) netip.Prefix {
	return netip.PrefixFrom(addr, addr.BitLen())
}
