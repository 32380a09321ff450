package agents

import (
	"errors"
	"net/netip"
	"slices"
	"sync/atomic"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// The fast path. The application publishes, for each agent it knows (the
// configured real servers, and the strays it remembers), a View: the reply
// that agent gets and the report that reply reflects. A report that says
// the same as that report (node, state, reason, services; from the same
// address and port, with the same kind of key) while no earlier report of
// the agent waits for the application is answered by the reading
// goroutine at once, from the published view: one MAC check with the
// agent's prepared key, its replay state, its last-seen time, one reply
// sealed from a template. Anything else goes to the Handler, on a worker,
// and its reply waits until the Handler returns (the application acted on
// the report and published the view that reflects it).

// StrayRate bounds the datagrams a second (with as many in a burst) from
// senders without a published slot: each costs a key derivation, so a
// flood from addresses that are no agent is dropped (ReasonRate) before
// any key is derived or anything allocated.
const StrayRate = 1000

var errStrayRate = errors.New("datagrams from senders that are no known agent beyond the budget of StrayRate a second")

// View is what the server answers one agent with.
type View struct {
	// Reply is the director's name, role and that agent's destinations
	// (its Echo and ReportNow are ignored); trimmed to the datagram size.
	Reply hbproto.DirectorReply
	// Report is the agent's report the application last acted on, nil if
	// none: a report saying the same from Peer, with a key of the same
	// kind (Legacy), is answered on the fast path.
	Report *hbproto.AgentReport
	Peer   netip.AddrPort
	Legacy bool
}

// slotView is a published View with its reply encoded.
type slotView struct {
	View
	tmpl *hbproto.ReplyTemplate
}

// answers reports whether v answers r on the fast path: v reflects a
// report that says what r says.
func (v *slotView) answers(r *Report) bool {
	p := v.Report
	return p != nil && v.Peer == r.Peer && v.Legacy == r.Legacy && sameReport(p, &r.Agent)
}

// sameReport compares what the application acts on: not the witness
// list, whose ages change with every report (Options.Observe sees it).
func sameReport(a, b *hbproto.AgentReport) bool {
	return a.Node == b.Node && a.State == b.State && a.Reason == b.Reason && a.RealIP == b.RealIP && slices.Equal(a.Services, b.Services)
}

// slot is one published agent.
type slot struct {
	keys   [3]*hbproto.Key
	replay hbproto.Sender
	view   atomic.Pointer[slotView]
	// inflight counts its reports queued to the Handler: while one is,
	// the next ones follow it (in order, on its worker).
	inflight atomic.Int32
	lastSeen atomic.Int64 // unix ns of the last report accepted
	reports  atomic.Uint64
	latest   atomic.Pointer[hbproto.AgentReport]
}

// seen records an accepted report.
func (sl *slot) seen(now time.Time, r *hbproto.AgentReport) {
	sl.lastSeen.Store(now.UnixNano())
	sl.reports.Add(1)
	sl.latest.Store(r)
}

// slotOf returns ip's slot, nil if none.
func (s *Server) slotOf(ip netip.Addr) *slot {
	if m := s.slots.Load(); m != nil {
		return (*m)[ip]
	}
	return nil
}

// Publish sets the view of each agent in views; a nil View takes the
// agent off the fast path (its reports are then a stray's). An agent new
// to the table gets its keys derived here, once; adding or removing
// agents copies the table, so publish them in batches. A view whose reply
// did not change keeps its encoding.
func (s *Server) Publish(views map[netip.Addr]*View) {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	var cur map[netip.Addr]*slot
	if p := s.slots.Load(); p != nil {
		cur = *p
	}
	next := cur
	copied := false
	cow := func() {
		if !copied {
			next = make(map[netip.Addr]*slot, len(cur)+len(views))
			for ip, sl := range cur {
				next[ip] = sl
			}
			copied = true
		}
	}
	now := s.now()
	for ip, v := range views {
		ip = ip.Unmap()
		sl := next[ip]
		if v == nil {
			if sl != nil {
				cow()
				delete(next, ip)
			}
			continue
		}
		if sl == nil {
			cow()
			sl = &slot{keys: s.keysOf(ip)}
			next[ip] = sl
		}
		sv := &slotView{View: *v}
		old := sl.view.Load()
		if old != nil && sameReply(&old.Reply, &v.Reply) {
			sv.Reply, sv.tmpl = old.Reply, old.tmpl
		} else {
			sv.Reply.Echo, sv.Reply.ReportNow = nil, false
			s.fit(v.Peer, &sv.Reply, now)
			t, err := hbproto.NewReplyTemplate(&sv.Reply)
			if err != nil {
				s.logLimited("template", func(suppressed int) {
					s.log.Warn("heartbeat reply cannot be encoded; the agent's reports go the slow way", "rs", ip.String(), "err", err, "suppressed", suppressed)
				}, now)
			}
			sv.tmpl = t
		}
		sl.view.Store(sv)
	}
	if copied {
		s.slots.Store(&next)
	}
}

// sameReply reports whether two replies encode the same (but the echo).
func sameReply(a, b *hbproto.DirectorReply) bool {
	return a.Director == b.Director && a.Role == b.Role && slices.Equal(a.Destinations, b.Destinations)
}

// Heard is what the server saw of a published agent.
type Heard struct {
	// LastSeen is when its last report was accepted (zero: none yet).
	LastSeen time.Time
	// Reports counts its reports accepted since it was published.
	Reports uint64
	// Latest is its last report accepted (the witness list with its
	// ages), nil if none.
	Latest *hbproto.AgentReport
}

// Heard returns what the server saw of ip; false if ip is not published.
func (s *Server) Heard(ip netip.Addr) (Heard, bool) {
	sl := s.slotOf(ip.Unmap())
	if sl == nil {
		return Heard{}, false
	}
	h := Heard{Reports: sl.reports.Load(), Latest: sl.latest.Load()}
	if ns := sl.lastSeen.Load(); ns != 0 {
		h.LastSeen = time.Unix(0, ns)
	}
	return h, true
}

// bucket is a token bucket of rate tokens a second, burst at most; not
// safe for concurrent use.
type bucket struct {
	rate, burst float64
	tokens      float64
	last        time.Time
}

// take takes a token at now if there is one.
func (b *bucket) take(now time.Time) bool {
	if b.last.IsZero() {
		b.tokens = b.burst
	} else if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
