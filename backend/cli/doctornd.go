package cli

import (
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/backend/config"
	doctorpkg "github.com/tandemlb/tandem/shared/doctor"
)

// ndFacts is what decides whether the kernel would answer neighbour
// solicitations for an IPv6 VIP on lo: only a proxy entry for it on the
// interface, with proxy_ndp and forwarding (Linux answers otherwise only
// for addresses of the receiving interface, and never uses lo's addresses
// as the source of its solicitations on another interface).
type ndFacts struct {
	Iface      string
	Forwarding bool // net.ipv6.conf.IFACE.forwarding
	ProxyNDP   bool // net.ipv6.conf.{all,IFACE}.proxy_ndp
	Proxied    map[netip.Addr]bool
	NFTables   bool // the agent's ip6 table guards the VIPs
	Table      string
}

// ndFindings are doctor's "nd" lines, one per IPv6 VIP.
func ndFindings(d *doctor, vips []netip.Addr, f ndFacts) {
	for _, v := range vips {
		if !v.Is6() || v.Is4In6() {
			continue
		}
		answers := f.Proxied[v] && f.ProxyNDP && f.Forwarding
		switch {
		case answers && f.NFTables:
			d.Add(doctorpkg.Warn, "nd", "%s has a proxy neighbour entry on %s with proxy_ndp and forwarding on: the kernel answers solicitations for it; "+
				"table ip6 %s drops them, but remove the entry (`ip -6 neigh del proxy %s dev %s`)", v, f.Iface, f.Table, v, f.Iface)
		case answers:
			d.Add(doctorpkg.Fail, "nd", "%s has a proxy neighbour entry on %s with proxy_ndp and forwarding on: this host answers neighbour solicitations for the VIP "+
				"and steals its traffic; remove the entry (`ip -6 neigh del proxy %s dev %s`) or use arp_mode nftables (table ip6 %s drops them)", v, f.Iface, v, f.Iface, f.Table)
		case f.NFTables:
			d.Add(doctorpkg.OK, "nd", "%s: the kernel answers solicitations only for addresses of %s (the VIP is on lo, no proxy entry); table ip6 %s drops any NS in and NA out for it", v, f.Iface, f.Table)
		default:
			d.Add(doctorpkg.OK, "nd", "%s: the kernel answers solicitations only for addresses of %s (the VIP is on lo, no proxy entry)", v, f.Iface)
		}
	}
}

// readNDFacts reads ndFacts for iface from /proc/sys and netlink.
func readNDFacts(nl *netlink.Handle, cfg *config.Config, iface string) ndFacts {
	f := ndFacts{Iface: iface, Proxied: map[netip.Addr]bool{}, NFTables: cfg.ARPMode.UsesNFTables(), Table: cfg.NFTTable}
	fwd, _ := readSysctl("net/ipv6/conf/" + iface + "/forwarding")
	pn, _ := readSysctl("net/ipv6/conf/" + iface + "/proxy_ndp")
	pnAll, _ := readSysctl("net/ipv6/conf/all/proxy_ndp")
	f.Forwarding, f.ProxyNDP = fwd != 0, pn != 0 || pnAll != 0
	if l, err := nl.LinkByName(iface); err == nil {
		ns, _ := nl.NeighProxyList(l.Attrs().Index, netlink.FAMILY_V6)
		for _, n := range ns {
			if a, ok := netip.AddrFromSlice(n.IP); ok && n.IP.To4() == nil && !n.IP.Equal(net.IPv6unspecified) {
				f.Proxied[a] = true
			}
		}
	}
	return f
}
