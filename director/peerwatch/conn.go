package peerwatch

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"syscall"

	"github.com/vishvananda/netns"

	"github.com/tandemlb/tandem/shared/nsutil"
	"golang.org/x/sys/unix"
)

// PacketConn sends and receives probe datagrams. The real one is a UDP
// socket bound to the probe interface; tests use a loopback socket.
type PacketConn interface {
	// ReadFrom reads one datagram and returns its IPv4 TTL or IPv6 hop
	// limit, -1 when the socket did not say (the watcher then drops it).
	ReadFrom(b []byte) (n int, from netip.AddrPort, ttl int, err error)
	// WriteTo sends one datagram with TTL / hop limit 255.
	WriteTo(b []byte, to netip.AddrPort) error
	Close() error
}

// ProbeTTL is the TTL (IPv4) or hop limit (IPv6) of every probe, and the
// only one accepted (as VRRP, RFC 5881 §5's GTSM): a probe that crossed a
// router, or was sent by a socket that did not ask for 255, is dropped.
const ProbeTTL = 255

// oobSize holds one IP_TTL or IPV6_HOPLIMIT control message.
var oobSize = unix.CmsgSpace(4)

// SetTTL sets the socket options of a probe socket on fd: send with TTL
// (hop limit) 255, unicast and multicast, and report each datagram's TTL
// (hop limit) as a control message.
func SetTTL(fd int, v6 bool) error {
	type opt struct {
		level, name int
		what        string
	}
	opts := []opt{{unix.IPPROTO_IP, unix.IP_TTL, "IP_TTL"}, {unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, "IP_MULTICAST_TTL"}}
	recv := opt{unix.IPPROTO_IP, unix.IP_RECVTTL, "IP_RECVTTL"}
	if v6 {
		opts = []opt{{unix.IPPROTO_IPV6, unix.IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS"}, {unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_HOPS, "IPV6_MULTICAST_HOPS"}}
		recv = opt{unix.IPPROTO_IPV6, unix.IPV6_RECVHOPLIMIT, "IPV6_RECVHOPLIMIT"}
	}
	for _, o := range opts {
		if err := unix.SetsockoptInt(fd, o.level, o.name, ProbeTTL); err != nil {
			return fmt.Errorf("%s: %w", o.what, err)
		}
	}
	if err := unix.SetsockoptInt(fd, recv.level, recv.name, 1); err != nil {
		return fmt.Errorf("%s: %w", recv.what, err)
	}
	return nil
}

// SetConnTTL is SetTTL on a *net.UDPConn (tests).
func SetConnTTL(c *net.UDPConn, v6 bool) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = SetTTL(int(fd), v6) }); err != nil {
		return err
	}
	return serr
}

// ttlOf returns the TTL or hop limit in the control messages, -1 if none.
func ttlOf(oob []byte) int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return -1
	}
	for _, m := range msgs {
		if len(m.Data) < 4 {
			continue
		}
		if (m.Header.Level == unix.IPPROTO_IP && m.Header.Type == unix.IP_TTL) ||
			(m.Header.Level == unix.IPPROTO_IPV6 && m.Header.Type == unix.IPV6_HOPLIMIT) {
			return int(int32(binary.NativeEndian.Uint32(m.Data)))
		}
	}
	return -1
}

// Discovery destinations while the peer is unknown.
var (
	broadcast4 = netip.AddrFrom4([4]byte{255, 255, 255, 255})
	allNodes6  = netip.MustParseAddr("ff02::1")
)

// UDPConn is a PacketConn over a *net.UDPConn.
//
// IPv6 link-local peers (discovery by ff02::1 answers from fe80::) carry
// a zone. Go turns a zone name into an interface index, and back, with the
// interfaces of the process's network namespace, which is not the
// socket's when the watcher probes in another namespace (Options.NetNS):
// "eth0" would name the wrong interface, or none. So a socket bound to one
// interface (ListenUDP: IfName, IfIndex) reports every zoned source with
// the zone IfName, and sends to IfName's zone by the index it has in the
// socket's own namespace.
type UDPConn struct {
	C *net.UDPConn
	// IfName and IfIndex are the interface the socket is bound to, the
	// index as the socket's namespace numbers it; empty and 0 when not
	// bound (zones then go through the process's namespace).
	IfName  string
	IfIndex int
}

