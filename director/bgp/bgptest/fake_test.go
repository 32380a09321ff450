package bgptest

import (
	"context"
	"errors"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/bgp"
)

func TestSpeaker(t *testing.T) {
	ctx := context.Background()
	peer := netip.MustParseAddr("10.0.0.1")
	s := New(peer)
	changed := s.Changed()
	_ = s.Start(ctx)
	p := netip.MustParsePrefix("192.0.2.10/32")
	_ = s.Announce(ctx, bgp.Route{Prefix: p, Communities: []bgp.Community{bgp.GracefulShutdown}})
	s.SetPeer(peer, true)
	select {
	case <-changed:
	default:
		t.Fatal("Changed not closed by SetPeer")
	}
	if got := s.Peers(); len(got) != 1 || !got[0].Established {
		t.Errorf("peers %+v", got)
	}
	if got := s.Routes(); len(got) != 1 || got[0].Prefix != p {
		t.Errorf("routes %+v", got)
	}
	s.Err = errors.New("boom")
	if err := s.Withdraw(ctx, p); err == nil {
		t.Error("Withdraw: no error with Err set")
	}
	s.Err = nil
	_ = s.Withdraw(ctx, p)
	_ = s.Stop(ctx)
	want := []string{"start", "announce 192.0.2.10/32 65535:0", "withdraw 192.0.2.10/32", "withdraw 192.0.2.10/32", "stop"}
	if diff := cmp.Diff(want, s.Ops()); diff != "" {
		t.Errorf("ops (-want +got):\n%s", diff)
	}
	if len(s.Routes()) != 0 || !s.Stopped() {
		t.Errorf("routes %v, stopped %v", s.Routes(), s.Stopped())
	}
}
