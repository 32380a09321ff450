package prodlab

import (
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/e2e/netlab"
)

// IPv6 addresses of the lab (RFC 3849 documentation prefix, inside its
// namespaces only), used by the IPv6 and dual-stack labs
// (PairOptions.Family): each host keeps its IPv4 address and gains the
// one of the same last byte in 2001:db8:99::/64.
const (
	VIP6       = "2001:db8:99::100"
	ClientIP6  = "2001:db8:99::10"
	SorryIP6   = "2001:db8:99::99"
	Prefix6Len = 64
)

// IPv6 addresses of the directors and real servers.
var (
	DirIPs6 = map[string]string{"dir1": "2001:db8:99::2", "dir2": "2001:db8:99::3"}
	RSIPs6  = map[string]string{"rs1": "2001:db8:99::11", "rs2": "2001:db8:99::12"}
)

// Family says which address families a Pair's service has.
type Family int

// The lab families.
const (
	// FamilyIPv4 is the seed's lab: IPv4 only, IPv6 disabled (the default).
	FamilyIPv4 Family = iota
	// FamilyIPv6 serves VIP6 only: one VRRP v3 instance over IPv6, the
	// virtual_server [VIP6]:80 with the real servers' IPv6 addresses, the
	// agents' heartbeats to the directors' IPv6 addresses, the fast
	// failover probe over IPv6 (every instance is IPv6).
	FamilyIPv6
	// FamilyDual serves the same name on VIP and VIP6: the seed's IPv4
	// instance and service plus an IPv6 instance (VI6) and service, both
	// instances in one vrrp_sync_group so that they move together.
	FamilyDual
)

func (f Family) String() string {
	switch f {
	case FamilyIPv6:
		return "ipv6"
	case FamilyDual:
		return "dual"
	}
	return "ipv4"
}

// AddAddr6 puts addr/Prefix6Len on a host's eth0 without duplicate address
// detection (the lab's own addresses; the real servers' VIPs go through
// whatever DAD setting a test gives them), so it is usable at once.
func AddAddr6(nl *netlab.Lab, host, addr string) error {
	h, err := nl.Netlink(host)
	if err != nil {
		return err
	}
	l, err := h.LinkByName("eth0")
	if err != nil {
		return fmt.Errorf("%s: %w", host, err)
	}
	ip := net.ParseIP(addr)
	if ip == nil || ip.To4() != nil {
		return fmt.Errorf("%s: %q is not an IPv6 address", host, addr)
	}
	a := &netlink.Addr{IPNet: &net.IPNet{IP: ip, Mask: net.CIDRMask(Prefix6Len, 128)}, Flags: unix.IFA_F_NODAD}
	if err := h.AddrReplace(l, a); err != nil {
		return fmt.Errorf("%s: address %s on eth0: %w", host, addr, err)
	}
	return nil
}

// HasAddrOn reports whether the namespace of h holds ip (either family)
// on link, and not as a tentative (DAD pending) or failed address.
func HasAddrOn(h *netlink.Handle, link, ip string) bool {
	l, err := h.LinkByName(link)
	if err != nil {
		return false
	}
	addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
	if err != nil {
		return false
	}
	want := net.ParseIP(ip)
	for _, a := range addrs {
		if a.IP.Equal(want) && a.Flags&(unix.IFA_F_TENTATIVE|unix.IFA_F_DADFAILED) == 0 {
			return true
		}
	}
	return false
}
