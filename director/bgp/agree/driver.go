package agree

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tandemlb/tandem/shared/clock"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// Driver bounds.
const (
	// DefaultRate and DefaultBurst bound what one peer may send: a token
	// bucket of DefaultBurst datagrams refilled at DefaultRate a second
	// (a peer sends one a second and one at each change).
	DefaultRate  = 10
	DefaultBurst = 20
	// logEvery is the least time between two log lines of one drop reason.
	logEvery = time.Minute
)

// Options configure a Driver.
type Options struct {
	// Local is the address and port to bind; an invalid or unspecified
	// address binds every address (the kernel picks the source of what
	// is sent).
	Local netip.AddrPort
	// Conn, if set, is used instead of binding Local (tests); the Driver
	// closes it.
	Conn *net.UDPConn
	// Peers are the other directors; datagrams from anyone else are
	// dropped. Port is their agreement port (0: Local's).
	Peers []netip.Addr
	Port  uint16
	// Node is this director's name in its messages.
	Node string
	// Key seals what is sent; AcceptKeys also open what is received (a
	// key rotation).
	Key        []byte
	AcceptKeys [][]byte
	// Session is this process's session id (0: drawn at random).
	Session uint64
	// Interval is how often the message goes to each peer (0:
	// DefaultInterval); Stale is the Agreement's bound (0: DefaultStale),
	// here to say when a peer heard again after a silence is a change;
	// Window is the envelope's time window (0: the heartbeat's default).
	Interval, Stale, Window time.Duration
	// Rate and Burst bound each peer (0: DefaultRate, DefaultBurst).
	Rate, Burst int
	Clock       clock.Clock
	Logger      *slog.Logger
}

// Report is the last message of a peer and when it arrived.
type Report struct {
	Peer  netip.Addr
	Heard time.Time
	Msg   *Message
}

type peerState struct {
	heard  time.Time
	msg    *Message
	tokens float64
	filled time.Time
}

// Driver is the agreement's network side: one UDP socket; our message to
// every peer at each interval and at once when it changes; the peers'
// messages authenticated (Opener), bounded (one datagram of at most
// MaxDatagram, a token bucket per peer, known peers only) and kept, the
// last of each, for the Agreement. Drops are counted by reason and logged
// at most once a minute per reason.
type Driver struct {
	o      Options
	conn   *net.UDPConn
	sealer *Sealer
	opener *Opener
	clk    clock.Clock
	log    *slog.Logger
	kick   chan struct{}

	mu      sync.Mutex
	peers   map[netip.Addr]*peerState
	order   []netip.Addr
	own     []Service
	changed chan struct{}
	drops   map[string]uint64
	logged  map[string]time.Time
	sent    atomic.Uint64
}

// NewDriver binds the socket (unless Options.Conn) and returns the Driver.
func NewDriver(o Options) (*Driver, error) {
	if o.Node == "" {
		return nil, errors.New("agree: no node name")
	}
	if len(o.Key) == 0 {
		return nil, errors.New("agree: no key (the agreement is sealed with the directors' heartbeat key)")
	}
	if o.Interval <= 0 {
		o.Interval = DefaultInterval
	}
	if o.Stale <= 0 {
		o.Stale = DefaultStale
	}
	if o.Rate <= 0 {
		o.Rate = DefaultRate
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if len(o.Node) > MaxName {
		o.Node = o.Node[:MaxName]
	}
	if o.Session == 0 {
		s, err := hbproto.NewSessionID()
		if err != nil {
			return nil, err
		}
		o.Session = s | 1
	}
	conn := o.Conn
	if conn == nil {
		local := &net.UDPAddr{Port: int(o.Local.Port())}
		if a := o.Local.Addr(); a.IsValid() && !a.IsUnspecified() {
			local.IP = a.AsSlice()
		}
		c, err := net.ListenUDP("udp", local)
		if err != nil {
			return nil, fmt.Errorf("agree: listen on UDP %s: %w", local, err)
		}
		conn = c
	}
	if o.Port == 0 {
		o.Port = uint16(conn.LocalAddr().(*net.UDPAddr).Port)
	}
	d := &Driver{o: o, conn: conn, sealer: NewSealer(o.Key, o.Session),
		opener: NewOpener(append([][]byte{o.Key}, o.AcceptKeys...), o.Window),
		clk:    clock.Or(o.Clock), log: o.Logger, kick: make(chan struct{}, 1),
		peers: map[netip.Addr]*peerState{}, changed: make(chan struct{}),
		drops: map[string]uint64{}, logged: map[string]time.Time{}}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	d.SetPeers(o.Peers)
	return d, nil
}

// LocalAddr is the bound address.
func (d *Driver) LocalAddr() netip.AddrPort {
	return d.conn.LocalAddr().(*net.UDPAddr).AddrPort()
}

// Session is this Driver's session id.
func (d *Driver) Session() uint64 { return d.sealer.Session() }

// SetPeers replaces the peers; the reports of those that stay are kept.
func (d *Driver) SetPeers(peers []netip.Addr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.order = d.order[:0]
	keep := map[netip.Addr]*peerState{}
	for _, p := range peers {
		p = p.Unmap()
		if _, dup := keep[p]; dup || !p.IsValid() {
			continue
		}
		st := d.peers[p]
		if st == nil {
			st = &peerState{tokens: float64(d.o.Burst)}
		}
		keep[p] = st
		d.order = append(d.order, p)
	}
	d.peers = keep
	d.signalLocked()
	d.kickNow()
}

// SetOwn sets what our message says: the services of our announced VIPs
// (each once), their fingerprints and whether we announce their VIP. A
// change is sent at once.
func (d *Driver) SetOwn(services []Service) {
	services = slices.Clone(services)
	slices.SortFunc(services, func(x, y Service) int { return x.Key.Compare(y.Key) })
	d.mu.Lock()
	same := slices.Equal(d.own, services)
	if !same {
		d.own = services
	}
	d.mu.Unlock()
	if !same {
		d.kickNow()
	}
}

func (d *Driver) kickNow() {
	select {
	case d.kick <- struct{}{}:
	default:
	}
}

// Changed returns a channel closed at the next change of what Reports
// returns but the receive times: a peer heard for the first time, heard
// again after a silence longer than Stale, or its message changed.
func (d *Driver) Changed() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.changed
}

