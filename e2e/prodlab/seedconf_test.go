package prodlab

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestSeedConfIsTheSeed: with the seed's knobs (sync on eth1, delay_loop
// 10, connect_timeout 3, two real servers at weight 1) SeedConf writes
// docs/examples/keepalived.conf but for the lab's addresses and trailing
// blanks.
func TestSeedConfIsTheSeed(t *testing.T) {
	want, err := os.ReadFile("../../docs/examples/keepalived.conf")
	if err != nil {
		t.Fatal(err)
	}
	got := SeedConf{SyncInterface: "eth1", DelayLoop: 10, SorryServer: SorryIP, ConnectTimeout: 3,
		RealServers: []SeedRealServer{{Addr: RSIPs["rs1"], Weight: 1}, {Addr: RSIPs["rs2"], Weight: 1}}}.String()
	got = strings.NewReplacer("10.99.0.100/24", "192.0.2.100/28", "10.99.0.100", "192.0.2.100", "10.99.0.99", "192.0.2.99",
		"10.99.0.11", "192.0.2.101", "10.99.0.12", "192.0.2.102").Replace(got)
	trailing := regexp.MustCompile(`(?m)[ \t]+$`)
	if w := trailing.ReplaceAllString(string(want), ""); got != w {
		t.Errorf("SeedConf:\n%s\nwant (docs/examples/keepalived.conf):\n%s", got, w)
	}
}

// TestSeedConfKnobs: router_id, track_interface, retries and extra text
// go where keepalived expects them; empty knobs leave their lines out.
func TestSeedConfKnobs(t *testing.T) {
	c := SeedConf{RouterID: "lb1", SyncInterface: "eth0", TrackInterfaces: []string{"eth1", "eth2"}, DelayLoop: 2,
		RealServers: []SeedRealServer{{Addr: "10.99.0.13", Weight: 3}}, ConnectTimeout: 1, Retry: 1, DelayBeforeRetry: 2,
		Extra: "\nvirtual_server 10.99.0.101 80 {\n}\n"}.String()
	for _, s := range []string{
		"    notification_email_from keepalived@example.com\n    router_id lb1\n}\n",
		"    lvs_sync_daemon_interface eth0\n    track_interface {\n        eth1\n        eth2\n    }\n    authentication {\n",
		"    protocol TCP\n\n    real_server 10.99.0.13 80 {\n        weight 3\n",
		"            connect_timeout 1\n            retry 1\n            delay_before_retry 2\n        }\n    }\n}\n\nvirtual_server 10.99.0.101 80 {\n}\n",
	} {
		if !strings.Contains(c, s) {
			t.Errorf("no %q in\n%s", s, c)
		}
	}
	if strings.Contains(c, "sorry_server") {
		t.Errorf("a sorry_server without SorryServer:\n%s", c)
	}
}

// TestSeedConfAdditions: Prelude goes before the vrrp_instance,
// InstanceLines into it after track_interface; empty, both leave the text
// as it was.
func TestSeedConfAdditions(t *testing.T) {
	base := SeedConf{SyncInterface: "eth0", TrackInterfaces: []string{"eth1"}, DelayLoop: 2, ConnectTimeout: 1}
	with := base
	with.Prelude = "vrrp_script chk {\n    script \"true\"\n}\n\n"
	with.InstanceLines = "    track_script {\n        chk\n    }"
	got := with.String()
	for _, s := range []string{
		"}\n\nvrrp_script chk {\n    script \"true\"\n}\n\nvrrp_instance VI0 {\n",
		"    track_interface {\n        eth1\n    }\n    track_script {\n        chk\n    }\n    authentication {\n",
	} {
		if !strings.Contains(got, s) {
			t.Errorf("no %q in\n%s", s, got)
		}
	}
	plain := base.String()
	if strings.Replace(strings.Replace(got, with.Prelude, "", 1), with.InstanceLines+"\n", "", 1) != plain {
		t.Errorf("without the additions the text differs from the plain one:\n%s\nplain:\n%s", got, plain)
	}
	if strings.Contains(plain, "track_script") || strings.Contains(plain, "vrrp_script") {
		t.Errorf("additions without the knobs:\n%s", plain)
	}
}
