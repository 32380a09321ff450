package heartbeat

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/shared/clock"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// Settings is the reloadable part of the configuration.
//
// The agent speaks for up to two addresses of its host, one per family
// (docs/heartbeat.md, "Dual stack"): reports to an IPv4 director leave
// from RealIP sealed with Key, reports to an IPv6 director from RealIP6
// sealed with Key6. Each report says its sender's address as real_ip, and
// a director's reply is read for the destinations at that address only.
type Settings struct {
	// Key is this agent's HMAC key for RealIP (derived by the directors
	// for it, `tandem-director keys derive`); nil disables heartbeats.
	Key []byte
	// Key6 is the key for RealIP6; nil means Key serves both identities
	// (right only for the legacy cluster key, which the directors accept
	// from any address while heartbeat.agent_keys is not scoped).
	Key6 []byte
	// Interval is the time between two periodic reports.
	Interval time.Duration
	// Targets are the directors' addresses, of either family.
	Targets []netip.AddrPort
	// RealIP is the IPv4 address reports to the IPv4 directors are sent
	// from (Run binds it; the directors accept a report only from its
	// real_ip) and filters the destinations kept from their replies.
	RealIP netip.Addr
	// RealIP6 is the same for the IPv6 directors: this host's own IPv6
	// address, the address its IPv6 real servers are known by.
	RealIP6 netip.Addr
	// Window is the accepted clock difference (0: hbproto.DefaultWindow).
	Window time.Duration
}

// key6 is the key of the IPv6 identity.
func (s *Settings) key6() []byte {
	if s.Key6 != nil {
		return s.Key6
	}
	return s.Key
}

// Families of the agent's identities and sockets, as indexes.
const (
	fam4 = 0
	fam6 = 1
)

// familyOf is the identity that speaks to a director at addr.
func familyOf(addr netip.Addr) int {
	if addr.Unmap().Is4() {
		return fam4
	}
	return fam6
}

// familyName names a family in logs and errors.
func familyName(fam int) string {
	if fam == fam4 {
		return "IPv4"
	}
	return "IPv6"
}

// identity is one address the agent speaks for: its key, and the sealer
// and opener made from it (nil without a key).
type identity struct {
	ip     netip.Addr
	key    []byte
	sealer *hbproto.Sealer
	opener *hbproto.Opener
}

// sockPlan is which sockets Run binds: one bound to RealIP, and one bound
// to RealIP6 when an IPv6 director is listed.
type sockPlan struct {
	ip4, ip6     netip.Addr
	want4, want6 bool
}

// Conns are the sockets the agent sends and receives on: V4 for the IPv4
// directors, V6 for the IPv6 ones. They may be one socket; a nil one
// makes the sends to that family fail (counted as send errors).
type Conns struct {
	V4, V6 net.PacketConn
}

// distinct are the sockets of c, each once.
func (c Conns) distinct() []net.PacketConn {
	var out []net.PacketConn
	for _, conn := range []net.PacketConn{c.V4, c.V6} {
		if conn != nil && !slices.Contains(out, conn) {
			out = append(out, conn)
		}
	}
	return out
}

func (c Conns) of(fam int) net.PacketConn {
	if fam == fam4 {
		return c.V4
	}
	return c.V6
}

// Hooks report events, for metrics. Any may be nil. They are called from
// the agent's goroutines and must not block.
type Hooks struct {
	// Sent is called after each datagram sent (err nil) or failed.
	Sent func(target netip.AddrPort, st hbproto.State, err error)
	// Reply is called for each accepted reply.
	Reply func(target netip.AddrPort, v maintenance.DirectorView)
	// Rejected is called for each dropped datagram with its reason label.
	Rejected func(peer string, reason string)
}

// Stats are totals since start.
type Stats struct {
	Sent       uint64            `json:"sent"`
	SendErrors uint64            `json:"send_errors"`
	Received   uint64            `json:"received"`
	Rejected   map[string]uint64 `json:"rejected"`
	SessionID  uint64            `json:"session_id"`
	// SessionID6 is the session of the IPv6 identity (0: none).
	SessionID6 uint64 `json:"session_id6,omitempty"`
	Disabled   bool   `json:"disabled"`
	// Unechoed counts authenticated replies that answer no recent report
	// of ours (echo extension): their report_now is honoured, nothing else.
	Unechoed uint64 `json:"unechoed"`
	// Minimal counts reports that could not be encoded and were replaced by
	// a minimal one (state and a fixed reason).
	Minimal uint64 `json:"minimal"`
}

