package prodlab

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsPairAgent6: the agent half of the IPv6 and dual-stack Pair on
// this kernel (no ip_vs: no directors): rs1 runs the real tandem-backend
// with the Pair's configuration and its web app; VIP6 gets on lo, the
// heartbeats reach both directors' UDP port 7480 from real_ip6 (and from
// real_ip in the dual-stack lab, nothing else), and the web app's
// /check.txt, which the directors' HTTP_GET reads, answers over IPv6.
func TestNetnsPairAgent6(t *testing.T) {
	testutil.Netns(t)
	bin := os.Getenv("TANDEM_BIN")
	if bin == "" {
		t.Skip("TANDEM_BIN (the directory of the built binaries, `make build`) is not set")
	}
	for _, c := range []struct {
		f    Family
		srcs []string
	}{
		{FamilyIPv6, []string{RSIPs6["rs1"]}},
		{FamilyDual, []string{RSIPs["rs1"], RSIPs6["rs1"]}},
	} {
		t.Run(c.f.String(), func(t *testing.T) {
			hosts := []netlab.HostSpec{{Name: "client", Addr: ClientIP + "/24"}}
			for _, d := range Directors {
				hosts = append(hosts, netlab.HostSpec{Name: d, Addr: DirIPs[d] + "/24"})
			}
			for _, rs := range RealServers {
				hosts = append(hosts, netlab.HostSpec{Name: rs, Addr: RSIPs[rs] + "/24"})
			}
			nl, err := netlab.New(t, netlab.Spec{EnableIPv6: true, Hosts: hosts})
			if err != nil {
				t.Fatal(err)
			}
			// A short directory: the control socket's path must fit sun_path.
			dir, err := os.MkdirTemp("", "p6")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.RemoveAll(dir) })
			p := &Pair{Net: nl, Dir: dir, opts: PairOptions{Family: c.f}, BackendBin: filepath.Join(bin, "tandem-backend"),
				Apps: map[string]*WebApp{}, procs: map[string]*netlab.Process{}}
			if err := WriteKeys(filepath.Join(dir, "heartbeat.key"), []byte(PairSecret), RSIPs, dir); err != nil {
				t.Fatal(err)
			}
			if err := p.setUp6(); err != nil {
				t.Fatal(err)
			}
			var lns []net.PacketConn // the directors' heartbeat port
			for _, d := range Directors {
				var ln net.PacketConn
				err := nl.Do(d, func() error {
					var err error
					ln, err = net.ListenPacket("udp", ":7480")
					return err
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { ln.Close() })
				lns = append(lns, ln)
			}
			a, err := NewWebApp(nl, "rs1", filepath.Join(dir, "rs1"))
			if err != nil {
				t.Fatal(err)
			}
			a.IPv6 = true
			if err := a.Start(); err != nil {
				t.Fatal(err)
			}
			if err := p.StartAgent(context.Background(), "rs1"); err != nil {
				t.Fatal(err)
			}
			h, err := nl.Netlink("rs1")
			if err != nil {
				t.Fatal(err)
			}
			if !testutil.WaitFor(5*time.Second, func() bool { return HasAddrOn(h, "lo", VIP6) }) {
				t.Fatalf("VIP6 not on rs1's lo:\n%s", Tail(p.Process("rs1").Output(), 20))
			}
			// Each director hears the agent at each interval (1 s) from each
			// of its addresses: the sources of 4 datagrams.
			for i, ln := range lns {
				var srcs []string
				b := make([]byte, 4096)
				for range 4 {
					if err := ln.SetReadDeadline(time.Now().Add(2 * time.Second)); err != nil {
						t.Fatal(err)
					}
					_, from, err := ln.ReadFrom(b)
					if err != nil {
						break
					}
					if s := from.(*net.UDPAddr).IP.String(); !slices.Contains(srcs, s) {
						srcs = append(srcs, s)
					}
				}
				slices.Sort(srcs)
				want := slices.Sorted(slices.Values(c.srcs))
				t.Logf("%s heard rs1's agent from %v", Directors[i], srcs)
				if !slices.Equal(srcs, want) {
					t.Errorf("%s heard rs1's agent from %v, want %v\n%s", Directors[i], srcs, want, Tail(p.Process("rs1").Output(), 20))
				}
			}
			r, err := nl.HTTPClient("client", 2*time.Second).Get("http://[" + RSIPs6["rs1"] + "]/check.txt")
			if err != nil {
				t.Fatalf("/check.txt over IPv6: %v", err)
			}
			r.Body.Close()
			if r.StatusCode != 200 {
				t.Errorf("/check.txt over IPv6: %s", r.Status)
			}
		})
	}
}
