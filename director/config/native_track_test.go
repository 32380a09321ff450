package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestMarshalTrackGolden writes testdata/native-track.conf (every block
// beyond the seed) as native YAML.
func TestMarshalTrackGolden(t *testing.T) {
	c, err := LoadWith("testdata/native-track.conf", ReadOptions{ConfigID: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := MarshalNative(c)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, t.Name(), out)
	roundTrip(t, c)
}

// TestMarshalMigration puts each warning of testdata/native-track.conf at
// the element it concerns, and the output reads back equal.
func TestMarshalMigration(t *testing.T) {
	c, err := LoadWith("testdata/native-track.conf", ReadOptions{ConfigID: "lb1"})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Warnings) == 0 {
		t.Fatal("no warnings: the test needs some")
	}
	out, err := MarshalMigration(c, "Migrated from testdata/native-track.conf.\nSecond line.")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, t.Name(), out)
	back, err := ParseNative("migrated.yaml", out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if diff := cmp.Diff(c, back, cmpNoPos...); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if got := strings.Count(string(out), "# warning: "); got != len(c.Warnings) {
		t.Errorf("%d warning comments, want %d", got, len(c.Warnings))
	}
}

func TestCommentSafe(t *testing.T) {
	for in, want := range map[string]string{
		"plain: \"x\" 'y' #z": "plain: \"x\" 'y' #z",
		"a\nb\tc":             `a\nb\tc`,
		"line\u2028sep\u0085": `line\u2028sep\u0085`,
		"bad \xff byte":       "bad \ufffd byte",
	} {
		if got := commentSafe(in); got != want {
			t.Errorf("commentSafe(%q) = %q, want %q", in, got, want)
		}
	}
}

// ntrack wraps top-level keys after an instance VI (line 7 on) that
// tracks script s, process p and file f, which are defined.
func ntrack(inst, body string) string {
	return "version: 1\nvrrp_scripts: [{name: s, script: /bin/true}]\ntrack_processes: [{name: p, process: nginx}]\ntrack_files: [{name: f, file: /run/f}]\n" +
		"vrrp_instances:\n  - {name: VI, interface: eth0, virtual_router_id: 1, virtual_ipaddress: [192.0.2.1]" + inst + "}\n" + body
}

func TestNativeTrackErrors(t *testing.T) {
	rs := func(check string) string {
		return ntrack("", "virtual_servers:\n  - address: 192.0.2.1:80\n    real_servers:\n      - address: 192.0.2.2\n        checks:\n          - "+check+"\n")
	}
	for _, tt := range []struct {
		name, in string
		want     []string
	}{
		{"script unknown key", ntrack("", "vrrp_scripts: [{name: x, script: /bin/true, rise_: 1}]\n"), []string{`d.yaml:7: key "vrrp_scripts": duplicate key (first at line 2)`}},
		{"script missing", "version: 1\nvrrp_scripts:\n  - name: s\n", []string{`d.yaml:3: key "vrrp_scripts[0].script": missing required key`}},
		{"script interval unit", "version: 1\nvrrp_scripts:\n  - {name: s, script: x, interval: 2}\n", []string{`d.yaml:3: key "vrrp_scripts[0].interval": "2" needs a unit, e.g. "2s"`}},
		{"script weight", "version: 1\nvrrp_scripts:\n  - {name: s, script: x, weight: 254}\n", []string{`d.yaml:3: key "vrrp_scripts[0].weight": 254 is out of range -253..253`}},
		{"script rise", "version: 1\nvrrp_scripts:\n  - {name: s, script: x, rise: 0}\n", []string{`d.yaml:3: key "vrrp_scripts[0].rise": 0 is out of range 1..1048576`}},
		{"script group alone", "version: 1\nvrrp_scripts:\n  - name: s\n    script: x\n    group: g\n", []string{`d.yaml:5: key "vrrp_scripts[0].group": needs key "user"`}},
		{"script twice", "version: 1\nvrrp_scripts:\n  - {name: s, script: x}\n  - {name: s, script: y}\n", []string{`d.yaml:4: key "vrrp_scripts[1]": vrrp script "s" is defined twice (first at line 3)`}},
		{"script_group alone", "version: 1\nscript_group: g\n", []string{`d.yaml:2: key "script_group": needs key "script_user"`}},
		{"script_security", "version: 1\nscript_security: yes please\n", []string{`d.yaml:2: key "script_security": want true or false, not "yes please"`}},
		{"process quorum_max", "version: 1\ntrack_processes:\n  - {name: p, process: x, quorum: 3, quorum_max: 2}\n", []string{`d.yaml:3: key "track_processes[0].quorum_max": 2 is below quorum 3`}},
		{"process param_match", "version: 1\ntrack_processes:\n  - {name: p, process: x, param_match: fuzzy}\n", []string{`d.yaml:3: key "track_processes[0].param_match": "fuzzy" is not exact, partial or initial`}},
		{"process delay", "version: 1\ntrack_processes:\n  - {name: p, process: x, fork_delay: -1s}\n", []string{`d.yaml:3: key "track_processes[0].fork_delay": -1s is out of range 0s..24h`}},
		{"file overwrite", "version: 1\ntrack_files:\n  - {name: f, file: /f, overwrite: true}\n", []string{`d.yaml:3: key "track_files[0].overwrite": needs key "init_file"`}},
		{"file init_file", "version: 1\ntrack_files:\n  - {name: f, file: /f, init_file: x}\n", []string{`d.yaml:3: key "track_files[0].init_file": want an integer, not "x"`}},
		{"track undefined", ntrack(", track_script: [nope]", ""), []string{`d.yaml:6: key "vrrp_instances[0].track_script[0]": "nope" is not defined in vrrp_scripts`}},
		{"track weight", ntrack(", track_process: [p weight 300]", ""), []string{`d.yaml:6: key "vrrp_instances[0].track_process[0]": weight 300 is out of range -253..253`}},
		{"track syntax", ntrack(", track_file: [f reverse]", ""), []string{`d.yaml:6: key "vrrp_instances[0].track_file[0]": "f reverse": want NAME [weight -253..253 [reverse]]`}},
		{"track mapping reverse", ntrack(", track_script: [{name: s, reverse: true}]", ""), []string{`d.yaml:6: key "vrrp_instances[0].track_script[0].reverse": needs key "weight"`}},
		{"sync group member", ntrack("", "sync_groups:\n  - {name: G, members: [VI, VX]}\n"), []string{`d.yaml:8: key "sync_groups[0].members[1]": "VX" is not a vrrp instance`}},
		{"sync group twice", ntrack("", "  - {name: V2, interface: eth0, virtual_router_id: 2, virtual_ipaddress: [192.0.2.2]}\nsync_groups:\n  - {name: G, members: [VI, V2]}\n  - {name: H, members: [VI, V2]}\n"), []string{
			`d.yaml:10: key "sync_groups[1].members[0]": instance "VI" is already in sync group "G" (an instance can be in one group only)`,
			`d.yaml:10: key "sync_groups[1].members[1]": instance "V2" is already in sync group "G" (an instance can be in one group only)`,
		}},
		{"sync group key", ntrack("", "sync_groups:\n  - {name: G, members: [VI], notify_maser: x}\n"), []string{
			`d.yaml:8: key "sync_groups[0].members": sync group "G" needs at least two instances`,
			`d.yaml:8: key "sync_groups[0].notify_maser": unknown key (did you mean "notify_master"?)`,
		}},
		{"sync group track_interface", ntrack("", "sync_groups:\n  - {name: G, members: [VI], track_interface: [eth0 weight x]}\n"), []string{
			`d.yaml:8: key "sync_groups[0].members": sync group "G" needs at least two instances`,
			`d.yaml:8: key "sync_groups[0].track_interface[0]": weight "x" is not an integer`,
		}},
		{"excluded", ntrack(", virtual_ipaddress_excluded: [192.0.2.300]", ""), []string{`d.yaml:6: key "vrrp_instances[0].virtual_ipaddress_excluded[0]": "192.0.2.300" is not an IP address`}},
		{"route option", ntrack(", virtual_routes: [10.0.0.0/8 via 192.0.2.9 mtu 1400]", ""), []string{`d.yaml:6: key "vrrp_instances[0].virtual_routes[0]": "mtu": unknown route option (want via, src, dev, table, metric or scope)`}},
		{"route via or dev", ntrack(", virtual_routes: [10.0.0.0/8]", ""), []string{`d.yaml:6: key "vrrp_instances[0].virtual_routes[0]": 10.0.0.0/8: a route needs via or dev`}},
		{"route family", "version: 1\nstatic:\n  routes: [10.0.0.0/8 via 2001:db8::1]\n", []string{`d.yaml:3: key "static.routes[0]": 10.0.0.0/8 and 2001:db8::1 are of different families`}},
		{"route scope", "version: 1\nstatic:\n  routes: [10.0.0.0/8 dev eth0 scope galaxy]\n", []string{`d.yaml:3: key "static.routes[0]": scope "galaxy" is not global, link, host or nowhere`}},
		{"route twice", "version: 1\nstatic:\n  routes: [10.0.0.0/8 dev eth0 dev eth1]\n", []string{`d.yaml:3: key "static.routes[0]": option "dev" is given twice`}},
		{"rule table", ntrack(", virtual_rules: [from 10.0.0.0/8]", ""), []string{`d.yaml:6: key "vrrp_instances[0].virtual_rules[0]": a rule needs table N`}},
		{"rule fwmark", "version: 1\nstatic:\n  rules: [fwmark x table 5]\n", []string{`d.yaml:3: key "static.rules[0]": fwmark "x" is not a number 1..4294967295`}},
		{"rule iif", "version: 1\nstatic:\n  rules: [iif a/b table 5]\n", []string{`d.yaml:3: key "static.rules[0]": iif interface name "a/b" contains '/', ':' or white space`}},
		{"static key", "version: 1\nstatic:\n  ipaddress: []\n", []string{`d.yaml:3: key "static.ipaddress": unknown key (known here: addresses, routes, rules)`}},
		{"group label", ntrack("", "virtual_servers:\n  - {address: 192.0.2.1:80, group: \"\"}\n"), []string{`d.yaml:8: key "virtual_servers[0].group": the name is empty`}},
		{"misc without path", rs("{type: MISC_CHECK}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].misc_path": missing required key`}},
		{"misc timeout", rs("{type: MISC_CHECK, misc_path: /bin/true, misc_timeout: 0s}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].misc_timeout": 0s is out of range 1ms..24h`}},
		{"key of another check", rs("{type: TCP_CHECK, payload: ff}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].payload": TCP_CHECK has no payload`}},
		{"misc connect_port", rs("{type: MISC_CHECK, misc_path: x, connect_port: 80}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].connect_port": MISC_CHECK has no connect_port`}},
		{"file retry", rs("{type: FILE_CHECK, track_file: f, retry: 2}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].retry": FILE_CHECK has no retry`}},
		{"file undefined", rs("{type: FILE_CHECK, track_file: g}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].track_file": "g" is not defined in track_files`}},
		{"udp payload", rs("{type: UDP_CHECK, payload: xyz}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].payload": "xyz" is not a hex string`}},
		{"udp reply alone", rs("{type: UDP_CHECK, reply: 00XX}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].reply": needs "require_reply: true"`}},
		{"udp lengths", rs("{type: UDP_CHECK, min_reply_length: 9, max_reply_length: 8}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].min_reply_length": 9 is above max_reply_length 8`}},
		{"dns type", rs("{type: DNS_CHECK, dns_type: mx}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].dns_type": "mx" is not one of A, NS, CNAME, SOA, MX, TXT, AAAA`}},
		{"smtp helo", rs("{type: SMTP_CHECK, helo_name: \"\"}"), []string{`d.yaml:12: key "virtual_servers[0].real_servers[0].checks[0].helo_name": the name is empty`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseNative("d.yaml", []byte(tt.in))
			if diff := cmp.Diff(tt.want, errLines(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestNativeTrackValues reads each new key's good values.
func TestNativeTrackValues(t *testing.T) {
	in := ntrack(`, track_script: ["s weight -3 reverse", {name: s, weight: 2}], track_process: [p], track_file: [f weight 0],
    virtual_ipaddress_excluded: [192.0.2.9/24 dev eth1], virtual_routes: ["default via 192.0.2.254", "blackhole 10.0.0.0/8 table 7 metric 3"],
    virtual_rules: ["from all to 10.0.0.0/8 iif eth0 oif eth1 fwmark 0x10 priority 9 table main"]`,
		`script_user: u
script_group: g
script_security: true
static:
  addresses: [203.0.113.1/32 dev lo]
  routes: ["2001:db8::/32 via 2001:db8::1 src 2001:db8::2 dev eth0 scope link"]
  rules: ["to 198.51.100.0/24 table 9"]
virtual_servers:
  - address: 192.0.2.1:53
    group: DNS
    real_servers:
      - address: 192.0.2.2
        checks:
          - {type: UDP_CHECK, payload: "00 ff", require_reply: true, reply: 0X, min_reply_length: 1}
          - {type: DNS_CHECK, dns_type: AAAA, dns_name: example.com}
          - {type: MISC_CHECK, misc_path: "/bin/check a", misc_timeout: 1500ms, misc_dynamic: true, user: u, group: g, retry: 2}
          - {type: SMTP_CHECK, helo_name: me}
          - {type: PING_CHECK}
          - {type: FILE_CHECK, track_file: f, weight: -5, reverse: true, dynamic: true}
`)
	c, err := ParseNative("d.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	in0 := c.VRRP[0]
	want := Tracking{
		Scripts:   []TrackRef{{Name: "s", Weight: -3, WeightSet: true, Reverse: true}, {Name: "s", Weight: 2, WeightSet: true}},
		Processes: []TrackRef{{Name: "p"}},
		Files:     []TrackRef{{Name: "f", WeightSet: true}},
	}
	if diff := cmp.Diff(want, in0.Track, cmpNoPos...); diff != "" {
		t.Errorf("track (-want +got):\n%s", diff)
	}
	var got []string
	for _, r := range in0.VirtualRoutes {
		got = append(got, r.String())
	}
	for _, r := range append(in0.VirtualRules, c.Static.Rules...) {
		got = append(got, r.String())
	}
	for _, r := range c.Static.Routes {
		got = append(got, r.String())
	}
	got = append(got, in0.ExcludedVIPs[0].String(), c.Static.Addresses[0].String())
	if diff := cmp.Diff([]string{
		"0.0.0.0/0 via 192.0.2.254",
		"blackhole 10.0.0.0/8 table 7 metric 3",
		"to 10.0.0.0/8 iif eth0 oif eth1 fwmark 16 priority 9 table 254",
		"to 198.51.100.0/24 table 9",
		"2001:db8::/32 via 2001:db8::1 src 2001:db8::2 dev eth0 scope link",
		"192.0.2.9/24 dev eth1",
		"203.0.113.1/32 dev lo",
	}, got); diff != "" {
		t.Errorf("routes, rules, addresses (-want +got):\n%s", diff)
	}
	if c.ScriptUser != "u" || c.ScriptGroup != "g" || !c.ScriptSecurity || c.Services[0].Group != "DNS" {
		t.Errorf("script_user %q, script_group %q, script_security %v, group %q", c.ScriptUser, c.ScriptGroup, c.ScriptSecurity, c.Services[0].Group)
	}
	checks := c.Services[0].RealServers[0].Checks
	udp, dns, misc, smtp, file := checks[0], checks[1], checks[2], checks[3], checks[5]
	if udp.Payload != "00 ff" || !udp.RequireReply || udp.ReplyHex != "0X" || udp.MinReplyLength != 1 || udp.MaxReplyLength != 255 {
		t.Errorf("UDP_CHECK %+v", udp)
	}
	if dns.DNSType != "AAAA" || dns.DNSName != "example.com" || dns.Retry != 3 {
		t.Errorf("DNS_CHECK %+v", dns)
	}
	if misc.MiscPath != "/bin/check a" || misc.MiscTimeout != 1500*time.Millisecond || !misc.MiscDynamic || misc.User != "u" || misc.Group != "g" || misc.Retry != 2 {
		t.Errorf("MISC_CHECK %+v", misc)
	}
	if smtp.HeloName != "me" || checks[4].Type != PingCheck {
		t.Errorf("SMTP_CHECK %+v, PING_CHECK %+v", smtp, checks[4])
	}
	if file.TrackFile != "f" || file.Weight != -5 || !file.Reverse || !file.Dynamic {
		t.Errorf("FILE_CHECK %+v", file)
	}
	roundTrip(t, c)
}
