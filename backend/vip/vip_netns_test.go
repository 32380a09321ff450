package vip

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/shared/testutil"
)

func TestNetnsVIPRestoredAfterRemoval(t *testing.T) {
	testutil.Netns(t)
	ns := testutil.NewNetNS(t)
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	m := New(h, quiet(), []netip.Addr{v4, v6}, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- m.Run(ctx, SubscribeIn(&ns, quiet())) }()
	defer func() {
		cancel()
		<-done
	}()

	waitPresent := func(what string, limit time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		testutil.Eventually(t, limit, func() bool {
			have, err := List(h, []netip.Addr{v4, v6})
			if err != nil {
				t.Fatal(err)
			}
			return have[v4] && have[v6]
		}, "%s: VIPs not present", what)
		return time.Since(start)
	}
	waitPresent("start", 2*time.Second)

	// Scope and prefix as the seed wants: /32 scope host on lo.
	addrs, err := h.AddrList(lo, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, a := range addrs {
		if a.IPNet.String() == "192.0.2.100/32" && a.Scope == int(netlink.SCOPE_HOST) {
			found = true
		}
	}
	if !found {
		t.Fatalf("192.0.2.100/32 scope host not on lo: %v", addrs)
	}

	for i := 0; i < 3; i++ {
		if err := h.AddrDel(lo, Addr(v4)); err != nil {
			t.Fatal(err)
		}
		d := waitPresent("after removal", time.Second)
		t.Logf("VIP back %s after removal", d)
	}
	if st := m.Status(); st[0].Repairs != 3 {
		t.Fatalf("repairs = %+v, want 3 for %s", st, v4)
	}

	// Stopping the manager leaves the VIPs in place.
	cancel()
	<-done
	done <- nil
	have, err := List(h, []netip.Addr{v4, v6})
	if err != nil || !have[v4] || !have[v6] {
		t.Fatalf("after stop: %v %v; VIPs must stay", have, err)
	}
	if err := Remove(h, []netip.Addr{v4, v6}); err != nil {
		t.Fatal(err)
	}
	have, _ = List(h, []netip.Addr{v4, v6})
	if have[v4] || have[v6] {
		t.Fatalf("after Remove: %v", have)
	}
}
