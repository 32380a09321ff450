package kadiff

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Classes of state a daemon programs, in report order.
const (
	ClassRefused  = "refused"  // tandem-director exited while keepalived ran the file
	ClassIPVS     = "ipvs"     // ipvsadm -Sn: services, schedulers, flags, persistence, destinations
	ClassSyncd    = "syncd"    // ipvsadm -Ln --daemon: the connection-sync daemons
	ClassTimeout  = "timeout"  // ipvsadm -Ln --timeout
	ClassAddr     = "addr"     // ip -o addr: VIPs and static addresses
	ClassLink     = "link"     // ip -o link: VMACs and link flags
	ClassRoute    = "route"    // ip route show table all (IPv4 and IPv6)
	ClassRule     = "rule"     // ip rule (IPv4 and IPv6)
	ClassFirewall = "firewall" // nft list ruleset
	ClassAdvert   = "advert"   // VRRP adverts on the wire
)

// Classes lists the compared classes in report order (ClassRefused is a
// verdict, not a capture).
var Classes = []string{ClassIPVS, ClassSyncd, ClassTimeout, ClassAddr, ClassLink, ClassRoute, ClassRule, ClassFirewall, ClassAdvert}

// Snapshot is normalised state: for each class, sorted distinct lines.
type Snapshot map[string][]string

// Empty reports whether no class has a line.
func (s Snapshot) Empty() bool {
	for _, l := range s {
		if len(l) > 0 {
			return false
		}
	}
	return true
}

// Delta is what after has that base has not ("+ line") and what base has
// that after lost ("- line"), per class; classes only after has are taken
// whole (adverts).
func Delta(base, after Snapshot) Snapshot {
	out := Snapshot{}
	for class, lines := range after {
		b := base[class]
		var d []string
		for _, l := range lines {
			if !slices.Contains(b, l) {
				d = append(d, "+ "+l)
			}
		}
		for _, l := range b {
			if !slices.Contains(lines, l) {
				d = append(d, "- "+l)
			}
		}
		slices.Sort(d)
		out[class] = d
	}
	return out
}

// Difference is one class that differs between the two daemons.
type Difference struct {
	Class string
	// OnlyKeepalived and OnlyTandem are the lines one has and the other
	// has not.
	OnlyKeepalived, OnlyTandem []string
}

// String formats d over several lines.
func (d Difference) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:", d.Class)
	for _, l := range d.OnlyKeepalived {
		fmt.Fprintf(&b, "\n      keepalived only: %s", l)
	}
	for _, l := range d.OnlyTandem {
		fmt.Fprintf(&b, "\n      tandem only:     %s", l)
	}
	return b.String()
}

// Compare returns the classes in which k (keepalived) and t (Tandem)
// differ, in Classes order.
func Compare(k, t Snapshot) []Difference {
	var out []Difference
	for _, class := range Classes {
		var d Difference
		d.Class = class
		for _, l := range k[class] {
			if !slices.Contains(t[class], l) {
				d.OnlyKeepalived = append(d.OnlyKeepalived, l)
			}
		}
		for _, l := range t[class] {
			if !slices.Contains(k[class], l) {
				d.OnlyTandem = append(d.OnlyTandem, l)
			}
		}
		if len(d.OnlyKeepalived)+len(d.OnlyTandem) > 0 {
			out = append(out, d)
		}
	}
	return out
}

// Normalisers of the tools' output, one per class.
var (
	reIndex    = regexp.MustCompile(`^\d+:\s+`)
	reIfPeer   = regexp.MustCompile(`@if\d+`)
	reLifetime = regexp.MustCompile(`\s*(valid_lft|preferred_lft)\s+\S+`)
	reNetns    = regexp.MustCompile(`\s*link-netns(id)?\s+\S+`)
	reExpires  = regexp.MustCompile(`\s*expires\s+\S+`)
	reSpaces   = regexp.MustCompile(`\s+`)
)

// Lines splits output into trimmed, space-collapsed, sorted, distinct,
// non-empty lines, each passed through fix (which may return "" to drop
// it).
func Lines(out string, fix func(string) string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(reSpaces.ReplaceAllString(strings.ReplaceAll(l, "\\", " "), " "))
		if fix != nil {
			l = fix(l)
		}
		if l != "" {
			ls = append(ls, l)
		}
	}
	slices.Sort(ls)
	return slices.Compact(ls)
}

// NormAddr normalises a line of `ip -o addr`: no interface index, no
// lifetimes.
func NormAddr(l string) string {
	l = reIndex.ReplaceAllString(l, "")
	return strings.TrimSpace(reLifetime.ReplaceAllString(l, ""))
}

// NormLink normalises a line of `ip -o link`: no index, no veth peer
// index, no peer namespace (the lab's random tag).
func NormLink(l string) string {
	l = reIndex.ReplaceAllString(l, "")
	l = reIfPeer.ReplaceAllString(l, "")
	return strings.TrimSpace(reNetns.ReplaceAllString(l, ""))
}

// NormRoute normalises a line of `ip route`: no expiry countdown.
func NormRoute(l string) string {
	return strings.TrimSpace(reExpires.ReplaceAllString(l, ""))
}
