package app

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/config"
)

func TestProbeIPv6(t *testing.T) {
	inst := func(vip string) config.VRRPInstance {
		return config.VRRPInstance{VirtualIPs: []config.VirtualIP{{Prefix: netip.MustParsePrefix(vip)}}}
	}
	for _, tt := range []struct {
		name string
		vrrp []config.VRRPInstance
		want bool
	}{
		{"none", nil, false},
		{"IPv4", []config.VRRPInstance{inst("192.0.2.1/24")}, false},
		{"IPv6", []config.VRRPInstance{inst("2001:db8::1/64"), inst("2001:db8::2/64")}, true},
		{"both families", []config.VRRPInstance{inst("2001:db8::1/64"), inst("192.0.2.1/24")}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := probeIPv6(&config.Config{VRRP: tt.vrrp}); got != tt.want {
				t.Errorf("probeIPv6 = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRealServerIPs: the witnesses are the configured real servers, each
// real IP once (ports and services do not multiply it).
func TestRealServerIPs(t *testing.T) {
	rs := func(ap string) config.RealServer { return config.RealServer{Addr: netip.MustParseAddrPort(ap)} }
	cfg := &config.Config{Services: []config.VirtualService{
		{RealServers: []config.RealServer{rs("10.0.0.11:80"), rs("10.0.0.12:80")}},
		{RealServers: []config.RealServer{rs("10.0.0.11:443"), rs("[::ffff:10.0.0.12]:443"), rs("[2001:db8::5]:80")}},
	}}
	got := realServerIPs(cfg)
	want := []netip.Addr{netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.12"), netip.MustParseAddr("2001:db8::5")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("realServerIPs (-want +got)\n%s", diff)
	}
}
