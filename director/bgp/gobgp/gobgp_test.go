package gobgp

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	packet "github.com/osrg/gobgp/v4/pkg/packet/bgp"

	"github.com/tandemlb/tandem/director/bgp"
	"github.com/tandemlb/tandem/shared/testutil"
)

// freePort returns a TCP port free on 127.0.0.1 and ::1 a moment ago.
func freePort(t *testing.T) uint16 {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return uint16(l.Addr().(*net.TCPAddr).Port)
}

// TestGoBGPLoopback runs the speaker against a second GoBGP server on
// loopback (no root): an IPv4 and an IPv6 session, the /32 and the /128
// with the session's address as next hop, the graceful shutdown community
// then the withdrawal, the router's own route rejected, and a session
// reset followed by the routes coming back.
func TestGoBGPLoopback(t *testing.T) {
	port := freePort(t)
	lo4, lo6 := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("::1")
	router, err := startRouter(65000, "10.255.0.1", int32(port), []string{"127.0.0.1", "::1"}, []routerNeighbor{
		{Addr: lo4, AS: 65001, Families: []packet.Family{packet.RF_IPv4_UC}},
		{Addr: lo6, AS: 65001, Families: []packet.Family{packet.RF_IPv6_UC}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer router.stop()
	if err := router.announce(netip.MustParsePrefix("203.0.113.0/24"), lo4); err != nil {
		t.Fatal(err)
	}

	before := listeningPorts(t)
	sp, logs := startSpeaker(t, bgp.SpeakerConfig{LocalAS: 65001, RouterID: netip.MustParseAddr("10.255.0.2"), Peers: []bgp.PeerConfig{
		{Addr: lo4, AS: 65000, Port: port, HoldTime: 9 * time.Second, ConnectRetry: time.Second},
		{Addr: lo6, AS: 65000, Port: port, HoldTime: 9 * time.Second, ConnectRetry: time.Second},
	}})
	ctx := context.Background()
	if after := listeningPorts(t); !cmp.Equal(before, after) {
		t.Errorf("listening sockets before start %v, after %v: the speaker listens", before, after)
	}

	established := allEstablished(sp)
	if !testutil.WaitFor(20*time.Second, established) {
		t.Fatalf("sessions not established: %+v", sp.Peers())
	}

	comm := []bgp.Community{65001<<16 | 7}
	p4, p6 := netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("2001:db8::10/128")
	for _, p := range []netip.Prefix{p4, p6} {
		if err := sp.Announce(ctx, bgp.Route{Prefix: p, Communities: comm}); err != nil {
			t.Fatal(err)
		}
	}
	waitRoutes(t, router, []string{"192.0.2.10/32 via 127.0.0.1 [65001:7]", "2001:db8::10/128 via ::1 [65001:7]"})

	// What the router sends is rejected: not in our RIB.
	if !testutil.WaitFor(10*time.Second, func() bool { return strings.Contains(peerAccepted(sp), "127.0.0.1 received 1 ") }) {
		t.Fatalf("the router's route not received: %s", peerAccepted(sp))
	}
	if got := listRoutes(sp.srv, false); len(got) != 0 {
		t.Errorf("speaker's RIB holds routes from its peers: %v", got)
	}
	if got, want := listRoutes(sp.srv, true), []string{"192.0.2.10/32 via 0.0.0.0 [65001:7]", "2001:db8::10/128 via :: [65001:7]"}; !cmp.Equal(got, want) {
		t.Errorf("speaker's own routes %v, want %v", got, want)
	}

	if err := sp.Announce(ctx, bgp.Route{Prefix: p4, Communities: append(comm, bgp.GracefulShutdown)}); err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, router, []string{"192.0.2.10/32 via 127.0.0.1 [65001:7 65535:0]", "2001:db8::10/128 via ::1 [65001:7]"})
	if err := sp.Withdraw(ctx, p4); err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, router, []string{"2001:db8::10/128 via ::1 [65001:7]"})
	if err := sp.Withdraw(ctx, p4); err != nil {
		t.Errorf("withdrawing again: %v", err)
	}

	// A session reset: down, then up again with the route.
	changed := sp.Changed()
	if err := router.reset(lo6); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no peer change after the reset")
	}
	if !testutil.WaitFor(30*time.Second, established) {
		t.Fatalf("sessions not re-established: %+v", sp.Peers())
	}
	waitRoutes(t, router, []string{"2001:db8::10/128 via ::1 [65001:7]"})

	if err := sp.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	waitRoutes(t, router, nil)
	if !strings.Contains(logs.String(), `msg="bgp session" peer=::1 from=established`) {
		t.Errorf("no log line of the session going down:\n%s", logs.String())
	}
}

func waitRoutes(t *testing.T, r *testRouter, want []string) {
	t.Helper()
	if !testutil.WaitFor(20*time.Second, func() bool { return cmp.Equal(want, r.routes(), cmpEmpty) }) {
		t.Fatalf("after 20s: router's routes %v, want %v", r.routes(), want)
	}
}

var cmpEmpty = cmp.Transformer("nilEmpty", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})
