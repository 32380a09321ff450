package config

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestNativeBGP reads testdata/bgp.yaml: every key, the defaults of the
// others, and the VIPs taken from the virtual servers (each address once).
func TestNativeBGP(t *testing.T) {
	c, err := ParseNative("testdata/bgp.yaml", readFile(t, "testdata/bgp.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	f := "testdata/bgp.yaml"
	want := &BGP{
		LocalAS: 4200000001, RouterID: netip.MustParseAddr("10.0.0.11"), GracefulShutdownWait: 10 * time.Second,
		Communities: []uint32{65001<<16 | 100, 65001<<16 | 200},
		Peers: []BGPPeer{
			{Address: netip.MustParseAddr("10.0.0.1"), AS: 65000, Port: 179, PasswordFile: "/etc/tandem/bgp-r1.key", HoldTime: 9 * time.Second,
				MaxPrefixes: DefaultBGPMaxPrefixes, Pos: Pos{f, 9}},
			{Address: netip.MustParseAddr("2001:db8:ff::1"), AS: 65000, Port: 1179, HoldTime: DefaultBGPHoldTime, MultihopTTL: 2,
				MaxPrefixes: 10, Pos: Pos{f, 13}},
		},
		AgreementPort: DefaultBGPAgreementPort,
		Pos:           Pos{f, 4},
	}
	if diff := cmp.Diff(want, c.BGP, cmpModel...); diff != "" {
		t.Errorf("bgp (-want +got):\n%s", diff)
	}
	vips := []BGPVIP{{Addr: netip.MustParseAddr("192.0.2.10"), Pos: Pos{f, 19}}, {Addr: netip.MustParseAddr("2001:db8::10"), Pos: Pos{f, 22}}}
	if diff := cmp.Diff(vips, c.AnnouncedVIPs(), cmpModel...); diff != "" {
		t.Errorf("announced VIPs (-want +got):\n%s", diff)
	}
	if got := FormatCommunity(c.BGP.Communities[0]); got != "65001:100" {
		t.Errorf("FormatCommunity = %s", got)
	}
	// show-config and migrate write the block back: the same model.
	roundTrip(t, c)
}

func TestNativeBGPDefaults(t *testing.T) {
	in := "version: 1\nbgp:\n  local_as: 65001\n  router_id: 10.0.0.11\n  vips: [192.0.2.10]\n  peers: [{address: 10.0.0.1, as: 65000}]\n" + vs4
	c, err := ParseNative("d.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := &BGP{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.11"), GracefulShutdownWait: DefaultBGPGracefulShutdownWait,
		VIPs:          []BGPVIP{{Addr: netip.MustParseAddr("192.0.2.10")}},
		Peers:         []BGPPeer{{Address: netip.MustParseAddr("10.0.0.1"), AS: 65000, Port: 179, HoldTime: 90 * time.Second, MaxPrefixes: 1000}},
		AgreementPort: 7482}
	if diff := cmp.Diff(want, c.BGP, append(cmpModel, cmpopts.IgnoreTypes(Pos{}))...); diff != "" {
		t.Errorf("bgp (-want +got):\n%s", diff)
	}
	if c, err := ParseNative("d.yaml", []byte("version: 1\n"+vs4)); err != nil || c.BGP != nil {
		t.Errorf("no bgp block: BGP = %+v, err %v", c.BGP, err)
	}
}

// TestNativeBGPDirectors: bgp.directors, agreement_port and
// agreement_address read, written back, and their defaults.
func TestNativeBGPDirectors(t *testing.T) {
	in := "version: 1\nnode: lb1\nbgp:\n  local_as: 65001\n  router_id: 10.0.0.11\n  peers: [{address: 10.0.0.1, as: 65000}]\n" +
		"  directors: [10.0.0.12, \"2001:db8::13\"]\n  agreement_port: 7500\n  agreement_address: 10.0.0.11\n" + vs4
	c, err := ParseNative("d.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []BGPDirector{{Addr: netip.MustParseAddr("10.0.0.12"), Pos: Pos{"d.yaml", 7}}, {Addr: netip.MustParseAddr("2001:db8::13"), Pos: Pos{"d.yaml", 7}}}
	if diff := cmp.Diff(want, c.BGP.Directors, cmpModel...); diff != "" {
		t.Errorf("directors (-want +got):\n%s", diff)
	}
	if c.BGP.AgreementPort != 7500 || c.BGP.AgreementAddress != netip.MustParseAddr("10.0.0.11") {
		t.Errorf("agreement_port %d, agreement_address %v", c.BGP.AgreementPort, c.BGP.AgreementAddress)
	}
	// node (3) + header 63 + one IPv4 service (17).
	if n := c.BGPAgreementBytes(); n != 3+63+17 {
		t.Errorf("BGPAgreementBytes = %d", n)
	}
	roundTrip(t, c)
}

const vs4 = "virtual_servers:\n  - address: 192.0.2.10:80\n    real_servers: [{address: 198.51.100.1}]\n"

// TestNativeBGPErrors: every error names file, line and key.
func TestNativeBGPErrors(t *testing.T) {
	// b builds a config whose bgp block is "bgp:\n" + body (line 3 on).
	b := func(body string) string { return "version: 1\nbgp:\n" + body + vs4 }
	base := "  local_as: 65001\n  router_id: 10.0.0.11\n"
	peer := "  peers: [{address: 10.0.0.1, as: 65000}]\n"
	for _, tt := range []struct {
		name, in string
		want     []string
	}{
		{"required", b("  listen_port: 179\n"), []string{
			`d.yaml:3: key "bgp.local_as": missing required key`,
			`d.yaml:3: key "bgp.router_id": missing required key`,
			`d.yaml:3: key "bgp.peers": missing required key`,
		}},
		{"as 0", b("  local_as: 0\n  router_id: 10.0.0.11\n" + peer), []string{`d.yaml:3: key "bgp.local_as": 0 is out of range 1..4294967294`}},
		{"as trans", b("  local_as: 23456\n  router_id: 10.0.0.11\n" + peer), []string{`d.yaml:3: key "bgp.local_as": 23456 is AS_TRANS (RFC 6793), not an AS number`}},
		{"as too big", b("  local_as: 4294967295\n  router_id: 10.0.0.11\n" + peer), []string{`d.yaml:3: key "bgp.local_as": 4294967295 is out of range 1..4294967294`}},
		{"router_id v6", b("  local_as: 65001\n  router_id: \"2001:db8::1\"\n" + peer), []string{`d.yaml:4: key "bgp.router_id": 2001:db8::1 is not an IPv4 address (a BGP identifier is 32 bits)`}},
		{"router_id zero", b("  local_as: 65001\n  router_id: 0.0.0.0\n" + peer), []string{`d.yaml:4: key "bgp.router_id": address 0.0.0.0 is unspecified`}},
		{"listen_port", b(base + "  listen_port: 0\n" + peer), []string{`d.yaml:5: key "bgp.listen_port": 0 is out of range 1..65535`}},
		{"wait", b(base + "  graceful_shutdown_wait: 11m\n" + peer), []string{`d.yaml:5: key "bgp.graceful_shutdown_wait": 11m is out of range 0s..10m`}},
		{"community", b(base + "  communities: [\"65001:70000\", \"65535:0\", \"1:1\", \"1:1\"]\n" + peer), []string{
			`d.yaml:5: key "bgp.communities[0]": "65001:70000" is not a community AS:VALUE (both 0..65535)`,
			`d.yaml:5: key "bgp.communities[1]": 65535:0 is GRACEFUL_SHUTDOWN, which the withdrawal adds itself`,
			`d.yaml:5: key "bgp.communities[3]": 1:1 is listed twice (first at line 5)`,
		}},
		{"peer twice", b(base + "  peers:\n    - {address: 10.0.0.1, as: 65000}\n    - {address: 10.0.0.1, as: 65002}\n"), []string{
			`d.yaml:7: key "bgp.peers[1].address": 10.0.0.1 is already a peer (line 6)`,
		}},
		{"peer keys", b(base + "  peers:\n    - {address: 10.0.0.1, as: 65000, port: 0, hold_time: 2s, multihop_ttl: 256, max_prefixes: 0, password_file: \"\", holdtime: 9s}\n"), []string{
			`d.yaml:6: key "bgp.peers[0].port": 0 is out of range 1..65535`,
			`d.yaml:6: key "bgp.peers[0].hold_time": 2s is out of range 3s..65535s`,
			`d.yaml:6: key "bgp.peers[0].multihop_ttl": 256 is out of range 1..255`,
			`d.yaml:6: key "bgp.peers[0].max_prefixes": 0 is out of range 1..1000000`,
			`d.yaml:6: key "bgp.peers[0].password_file": path is empty`,
			`d.yaml:6: key "bgp.peers[0].holdtime": unknown key (did you mean "hold_time"?)`,
		}},
		{"hold time fraction", b(base + "  peers: [{address: 10.0.0.1, as: 65000, hold_time: 3500ms}]\n"), []string{
			`d.yaml:5: key "bgp.peers[0].hold_time": 3500ms is not a whole number of seconds`,
		}},
		{"peer address", b(base + "  peers: [{address: 224.0.0.5, as: 65000}, {address: \"::ffff:10.0.0.1\", as: 65000}, {as: 1}]\n"), []string{
			`d.yaml:5: key "bgp.peers": no peer: BGP mode needs at least one router`,
			`d.yaml:5: key "bgp.peers[0].address": 224.0.0.5 is a multicast address`,
			`d.yaml:5: key "bgp.peers[1].address": ::ffff:10.0.0.1 is an IPv4-mapped address: write the IPv4 address`,
			`d.yaml:5: key "bgp.peers[2].address": missing required key`,
		}},
		{"vip twice", b(base + "  vips: [192.0.2.10, 192.0.2.10]\n" + peer), []string{`d.yaml:5: key "bgp.vips[1]": 192.0.2.10 is listed twice (first at line 5)`}},
		{"vip of no service", b(base + "  vips: [192.0.2.10, 192.0.2.11]\n" + peer), []string{`d.yaml:5: bgp: VIP 192.0.2.11 is the address of no virtual_server: it would never be announced`}},
		{"vip family without peer", "version: 1\nbgp:\n" + base + peer + "virtual_servers:\n  - address: \"[2001:db8::10]:80\"\n    real_servers: [{address: \"2001:db8:1::1\"}]\n", []string{
			`d.yaml:7: bgp: VIP 2001:db8::10 is IPv6 and no peer is: it would never be announced (a session carries the VIPs of its own family)`,
		}},
		{"vip held by vrrp", b(base+peer) + "vrrp_instances:\n  - {name: VI, interface: eth0, virtual_router_id: 1, virtual_ipaddress: [192.0.2.10/24]}\n", []string{
			`d.yaml:7: bgp: VIP 192.0.2.10 is also a VIP of vrrp_instance "VI": a VIP is announced by BGP or held by VRRP, not both`,
		}},
		{"directors", b(base + peer + "  directors: [10.0.0.12, 10.0.0.12, 224.0.0.1, \"::ffff:10.0.0.1\", 10.0.0.11]\n  agreement_address: 10.0.0.11\n  agreement_port: 0\n"), []string{
			`d.yaml:6: key "bgp.directors[1]": 10.0.0.12 is listed twice (first at line 6)`,
			`d.yaml:6: key "bgp.directors[2]": 224.0.0.1 is a multicast address`,
			`d.yaml:6: key "bgp.directors[3]": ::ffff:10.0.0.1 is an IPv4-mapped address: write the IPv4 address`,
			`d.yaml:8: key "bgp.agreement_port": 0 is out of range 1..65535`,
		}},
		{"own address", b(base + peer + "  directors: [10.0.0.12, 10.0.0.11]\n  agreement_address: 10.0.0.11\n"), []string{
			`d.yaml:6: bgp: director 10.0.0.11 is bgp.agreement_address, this director's own address: list the other directors only`,
		}},
		{"agreement message too big", "version: 1\nnode: lb1\nbgp:\n" + base + "  peers: [{address: \"2001:db8::1\", as: 65000}]\n  directors: [10.0.0.12]\nvirtual_servers:\n" + manyServices(47), []string{
			`d.yaml:4: bgp: directors: the agreement message of this director (node "lb1" and every service of the announced VIPs) is 1429 bytes, over one datagram of 1400: at most about 74 IPv4 or 43 IPv6 services (name of 64 bytes); announce fewer VIPs here (bgp.vips) or drop bgp.directors`,
		}},
		{"explicit vips avoid the vrrp one", b(base+"  vips: [192.0.2.10]\n"+peer) + "  - address: 192.0.2.20:80\n    real_servers: [{address: 198.51.100.1}]\n" +
			"vrrp_instances:\n  - {name: VI, interface: eth0, virtual_router_id: 1, virtual_ipaddress: [192.0.2.20/24]}\n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseNative("d.yaml", []byte(tt.in))
			if diff := cmp.Diff(tt.want, errLines(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s\ninput:\n%s", diff, numbered(tt.in))
			}
		})
	}
}

// manyServices is n IPv6 virtual servers on one VIP.
func manyServices(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - address: \"[2001:db8::10]:%d\"\n    real_servers: [{address: \"2001:db8:1::1\"}]\n", 1000+i)
	}
	return b.String()
}

func numbered(s string) string {
	var b strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&b, "%3d %s\n", i+1, l)
	}
	return b.String()
}