// sentRing is how many recent reports are remembered for the echo check:
// a reply counts as seen when that report was sent (docs/heartbeat.md "Key
// scopes").
const sentRing = 64

// sentReport is one report sent: its header session and sequence, and
// when it was sent.
type sentReport struct {
	session, seq uint64
	at           time.Time
}

// MinimalReason is the reason of the report sent when the real one cannot
// be encoded.
const MinimalReason = "report too large; see the agent log"

// Silence warnings: a director that has not answered for silentAfter
// (at least this many intervals) is logged once every silentLogEvery.
const (
	silentIntervals = 10
	silentLogEvery  = 5 * time.Minute
)

// Agent sends reports and collects replies.
type Agent struct {
	log   *slog.Logger
	hooks Hooks
	clock clock.Clock

	mu      sync.Mutex
	set     Settings
	ids     [2]identity // by family: fam4, fam6
	plan    sockPlan
	applied bool
	report  *hbproto.AgentReport
	views   map[netip.AddrPort]*maintenance.DirectorView
	stats   Stats
	changed chan struct{} // closed and replaced on each accepted reply
	kick    chan struct{}
	reset   chan struct{}
	// requests are witness requests (report_now) being served, by the
	// requesting director's address.
	requests map[netip.AddrPort]*request
	// sent are the last reports sent by either identity (a ring of
	// sentRing), for the echo.
	sent    [sentRing]sentReport
	sentPos int
	// heard is when each director's last accepted reply arrived; started
	// is the first send; silentLogged when its silence was last logged.
	started      time.Time
	heard        map[netip.AddrPort]time.Time
	silentLogged map[netip.AddrPort]time.Time
	minimalLog   time.Time
	rebind       chan struct{}
}

// request is a director's report_now being served: until it expires, every
// reply from another director is relayed to the requester by one more
// report, at most once per other director.
type request struct {
	until   time.Time
	relayed map[netip.AddrPort]bool
}

// Witness request handling (docs/ha.md).
const (
	// RequestHold is how long a report_now is served: replies from other
	// directors within it are relayed to the requester.
	RequestHold = time.Second
	// RequestMinGap is the shortest time between two report_now accepted
	// from one director; closer requests are ignored.
	RequestMinGap = 100 * time.Millisecond
)

// New returns an agent. clk times the reports and dates them, the replies
// and the witness requests; nil means the system clock. It does no I/O.
func New(log *slog.Logger, s Settings, hooks Hooks, clk clock.Clock) *Agent {
	a := &Agent{
		log:     log,
		hooks:   hooks,
		clock:   clock.Or(clk),
		views:   map[netip.AddrPort]*maintenance.DirectorView{},
		changed: make(chan struct{}),
		kick:    make(chan struct{}, 1),
		reset:   make(chan struct{}, 1),
		stats:   Stats{Rejected: map[string]uint64{}},

		requests: map[netip.AddrPort]*request{},

		heard:        map[netip.AddrPort]time.Time{},
		silentLogged: map[netip.AddrPort]time.Time{},
		rebind:       make(chan struct{}, 1),
	}
	a.apply(s)
	return a
}

func (a *Agent) apply(s Settings) {
	if s.Interval <= 0 {
		s.Interval = time.Second
	}
	plan := sockPlan{ip4: s.RealIP, ip6: s.RealIP6}
	for _, t := range s.Targets {
		if familyOf(t.Addr()) == fam4 {
			plan.want4 = true
		} else {
			plan.want6 = true
		}
	}
	if !plan.want6 {
		plan.want4, plan.ip6 = true, netip.Addr{} // as before dual stack: one socket, even without directors
	}
	if a.applied && plan != a.plan {
		signal(a.rebind)
	}
	a.plan, a.applied = plan, true
	a.set = s
	a.set.Targets = slices.Clone(s.Targets)
	keys := [2][]byte{s.Key, s.key6()}
	ips := [2]netip.Addr{s.RealIP, s.RealIP6}
	for f := range a.ids {
		id := &a.ids[f]
		id.ip = ips[f]
		if slices.Equal(keys[f], id.key) && (id.sealer != nil || keys[f] == nil) {
			continue
		}
		id.key, id.sealer, id.opener = slices.Clone(keys[f]), nil, nil
		if keys[f] == nil {
			continue
		}
		// A new key is a new session: the sequence starts again at 1.
		sid, err := hbproto.NewSessionID()
		if err != nil {
			a.log.Error("heartbeat: no session id", "family", familyName(f), "err", err)
			continue
		}
		id.sealer = hbproto.NewSealer(keys[f], sid)
		id.opener = hbproto.NewOpener(keys[f], s.Window)
	}
	a.stats.SessionID, a.stats.SessionID6 = 0, 0
	if a.ids[fam4].sealer != nil {
		a.stats.SessionID = a.ids[fam4].sealer.SessionID()
	}
	if a.ids[fam6].sealer != nil && plan.want6 {
		a.stats.SessionID6 = a.ids[fam6].sealer.SessionID()
	}
	a.stats.Disabled = a.ids[fam4].sealer == nil && a.ids[fam6].sealer == nil
	for addr := range a.views {
		if !slices.Contains(a.set.Targets, addr) {
			delete(a.views, addr)
			delete(a.heard, addr)
			delete(a.silentLogged, addr)
		}
	}
	for _, t := range a.set.Targets {
		if a.views[t] == nil {
			a.views[t] = &maintenance.DirectorView{Addr: t.String(), RoleName: hbproto.RoleUnknown.String()}
		}
	}
}

