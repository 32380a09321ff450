package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// The native form of routes and rules (static.routes, static.rules,
// virtual_routes, virtual_rules): one string per route or rule in the
// ip-route(8) and ip-rule(8) syntax the model keeps, which String writes
// and parseRoute and parseRule read back. Unlike the keepalived.conf
// reader, which accepts every option keepalived does and warns about those
// Tandem does not apply, these are strict: an option the model cannot hold
// is an error.

// String formats r as a route line: "[TYPE] DST [via GW] [src SRC] [dev
// DEV] [table N] [metric N] [scope SCOPE]".
func (r Route) String() string {
	var b strings.Builder
	if r.Type != "" {
		b.WriteString(r.Type)
		b.WriteByte(' ')
	}
	b.WriteString(r.Dst.String())
	if r.Via.IsValid() {
		b.WriteString(" via " + r.Via.String())
	}
	if r.Src.IsValid() {
		b.WriteString(" src " + r.Src.String())
	}
	if r.Dev != "" {
		b.WriteString(" dev " + r.Dev)
	}
	if r.Table != 0 {
		b.WriteString(" table " + strconv.Itoa(r.Table))
	}
	if r.Metric != 0 {
		b.WriteString(" metric " + strconv.Itoa(r.Metric))
	}
	if r.Scope != "" {
		b.WriteString(" scope " + r.Scope)
	}
	return b.String()
}

// String formats r as a rule line: "[from PREFIX] [to PREFIX] [iif DEV]
// [oif DEV] [fwmark N] [priority N] table N".
func (r Rule) String() string {
	var parts []string
	if r.From.IsValid() {
		parts = append(parts, "from", r.From.String())
	}
	if r.To.IsValid() {
		parts = append(parts, "to", r.To.String())
	}
	if r.IIF != "" {
		parts = append(parts, "iif", r.IIF)
	}
	if r.OIF != "" {
		parts = append(parts, "oif", r.OIF)
	}
	if r.FWMark != 0 {
		parts = append(parts, "fwmark", strconv.FormatUint(uint64(r.FWMark), 10))
	}
	if r.Priority != 0 {
		parts = append(parts, "priority", strconv.Itoa(r.Priority))
	}
	parts = append(parts, "table", strconv.Itoa(r.Table))
	return strings.Join(parts, " ")
}

// routeScopes are the scopes a route may name.
var routeScopes = []string{"global", "universe", "site", "link", "host", "nowhere"}

// parseRoute reads a native route line. The message is "" when it is
// fine.
func parseRoute(s string) (Route, string) {
	var r Route
	w := strings.Fields(s)
	if len(w) > 0 && routeTypes[w[0]] {
		r.Type, w = w[0], w[1:]
	}
	if len(w) == 0 {
		return r, "no destination (want [TYPE] PREFIX [via ADDR] [src ADDR] [dev DEV] [table N] [metric N] [scope SCOPE])"
	}
	dst := w[0]
	if m := optionPairs(w[1:], func(opt, v string) (string, bool) {
		var m string
		switch opt {
		case "via":
			r.Via, m = parseAddr(v)
		case "src":
			r.Src, m = parseAddr(v)
		case "dev":
			m = msgIfName(v)
			r.Dev = v
		case "table":
			r.Table, m = parseTable(v)
		case "metric":
			r.Metric, m = parseInt(v, 0, 1<<31-1)
		case "scope":
			if !slices.Contains(routeScopes, v) {
				m = fmt.Sprintf("%q is not global, link, host or nowhere", v)
			}
			r.Scope = v
		default:
			return fmt.Sprintf("%q: unknown route option (want via, src, dev, table, metric or scope)", opt), false
		}
		return m, true
	}); m != "" {
		return r, m
	}
	if dst == "default" {
		dst = "0.0.0.0/0"
		if r.Via.Is6() || r.Src.Is6() {
			dst = "::/0"
		}
	}
	pf, m := parseRoutePrefix(dst)
	if m != "" {
		return r, m
	}
	r.Dst = pf
	if r.Type == "" && !r.Via.IsValid() && r.Dev == "" {
		return r, fmt.Sprintf("%s: a route needs via or dev", r.Dst)
	}
	for _, a := range []netip.Addr{r.Via, r.Src} {
		if a.IsValid() && a.Is6() != r.Dst.Addr().Is6() {
			return r, fmt.Sprintf("%s and %s are of different families", r.Dst, a)
		}
	}
	return r, ""
}

// parseRule reads a native rule line. The message is "" when it is fine.
func parseRule(s string) (Rule, string) {
	var r Rule
	if m := optionPairs(strings.Fields(s), func(opt, v string) (string, bool) {
		var m string
		switch opt {
		case "from", "to":
			var pf netip.Prefix
			if v != "all" {
				pf, m = parseRoutePrefix(v)
			}
			if opt == "from" {
				r.From = pf
			} else {
				r.To = pf
			}
		case "iif":
			m = msgIfName(v)
			r.IIF = v
		case "oif":
			m = msgIfName(v)
			r.OIF = v
		case "fwmark":
			n, err := strconv.ParseUint(v, 0, 32)
			if err != nil || n == 0 {
				m = fmt.Sprintf("%q is not a number 1..4294967295", v)
			}
			r.FWMark = uint32(n)
		case "priority":
			r.Priority, m = parseInt(v, 0, 1<<32-1)
		case "table":
			r.Table, m = parseTable(v)
		default:
			return fmt.Sprintf("%q: unknown rule option (want from, to, iif, oif, fwmark, priority or table)", opt), false
		}
		return m, true
	}); m != "" {
		return r, m
	}
	if r.Table == 0 {
		return r, "a rule needs table N"
	}
	return r, ""
}

// optionPairs walks "OPTION VALUE" pairs, each option at most once, and
// calls set for each; set returns a message about the value (prefixed
// with the option here) and whether it knew the option (an unknown
// option's message stands alone). The message is "" when all is fine.
func optionPairs(w []string, set func(opt, v string) (msg string, known bool)) string {
	seen := map[string]bool{}
	for i := 0; i < len(w); i += 2 {
		opt := w[i]
		if i+1 >= len(w) {
			return fmt.Sprintf("option %q needs a value", opt)
		}
		if seen[opt] {
			return fmt.Sprintf("option %q is given twice", opt)
		}
		seen[opt] = true
		if m, known := set(opt, w[i+1]); m != "" {
			if !known {
				return m
			}
			return opt + " " + m
		}
	}
	return ""
}
