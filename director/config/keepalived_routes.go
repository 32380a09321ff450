package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Addresses, routes and rules in keepalived.conf: virtual_ipaddress,
// virtual_ipaddress_excluded and static_ipaddress lines (ip-address(8)
// options), virtual_routes and static_routes (ip-route(8)), virtual_rules
// and static_rules (ip-rule(8)).

// vipOptionsIgnored are the ip-address options keepalived takes on an
// address line that Tandem does not apply: the option and whether it has
// a value.
var vipOptionsIgnored = map[string]bool{
	"scope": true, "peer": true,
	"track_group": true, "home": false, "-nodad": false, "nodad": false, "noprefixroute": false,
	"autojoin": false, "no_track": false,
}

// addressLine parses an address line for the keepalived reader: the
// options Tandem applies (dev, label) as parseVIP does; the others
// keepalived knows are warnings and skipped.
func (p *kparser) addressLine(c *knode, kw string, words []string) (VirtualIP, bool) {
	var keep []string
	for i := 0; i < len(words); i++ {
		w := words[i]
		hasValue, ignored := vipOptionsIgnored[w]
		if i == 0 || !ignored {
			keep = append(keep, w)
			continue
		}
		what := w
		if hasValue && i+1 < len(words) {
			what += " " + words[i+1]
			i++
		}
		p.warnAt(c.pos, "keyword %q: option %q of %s: keepalived applies it; Tandem adds the address without it", kw, what, words[0])
	}
	v, m := parseVIP(keep)
	if m != "" {
		p.errs.add(c.pos, "keyword %q: %s", kw, m)
		return v, false
	}
	v.Pos = c.pos
	return v, true
}

// addressList handles a block of address lines into dst.
func (p *kparser) addressList(kw string, dst *[]VirtualIP) handler {
	return p.listBlock(func(c *knode, w []string) {
		if v, ok := p.addressLine(c, kw, w); ok {
			*dst = append(*dst, v)
		}
	})
}

// routeTypes are the route types Tandem adds (besides unicast).
var routeTypes = map[string]bool{"blackhole": true, "unreachable": true, "prohibit": true, "throw": true}

// routeLine parses one virtual_routes or static_routes line.
func (p *kparser) routeLine(c *knode, kw string, w []string) (Route, bool) {
	r := Route{Pos: c.pos}
	bad := func(format string, args ...any) (Route, bool) {
		p.errs.add(c.pos, "keyword %q: %s", kw, fmt.Sprintf(format, args...))
		return r, false
	}
	value := func(i int) (string, bool) {
		if i+1 >= len(w) {
			return "", false
		}
		return w[i+1], true
	}
	dstSet, defaultDst := false, false
	for i := 0; i < len(w); i++ {
		opt := w[i]
		switch {
		case routeTypes[opt] && i == 0:
			r.Type = opt
			continue
		case opt == "unicast" && i == 0:
			continue
		}
		switch opt {
		case "src", "to", "via", "gw", "dev", "oif", "table", "metric", "priority", "preference", "scope", "proto", "protocol",
			"mtu", "advmss", "realms", "tos", "dsfield", "rtt", "rttvar", "window", "cwnd", "ssthresh", "initcwnd", "initrwnd", "features",
			"quickack", "pref", "congctl", "hoplimit", "track_group", "reordering", "rto_min", "fastopen_no_cookie", "expires", "encap",
			"nexthop", "or":
			v, ok := value(i)
			if !ok {
				return bad("option %q needs a value", opt)
			}
			i++
			switch opt {
			case "src":
				a, m := parseAddr(v)
				if m != "" {
					return bad("src %s", m)
				}
				r.Src = a
			case "to":
				pf, m := parseRoutePrefix(v)
				if m != "" {
					return bad("to %s", m)
				}
				r.Dst, dstSet = pf, true
			case "via", "gw":
				a, m := parseAddr(v)
				if m != "" {
					return bad("via %s", m)
				}
				r.Via = a
			case "dev", "oif":
				if m := msgIfName(v); m != "" {
					return bad("dev %s", m)
				}
				r.Dev = v
			case "table":
				t, m := parseTable(v)
				if m != "" {
					return bad("table %s", m)
				}
				r.Table = t
			case "metric", "priority", "preference":
				n, m := parseInt(v, 0, 1<<31-1)
				if m != "" {
					return bad("metric %s", m)
				}
				r.Metric = n
			case "scope":
				switch v {
				case "global", "universe", "link", "host", "nowhere", "site":
					r.Scope = v
				default:
					return bad("scope %q is not global, link, host or nowhere", v)
				}
			default:
				p.warnAt(c.pos, "keyword %q: route option %q: keepalived applies it; Tandem adds the route without it", kw, opt+" "+v)
			}
		case "onlink", "no_track", "pervasive", "blackhole", "unreachable", "prohibit", "throw", "lock":
			if routeTypes[opt] {
				return bad("the route type %q must come first", opt)
			}
			p.warnAt(c.pos, "keyword %q: route option %q: keepalived applies it; Tandem adds the route without it", kw, opt)
		default:
			if dstSet {
				return bad("%q: unknown route option", opt)
			}
			if opt == "default" {
				// The family comes from via or src, which may follow.
				defaultDst, dstSet = true, true
				continue
			}
			pf, m := parseRoutePrefix(opt)
			if m != "" {
				return bad("%s", m)
			}
			r.Dst, dstSet = pf, true
		}
	}
	if !dstSet {
		return bad("no destination (want [TYPE] PREFIX [via ADDR] [dev DEV] ...)")
	}
	if defaultDst {
		r.Dst = netip.MustParsePrefix("0.0.0.0/0")
		if r.Via.Is6() || r.Src.Is6() {
			r.Dst = netip.MustParsePrefix("::/0")
		}
	}
	if r.Type == "" && !r.Via.IsValid() && r.Dev == "" {
		return bad("%s: a route needs via or dev", r.Dst)
	}
	for _, a := range []netip.Addr{r.Via, r.Src} {
		if a.IsValid() && a.Is6() != r.Dst.Addr().Is6() {
			return bad("%s and %s are of different families", r.Dst, a)
		}
	}
	return r, true
}

