package vrrp

import (
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"slices"
	"time"
)

// InstanceConfig is one VRRP instance: the keepalived vrrp_instance keywords
// Tandem supports, as a plain struct. The application maps its configuration
// model onto it; the comment of each field names the keepalived keyword.
type InstanceConfig struct {
	// Name is the instance name (vrrp_instance NAME); notify scripts get it.
	Name string
	// Interface is the interface adverts are sent and received on (interface).
	Interface string
	// VRID is the virtual router id, 1 to 255 (virtual_router_id).
	VRID uint8
	// Priority is 1 to 255; 255 is the address owner (priority; default 100).
	Priority uint8
	// InitialState is StateBackup (default) or StateMaster (state). As in
	// keepalived 2.2.7, MASTER with a priority below 255 still starts as
	// backup and takes over after Master_Down_Interval if no better master
	// is heard; it only turns nopreempt and preempt_delay off.
	InitialState State
	// Nopreempt: a backup never preempts a lower-priority master (nopreempt).
	Nopreempt bool
	// PreemptDelay delays preemption of a lower-priority master, counted
	// from the first of its adverts heard (preempt_delay).
	PreemptDelay time.Duration
	// AdvertInterval is advert_int (default 1s): whole seconds for version
	// 2, a multiple of 10ms up to 40.95s for version 3.
	AdvertInterval time.Duration
	// Version is 2 (default, as keepalived) or 3 (version). IPv6 VIPs need 3.
	Version int
	// AuthPass is the version 2 simple-text password (authentication {
	// auth_type PASS; auth_pass }), at most 8 bytes; empty means none.
	AuthPass string
	// VIPs are the virtual addresses (virtual_ipaddress), all of one family.
	VIPs []VIP
	// UnicastSrc is the source address of adverts (unicast_src_ip); by
	// default the primary address of Interface.
	UnicastSrc netip.Addr
	// UnicastPeers, when set, receive adverts by unicast instead of the
	// multicast group (unicast_peer).
	UnicastPeers []netip.Addr
	// TrackInterfaces go to FAULT when any of them is down; VIPs are
	// released (track_interface). Interface itself is always tracked.
	TrackInterfaces []string
	// NotifyMaster, NotifyBackup, NotifyFault and NotifyStop are command
	// lines run on entering that state (notify_master, notify_backup,
	// notify_fault, notify_stop).
	NotifyMaster, NotifyBackup, NotifyFault, NotifyStop string
	// Notify is run on every state change with keepalived's four arguments
	// appended: INSTANCE, the name, the state, the priority (notify).
	Notify string
	// GARPMasterDelay is the delay of the second gratuitous ARP burst after
	// becoming master (garp_master_delay; default 5s; 0 disables it).
	GARPMasterDelay time.Duration
	// GARPMasterRepeat is the number of gratuitous ARPs per VIP in a burst
	// (garp_master_repeat; default 5).
	GARPMasterRepeat int
	// GARPMasterRefresh is the period of gratuitous ARP refreshes while
	// master (garp_master_refresh; default 0, off).
	GARPMasterRefresh time.Duration
	// GARPMasterRefreshRepeat is the number of gratuitous ARPs per VIP in a
	// refresh (garp_master_refresh_repeat; default 1).
	GARPMasterRefreshRepeat int
	// ExcludedVIPs are added and removed with the VIPs (and announced with
	// them) but never carried in adverts nor compared with a received
	// advert's addresses (virtual_ipaddress_excluded). Any family.
	ExcludedVIPs []VIP
	// VirtualRoutes are installed on becoming master and removed on leaving
	// it, after the VIPs are added and before they are removed
	// (virtual_routes).
	VirtualRoutes []Route
	// VirtualRules are installed after VirtualRoutes and removed before
	// them (virtual_rules).
	VirtualRules []Rule
	// SyncGroup names the vrrp_sync_group the instance belongs to (empty:
	// none). A member never goes MASTER nor leaves FAULT on its own: it
	// reports (GroupReport) and waits for the group's order (SyncGroup).
	SyncGroup string
}

