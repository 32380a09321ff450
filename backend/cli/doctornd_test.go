package cli

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNDFindings(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("2001:db8::100")
	vips := []netip.Addr{v4, v6}
	for _, c := range []struct {
		name   string
		f      ndFacts
		want   string // the line's start: status and check
		failed int
		has    string
	}{
		{"kernel alone", ndFacts{Iface: "eth0"}, "ok", 0, "no proxy entry)"},
		{"with the table", ndFacts{Iface: "eth0", NFTables: true, Table: "tb"}, "ok", 0, "table ip6 tb drops any NS in and NA out"},
		{"proxy entry without forwarding", ndFacts{Iface: "eth0", ProxyNDP: true, Proxied: map[netip.Addr]bool{v6: true}}, "ok", 0, "no proxy entry"},
		{"proxy answers, no table", ndFacts{Iface: "eth0", ProxyNDP: true, Forwarding: true, Proxied: map[netip.Addr]bool{v6: true}, Table: "tb"}, "FAIL", 1, "ip -6 neigh del proxy 2001:db8::100 dev eth0"},
		{"proxy answers, table drops", ndFacts{Iface: "eth0", ProxyNDP: true, Forwarding: true, Proxied: map[netip.Addr]bool{v6: true}, NFTables: true, Table: "tb"}, "WARN", 0, "table ip6 tb drops them"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			d := &doctor{Out: &out}
			ndFindings(d, vips, c.f)
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("want one line (the IPv6 VIP only), got:\n%s", out.String())
			}
			if !strings.Contains(lines[0], c.has) || !strings.Contains(strings.ToUpper(lines[0]), strings.ToUpper(c.want)) {
				t.Fatalf("line %q: want %q and %q", lines[0], c.want, c.has)
			}
			if diff := cmp.Diff(c.failed, d.Failed()); diff != "" {
				t.Fatalf("failed (-want +got)\n%s", diff)
			}
		})
	}
}
