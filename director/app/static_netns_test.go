package app

import (
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsStatic: the real StaticNet in a fresh namespace: a static
// address, a route through it and a rule are in the kernel after apply,
// a second apply changes nothing, and remove takes them all off.
func TestNetnsStatic(t *testing.T) {
	testutil.Netns(t)
	ns := testutil.NewNetNS(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "st0"}, PeerName: "st1"}); err != nil {
		t.Fatal(err)
	}
	link, _ := h.LinkByName("st0")
	peer, _ := h.LinkByName("st1")
	if err := h.LinkSetUp(link); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(peer); err != nil {
		t.Fatal(err)
	}
	n, err := openStatic(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	set := staticOf(config.Static{
		Addresses: []config.VirtualIP{{Prefix: netip.MustParsePrefix("198.51.100.1/24"), Dev: "st0"}},
		Routes:    []config.Route{{Dst: netip.MustParsePrefix("203.0.113.0/24"), Via: netip.MustParseAddr("198.51.100.254"), Dev: "st0", Table: 100}},
		Rules:     []config.Rule{{From: netip.MustParsePrefix("198.51.100.1/32"), Table: 100, Priority: 1000}},
	})
	a := &App{log: slog.New(slog.NewTextHandler(t.Output(), nil)), static: n, now: time.Now}
	for range 2 {
		a.applyStatic(set)
		if a.staticErr != nil {
			t.Fatal(a.staticErr)
		}
	}
	ip := func(args ...string) string {
		out := ""
		switch args[0] {
		case "addr":
			addrs, _ := h.AddrList(link, netlink.FAMILY_V4)
			for _, x := range addrs {
				out += x.IPNet.String() + " "
			}
		case "route":
			routes, _ := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: 100}, netlink.RT_FILTER_TABLE)
			for _, r := range routes {
				out += r.Dst.String() + " via " + r.Gw.String() + " "
			}
		case "rule":
			rules, _ := h.RuleList(netlink.FAMILY_V4)
			for _, r := range rules {
				if r.Table == 100 {
					out += r.Src.String() + " "
				}
			}
		}
		return out
	}
	if got := ip("addr"); !strings.Contains(got, "198.51.100.1/24") {
		t.Errorf("addresses %q", got)
	}
	if got := ip("route"); got != "203.0.113.0/24 via 198.51.100.254 " {
		t.Errorf("routes %q", got)
	}
	if got := ip("rule"); got != "198.51.100.1/32 " {
		t.Errorf("rules %q", got)
	}
	a.removeStatic()
	if got := ip("addr") + ip("route") + ip("rule"); got != "" {
		t.Errorf("after remove: %q", got)
	}
}
