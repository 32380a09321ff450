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
	// migrate's output: the same with comments.
	out, err = MarshalMigration(c, "header\n\u2028 line")
	if err != nil {
		t.Fatalf("MarshalMigration: %v", err)
	}
	back, err = ParseNative("fuzz.yaml", out)
	if err != nil {
		t.Fatalf("re-parse of MarshalMigration output: %v\n%s", err, out)
	}
	if diff := cmp.Diff(c, back, cmpNoPos...); diff != "" {
		t.Fatalf("migration round trip (-want +got):\n%s\n%s", diff, out)
	}
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
	addSeeds(f, "../../docs/examples/keepalived.conf", "testdata/full.conf", "testdata/seed-original.conf", "testdata/native-track.conf")
	for _, s := range []string{
		"", "{", "}", "\"", "vrrp_instance {{{{", "global_defs { router_id \"a\\x41\\101\\cA\" }",
		vrrpConf("notify \"a\\tb\"\n"), vsConf("real_server 192.0.2.2 {\n}\n"), "include *",
		// Strings YAML must quote or escape.
		vrrpConf("notify_master \"\u0085 x\u2028y \\x7f\\E: #z\"\nnotify_backup 'null'\nnotify_fault \"- [a]\"\nnotify_stop \" lead\"\nnotify \"trail \"\n"),
		"global_defs {\nrouter_id 0x10\nnotification_email {\n'true'\n\"~\"\n}\n}\n" + vrrpConf(""),
		// Tracking, sync groups, routes and rules, groups, each checker.
		"vrrp_script s {\nscript \"/bin/sh -c 'exit 0'\"\nweight -2 reverse\nuser nobody\n}\n" + vrrpConf("track_script {\ns weight 3 reverse\nundefined\n}\n"),
		"vrrp_track_process p {\nprocess a b c\ndelay 2\nfork_delay 1\n}\nvrrp_track_file f {\nfile /tmp/f\ninit_file overwrite\n}\n" + vrrpConf("track_process {\np\n}\ntrack_file {\nf weight 0\n}\n"),
		vrrpConf("") + "vrrp_instance VI_2 {\ninterface eth1\nvirtual_router_id 2\nvirtual_ipaddress {\n192.0.2.9\n}\n}\nvrrp_sync_group G {\ngroup {\nVI VI_2\n}\ntrack_interface {\neth3\n}\nnotify \"/bin/n x\"\n}\n",
		"static_ipaddress {\n192.0.2.7/24 dev eth0 label eth0:1\n}\nstatic_routes {\ndefault via 192.0.2.1 dev eth0\n2001:db8::/64 via 2001:db8::1\nunreachable 10.0.0.0/8 table main\n}\nstatic_rules {\nfrom all to 10.0.0.0/8 oif eth0 fwmark 0x1/0xff pref 5 table local\n}\n",
		vrrpConf("virtual_ipaddress_excluded {\n2001:db8::5/64\n}\nvirtual_routes {\nthrow 10.0.0.0/8\n10.1.0.0/16 via 192.0.2.1 onlink\n}\nvirtual_rules {\niif eth0 table 7\n}\n"),
		"virtual_server_group G {\n192.0.2.1-3 80\nfwmark 3\n}\nvirtual_server group G {\nprotocol TCP\nlb_kind DR\nreal_server 192.0.2.50 80 {\nPING_CHECK {\n}\n}\n}\n",
		vsConf("real_server 192.0.2.2 80 {\nMISC_CHECK {\nmisc_path /bin/true\nmisc_timeout 3\nmisc_dynamic\nuser a b\n}\nSMTP_CHECK {\nhelo_name h\n}\nDNS_CHECK {\ntype mx\nname n.\n}\nUDP_CHECK {\npayload ff\nrequire_reply\nmax_reply_length 3\n}\n}\n"),
		"vrrp_track_file f {\nfile /f\n}\n" + vsConf("real_server 192.0.2.2 80 {\nFILE_CHECK {\ntrack_file f\nweight -7\n}\n}\n"),
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
		roundTrip(t, c)
	})
}

// FuzzNative: the native reader never panics, and whatever it accepts
// round-trips.
func FuzzNative(f *testing.F) {
	addSeeds(f, "../../docs/examples/director.yaml", "testdata/TestKeepalivedFull.golden", "testdata/TestMarshalSeedGolden.golden", "testdata/TestMarshalTrackGolden.golden", "testdata/TestMarshalMigration.golden", "testdata/bgp.yaml")
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
