package peerwatch

import (
	"context"
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
	ReadFrom(b []byte) (int, netip.AddrPort, error)
	WriteTo(b []byte, to netip.AddrPort) error
	Close() error
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

// ReadFrom reads one datagram.
func (u UDPConn) ReadFrom(b []byte) (int, netip.AddrPort, error) {
	n, a, err := u.C.ReadFromUDPAddrPort(b)
	ip := a.Addr().Unmap()
	if ip.Zone() != "" && u.IfName != "" {
		ip = ip.WithZone(u.IfName)
	}
	return n, netip.AddrPortFrom(ip, a.Port()), err
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
// with TOS / traffic class 0xc0 like VRRP.
func ListenUDP(ns netns.NsHandle, ifname string, port int, v6 bool) (UDPConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			f := int(fd)
			if serr = unix.BindToDevice(f, ifname); serr != nil {
				serr = fmt.Errorf("SO_BINDTODEVICE %s: %w", ifname, serr)
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
