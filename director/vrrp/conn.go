package vrrp

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// Received is one packet of IP protocol 112 as the socket delivered it.
type Received struct {
	Payload  []byte     // the VRRP message, IP header removed
	Src, Dst netip.Addr // IP addresses
	TTL      int        // IPv4 TTL or IPv6 hop limit
	IfIndex  int        // receiving interface, 0 if unknown
}

// PacketConn sends and receives VRRP messages. Write gets the message with
// its checksum already computed for src and dst; the connection must send
// it from src with TTL (hop limit) 255 and TOS (traffic class) 0xc0.
type PacketConn interface {
	Read() (Received, error)
	Write(payload []byte, src, dst netip.Addr) error
	Close() error
}

// bindToDevice returns a net.ListenConfig whose sockets are bound to ifname
// and, for IPv4, only see the multicast groups they joined.
func bindToDevice(ifname string, v4 bool) net.ListenConfig {
	return net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = unix.BindToDevice(int(fd), ifname); serr != nil {
				serr = fmt.Errorf("SO_BINDTODEVICE %s: %w", ifname, serr)
				return
			}
			if v4 {
				if serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_MULTICAST_ALL, 0); serr != nil {
					serr = fmt.Errorf("IP_MULTICAST_ALL: %w", serr)
				}
			}
		})
		if err != nil {
			return err
		}
		return serr
	}}
}

type conn4 struct {
	rc *ipv4.RawConn
}

// openConn4 opens a raw IPv4 protocol 112 socket bound to ifi; with
// multicast it joins 224.0.0.18 there.
func openConn4(ifi *net.Interface, multicast bool) (*conn4, error) {
	lc := bindToDevice(ifi.Name, true)
	pc, err := lc.ListenPacket(context.Background(), "ip4:112", "0.0.0.0")
	if err != nil {
		return nil, fmt.Errorf("vrrp: raw socket on %s: %w", ifi.Name, err)
	}
	rc, err := ipv4.NewRawConn(pc)
	if err != nil {
		pc.Close()
		return nil, fmt.Errorf("vrrp: raw socket on %s: %w", ifi.Name, err)
	}
	c := &conn4{rc: rc}
	setup := func() error {
		if multicast {
			if err := rc.JoinGroup(ifi, &net.IPAddr{IP: MulticastGroup4.AsSlice()}); err != nil {
				return fmt.Errorf("join %s on %s: %w", MulticastGroup4, ifi.Name, err)
			}
			if err := rc.SetMulticastInterface(ifi); err != nil {
				return err
			}
			if err := rc.SetMulticastLoopback(false); err != nil {
				return err
			}
		}
		return rc.SetControlMessage(ipv4.FlagInterface|ipv4.FlagDst, true)
	}
	if err := setup(); err != nil {
		rc.Close()
		return nil, fmt.Errorf("vrrp: socket on %s: %w", ifi.Name, err)
	}
	return c, nil
}

func (c *conn4) Read() (Received, error) {
	b := make([]byte, 1500)
	for {
		h, p, cm, err := c.rc.ReadFrom(b)
		if err != nil {
			return Received{}, err
		}
		if h == nil {
			continue
		}
		r := Received{Payload: append([]byte(nil), p...), TTL: h.TTL}
		r.Src, _ = netip.AddrFromSlice(h.Src.To4())
		r.Dst, _ = netip.AddrFromSlice(h.Dst.To4())
		if cm != nil {
			r.IfIndex = cm.IfIndex
		}
		return r, nil
	}
}

func (c *conn4) Write(payload []byte, src, dst netip.Addr) error {
	h := &ipv4.Header{
		Version:  ipv4.Version,
		Len:      ipv4.HeaderLen,
		TOS:      0xc0, // internetwork control, as RFC 5798 §5.1.1 and keepalived
		TotalLen: ipv4.HeaderLen + len(payload),
		TTL:      255,
		Protocol: Protocol,
		Src:      src.AsSlice(),
		Dst:      dst.AsSlice(),
	}
	return c.rc.WriteTo(h, payload, nil)
}

func (c *conn4) Close() error { return c.rc.Close() }

