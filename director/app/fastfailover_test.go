package app

import (
	"net/netip"
	"testing"

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
