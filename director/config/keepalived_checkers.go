package config

import (
	"fmt"
	"net/netip"
	"strings"
	"time"
)

// The keepalived checkers beyond HTTP_GET, SSL_GET and TCP_CHECK
// (MISC_CHECK, PING_CHECK, UDP_CHECK, DNS_CHECK, SMTP_CHECK, FILE_CHECK),
// and virtual_server_group.

// dnsTypes are DNS_CHECK's query types.
var dnsTypes = []string{"A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"}

// checkerKeywords adds the keywords of the checker c.Type to table.
func (p *kparser) checkerKeywords(table map[string]handler, c *Check) {
	switch c.Type {
	case MiscCheck:
		table["misc_path"] = p.scriptLine(&c.MiscPath)
		table["misc_timeout"] = p.secondsArg(&c.MiscTimeout, time.Millisecond, 24*time.Hour)
		table["misc_dynamic"] = p.bareFlag(&c.MiscDynamic, true)
		table["user"] = p.userArg(&c.User, &c.Group)
	case UDPCheck:
		table["payload"] = p.hexArg(&c.Payload, false)
		table["require_reply"] = handler{fn: func(n *knode) {
			if n.hasBlock {
				p.errf(n, "takes no block")
				return
			}
			c.RequireReply = true
			if len(n.args) > 0 {
				if m := msgHex(strings.Join(n.args, " "), true); m != "" {
					p.errf(n, "%s", m)
					return
				}
				c.ReplyHex = strings.Join(n.args, " ")
			}
		}}
		table["min_reply_length"] = p.intArg(&c.MinReplyLength, 0, 65535)
		table["max_reply_length"] = p.intArg(&c.MaxReplyLength, 0, 65535)
	case DNSCheck:
		table["type"] = p.enumArg(&c.DNSType, strings.Join(dnsTypes, "|"), func(s string) string {
			for _, t := range dnsTypes {
				if strings.EqualFold(s, t) {
					return ""
				}
			}
			return fmt.Sprintf("%q is not one of %s", s, strings.Join(dnsTypes, ", "))
		})
		table["name"] = p.stringArg(&c.DNSName)
	case SMTPCheck:
		table["helo_name"] = p.stringArg(&c.HeloName)
	case FileCheck:
		table["track_file"] = p.stringArg(&c.TrackFile)
		table["dynamic"] = p.bareFlag(&c.Dynamic, true)
		table["weight"] = handler{fn: func(n *knode) {
			if !p.args(n, 1, 2, "weight W [reverse]") {
				return
			}
			v, m := parseInt(n.args[0], -(1<<31 - 1), 1<<31-1)
			if m != "" {
				p.errf(n, "%s", m)
				return
			}
			if len(n.args) == 2 {
				if n.args[1] != "reverse" {
					p.errf(n, "%q: want reverse or nothing after the weight", n.args[1])
					return
				}
				c.Reverse = true
			}
			c.Weight = v
		}}
	}
}

// checkerComplete applies the checker's defaults once its block is read
// and reports whether it is usable; keepalived drops a checker that lacks
// what it needs, with a message, and so does the reader (as a warning)
// unless the missing part makes the file unusable.
func (p *kparser) checkerComplete(n *knode, c *Check) bool {
	switch c.Type {
	case MiscCheck:
		if c.MiscPath == "" {
			p.warnf(n, "has no misc_path: keepalived ignores this checker, and so does Tandem")
			return false
		}
	case UDPCheck:
		if c.MaxReplyLength == 0 && !has(n, "max_reply_length") {
			c.MaxReplyLength = 255
		}
		if c.MinReplyLength > c.MaxReplyLength {
			p.errf(n, "min_reply_length %d is above max_reply_length %d", c.MinReplyLength, c.MaxReplyLength)
			return false
		}
	case DNSCheck:
		if c.DNSType == "" {
			c.DNSType = "SOA"
		}
		c.DNSType = strings.ToUpper(c.DNSType)
		if c.DNSName == "" {
			c.DNSName = "."
		}
	case FileCheck:
		if c.TrackFile == "" {
			p.warnf(n, "has no track_file: keepalived ignores this checker, and so does Tandem")
			return false
		}
		p.fileChecks = append(p.fileChecks, fileCheckRef{name: c.TrackFile, pos: n.pos})
	}
	return true
}

