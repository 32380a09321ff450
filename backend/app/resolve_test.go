package app

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/backend/vip/viptest"
)

func TestResolve(t *testing.T) {
	host := func(route bool, src string) *viptest.Fake {
		nl := viptest.New()
		nl.AddLink("eth0")
		nl.AddAddr("eth0", "192.0.2.100/32") // a VIP left on eth0 by the seed recipe
		nl.AddAddr("eth0", "192.0.2.11/24")
		nl.AddAddr("eth0", "192.0.2.12/24")
		nl.AddLink("eth1")
		if route {
			var a netip.Addr
			if src != "" {
				a = netip.MustParseAddr(src)
			}
			nl.AddDefaultRoute("eth0", a)
		}
		return nl
	}
	vips := []netip.Addr{testVIP4}
	tests := []struct {
		name    string
		nl      *viptest.Fake
		cfg     config.Config
		want    Host
		wantErr string
	}{
		{"route source", host(true, "192.0.2.12"), config.Config{Node: "n", VIPs: vips}, Host{Node: "n", Interface: "eth0", RealIP: netip.MustParseAddr("192.0.2.12")}, ""},
		{"first global address that is not a VIP", host(true, ""), config.Config{Node: "n", VIPs: vips}, Host{Node: "n", Interface: "eth0", RealIP: netip.MustParseAddr("192.0.2.11")}, ""},
		{"explicit", host(false, ""), config.Config{Node: "n", VIPs: vips, Interface: "eth0", RealIP: netip.MustParseAddr("192.0.2.12")}, Host{Node: "n", Interface: "eth0", RealIP: netip.MustParseAddr("192.0.2.12")}, ""},
		{"no default route", host(false, ""), config.Config{Node: "n", VIPs: vips}, Host{}, "no IPv4 default route"},
		{"no such interface", host(true, ""), config.Config{Node: "n", VIPs: vips, Interface: "eth9"}, Host{}, `there is no interface "eth9"`},
		{"real_ip elsewhere", host(true, ""), config.Config{Node: "n", VIPs: vips, RealIP: netip.MustParseAddr("192.0.2.13")}, Host{}, "192.0.2.13 is not an address of eth0"},
		{"real_ip is a VIP", host(true, ""), config.Config{Node: "n", VIPs: vips, RealIP: testVIP4}, Host{}, "is also a VIP"},
		{"no address", host(true, ""), config.Config{Node: "n", VIPs: vips, Interface: "eth1"}, Host{}, "eth1 has no global IPv4 address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.File = "backend.yaml"
			got, err := Resolve(&tt.cfg, tt.nl)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if c := tt.nl.Calls(); len(c) != 0 {
				t.Errorf("Resolve changed the host: %q", c)
			}
		})
	}
}