// Update replaces the settings (on reload) and sends a report at once.
func (a *Agent) Update(s Settings) {
	a.mu.Lock()
	a.apply(s)
	a.mu.Unlock()
	signal(a.reset)
	signal(a.kick)
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// SetReport sets what the next reports say; a report that differs from the
// previous one is sent to every director at once.
func (a *Agent) SetReport(r hbproto.AgentReport) {
	a.mu.Lock()
	same := a.report != nil && reflect.DeepEqual(*a.report, r)
	if !same {
		cp := r
		cp.Services = slices.Clone(r.Services)
		a.report = &cp
	}
	a.mu.Unlock()
	if !same {
		signal(a.kick)
	}
}

// Poke sends the current report at once (e.g. to get fresh replies while
// waiting for a drain).
func (a *Agent) Poke() { signal(a.kick) }

// Views returns each configured director's last reply, in configuration
// order.
func (a *Agent) Views() []maintenance.DirectorView {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]maintenance.DirectorView, 0, len(a.set.Targets))
	for _, t := range a.set.Targets {
		v := *a.views[t]
		v.Destinations = slices.Clone(v.Destinations)
		out = append(out, v)
	}
	return out
}

// Changed returns a channel that is closed at the next accepted reply.
func (a *Agent) Changed() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.changed
}

// Stats returns the totals.
func (a *Agent) Stats() Stats {
	a.mu.Lock()
	defer a.mu.Unlock()
	st := a.stats
	st.Rejected = make(map[string]uint64, len(a.stats.Rejected))
	for k, v := range a.stats.Rejected {
		st.Rejected[k] = v
	}
	return st
}

// Run opens the agent's sockets, each bound to its identity's address
// (any port): one to RealIP, and one to RealIP6 when an IPv6 director is
// listed; then it runs RunConns on them. When a reload changes an address
// or the families of the directors, it binds again.
func (a *Agent) Run(ctx context.Context) error {
	for {
		a.mu.Lock()
		plan := a.plan
		a.mu.Unlock()
		var c Conns
		if plan.want4 {
			conn, err := Listen(plan.ip4)
			if err != nil {
				return err
			}
			c.V4 = conn
		}
		if plan.want6 {
			conn, err := Listen(plan.ip6)
			if err != nil {
				if c.V4 != nil {
					c.V4.Close()
				}
				return err
			}
			c.V6 = conn
		}
		cctx, cancel := context.WithCancel(ctx)
		go func() {
			select {
			case <-a.rebind:
				cancel()
			case <-cctx.Done():
			}
		}()
		err := a.RunConns(cctx, c)
		rebound := cctx.Err() != nil && ctx.Err() == nil
		cancel()
		if err != nil || !rebound {
			return err
		}
		a.log.Info("heartbeat: real IP or directors' families changed, sending from the new sockets")
	}
}

// Listen opens the agent's UDP socket: bound to ip (any port), so that
// reports leave from the real server's own address, which is the only one
// the directors accept them from. An invalid ip binds any address.
func Listen(ip netip.Addr) (*net.UDPConn, error) {
	var la *net.UDPAddr
	if ip.IsValid() {
		la = net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0))
	}
	conn, err := net.ListenUDP("udp", la)
	if err != nil {
		if ip.IsValid() {
			key := "real_ip"
			if familyOf(ip) == fam6 {
				key = "real_ip6"
			}
			return nil, fmt.Errorf("heartbeat: cannot send from the real IP %s (%w): the directors accept a report only from its real_ip; "+
				"configure %s on this host or fix %s", ip, err, ip, key)
		}
		return nil, fmt.Errorf("heartbeat: open socket: %w", err)
	}
	return conn, nil
}

