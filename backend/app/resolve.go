package app

import (
	"errors"
	"fmt"
	"net/netip"
	"os"

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
}

// Resolve fills in the node name, interface and real IP the configuration
// left to defaults: the host name, the interface of the IPv4 default route,
// and that route's preferred source or the interface's first global IPv4
// address. An explicit real_ip must be on the interface.
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
	return h, nil
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}
