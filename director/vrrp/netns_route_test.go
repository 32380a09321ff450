package vrrp

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsRoutes installs and removes virtual routes and rules in a fresh
// namespace through NetlinkRoutes and reads the kernel's tables back.
func TestNetnsRoutes(t *testing.T) {
	testutil.Netns(t)
	ns := testutil.NewNetNS(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	// A veth pair (the dummy module may be missing); both ends up for carrier.
	dum := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "dum0"}, PeerName: "dum1"}
	if err := h.LinkAdd(dum); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"dum0", "dum1"} {
		l, err := h.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
	}
	a, _ := netlink.ParseAddr("192.0.2.10/24")
	if err := h.AddrAdd(dum, a); err != nil {
		t.Fatal(err)
	}
	a6, _ := netlink.ParseAddr("2001:db8::10/64")
	a6.Flags = unix.IFA_F_NODAD
	if err := h.AddrAdd(dum, a6); err != nil {
		t.Fatal(err)
	}

	p, ip := netip.MustParsePrefix, netip.MustParseAddr
	routes := []Route{
		{Dst: p("198.51.100.0/24"), Via: ip("192.0.2.1"), Src: ip("192.0.2.10"), Table: 100, Metric: 7},
		{Dst: p("203.0.113.0/25"), Dev: "dum0"},
		{Dst: p("203.0.113.128/25"), Dev: "dum0", Scope: ScopeGlobal},
		{Dst: p("0.0.0.0/0"), Via: ip("192.0.2.1"), Dev: "dum0", Table: 200},
		{Dst: p("10.66.0.0/16"), Type: RouteBlackhole},
		{Dst: p("10.67.0.0/16"), Type: RouteUnreachable, Table: 100},
		{Dst: p("10.68.0.0/16"), Type: RouteProhibit, Metric: 3},
		{Dst: p("2001:db8:1::/48"), Via: ip("2001:db8::1"), Dev: "dum0", Table: 100},
	}
	rules := []Rule{
		{From: p("192.0.2.100/32"), Table: 100, Priority: 1000},
		{To: p("198.51.100.0/24"), IIF: "dum0", Table: 200, Priority: 1001},
		{FWMark: 0x10, FWMask: 0xff, Table: 100, Priority: 1002},
		{OIF: "dum0", Table: 200, Priority: 1003},
		{From: p("2001:db8::100/128"), Table: 100, Priority: 1004, IPv6: true},
	}
	r, err := NewNetlinkRoutes(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for range 2 { // idempotent
		if err := r.AddRoutes(routes, rules); err != nil {
			t.Fatalf("AddRoutes: %v", err)
		}
	}

	type kr struct {
		Dst                  string
		Gw, Src              string
		Table, Metric, Scope int
		Type                 int
		Dev                  int
	}
	list := func() []kr {
		var out []kr
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			got, err := h.RouteListFiltered(fam, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				if g.Dst == nil || g.Protocol != unix.RTPROT_KEEPALIVED || g.Table == unix.RT_TABLE_LOCAL {
					continue // kernel routes (connected, local, multicast); ours are proto keepalived, as keepalived's
				}
				e := kr{Dst: g.Dst.String(), Table: g.Table, Metric: g.Priority, Scope: int(g.Scope), Type: g.Type, Dev: g.LinkIndex}
				if g.Gw != nil {
					e.Gw = g.Gw.String()
				}
				if g.Src != nil {
					e.Src = g.Src.String()
				}
				if fam == unix.AF_INET6 && e.Metric == 1024 {
					e.Metric = 0 // the kernel's IPv6 default metric
				}
				out = append(out, e)
			}
		}
		slices.SortFunc(out, func(a, b kr) int { return cmpStr(a.Dst, b.Dst) })
		return out
	}
	link, err := h.LinkByName("dum0")
	if err != nil {
		t.Fatal(err)
	}
	idx := link.Attrs().Index
	want := []kr{
		{Dst: "0.0.0.0/0", Gw: "192.0.2.1", Table: 200, Type: unix.RTN_UNICAST, Dev: idx},
		{Dst: "10.66.0.0/16", Table: unix.RT_TABLE_MAIN, Type: unix.RTN_BLACKHOLE},
		{Dst: "10.67.0.0/16", Table: 100, Type: unix.RTN_UNREACHABLE},
		{Dst: "10.68.0.0/16", Table: unix.RT_TABLE_MAIN, Metric: 3, Type: unix.RTN_PROHIBIT},
		{Dst: "198.51.100.0/24", Gw: "192.0.2.1", Src: "192.0.2.10", Table: 100, Metric: 7, Type: unix.RTN_UNICAST, Dev: idx},
		{Dst: "2001:db8:1::/48", Gw: "2001:db8::1", Table: 100, Type: unix.RTN_UNICAST, Dev: idx},
		// Through a device without a scope: global, as keepalived (ip(8)
		// would say link).
		{Dst: "203.0.113.0/25", Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dev: idx},

		{Dst: "203.0.113.128/25", Table: unix.RT_TABLE_MAIN, Type: unix.RTN_UNICAST, Dev: idx},
	}
	if diff := cmp.Diff(want, list()); diff != "" {
		t.Errorf("routes (-want +got)\n%s", diff)
	}

	type krule struct {
		Prio, Table int
		Src, Dst    string
		IIF, OIF    string
		Mark, Mask  uint32
		V6          bool
	}
	rlist := func() []krule {
		var out []krule
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			got, err := h.RuleList(fam)
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range got {
				if g.Priority < 1000 || g.Priority > 1010 {
					continue
				}
				e := krule{Prio: g.Priority, Table: g.Table, IIF: g.IifName, OIF: g.OifName, Mark: g.Mark, V6: fam == unix.AF_INET6}
				if g.Mask != nil {
					e.Mask = *g.Mask
				}
				if g.Src != nil {
					e.Src = g.Src.String()
				}
				if g.Dst != nil {
					e.Dst = g.Dst.String()
				}
				out = append(out, e)
			}
		}
		return out
	}
	wantRules := []krule{
		{Prio: 1000, Table: 100, Src: "192.0.2.100/32"},
		{Prio: 1001, Table: 200, Dst: "198.51.100.0/24", IIF: "dum0"},
		{Prio: 1002, Table: 100, Mark: 0x10, Mask: 0xff},
		{Prio: 1003, Table: 200, OIF: "dum0"},
		{Prio: 1004, Table: 100, Src: "2001:db8::100/128", V6: true},
	}
	if diff := cmp.Diff(wantRules, rlist()); diff != "" {
		t.Errorf("rules (-want +got)\n%s", diff)
	}

	for range 2 { // idempotent
		if err := r.RemoveRoutes(routes, rules); err != nil {
			t.Fatalf("RemoveRoutes: %v", err)
		}
	}
	if got := list(); len(got) != 0 {
		t.Errorf("routes left: %+v", got)
	}
	if got := rlist(); len(got) != 0 {
		t.Errorf("rules left: %+v", got)
	}
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
