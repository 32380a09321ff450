package vrrp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
	"github.com/mdlayher/packet"
	"golang.org/x/net/bpf"
	"golang.org/x/net/ipv6"
)

// Announcer tells the link that the VIPs are here now: gratuitous ARP for
// IPv4 VIPs, unsolicited neighbour advertisements for IPv6 ones, repeat
// times each.
type Announcer interface {
	Announce(vips []VIP, repeat int) error
}

// L2Announcer is the Announcer of the kernel: mdlayher/arp for ARP and a raw
// ICMPv6 socket for neighbour advertisements, one per interface.
type L2Announcer struct {
	arp map[string]*arp.Client
	na  map[string]*naSender
	hw  map[string]net.HardwareAddr
}

// dropAll is a socket filter that accepts nothing: the ARP socket is only
// written to, and must not queue every ARP frame of the link.
var dropAll = func() []bpf.RawInstruction {
	r, _ := bpf.Assemble([]bpf.Instruction{bpf.RetConstant{Val: 0}})
	return r
}()

// NewL2Announcer opens the sockets for the Devs of vips. It must run in
// the namespace of the interfaces (the driver does that).
func NewL2Announcer(vips []VIP) (*L2Announcer, error) {
	a := &L2Announcer{arp: map[string]*arp.Client{}, na: map[string]*naSender{}, hw: map[string]net.HardwareAddr{}}
	for _, v := range vips {
		v6 := v.Prefix.Addr().Is6()
		if (!v6 && a.arp[v.Dev] != nil) || (v6 && a.na[v.Dev] != nil) {
			continue
		}
		ifi, err := net.InterfaceByName(v.Dev)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("vrrp: announce on %s: %w", v.Dev, err)
		}
		if len(ifi.HardwareAddr) != 6 {
			a.Close()
			return nil, fmt.Errorf("vrrp: announce on %s: not an Ethernet interface", v.Dev)
		}
		a.hw[v.Dev] = ifi.HardwareAddr
		if v6 {
			s, err := openNA(ifi)
			if err != nil {
				a.Close()
				return nil, err
			}
			a.na[v.Dev] = s
			continue
		}
		p, err := packet.Listen(ifi, packet.Raw, int(ethernet.EtherTypeARP), &packet.Config{Filter: dropAll})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("vrrp: ARP socket on %s: %w", v.Dev, err)
		}
		c, err := arp.New(ifi, p)
		if err != nil {
			p.Close()
			a.Close()
			return nil, fmt.Errorf("vrrp: ARP client on %s: %w", v.Dev, err)
		}
		a.arp[v.Dev] = c
	}
	return a, nil
}

// Close closes every socket.
func (a *L2Announcer) Close() {
	for _, c := range a.arp {
		c.Close()
	}
	for _, s := range a.na {
		s.pc.Close()
	}
}

// Announce sends repeat rounds of announcements for every VIP.
func (a *L2Announcer) Announce(vips []VIP, repeat int) error {
	var errs []error
	for range repeat {
		for _, v := range vips {
			ip := v.Prefix.Addr()
			if ip.Is6() {
				if s := a.na[v.Dev]; s != nil {
					if err := s.send(ip, a.hw[v.Dev]); err != nil {
						errs = append(errs, fmt.Errorf("vrrp: neighbour advertisement for %s on %s: %w", ip, v.Dev, err))
					}
				}
				continue
			}
			c := a.arp[v.Dev]
			if c == nil {
				continue
			}
			// Always a freshly built packet: never marshal a parsed one.
			p, err := arp.NewPacket(arp.OperationRequest, a.hw[v.Dev], ip, ethernet.Broadcast, ip)
			if err == nil {
				err = c.WriteTo(p, ethernet.Broadcast)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("vrrp: gratuitous ARP for %s on %s: %w", ip, v.Dev, err))
			}
		}
	}
	return errors.Join(errs...)
}

// naSender sends unsolicited neighbour advertisements (RFC 4861 §7.2.6).
type naSender struct {
	pc  *ipv6.PacketConn
	ifi *net.Interface
}

var allNodes = netip.MustParseAddr("ff02::1")

func openNA(ifi *net.Interface) (*naSender, error) {
	lc := bindToDevice(ifi.Name, false)
	c, err := lc.ListenPacket(context.Background(), "ip6:ipv6-icmp", "::")
	if err != nil {
		return nil, fmt.Errorf("vrrp: ICMPv6 socket on %s: %w", ifi.Name, err)
	}
	pc := ipv6.NewPacketConn(c)
	var f ipv6.ICMPFilter
	f.SetAll(true) // receive nothing: send only
	if err := pc.SetICMPFilter(&f); err != nil {
		c.Close()
		return nil, fmt.Errorf("vrrp: ICMPv6 filter on %s: %w", ifi.Name, err)
	}
	return &naSender{pc: pc, ifi: ifi}, nil
}

// naMessage builds a neighbour advertisement for target with the override
// flag and the target link-layer address option. The kernel fills the
// ICMPv6 checksum.
func naMessage(target netip.Addr, hw net.HardwareAddr) []byte {
	b := make([]byte, 32)
	b[0] = 136 // neighbour advertisement
	binary.BigEndian.PutUint32(b[4:8], 1<<29)
	t := target.As16()
	copy(b[8:24], t[:])
	b[24], b[25] = 2, 1 // target link-layer address, 8 bytes
	copy(b[26:32], hw)
	return b
}

func (s *naSender) send(target netip.Addr, hw net.HardwareAddr) error {
	cm := &ipv6.ControlMessage{HopLimit: 255, IfIndex: s.ifi.Index, Src: target.AsSlice()}
	_, err := s.pc.WriteTo(naMessage(target, hw), cm, &net.IPAddr{IP: allNodes.AsSlice(), Zone: s.ifi.Name})
	return err
}