// VIP is one virtual_ipaddress line: ADDRESS/PREFIX [dev DEV] [label LABEL].
type VIP struct {
	// Prefix is the address with its prefix length (a bare address is /32
	// or /128).
	Prefix netip.Prefix
	// Dev is the interface the address goes on; default the instance's
	// Interface.
	Dev string
	// Label is the IPv4 address label (e.g. eth0:1); optional.
	Label string
	// Broadcast is the IPv4 broadcast address (brd); none when invalid,
	// as keepalived adds a VIP.
	Broadcast netip.Addr
	// Deprecated adds the address with preferred_lft 0 (keepalived's
	// option): never the source of a new connection.
	Deprecated bool
}

// RouteType is the type of a virtual route.
type RouteType int

// Route types (ip route's TYPE; keepalived's virtual_routes accepts the same
// words).
const (
	RouteUnicast     RouteType = iota // a normal route (default)
	RouteBlackhole                    // blackhole: dropped silently
	RouteUnreachable                  // unreachable: ICMP host unreachable
	RouteProhibit                     // prohibit: ICMP administratively prohibited
)

func (t RouteType) String() string {
	switch t {
	case RouteUnicast:
		return "unicast"
	case RouteBlackhole:
		return "blackhole"
	case RouteUnreachable:
		return "unreachable"
	case RouteProhibit:
		return "prohibit"
	}
	return fmt.Sprintf("RouteType(%d)", int(t))
}

// RouteScope is a route's scope. The zero value lets the kernel
// implementation choose as ip(8) does: link for a route with a device and
// no gateway, global otherwise.
type RouteScope int

// Route scopes (ip route's scope).
const (
	ScopeDefault RouteScope = iota
	ScopeGlobal             // global (universe)
	ScopeSite               // site
	ScopeLink               // link
	ScopeHost               // host
	ScopeNowhere            // nowhere
)

// Route is one virtual_routes line, the subset of ip-route(8) that
// keepalived's virtual_routes uses and netlink.Route can express:
// `[TYPE] DST [via GW] [dev DEV] [src SRC] [table N] [metric N] [scope S]`.
type Route struct {
	// Dst is the destination prefix (default is 0.0.0.0/0 or ::/0).
	Dst netip.Prefix
	// Via is the gateway (optional).
	Via netip.Addr
	// Dev is the output interface (optional with Via).
	Dev string
	// Src is the preferred source address (optional), often a VIP.
	Src netip.Addr
	// Table is the routing table; 0 means main.
	Table int
	// Metric is the route's priority (metric/preference); 0: none.
	Metric int
	// Scope of the route; ScopeDefault as ip(8).
	Scope RouteScope
	// Type: unicast (default), blackhole, unreachable or prohibit (the
	// last three take no Via nor Dev).
	Type RouteType
}

// Rule is one virtual_rules line, as ip-rule(8):
// `[from PREFIX] [to PREFIX] [iif DEV] [oif DEV] [fwmark N[/MASK]]
// [priority N] table N`.
type Rule struct {
	From, To netip.Prefix // selectors (optional)
	IIF, OIF string       // input / output interface (optional)
	// FWMark and FWMask select on the packet mark; FWMask 0 with a mark
	// means an exact match.
	FWMark, FWMask uint32
	// Priority is the rule's preference; 0 lets the kernel choose.
	Priority int
	// Table is the table to look up (required).
	Table int
	// IPv6 is the rule's family when neither From nor To says it;
	// WithDefaults sets it from the instance's VIPs.
	IPv6 bool
}

// Defaults keepalived 2.2.7 uses for what a vrrp_instance leaves out.
const (
	DefaultPriority          = 100
	DefaultAdvertInterval    = time.Second
	DefaultGARPMasterDelay   = 5 * time.Second
	DefaultGARPMasterRepeat  = 5
	DefaultGARPRefreshRepeat = 1
)