// fileCheckRef is a FILE_CHECK's reference to a vrrp_track_file, checked
// in finish.
type fileCheckRef struct {
	name string
	pos  Pos
}

// hexArg handles a keepalived HEX_STR argument (several words allowed).
func (p *kparser) hexArg(dst *string, wildcard bool) handler {
	return handler{fn: func(n *knode) {
		if n.hasBlock || len(n.args) == 0 {
			p.errf(n, "wants a hex string")
			return
		}
		s := strings.Join(n.args, " ")
		if m := msgHex(s, wildcard); m != "" {
			p.errf(n, "%s", m)
			return
		}
		*dst = s
	}}
}

// msgHex checks keepalived's free-form hex string: hex digits and
// blanks, X for "any nibble" when wildcard.
func msgHex(s string, wildcard bool) string {
	for _, r := range s {
		switch {
		case r == ' ' || r == '\t':
		case r >= '0' && r <= '9', r >= 'a' && r <= 'f', r >= 'A' && r <= 'F':
		case wildcard && (r == 'x' || r == 'X'):
		default:
			return fmt.Sprintf("%q is not a hex string", s)
		}
	}
	return ""
}

// vsgMember is one line of a virtual_server_group: an address (or a
// range) with an optional port, or a fwmark.
type vsgMember struct {
	addrs  []netip.Addr
	port   uint16
	fwmark uint32
}

// maxGroupAddrs bounds the addresses one virtual_server_group expands to.
const maxGroupAddrs = 4096

// virtualServerGroup handles `virtual_server_group NAME { ... }`: the
// block is read where a virtual_server uses it (finish).
func (p *kparser) virtualServerGroup(n *knode) {
	if !p.needBlock(n, 1, "virtual_server_group NAME { IPADDR[-RANGE] [PORT] ... ; fwmark N ... }") {
		return
	}
	if p.groups == nil {
		p.groups = map[string]*knode{}
	}
	if old := p.groups[n.args[0]]; old != nil {
		p.warnAt(n.pos, "virtual_server_group %q is defined twice (first at %s): keepalived uses the last definition, and so does Tandem", n.args[0], old.pos)
	}
	p.groups[n.args[0]] = n
}

// groupMembers reads a virtual_server_group's lines.
func (p *kparser) groupMembers(g *knode) []vsgMember {
	var out []vsgMember
	total := 0
	for _, c := range g.block {
		if c.hasBlock {
			p.errs.add(c.pos, "virtual_server_group %q: %q takes no block", g.args[0], c.kw)
			continue
		}
		if c.kw == "fwmark" {
			if len(c.args) < 1 {
				p.errs.add(c.pos, "virtual_server_group %q: fwmark needs a value", g.args[0])
				continue
			}
			v, m := parseInt(c.args[0], 1, 1<<32-1)
			if m != "" {
				p.errs.add(c.pos, "virtual_server_group %q: fwmark %s", g.args[0], m)
				continue
			}
			if len(c.args) > 1 {
				p.warnAt(c.pos, "virtual_server_group %q: fwmark %d: %q is for tunnelled real servers of both families: Tandem ignores it", g.args[0], v, strings.Join(c.args[1:], " "))
			}
			out = append(out, vsgMember{fwmark: uint32(v)})
			continue
		}
		addrs, m := parseAddrRange(c.kw)
		if m != "" {
			p.errs.add(c.pos, "virtual_server_group %q: %s", g.args[0], m)
			continue
		}
		total += len(addrs)
		if total > maxGroupAddrs {
			p.errs.add(c.pos, "virtual_server_group %q: more than %d addresses", g.args[0], maxGroupAddrs)
			return out
		}
		mem := vsgMember{addrs: addrs}
		if len(c.args) > 0 {
			port, m := parsePort(c.args[0], false)
			if m != "" {
				p.errs.add(c.pos, "virtual_server_group %q: %s", g.args[0], m)
				continue
			}
			mem.port = port
			if len(c.args) > 1 {
				p.warnAt(c.pos, "virtual_server_group %q: extra words %q: keepalived ignores them, and so does Tandem", g.args[0], strings.Join(c.args[1:], " "))
			}
		}
		out = append(out, mem)
	}
	return out
}