// ReadFrom reads one datagram and its TTL (hop limit), -1 when the socket
// does not report it (SetTTL was not called).
func (u UDPConn) ReadFrom(b []byte) (int, netip.AddrPort, int, error) {
	oob := make([]byte, oobSize)
	n, oobn, flags, a, err := u.C.ReadMsgUDPAddrPort(b, oob)
	ip := a.Addr().Unmap()
	if ip.Zone() != "" && u.IfName != "" {
		ip = ip.WithZone(u.IfName)
	}
	ttl := -1
	if flags&unix.MSG_CTRUNC == 0 {
		ttl = ttlOf(oob[:oobn])
	}
	if err == nil && flags&unix.MSG_TRUNC != 0 {
		// Longer than the buffer: the watcher's buffer is one byte longer
		// than MaxDatagram, so the length check refuses it.
		n = len(b)
	}
	return n, netip.AddrPortFrom(ip, a.Port()), ttl, err
}

// WriteTo sends one datagram.
func (u UDPConn) WriteTo(b []byte, to netip.AddrPort) error {
	if z := to.Addr().Zone(); z != "" && z == u.IfName && u.IfIndex > 0 {
		// A numeric zone is taken as the index as it is.
		to = netip.AddrPortFrom(to.Addr().WithZone(strconv.Itoa(u.IfIndex)), to.Port())
	}
	_, err := u.C.WriteToUDPAddrPort(b, to)
	return err
}

// Close closes the socket.
func (u UDPConn) Close() error { return u.C.Close() }

// ListenUDP opens the probe socket on port, bound to ifname, in ns (the
// current namespace when ns is not open): IPv4 with SO_BROADCAST, or IPv6,
// with TOS / traffic class 0xc0 like VRRP, and TTL / hop limit 255 sent
// and reported (SetTTL).
func ListenUDP(ns netns.NsHandle, ifname string, port int, v6 bool) (UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			f := int(fd)
			if serr = unix.BindToDevice(f, ifname); serr != nil {
				serr = fmt.Errorf("SO_BINDTODEVICE %s: %w", ifname, serr)
				return
			}
			if serr = SetTTL(f, v6); serr != nil {
				return
			}
			if v6 {
				serr = unix.SetsockoptInt(f, unix.IPPROTO_IPV6, unix.IPV6_TCLASS, 0xc0)
				return
			}
			if serr = unix.SetsockoptInt(f, unix.SOL_SOCKET, unix.SO_BROADCAST, 1); serr != nil {
				return
			}
			serr = unix.SetsockoptInt(f, unix.IPPROTO_IP, unix.IP_TOS, 0xc0)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	network, addr := "udp4", fmt.Sprintf("0.0.0.0:%d", port)
	if v6 {
		network, addr = "udp6", fmt.Sprintf("[::]:%d", port)
	}
	var pc net.PacketConn
	var ifi *net.Interface
	err := inNetNS(ns, func() error {
		var err error
		if ifi, err = net.InterfaceByName(ifname); err != nil {
			return err
		}
		pc, err = lc.ListenPacket(context.Background(), network, addr)
		return err
	})
	if err != nil {
		return UDPConn{}, fmt.Errorf("peerwatch: probe socket %s on %s: %w", addr, ifname, err)
	}
	return UDPConn{C: pc.(*net.UDPConn), IfName: ifname, IfIndex: ifi.Index}, nil
}

// inNetNS runs f inside ns (see nsutil.Do).
func inNetNS(ns netns.NsHandle, f func() error) error { return nsutil.Do(ns, f) }