// WithDefaults returns c with keepalived's defaults filled in for the fields
// left at zero. A zero GARPMasterDelay becomes 5s: there is no way to ask
// for "no second burst" other than a negative value, which WithDefaults
// turns into 0.
func (c InstanceConfig) WithDefaults() InstanceConfig {
	if c.Priority == 0 {
		c.Priority = DefaultPriority
	}
	if c.InitialState == StateInit {
		c.InitialState = StateBackup
	}
	if c.AdvertInterval == 0 {
		c.AdvertInterval = DefaultAdvertInterval
	}
	if c.Version == 0 {
		c.Version = Version2
		for _, v := range c.VIPs {
			if v.Prefix.Addr().Is6() {
				c.Version = Version3
			}
		}
	}
	switch {
	case c.GARPMasterDelay == 0:
		c.GARPMasterDelay = DefaultGARPMasterDelay
	case c.GARPMasterDelay < 0:
		c.GARPMasterDelay = 0
	}
	if c.GARPMasterRepeat == 0 {
		c.GARPMasterRepeat = DefaultGARPMasterRepeat
	}
	if c.GARPMasterRefreshRepeat == 0 {
		c.GARPMasterRefreshRepeat = DefaultGARPRefreshRepeat
	}
	c.VIPs = slices.Clone(c.VIPs)
	for i := range c.VIPs {
		if c.VIPs[i].Dev == "" {
			c.VIPs[i].Dev = c.Interface
		}
	}
	c.ExcludedVIPs = slices.Clone(c.ExcludedVIPs)
	for i := range c.ExcludedVIPs {
		if c.ExcludedVIPs[i].Dev == "" {
			c.ExcludedVIPs[i].Dev = c.Interface
		}
	}
	c.VirtualRules = slices.Clone(c.VirtualRules)
	for i, r := range c.VirtualRules {
		switch {
		case r.From.IsValid():
			c.VirtualRules[i].IPv6 = r.From.Addr().Is6()
		case r.To.IsValid():
			c.VirtualRules[i].IPv6 = r.To.Addr().Is6()
		case !r.IPv6:
			c.VirtualRules[i].IPv6 = c.IPv6()
		}
	}
	if c.InitialState == StateMaster {
		// keepalived clears both with a warning: they cannot work with an
		// initial state MASTER.
		c.Nopreempt = false
		c.PreemptDelay = 0
	}
	if c.Priority == PriorityOwner {
		c.Nopreempt = false
	}
	return c
}

// Warnings returns what keepalived 2.2.7 warns about in c as written
// (before WithDefaults, which applies the same corrections silently).
func (c InstanceConfig) Warnings() []string {
	var w []string
	if c.Priority == PriorityOwner && c.Nopreempt {
		w = append(w, fmt.Sprintf("vrrp_instance %s: nopreempt is incompatible with priority 255 - resetting nopreempt", c.Name))
	}
	if c.InitialState == StateMaster {
		if c.Nopreempt {
			w = append(w, fmt.Sprintf("vrrp_instance %s: nopreempt will not work with initial state MASTER - clearing", c.Name))
		}
		if c.PreemptDelay > 0 {
			w = append(w, fmt.Sprintf("vrrp_instance %s: preempt delay will not work with initial state MASTER - clearing", c.Name))
		}
	}
	return w
}

// IPv6 reports whether the instance runs over IPv6 (its VIPs are IPv6).
func (c InstanceConfig) IPv6() bool {
	return len(c.VIPs) > 0 && c.VIPs[0].Prefix.Addr().Is6()
}

func keywordErr(name, keyword, format string, args ...any) error {
	return fmt.Errorf("vrrp_instance %s: keyword %q: %s", name, keyword, fmt.Sprintf(format, args...))
}

