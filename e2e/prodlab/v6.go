package prodlab

import (
	"fmt"
	"net"

	"github.com/moby/ipvs"
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

// VRID6 is the virtual_router_id of the IPv6 instance (VI6).
const VRID6 = 106

// Dir6Heartbeat is a director's IPv6 heartbeat destination as an agent's
// `directors` lists it: "[addr]:7480".
func Dir6Heartbeat(d string) string { return "[" + DirIPs6[d] + "]:7480" }

// AgentKeyFile6 is where the lab keeps the heartbeat key of the agent on
// real server rs for its IPv6 address (heartbeat.key_file6):
// <dir>/<rs>-ip6.key.
func AgentKeyFile6(dir, rs string) string { return AgentKeyFile(dir, rs+"-ip6") }

// Service6 is the IPv6 labs' IPVS service, [VIP6]:80 over TCP.
func Service6() *ipvs.Service {
	return &ipvs.Service{AddressFamily: unix.AF_INET6, Protocol: unix.IPPROTO_TCP, Address: net.ParseIP(VIP6), Port: 80, Netmask: 128}
}

// ServiceOf is the IPVS service vip:80 over TCP (VIP, VIP6 or another).
func ServiceOf(vip string) *ipvs.Service {
	ip := net.ParseIP(vip)
	if ip.To4() != nil {
		return &ipvs.Service{AddressFamily: unix.AF_INET, Protocol: unix.IPPROTO_TCP, Address: ip.To4(), Port: 80, Netmask: 0xffffffff}
	}
	return &ipvs.Service{AddressFamily: unix.AF_INET6, Protocol: unix.IPPROTO_TCP, Address: ip, Port: 80, Netmask: 128}
}

// DestsOf reads the destinations of svc through h by address (nil when
// the service is missing).
func DestsOf(h *ipvs.Handle, svc *ipvs.Service) map[string]ipvs.Destination {
	ds, err := h.GetDestinations(svc)
	if err != nil {
		return nil
	}
	out := map[string]ipvs.Destination{}
	for _, x := range ds {
		out[x.Address.String()] = *x
	}
	return out
}

// LabService is one virtual_server of a Pair: its VIP and its real
// servers' addresses by name.
type LabService struct {
	VIP  string
	RIPs map[string]string
}

// Services are the virtual_servers of a Pair of family f: VIP with RSIPs,
// VIP6 with RSIPs6, or both (the IPv4 one first).
func (f Family) Services() []LabService {
	v4 := LabService{VIP: VIP, RIPs: RSIPs}
	v6 := LabService{VIP: VIP6, RIPs: RSIPs6}
	switch f {
	case FamilyIPv6:
		return []LabService{v6}
	case FamilyDual:
		return []LabService{v4, v6}
	}
	return []LabService{v4}
}

// VIPs are the VIPs of family f, the IPv4 one first.
func (f Family) VIPs() []string {
	var out []string
	for _, s := range f.Services() {
		out = append(out, s.VIP)
	}
	return out
}
