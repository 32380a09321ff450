package config

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/shared/strictyaml"
)

// TestNativeExample loads docs/examples/director.yaml: the seed's setup
// written natively, so it must mean what the seed's keepalived.conf means
// (plus node and explicit defaults).
func TestNativeExample(t *testing.T) {
	const path = "../../docs/examples/director.yaml"
	got, err := ParseNative(path, readFile(t, path))
	if err != nil {
		t.Fatal(err)
	}
	want := seedModel("keepalived.conf")
	want.Node = "lb1"
	if diff := cmp.Diff(want, got, cmpNoPos...); diff != "" {
		t.Errorf("director.yaml vs the seed (-want +got):\n%s", diff)
	}
	if got.VRRP[0].Pos != (Pos{path, 79}) || got.Services[0].RealServers[1].Pos != (Pos{path, 120}) {
		t.Errorf("positions: instance %v, second real server %v", got.VRRP[0].Pos, got.Services[0].RealServers[1].Pos)
	}
}

func TestNativeDefaults(t *testing.T) {
	in := `version: 1
virtual_servers:
  - address: 192.0.2.1:80
    real_servers:
      - address: 192.0.2.2
        checks:
          - type: TCP_CHECK
          - type: HTTP_GET
            url: [{path: /}]
heartbeat:
  interval: 2s
`
	got, err := ParseNative("d.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Heartbeat.Interval = 2 * time.Second
	want.Heartbeat.DeadAfter = 6 * time.Second
	want.Services = []VirtualService{{
		Protocol: TCP, Addr: netip.MustParseAddrPort("192.0.2.1:80"), DelayLoop: 60 * time.Second,
		Scheduler: "wlc", Forwarding: DR, Quorum: 1,
		RealServers: []RealServer{{
			Addr: netip.MustParseAddrPort("192.0.2.2:80"), Weight: 1,
			Checks: []Check{
				{Type: TCPCheck, ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: time.Second},
				{Type: HTTPGet, ConnectTimeout: 5 * time.Second, Retry: 1, DelayBeforeRetry: 3 * time.Second, URLs: []URL{{Path: "/"}}},
			},
		}},
	}}
	if diff := cmp.Diff(want, got, cmpNoPos...); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// nvs wraps virtual-server keys (they start on line 4).
func nvs(body string) string {
	return "version: 1\nvirtual_servers:\n  - address: 192.0.2.1:80\n" + body
}

// nvrrp wraps instance keys (they start on line 7).
func nvrrp(body string) string {
	return "version: 1\nvrrp_instances:\n  - name: VI\n    interface: eth0\n    virtual_router_id: 1\n    virtual_ipaddress: [192.0.2.1]\n" + body
}

func TestNativeErrors(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []string
	}{
		{"unknown top-level key", "version: 1\nfoo: 1\n", []string{`d.yaml:2: key "foo": unknown key`}},
		{"unknown nested key", nvrrp("    preempt: true\n"), []string{`d.yaml:7: key "vrrp_instances[0].preempt": unknown key (did you mean "nopreempt"?)`}},
		{"duplicate key", "version: 1\nversion: 1\n", []string{`d.yaml:2: key "version": duplicate key (first at line 1)`}},
		{"missing version", "node: x\n", []string{`d.yaml:1: key "version": missing required key (this format is version 1: add "version: 1")`}},
		{"wrong version", "version: 2\n", []string{`d.yaml:1: key "version": 2 is out of range 1..1`}},
		{"empty file", "", []string{`d.yaml:1: the file is empty; it needs at least "version: 1"`}},
		{"not a mapping", "- a\n", []string{`d.yaml:1: want a mapping of keys, not a list`}},
		{"yaml syntax", "version: 1\nnode: [\n", []string{`d.yaml:2: YAML syntax: did not find expected node content`}},
		{"two documents", "version: 1\n---\nversion: 1\n", []string{`d.yaml:2: only one YAML document is allowed`}},
		{"anchor", "version: 1\nnode: &a x\n", []string{`d.yaml:2: anchors and aliases are not supported`}},
		{"custom tag", "version: 1\nnode: !foo x\n", []string{`d.yaml:2: tag "!foo" is not supported`}},
		{"integer type", nvrrp("    priority: high\n"), []string{`d.yaml:7: key "vrrp_instances[0].priority": want an integer, not "high"`}},
		{"integer range", nvrrp("    priority: 300\n"), []string{`d.yaml:7: key "vrrp_instances[0].priority": 300 is out of range 1..255`}},
		{"bool type", nvrrp("    nopreempt: 1\n"), []string{`d.yaml:7: key "vrrp_instances[0].nopreempt": want true or false, not "1"`}},
		{"duration without unit", nvrrp("    advert_int: 1\n"), []string{`d.yaml:7: key "vrrp_instances[0].advert_int": "1" needs a unit, e.g. "1s"`}},
		{"bad duration", nvrrp("    advert_int: soon\n"), []string{`d.yaml:7: key "vrrp_instances[0].advert_int": "soon" is not a duration such as "10s", "1.5s" or "5m"`}},
		{"enum", nvs("    lvs_method: DSR\n"), []string{`d.yaml:4: key "virtual_servers[0].lvs_method": unknown forwarding method "DSR" (want DR, NAT or TUN)`}},
		{"scheduler", nvs("    lvs_sched: fastest\n"), []string{`d.yaml:4: key "virtual_servers[0].lvs_sched": unknown scheduler "fastest" (want one of rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)`}},
		{"address", nvs("    sorry_server: 192.0.2.300:80\n"), []string{`d.yaml:4: key "virtual_servers[0].sorry_server": "192.0.2.300:80" is not IP:PORT, [IPv6]:PORT or an IP address`}},
		{"vip line", nvrrp("    track_interface: [\"eth1 weight 999\"]\n"), []string{`d.yaml:7: key "vrrp_instances[0].track_interface[0]": weight 999 is out of range -253..253`}},
		{"auth_pass", nvrrp("    authentication: {auth_pass: password1}\n"), []string{`d.yaml:7: key "vrrp_instances[0].authentication.auth_pass": the password is 9 bytes; VRRP sends at most 8 (keepalived would silently use "password"): shorten it`}},
		{"missing keys", "version: 1\nvrrp_instances:\n  - name: VI\n", []string{
			`d.yaml:3: key "vrrp_instances[0].interface": missing required key`,
			`d.yaml:3: key "vrrp_instances[0].virtual_router_id": missing required key`,
			`d.yaml:3: key "vrrp_instances[0].virtual_ipaddress": missing required key`,
		}},
		{"address and fwmark", nvs("    fwmark: 1\n"), []string{`d.yaml:3: key "virtual_servers[0]": give either key "address" or key "fwmark", not both`}},
		{"check type", nvs("    real_servers:\n      - address: 192.0.2.2\n        checks: [{type: PING}]\n"), []string{`d.yaml:6: key "virtual_servers[0].real_servers[0].checks[0].type": "PING" is not one of HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK, PING_CHECK, UDP_CHECK, DNS_CHECK, SMTP_CHECK, FILE_CHECK`}},
		{"tcp url", nvs("    real_servers:\n      - address: 192.0.2.2\n        checks: [{type: TCP_CHECK, url: [{path: /}]}]\n"), []string{`d.yaml:6: key "virtual_servers[0].real_servers[0].checks[0].url": TCP_CHECK has no url`}},
		{"status code", nvs("    real_servers:\n      - address: 192.0.2.2\n        checks:\n          - type: HTTP_GET\n            url:\n              - path: /\n                status_code: [200, 700]\n"), []string{`d.yaml:10: key "virtual_servers[0].real_servers[0].checks[0].url[0].status_code[1]": status code 700 is not within 100..599`}},
		{"every error at once, by line", "version: 1\nheartbeat: {interval: 1}\n" + nvrrp("    priority: 300\n    colour: red\n")[11:], []string{
			`d.yaml:2: key "heartbeat.interval": "1" needs a unit, e.g. "1s"`,
			`d.yaml:8: key "vrrp_instances[0].priority": 300 is out of range 1..255`,
			`d.yaml:9: key "vrrp_instances[0].colour": unknown key`,
		}},
		// Validate: the element's line.
		{"DR port", nvs("    real_servers:\n      - address: 192.0.2.2:8080\n"), []string{`d.yaml:5: virtual_server TCP 192.0.2.1:80: keyword "real_server": port 8080 differs from the virtual port 80, which DR forwarding cannot change`}},
		{"dead_after", "version: 1\nheartbeat:\n  interval: 2s\n  dead_after: 1s\n" + nvs("")[11:], []string{`d.yaml:3: heartbeat: keyword "dead_after": 1s is shorter than the interval 2s`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseNative("d.yaml", []byte(tt.in))
			if diff := cmp.Diff(tt.want, errLines(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNativeStatusCodeForms(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []StatusRange
	}{
		{"200", []StatusRange{{200, 200}}},
		{`"200-299 404"`, []StatusRange{{200, 299}, {404, 404}}},
		{`[200, "300-302"]`, []StatusRange{{200, 200}, {300, 302}}},
	} {
		in := nvs("    real_servers:\n      - address: 192.0.2.2\n        checks:\n          - type: HTTP_GET\n            url:\n              - path: /\n                status_code: " + tt.in + "\n")
		c, err := ParseNative("d.yaml", []byte(in))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if diff := cmp.Diff(tt.want, c.Services[0].RealServers[0].Checks[0].URLs[0].StatusCodes); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.in, diff)
		}
	}
}

// TestDocReference parses the full native example of
// docs/config-director.md, so that the reference stays true.
func TestDocReference(t *testing.T) {
	doc := string(readFile(t, "../../docs/config-director.md"))
	_, rest, ok := strings.Cut(doc, "```yaml\n")
	block, _, ok2 := strings.Cut(rest, "```\n")
	if !ok || !ok2 {
		t.Fatal("no yaml block in docs/config-director.md")
	}
	c, err := ParseNative("config-director.md", []byte(block))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Services[0].RealServers[0].Checks[0].Target(&c.Services[0].RealServers[0]); got != netip.MustParseAddrPort("192.0.2.111:8080") {
		t.Errorf("check target %s", got)
	}
}

// TestNativeErrorsAreStrictYAML: each entry of the ErrorList wraps the
// shared reader's error, with its key path and column.
func TestNativeErrorsAreStrictYAML(t *testing.T) {
	_, err := ParseNative("d.yaml", []byte(nvrrp("    priority: 300\n")))
	var e *strictyaml.Error
	if !errors.As(err, &e) {
		t.Fatalf("%v: not a *strictyaml.Error", err)
	}
	want := &strictyaml.Error{File: "d.yaml", Line: 7, Column: 15, Key: "vrrp_instances[0].priority"}
	if diff := cmp.Diff(want, e, cmpopts.IgnoreFields(strictyaml.Error{}, "Err")); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