// Validate checks c (after WithDefaults) and returns every problem found,
// each naming the keepalived keyword.
func (c InstanceConfig) Validate() error {
	var errs []error
	bad := func(kw, format string, args ...any) { errs = append(errs, keywordErr(c.Name, kw, format, args...)) }
	if c.Name == "" {
		bad("vrrp_instance", "the instance needs a name")
	}
	if c.Interface == "" {
		bad("interface", "missing")
	}
	if c.VRID == 0 {
		bad("virtual_router_id", "missing or 0; want 1 to 255")
	}
	if c.Priority == 0 {
		bad("priority", "0 is reserved; want 1 to 255")
	}
	if c.InitialState != StateBackup && c.InitialState != StateMaster {
		bad("state", "%s; want MASTER or BACKUP", c.InitialState)
	}
	switch c.Version {
	case Version2:
		if c.AdvertInterval%time.Second != 0 || c.AdvertInterval < time.Second || c.AdvertInterval > 255*time.Second {
			bad("advert_int", "%s; version 2 wants whole seconds from 1 to 255", c.AdvertInterval)
		}
		if len(c.AuthPass) > 8 {
			bad("auth_pass", "%d bytes; at most 8 are sent", len(c.AuthPass))
		}
		if c.IPv6() {
			bad("version", "2 cannot carry IPv6 addresses; use version 3")
		}
	case Version3:
		if c.AdvertInterval%(10*time.Millisecond) != 0 || c.AdvertInterval < 10*time.Millisecond || c.AdvertInterval > 4095*10*time.Millisecond {
			bad("advert_int", "%s; version 3 wants centiseconds from 0.01 to 40.95", c.AdvertInterval)
		}
		if c.AuthPass != "" {
			bad("authentication", "version 3 has no authentication")
		}
	default:
		bad("version", "%d; want 2 or 3", c.Version)
	}
	// No VIP is allowed: keepalived 2.2.7 runs such an instance (it logs
	// "No VIP specified"; the keepalived.conf reader warns), useful for virtual_routes or
	// virtual_ipaddress_excluded alone, or for its notify scripts.
	if len(c.VIPs) > 255 {
		bad("virtual_ipaddress", "%d addresses; an advert carries at most 255", len(c.VIPs))
	}
	seen := map[netip.Addr]bool{}
	for _, v := range c.VIPs {
		if !v.Prefix.IsValid() {
			bad("virtual_ipaddress", "invalid address")
			continue
		}
		if v.Prefix.Addr().Is6() != c.IPv6() {
			bad("virtual_ipaddress", "%s: all addresses of an instance must be of one family", v.Prefix)
		}
		if seen[v.Prefix.Addr()] {
			bad("virtual_ipaddress", "%s listed twice", v.Prefix.Addr())
		}
		seen[v.Prefix.Addr()] = true
		if v.Label != "" && v.Prefix.Addr().Is6() {
			bad("virtual_ipaddress", "%s: label is for IPv4 addresses", v.Prefix)
		}
	}
	if c.UnicastSrc.IsValid() && c.UnicastSrc.Is6() != c.IPv6() {
		bad("unicast_src_ip", "%s is not of the VIPs' family", c.UnicastSrc)
	}
	for _, p := range c.UnicastPeers {
		if !p.IsValid() || p.Is6() != c.IPv6() {
			bad("unicast_peer", "%s is not of the VIPs' family", p)
		}
	}
	if c.PreemptDelay < 0 || c.PreemptDelay > 1000*time.Second {
		bad("preempt_delay", "%s; want 0 to 1000s", c.PreemptDelay)
	}
	if c.GARPMasterRepeat < 1 || c.GARPMasterRepeat > 255 {
		bad("garp_master_repeat", "%d; want 1 to 255", c.GARPMasterRepeat)
	}
	if c.GARPMasterRefreshRepeat < 1 || c.GARPMasterRefreshRepeat > 255 {
		bad("garp_master_refresh_repeat", "%d; want 1 to 255", c.GARPMasterRefreshRepeat)
	}
	if c.GARPMasterRefresh < 0 {
		bad("garp_master_refresh", "negative")
	}
	for _, v := range c.ExcludedVIPs {
		if !v.Prefix.IsValid() {
			bad("virtual_ipaddress_excluded", "invalid address")
			continue
		}
		if seen[v.Prefix.Addr()] {
			bad("virtual_ipaddress_excluded", "%s listed twice", v.Prefix.Addr())
		}
		seen[v.Prefix.Addr()] = true
		if v.Label != "" && v.Prefix.Addr().Is6() {
			bad("virtual_ipaddress_excluded", "%s: label is for IPv4 addresses", v.Prefix)
		}
	}
	for _, r := range c.VirtualRoutes {
		if err := r.validate(); err != "" {
			bad("virtual_routes", "%s", err)
		}
	}
	for _, r := range c.VirtualRules {
		if err := r.validate(); err != "" {
			bad("virtual_rules", "%s", err)
		}
	}
	return errors.Join(errs...)
}

