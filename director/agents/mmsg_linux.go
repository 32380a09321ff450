//go:build linux

package agents

import (
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// mmsg is batchConn on Linux: recvmmsg and sendmmsg called directly on
// the socket, with every header, I/O vector and address buffer made once,
// so that a datagram read or written allocates nothing (x/net's
// ReadBatch allocates each sender's address: two allocations a report).
// The calls are raw system calls: the socket is non-blocking (Go's
// poller waits for it), so neither ever blocks, and the runtime's
// bookkeeping of a system call that may block (handing the processor
// over, waking its monitor thread) is not paid at each read and write.
type mmsg struct {
	// read and write are the raw connection's Read and Write.
	read, write func(func(uintptr) bool) error
	// v6: an AF_INET6 socket (dual stack): IPv4 peers are written
	// v4-mapped.
	v6 bool
	// Reads and writes each have their own headers, vectors and
	// addresses.
	in, out *mmsgBufs
}

// mmsgBufs are one direction's buffers, Batch of each, and its system
// call (trap) with its arguments and results, made once (sys): a call
// allocates no closure.
type mmsgBufs struct {
	hdrs  []mmsghdr
	iovs  []unix.Iovec
	names []unix.RawSockaddrInet6
	trap  uintptr
	n     int
	got   uintptr
	errno syscall.Errno
	sys   func(fd uintptr) bool
}

// mmsghdr is the kernel's struct mmsghdr (Go pads it as C does).
type mmsghdr struct {
	hdr unix.Msghdr
	len uint32
}

func newMmsgBufs(trap uintptr) *mmsgBufs {
	b := &mmsgBufs{hdrs: make([]mmsghdr, Batch), iovs: make([]unix.Iovec, Batch), names: make([]unix.RawSockaddrInet6, Batch), trap: trap}
	b.sys = b.syscall
	return b
}

// newMmsg returns c's mmsg, nil if c's address family cannot be read.
func newMmsg(c *net.UDPConn) *mmsg {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	domain, serr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) { domain, serr = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_DOMAIN) }); err != nil || serr != nil {
		return nil
	}
	if domain != unix.AF_INET && domain != unix.AF_INET6 {
		return nil
	}
	return &mmsg{read: rc.Read, write: rc.Write, v6: domain == unix.AF_INET6, in: newMmsgBufs(unix.SYS_RECVMMSG), out: newMmsgBufs(unix.SYS_SENDMMSG)}
}

// prepare points the first n headers of b at bufs (and their address
// buffers, namelen each).
func (b *mmsgBufs) prepare(bufs [][]byte) int {
	n := min(len(bufs), len(b.hdrs))
	for i := range n {
		b.iovs[i].Base = unsafe.SliceData(bufs[i])
		b.iovs[i].SetLen(len(bufs[i]))
		h := &b.hdrs[i]
		h.hdr = unix.Msghdr{Name: (*byte)(unsafe.Pointer(&b.names[i])), Namelen: unix.SizeofSockaddrInet6, Iov: &b.iovs[i]}
		h.hdr.SetIovlen(1)
		h.len = 0
	}
	return n
}

// syscall makes b's system call on fd with its first n headers: again on
// EINTR; false (wait for the socket) on EAGAIN.
func (b *mmsgBufs) syscall(fd uintptr) bool {
	for {
		b.got, _, b.errno = unix.RawSyscall6(b.trap, fd, uintptr(unsafe.Pointer(&b.hdrs[0])), uintptr(b.n), 0, 0, 0)
		if b.errno != unix.EINTR {
			return b.errno != unix.EAGAIN
		}
	}
}

// call makes b's system call on its first n headers through do (the raw
// connection's Read or Write, which waits for the socket).
func (b *mmsgBufs) call(do func(func(uintptr) bool) error, n int) (int, error) {
	b.n = n
	if err := do(b.sys); err != nil {
		return 0, err
	}
	if b.errno != 0 {
		return 0, b.errno
	}
	return int(b.got), nil
}

func (m *mmsg) readBatch(bufs [][]byte, ns []int, from []netip.AddrPort) (int, error) {
	n := m.in.prepare(bufs)
	if n == 0 {
		return 0, nil
	}
	got, err := m.in.call(m.read, n)
	if err != nil {
		return 0, err
	}
	for i := range got {
		ns[i] = int(m.in.hdrs[i].len)
		from[i] = addrOf(&m.in.names[i], m.in.hdrs[i].hdr.Namelen)
	}
	return got, nil
}

