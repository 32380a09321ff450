package config

import (
	"fmt"
	"net/netip"
	"time"
)

// global_defs keywords beyond the notification and sync-daemon ones of
// keepalived.go. Every other keyword of keepalived 2.2.7's global_defs is
// accepted with a warning that names it as having no effect (unknown).

// globalGARP are global_defs defaults of the instances' gratuitous ARP
// settings (vrrp_garp_master_*), applied in finish to every instance that
// does not set its own.
type globalGARP struct {
	delay, refresh   *time.Duration
	repeat, rrepeat  *int
	unset            []garpUnset
	strict, skipAddr Pos
}

// garpUnset says which GARP keywords instance i left out.
type garpUnset struct {
	i                               int
	delay, repeat, refresh, rrepeat bool
}

// globalExtras adds those keywords to the global_defs table.
func (p *kparser) globalExtras(table map[string]handler) {
	c := p.cfg
	g := &p.garp
	table["script_user"] = p.userArg(&c.ScriptUser, &c.ScriptGroup)
	table["enable_script_security"] = p.bareFlag(&c.ScriptSecurity, true)
	wholeSecs := func(dst **time.Duration, hi int) handler {
		return handler{fn: func(n *knode) {
			var d time.Duration
			p.wholeSecondsArg(&d, 0, hi).fn(n)
			*dst = &d
		}}
	}
	count := func(dst **int) handler {
		return handler{fn: func(n *knode) {
			v := -1
			p.intArg(&v, 1, 255).fn(n)
			if v > 0 {
				*dst = &v
			}
		}}
	}
	table["vrrp_garp_master_delay"] = wholeSecs(&g.delay, 3600)
	table["vrrp_garp_master_refresh"] = wholeSecs(&g.refresh, 86400)
	table["vrrp_garp_master_repeat"] = count(&g.repeat)
	table["vrrp_garp_master_refresh_repeat"] = count(&g.rrepeat)
	mcast := func(def string) handler {
		return handler{fn: func(n *knode) {
			if !p.args(n, 1, 1, n.kw+" ADDRESS") {
				return
			}
			a, err := netip.ParseAddr(n.args[0])
			if err != nil || !a.IsMulticast() {
				p.errf(n, "%q is not a multicast address", n.args[0])
				return
			}
			if a != netip.MustParseAddr(def) {
				p.errf(n, "%s: Tandem sends and receives VRRP on %s only (RFC 5798); peers on another group would not hear each other. "+
					"Use unicast_peer, or the default group", a, def)
				return
			}
		}}
	}
	table["vrrp_mcast_group4"] = mcast("224.0.0.18")
	table["vrrp_mcast_group6"] = mcast("ff02::12")
	table["vrrp_strict"] = handler{fn: func(n *knode) {
		if p.args(n, 0, 0, "vrrp_strict") {
			g.strict = n.pos
			p.warnf(n, "keepalived's strict mode also adds firewall rules that drop traffic to the VIPs (the reason VIPs stop answering ping with it); "+
				"Tandem adds none, and applies the strict mode's corrections to the instances (authentication and preempt_delay ignored, each with a warning)")
		}
	}}
	table["vrrp_skip_check_adv_addr"] = handler{fn: func(n *knode) {
		if p.args(n, 0, 1, "vrrp_skip_check_adv_addr") {
			g.skipAddr = n.pos
			p.warnf(n, "keepalived then accepts adverts whose address list differs from its own; Tandem checks the list of every advert and drops one that differs "+
				"(keep the virtual_ipaddress lists of both peers equal)")
		}
	}}
}

// rememberGARP records which GARP keywords an instance (about to be
// appended as number i) left out.
func (p *kparser) rememberGARP(n *knode, i int) {
	p.garp.unset = append(p.garp.unset, garpUnset{i: i,
		delay: !has(n, "garp_master_delay"), repeat: !has(n, "garp_master_repeat"),
		refresh: !has(n, "garp_master_refresh"), rrepeat: !has(n, "garp_master_refresh_repeat")})
}

// finishGlobal applies the global defaults and strict mode to the
// instances.
func (p *kparser) finishGlobal() {
	g := &p.garp
	for _, u := range g.unset {
		in := &p.cfg.VRRP[u.i]
		if u.delay && g.delay != nil {
			in.GARPMasterDelay = *g.delay
		}
		if u.repeat && g.repeat != nil {
			in.GARPMasterRepeat = *g.repeat
		}
		if u.refresh && g.refresh != nil {
			in.GARPMasterRefresh = *g.refresh
		}
		if u.rrepeat && g.rrepeat != nil {
			in.GARPMasterRefreshRepeat = *g.rrepeat
		}
	}
	if !g.strict.IsValid() {
		return
	}
	for i := range p.cfg.VRRP {
		in := &p.cfg.VRRP[i]
		w := fmt.Sprintf("vrrp_instance %q", in.Name)
		if in.Auth != nil {
			p.warnAt(in.Auth.Pos, "%s: keyword \"authentication\": vrrp_strict (at %s) does not allow authentication: keepalived ignores it, and so does Tandem", w, g.strict)
			in.Auth = nil
		}
		if in.PreemptDelay != 0 {
			p.warnAt(in.Pos, "%s: keyword \"preempt_delay\": vrrp_strict (at %s) does not allow it: keepalived resets it, and so does Tandem", w, g.strict)
			in.PreemptDelay = 0
		}
	}
}
