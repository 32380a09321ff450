package agents

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// Report is one accepted agent report.
type Report struct {
	// Peer is the source address and port the report came from (the reply
	// goes there).
	Peer netip.AddrPort
	// At is when it was received.
	At time.Time
	// Session and Seq identify it (hbproto header).
	Session, Seq uint64
	// Agent is the report itself. Its RealIP is the sender's address
	// (reports claiming another are dropped).
	Agent hbproto.AgentReport
	// Legacy is set when the report was sealed with the cluster secret
	// itself (an agent set up before scoped keys; AgentKeys cluster or both).
	Legacy bool

	// key opened the report; the reply is sealed with it.
	key *hbproto.Key
	// slot is the agent's published slot (nil: none), fast the view that
	// answers the report on the fast path (nil: the Handler gets it).
	slot *slot
	fast *slotView
}

// Handler is what the server needs from the application.
type Handler interface {
	// Report is called for each accepted report before the reply is
	// built, from one of the server's workers: reports of one real IP
	// always from the same worker, in order. It may wait briefly (for the
	// application to act on the report); reports of other agents go on
	// meanwhile on the other workers.
	Report(r Report)
	// Reply returns the answer for the agent whose real IP is realIP:
	// the director's name, role and that agent's destinations.
	Reply(realIP netip.Addr) hbproto.DirectorReply
}

// ResultAccepted is what the server passes to Options.Counted for a
// report it answers on the fast path.
const ResultAccepted = "accepted"

// Results counted in Stats.Dropped besides hbproto.Reason's labels.
const (
	// ReasonRate is a datagram from a sender with no slot (no agent the
	// application published) beyond StrayRate a second: dropped before
	// its key is derived.
	ReasonRate = "rate"
	// ReasonUnexpected is a valid datagram of a type a director does not
	// take (a director reply sent to a director).
	ReasonUnexpected = "other"
	// ReasonBusy is an authenticated report dropped because its worker's
	// queue was full (the application is not keeping up).
	ReasonBusy = "busy"
	// ReasonRealIP is an authenticated report whose real_ip is not the
	// address it was sent from: an agent speaks for its own address only.
	ReasonRealIP = "real_ip"
)

// Which agent keys a Server accepts (config heartbeat.agent_keys).
const (
	// AgentKeysScoped: only keys derived per real IP
	// (hbproto.DeriveAgentKey of the secret or the previous secret).
	AgentKeysScoped = "scoped"
	// AgentKeysCluster and AgentKeysBoth: also the cluster secret itself,
	// as agents set up before scoped keys hold it; still only for the
	// sender's own address, and logged as a warning per agent.
	AgentKeysCluster = "cluster"
	AgentKeysBoth    = "both"
)

// maxLegacy bounds the agents remembered as using the cluster key (for
// the sealing of unsolicited replies and the per-agent warning).
const maxLegacy = 4096

// Workers and their queue: authenticated reports are handled (Report,
// then the reply) by Workers goroutines, so that one report waiting for
// the application does not hold up the next; a full queue drops the report
// (ReasonBusy) rather than the socket's buffer dropping datagrams unseen.
const (
	Workers     = 64
	workerQueue = 128
)

// DefaultLogEvery is how often at most one drop reason is logged.
const DefaultLogEvery = 10 * time.Second

// Options configure a Server.
type Options struct {
	// Key is the cluster secret (required): each agent's key is derived
	// from it and the report's source address (hbproto.DeriveAgentKey).
	Key []byte
	// PreviousKey (optional) is the secret being rotated out: agent keys
	// derived from it are accepted too.
	PreviousKey []byte
	// AgentKeys is AgentKeysScoped, AgentKeysCluster or AgentKeysBoth
	// ("" means AgentKeysBoth, the configuration's default).
	AgentKeys string
	// Window is the accepted clock difference (0: hbproto.DefaultWindow).
	Window time.Duration
	// Log receives rate-limited drop logs; nil discards.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LogEvery bounds drop logs to one per reason per interval (0:
	// DefaultLogEvery).
	LogEvery time.Duration
	// Counted, if set, is called for every datagram the server drops, with
	// the reason. A report it hands to the Handler is the Handler's to
	// count (the director counts it "accepted" once acted on), so that
	// each datagram is counted once. It must not block (a metrics
	// counter).
	Counted func(result string)
	// Replied, if set, is called after each reply with the send error.
	Replied func(err error)
	// Observe, if set, is called with every accepted report (the fast
	// path's too) from the server's goroutines, before it is answered
	// (the witness board). It must not block.
	Observe func(at time.Time, r *hbproto.AgentReport)
}