// RunConn sends to every director and receives on conn until ctx ends,
// then closes conn.
func (a *Agent) RunConn(ctx context.Context, conn net.PacketConn) error {
	return a.RunConns(ctx, Conns{V4: conn, V6: conn})
}

// RunConns sends and receives on c until ctx ends, then closes its
// sockets: to and from each director on the socket of its family.
func (a *Agent) RunConns(ctx context.Context, c Conns) error {
	var wg sync.WaitGroup
	for _, conn := range c.distinct() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.receive(ctx, conn, c)
		}()
	}
	defer wg.Wait()
	defer func() {
		for _, conn := range c.distinct() {
			conn.Close()
		}
	}()

	a.mu.Lock()
	interval := a.set.Interval
	a.mu.Unlock()
	t := a.clock.NewTicker(interval)
	defer t.Stop()
	a.send(c)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-a.reset:
			a.mu.Lock()
			interval = a.set.Interval
			a.mu.Unlock()
			t.Reset(interval)
		case <-a.kick:
			a.send(c)
			t.Reset(interval) // the next periodic report is a full interval away
		case <-t.C():
			a.send(c)
		}
	}
}

func (a *Agent) send(c Conns) {
	a.mu.Lock()
	targets := slices.Clone(a.set.Targets)
	a.mu.Unlock()
	a.sendTo(c, targets)
	a.warnSilent(a.clock.Now())
}

// warnSilent logs, at most once every silentLogEvery per director, the
// directors that have not answered for silentIntervals intervals (at
// least 10s): the usual cause after an upgrade is a key that is not the
// one the directors derive for this real IP, which they drop unanswered.
func (a *Agent) warnSilent(now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started.IsZero() {
		return
	}
	after := max(silentIntervals*a.set.Interval, 10*time.Second)
	for _, t := range a.set.Targets {
		f := familyOf(t.Addr())
		if a.ids[f].sealer == nil {
			continue
		}
		last := a.heard[t]
		if last.IsZero() {
			last = a.started
		}
		if now.Sub(last) < after || now.Sub(a.silentLogged[t]) < silentLogEvery {
			continue
		}
		a.silentLogged[t] = now
		keyFile := "key_file"
		if f == fam6 {
			keyFile = "key_file6"
		}
		a.log.Warn("heartbeat: no reply from a director: check its address, the firewall (UDP port), and this agent's key: "+
			"it must be the one the directors derive for this real IP (on a director: tandem-director keys derive --real-ip "+
			a.ids[f].ip.String()+" --out FILE, then install FILE as heartbeat."+keyFile+", mode 0600)",
			"director", t.String(), "real_ip", a.ids[f].ip.String(), "silent_for", now.Sub(last).Truncate(time.Second).String(),
			"rejected_here", fmt.Sprint(a.stats.Rejected))
	}
}

// seen is the witness field: every director that has replied, in
// configuration order, with the age of its last reply at now. Called with
// a.mu held.
//
// A director listed by both its addresses (dual stack) is one director:
// it is listed once, with its freshest reply.
func (a *Agent) seen(now time.Time) []hbproto.DirectorSeen {
	var out []hbproto.DirectorSeen
	for _, t := range a.set.Targets {
		v := a.views[t]
		if v == nil || v.Name == "" || v.LastReply.IsZero() {
			continue
		}
		s := hbproto.DirectorSeen{Director: v.Name, Role: v.Role, Age: max(now.Sub(v.LastReply), 0)}
		if i := slices.IndexFunc(out, func(o hbproto.DirectorSeen) bool { return o.Director == v.Name }); i >= 0 {
			if s.Age < out[i].Age {
				out[i] = s
			}
			continue
		}
		if len(out) < hbproto.MaxSeen {
			out = append(out, s)
		}
	}
	return out
}