type conn6 struct {
	pc  *ipv6.PacketConn
	ifi *net.Interface
}

// openConn6 opens a raw IPv6 protocol 112 socket bound to ifi; with
// multicast it joins ff02::12 there.
func openConn6(ifi *net.Interface, multicast bool) (*conn6, error) {
	lc := bindToDevice(ifi.Name, false)
	c, err := lc.ListenPacket(context.Background(), "ip6:112", "::")
	if err != nil {
		return nil, fmt.Errorf("vrrp: raw IPv6 socket on %s: %w", ifi.Name, err)
	}
	pc := ipv6.NewPacketConn(c)
	setup := func() error {
		if multicast {
			if err := pc.JoinGroup(ifi, &net.IPAddr{IP: MulticastGroup6.AsSlice()}); err != nil {
				return fmt.Errorf("join %s on %s: %w", MulticastGroup6, ifi.Name, err)
			}
			if err := pc.SetMulticastInterface(ifi); err != nil {
				return err
			}
			if err := pc.SetMulticastLoopback(false); err != nil {
				return err
			}
			if err := pc.SetMulticastHopLimit(255); err != nil {
				return err
			}
		}
		if err := pc.SetHopLimit(255); err != nil {
			return err
		}
		if err := pc.SetTrafficClass(0xc0); err != nil {
			return err
		}
		return pc.SetControlMessage(ipv6.FlagHopLimit|ipv6.FlagDst|ipv6.FlagInterface, true)
	}
	if err := setup(); err != nil {
		c.Close()
		return nil, fmt.Errorf("vrrp: socket on %s: %w", ifi.Name, err)
	}
	return &conn6{pc: pc, ifi: ifi}, nil
}

func (c *conn6) Read() (Received, error) {
	b := make([]byte, 1500)
	for {
		n, cm, src, err := c.pc.ReadFrom(b)
		if err != nil {
			return Received{}, err
		}
		ia, ok := src.(*net.IPAddr)
		if !ok || cm == nil {
			continue
		}
		r := Received{Payload: append([]byte(nil), b[:n]...), TTL: cm.HopLimit, IfIndex: cm.IfIndex}
		r.Src, _ = netip.AddrFromSlice(ia.IP)
		r.Dst, _ = netip.AddrFromSlice(cm.Dst)
		return r, nil
	}
}

func (c *conn6) Write(payload []byte, src, dst netip.Addr) error {
	cm := &ipv6.ControlMessage{Src: src.AsSlice(), IfIndex: c.ifi.Index, HopLimit: 255, TrafficClass: 0xc0}
	zone := ""
	if dst.IsLinkLocalUnicast() || dst.IsLinkLocalMulticast() || dst.IsInterfaceLocalMulticast() {
		zone = c.ifi.Name
	}
	_, err := c.pc.WriteTo(payload, cm, &net.IPAddr{IP: dst.AsSlice(), Zone: zone})
	return err
}

func (c *conn6) Close() error { return c.pc.Close() }

// errNoAddress is returned when the interface has no usable source address.
var errNoAddress = errors.New("no usable source address")

// primaryAddr returns the first IPv4 address of ifi (its primary), or for
// IPv6 its first link-local address, skipping the VIPs.
func primaryAddr(ifi *net.Interface, v6 bool, vips []VIP) (netip.Addr, error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return netip.Addr{}, fmt.Errorf("vrrp: addresses of %s: %w", ifi.Name, err)
	}
	isVIP := map[netip.Addr]bool{}
	for _, v := range vips {
		isVIP[v.Prefix.Addr()] = true
	}
	for _, a := range addrs {
		p, err := netip.ParsePrefix(a.String())
		if err != nil {
			continue
		}
		ip := p.Addr()
		if isVIP[ip] {
			continue
		}
		if !v6 && ip.Is4() {
			return ip, nil
		}
		if v6 && ip.Is6() && ip.IsLinkLocalUnicast() {
			return ip, nil
		}
	}
	fam := "IPv4"
	if v6 {
		fam = "IPv6 link-local"
	}
	return netip.Addr{}, fmt.Errorf("vrrp: interface %s: %w: no %s address", ifi.Name, errNoAddress, fam)
}
