package config

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestParseDualStack: a dual-stack agent names its two identities, real_ip
// (IPv4, also the ARP sender) and real_ip6, a key file for each, and
// directors of both families.
func TestParseDualStack(t *testing.T) {
	src := minimal + `real_ip: 192.0.2.11
real_ip6: 2001:db8::11
directors: [192.0.2.2, "[2001:db8::2]:7480", "2001:db8::3"]
heartbeat: {key_file: /etc/tandem/heartbeat.key, key_file6: /etc/tandem/heartbeat6.key}
`
	cfg, err := Parse("b.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RealIP != netip.MustParseAddr("192.0.2.11") || cfg.RealIP6 != netip.MustParseAddr("2001:db8::11") {
		t.Errorf("real_ip %s, real_ip6 %s", cfg.RealIP, cfg.RealIP6)
	}
	if cfg.Heartbeat.KeyFile != "/etc/tandem/heartbeat.key" || cfg.Heartbeat.KeyFile6 != "/etc/tandem/heartbeat6.key" {
		t.Errorf("key files %q, %q", cfg.Heartbeat.KeyFile, cfg.Heartbeat.KeyFile6)
	}
	if !cfg.HasIPv6Directors() || cfg.HasIPv6VIPs() {
		t.Errorf("HasIPv6Directors %v, HasIPv6VIPs %v; want true, false", cfg.HasIPv6Directors(), cfg.HasIPv6VIPs())
	}
	if got := cfg.At("real_ip6"); got != "b.yaml:6" {
		t.Errorf("At(real_ip6) = %q", got)
	}

	// Both keys optional: without them real_ip6 is derived from the
	// interface and key_file serves both identities.
	cfg, err = Parse("b.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.RealIP6.IsValid() || cfg.Heartbeat.KeyFile6 != "" || cfg.HasIPv6Directors() {
		t.Errorf("defaults: real_ip6 %s, key_file6 %q, IPv6 directors %v", cfg.RealIP6, cfg.Heartbeat.KeyFile6, cfg.HasIPv6Directors())
	}
}

// TestParseDualStackErrors: the errors, in full, with file, line and key.
func TestParseDualStackErrors(t *testing.T) {
	tests := []struct{ name, line, want string }{
		{"ipv6 in real_ip", "real_ip: 2001:db8::11",
			`b.yaml:5: key "real_ip": 2001:db8::11: the ARP sender must be an IPv4 address (this host's IPv6 address goes in real_ip6)`},
		{"ipv4 in real_ip6", "real_ip6: 192.0.2.11",
			`b.yaml:5: key "real_ip6": 192.0.2.11 is not an IPv6 address (the IPv4 address goes in real_ip)`},
		{"mapped ipv4 in real_ip6", "real_ip6: \"::ffff:192.0.2.11\"",
			`b.yaml:5: key "real_ip6": 192.0.2.11 is not an IPv6 address (the IPv4 address goes in real_ip)`},
		{"link-local real_ip6", "real_ip6: fe80::1",
			`b.yaml:5: key "real_ip6": fe80::1 is not a global unicast IPv6 address`},
		{"loopback real_ip6", "real_ip6: \"::1\"",
			`b.yaml:5: key "real_ip6": ::1 is not a global unicast IPv6 address`},
		{"zone in real_ip6", "real_ip6: fe80::1%eth0",
			`b.yaml:5: key "real_ip6": "fe80::1%eth0": zones are not allowed`},
		{"not an address", "real_ip6: web1.example",
			`b.yaml:5: key "real_ip6": "web1.example" is not an IP address`},
		{"empty real_ip6", "real_ip6: \"\"",
			`b.yaml:5: key "real_ip6": must not be empty`},
		{"empty key_file6", "heartbeat: {key_file6: \"\"}",
			`b.yaml:5: key "heartbeat.key_file6": must not be empty`},
		{"ipv6 director with zone", "directors: [\"[fe80::2%eth0]:7480\"]",
			`b.yaml:5: key "directors[0]": "[fe80::2%eth0]:7480": zones are not allowed`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("b.yaml", []byte(minimal+tt.line+"\n"))
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if diff := cmp.Diff([]string{tt.want}, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}