// parseRoutePrefix parses a route or rule prefix: ADDR[/LEN], masked to
// its network as ip-route does.
func parseRoutePrefix(s string) (netip.Prefix, string) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Sprintf("%q is not ADDRESS/LENGTH", s)
		}
		return pf.Masked(), ""
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Sprintf("%q is not an address or prefix", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), ""
}

// parseTable parses a routing table: a number or main/local/default.
func parseTable(s string) (int, string) {
	switch s {
	case "main":
		return 254, ""
	case "local":
		return 255, ""
	case "default":
		return 253, ""
	}
	return parseInt(s, 1, 1<<31-1)
}

// ruleLine parses one virtual_rules or static_rules line.
func (p *kparser) ruleLine(c *knode, kw string, w []string) (Rule, bool) {
	r := Rule{Pos: c.pos}
	bad := func(format string, args ...any) (Rule, bool) {
		p.errs.add(c.pos, "keyword %q: %s", kw, fmt.Sprintf(format, args...))
		return r, false
	}
	for i := 0; i < len(w); i++ {
		opt := w[i]
		switch opt {
		case "no_track", "not", "l3mdev", "invert":
			p.warnAt(c.pos, "keyword %q: rule option %q: keepalived applies it; Tandem adds the rule without it", kw, opt)
			continue
		}
		if i+1 >= len(w) {
			return bad("option %q needs a value", opt)
		}
		v := w[i+1]
		i++
		switch opt {
		case "from", "to":
			var pf netip.Prefix
			if v != "all" {
				var m string
				if pf, m = parseRoutePrefix(v); m != "" {
					return bad("%s %s", opt, m)
				}
			}
			if opt == "from" {
				r.From = pf
			} else {
				r.To = pf
			}
		case "iif", "dev":
			r.IIF = v
		case "oif":
			r.OIF = v
		case "table", "lookup":
			t, m := parseTable(v)
			if m != "" {
				return bad("table %s", m)
			}
			r.Table = t
		case "priority", "preference", "pref", "order":
			n, m := parseInt(v, 0, 1<<32-1)
			if m != "" {
				return bad("priority %s", m)
			}
			r.Priority = n
		case "fwmark":
			mark, _, _ := strings.Cut(v, "/")
			n, err := strconv.ParseUint(mark, 0, 32)
			if err != nil {
				return bad("fwmark %q is not a number", v)
			}
			if strings.Contains(v, "/") {
				p.warnAt(c.pos, "keyword %q: fwmark mask in %q: keepalived applies it; Tandem matches the mark without a mask", kw, v)
			}
			r.FWMark = uint32(n)
		default:
			p.warnAt(c.pos, "keyword %q: rule option %q: keepalived applies it; Tandem adds the rule without it", kw, opt+" "+v)
		}
	}
	if r.Table == 0 {
		return bad("a rule needs table N (or lookup N)")
	}
	return r, true
}

// routeList handles a block of route lines into dst.
func (p *kparser) routeList(kw string, dst *[]Route) handler {
	return p.listBlock(func(c *knode, w []string) {
		if r, ok := p.routeLine(c, kw, w); ok {
			*dst = append(*dst, r)
		}
	})
}

// ruleList handles a block of rule lines into dst.
func (p *kparser) ruleList(kw string, dst *[]Rule) handler {
	return p.listBlock(func(c *knode, w []string) {
		if r, ok := p.ruleLine(c, kw, w); ok {
			*dst = append(*dst, r)
		}
	})
}