func (d *Driver) signalLocked() {
	close(d.changed)
	d.changed = make(chan struct{})
}

// Reports returns the last message of each peer heard, in peer order.
func (d *Driver) Reports() []Report {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []Report
	for _, p := range d.order {
		if st := d.peers[p]; st.msg != nil {
			out = append(out, Report{Peer: p, Heard: st.heard, Msg: st.msg})
		}
	}
	return out
}

// Drops returns the datagrams dropped, by reason: unknown (not a peer),
// rate (over the peer's bound), self (our own session), length, and the
// envelope's (mac, stale, replay, malformed, truncated, version).
func (d *Driver) Drops() map[string]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]uint64, len(d.drops))
	for k, v := range d.drops {
		out[k] = v
	}
	return out
}

// Sent returns the number of datagrams sent.
func (d *Driver) Sent() uint64 { return d.sent.Load() }

// Run sends and receives until ctx ends, then closes the socket.
func (d *Driver) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.receive()
	}()
	defer func() {
		d.conn.Close()
		<-done
	}()
	t := d.clk.NewTicker(d.o.Interval)
	defer t.Stop()
	d.send()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		case <-d.kick:
		}
		d.send()
	}
}

// send seals our message once and sends it to every peer.
func (d *Driver) send() {
	d.mu.Lock()
	m := Message{Node: d.o.Node, Services: d.own}
	peers := slices.Clone(d.order)
	d.mu.Unlock()
	b, err := d.sealer.Seal(d.clk.Now(), m)
	if err != nil {
		d.drop("send", "agree: cannot seal our message", "err", err)
		return
	}
	for _, p := range peers {
		to := net.UDPAddrFromAddrPort(netip.AddrPortFrom(p, d.o.Port))
		if _, err := d.conn.WriteToUDP(b, to); err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.drop("send", "agree: send", "peer", p.String(), "err", err)
			continue
		}
		d.sent.Add(1)
	}
}

// drop counts reason and logs it, at most once a minute per reason.
func (d *Driver) drop(reason, msg string, args ...any) {
	now := d.clk.Now()
	d.mu.Lock()
	d.drops[reason]++
	n := d.drops[reason]
	last, ok := d.logged[reason]
	show := !ok || now.Sub(last) >= logEvery
	if show {
		d.logged[reason] = now
	}
	d.mu.Unlock()
	if show {
		d.log.Warn(msg, append(args, "reason", reason, "count", n)...)
	}
}

func (d *Driver) receive() {
	buf := make([]byte, MaxDatagram+1)
	for {
		n, from, err := d.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			d.drop("read", "agree: read", "err", err)
			time.Sleep(10 * time.Millisecond) // a persistent error must not spin
			continue
		}
		d.handle(from.Addr().Unmap(), buf[:n])
	}
}

// handle is one datagram from peer: its length and whether the peer is
// listed, then the MAC, then the peer's token bucket. The bucket counts
// authenticated datagrams only: someone who can forge a director's source
// address but has no key cannot spend that director's quota and make it
// look silent (which would open the gate on "no director heard"); an
// unauthenticated datagram costs one HMAC and is counted.
func (d *Driver) handle(peer netip.Addr, b []byte) {
	now := d.clk.Now()
	if len(b) > MaxDatagram {
		d.drop("length", "agree: datagram too long, dropped", "peer", peer.String(), "bytes", len(b))
		return
	}
	d.mu.Lock()
	known := d.peers[peer] != nil
	d.mu.Unlock()
	if !known {
		d.drop("unknown", "agree: datagram from an address not in bgp.directors, dropped", "from", peer.String())
		return
	}
	m, err := d.opener.Open(peer, b, now)
	if err != nil {
		d.drop(hbproto.Reason(err), "agree: datagram refused", "peer", peer.String(), "err", err)
		return
	}
	d.mu.Lock()
	st := d.peers[peer]
	ok := st != nil && st.take(now, d.o.Rate, d.o.Burst)
	d.mu.Unlock()
	if st != nil && !ok {
		d.drop("rate", "agree: peer over its rate, datagram dropped", "peer", peer.String(), "rate", d.o.Rate)
		return
	}
	if m.Session == d.sealer.Session() {
		d.drop("self", "agree: our own message came back: is our address in bgp.directors?", "from", peer.String())
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	st = d.peers[peer]
	if st == nil { // removed meanwhile
		return
	}
	changed := st.msg == nil || now.Sub(st.heard) > d.o.Stale || st.msg.Node != m.Node || !slices.Equal(st.msg.Services, m.Services)
	st.heard, st.msg = now, m
	if changed {
		d.signalLocked()
	}
}

// take takes a token of the bucket at now.
func (st *peerState) take(now time.Time, rate, burst int) bool {
	if !st.filled.IsZero() {
		if dt := now.Sub(st.filled).Seconds(); dt > 0 {
			st.tokens = min(float64(burst), st.tokens+dt*float64(rate))
		}
	}
	st.filled = now
	if st.tokens < 1 {
		return false
	}
	st.tokens--
	return true
}
