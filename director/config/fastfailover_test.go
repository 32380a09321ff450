package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestNativeFastFailoverPeerAndVeto: fast_failover.peer and
// witness_max_veto (docs/ha.md) are read, shown by show-config when set,
// default to "learn" and 3s, and are range checked.
func TestNativeFastFailoverPeerAndVeto(t *testing.T) {
	conf := strings.Replace(ffConf, "  witness_wait: 250ms\n", "  witness_wait: 250ms\n  witness_max_veto: 5s\n  peer: 192.0.2.7\n", 1)
	c, err := ParseNative("d.yaml", []byte(conf))
	if err != nil {
		t.Fatal(err)
	}
	if f := c.FastFailover; f.WitnessMaxVeto != 5*time.Second || f.Peer != netip.MustParseAddr("192.0.2.7") {
		t.Errorf("fast_failover %+v", f)
	}
	b, err := MarshalNative(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "  witness_max_veto: 5s\n  peer: 192.0.2.7\n") {
		t.Errorf("show-config lacks the keys:\n%s", b)
	}
	d, err := ParseNative("d.yaml", []byte(ffConf))
	if err != nil {
		t.Fatal(err)
	}
	if f := d.FastFailover; f.WitnessMaxVeto != DefaultWitnessMaxVeto || f.Peer.IsValid() {
		t.Errorf("defaults %+v", f)
	}
	for _, bad := range []string{"  witness_max_veto: 0s\n", "  witness_max_veto: 1h\n", "  peer: eth0\n"} {
		if _, err := ParseNative("d.yaml", []byte(strings.Replace(ffConf, "  witness_wait: 250ms\n", "  witness_wait: 250ms\n"+bad, 1))); err == nil {
			t.Errorf("%q accepted", strings.TrimSpace(bad))
		}
	}
}
