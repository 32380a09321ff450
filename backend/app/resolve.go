package app

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/backend/config"
)

// Host is what the daemon derives from the configuration and the host.
type Host struct {
	// Node is the node name in heartbeats.
	Node string `json:"node"`
	// Interface faces the directors.
	Interface string `json:"interface"`
	// RealIP is the ARP sender and the address the directors know.
	RealIP netip.Addr `json:"real_ip"`
	// RealIP6 is this host's own IPv6 address on Interface, the address
	// its IPv6 real servers are known by and reports to the IPv6 directors
	// leave from; zero when there is none to speak for.
	RealIP6 netip.Addr `json:"real_ip6,omitzero"`
}

// Resolve fills in the node name, interface and real IP the configuration
// left to defaults: the host name, the interface of the IPv4 default route,
// and that route's preferred source or the interface's first global IPv4
// address. An explicit real_ip must be on the interface.
//
// The IPv6 identity, real_ip6, is resolved when it is set, or when a VIP
// or a director is IPv6: an explicit one must be on the interface; else it
// is the interface's one global, non-temporary, non-deprecated IPv6
// address that is not a VIP. When there is none, or more than one, that is
// an error only if an IPv6 director is listed (the reports to it must
// leave from it); else RealIP6 stays unset.
func Resolve(cfg *config.Config, nl Netlink) (Host, error) {
	h := Host{Node: cfg.Node, Interface: cfg.Interface, RealIP: cfg.RealIP}
	if h.Node == "" {
		name, err := os.Hostname()
		if err != nil {
			return h, fmt.Errorf("node name: %w", err)
		}
		h.Node = name
	}
	var routeSrc netip.Addr
	if h.Interface == "" {
		routes, err := nl.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return h, fmt.Errorf("interface: list routes: %w", err)
		}
		for _, r := range routes {
			if r.Dst != nil {
				if ones, _ := r.Dst.Mask.Size(); ones != 0 {
					continue
				}
			}
			link, err := nl.LinkByIndex(r.LinkIndex)
			if err != nil {
				continue
			}
			h.Interface = link.Attrs().Name
			if a, ok := netip.AddrFromSlice(r.Src); ok {
				routeSrc = a.Unmap()
			}
			break
		}
		if h.Interface == "" {
			return h, fmt.Errorf("%s: key \"interface\": not set and there is no IPv4 default route to derive it from", cfg.File)
		}
	}
	link, err := nl.LinkByName(h.Interface)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return h, fmt.Errorf("%s: key \"interface\": there is no interface %q on this host", cfg.At("interface"), h.Interface)
		}
		return h, fmt.Errorf("%s: key \"interface\": %q: %w", cfg.At("interface"), h.Interface, err)
	}
	addrs, err := nl.AddrList(link, netlink.FAMILY_V4)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return h, fmt.Errorf("interface %s: list addresses: %w", h.Interface, err)
	}
	var onIface []netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if ok && a.Scope == unix.RT_SCOPE_UNIVERSE {
			onIface = append(onIface, ip.Unmap())
		}
	}
	has := func(x netip.Addr) bool {
		for _, a := range onIface {
			if a == x {
				return true
			}
		}
		return false
	}
	switch {
	case h.RealIP.IsValid():
		if !has(h.RealIP) {
			return h, fmt.Errorf("%s: key \"real_ip\": %s is not an address of %s", cfg.At("real_ip"), h.RealIP, h.Interface)
		}
	case routeSrc.IsValid() && has(routeSrc):
		h.RealIP = routeSrc
	case len(onIface) > 0:
		for _, a := range onIface {
			if !containsAddr(cfg.VIPs, a) {
				h.RealIP = a
				break
			}
		}
	}
	if !h.RealIP.IsValid() {
		return h, fmt.Errorf("%s: key \"real_ip\": not set and %s has no global IPv4 address", cfg.File, h.Interface)
	}
	if containsAddr(cfg.VIPs, h.RealIP) {
		return h, fmt.Errorf("%s: key \"real_ip\": %s is also a VIP", cfg.At("real_ip"), h.RealIP)
	}
	if cfg.RealIP6.IsValid() || cfg.HasIPv6VIPs() || cfg.HasIPv6Directors() {
		ip6, err := ResolveIPv6(cfg, nl, link)
		if err != nil && (cfg.RealIP6.IsValid() || cfg.HasIPv6Directors()) {
			return h, err
		}
		h.RealIP6 = ip6
	}
	return h, nil
}

// ResolveIPv6 returns the IPv6 identity on link (the configured
// interface): real_ip6 when set, if it is an address of link and no VIP;
// else link's one global IPv6 address that is neither temporary (privacy
// extensions), deprecated, failed duplicate address detection, nor a VIP.
// Its error says why there is none.
func ResolveIPv6(cfg *config.Config, nl Netlink, link netlink.Link) (netip.Addr, error) {
	name := link.Attrs().Name
	addrs, err := nl.AddrList(link, netlink.FAMILY_V6)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return netip.Addr{}, fmt.Errorf("interface %s: list IPv6 addresses: %w", name, err)
	}
	var all, candidates []netip.Addr
	for _, a := range addrs {
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok || a.Scope != unix.RT_SCOPE_UNIVERSE || !ip.Is6() || ip.Is4In6() {
			continue
		}
		all = append(all, ip)
		if a.Flags&(unix.IFA_F_TEMPORARY|unix.IFA_F_DEPRECATED|unix.IFA_F_DADFAILED) == 0 && !containsAddr(cfg.VIPs, ip) {
			candidates = append(candidates, ip)
		}
	}
	if ip := cfg.RealIP6; ip.IsValid() {
		switch {
		case !containsAddr(all, ip):
			return netip.Addr{}, fmt.Errorf("%s: key \"real_ip6\": %s is not an address of %s", cfg.At("real_ip6"), ip, name)
		case containsAddr(cfg.VIPs, ip):
			return netip.Addr{}, fmt.Errorf("%s: key \"real_ip6\": %s is also a VIP", cfg.At("real_ip6"), ip)
		}
		return ip, nil
	}
	switch len(candidates) {
	case 1:
		return candidates[0], nil
	case 0:
		return netip.Addr{}, fmt.Errorf("%s: key \"real_ip6\": not set and %s has no global, non-temporary, non-deprecated IPv6 address: "+
			"add one, or set real_ip6", cfg.File, name)
	}
	list := make([]string, len(candidates))
	for i, c := range candidates {
		list[i] = c.String()
	}
	return netip.Addr{}, fmt.Errorf("%s: key \"real_ip6\": not set and %s has %d global IPv6 addresses (%s): "+
		"set real_ip6 to the one the directors know this server by", cfg.File, name, len(candidates), strings.Join(list, ", "))
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}
