package ops

import (
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// TestHBLoadLoopback: 20 agents for 2 s against a fake director on
// loopback that answers every other report: each agent sends once per
// second, spread over the second (twice each here), the replies are counted.
func TestHBLoadLoopback(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	srv, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	done := make(chan int)
	go func() {
		open := hbproto.NewOpener(key, 0)
		seal := hbproto.NewSealer(key, 1)
		scoped := func(ip netip.Addr) []*hbproto.Key {
			return []*hbproto.Key{hbproto.NewKey(hbproto.DeriveAgentKey(key, ip))}
		}
		buf := make([]byte, hbproto.MaxDatagram)
		got := 0
		for {
			n, from, err := srv.ReadFrom(buf)
			if err != nil {
				done <- got
				return
			}
			// As the director does: the key of the sender's address, and
			// the report's real_ip must be that address.
			ip := from.(*net.UDPAddr).AddrPort().Addr().Unmap()
			m, _, err := open.OpenScoped(from.String(), ip, scoped(ip), buf[:n], time.Now())
			if err != nil || m.Agent == nil || m.Agent.RealIP != ip {
				continue
			}
			got++
			if got%2 == 1 {
				b, _ := seal.SealDirector(time.Now(), &hbproto.DirectorReply{Director: "d", Role: hbproto.RoleMaster})
				srv.WriteTo(b, from)
			}
		}
	}()
	addrs := make([]netip.Addr, 20)
	for i := range addrs {
		addrs[i] = netip.AddrFrom4([4]byte{127, 0, 0, byte(10 + i)})
	}
	h := &HBLoad{Key: key, Director: srv.LocalAddr().(*net.UDPAddr).AddrPort(), Addrs: addrs,
		Listen: func(a netip.AddrPort) (net.PacketConn, error) {
			return net.ListenUDP("udp4", net.UDPAddrFromAddrPort(a))
		},
		Duration: 2 * time.Second, Grace: 300 * time.Millisecond}
	res, err := h.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	got := <-done
	if res.Sent != 40 || got != 40 || res.SendErrors != 0 {
		t.Errorf("sent %d, director got %d, send errors %d; want 40, 40, 0", res.Sent, got, res.SendErrors)
	}
	if res.Replies != 20 || res.BadReplies != 0 {
		t.Errorf("replies %d, bad %d; want 20, 0", res.Replies, res.BadReplies)
	}
}
