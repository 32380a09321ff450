package config

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// seedModel is what the seed's keepalived.conf (docs/examples) means.
func seedModel(file string) *Config {
	p := func(line int) Pos { return Pos{file, line} }
	c := Default()
	c.Format = FormatKeepalived
	c.Files = []string{file}
	c.Notification.Email = []string{"admin@example.com"}
	c.Notification.From = "keepalived@example.com"
	c.Notification.Pos = p(1)
	c.ConnSync = &ConnSync{Interface: "eth1", Instance: "VI0", SyncID: 0, Pos: p(15)}
	c.VRRP = []VRRPInstance{{
		Name: "VI0", State: StateBackup, Interface: "eth0", VirtualRouterID: 100, Priority: 100,
		NoPreempt: true, AdvertInt: time.Second, Version: 2,
		Auth:            &Auth{Type: "PASS", Pass: "password", Pos: p(16)},
		VirtualIPs:      []VirtualIP{{Prefix: netip.MustParsePrefix("192.0.2.100/28"), Dev: "eth0", Pos: p(21)}},
		GARPMasterDelay: 5 * time.Second, GARPMasterRepeat: 5, GARPMasterRefreshRepeat: 1,
		Pos: p(8),
	}}
	rs := func(ip string, line int) RealServer {
		return RealServer{
			Addr: netip.MustParseAddrPort(ip + ":80"), Weight: 1, Pos: p(line),
			Checks: []Check{{
				Type: HTTPGet, ConnectTimeout: 3 * time.Second, Retry: 1, DelayBeforeRetry: 3 * time.Second,
				URLs: []URL{{Path: "/check.txt", StatusCodes: []StatusRange{{200, 200}}, Pos: p(line + 3)}},
				Pos:  p(line + 2),
			}},
		}
	}
	c.Services = []VirtualService{{
		Protocol: TCP, Addr: netip.MustParseAddrPort("192.0.2.100:80"), DelayLoop: 10 * time.Second,
		Scheduler: "lc", Forwarding: DR, Quorum: 1,
		SorryServer: &SorryServer{Addr: netip.MustParseAddrPort("192.0.2.99:80"), Pos: p(31)},
		RealServers: []RealServer{rs("192.0.2.101", 33), rs("192.0.2.102", 43)},
		Pos:         p(25),
	}}
	return c
}

// TestKeepalivedSeed loads the seed's file verbatim (trailing blanks and
// all) with documentation addresses in place of xxx.
func TestKeepalivedSeed(t *testing.T) {
	const path = "../../docs/examples/keepalived.conf"
	data := readFile(t, path)
	if !bytes.Contains(data, []byte("lb_algo lc  \n")) || !bytes.Contains(data, []byte("lvs_sync_daemon_interface eth1\n")) {
		t.Fatalf("%s is no longer the seed verbatim", path)
	}
	got, err := ParseKeepalived(path, data)
	if err != nil {
		t.Fatal(err)
	}
	want := seedModel(path)
	want.FilesHash = filesHash(data)
	if diff := cmp.Diff(want, got, cmpModel...); diff != "" {
		t.Errorf("seed model mismatch (-want +got):\n%s", diff)
	}
}

