package kadiff

import (
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tandemlb/tandem/director/config"
)

// Plan is the network a keepalived.conf needs in its namespace: the
// interfaces it names, each with an address from which VRRP can send, the
// routes that make its real servers and peers reachable, and permanent
// neighbour entries so that packets to them leave at once (unicast adverts
// are then on the wire; health checks hang instead of failing on ARP).
// Everything in a Plan is the test's own and is subtracted from what a
// daemon programs.
type Plan struct {
	// Links are the interfaces to create, in the order first named.
	Links []Link
	// Routes are device routes to addresses not on any link's subnet.
	Routes []Route
	// Neighbours are permanent neighbour entries.
	Neighbours []Neighbour
	// Capture are the interfaces VRRP adverts are captured on.
	Capture []string
	// IPv6 keeps IPv6 on in the namespace (the file has IPv6 addresses).
	IPv6 bool
	// IPVS is true when the file has virtual servers: the test then polls
	// for the first IPVS table the daemon programs.
	IPVS bool
	// Firewall, Syncd and Timeouts are true when the file has keywords
	// that touch nftables (vrrp_strict, use_vmac, vrrp_iptables …), the
	// connection-sync daemon or the IPVS timeouts: only then are those
	// read (every read is an exec, slow under TCG).
	Firewall, Syncd, Timeouts bool
	// Settle is how long after the daemon's ready line its instances have
	// settled (Master_Down_Interval, tracked scripts' rise/fall, margin);
	// Window is how long adverts are then collected.
	Settle, Window time.Duration
	// FromText is true when the plan was scanned from the text because
	// config.Load refused the file.
	FromText bool
}

// Link is one interface: a veth whose peer is in a bridge of a helper
// namespace.
type Link struct {
	Name  string
	Addrs []netip.Prefix
}

// Route is a device route.
type Route struct {
	Dst netip.Prefix
	Dev string
}

// Neighbour is a permanent neighbour entry.
type Neighbour struct {
	Addr netip.Addr
	Dev  string
}

// NeighbourMAC is the link-layer address of every planned neighbour: a
// locally administered address that nothing in the lab owns.
const NeighbourMAC = "02:00:00:00:00:fe"

// Bounds of the waits a plan asks for.
const (
	minSettle = 4 * time.Second
	maxSettle = 25 * time.Second
	minWindow = 2 * time.Second
	maxWindow = 6 * time.Second
	// settleMargin is added to the slowest instance's timing: the guest
	// runs under TCG with several daemons at once.
	settleMargin = 3 * time.Second
)

