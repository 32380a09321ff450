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
	// Agent is the report itself.
	Agent hbproto.AgentReport
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

// Results counted in Stats.Dropped besides hbproto.Reason's labels.
const (
	// ReasonUnexpected is a valid datagram of a type a director does not
	// take (a director reply sent to a director).
	ReasonUnexpected = "other"
	// ReasonBusy is an authenticated report dropped because its worker's
	// queue was full (the application is not keeping up).
	ReasonBusy = "busy"
)

// Workers and their queue: authenticated reports are handled (Report,
// then the reply) by Workers goroutines, so that one report waiting for
// the application does not hold up the next; a full queue drops the report
// (ReasonBusy) rather than the socket's buffer dropping datagrams unseen.
const (
	Workers     = 8
	workerQueue = 128
)

// DefaultLogEvery is how often at most one drop reason is logged.
const DefaultLogEvery = 10 * time.Second

// Options configure a Server.
type Options struct {
	// Key is the shared HMAC key (required).
	Key []byte
	// Window is the accepted clock difference (0: hbproto.DefaultWindow).
	Window time.Duration
	// Log receives rate-limited drop logs; nil discards.
	Log *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// LogEvery bounds drop logs to one per reason per interval (0:
	// DefaultLogEvery).
	LogEvery time.Duration
	// Counted, if set, is called for every datagram with "accepted" or its
	// drop reason. It must not block (a metrics counter).
	Counted func(result string)
	// Replied, if set, is called after each reply with the send error.
	Replied func(err error)
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

	mu      sync.Mutex
	stats   Stats
	limiter map[string]*logLimit
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
	return &Server{
		conn: conn, h: h, opts: opts, log: log, now: now,
		opener:  hbproto.NewOpener(opts.Key, opts.Window),
		sealer:  hbproto.NewSealer(opts.Key, sid),
		stats:   Stats{Dropped: map[string]uint64{}},
		limiter: map[string]*logLimit{},
	}, nil
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
	st := s.stats
	st.Dropped = maps.Clone(s.stats.Dropped)
	return st
}

// Run serves until ctx ends, then closes the socket and returns nil; it
// returns an error if the socket fails.
func (s *Server) Run(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.conn.Close() })
	defer stop()
	defer s.conn.Close()
	var wg sync.WaitGroup
	queues := make([]chan Report, Workers)
	for i := range queues {
		queues[i] = make(chan Report, workerQueue)
		wg.Add(1)
		go func(q <-chan Report) {
			defer wg.Done()
			for r := range q {
				s.answer(r)
			}
		}(queues[i])
	}
	defer func() {
		for _, q := range queues {
			close(q)
		}
		wg.Wait()
	}()
	buf := make([]byte, hbproto.MaxDatagram+1)
	for {
		n, addr, err := s.conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("heartbeat: read: %w", err)
		}
		ua, ok := addr.(*net.UDPAddr)
		if !ok {
			continue
		}
		if r, ok := s.handle(ua.AddrPort(), buf[:n]); ok {
			select {
			case queues[workerOf(r.Agent.RealIP)] <- r:
			default:
				s.drop(ReasonBusy, fmt.Errorf("heartbeat from %s: the director is not keeping up; report dropped", r.Peer), r.At)
			}
		}
	}
}

// handle processes one datagram; exported through Run only. The datagram
// is not retained.
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

// handle authenticates one datagram (in the reading goroutine, where the
// replay window is kept in order); ok says it is a report to answer.
func (s *Server) handle(peer netip.AddrPort, b []byte) (r Report, ok bool) {
	now := s.now()
	peer = netip.AddrPortFrom(peer.Addr().Unmap(), peer.Port())
	m, err := s.opener.Open(peer.String(), b, now)
	if err == nil && (m.Type != hbproto.TypeAgentReport || m.Agent == nil) {
		err = fmt.Errorf("heartbeat from %s: %s, want an agent report", peer, m.Type)
	}
	if err != nil {
		reason := hbproto.Reason(err)
		s.drop(reason, err, now)
		return Report{}, false
	}
	s.count(func(st *Stats) { st.Accepted++ })
	if s.opts.Counted != nil {
		s.opts.Counted("accepted")
	}
	return Report{Peer: peer, At: now, Session: m.SessionID, Seq: m.Seq, Agent: *m.Agent}, true
}

// answer hands a report to the application and replies.
func (s *Server) answer(r Report) {
	s.h.Report(r)
	peer, now := r.Peer, r.At
	reply := s.h.Reply(r.Agent.RealIP.Unmap())
	if len(reply.Destinations) > hbproto.MaxDestinations {
		reply.Destinations = reply.Destinations[:hbproto.MaxDestinations]
	}
	out, err := s.sealer.SealDirector(now, &reply)
	if err == nil {
		_, err = s.conn.WriteTo(out, net.UDPAddrFromAddrPort(peer))
	}
	if err != nil {
		s.count(func(st *Stats) { st.ReplyErrors++ })
		s.logLimited("reply-error", func(suppressed int) {
			s.log.Warn("heartbeat reply not sent", "peer", peer.String(), "err", err, "suppressed", suppressed)
		}, now)
	} else {
		s.count(func(st *Stats) { st.Replies++ })
	}
	if s.opts.Replied != nil {
		s.opts.Replied(err)
	}
}

func (s *Server) count(f func(*Stats)) {
	s.mu.Lock()
	f(&s.stats)
	s.mu.Unlock()
}

func (s *Server) drop(reason string, err error, now time.Time) {
	s.count(func(st *Stats) { st.Dropped[reason]++ })
	if s.opts.Counted != nil {
		s.opts.Counted(reason)
	}
	s.logLimited(reason, func(suppressed int) {
		s.log.Warn("heartbeat dropped", "reason", reason, "err", err, "suppressed", suppressed)
	}, now)
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
func (s *Server) Push(peer netip.AddrPort, reply hbproto.DirectorReply) {
	if len(reply.Destinations) > hbproto.MaxDestinations {
		reply.Destinations = reply.Destinations[:hbproto.MaxDestinations]
	}
	b, err := s.sealer.SealDirector(s.now(), &reply)
	if err == nil {
		_, err = s.conn.WriteTo(b, net.UDPAddrFromAddrPort(peer))
	}
	if err != nil {
		s.count(func(st *Stats) { st.ReplyErrors++ })
		return
	}
	s.count(func(st *Stats) { st.Replies++ })
}
