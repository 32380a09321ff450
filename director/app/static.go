package app

import (
	"errors"
	"fmt"
	"slices"

	"github.com/vishvananda/netns"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/vrrp"
)

// static_ipaddress, static_routes and static_rules: keepalived keeps them
// on the host whatever the VRRP state. Tandem does the same:
//
//   - at start they are added (replaced when present: idempotent), before
//     any VRRP instance starts;
//   - a reload that changes them (Changes.Static) removes what is gone and
//     adds (replaces) what the new file lists, leaving alone what both list;
//   - at stop they are removed, rules first, then routes, then addresses:
//     keepalived 2.2.7 does that in stop_vrrp ("Clear static entries":
//     netlink_rulelist(static_rules, IPRULE_DEL), netlink_rtlist(
//     static_routes, IPROUTE_DEL), netlink_iplist(static_addresses,
//     IPADDRESS_DEL)), so a host that relies on them after the daemon is
//     gone must configure them elsewhere (ifupdown, networkd), as with
//     keepalived.

// StaticNet puts the static addresses, routes and rules on the host and
// takes them off. vrrp.NetlinkAddrs and vrrp.NetlinkRoutes are the real
// ones (netlinkStatic); tests use a recording fake.
type StaticNet interface {
	vrrp.AddrManager
	vrrp.RouteManager
}

// netlinkStatic is StaticNet through netlink.
type netlinkStatic struct {
	*vrrp.NetlinkAddrs
	*vrrp.NetlinkRoutes
}

// openStatic opens the netlink handles in ns (the current namespace when
// ns is not open), as the VRRP drivers open theirs.
func openStatic(ns netns.NsHandle) (*netlinkStatic, error) {
	a, err := vrrp.NewNetlinkAddrs(ns)
	if err != nil {
		return nil, err
	}
	r, err := vrrp.NewNetlinkRoutes(ns)
	if err != nil {
		a.Close()
		return nil, err
	}
	return &netlinkStatic{a, r}, nil
}

func (n *netlinkStatic) Close() {
	n.NetlinkAddrs.Close()
	n.NetlinkRoutes.Close()
}

// staticSet is the static configuration as the kernel edge takes it.
type staticSet struct {
	addrs  []vrrp.VIP
	routes []vrrp.Route
	rules  []vrrp.Rule
}

func staticOf(s config.Static) staticSet {
	var out staticSet
	for _, v := range s.Addresses {
		out.addrs = append(out.addrs, vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label, Broadcast: v.Broadcast, Deprecated: v.Deprecated})
	}
	for _, r := range s.Routes {
		out.routes = append(out.routes, RouteOf(r))
	}
	for _, r := range s.Rules {
		out.rules = append(out.rules, RuleOf(r))
	}
	return out
}

func (s staticSet) empty() bool { return len(s.addrs)+len(s.routes)+len(s.rules) == 0 }

// minus returns what s has and o has not.
func (s staticSet) minus(o staticSet) staticSet {
	var out staticSet
	for _, v := range s.addrs {
		if !slices.Contains(o.addrs, v) {
			out.addrs = append(out.addrs, v)
		}
	}
	for _, r := range s.routes {
		if !slices.Contains(o.routes, r) {
			out.routes = append(out.routes, r)
		}
	}
	for _, r := range s.rules {
		if !slices.Contains(o.rules, r) {
			out.rules = append(out.rules, r)
		}
	}
	return out
}

// staticNet returns the kernel edge, opened on first use.
func (a *App) staticNet() (StaticNet, error) {
	if a.static != nil {
		return a.static, nil
	}
	if a.opts.Static != nil {
		a.static = a.opts.Static
		return a.static, nil
	}
	n, err := openStatic(0)
	if err != nil {
		return nil, err
	}
	a.static, a.staticClose = n, n.Close
	return n, nil
}

// applyStatic installs want after removing what was installed and is no
// longer wanted. Errors are logged and kept for status; they do not stop
// the director (keepalived logs them too).
func (a *App) applyStatic(want staticSet) {
	gone := a.staticIn.minus(want)
	if want.empty() && gone.empty() {
		return
	}
	n, err := a.staticNet()
	if err != nil {
		a.setStaticErr(fmt.Errorf("static addresses, routes and rules: netlink: %w", err))
		return
	}
	var errs []error
	if !gone.empty() {
		errs = append(errs, n.RemoveRoutes(gone.routes, gone.rules), n.RemoveVIPs(gone.addrs))
	}
	if len(want.addrs) > 0 {
		errs = append(errs, n.AddVIPs(want.addrs))
	}
	if len(want.routes)+len(want.rules) > 0 {
		errs = append(errs, n.AddRoutes(want.routes, want.rules))
	}
	a.staticIn = want
	a.setStaticErr(errors.Join(errs...))
	if a.staticErr == nil {
		a.log.Info("static addresses, routes and rules in place", "addresses", len(want.addrs), "routes", len(want.routes), "rules", len(want.rules),
			"removed", len(gone.addrs)+len(gone.routes)+len(gone.rules))
	}
}

func (a *App) setStaticErr(err error) {
	if a.staticErr != nil {
		a.unwarn(a.staticErr.Error())
	}
	a.staticErr = err
	if err != nil {
		a.warn(err.Error())
	}
}

// removeStatic takes the static entries off at stop, as keepalived does.
func (a *App) removeStatic() {
	if a.staticIn.empty() || a.static == nil {
		if a.staticClose != nil {
			a.staticClose()
		}
		return
	}
	s := a.staticIn
	err := errors.Join(a.static.RemoveRoutes(s.routes, s.rules), a.static.RemoveVIPs(s.addrs))
	if err != nil {
		a.log.Error("static addresses, routes and rules: removing at stop", "err", err)
	} else {
		a.log.Info("static addresses, routes and rules removed at stop (as keepalived)", "addresses", len(s.addrs), "routes", len(s.routes), "rules", len(s.rules))
	}
	a.staticIn = staticSet{}
	if a.staticClose != nil {
		a.staticClose()
		a.staticClose = nil
	}
}