// ifName is what the test accepts as an interface name (IFNAMSIZ, no ':'
// alias): others are left for the daemons to refuse.
var ifName = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_.-]{0,14}$`)

// builder accumulates a plan.
type builder struct {
	p     Plan
	links map[string]*Link
	used  map[netip.Addr]bool // every address literal of the file
	neigh map[Neighbour]bool
	route map[netip.Prefix]bool
	fall  int // fallback subnets handed out
}

func newBuilder(text []byte) *builder {
	b := &builder{links: map[string]*Link{}, used: map[netip.Addr]bool{}, neigh: map[Neighbour]bool{}, route: map[netip.Prefix]bool{}}
	b.p.Firewall = reFirewall.Match(text)
	b.p.Syncd = reSyncd.Match(text)
	b.p.Timeouts = reTimeouts.Match(text)
	for _, w := range addrWord.FindAllString(string(text), -1) {
		w = strings.Trim(w, "[]")
		if i := strings.IndexByte(w, '/'); i >= 0 {
			w = w[:i]
		}
		if a, err := netip.ParseAddr(w); err == nil {
			b.used[a.Unmap()] = true
			if a.Is6() && !a.Is4In6() {
				b.p.IPv6 = true
			}
		}
	}
	return b
}

// Keywords that make the test read nftables, the sync daemon, the IPVS
// timeouts.
var (
	reFirewall = regexp.MustCompile(`(?m)^\s*(vrrp_strict|use_vmac|use_ipvlan|vrrp_iptables|vrrp_ipsets|nftables)\b`)
	reSyncd    = regexp.MustCompile(`(?m)^\s*lvs_sync_daemon`)
	reTimeouts = regexp.MustCompile(`(?m)^\s*lvs_timeouts\b`)
)

// addrWord finds address literals (IPv4 dotted quads and IPv6 with at
// least two colons), with an optional /len.
var addrWord = regexp.MustCompile(`\b\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(/\d+)?\b|[0-9a-fA-F]{0,4}:[0-9a-fA-F:]*:[0-9a-fA-F.]*(/\d+)?`)

// link returns the named link, creating it; nil for "lo" or a name the
// test cannot create.
func (b *builder) link(name string) *Link {
	if name == "" || name == "lo" || !ifName.MatchString(name) {
		return nil
	}
	if l, ok := b.links[name]; ok {
		return l
	}
	b.p.Links = append(b.p.Links, Link{Name: name})
	b.links = map[string]*Link{}
	for i := range b.p.Links {
		b.links[b.p.Links[i].Name] = &b.p.Links[i]
	}
	return b.links[name]
}

func (b *builder) capture(name string) {
	if b.link(name) != nil && !slices.Contains(b.p.Capture, name) {
		b.p.Capture = append(b.p.Capture, name)
	}
}

// onLink returns the link whose addresses' subnet holds a.
func (b *builder) onLink(a netip.Addr) *Link {
	for i := range b.p.Links {
		for _, p := range b.p.Links[i].Addrs {
			if p.Contains(a) {
				return &b.p.Links[i]
			}
		}
	}
	return nil
}

// subnetOf is the subnet the test uses around an address of the file: its
// own prefix when it names one wider than /30 (/126), else a /24 (/64).
func subnetOf(p netip.Prefix) netip.Prefix {
	a := p.Addr().Unmap()
	bits := p.Bits()
	if a.Is4() && (bits < 8 || bits > 30) {
		bits = 24
	}
	if a.Is6() && (bits < 48 || bits > 126) {
		bits = 64
	}
	return netip.PrefixFrom(a, bits).Masked()
}

// inSubnet gives link name an address in the subnet around p, unless it has
// one there: the highest address of the subnet the file does not use.
func (b *builder) inSubnet(name string, p netip.Prefix) {
	l := b.link(name)
	if l == nil || !p.IsValid() {
		return
	}
	sub := subnetOf(p)
	for _, have := range l.Addrs {
		if have.Masked() == sub {
			return
		}
	}
	// Start below the broadcast address and walk down.
	last := lastAddr(sub)
	a := last.Prev()
	for i := 0; i < 64 && a.IsValid() && sub.Contains(a); i++ {
		if !b.used[a] && a != sub.Addr() {
			b.used[a] = true
			l.Addrs = append(l.Addrs, netip.PrefixFrom(a, sub.Bits()))
			return
		}
		a = a.Prev()
	}
}

// exact gives link name the address a itself (unicast_src_ip), in the subnet
// around it.
func (b *builder) exact(name string, a netip.Addr) {
	l := b.link(name)
	if l == nil || !a.IsValid() {
		return
	}
	sub := subnetOf(netip.PrefixFrom(a, a.BitLen()))
	for _, have := range l.Addrs {
		if have.Addr() == a {
			return
		}
	}
	l.Addrs = append(l.Addrs, netip.PrefixFrom(a, sub.Bits()))
}

// fallback gives a link without an IPv4 address one of 10.255.N.254/24
// (the connection-sync daemon and IPv4 VRRP need one).
func (b *builder) fallback(l *Link) {
	for _, a := range l.Addrs {
		if a.Addr().Is4() {
			return
		}
	}
	for {
		b.fall++
		a := netip.AddrFrom4([4]byte{10, 255, byte(b.fall), 254})
		if !b.used[a] {
			b.used[a] = true
			l.Addrs = append(l.Addrs, netip.PrefixFrom(a, 24))
			return
		}
	}
}

// reach makes a reachable through a link: the link whose subnet holds it,
// else a device route through via (or the first link); and a permanent
// neighbour entry for it.
func (b *builder) reach(a netip.Addr, via string) {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsUnspecified() || a.IsMulticast() {
		return
	}
	if a.Is6() {
		b.p.IPv6 = true
	}
	l := b.onLink(a)
	if l == nil {
		l = b.link(via)
		if l == nil {
			if len(b.p.Links) == 0 {
				b.link("kd0")
			}
			l = &b.p.Links[0]
		}
		dst := netip.PrefixFrom(a, a.BitLen())
		if !b.route[dst] {
			b.route[dst] = true
			b.p.Routes = append(b.p.Routes, Route{Dst: dst, Dev: l.Name})
		}
	}
	n := Neighbour{Addr: a, Dev: l.Name}
	if !b.neigh[n] {
		b.neigh[n] = true
		b.p.Neighbours = append(b.p.Neighbours, n)
	}
}

// timing sets Settle and Window from the slowest advert interval and the
// slowest tracked script.
func (b *builder) timing(maxAdv, maxScript time.Duration) {
	if maxAdv <= 0 {
		maxAdv = config.DefaultAdvertInt
	}
	settle := 4*maxAdv + settleMargin // 3 × advert_int + skew < 4 × advert_int
	if s := maxScript + settleMargin; s > settle {
		settle = s
	}
	b.p.Settle = min(max(settle, minSettle), maxSettle)
	b.p.Window = min(max(maxAdv+maxAdv/2, minWindow), maxWindow)
}

func (b *builder) finish() Plan {
	for i := range b.p.Links {
		b.fallback(&b.p.Links[i])
	}
	return b.p
}

// PlanFromConfig plans the network of a file config.Load read; text is
// the file itself (its address literals are never given to the test's own
// interfaces).
func PlanFromConfig(cfg *config.Config, text []byte) Plan {
	b := newBuilder(text)
	var maxAdv, maxScript time.Duration
	for i := range cfg.VRRP {
		in := &cfg.VRRP[i]
		l := in.Interface
		b.capture(l)
		maxAdv = max(maxAdv, in.AdvertInt)
		if in.SourceIP.IsValid() {
			b.exact(l, in.SourceIP)
		}
		for _, v := range in.VirtualIPs {
			if v.Prefix.Addr().Is6() {
				b.p.IPv6 = true
			}
			if v.Dev == "" || v.Dev == in.Interface {
				b.inSubnet(l, v.Prefix)
			} else {
				b.link(v.Dev)
			}
		}
		for _, v := range in.ExcludedVIPs {
			if v.Dev != "" {
				b.link(v.Dev)
			}
		}
		for _, t := range in.TrackInterfaces {
			b.link(t.Name)
		}
		for _, r := range in.VirtualRoutes {
			b.link(r.Dev)
		}
		for _, r := range in.VirtualRules {
			b.link(r.IIF)
			b.link(r.OIF)
		}
		for _, ref := range in.Track.Scripts {
			if s := cfg.Script(ref.Name); s != nil {
				n := max(s.Rise, s.Fall, 1) + 1
				maxScript = max(maxScript, time.Duration(n)*s.Interval)
			}
		}
	}
	for _, g := range cfg.SyncGroups {
		for _, t := range g.TrackInterfaces {
			b.link(t.Name)
		}
	}
	if cfg.ConnSync != nil {
		b.link(cfg.ConnSync.Interface)
	}
	for _, a := range cfg.Static.Addresses {
		b.link(a.Dev)
	}
	for _, r := range cfg.Static.Routes {
		b.link(r.Dev)
	}
	for _, r := range cfg.Static.Rules {
		b.link(r.IIF)
		b.link(r.OIF)
	}
	for i := range cfg.VRRP {
		in := &cfg.VRRP[i]
		for _, p := range in.UnicastPeers {
			b.reach(p.Addr, in.Interface)
		}
	}
	b.p.IPVS = len(cfg.Services) > 0
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if s.Addr.Addr().Is6() {
			b.p.IPv6 = true
		}
		for j := range s.RealServers {
			rs := &s.RealServers[j]
			b.reach(rs.Addr.Addr(), "")
			for _, c := range rs.Checks {
				if c.ConnectIP.IsValid() {
					b.reach(c.ConnectIP, "")
				}
			}
		}
		if s.SorryServer != nil {
			b.reach(s.SorryServer.Addr.Addr(), "")
		}
	}
	b.timing(maxAdv, maxScript)
	return b.finish()
}

// Text scanning, for the files config.Load refuses (keepalived may still
// run them).
var (
	reInterface = regexp.MustCompile(`^(?:interface|lvs_sync_daemon_interface)\s+(\S+)`)
	reDev       = regexp.MustCompile(`\bdev\s+(\S+)`)
	reSrcIP     = regexp.MustCompile(`^(?:unicast_src_ip|mcast_src_ip)\s+(\S+)`)
	reAdvert    = regexp.MustCompile(`^advert_int\s+([0-9.]+)`)
	reServer    = regexp.MustCompile(`^(?:real_server|sorry_server)\s+(\S+)`)
	reFirstAddr = regexp.MustCompile(`^(\S+)`)
)

// PlanFromText plans the network of a file from its text alone: the
// interfaces of "interface X", "dev X" and track_interface blocks, an
// address in the subnet of each instance's first virtual address (or its
// unicast_src_ip), routes to real servers and unicast peers.
func PlanFromText(text []byte) Plan {
	b := newBuilder(text)
	b.p.FromText = true
	var maxAdv time.Duration
	var cur string // the current vrrp_instance's interface
	var block []string
	for _, raw := range strings.Split(string(text), "\n") {
		line := raw
		if i := strings.IndexAny(line, "#!"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		opens, closes := strings.Count(line, "{"), strings.Count(line, "}")
		word := strings.TrimSpace(strings.TrimRight(line, "{} \t"))
		if strings.HasPrefix(word, "vrrp_instance") {
			cur = ""
		}
		inBlock := ""
		if len(block) > 0 {
			inBlock = block[len(block)-1]
		}
		switch {
		case reInterface.MatchString(word):
			name := reInterface.FindStringSubmatch(word)[1]
			if strings.HasPrefix(word, "interface") {
				cur = name
				b.capture(name)
			} else {
				b.link(name)
			}
		case reSrcIP.MatchString(word):
			if a, err := netip.ParseAddr(reSrcIP.FindStringSubmatch(word)[1]); err == nil {
				b.exact(cur, a)
			}
		case reAdvert.MatchString(word):
			if f, err := strconv.ParseFloat(reAdvert.FindStringSubmatch(word)[1], 64); err == nil {
				maxAdv = max(maxAdv, time.Duration(f*float64(time.Second)))
			}
		case strings.HasPrefix(word, "virtual_server"):
			b.p.IPVS = true
		case reServer.MatchString(word):
			if a, err := netip.ParseAddr(reServer.FindStringSubmatch(word)[1]); err == nil {
				b.reach(a, "")
			}
		case inBlock == "track_interface":
			b.link(reFirstAddr.FindString(word))
		case inBlock == "unicast_peer":
			if a, err := netip.ParseAddr(reFirstAddr.FindString(word)); err == nil {
				b.reach(a, "")
			}
		case inBlock == "virtual_ipaddress":
			if p, ok := parsePrefix(reFirstAddr.FindString(word)); ok && !reDev.MatchString(word) {
				b.inSubnet(cur, p)
			}
		}
		for _, m := range reDev.FindAllStringSubmatch(word, -1) {
			b.link(m[1])
		}
		for range opens {
			block = append(block, strings.Fields(word + " x")[0])
		}
		for range closes {
			if len(block) > 0 {
				block = block[:len(block)-1]
			}
		}
	}
	// Peers and servers seen before the links that carry them: route them
	// through the first link.
	b.timing(maxAdv, 0)
	return b.finish()
}

// parsePrefix reads ADDRESS or ADDRESS/LEN.
func parsePrefix(s string) (netip.Prefix, bool) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p, true
	}
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.PrefixFrom(a, a.BitLen()), true
	}
	return netip.Prefix{}, false
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// reSrcIPAny finds unicast_src_ip and mcast_src_ip anywhere in a file.
var reSrcIPAny = regexp.MustCompile(`(?m)^\s*(?:unicast_src_ip|mcast_src_ip)\s+(\S+)`)