// sendTo sends the current report, with the witness field as of now, to
// targets: to each from the identity of its family, on that family's
// socket.
func (a *Agent) sendTo(c Conns, targets []netip.AddrPort) {
	now := a.clock.Now()
	a.mu.Lock()
	ids := a.ids
	var report *hbproto.AgentReport
	if a.report != nil {
		r := *a.report
		r.Seen = a.seen(now)
		report = &r
	}
	a.mu.Unlock()
	if report == nil || len(targets) == 0 {
		return
	}
	var sealed [2][]byte
	var done [2]bool
	for _, t := range targets {
		f := familyOf(t.Addr())
		if !done[f] {
			done[f] = true
			sealed[f] = a.seal(now, ids[f], report)
		}
		if sealed[f] == nil {
			continue // no key for this identity: heartbeats disabled
		}
		var err error
		if conn := c.of(f); conn != nil {
			_, err = conn.WriteTo(sealed[f], net.UDPAddrFromAddrPort(t))
		} else {
			err = fmt.Errorf("no %s socket (real_ip6 missing?)", familyName(f))
		}
		a.mu.Lock()
		if err != nil {
			a.stats.SendErrors++
		} else {
			a.stats.Sent++
		}
		a.mu.Unlock()
		if err != nil {
			a.log.Debug("heartbeat: send failed", "director", t, "err", err)
		}
		if a.hooks.Sent != nil {
			a.hooks.Sent(t, report.State, err)
		}
	}
}

// seal seals report as id's: its real_ip is id's address (when it has
// one). It returns nil when id has no key or nothing can be encoded.
func (a *Agent) seal(now time.Time, id identity, report *hbproto.AgentReport) []byte {
	if id.sealer == nil {
		return nil
	}
	r := *report
	if id.ip.IsValid() {
		r.RealIP = id.ip
	}
	b, err := id.sealer.SealAgent(now, Sanitize(&r))
	if err != nil {
		// Still tell the directors the state: a minimal report, and the
		// reason in the log (rate-limited).
		minimal := &hbproto.AgentReport{Node: hbproto.TruncateString(r.Node, 0), RealIP: r.RealIP, State: r.State, Reason: MinimalReason}
		if minimal.Node == "" {
			minimal.Node = "?"
		}
		a.mu.Lock()
		a.stats.Minimal++
		logIt := now.Sub(a.minimalLog) >= time.Minute
		if logIt {
			a.minimalLog = now
		}
		a.mu.Unlock()
		if logIt {
			a.log.Error("heartbeat: cannot encode the report; sending a minimal one (state only)", "err", err, "state", r.State.String())
		}
		if b, err = id.sealer.SealAgent(now, minimal); err != nil {
			a.log.Error("heartbeat: cannot encode even a minimal report", "err", err)
			return nil
		}
	}
	if h, err := hbproto.HeaderOf(b); err == nil {
		a.mu.Lock()
		a.sent[a.sentPos] = sentReport{session: h.SessionID, seq: h.Seq, at: now}
		a.sentPos = (a.sentPos + 1) % sentRing
		if a.started.IsZero() {
			a.started = now
		}
		a.mu.Unlock()
	}
	return b
}

func (a *Agent) reject(peer, reason string, err error) {
	a.mu.Lock()
	a.stats.Rejected[reason]++
	a.mu.Unlock()
	a.log.Debug("heartbeat: reply rejected", "peer", peer, "reason", reason, "err", err)
	if a.hooks.Rejected != nil {
		a.hooks.Rejected(peer, reason)
	}
}

// witnessRequest notes a report_now from peer (called with a.mu held) and
// reports whether a report must go out at once.
func (a *Agent) witnessRequest(now time.Time, peer netip.AddrPort) bool {
	if r := a.requests[peer]; r != nil && now.Sub(r.until.Add(-RequestHold)) < RequestMinGap {
		return false
	}
	a.requests[peer] = &request{until: now.Add(RequestHold), relayed: map[netip.AddrPort]bool{}}
	return true
}

// relays returns the requesters to which a reply from peer must be relayed
// (called with a.mu held), and forgets expired requests.
func (a *Agent) relays(now time.Time, peer netip.AddrPort) []netip.AddrPort {
	var out []netip.AddrPort
	for req, r := range a.requests {
		switch {
		case now.After(r.until) || a.views[req] == nil:
			delete(a.requests, req)
		case req != peer && !r.relayed[peer]:
			r.relayed[peer] = true
			out = append(out, req)
		}
	}
	return out
}

// sentAt returns when the report e echoes was sent, if it is one of our
// recent reports (called with a.mu held).
func (a *Agent) sentAt(id identity, e hbproto.ReplyEcho) (time.Time, bool) {
	if id.sealer == nil || e.Session != id.sealer.SessionID() || e.Seq == 0 {
		return time.Time{}, false
	}
	for _, s := range a.sent {
		if s.session == e.Session && s.seq == e.Seq {
			return s.at, true
		}
	}
	return time.Time{}, false
}

