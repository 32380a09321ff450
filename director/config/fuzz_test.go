package config

import (
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// roundTrip checks that a configuration that parsed and validated writes as
// native YAML that reads back equal.
func roundTrip(t *testing.T, c *Config) {
	out, err := MarshalNative(c)
	if err != nil {
		t.Fatalf("MarshalNative: %v", err)
	}
	back, err := ParseNative("fuzz.yaml", out)
	if err != nil {
		t.Fatalf("re-parse of MarshalNative output: %v\n%s", err, out)
	}
	if diff := cmp.Diff(c, back, cmpNoPos...); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s\n%s", diff, out)
	}
	if !Equal(c, back) || !Diff(c, back).Empty() {
		t.Fatalf("Equal/Diff disagree with cmp:\n%s", out)
	}
}

// nativeCanHold reports whether the native format can express c: a
// keepalived.conf instance without virtual_ipaddress is accepted with a
// warning, which Validate refuses in a native file.
func nativeCanHold(c *Config) bool {
	for i := range c.VRRP {
		if len(c.VRRP[i].VirtualIPs) == 0 {
			return false
		}
	}
	return true
}

func addSeeds(f *testing.F, paths ...string) {
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// FuzzKeepalived: the keepalived.conf reader never panics, and whatever it
// accepts round-trips through the native format. Includes are refused.
func FuzzKeepalived(f *testing.F) {
	addSeeds(f, "../../docs/examples/keepalived.conf", "testdata/full.conf", "testdata/seed-original.conf")
	for _, s := range []string{
		"", "{", "}", "\"", "vrrp_instance {{{{", "global_defs { router_id \"a\\x41\\101\\cA\" }",
		vrrpConf("notify \"a\\tb\"\n"), vsConf("real_server 192.0.2.2 {\n}\n"), "include *",
		// Strings YAML must quote or escape.
		vrrpConf("notify_master \"\u0085 x\u2028y \\x7f\\E: #z\"\nnotify_backup 'null'\nnotify_fault \"- [a]\"\nnotify_stop \" lead\"\nnotify \"trail \"\n"),
		"global_defs {\nrouter_id 0x10\nnotification_email {\n'true'\n\"~\"\n}\n}\n" + vrrpConf(""),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parseKeepalived("fuzz.conf", data, noFS{})
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error is %T, not ErrorList", err)
			}
			return
		}
		if !nativeCanHold(c) {
			return
		}
		roundTrip(t, c)
	})
}

// FuzzNative: the native reader never panics, and whatever it accepts
// round-trips.
func FuzzNative(f *testing.F) {
	addSeeds(f, "../../docs/examples/director.yaml", "testdata/TestKeepalivedFull.golden", "testdata/TestMarshalSeedGolden.golden")
	for _, s := range []string{"", "version: 1", "version: 1\nnode: &a x\nx: *a\n", "[", "version: 1\n---\n", nvs("    real_servers: [{address: 192.0.2.2}]\n")} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseNative("fuzz.yaml", data)
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error is %T, not ErrorList", err)
			}
			return
		}
		roundTrip(t, c)
	})
}
