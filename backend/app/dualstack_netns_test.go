package app_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// dest6Reply is a MASTER reply from lb1 on its IPv6 address, with one
// destination for the real server's IPv6 address.
func dest6Reply(weight int32, active uint32) *hbproto.DirectorReply {
	return &hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster, Destinations: []hbproto.DestinationStatus{{
		Service: "TCP [2001:db8::100]:80", Addr: netip.AddrPortFrom(rsIP6, 80), Weight: weight, ConfiguredWeight: 1,
		ActiveConns: active, InactiveConns: 2, Pool: hbproto.PoolDraining,
	}}}
}

// TestNetnsAgentDualStack: a dual-stack agent (real_ip6 derived from its
// interface) reports to a director listed by its IPv4 address from
// real_ip, sealed with the key derived for it, and to the same director
// listed by its IPv6 address from real_ip6, sealed with key_file6's key
// derived for that address: each fake director opens with its family's
// key only. `maintenance on --wait` waits until both report the
// destinations at their address drained: the IPv4 side drained alone does
// not end it.
func TestNetnsAgentDualStack(t *testing.T) {
	r := newRig(t, rigOpts{noDirector: true, ipv6: true})
	secret := []byte("tandem-backend dual-stack netns test cluster secret")
	k4, k6 := hbproto.DeriveAgentKey(secret, rsIP), hbproto.DeriveAgentKey(secret, rsIP6)
	key6Path := filepath.Join(r.dir, "heartbeat6.key")
	for path, k := range map[string][]byte{r.keyPath: k4, key6Path: k6} {
		if err := os.WriteFile(path, k, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(r.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cfg := string(b)
	for old, new := range map[string]string{
		"vips: [192.0.2.100]":           "vips: [192.0.2.100, 2001:db8::100]",
		`directors: ["192.0.2.2:7480"]`: `directors: ["192.0.2.2:7480", "[2001:db8::2]:7480"]`,
		"{key_file: " + r.keyPath + ",": "{key_file: " + r.keyPath + ", key_file6: " + key6Path + ",",
	} {
		if !strings.Contains(cfg, old) {
			t.Fatalf("the rig's config has no %q:\n%s", old, cfg)
		}
		cfg = strings.Replace(cfg, old, new, 1)
	}
	if err := os.WriteFile(r.cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d4 := newFakeDirectorAt(t, r.lab, directorIP, k4)
	d6 := newFakeDirectorAt(t, r.lab, director6IP, k6)
	d4.setReply(destReply(0, 0))
	d6.setReply(dest6Reply(0, 3))
	r.startApp()
	r.startAgent()

	for _, c := range []struct {
		d    *fakeDirector
		from netip.Addr
	}{{d4, rsIP}, {d6, rsIP6}} {
		rep := c.d.waitState(hbproto.StateUp, 3*time.Second)
		if got := rep.from.AddrPort().Addr().Unmap(); got != c.from || rep.msg.Agent.RealIP != c.from {
			t.Fatalf("report from %s with real_ip %s, want both %s", got, rep.msg.Agent.RealIP, c.from)
		}
	}
	st, err := r.cli("status")
	if err != nil || !strings.Contains(st, "real IP 192.0.2.11, IPv6 2001:db8::11 on eth0") ||
		!strings.Contains(st, "lb1 [2001:db8::2]:7480: master") || !strings.Contains(st, "-> [2001:db8::11]:80: weight 0/1, 3 active") {
		t.Fatalf("status does not show both identities and the IPv6 director's view: %v\n%s", err, st)
	}

	// The IPv4 side is drained, the IPv6 one has 3 connections: wait.
	out, err := r.cli("maintenance", "on", "--wait", "--timeout", "1500ms")
	if err == nil {
		t.Fatalf("--wait with 3 active IPv6 connections succeeded:\n%s", out)
	}
	if !strings.Contains(out, "timed out after 1.5s") || !strings.Contains(out, "[2001:db8::11]:80: weight 0, 3 active") {
		t.Fatalf("timeout message does not say what is left:\n%s", out)
	}
	for _, c := range []struct {
		d    *fakeDirector
		from netip.Addr
	}{{d4, rsIP}, {d6, rsIP6}} {
		if rep := c.d.waitState(hbproto.StateMaintenance, time.Second); rep.msg.Agent.RealIP != c.from {
			t.Fatalf("maintenance report with real_ip %s, want %s", rep.msg.Agent.RealIP, c.from)
		}
	}

	go func() {
		// The IPv6 connections stay for a while: --wait must wait for them.
		testutil.Settle(700 * time.Millisecond)
		d6.setReply(dest6Reply(0, 0))
	}()
	start := time.Now()
	out, err = r.cli("maintenance", "on", "--wait", "--timeout", "10s")
	took := time.Since(start)
	if err != nil {
		t.Fatalf("--wait: %v\n%s", err, out)
	}
	if !strings.Contains(out, "drained after") || took < 500*time.Millisecond {
		t.Fatalf("--wait returned after %s, before the IPv6 side drained, or without saying so:\n%s", took, out)
	}
	t.Logf("--wait returned after %s:\n%s", took, out)
}
