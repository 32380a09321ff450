package netlab

import (
	"fmt"
	"net"
	"regexp"
	"strings"
)

// DefaultSegment is the segment (bridge) a host's eth0 joins when its
// HostSpec names none.
const DefaultSegment = "lan"

// Spec describes a lab.
type Spec struct {
	// Hosts are the lab's hosts, each a network namespace.
	Hosts []HostSpec
	// EnableIPv6 keeps IPv6 on in every namespace. By default it is disabled
	// (no router solicitations or MLD reports cluttering captures).
	EnableIPv6 bool
}

// HostSpec describes one host.
type HostSpec struct {
	// Name identifies the host within the lab: 1-12 characters of [a-z0-9-],
	// starting with a letter.
	Name string
	// Addr is the CIDR address (e.g. "10.99.0.10/24") of eth0, which joins
	// Segment. Empty Addr and Segment give a host with no eth0.
	Addr string
	// Segment names the bridge eth0 joins; DefaultSegment when empty.
	Segment string
	// Links are further interfaces (eth1, ...).
	Links []LinkSpec
	// Routes are added after the interfaces are up.
	Routes []RouteSpec
	// Sysctls are written after the interfaces exist, keyed by their dotted
	// name (e.g. "net.ipv4.conf.all.arp_ignore").
	Sysctls map[string]string
}

// LinkSpec describes an extra interface of a host.
type LinkSpec struct {
	// Name is the interface name inside the host (e.g. "eth1").
	Name string
	// Segment names the bridge the interface joins.
	Segment string
	// Addrs are CIDR addresses for the interface.
	Addrs []string
}

// RouteSpec describes a route.
type RouteSpec struct {
	// Dst is a CIDR or "default".
	Dst string
	// Via is the gateway address; empty for a device route.
	Via string
	// Dev is the outgoing interface; empty lets the kernel pick from Via.
	Dev string
}

var (
	hostNameRe = regexp.MustCompile(`^[a-z][a-z0-9-]{0,11}$`)
	segNameRe  = regexp.MustCompile(`^[a-z][a-z0-9-]{0,11}$`)
	ifNameRe   = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$`)
)

// bridgeHostName is the reserved name of the bridges' namespace.
const bridgeHostName = "sw"

// link is one resolved interface of a host.
type link struct {
	name    string
	segment string
	addrs   []*net.IPNet
}

// linkSpecs returns the host's interfaces, eth0 first.
func (h HostSpec) linkSpecs() []LinkSpec {
	var out []LinkSpec
	if h.Addr != "" || h.Segment != "" {
		ls := LinkSpec{Name: "eth0", Segment: h.Segment}
		if ls.Segment == "" {
			ls.Segment = DefaultSegment
		}
		if h.Addr != "" {
			ls.Addrs = []string{h.Addr}
		}
		out = append(out, ls)
	}
	return append(out, h.Links...)
}

// links resolves the host's interfaces, eth0 first.
func (h HostSpec) links() ([]link, error) {
	var out []link
	for _, ls := range h.linkSpecs() {
		l := link{name: ls.Name, segment: ls.Segment}
		for _, a := range ls.Addrs {
			ip, ipn, err := net.ParseCIDR(a)
			if err != nil {
				return nil, fmt.Errorf("host %q interface %q: address %q: %w", h.Name, ls.Name, a, err)
			}
			ipn.IP = ip
			l.addrs = append(l.addrs, ipn)
		}
		out = append(out, l)
	}
	return out, nil
}

// Validate reports the first problem with the spec.
func (s Spec) Validate() error {
	if len(s.Hosts) == 0 {
		return fmt.Errorf("lab spec: no hosts")
	}
	seen := map[string]bool{}
	for _, h := range s.Hosts {
		if !hostNameRe.MatchString(h.Name) {
			return fmt.Errorf("host %q: name must match %s", h.Name, hostNameRe)
		}
		if h.Name == bridgeHostName {
			return fmt.Errorf("host %q: name is reserved for the bridges' namespace", h.Name)
		}
		if seen[h.Name] {
			return fmt.Errorf("host %q: duplicate name", h.Name)
		}
		seen[h.Name] = true
		links, err := h.links()
		if err != nil {
			return err
		}
		ifs := map[string]bool{}
		for _, l := range links {
			if !ifNameRe.MatchString(l.name) || l.name == "lo" {
				return fmt.Errorf("host %q: bad interface name %q", h.Name, l.name)
			}
			if ifs[l.name] {
				return fmt.Errorf("host %q: duplicate interface %q", h.Name, l.name)
			}
			ifs[l.name] = true
			if !segNameRe.MatchString(l.segment) {
				return fmt.Errorf("host %q interface %q: segment %q must match %s", h.Name, l.name, l.segment, segNameRe)
			}
		}
		for _, r := range h.Routes {
			if r.Dst != "default" {
				if _, _, err := net.ParseCIDR(r.Dst); err != nil {
					return fmt.Errorf("host %q: route %q: %w", h.Name, r.Dst, err)
				}
			}
			if r.Via != "" && net.ParseIP(r.Via) == nil {
				return fmt.Errorf("host %q: route %q: bad gateway %q", h.Name, r.Dst, r.Via)
			}
			if r.Via == "" && r.Dev == "" {
				return fmt.Errorf("host %q: route %q: needs Via or Dev", h.Name, r.Dst)
			}
		}
		for k := range h.Sysctls {
			if k == "" || strings.ContainsAny(k, "/ ") || strings.Contains(k, "..") {
				return fmt.Errorf("host %q: bad sysctl name %q", h.Name, k)
			}
		}
	}
	return nil
}