func (r Route) validate() string {
	if !r.Dst.IsValid() {
		return "a route needs a destination"
	}
	v6 := r.Dst.Addr().Is6()
	if r.Via.IsValid() && r.Via.Is6() != v6 {
		return fmt.Sprintf("%s via %s: not of the destination's family", r.Dst, r.Via)
	}
	if r.Src.IsValid() && r.Src.Is6() != v6 {
		return fmt.Sprintf("%s src %s: not of the destination's family", r.Dst, r.Src)
	}
	if r.Table < 0 || r.Metric < 0 {
		return fmt.Sprintf("%s: negative table or metric", r.Dst)
	}
	if r.Scope < ScopeDefault || r.Scope > ScopeNowhere {
		return fmt.Sprintf("%s: unknown scope %d", r.Dst, r.Scope)
	}
	switch r.Type {
	case RouteUnicast:
		if !r.Via.IsValid() && r.Dev == "" {
			return fmt.Sprintf("%s: a unicast route needs via or dev", r.Dst)
		}
	case RouteBlackhole, RouteUnreachable, RouteProhibit:
		if r.Via.IsValid() || r.Dev != "" {
			return fmt.Sprintf("%s: a %s route takes no via nor dev", r.Dst, r.Type)
		}
	default:
		return fmt.Sprintf("%s: unknown route type %d", r.Dst, int(r.Type))
	}
	return ""
}

func (r Rule) validate() string {
	if r.Table <= 0 {
		return "a rule needs a table"
	}
	if r.From.IsValid() && r.To.IsValid() && r.From.Addr().Is6() != r.To.Addr().Is6() {
		return fmt.Sprintf("from %s to %s: two families", r.From, r.To)
	}
	if r.Priority < 0 {
		return "negative priority"
	}
	return ""
}

// allVIPs is what goes on and off the interfaces and is announced: the VIPs
// and the excluded ones.
func (c InstanceConfig) allVIPs() []VIP {
	return append(slices.Clone(c.VIPs), c.ExcludedVIPs...)
}

// restartFields are the fields a running instance cannot take over: they
// are its socket and its identity on the link (keepalived 2.2 restarts an
// instance on reload only for these; it keeps the state of the others).
var restartFields = []string{"Name", "Interface", "VRID", "Version", "UnicastSrc", "UnicastPeers", "SyncGroup"}

// Compare returns the names of the fields of n that differ from c (both
// after WithDefaults): live are those a running instance takes through
// Reconfigure, restart those that need the instance stopped and started
// again (Interface, VRID, Version, UnicastSrc, UnicastPeers, SyncGroup,
// and "Family" when the VIPs change address family). Nil and empty lists
// compare equal.
func (c InstanceConfig) Compare(n InstanceConfig) (live, restart []string) {
	va, vb := reflect.ValueOf(c), reflect.ValueOf(n)
	t := va.Type()
	for i := range t.NumField() {
		f, x, y := t.Field(i), va.Field(i), vb.Field(i)
		if x.Kind() == reflect.Slice && x.Len() == 0 && y.Len() == 0 {
			continue
		}
		if reflect.DeepEqual(x.Interface(), y.Interface()) {
			continue
		}
		if slices.Contains(restartFields, f.Name) {
			restart = append(restart, f.Name)
		} else {
			live = append(live, f.Name)
		}
	}
	if c.IPv6() != n.IPv6() { // the socket's family
		restart = append(restart, "Family")
	}
	return live, restart
}
