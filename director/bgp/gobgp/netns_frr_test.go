package gobgp

// The speaker against FRR's bgpd (Debian 12's frr 8.4, fetched by
// scripts/frr.sh without installing the package) in the router's
// namespace: the same lab as TestNetnsGoBGP. Gated by testutil.Netns, and
// skipped when scripts/frr.sh cannot fetch bgpd (failed under CI=true).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/bgp"
	"github.com/tandemlb/tandem/shared/testutil"
)

const bgpdConf = `frr defaults traditional
hostname router
log stdout warnings
router bgp 65000
 bgp router-id 10.99.0.1
 no bgp ebgp-requires-policy
 no bgp default ipv4-unicast
 neighbor 10.99.0.2 remote-as 65001
 neighbor 10.99.0.2 password tandem-md5
 neighbor 10.99.0.2 timers 1 3
 neighbor fd00:99::2 remote-as 65001
 neighbor fd00:99::2 timers 1 3
 address-family ipv4 unicast
  neighbor 10.99.0.2 activate
 exit-address-family
 address-family ipv6 unicast
  neighbor fd00:99::2 activate
 exit-address-family
`

func TestNetnsFRR(t *testing.T) {
	testutil.Netns(t)
	if os.Getenv(childEnv) != "" {
		frrScenario(t, os.Getenv("TANDEM_BGP_FRR"), os.Getenv("TANDEM_BGP_FRR_DIR"))
		return
	}
	frr := testutil.FetchedTool(t, testutil.FindModuleRoot, "frr.sh")
	_, nsB := vethLab(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "bgpd.conf"), []byte(bgpdConf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vtysh.conf"), []byte("username root nopassword\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	// -Z: no zebra, -n: no kernel routes, -S: stay root, -P 0: no vty port.
	bgpd := exec.Command(frr, "-f", filepath.Join(dir, "bgpd.conf"), "-i", filepath.Join(dir, "bgpd.pid"),
		"--vty_socket", dir, "-Z", "-n", "-S", "-P", "0", "--log", "stdout")
	bgpd.Stdout, bgpd.Stderr = &log, &log
	inNS(t, nsB, func() { // bgpd is forked from this thread: it lives in B
		if err := bgpd.Start(); err != nil {
			t.Fatal(err)
		}
	})
	exited := make(chan error, 1)
	go func() { exited <- bgpd.Wait() }()
	defer func() {
		_ = bgpd.Process.Kill()
		<-exited
		t.Logf("bgpd:\n%s", log.String())
	}()
	runChild(t, "TestNetnsFRR", nsB, "TANDEM_BGP_FRR="+frr, "TANDEM_BGP_FRR_DIR="+dir)
}

// frrRoutes asks bgpd (vtysh on its vty socket in dir) for each prefix and
// returns "prefix via nexthop [communities]" for those it has.
func frrRoutes(t *testing.T, frr, dir string, prefixes ...string) []string {
	var out []string
	for _, p := range prefixes {
		fam := "ipv4"
		if strings.Contains(p, ":") {
			fam = "ipv6"
		}
		cmd := exec.Command(frr, "--config_dir", dir, "--vty_socket", dir, "-d", "bgpd", "-c", fmt.Sprintf("show bgp %s unicast %s json", fam, p))
		cmd.Env = append(os.Environ(), "TANDEM_FRR_TOOL=vtysh")
		b, err := cmd.Output()
		if err != nil {
			t.Logf("vtysh: %v", err)
			return nil
		}
		var r struct {
			Paths []struct {
				Valid     bool `json:"valid"`
				Community *struct {
					String string `json:"string"`
				} `json:"community"`
				Nexthops []struct {
					IP string `json:"ip"`
				} `json:"nexthops"`
			} `json:"paths"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			t.Logf("vtysh output %q: %v", b, err)
			return nil
		}
		for _, path := range r.Paths {
			s := p + " via"
			for _, nh := range path.Nexthops {
				s += " " + nh.IP
			}
			if path.Community != nil {
				s += " [" + path.Community.String + "]"
			}
			if !path.Valid {
				s += " (invalid)"
			}
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

func frrScenario(t *testing.T, frr, dir string) {
	sp, logs := startSpeaker(t, bgp.SpeakerConfig{LocalAS: 65001, RouterID: spk4, Peers: []bgp.PeerConfig{
		{Addr: rtr4, AS: 65000, Password: "tandem-md5", HoldTime: 3 * time.Second, ConnectRetry: time.Second},
		{Addr: rtr6, AS: 65000, HoldTime: 3 * time.Second, ConnectRetry: time.Second},
	}})
	ctx := context.Background()
	allUp := allEstablished(sp)
	if !testutil.WaitFor(30*time.Second, allUp) {
		t.Fatalf("sessions with bgpd not established: %+v\n%s", sp.Peers(), logs.String())
	}
	wait := func(want ...string) {
		t.Helper()
		if !testutil.WaitFor(20*time.Second, func() bool {
			return cmp.Equal(want, frrRoutes(t, frr, dir, "192.0.2.10/32", "2001:db8::10/128"), cmpEmpty)
		}) {
			t.Fatalf("bgpd's routes %v, want %v", frrRoutes(t, frr, dir, "192.0.2.10/32", "2001:db8::10/128"), want)
		}
	}
	p4, p6 := netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("2001:db8::10/128")
	comm := []bgp.Community{65001<<16 | 7}
	for _, p := range []netip.Prefix{p4, p6} {
		if err := sp.Announce(ctx, bgp.Route{Prefix: p, Communities: comm}); err != nil {
			t.Fatal(err)
		}
	}
	wait("192.0.2.10/32 via 10.99.0.2 [65001:7]", "2001:db8::10/128 via fd00:99::2 [65001:7]")
	if err := sp.Announce(ctx, bgp.Route{Prefix: p4, Communities: append(comm, bgp.GracefulShutdown)}); err != nil {
		t.Fatal(err)
	}
	wait("192.0.2.10/32 via 10.99.0.2 [65001:7 graceful-shutdown]", "2001:db8::10/128 via fd00:99::2 [65001:7]")
	if err := sp.Withdraw(ctx, p4); err != nil {
		t.Fatal(err)
	}
	wait("2001:db8::10/128 via fd00:99::2 [65001:7]")
	if err := sp.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	wait()
}
