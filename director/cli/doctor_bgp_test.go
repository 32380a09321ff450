package cli

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
)

const doctorBGPConf = `version: 1
ipvs: {sloppy_tcp: %s}
bgp:
  local_as: 65001
  router_id: 10.0.0.2
  peers: [{address: 10.0.0.1, as: 65000}]
virtual_servers:
  - address: 192.0.2.10:80
    lvs_sched: %s
    scheduler_flags: [%s]
    real_servers: [{address: 198.51.100.1}]
`

// TestDoctorBGP: each line doctor prints in BGP mode, from the
// configuration, the sysctl, lo's addresses and the daemon's status.
func TestDoctorBGP(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.10")
	good := &control.Status{BGP: &control.BGPStatus{
		Peers: []control.BGPPeerStatus{{Address: "10.0.0.1", AS: 65000, State: "established", Established: true}},
		VIPs:  []control.BGPVIPStatus{{VIP: "192.0.2.10", State: "announced"}},
	}}
	down := &control.Status{BGP: &control.BGPStatus{
		Peers: []control.BGPPeerStatus{{Address: "10.0.0.1", AS: 65000, State: "active"}},
		VIPs:  []control.BGPVIPStatus{{VIP: "192.0.2.10", State: "withdrawn", Why: "no BGP session established"}},
	}}
	for _, tc := range []struct {
		name, sloppyConf, sysctl, sched, flags string
		lo                                     []netip.Addr
		st                                     *control.Status
		want                                   []string // substrings, in order
		fails                                  int
	}{
		{name: "healthy", sloppyConf: "true", sysctl: "1", sched: "mh", flags: "mh-fallback, mh-port", lo: []netip.Addr{vip}, st: good,
			want: []string{"ok    bgp:", "192.0.2.10:80: mh with mh-fallback and mh-port", "sloppy_tcp = 1", "VIP 192.0.2.10 is on lo", "session with 10.0.0.1 (AS 65000) established", "VIP 192.0.2.10 announced"}},
		{name: "wrong scheduler, no sloppy_tcp, VIP not on lo, session down", sloppyConf: "false", sysctl: "0", sched: "wlc", flags: "", st: down, fails: 3,
			want: []string{"192.0.2.10:80 uses wlc", "sloppy_tcp = 0: a flow that an ECMP change moves", "VIP 192.0.2.10 is not on lo", "session with 10.0.0.1 (AS 65000) is active", "VIP 192.0.2.10 withdrawn: no BGP session established"}},
		{name: "mh without fallback, sysctl not applied, daemon down", sloppyConf: "true", sysctl: "0", sched: "mh", flags: "mh-port", lo: []netip.Addr{vip},
			want: []string{"mh without mh-fallback", "sloppy_tcp = 0, want 1", "is on lo"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.ParseNative("director.yaml", []byte(fmt.Sprintf(doctorBGPConf, tc.sloppyConf, tc.sched, tc.flags)))
			if err != nil {
				t.Fatal(err)
			}
			root := t.TempDir()
			if err := os.MkdirAll(filepath.Join(root, "net/ipv4/vs"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, "net/ipv4/vs/sloppy_tcp"), []byte(tc.sysctl+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			d := &doctor{Out: &out, Width: 13}
			doctorBGP(d, cfg, tc.st, root, tc.lo)
			text := out.String()
			at := 0
			for _, w := range tc.want {
				i := strings.Index(text[at:], w)
				if i < 0 {
					t.Fatalf("doctor output lacks %q (after byte %d):\n%s", w, at, text)
				}
				at += i + len(w)
			}
			if n := d.Failed(); n != tc.fails {
				t.Errorf("%d FAILs, want %d:\n%s", n, tc.fails, text)
			}
		})
	}
	// VRRP mode: nothing.
	cfg, err := config.ParseNative("director.yaml", []byte("version: 1\nvirtual_servers: [{address: 192.0.2.10:80, real_servers: [{address: 198.51.100.1}]}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	doctorBGP(&doctor{Out: &out}, cfg, nil, t.TempDir(), nil)
	if out.Len() != 0 {
		t.Errorf("doctor in VRRP mode printed BGP lines:\n%s", out.String())
	}
}
