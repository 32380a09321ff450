package prodlab

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	bconfig "github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/director/config"
)

// TestKeepalivedConfFamilies: the keepalived.conf of each family reads
// with tandem-director's own keepalived.conf reader with no warning but
// native_ipv6's (Tandem implies the family from the VIPs), and holds what
// the lab needs: the IPv6 instance is VRRP v3 with VIP6 on eth0, each family's virtual_server has that family's real servers with
// an HTTP_GET of /check.txt, and the dual-stack file keeps the seed's
// IPv4 instance and puts both instances in one sync group. The IPv4 file
// is exactly SeedConf's (the seed's lab, unchanged).
func TestKeepalivedConfFamilies(t *testing.T) {
	for _, f := range []Family{FamilyIPv4, FamilyIPv6, FamilyDual} {
		t.Run(f.String(), func(t *testing.T) {
			p := &Pair{opts: PairOptions{Family: f, SyncLink: true, TrackInterfaces: []string{"eth1"}}}
			text := p.KeepalivedConf()
			c, err := config.ParseKeepalived("keepalived.conf", []byte(text))
			if err != nil {
				t.Fatalf("%v\n%s", err, text)
			}
			// native_ipv6 is kept as operators write it (keepalived 2.2.7
			// takes it); Tandem implies the family from the VIPs and says so.
			for _, w := range c.Warnings {
				if !strings.Contains(w.Error(), `keyword "native_ipv6"`) {
					t.Errorf("warning: %v\n%s", w, text)
				}
			}
			var got []string
			for _, in := range c.VRRP {
				var vips []string
				for _, v := range in.VirtualIPs {
					vips = append(vips, v.Prefix.String()+" "+v.Dev)
				}
				got = append(got, fmt.Sprintf("instance %s v%d vrid %d %s %v", in.Name, in.Version, in.VirtualRouterID, in.Interface, vips))
			}
			for _, s := range c.Services {
				var rips []string
				for _, r := range s.RealServers {
					rips = append(rips, r.Addr.String())
				}
				got = append(got, fmt.Sprintf("service %s %v", s.Addr, rips))
			}
			for _, g := range c.SyncGroups {
				got = append(got, fmt.Sprintf("sync group %s %v", g.Name, g.Members))
			}
			if c.ConnSync == nil || c.ConnSync.Interface != "eth1" {
				t.Errorf("connection sync %+v, want on eth1", c.ConnSync)
			}
			v4 := []string{"instance VI0 v2 vrid 100 eth0 [10.99.0.100/24 eth0]", "service 10.99.0.100:80 [10.99.0.11:80 10.99.0.12:80]"}
			v6 := []string{"instance VI6 v3 vrid 106 eth0 [2001:db8:99::100/64 eth0]", "service [2001:db8:99::100]:80 [[2001:db8:99::11]:80 [2001:db8:99::12]:80]"}
			var want []string
			switch f {
			case FamilyIPv4:
				want = v4
				seed := SeedConf{SyncInterface: "eth1", TrackInterfaces: []string{"eth1"}, DelayLoop: 2, SorryServer: SorryIP, ConnectTimeout: 1,
					RealServers: []SeedRealServer{{Addr: RSIPs["rs1"], Weight: 1}, {Addr: RSIPs["rs2"], Weight: 1}}}.String()
				if text != seed {
					t.Errorf("the IPv4 lab's file is not the seed's:\n%s\nwant:\n%s", text, seed)
				}
			case FamilyIPv6:
				want = v6
			case FamilyDual:
				want = []string{v4[0], v6[0], v4[1], v6[1], "sync group VG_WWW [VI0 VI6]"}
			}
			slices.Sort(got)
			slices.Sort(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("got\n%s\nwant\n%s\nfrom\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"), text)
			}
			if n := strings.Count(text, "path /check.txt"); n != 2*len(f.Services()) {
				t.Errorf("%d HTTP_GET of /check.txt, want %d", n, 2*len(f.Services()))
			}
		})
	}
}

// TestBackendConfFamilies: tandem-backend's own parser takes each
// family's agent configuration; the IPv4 lab's has no IPv6 key; the IPv6 one sends to the directors' IPv6 addresses with
// real_ip6 and key_file6, VIP6 alone on lo; the dual-stack one to both
// families' addresses with both VIPs.
func TestBackendConfFamilies(t *testing.T) {
	for _, c := range []struct {
		f            Family
		want, absent []string
	}{
		{FamilyIPv4, []string{"vips: [10.99.0.100]\n", `directors: ["10.99.0.2", "10.99.0.3"]` + "\n", "heartbeat: {key_file: /d/rs1.key, interval: 1s}\n"},
			[]string{"real_ip6", "key_file6", "2001:"}},
		{FamilyIPv6, []string{"vips: [2001:db8:99::100]\n", "real_ip: 10.99.0.11\nreal_ip6: 2001:db8:99::11\n",
			`directors: ["[2001:db8:99::2]:7480", "[2001:db8:99::3]:7480"]` + "\n",
			"heartbeat: {key_file: /d/rs1.key, key_file6: /d/rs1-ip6.key, interval: 1s}\n"}, []string{"10.99.0.100"}},
		{FamilyDual, []string{"vips: [10.99.0.100, 2001:db8:99::100]\n", "real_ip6: 2001:db8:99::11\n",
			`directors: ["10.99.0.2", "10.99.0.3", "[2001:db8:99::2]:7480", "[2001:db8:99::3]:7480"]` + "\n",
			"key_file6: /d/rs1-ip6.key"}, nil},
	} {
		p := &Pair{Dir: "/d", opts: PairOptions{Family: c.f}}
		s := p.backendConf("rs1")
		bc, err := bconfig.Parse("backend.yaml", []byte(s))
		if err != nil {
			t.Errorf("%s: %v\n%s", c.f, err, s)
		} else if v6 := c.f != FamilyIPv4; bc.HasIPv6Directors() != v6 || bc.HasIPv6VIPs() != v6 ||
			v6 && (bc.RealIP6.String() != RSIPs6["rs1"] || bc.Heartbeat.KeyFile6 != "/d/rs1-ip6.key") {
			t.Errorf("%s: parsed IPv6 directors %v, VIPs %v, real_ip6 %s, key_file6 %q from\n%s",
				c.f, bc.HasIPv6Directors(), bc.HasIPv6VIPs(), bc.RealIP6, bc.Heartbeat.KeyFile6, s)
		}
		for _, w := range c.want {
			if !strings.Contains(s, w) {
				t.Errorf("%s: no %q in\n%s", c.f, w, s)
			}
		}
		for _, a := range c.absent {
			if strings.Contains(s, a) {
				t.Errorf("%s: %q in\n%s", c.f, a, s)
			}
		}
	}
}