// TestKeepalivedSeedOriginal loads the block exactly as the blog printed it,
// with its e-mail addresses mangled by the blog's obfuscation (a no-break
// space inside "[email protected]").
func TestKeepalivedSeedOriginal(t *testing.T) {
	data := readFile(t, "testdata/seed-original.conf")
	got, err := ParseKeepalived("testdata/seed-original.conf", data)
	if err != nil {
		t.Fatal(err)
	}
	want := seedModel("testdata/seed-original.conf")
	want.FilesHash = filesHash(data)
	want.Notification.Email = []string{"[email\u00a0protected]"}
	want.Notification.From = "[email\u00a0protected]"
	if diff := cmp.Diff(want, got, cmpModel...); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestKeepalivedFull(t *testing.T) {
	c, err := ParseKeepalived("testdata/full.conf", readFile(t, "testdata/full.conf"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := MarshalNative(c)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, t.Name(), out)

	// Spot checks of what the golden file cannot show.
	if got := c.VRRP[0].Auth.Pass; got != "s3cr#t!" {
		t.Errorf("quoted auth_pass = %q", got)
	}
	if got := c.VRRP[1].Version; got != 3 {
		t.Errorf("IPv6 instance version = %d, want 3", got)
	}
	if got := c.Services[0].SorryServer.Addr.Port(); got != 443 {
		t.Errorf("sorry server port = %d, want the virtual port 443", got)
	}
	if got := c.Services[0].Forwarding; got != DR {
		t.Errorf("forwarding = %s", got)
	}
	if got := c.Services[2].Forwarding; got != NAT {
		t.Errorf("keepalived's default forwarding = %s, want NAT", got)
	}
	if got := c.Services[1].Persistence; got != DefaultPersistenceTimeout {
		t.Errorf("persistence_timeout without value = %s", got)
	}
	rs := c.Services[0].RealServers
	if !rs[0].InhibitOnFailure || rs[1].InhibitOnFailure {
		t.Errorf("inhibit_on_failure: virtual-server default then off = %v, %v", rs[0].InhibitOnFailure, rs[1].InhibitOnFailure)
	}
	if got := rs[0].Checks[1].VirtualHost; got != "" {
		t.Errorf("TCP_CHECK virtualhost = %q, want none", got)
	}
	if got := rs[0].Checks[0].Target(&rs[0]); got != netip.MustParseAddrPort("192.0.2.211:8443") {
		t.Errorf("check target = %s", got)
	}
	if got := c.Services[0].Key(); got != "TCP 192.0.2.100:443" {
		t.Errorf("key = %q", got)
	}
	if got := c.Services[1].Key(); got != "FWM 7" {
		t.Errorf("key = %q", got)
	}
	if got := c.ConnSync.SyncID; got != 42 {
		t.Errorf("sync id = %d", got)
	}
}

func TestKeepalivedSyntax(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     *VRRPInstance // checked fields: Name, Interface, Notify.Master, Auth.Pass
	}{
		{
			name: "comments anywhere, single-line blocks",
			in:   "vrrp_instance A { # comment\ninterface eth0 ! other comment\nvirtual_router_id 1\nauthentication { auth_type PASS\nauth_pass abc#def\n}\nvirtual_ipaddress { 192.0.2.1 }\n}\n",
			want: &VRRPInstance{Name: "A", Interface: "eth0", Auth: &Auth{Pass: "abc"}},
		},
		{
			name: "brace on the next line",
			in:   "vrrp_instance A\n{\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress\n{\n192.0.2.1\n}\n}\n",
			want: &VRRPInstance{Name: "A", Interface: "eth0"},
		},
		{
			name: "quotes join and escape",
			in:   "vrrp_instance 'A'\"\" {\ninterface eth0\nvirtual_router_id 1\nnotify_master \"/bin/x 'a b'\"\\t\"c\\td\\x41\\101\\\"\"\nvirtual_ipaddress {\n192.0.2.1\n}\n}\n",
			want: &VRRPInstance{Name: "A", Interface: "eth0", Notify: Notify{Master: "/bin/x 'a b'\\tc\tdAA\""}},
		},
		{
			name: "CRLF line ends",
			in:   "vrrp_instance A {\r\ninterface eth0\r\nvirtual_router_id 1\r\nvirtual_ipaddress {\r\n192.0.2.1\r\n}\r\n}\r\n",
			want: &VRRPInstance{Name: "A", Interface: "eth0"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseKeepalived("t.conf", []byte(tt.in), noFS{})
			if err != nil {
				t.Fatal(err)
			}
			in := c.VRRP[0]
			got := &VRRPInstance{Name: in.Name, Interface: in.Interface, Notify: Notify{Master: in.Notify.Master}}
			if in.Auth != nil {
				got.Auth = &Auth{Pass: in.Auth.Pass}
			}
			if diff := cmp.Diff(tt.want, got, cmpModel...); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// vrrpConf wraps instance keywords in a valid instance (line 1 is the
// vrrp_instance line; the body starts on line 2).
func vrrpConf(body string) string {
	return "vrrp_instance VI {\n" + body + "interface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n192.0.2.1\n}\n}\n"
}

// vsConf wraps virtual-server keywords (body starts on line 2) of a TCP
// service.
func vsConf(body string) string {
	return "virtual_server 192.0.2.1 80 { protocol TCP\n" + body + "}\n"
}

// rsConf wraps real-server keywords (body starts on line 3).
func rsConf(body string) string {
	return vsConf("real_server 192.0.2.2 80 {\n" + body + "}\n")
}

// TestKeepalivedErrors has one case per class of error, with the exact
// message and line.
func TestKeepalivedErrors(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []string
	}{
		{"integer out of range", vrrpConf("priority 256\n"),
			[]string{`t.conf:2: keyword "priority": 256 is out of range 1..255`}},
		{"not an integer", vrrpConf("priority high\n"),
			[]string{`t.conf:2: keyword "priority": "high" is not an integer`}},
		{"bad seconds", vrrpConf("advert_int 1s\n"),
			[]string{`t.conf:2: keyword "advert_int": "1s" is not a number of seconds`}},
		{"bad address", vsConf("sorry_server 192.0.2.300 80\n"),
			[]string{`t.conf:2: keyword "sorry_server": "192.0.2.300" is not an IP address`}},
		{"block expected", vrrpConf("authentication PASS\n"),
			[]string{`t.conf:2: keyword "authentication": needs a block { } (usage: authentication { auth_type PASS; auth_pass PASSWORD })`}},
		{"no block expected", vrrpConf("priority 100 {\n}\n"),
			[]string{`t.conf:2: keyword "priority": takes no block (usage: priority 1..255)`}},
		{"auth_type AH", vrrpConf("authentication {\nauth_type AH\nauth_pass x\n}\n"),
			[]string{`t.conf:3: keyword "auth_type": AH (IPsec authentication header) is not supported: RFC 3768 removed authentication from VRRP and RFC 5798 has none; use auth_type PASS for keepalived peers, or no authentication block`}},
		{"track_interface reverse", vrrpConf("track_interface {\neth1 weight 10 reverse\n}\n"),
			[]string{`t.conf:3: keyword "track_interface": option "reverse" of eth1 is not supported`}},
		{"status code", rsConf("HTTP_GET {\nurl {\npath /\nstatus_code 2xx\n}\n}\n"),
			[]string{`t.conf:6: keyword "status_code": "2xx" is not a status code or range (e.g. 200 or 200-299)`}},
		{"digest", rsConf("HTTP_GET {\nurl {\npath /\ndigest xyz\n}\n}\n"),
			[]string{`t.conf:6: keyword "digest": digest "xyz" is not 32 lower-case hex digits (an MD5 sum, as genhash prints)`}},
		{"url without path", rsConf("HTTP_GET {\nurl {\nstatus_code 200\n}\n}\n"),
			[]string{`t.conf:4: keyword "url": keyword "path" is missing`}},
		{"virtual_server group", "virtual_server group G {\n}\n",
			[]string{`t.conf:1: keyword "virtual_server": virtual_server_group "G" is not defined`}},
		{"missing interface", "vrrp_instance VI {\nvirtual_router_id 1\nvirtual_ipaddress {\n192.0.2.1\n}\n}\n",
			[]string{`t.conf:1: vrrp_instance "VI": keyword "interface" is missing`}},
		{"unclosed block", "vrrp_instance VI {\ninterface eth0\n",
			[]string{`t.conf:1: keyword "vrrp_instance": block is not closed (missing '}')`}},
		{"stray close", "}\n", []string{`t.conf:1: unexpected '}'`}},
		{"unterminated quote", "global_defs {\nrouter_id \"lb1\n}\n",
			[]string{`t.conf:2: unterminated quoted string`}},
		{"empty file", "", []string{`t.conf: the configuration has no vrrp_instance and no virtual_server: nothing to do`}},

		// Validate, after a clean parse: the element's line.
		{"real server without checks is valid", rsConf(""),
			nil},
		{"v2 fractional advert", vrrpConf("advert_int 0.5\n"),
			[]string{`t.conf:1: vrrp_instance "VI": keyword "advert_int": 500ms: VRRP version 2 wants whole seconds 1..255`}},
		{"v2 IPv6", "vrrp_instance VI {\ninterface eth0\nversion 2\nvirtual_router_id 1\nvirtual_ipaddress {\n2001:db8::1\n}\n}\n",
			[]string{`t.conf:1: vrrp_instance "VI": keyword "version": VRRP version 2 cannot carry IPv6 addresses; use version 3`}},
		{"v3 auth", vrrpConf("version 3\nauthentication {\nauth_type PASS\nauth_pass x\n}\n"),
			[]string{`t.conf:3: vrrp_instance "VI": keyword "authentication": VRRP version 3 has no authentication`}},
		{"mixed families", "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n192.0.2.1\n2001:db8::1\n}\n}\n",
			[]string{`t.conf:6: vrrp_instance "VI": keyword "virtual_ipaddress": 2001:db8::1: all addresses of an instance must be of one family`}},
		{"label", vrrpConf("virtual_ipaddress {\n192.0.2.9 label eth1:x\n}\n"),
			[]string{`t.conf:3: vrrp_instance "VI": keyword "virtual_ipaddress": label "eth1:x" must be "eth0" or start with "eth0:"`}},
		{"duplicate VRID", vrrpConf("") + "vrrp_instance VJ {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n192.0.2.2\n}\n}\n",
			[]string{`t.conf:8: vrrp_instance "VJ": keyword "virtual_router_id": 1 is already used by vrrp_instance "VI" on interface eth0`}},
		{"hysteresis", vsConf("quorum 2\nhysteresis 2\nreal_server 192.0.2.2 80 {\n}\n"),
			[]string{`t.conf:1: virtual_server TCP 192.0.2.1:80: keyword "hysteresis": 2 must be less than the quorum 2`}},
		{"duplicate real server", vsConf("real_server 192.0.2.2 80 {\n}\nreal_server 192.0.2.2 80 {\n}\n"),
			[]string{`t.conf:4: virtual_server TCP 192.0.2.1:80: keyword "real_server": 192.0.2.2:80 is defined twice (first at t.conf:2)`}},
		{"duplicate service", vsConf("") + vsConf(""),
			[]string{`t.conf:3: virtual_server TCP 192.0.2.1:80 is defined twice (first at t.conf:1)`}},
		{"sync instance", "global_defs {\nlvs_sync_daemon eth1 VX\n}\n" + vrrpConf(""),
			[]string{`t.conf:2: keyword "lvs_sync_daemon": no vrrp_instance "VX"`}},
		{"family of real server", vsConf("real_server 2001:db8::2 80 {\n}\n"),
			[]string{`t.conf:2: virtual_server TCP 192.0.2.1:80: keyword "real_server": 2001:db8::2 is not of the service's address family (only TUN can mix families)`}},
		{"port 0 without persistence", "virtual_server 192.0.2.1 {\nprotocol TCP\n}\n",
			[]string{`t.conf:1: virtual_server TCP 192.0.2.1:0: port 0 (all ports) needs persistence_timeout`}},
		{"fwmark check without port", "virtual_server fwmark 1 {\nreal_server 192.0.2.2 {\nTCP_CHECK {\n}\n}\n}\n",
			[]string{`t.conf:3: virtual_server FWM 1 real_server 192.0.2.2:0 TCP_CHECK: keyword "connect_port": the real server has no port; set connect_port`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseKeepalived("t.conf", []byte(tt.in), noFS{})
			if diff := cmp.Diff(tt.want, errLines(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeepalivedInclude(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("keepalived.conf", "include conf.d/*.conf\ninclude vrrp.inc\nvirtual_server 192.0.2.1 80 {\ninclude rs.inc\n}\ninclude empty.d/*.conf\n")
	write("conf.d/a.conf", "global_defs {\nrouter_id lb1\n}\n")
	write("conf.d/b.conf", "global_defs {\nnotification_email_from x@example.com\n}\n")
	write("vrrp.inc", "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n192.0.2.1\n}\n}\n")
	write("rs.inc", "\n\nreal_server 192.0.2.2 80 {\n}\n")
	if err := os.Mkdir(filepath.Join(dir, "empty.d"), 0o755); err != nil {
		t.Fatal(err)
	}

	main := filepath.Join(dir, "keepalived.conf")
	c, err := Load(main)
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{main, filepath.Join(dir, "conf.d/a.conf"), filepath.Join(dir, "conf.d/b.conf"),
		filepath.Join(dir, "vrrp.inc"), filepath.Join(dir, "rs.inc")}
	if diff := cmp.Diff(wantFiles, c.Files); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if c.Node != "lb1" || c.Notification.From != "x@example.com" {
		t.Errorf("global_defs from two files: node %q, from %q", c.Node, c.Notification.From)
	}
	if got, want := c.Services[0].RealServers[0].Pos, (Pos{filepath.Join(dir, "rs.inc"), 3}); got != want {
		t.Errorf("real server position %v, want %v", got, want)
	}
	if got, want := c.VRRP[0].VirtualIPs[0].Pos, (Pos{filepath.Join(dir, "vrrp.inc"), 5}); got != want {
		t.Errorf("VIP position %v, want %v", got, want)
	}

	// Warnings in an included file cite it; a duplicate keyword across
	// global_defs blocks is caught (the last one is used).
	write("conf.d/c.conf", "global_defs {\nrouter_id lb2\nbogus 1\n}\n")
	c, err = Load(main)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "keepalived.conf") + `:3: virtual_server 192.0.2.1:80: keyword "protocol" is missing: keepalived 2.2.7 then uses UDP ("no protocol set - defaulting to UDP"), and so does Tandem; write protocol TCP for a TCP service`,
		filepath.Join(dir, "conf.d/c.conf") + `:2: keyword "router_id" is given twice in global_defs (first at ` + filepath.Join(dir, "conf.d/a.conf") + `:2): keepalived uses the last one, and so does Tandem`,
		filepath.Join(dir, "conf.d/c.conf") + `:3: keyword "bogus" is unknown to keepalived 2.2.7 (in global_defs): keepalived logs "Unknown keyword" and skips it, and so does Tandem`,
	}
	if diff := cmp.Diff(want, errLines(c.Warnings)); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if c.Node != "lb2" {
		t.Errorf("node %q, want the last router_id lb2", c.Node)
	}
	if err := os.Remove(filepath.Join(dir, "conf.d/c.conf")); err != nil {
		t.Fatal(err)
	}

	// A missing file, a cycle, too deep.
	for _, tt := range []struct {
		name, main string
		want       string
	}{
		{"missing, includea", "includea nothere.conf\n", `:1: keyword "includea": cannot read ` + filepath.Join(dir, "nothere.conf") + `: no such file or directory`},
		{"cycle", "include self.conf\n", `:1: keyword "include": ` + filepath.Join(dir, "self.conf") + ` includes itself (include cycle)`},
		{"no block", "include x {\n}\n", `:1: keyword "include": takes no block`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			write("self.conf", tt.main)
			_, err := Load(filepath.Join(dir, "self.conf"))
			lines := errLines(err)
			if len(lines) == 0 || !strings.HasSuffix(lines[0], tt.want) {
				t.Errorf("errors %q, want first ending in %q", lines, tt.want)
			}
		})
	}
	t.Run("too deep", func(t *testing.T) {
		for i := 0; i < 12; i++ {
			write(filepath.Join("deep", string(rune('a'+i))+".conf"), "include "+string(rune('a'+i+1))+".conf\n")
		}
		_, err := Load(filepath.Join(dir, "deep/a.conf"))
		lines := errLines(err)
		if len(lines) == 0 || !strings.Contains(lines[0], "includes are nested more than 8 deep") {
			t.Errorf("errors %q", lines)
		}
	})
}

// TestKeepalivedWarnings: what keepalived accepts with a message is
// accepted, with a warning naming file, line and keyword, and the value
// keepalived would use.
func TestKeepalivedWarnings(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		// want are substrings of the warnings, in order, one per warning.
		want  []string
		check func(t *testing.T, c *Config)
	}{
		{"unknown top-level keyword", "bogus_block {\nx 1\n}\n" + vrrpConf(""),
			[]string{`t.conf:1: keyword "bogus_block" is unknown to keepalived 2.2.7 (in top level): keepalived logs "Unknown keyword" and skips it and its block, and so does Tandem`}, nil},
		{"unknown keyword in block", vrrpConf("bogus\n"),
			[]string{`t.conf:2: keyword "bogus" is unknown to keepalived 2.2.7 (in vrrp_instance)`}, nil},
		{"removed nat_mask", rsConf("nat_mask 255.255.255.0\n"),
			[]string{`t.conf:3: keyword "nat_mask"`}, nil},
		{"duplicate keyword: last wins", vrrpConf("priority 100\npriority 101\n"),
			[]string{`t.conf:3: keyword "priority" is given twice in vrrp_instance (first at t.conf:2): keepalived uses the last one, and so does Tandem`},
			func(t *testing.T, c *Config) {
				if c.VRRP[0].Priority != 101 {
					t.Errorf("priority %d, want the last, 101", c.VRRP[0].Priority)
				}
			}},
		{"extra arguments", vrrpConf("unicast_src_ip 192.0.2.1 192.0.2.2\nnopreempt yes\n"),
			[]string{`t.conf:2: keyword "unicast_src_ip": extra words "192.0.2.2" after its arguments`, `t.conf:3: keyword "nopreempt": extra words "yes"`},
			func(t *testing.T, c *Config) {
				if c.VRRP[0].SourceIP != netip.MustParseAddr("192.0.2.1") || !c.VRRP[0].NoPreempt {
					t.Errorf("source %s nopreempt %v", c.VRRP[0].SourceIP, c.VRRP[0].NoPreempt)
				}
			}},
		{"auth_pass truncated", vrrpConf("authentication {\nauth_type PASS\nauth_pass password1\n}\n"),
			[]string{`t.conf:4: keyword "auth_pass": the password is 9 bytes; VRRP carries 8: keepalived uses the first 8 ("password"), and so does Tandem`},
			func(t *testing.T, c *Config) {
				if c.VRRP[0].Auth.Pass != "password" {
					t.Errorf("password %q", c.VRRP[0].Auth.Pass)
				}
			}},
		{"nopreempt with state MASTER", vrrpConf("state MASTER\npriority 150\nnopreempt\n"),
			[]string{`t.conf:4: vrrp_instance "VI": keyword "nopreempt": has no effect with state MASTER: keepalived clears it, and so does Tandem`},
			func(t *testing.T, c *Config) {
				if c.VRRP[0].NoPreempt || c.VRRP[0].State != StateMaster {
					t.Errorf("nopreempt %v state %s", c.VRRP[0].NoPreempt, c.VRRP[0].State)
				}
			}},
		{"priority 255 with state BACKUP", vrrpConf("priority 255\n"),
			[]string{`t.conf:2: vrrp_instance "VI": keyword "priority": 255 is the address owner`},
			func(t *testing.T, c *Config) {
				if c.VRRP[0].State != StateMaster {
					t.Errorf("state %s", c.VRRP[0].State)
				}
			}},
		{"VIP option", "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nvirtual_ipaddress {\n192.0.2.1/24 dev eth0 scope link\n}\n}\n",
			[]string{`t.conf:5: keyword "virtual_ipaddress": option "scope link" of 192.0.2.1/24: keepalived applies it; Tandem adds the address without it`}, nil},
		{"notify with a user", vrrpConf("notify_master /bin/x nobody\nnotify_backup /bin/y root\n"),
			[]string{`t.conf:2: keyword "notify_master": keepalived runs the script as user "nobody"; Tandem runs notify scripts as root`}, nil},
		{"checker settings on the virtual server", vsConf("connect_timeout 3\nretry 4\nreal_server 192.0.2.2 80 {\nTCP_CHECK {\n}\n}\n"), nil,
			func(t *testing.T, c *Config) {
				ch := c.Services[0].RealServers[0].Checks[0]
				if ch.ConnectTimeout != 3*time.Second || ch.Retry != 4 {
					t.Errorf("check timeout %s retry %d, want the virtual server's 3s and 4", ch.ConnectTimeout, ch.Retry)
				}
			}},
		{"bad values keepalived replaces", vrrpConf("state PRIMARY\n") + vsConf("lb_algo fastest\nlb_kind dr\npersistence_timeout 0\nquorum 0\n"),
			[]string{`t.conf:2: keyword "state": unknown state "PRIMARY" (want MASTER or BACKUP): keepalived ignores the value and uses BACKUP, and so does Tandem`,
				`t.conf:10: keyword "lb_algo": unknown scheduler "fastest"`,
				`t.conf:11: keyword "lb_kind": unknown forwarding method "dr" (want DR, NAT or TUN): keepalived ignores the value and uses NAT (the names are case-sensitive: write DR)`,
				`t.conf:12: keyword "persistence_timeout": 0 is out of range 1..2678400: keepalived ignores it (no persistence)`,
				`t.conf:13: keyword "quorum": 0 is out of range 1..2147483647: keepalived uses 1`},
			func(t *testing.T, c *Config) {
				s := c.Services[0]
				if c.VRRP[0].State != StateBackup || s.Scheduler != "wlc" || s.Forwarding != NAT || s.Persistence != 0 || s.Quorum != 1 {
					t.Errorf("state %s scheduler %s forwarding %s persistence %s quorum %d", c.VRRP[0].State, s.Scheduler, s.Forwarding, s.Persistence, s.Quorum)
				}
			}},
		{"protocol missing: UDP, as keepalived 2.2.7", "virtual_server 192.0.2.1 53 {\n}\n",
			[]string{`t.conf:1: virtual_server 192.0.2.1:53: keyword "protocol" is missing: keepalived 2.2.7 then uses UDP`},
			func(t *testing.T, c *Config) {
				if c.Services[0].Protocol != UDP {
					t.Errorf("protocol %s", c.Services[0].Protocol)
				}
			}},
		{"two sync daemons: the first", "global_defs {\nlvs_sync_daemon eth1 VI\n}\n" + vrrpConf("lvs_sync_daemon_interface eth2\n"),
			[]string{`t.conf:5: keyword "lvs_sync_daemon_interface": the IPVS sync daemon is already set at t.conf:2: keepalived ignores this one, and so does Tandem`},
			func(t *testing.T, c *Config) {
				if c.ConnSync.Interface != "eth1" {
					t.Errorf("sync interface %s", c.ConnSync.Interface)
				}
			}},
		{"DR port differs: the virtual port", vsConf("lb_kind DR\nreal_server 192.0.2.2 8080 {\n}\n"),
			[]string{`t.conf:3: real_server 192.0.2.2:8080: its port differs from the virtual port 80, which DR forwarding cannot change: keepalived uses the virtual port, and so does Tandem`},
			func(t *testing.T, c *Config) {
				if got := c.Services[0].RealServers[0].Addr.Port(); got != 80 {
					t.Errorf("port %d", got)
				}
			}},
		{"keyword of another block", vsConf("priority 3\n"),
			[]string{`t.conf:2: keyword "priority" is not a keyword of virtual_server`}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseKeepalived("t.conf", []byte(tt.in), noFS{})
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			got := errLines(c.Warnings)
			if len(got) != len(tt.want) {
				t.Fatalf("warnings:\n%s\nwant %d", strings.Join(got, "\n"), len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) && !strings.Contains(got[i], w) {
					t.Errorf("warning %d:\n%s\nwant it to contain\n%s", i, got[i], w)
				}
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}