// parseAddrRange parses an address, a range of the last part
// (192.0.2.1-10, 2001:db8::1-a), a range of two whole addresses, or a
// prefix (every address in it).
func parseAddrRange(s string) ([]netip.Addr, string) {
	if strings.Contains(s, "/") {
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Sprintf("%q is not an address, range or prefix", s)
		}
		pf = pf.Masked()
		if pf.Addr().BitLen()-pf.Bits() > 12 {
			return nil, fmt.Sprintf("%s has more than %d addresses", s, maxGroupAddrs)
		}
		var out []netip.Addr
		for a := pf.Addr(); pf.Contains(a); a = a.Next() {
			out = append(out, a)
		}
		return out, ""
	}
	first, last, isRange := strings.Cut(s, "-")
	a, m := parseAddr(first)
	if m != "" {
		return nil, m
	}
	if !isRange {
		return []netip.Addr{a}, ""
	}
	var end netip.Addr
	if b, err := netip.ParseAddr(last); err == nil {
		end = b
	} else {
		// Only the last byte (IPv4) or group (IPv6) is given.
		sep := "."
		base := 10
		if a.Is6() {
			sep, base = ":", 16
		}
		i := strings.LastIndex(first, sep)
		v, err := parseUintBase(last, base)
		if err != nil || i < 0 {
			return nil, fmt.Sprintf("%q is not an address range (e.g. 192.0.2.1-10)", s)
		}
		b, err := netip.ParseAddr(first[:i+1] + formatUintBase(v, base))
		if err != nil {
			return nil, fmt.Sprintf("%q is not an address range (e.g. 192.0.2.1-10)", s)
		}
		end = b
	}
	if end.Less(a) || end.BitLen() != a.BitLen() {
		return nil, fmt.Sprintf("%q: the range ends before it starts", s)
	}
	var out []netip.Addr
	for x := a; ; x = x.Next() {
		out = append(out, x)
		if len(out) > maxGroupAddrs {
			return nil, fmt.Sprintf("%q has more than %d addresses", s, maxGroupAddrs)
		}
		if x == end {
			break
		}
	}
	return out, ""
}

func parseUintBase(s string, base int) (uint64, error) {
	var v uint64
	if s == "" {
		return 0, fmt.Errorf("empty")
	}
	for _, r := range strings.ToLower(s) {
		d := strings.IndexRune("0123456789abcdef"[:base], r)
		if d < 0 || v > 1<<20 {
			return 0, fmt.Errorf("bad")
		}
		v = v*uint64(base) + uint64(d)
	}
	return v, nil
}

func formatUintBase(v uint64, base int) string {
	return strings.ToLower(fmt.Sprintf(map[int]string{10: "%d", 16: "%x"}[base], v))
}

// expandGroups turns every `virtual_server group NAME` block into one
// service per address and fwmark of the group, as keepalived programs
// IPVS: the same settings and real servers for each.
func (p *kparser) expandGroups() {
	for _, n := range p.groupUses {
		name := n.args[1]
		g := p.groups[name]
		if g == nil {
			p.errf(n, "virtual_server_group %q is not defined", name)
			continue
		}
		members := p.groupMembers(g)
		if len(members) == 0 {
			p.warnf(n, "virtual_server_group %q has no member: keepalived programs nothing for it, and so does Tandem", name)
			continue
		}
		first := true
		for _, m := range members {
			addrs := m.addrs
			if m.fwmark != 0 {
				addrs = []netip.Addr{{}}
			}
			for _, a := range addrs {
				s := newService(n.pos)
				s.Group = name
				if m.fwmark != 0 {
					s.FWMark = m.fwmark
				} else {
					s.Addr = netip.AddrPortFrom(a, m.port)
				}
				// Read the block once per service (ports and sorry
				// servers depend on the address); report its messages
				// once.
				errs, warns := len(*p.errs), len(p.cfg.Warnings)
				p.virtualServerBody(n, &s)
				if !first {
					*p.errs = (*p.errs)[:errs]
					p.cfg.Warnings = p.cfg.Warnings[:warns]
				}
				first = false
				p.cfg.Services = append(p.cfg.Services, s)
			}
		}
	}
	if p.next != nil && len(p.fromCache) < len(p.cfg.Services) {
		p.fromCache = append(p.fromCache, make([]bool, len(p.cfg.Services)-len(p.fromCache))...)
	}
}