// Sanitize returns r with every string valid UTF-8 and cut (at a rune
// boundary) to the wire's limit, and at most MaxServices services: what
// the agent sends. Empty required names are left for the encoder to
// refuse.
func Sanitize(r *hbproto.AgentReport) *hbproto.AgentReport {
	out := *r
	out.Node = hbproto.TruncateString(r.Node, 0)
	out.Reason = hbproto.TruncateString(r.Reason, 0)
	out.Services = make([]hbproto.ServiceHealth, 0, min(len(r.Services), hbproto.MaxServices))
	for _, s := range r.Services[:min(len(r.Services), hbproto.MaxServices)] {
		s.Service = hbproto.TruncateString(s.Service, 0)
		s.Reason = hbproto.TruncateString(s.Reason, 0)
		out.Services = append(out.Services, s)
	}
	if len(out.Seen) > hbproto.MaxSeen {
		out.Seen = out.Seen[:hbproto.MaxSeen]
	}
	return &out
}

// receive reads replies on conn (one of c's sockets) until ctx ends. A
// reply is opened with the key of the identity of its sender's family,
// and only its destinations at that identity's address are kept.
func (a *Agent) receive(ctx context.Context, conn net.PacketConn, c Conns) {
	buf := make([]byte, hbproto.MaxDatagram+1)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			a.log.Warn("heartbeat: receive failed", "err", err)
			pause := a.clock.NewTimer(100 * time.Millisecond)
			select {
			case <-pause.C():
			case <-ctx.Done():
				pause.Stop()
				return
			}
			continue
		}
		now := a.clock.Now()
		var peer netip.AddrPort
		if ua, ok := from.(*net.UDPAddr); ok {
			peer = ua.AddrPort()
			peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
		}
		a.mu.Lock()
		id, known := a.ids[familyOf(peer.Addr())], a.views[peer] != nil
		a.mu.Unlock()
		opener, realIP := id.opener, id.ip
		if !known {
			a.reject(from.String(), "unknown_peer", nil)
			continue
		}
		if opener == nil {
			a.reject(from.String(), "disabled", nil)
			continue
		}
		msg, err := opener.Open(peer.String(), buf[:n], now)
		if err != nil {
			a.reject(peer.String(), hbproto.Reason(err), err)
			continue
		}
		if msg.Director == nil {
			a.reject(peer.String(), "unexpected_type", nil)
			continue
		}
		r := msg.Director
		// Evidence time: a reply that echoes a report of ours counts as
		// seen when that report was sent; one that echoes none of our
		// recent reports (a push, or a reply captured and delivered late)
		// only has its report_now honoured. A reply without the echo
		// extension (an older director) counts when received.
		seenAt := now
		if r.Echo != nil {
			a.mu.Lock()
			at, ok := a.sentAt(id, *r.Echo)
			if !ok {
				a.stats.Unechoed++
				kick := r.ReportNow && a.views[peer] != nil && a.witnessRequest(now, peer)
				a.mu.Unlock()
				if kick {
					signal(a.kick)
				}
				continue
			}
			a.mu.Unlock()
			seenAt = at
		}
		var dests []hbproto.DestinationStatus
		for _, d := range r.Destinations {
			if d.Addr.Addr().Unmap() == realIP {
				dests = append(dests, d)
			}
		}
		a.mu.Lock()
		v := a.views[peer]
		if v == nil { // removed by a reload meanwhile
			a.mu.Unlock()
			continue
		}
		if v.Role != r.Role && v.Name != "" {
			a.log.Info("director role changed", "director", r.Director, "peer", peer, "from", v.Role, "to", r.Role)
		}
		if seenAt.Before(v.LastReply) {
			// An answer to an older report than the last one answered:
			// the view is newer already.
			a.mu.Unlock()
			continue
		}
		a.heard[peer] = now
		v.Name, v.Role, v.RoleName, v.LastReply, v.Destinations = r.Director, r.Role, r.Role.String(), seenAt, dests
		view := *v
		a.stats.Received++
		close(a.changed)
		a.changed = make(chan struct{})
		relay := a.relays(now, peer)
		kick := r.ReportNow && a.witnessRequest(now, peer)
		a.mu.Unlock()
		if a.hooks.Reply != nil {
			a.hooks.Reply(peer, view)
		}
		if len(relay) > 0 {
			// A witness request is pending: tell the requester at once
			// what we just heard from this director.
			a.sendTo(c, relay)
		}
		if kick {
			signal(a.kick)
		}
	}
}
