package agree

import (
	"context"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/clock"
	tu "github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsAgreement: three directors in namespaces of their own on one
// bridge, on the real clock at the netns timing (100 ms interval): d1
// bound to every address (the default), d2 and d3 to theirs. Each hears
// the other two; d3 joins with another table and its gate stays closed
// until its table matches; d1 cut off goes stale and stops counting.
func TestNetnsAgreement(t *testing.T) {
	tu.Netns(t)
	lab, err := netlab.New(t, netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "d1", Addr: "10.96.0.1/24"},
		{Name: "d2", Addr: "10.96.0.2/24"},
		{Name: "d3", Addr: "10.96.0.3/24"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	addrs := map[string]netip.Addr{}
	for _, h := range []string{"d1", "d2", "d3"} {
		addrs[h] = netip.MustParseAddr("10.96.0." + h[1:])
	}
	const iv = 100 * time.Millisecond
	drv := map[string]*Driver{}
	for _, h := range []string{"d1", "d2", "d3"} {
		var peers []netip.Addr
		for _, o := range []string{"d1", "d2", "d3"} {
			if o != h {
				peers = append(peers, addrs[o])
			}
		}
		local := netip.AddrPortFrom(addrs[h], DefaultPort)
		if h == "d1" {
			local = netip.AddrPortFrom(netip.Addr{}, DefaultPort)
		}
		var d *Driver
		err := lab.Do(h, func() error {
			var err error
			d, err = NewDriver(Options{Local: local, Peers: peers, Node: h, Key: testKey, Interval: iv, Stale: 3 * iv, Clock: clock.Real{}})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		drv[h] = d
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run: %v", h, err)
			}
		})
	}
	tables := []Service{svc(web, 0xa, true), svc(dns, 0xb, true)}
	drv["d1"].SetOwn(tables)
	drv["d2"].SetOwn(tables)
	joining := []Service{svc(web, 0xa, false), svc(dns, 0xbad, false)}
	drv["d3"].SetOwn(joining)

	ag := NewAgreement(Config{Stale: 3 * iv, Grace: 3 * iv}, time.Now(), []netip.Addr{addrs["d1"], addrs["d2"]})
	ag.SetOwn([]netip.Addr{vip1}, joining)
	gate := func() Gate {
		for _, r := range drv["d3"].Reports() {
			ag.Heard(r.Peer, r.Heard, r.Msg)
		}
		return ag.Gates(time.Now())[0]
	}
	tu.Eventually(t, 5*time.Second, func() bool {
		g := gate()
		return !g.Open && g.Reason == "differs from d1 (10.96.0.1), which announces it: UDP 192.0.2.100:53: fingerprint 000000000000000b there, 0000000000000bad here"
	}, "d3's gate: %+v", gate())
	// d1 (bound to every address) hears d2 and d3 from their addresses.
	tu.Eventually(t, 5*time.Second, func() bool {
		var got []netip.Addr
		for _, r := range drv["d1"].Reports() {
			got = append(got, r.Peer)
		}
		return slices.Equal(got, []netip.Addr{addrs["d2"], addrs["d3"]})
	}, "d1's reports: %+v", drv["d1"].Reports())
	// Still closed later: the gate waits for the table, not for a time.
	tu.Settle(5 * iv)
	if g := gate(); g.Open {
		t.Fatalf("gate opened with another table: %+v", g)
	}
	joining = []Service{svc(web, 0xa, false), svc(dns, 0xb, false)}
	drv["d3"].SetOwn(joining)
	ag.SetOwn([]netip.Addr{vip1}, joining)
	tu.Eventually(t, 5*time.Second, func() bool { return gate().Open }, "d3's gate: %+v", gate())
	if g := gate(); g.Reason != "agrees with d1 (10.96.0.1), d2 (10.96.0.2)" {
		t.Errorf("gate %+v", g)
	}
	// d1 cut off: it goes stale, d2 alone counts.
	if _, err := lab.Exec("d1", "ip", "link", "set", "eth0", "down"); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 5*time.Second, func() bool { return gate().Reason == "agrees with d2 (10.96.0.2)" }, "d3's gate: %+v", gate())
	for h, d := range drv {
		if dr := d.Drops(); dr["mac"]+dr["unknown"]+dr["replay"]+dr["stale"]+dr["malformed"] != 0 {
			t.Errorf("%s dropped %v", h, dr)
		}
	}
}