// Stats are totals since the server started.
type Stats struct {
	// Accepted reports, and replies sent and failed.
	Accepted, Replies, ReplyErrors uint64
	// Dropped counts rejected datagrams by reason (mac, replay, stale,
	// truncated, version, malformed, other).
	Dropped map[string]uint64
}

// Server answers agent heartbeats on one UDP socket.
type Server struct {
	conn   net.PacketConn
	h      Handler
	opts   Options
	log    *slog.Logger
	now    func() time.Time
	opener *hbproto.Opener
	sealer *hbproto.Sealer
	// cluster is the secret as a key, for legacy agents (nil in scoped
	// mode).
	cluster *hbproto.Key

	// slots are the agents answered on the fast path (Publish); the map
	// is replaced, never changed.
	slots atomic.Pointer[map[netip.Addr]*slot]
	// strays is the budget of datagrams from senders without a slot; the
	// reading goroutine's only.
	strays bucket

	accepted, replies, replyErrors atomic.Uint64
	// legacyN is len(legacy), read without the lock.
	legacyN atomic.Int32

	mu      sync.Mutex
	pubMu   sync.Mutex // serializes Publish
	dropped map[string]uint64
	limiter map[string]*logLimit
	// legacy holds the agents whose last report came with the cluster key
	// (at most maxLegacy).
	legacy map[netip.Addr]bool
}

type logLimit struct {
	last       time.Time
	suppressed int
}

// New returns a server reading conn (which Run closes). It draws the
// reply session id; it starts nothing.
func New(conn net.PacketConn, h Handler, opts Options) (*Server, error) {
	if len(opts.Key) == 0 {
		return nil, errors.New("heartbeat: no key")
	}
	sid, err := hbproto.NewSessionID()
	if err != nil {
		return nil, fmt.Errorf("heartbeat: session id: %w", err)
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.LogEvery <= 0 {
		opts.LogEvery = DefaultLogEvery
	}
	var cluster *hbproto.Key
	switch opts.AgentKeys {
	case "", AgentKeysBoth, AgentKeysCluster:
		cluster = hbproto.NewKey(opts.Key)
	case AgentKeysScoped:
	default:
		return nil, fmt.Errorf("heartbeat: agent keys %q: want scoped, cluster or both", opts.AgentKeys)
	}
	return &Server{
		conn: conn, h: h, opts: opts, log: log, now: now,
		opener:  hbproto.NewOpener(opts.Key, opts.Window),
		sealer:  hbproto.NewSealer(opts.Key, sid),
		cluster: cluster,
		dropped: map[string]uint64{},
		strays:  bucket{rate: StrayRate, burst: StrayRate},
		limiter: map[string]*logLimit{},
		legacy:  map[netip.Addr]bool{},
	}, nil
}

// keysOf returns the keys a report from ip may be sealed with, in the
// order tried: the key derived from the secret, the one derived from the
// previous secret (nil without one), the cluster secret (nil in scoped
// mode). Deriving costs about 2 us; it is done per datagram rather than
// cached, so that no table grows with the senders.
func (s *Server) keysOf(ip netip.Addr) [3]*hbproto.Key {
	ks := [3]*hbproto.Key{hbproto.NewKey(hbproto.DeriveAgentKey(s.opts.Key, ip)), nil, s.cluster}
	if len(s.opts.PreviousKey) > 0 {
		ks[1] = hbproto.NewKey(hbproto.DeriveAgentKey(s.opts.PreviousKey, ip))
	}
	return ks
}

// keyOf returns the key an unsolicited reply to ip is sealed with: the
// cluster key for an agent whose last report came with it, else its
// derived key.
func (s *Server) keyOf(ip netip.Addr) *hbproto.Key {
	s.mu.Lock()
	legacy := s.legacy[ip] && s.cluster != nil
	s.mu.Unlock()
	if legacy {
		return s.cluster
	}
	return hbproto.NewKey(hbproto.DeriveAgentKey(s.opts.Key, ip))
}

// Listen opens the UDP socket for addr ("host:port", ":7480").
func Listen(addr string) (net.PacketConn, error) {
	c, err := net.ListenPacket("udp", addr)
	if err != nil {
		return nil, fmt.Errorf("heartbeat: listen %s: %w", addr, err)
	}
	return c, nil
}

// Addr is the local address of the socket.
func (s *Server) Addr() net.Addr { return s.conn.LocalAddr() }

// Stats returns a copy of the totals.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Accepted: s.accepted.Load(), Replies: s.replies.Load(), ReplyErrors: s.replyErrors.Load(), Dropped: maps.Clone(s.dropped)}
}