func (m *mmsg) writeBatch(bufs [][]byte, to []netip.AddrPort) (int, error) {
	n := m.out.prepare(bufs)
	if n == 0 {
		return 0, nil
	}
	for i := range n {
		nl, ok := m.sockaddr(&m.out.names[i], to[i])
		if !ok {
			if i == 0 { // as sendmmsg: the first fails, the rest waits
				return 0, &net.AddrError{Err: "address family not that of the socket", Addr: to[i].String()}
			}
			n = i
			break
		}
		m.out.hdrs[i].hdr.Namelen = nl
	}
	return m.out.call(m.write, n)
}

// addrOf reads a sender's address (the kernel wrote namelen bytes of it);
// the zero AddrPort when it is no IPv4 or IPv6 address.
func addrOf(sa *unix.RawSockaddrInet6, namelen uint32) netip.AddrPort {
	port := func(p *uint16) uint16 { b := (*[2]byte)(unsafe.Pointer(p)); return uint16(b[0])<<8 | uint16(b[1]) }
	switch {
	case sa.Family == unix.AF_INET && namelen >= unix.SizeofSockaddrInet4:
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		return netip.AddrPortFrom(netip.AddrFrom4(sa4.Addr), port(&sa4.Port))
	case sa.Family == unix.AF_INET6 && namelen >= unix.SizeofSockaddrInet6:
		a := netip.AddrFrom16(sa.Addr)
		if sa.Scope_id != 0 && a.Is6() && !a.Is4In6() {
			a = a.WithZone(zoneName(sa.Scope_id))
		}
		return netip.AddrPortFrom(a, port(&sa.Port))
	}
	return netip.AddrPort{}
}

// sockaddr writes ap as the socket's family has it into sa and returns
// its length; false when the socket cannot reach it (IPv6 on an IPv4
// socket).
func (m *mmsg) sockaddr(sa *unix.RawSockaddrInet6, ap netip.AddrPort) (uint32, bool) {
	setPort := func(p *uint16, v uint16) { b := (*[2]byte)(unsafe.Pointer(p)); b[0], b[1] = byte(v>>8), byte(v) }
	a := ap.Addr()
	if !m.v6 {
		a = a.Unmap()
		if !a.Is4() {
			return 0, false
		}
		sa4 := (*unix.RawSockaddrInet4)(unsafe.Pointer(sa))
		*sa4 = unix.RawSockaddrInet4{Family: unix.AF_INET, Addr: a.As4()}
		setPort(&sa4.Port, ap.Port())
		return unix.SizeofSockaddrInet4, true
	}
	*sa = unix.RawSockaddrInet6{Family: unix.AF_INET6, Addr: a.As16(), Scope_id: zoneIndex(a.Zone())}
	setPort(&sa.Port, ap.Port())
	return unix.SizeofSockaddrInet6, true
}

// The names of the interfaces a link-local sender's scope names, as x/net
// and the net package give them (net.InterfaceByIndex), and back; kept
// once looked up.
var zones struct {
	sync.Mutex
	names map[uint32]string
	index map[string]uint32
}

func zoneName(id uint32) string {
	zones.Lock()
	defer zones.Unlock()
	if z, ok := zones.names[id]; ok {
		return z
	}
	z := strconv.FormatUint(uint64(id), 10)
	if ifi, err := net.InterfaceByIndex(int(id)); err == nil {
		z = ifi.Name
	}
	if zones.names == nil {
		zones.names, zones.index = map[uint32]string{}, map[string]uint32{}
	}
	if len(zones.names) < 1024 {
		zones.names[id], zones.index[z] = z, id
	}
	return z
}

func zoneIndex(z string) uint32 {
	if z == "" {
		return 0
	}
	zones.Lock()
	id, ok := zones.index[z]
	zones.Unlock()
	if ok {
		return id
	}
	if v, err := strconv.ParseUint(z, 10, 32); err == nil {
		return uint32(v)
	}
	if ifi, err := net.InterfaceByName(z); err == nil {
		return uint32(ifi.Index)
	}
	return 0
}
