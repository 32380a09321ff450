package agents

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// The socket in batches. On Linux a *net.UDPConn is read with recvmmsg and
// answered with sendmmsg (x/net's ReadBatch and WriteBatch): the reading
// goroutine blocks in one read that returns every datagram queued (up to
// Batch), handles them in order with one clock reading, and sends the fast
// path's replies of the batch in one call. A datagram costs one MAC check,
// its replay state and one seal; the system calls and the wake-ups are the
// batch's.

// Batch is how many datagrams one read takes and one write sends at most.
const Batch = 64

// Linger is how long at most the reader lets reports gather in the
// socket before its next read when the last read took more than one
// datagram but not a whole batch and was less than Linger ago: under
// load the reads come at most once per Linger with what came meanwhile,
// rather than one wake-up and three system calls per few datagrams. A
// report that finds the reader idle, or reports that come one per read,
// are read at once: waiting costs a timer's wake-up, no cheaper than the
// datagram's (1,000 agents: 12.3 % of a core with it, 8.1 % without). It
// adds at most Linger to a reply, and only under load.
const Linger = time.Millisecond

// RcvBuf is the socket receive buffer the server asks for (SO_RCVBUF; the
// kernel doubles it for its bookkeeping and caps the request at
// net.core.rmem_max): 4 MiB, about 4,000 reports queued, 0.4 s of 10,000
// agents at 1 report/s while the reader is held up (a garbage collection,
// a busy CPU).
const RcvBuf = 4 << 20

// batchConn is what the batched loop needs of the socket: x/net's
// ipv4.PacketConn and ipv6.PacketConn both have it (their Message is the
// same type).
type batchConn interface {
	ReadBatch(ms []ipv4.Message, flags int) (int, error)
	WriteBatch(ms []ipv4.Message, flags int) (int, error)
}

// batchOf returns the batched view of c, nil when c is no UDP socket.
func batchOf(c net.PacketConn) batchConn {
	udp, ok := c.(*net.UDPConn)
	if !ok {
		return nil
	}
	if la, ok := udp.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		return ipv4.NewPacketConn(udp)
	}
	return ipv6.NewPacketConn(udp)
}

// sizeRcvBuf asks for RcvBuf on c and logs (once, at start) when the
// kernel gives less: the limit net.core.rmem_max is respected, not forced.
func (s *Server) sizeRcvBuf() {
	udp, ok := s.conn.(*net.UDPConn)
	if !ok {
		return
	}
	if err := udp.SetReadBuffer(RcvBuf); err != nil {
		s.log.Warn("heartbeat socket receive buffer not set", "want_bytes", RcvBuf, "err", err)
		return
	}
	got, err := rcvBufOf(udp)
	if err != nil {
		return
	}
	// Linux reports twice what it grants (its bookkeeping included).
	if got < 2*RcvBuf {
		s.log.Warn("heartbeat socket receive buffer smaller than asked: bursts of reports may be dropped by the kernel; raise net.core.rmem_max",
			"want_bytes", RcvBuf, "granted_bytes", got/2)
	}
}

// batchLoop is Run's reading loop on a batched socket; queue hands a
// report to its worker.
func (s *Server) batchLoop(bc batchConn, queue func(Report)) error {
	in := make([]ipv4.Message, Batch)
	for i := range in {
		in[i].Buffers = [][]byte{make([]byte, maxRead)}
	}
	w := newBatchWriter(bc)
	var last time.Time // of the last read
	got := 0           // datagrams it took
	for {
		if got > 1 && got < len(in) {
			if since := time.Since(last); since < Linger {
				time.Sleep(Linger - since)
			}
		}
		last = time.Now()
		n, err := bc.ReadBatch(in, 0)
		got = n
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("heartbeat: read: %w", err)
		}
		now := s.now()
		for i := range in[:n] {
			m := &in[i]
			ua, ok := m.Addr.(*net.UDPAddr)
			if !ok {
				continue
			}
			peer := ua.AddrPort()
			if !peer.IsValid() {
				continue
			}
			r, ok := s.handle(peer, m.Buffers[0][:m.N], now)
			if !ok {
				continue
			}
			if r.fast != nil {
				w.add(s, r)
				continue
			}
			// A report for the Handler: the replies sealed before it go
			// first, so that an agent's replies leave in order.
			w.flush(s, now)
			queue(r)
		}
		w.flush(s, now)
	}
}

// maxRead is the read buffer: one byte more than a datagram may have, so
// that a longer one is seen as such (and rejected).
const maxRead = hbproto.MaxDatagram + 1

// rcvBufOf reads c's SO_RCVBUF.
func rcvBufOf(c *net.UDPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var (
		v    int
		serr error
	)
	if err := rc.Control(func(fd uintptr) { v, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF) }); err != nil {
		return 0, err
	}
	return v, serr
}

// batchWriter collects the fast path's replies of one batch; its buffers
// and addresses are reused from batch to batch.
type batchWriter struct {
	bc    batchConn
	msgs  []ipv4.Message
	bufs  [][]byte
	addrs []net.UDPAddr
	ips   [][16]byte
	peers []netip.AddrPort
	ats   int
}

func newBatchWriter(bc batchConn) *batchWriter {
	w := &batchWriter{bc: bc, msgs: make([]ipv4.Message, Batch), bufs: make([][]byte, Batch),
		addrs: make([]net.UDPAddr, Batch), ips: make([][16]byte, Batch), peers: make([]netip.AddrPort, Batch)}
	for i := range w.msgs {
		w.bufs[i] = make([]byte, 0, hbproto.MaxDatagram)
		w.msgs[i].Buffers = [][]byte{nil}
		w.msgs[i].Addr = &w.addrs[i]
	}
	return w
}

// add seals r's reply from its view into the next buffer (the batch holds
// at most Batch: one per datagram read).
func (w *batchWriter) add(s *Server, r Report) {
	i := w.ats
	w.bufs[i] = s.seal(r, r.fast, w.bufs[i], r.At)
	ip := r.Peer.Addr()
	a := &w.addrs[i]
	if ip.Is4() {
		b := ip.As4()
		a.IP = append(w.ips[i][:0], b[:]...)
	} else {
		b := ip.As16()
		a.IP = append(w.ips[i][:0], b[:]...)
	}
	a.Port, a.Zone = int(r.Peer.Port()), ""
	w.msgs[i].Buffers[0] = w.bufs[i]
	w.peers[i] = r.Peer
	w.ats++
}

// flush sends the batch's replies (sendmmsg sends what it can and fails
// only on the first datagram; a failed one is counted and skipped).
func (w *batchWriter) flush(s *Server, now time.Time) {
	msgs := w.msgs[:w.ats]
	done := 0
	for done < len(msgs) {
		n, err := w.bc.WriteBatch(msgs[done:], 0)
		for i := done; i < done+n; i++ {
			s.replied(w.peers[i], nil, now)
		}
		done += n
		if err != nil {
			s.replied(w.peers[done], err, now)
			done++
		} else if n == 0 {
			break // no progress and no error: not expected; do not spin
		}
	}
	for i := done; i < len(msgs); i++ {
		s.replied(w.peers[i], errors.New("not sent"), now)
	}
	w.ats = 0
}