// Run serves until ctx ends, then closes the socket and returns nil; it
// returns an error if the socket fails.
//
// One goroutine reads the socket and answers on the fast path (see
// Publish); the reports that go to the Handler are queued to Workers
// goroutines.
func (s *Server) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	defer s.conn.Close()
	var wg sync.WaitGroup
	// A worker and its queue are made at the first report that needs
	// them (queue runs in the reading goroutine only): an idle director
	// holds no queue. A queue holds pointers: 64 × 128 reports by value
	// were 4.6 MB, held for good once a director's warm-up (every agent
	// new) had made every worker; a report queued is one allocation, on
	// the slow path only.
	var queues [Workers]chan *Report
	defer func() {
		for _, q := range queues {
			if q != nil {
				close(q)
			}
		}
		wg.Wait()
	}()
	queue := func(r Report) {
		w := workerOf(r.Agent.RealIP)
		if queues[w] == nil {
			q := make(chan *Report, workerQueue)
			queues[w] = q
			wg.Add(1)
			go func() {
				defer wg.Done()
				var out []byte
				for r := range q {
					out = s.answer(*r, out)
				}
			}()
		}
		if r.slot != nil {
			r.slot.inflight.Add(1)
		}
		select {
		case queues[w] <- &r:
		default:
			if r.slot != nil {
				r.slot.inflight.Add(-1)
			}
			s.drop(ReasonBusy, fmt.Errorf("heartbeat from %s: the director is not keeping up; report dropped", r.Peer), r.At)
		}
	}
	s.sizeRcvBuf()
	var err error
	if bc := batchOf(s.conn); bc != nil {
		err = s.batchLoop(bc, queue)
	} else {
		err = s.loop(queue)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// loop is Run's reading loop on a socket that is no *net.UDPConn: one
// datagram a read, one reply a write.
func (s *Server) loop(queue func(Report)) error {
	buf := make([]byte, maxRead)
	out := make([]byte, 0, hbproto.MaxDatagram)
	for {
		n, addr, err := s.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("heartbeat: read: %w", err)
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok || !ua.AddrPort().IsValid() {
			continue
		}
		r, ok := s.handle(ua.AddrPort(), buf[:n], s.now())
		if !ok {
			continue
		}
		if r.fast != nil {
			out = s.reply(r, r.fast, out)
			continue
		}
		queue(r)
	}
}

// workerOf picks the worker of a real IP: the same one for every report of
// an agent, so that its replies go out in order.
func workerOf(ip netip.Addr) int {
	b := ip.As16()
	h := uint32(2166136261)
	for _, c := range b {
		h = (h ^ uint32(c)) * 16777619
	}
	return int(h % Workers)
}

// handle authenticates one datagram received at now (in the reading
// goroutine); ok says it is a report to answer, on the fast path when
// r.fast is set. The datagram is not retained.
func (s *Server) handle(peer netip.AddrPort, b []byte, now time.Time) (r Report, ok bool) {
	ip := peer.Addr().Unmap()
	peer = netip.AddrPortFrom(ip, peer.Port())
	sl := s.slotOf(ip)
	var (
		m     *hbproto.Message
		which int
		err   error
		keys  [3]*hbproto.Key
	)
	if sl != nil {
		keys = sl.keys
		m, which, err = s.opener.OpenSender(&sl.replay, keys[:], b, now)
		if err == nil {
			// The slot's replay state began when the slot was made: what
			// the shared table accepted before (the agent's first
			// reports, on the path below) must stay a replay.
			err = s.opener.CheckShared(ip, m.SessionID, m.Seq)
		}
	} else {
		// A sender with no slot: an agent not yet heard whose real IP is
		// no real server (a stray), or junk. Their key is derived per
		// datagram, within a budget taken before any work.
		if !s.strays.take(now) {
			s.drop(ReasonRate, errStrayRate, now)
			return Report{}, false
		}
		keys = s.keysOf(ip)
		m, which, err = s.opener.OpenScoped("", ip, keys[:], b, now)
	}
	reason := ""
	switch {
	case err != nil:
		reason = hbproto.Reason(err)
		var de *hbproto.DecodeError
		if errors.As(err, &de) {
			de.Peer = peer.String()
		}
	case m.Type != hbproto.TypeAgentReport || m.Agent == nil:
		err, reason = fmt.Errorf("heartbeat from %s: %s, want an agent report", peer, m.Type), ReasonUnexpected
	case m.Agent.RealIP.Unmap() != ip:
		err = fmt.Errorf("heartbeat from %s: real_ip %s is not the sender", ip, m.Agent.RealIP.Unmap())
		reason = ReasonRealIP
	}
	if err != nil {
		s.drop(reason, err, now)
		return Report{}, false
	}
	legacy := which == 2
	if legacy || s.legacyN.Load() > 0 {
		s.noteLegacy(ip, m.Agent.Node, legacy, now)
	}
	s.accepted.Add(1)
	m.Agent.RealIP = ip
	r = Report{Peer: peer, At: now, Session: m.SessionID, Seq: m.Seq, Agent: *m.Agent, Legacy: legacy, key: keys[which], slot: sl}
	if sl != nil {
		sl.seen(now, m.Agent)
		if v := sl.view.Load(); v != nil && v.tmpl != nil && sl.inflight.Load() == 0 && v.answers(&r) {
			r.fast = v
			if s.opts.Counted != nil {
				s.opts.Counted(ResultAccepted)
			}
		}
	}
	if s.opts.Observe != nil {
		s.opts.Observe(now, m.Agent)
	}
	return r, true
}

// noteLegacy remembers whether ip's last report came with the cluster key,
// and warns (at most once per LogEvery per agent) when it did.
func (s *Server) noteLegacy(ip netip.Addr, node string, legacy bool, now time.Time) {
	s.mu.Lock()
	was := s.legacy[ip]
	switch {
	case legacy && !was && len(s.legacy) < maxLegacy:
		s.legacy[ip] = true
	case !legacy && was:
		delete(s.legacy, ip)
		delete(s.limiter, "legacy "+ip.String())
	}
	s.legacyN.Store(int32(len(s.legacy)))
	tracked := s.legacy[ip]
	s.mu.Unlock()
	if !legacy {
		return
	}
	key := "legacy" // beyond maxLegacy agents: one warning for the rest
	if tracked {
		key = "legacy " + ip.String()
	}
	s.logLimited(key, func(suppressed int) {
		s.log.Warn("agent still uses the cluster heartbeat key: give it its own key (tandem-director keys derive --real-ip "+ip.String()+
			" --out FILE, copy FILE to the agent's key_file), then set heartbeat.agent_keys: scoped",
			"rs", ip.String(), "node", hbproto.TruncateString(node, 64), "suppressed", suppressed)
	}, now)
}

// answer hands a report to the application and replies (a worker), with
// the agent's view as published once the application acted on it.
func (s *Server) answer(r Report, out []byte) []byte {
	defer func() {
		if r.slot != nil {
			r.slot.inflight.Add(-1)
		}
	}()
	s.h.Report(r)
	if r.slot != nil {
		if v := r.slot.view.Load(); v != nil && v.tmpl != nil {
			return s.reply(r, v, out)
		}
	}
	reply := s.h.Reply(r.Agent.RealIP.Unmap())
	s.fit(r.Peer, &reply, r.At)
	tmpl, err := hbproto.NewReplyTemplate(&reply)
	if err != nil {
		s.replied(r.Peer, err, r.At)
		return out
	}
	return s.reply(r, &slotView{tmpl: tmpl}, out)
}

// seal seals v's reply for r (with r's key, echoing it), stamped now,
// into out, which it returns.
func (s *Server) seal(r Report, v *slotView, out []byte, now time.Time) []byte {
	key := r.key
	if key == nil {
		key = s.keyOf(r.Peer.Addr())
	}
	return s.sealer.AppendReply(out[:0], key, now, v.tmpl, hbproto.ReplyEcho{Session: r.Session, Seq: r.Seq})
}

// reply seals v's reply for r (seal) into out and sends it alone; it
// returns out for reuse.
func (s *Server) reply(r Report, v *slotView, out []byte) []byte {
	out = s.seal(r, v, out, s.now())
	var err error
	if udp, ok := s.conn.(*net.UDPConn); ok {
		_, err = udp.WriteToUDPAddrPort(out, r.Peer)
	} else {
		_, err = s.conn.WriteTo(out, net.UDPAddrFromAddrPort(r.Peer))
	}
	s.replied(r.Peer, err, r.At)
	return out
}

// replied counts a reply sent or failed.
func (s *Server) replied(peer netip.AddrPort, err error, now time.Time) {
	if err != nil {
		s.replyErrors.Add(1)
		s.logLimited("reply-error", func(suppressed int) {
			s.log.Warn("heartbeat reply not sent", "peer", peer.String(), "err", err, "suppressed", suppressed)
		}, now)
	} else {
		s.replies.Add(1)
	}
	if s.opts.Replied != nil {
		s.opts.Replied(err)
	}
}

func (s *Server) drop(reason string, err error, now time.Time) {
	s.mu.Lock()
	s.dropped[reason]++
	s.mu.Unlock()
	if s.opts.Counted != nil {
		s.opts.Counted(reason)
	}
	s.logLimited(reason, func(suppressed int) {
		s.log.Warn("heartbeat dropped", "reason", reason, "err", err, "suppressed", suppressed)
	}, now)
}

// fit trims reply to the datagram size (hbproto.FitReply), logging (rate
// limited) how many destinations did not fit.
func (s *Server) fit(peer netip.AddrPort, reply *hbproto.DirectorReply, now time.Time) {
	n := len(reply.Destinations)
	if dropped := hbproto.FitReply(reply); dropped > 0 {
		s.logLimited("trimmed", func(suppressed int) {
			s.log.Warn("heartbeat reply trimmed to the datagram size: the agent is not told of every destination",
				"peer", peer.String(), "destinations", n, "sent", len(reply.Destinations), "suppressed", suppressed)
		}, now)
	}
}

// logLimited calls emit at most once per LogEvery for key, with the number
// of calls suppressed since the last emitted one.
func (s *Server) logLimited(key string, emit func(suppressed int), now time.Time) {
	s.mu.Lock()
	l := s.limiter[key]
	if l == nil {
		l = &logLimit{}
		s.limiter[key] = l
	}
	if !l.last.IsZero() && now.Sub(l.last) < s.opts.LogEvery {
		l.suppressed++
		s.mu.Unlock()
		return
	}
	n := l.suppressed
	l.last, l.suppressed = now, 0
	s.mu.Unlock()
	emit(n)
}

// Push seals reply and sends it, unsolicited, to peer (a director reply
// with report_now, docs/ha.md). Errors are counted as reply errors.
//
// It is sealed with that agent's key (as its last report was) and echoes no
// report (echo 0, 0), so that it does not count as a reply to one.
func (s *Server) Push(peer netip.AddrPort, reply hbproto.DirectorReply) {
	now := s.now()
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	reply.Echo = &hbproto.ReplyEcho{}
	s.fit(peer, &reply, now)
	b, err := s.sealer.SealDirectorWith(s.keyOf(peer.Addr()), now, &reply)
	if err == nil {
		_, err = s.conn.WriteTo(b, net.UDPAddrFromAddrPort(peer))
	}
	if err != nil {
		s.replyErrors.Add(1)
		return
	}
	s.replies.Add(1)
}
