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
// answered with sendmmsg (called directly, mmsg_linux.go; elsewhere
// x/net's ReadBatch and WriteBatch): the reading
// goroutine blocks in one read that returns every datagram queued (up to
// Batch), handles them in order with one clock reading, and sends the fast
// path's replies of the batch in one call. A datagram costs one MAC check,
// its replay state and one seal, and allocates only what the heartbeat's
// decoding does; the system calls and the wake-ups are the batch's.

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

// batchConn is what the batched loop needs of the socket: reading up to
// len(bufs) datagrams at once (their sizes into ns, their senders into
// from; an invalid sender: a datagram to skip), and writing bufs[i] to
// to[i] (how many were sent; an error only when the first could not be).
type batchConn interface {
	readBatch(bufs [][]byte, ns []int, from []netip.AddrPort) (int, error)
	writeBatch(bufs [][]byte, to []netip.AddrPort) (int, error)
}

// batchOf returns the batched view of c, nil when c is no UDP socket: on
// Linux recvmmsg and sendmmsg called directly (mmsg_linux.go: nothing
// allocated per datagram), else x/net's.
func batchOf(c net.PacketConn) batchConn {
	udp, ok := c.(*net.UDPConn)
	if !ok {
		return nil
	}
	if m := newMmsg(udp); m != nil {
		return m
	}
	x := &xnetBatch{in: make([]ipv4.Message, Batch), out: make([]ipv4.Message, Batch), addrs: make([]net.UDPAddr, Batch), ips: make([][16]byte, Batch)}
	for i := range x.in {
		x.in[i].Buffers = [][]byte{nil}
		x.out[i].Buffers = [][]byte{nil}
		x.out[i].Addr = &x.addrs[i]
	}
	if la, ok := udp.LocalAddr().(*net.UDPAddr); ok && la.IP.To4() != nil {
		x.pc = ipv4.NewPacketConn(udp)
	} else {
		x.pc = ipv6.NewPacketConn(udp)
	}
	return x
}

// xnetBatch is batchConn on x/net's ReadBatch and WriteBatch (its
// ipv4.PacketConn and ipv6.PacketConn both have them; their Message is
// the same type). Each datagram read allocates its sender's address.
type xnetBatch struct {
	pc interface {
		ReadBatch(ms []ipv4.Message, flags int) (int, error)
		WriteBatch(ms []ipv4.Message, flags int) (int, error)
	}
	in, out []ipv4.Message
	addrs   []net.UDPAddr
	ips     [][16]byte
}

func (x *xnetBatch) readBatch(bufs [][]byte, ns []int, from []netip.AddrPort) (int, error) {
	ms := x.in[:min(len(bufs), len(x.in))]
	for i := range ms {
		ms[i].Buffers[0] = bufs[i]
	}
	n, err := x.pc.ReadBatch(ms, 0)
	for i := range ms[:n] {
		ns[i], from[i] = ms[i].N, netip.AddrPort{}
		if ua, ok := ms[i].Addr.(*net.UDPAddr); ok {
			from[i] = ua.AddrPort()
		}
	}
	return n, err
}

func (x *xnetBatch) writeBatch(bufs [][]byte, to []netip.AddrPort) (int, error) {
	ms := x.out[:min(len(bufs), len(x.out))]
	for i := range ms {
		ip := to[i].Addr()
		a := &x.addrs[i]
		if ip.Is4() {
			b := ip.As4()
			a.IP = append(x.ips[i][:0], b[:]...)
		} else {
			b := ip.As16()
			a.IP = append(x.ips[i][:0], b[:]...)
		}
		a.Port, a.Zone = int(to[i].Port()), ip.Zone()
		ms[i].Buffers[0] = bufs[i]
	}
	return x.pc.WriteBatch(ms, 0)
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
	bufs := make([][]byte, Batch)
	for i := range bufs {
		bufs[i] = make([]byte, maxRead)
	}
	ns := make([]int, Batch)
	from := make([]netip.AddrPort, Batch)
	w := newBatchWriter(bc)
	var last time.Time // of the last read
	got := 0           // datagrams it took
	for {
		if got > 1 && got < len(bufs) {
			if since := time.Since(last); since < Linger {
				time.Sleep(Linger - since)
			}
		}
		last = time.Now()
		n, err := bc.readBatch(bufs, ns, from)
		got = n
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return fmt.Errorf("heartbeat: read: %w", err)
		}
		now := s.now()
		for i := range n {
			peer := from[i]
			if !peer.IsValid() {
				continue
			}
			r, ok := s.handle(peer, bufs[i][:ns[i]], now)
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
// are reused from batch to batch.
type batchWriter struct {
	bc    batchConn
	bufs  [][]byte
	peers []netip.AddrPort
	ats   int
}

func newBatchWriter(bc batchConn) *batchWriter {
	w := &batchWriter{bc: bc, bufs: make([][]byte, Batch), peers: make([]netip.AddrPort, Batch)}
	for i := range w.bufs {
		w.bufs[i] = make([]byte, 0, hbproto.MaxDatagram)
	}
	return w
}

// add seals r's reply from its view into the next buffer (the batch holds
// at most Batch: one per datagram read).
func (w *batchWriter) add(s *Server, r Report) {
	i := w.ats
	w.bufs[i] = s.seal(r, r.fast, w.bufs[i], r.At)
	w.peers[i] = r.Peer
	w.ats++
}

// flush sends the batch's replies (sendmmsg sends what it can and fails
// only on the first datagram; a failed one is counted and skipped).
func (w *batchWriter) flush(s *Server, now time.Time) {
	bufs, peers := w.bufs[:w.ats], w.peers[:w.ats]
	done := 0
	for done < len(bufs) {
		n, err := w.bc.writeBatch(bufs[done:], peers[done:])
		for i := done; i < done+n; i++ {
			s.replied(peers[i], nil, now)
		}
		done += n
		if err != nil {
			s.replied(peers[done], err, now)
			done++
		} else if n == 0 {
			break // no progress and no error: not expected; do not spin
		}
	}
	for i := done; i < len(bufs); i++ {
		s.replied(peers[i], errors.New("not sent"), now)
	}
	w.ats = 0
}
