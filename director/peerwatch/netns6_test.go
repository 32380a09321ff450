package peerwatch

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsProbeIPv6: the probe over IPv6 between two namespaces on a
// bridge, with real sockets (udp6, SO_BINDTODEVICE, traffic class 0xc0):
// discovery by the all-nodes group ff02::1 (the peer is then its
// link-local address, with the zone), or a configured global peer address
// (unicast_peer style). Both sessions come up and the backup gets PeerDead
// within the detection time when the master's cable is cut.
func TestNetnsProbeIPv6(t *testing.T) {
	testutil.Netns(t)
	for _, tt := range []struct {
		name      string
		configure bool // Peer set to the other's global address
	}{
		{"discovery ff02::1, link-local peer", false},
		{"configured global peer", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			noDAD := map[string]string{"net.ipv6.conf.eth0.accept_dad": "0"}
			lab, err := netlab.New(t, netlab.Spec{EnableIPv6: true, Hosts: []netlab.HostSpec{
				{Name: "d1", Addr: "fd00:97::1/64", Sysctls: noDAD},
				{Name: "d2", Addr: "fd00:97::2/64", Sysctls: noDAD},
			}})
			if err != nil {
				t.Fatal(err)
			}
			addr := map[string]netip.Addr{"d1": netip.MustParseAddr("fd00:97::1"), "d2": netip.MustParseAddr("fd00:97::2")}
			// A probe sent to ff02::1 while eth0's link-local address is
			// still tentative leaves from the global one, and the peer is
			// then learnt by that address: wait until both hosts have a
			// usable link-local address (bounded).
			for _, h := range []string{"d1", "d2"} {
				var out string
				var err error
				usable := func() bool {
					out, err = lab.Exec(h, "ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link")
					return err == nil && strings.Contains(out, "fe80::") && !strings.Contains(out, "tentative")
				}
				if !testutil.WaitFor(5*time.Second, usable) {
					t.Fatalf("%s: no usable link-local address on eth0 after 5s: %q %v", h, out, err)
				}
			}
			start := func(host, other string, in *fakeInst) *Watcher {
				o := Options{IPv6: true}
				if tt.configure {
					o.Peer = addr[other]
				}
				return startNetnsWatcher(t, lab, host, in, o)
			}
			v6 := func(in *fakeInst) *fakeInst { in.st.Src = netip.MustParseAddr("fe80::1"); return in }
			m, b := v6(newInst(vrrp.StateMaster, 150, 150)), v6(newInst(vrrp.StateBackup, 100, 150))
			wm := start("d1", "d2", m)
			wb := start("d2", "d1", b)

			// The link-local addresses may still be tentative for a moment
			// (DAD is off for eth0 only once the sysctl is written).
			waitSessionsUp(t, wm, wb, 8*time.Second)
			p := wb.Status().Peer
			if p.Name != "d1" || !p.Addr.Addr().Is6() {
				t.Fatalf("d2's peer: %+v", p)
			}
			if tt.configure {
				if p.Addr.Addr() != addr["d1"] {
					t.Errorf("d2's peer %s, want the configured %s", p.Addr, addr["d1"])
				}
			} else if !p.Addr.Addr().IsLinkLocalUnicast() || p.Addr.Addr().Zone() != "eth0" {
				t.Errorf("d2's peer %s, want d1's link-local address on eth0", p.Addr)
			}
			t.Logf("d2's peer: %s", p.Addr)

			cutAndWaitPeerDead(t, lab, "d1", b)
		})
	}
}
