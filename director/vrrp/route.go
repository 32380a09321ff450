package vrrp

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// RouteManager installs an instance's virtual_routes and virtual_rules and
// removes them. Add puts the routes first, then the rules; Remove takes the
// rules off first, then the routes. Both are idempotent, like AddrManager.
type RouteManager interface {
	AddRoutes(routes []Route, rules []Rule) error
	RemoveRoutes(routes []Route, rules []Rule) error
}

// NetlinkRoutes is the RouteManager of the kernel, through netlink.
type NetlinkRoutes struct {
	h *netlink.Handle
}

// NewNetlinkRoutes opens a netlink handle in ns (the current namespace when
// ns is not open).
func NewNetlinkRoutes(ns netns.NsHandle) (*NetlinkRoutes, error) {
	h, err := openHandle(ns)
	if err != nil {
		return nil, err
	}
	return &NetlinkRoutes{h: h}, nil
}

// Close releases the netlink handle.
func (n *NetlinkRoutes) Close() { n.h.Close() }

func ipNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func ipOrNil(a netip.Addr) net.IP {
	if !a.IsValid() {
		return nil
	}
	return a.AsSlice()
}

func family(v6 bool) int {
	if v6 {
		return unix.AF_INET6
	}
	return unix.AF_INET
}

// String renders r as an `ip route` line.
func (r Route) String() string {
	s := r.Dst.String()
	if r.Type != RouteUnicast {
		s = r.Type.String() + " " + s
	}
	if r.Via.IsValid() {
		s += " via " + r.Via.String()
	}
	if r.Dev != "" {
		s += " dev " + r.Dev
	}
	if r.Src.IsValid() {
		s += " src " + r.Src.String()
	}
	if r.Table != 0 {
		s += fmt.Sprintf(" table %d", r.Table)
	}
	if r.Metric != 0 {
		s += fmt.Sprintf(" metric %d", r.Metric)
	}
	return s
}

// String renders r as an `ip rule` line.
func (r Rule) String() string {
	s := "from all"
	if r.From.IsValid() {
		s = "from " + r.From.String()
	}
	if r.To.IsValid() {
		s += " to " + r.To.String()
	}
	if r.IIF != "" {
		s += " iif " + r.IIF
	}
	if r.OIF != "" {
		s += " oif " + r.OIF
	}
	if r.FWMark != 0 || r.FWMask != 0 {
		s += fmt.Sprintf(" fwmark %#x", r.FWMark)
		if r.FWMask != 0 {
			s += fmt.Sprintf("/%#x", r.FWMask)
		}
	}
	if r.Priority != 0 {
		s += fmt.Sprintf(" priority %d", r.Priority)
	}
	return s + fmt.Sprintf(" table %d", r.Table)
}

// netlinkRoute maps r onto a netlink.Route (as `ip route` would build it).
func (n *NetlinkRoutes) netlinkRoute(r Route) (*netlink.Route, error) {
	nr := &netlink.Route{
		Dst: ipNet(r.Dst), Gw: ipOrNil(r.Via), Src: ipOrNil(r.Src),
		Table: r.Table, Priority: r.Metric, Family: family(r.Dst.Addr().Is6()),
		// As keepalived: "proto keepalived" in `ip route`.
		Protocol: unix.RTPROT_KEEPALIVED,
	}
	if r.Dev != "" {
		link, err := n.h.LinkByName(r.Dev)
		if err != nil {
			return nil, fmt.Errorf("dev %s: %w", r.Dev, err)
		}
		nr.LinkIndex = link.Attrs().Index
	}
	switch r.Type {
	case RouteBlackhole:
		nr.Type = unix.RTN_BLACKHOLE
	case RouteUnreachable:
		nr.Type = unix.RTN_UNREACHABLE
	case RouteProhibit:
		nr.Type = unix.RTN_PROHIBIT
	default:
		nr.Type = unix.RTN_UNICAST
	}
	switch r.Scope {
	case ScopeGlobal:
		nr.Scope = netlink.SCOPE_UNIVERSE
	case ScopeSite:
		nr.Scope = netlink.SCOPE_SITE
	case ScopeLink:
		nr.Scope = netlink.SCOPE_LINK
	case ScopeHost:
		nr.Scope = netlink.SCOPE_HOST
	case ScopeNowhere:
		nr.Scope = netlink.SCOPE_NOWHERE
	default:
		// Scope global (universe), as keepalived adds a route without
		// "scope", also through a device without a gateway (ip(8) would
		// make that one scope link).
	}
	return nr, nil
}

// netlinkRule maps r onto a netlink.Rule (as `ip rule` would build it).
func netlinkRule(r Rule) *netlink.Rule {
	nr := netlink.NewRule()
	nr.Protocol = unix.RTPROT_KEEPALIVED // as keepalived
	nr.Family = family(r.IPv6)
	nr.Table = r.Table
	if r.From.IsValid() {
		nr.Src = ipNet(r.From)
	}
	if r.To.IsValid() {
		nr.Dst = ipNet(r.To)
	}
	nr.IifName, nr.OifName = r.IIF, r.OIF
	if r.FWMark != 0 || r.FWMask != 0 {
		nr.Mark = r.FWMark
		if r.FWMask != 0 {
			m := r.FWMask
			nr.Mask = &m
		}
	}
	if r.Priority != 0 {
		nr.Priority = r.Priority
	}
	return nr
}

func absent(err error) bool {
	return errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EADDRNOTAVAIL)
}

// AddRoutes replaces each route (present is fine), then adds each rule
// (an identical rule already there is fine).
func (n *NetlinkRoutes) AddRoutes(routes []Route, rules []Rule) error {
	var errs []error
	for _, r := range routes {
		nr, err := n.netlinkRoute(r)
		if err == nil {
			err = n.h.RouteReplace(nr)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("vrrp: add route %s: %w", r, err))
		}
	}
	for _, r := range rules {
		if err := n.h.RuleAdd(netlinkRule(r)); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("vrrp: add rule %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}

// RemoveRoutes deletes each rule, then each route; absent ones are
// skipped.
func (n *NetlinkRoutes) RemoveRoutes(routes []Route, rules []Rule) error {
	var errs []error
	for _, r := range rules {
		if err := n.h.RuleDel(netlinkRule(r)); err != nil && !absent(err) {
			errs = append(errs, fmt.Errorf("vrrp: remove rule %s: %w", r, err))
		}
	}
	for _, r := range routes {
		nr, err := n.netlinkRoute(r)
		if err == nil {
			err = n.h.RouteDel(nr)
		}
		if err != nil && !absent(err) {
			errs = append(errs, fmt.Errorf("vrrp: remove route %s: %w", r, err))
		}
	}
	return errors.Join(errs...)
}
