package cli

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/backend/app"
)

// TestStatusDualStack: status names both identities.
func TestStatusDualStack(t *testing.T) {
	now := time.Now()
	st := app.Status{Started: now, Host: app.Host{Node: "web1", Interface: "eth0",
		RealIP: netip.MustParseAddr("192.0.2.11"), RealIP6: netip.MustParseAddr("2001:db8::11")}}
	var b bytes.Buffer
	printStatus(&b, st, now)
	first, _, _ := strings.Cut(b.String(), "\n")
	if want := "node:         web1 (real IP 192.0.2.11, IPv6 2001:db8::11 on eth0), pid 0, version , up 0s"; first != want {
		t.Errorf("node line\n got %q\nwant %q", first, want)
	}
}

// TestIdentityFor: doctor names the identity, and its key file, that
// speaks to each director: real_ip and key_file for an IPv4 one, real_ip6
// and key_file6 for an IPv6 one.
func TestIdentityFor(t *testing.T) {
	h := app.Host{RealIP: netip.MustParseAddr("192.0.2.11"), RealIP6: netip.MustParseAddr("2001:db8::11")}
	for addr, want := range map[string]string{
		"192.0.2.2:7480":     "192.0.2.11 key_file",
		"[2001:db8::2]:7480": "2001:db8::11 key_file6",
	} {
		ip, key := identityFor(addr, h)
		if got := ip.String() + " " + key; got != want {
			t.Errorf("%s: %s, want %s", addr, got, want)
		}
	}
}
