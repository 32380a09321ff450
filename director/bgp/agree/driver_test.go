package agree

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/clock/clocktest"
	tu "github.com/tandemlb/tandem/shared/testutil"
)

// startDriver runs a Driver on addr:port with the manual clock clk and
// stops it when the test ends.
func startDriver(t *testing.T, addr string, port uint16, clk *clocktest.Clock, peers ...string) *Driver {
	t.Helper()
	var ps []netip.Addr
	for _, p := range peers {
		ps = append(ps, netip.MustParseAddr(p))
	}
	d, err := NewDriver(Options{Local: netip.AddrPortFrom(netip.MustParseAddr(addr), port), Port: port, Peers: ps,
		Node: "d-" + addr, Key: testKey, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return d
}

// freePort is a UDP port free on 127.0.0.1 now.
func freePort(t *testing.T) uint16 {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return uint16(c.LocalAddr().(*net.UDPAddr).Port)
}

// waitReport waits for d's report of peer to carry want.
func waitReport(t *testing.T, d *Driver, peer string, want []Service) Report {
	t.Helper()
	var got Report
	tu.Eventually(t, 5*time.Second, func() bool {
		for _, r := range d.Reports() {
			if r.Peer == netip.MustParseAddr(peer) && slices.Equal(r.Msg.Services, want) {
				got = r
				return true
			}
		}
		return false
	}, "no report of %s with %v: %+v", peer, want, d.Reports())
	return got
}

// TestDriverLoopback: two drivers on 127.0.0.1 and 127.0.0.2 exchange
// their messages at once on SetOwn, at each tick of the manual clock, and
// say so through Changed; what is not theirs is dropped and counted.
func TestDriverLoopback(t *testing.T) {
	clk := clocktest.New(testTime)
	port := freePort(t)
	a := startDriver(t, "127.0.0.1", port, clk, "127.0.0.2")
	b := startDriver(t, "127.0.0.2", port, clk, "127.0.0.1")
	ch := b.Changed()
	own := []Service{svc(dns, 0xb, true), svc(web, 0xa, true)} // sorted, as Reports gives them
	a.SetOwn(own)
	r := waitReport(t, b, "127.0.0.1", own)
	if r.Msg.Node != "d-127.0.0.1" || !r.Heard.Equal(testTime) {
		t.Errorf("report %+v", r)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("Changed not closed by the first report")
	}
	// The same message again (the ticker) is no change; a new one is.
	ch = b.Changed()
	sent := a.Sent()
	clk.Advance(time.Second)
	tu.Eventually(t, 5*time.Second, func() bool {
		rs := b.Reports()
		return a.Sent() > sent && len(rs) == 1 && rs[0].Heard.Equal(testTime.Add(time.Second))
	}, "the tick's message not received")
	select {
	case <-ch:
		t.Fatal("Changed closed by the same message")
	default:
	}
	own2 := []Service{svc(web, 0xc, false)}
	a.SetOwn(own2)
	waitReport(t, b, "127.0.0.1", own2)
	select {
	case <-ch:
	default:
		t.Fatal("Changed not closed by a new message")
	}

	// An unknown sender, a bad MAC from a peer: dropped and counted.
	stranger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.3")})
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	dg, _ := NewSealer(testKey, 99).Seal(clk.Now(), Message{Node: "x"})
	stranger.WriteToUDP(dg, net.UDPAddrFromAddrPort(b.LocalAddr()))
	bad, _ := NewSealer([]byte("another key another key another!"), 98).Seal(clk.Now(), Message{Node: "x"})
	forger, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer forger.Close()
	forger.WriteToUDP(bad, net.UDPAddrFromAddrPort(b.LocalAddr()))
	tu.Eventually(t, 5*time.Second, func() bool {
		d := b.Drops()
		return d["unknown"] == 1 && d["mac"] == 1
	}, "drops %v", b.Drops())
	waitReport(t, b, "127.0.0.1", own2) // the forged one changed nothing

	// A peer removed is forgotten, and its datagrams are now unknown.
	b.SetPeers(nil)
	if rs := b.Reports(); len(rs) != 0 {
		t.Errorf("reports after SetPeers(nil): %+v", rs)
	}
}

// TestDriverBounds: the token bucket per peer and our own message coming
// back (our address in the peer list).
func TestDriverBounds(t *testing.T) {
	clk := clocktest.New(testTime)
	port := freePort(t)
	b := startDriver(t, "127.0.0.2", port, clk, "127.0.0.1", "127.0.0.2")
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	s := NewSealer(testKey, 7)
	for range DefaultBurst + 5 {
		dg, _ := s.Seal(clk.Now(), Message{Node: "flood"})
		if _, err := peer.WriteToUDP(dg, net.UDPAddrFromAddrPort(b.LocalAddr())); err != nil {
			t.Fatal(err)
		}
	}
	tu.Eventually(t, 5*time.Second, func() bool {
		// b also hears itself (127.0.0.2 is in its list): "self".
		return b.Drops()["rate"] == 5 && b.Drops()["self"] >= 1
	}, "drops %v", b.Drops())
	clk.Advance(time.Second) // refills DefaultRate tokens
	dg, _ := s.Seal(clk.Now(), Message{Node: "flood", Services: []Service{svc(web, 1, true)}})
	peer.WriteToUDP(dg, net.UDPAddrFromAddrPort(b.LocalAddr()))
	waitReport(t, b, "127.0.0.1", []Service{svc(web, 1, true)})
	if d := b.Drops(); d["replay"] != 0 || d["mac"] != 0 {
		t.Errorf("drops %v", d)
	}
}

// TestDriverForgedDoNotSpendQuota: datagrams from a listed director's
// address without its key (forged source) are dropped as bad MACs and do
// not spend that director's quota: its real message right after is
// heard, so a forger cannot make it look silent.
func TestDriverForgedDoNotSpendQuota(t *testing.T) {
	clk := clocktest.New(testTime)
	port := freePort(t)
	b := startDriver(t, "127.0.0.2", port, clk, "127.0.0.1")
	peer, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP("127.0.0.1")})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	forger := NewSealer(append([]byte("not the key "), testKey...), 9)
	for range 3 * DefaultBurst {
		dg, _ := forger.Seal(clk.Now(), Message{Node: "forged"})
		if _, err := peer.WriteToUDP(dg, net.UDPAddrFromAddrPort(b.LocalAddr())); err != nil {
			t.Fatal(err)
		}
	}
	tu.Eventually(t, 5*time.Second, func() bool { return b.Drops()["mac"] == 3*DefaultBurst }, "drops %v", b.Drops())
	s := NewSealer(testKey, 7)
	dg, _ := s.Seal(clk.Now(), Message{Node: "real", Services: []Service{svc(web, 1, true)}})
	if _, err := peer.WriteToUDP(dg, net.UDPAddrFromAddrPort(b.LocalAddr())); err != nil {
		t.Fatal(err)
	}
	waitReport(t, b, "127.0.0.1", []Service{svc(web, 1, true)})
	if d := b.Drops(); d["rate"] != 0 {
		t.Errorf("forged datagrams spent the director's quota: drops %v", d)
	}
}
