package checks

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/tandemlb/tandem/shared/testutil"
)

// fakeICMP is a net.PacketConn that answers each request written with
// the messages reply builds; reads past them time out.
type fakeICMP struct {
	reply func(req []byte) []fakeMsg
	queue []fakeMsg
	sent  [][]byte
}

type fakeMsg struct {
	from net.Addr
	b    []byte
}

func (f *fakeICMP) WriteTo(b []byte, _ net.Addr) (int, error) {
	f.sent = append(f.sent, append([]byte(nil), b...))
	f.queue = append(f.queue, f.reply(b)...)
	return len(b), nil
}

func (f *fakeICMP) ReadFrom(b []byte) (int, net.Addr, error) {
	if len(f.queue) == 0 {
		return 0, nil, &net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}
	}
	m := f.queue[0]
	f.queue = f.queue[1:]
	return copy(b, m.b), m.from, nil
}

func (f *fakeICMP) Close() error                     { return nil }
func (f *fakeICMP) LocalAddr() net.Addr              { return &net.IPAddr{} }
func (f *fakeICMP) SetDeadline(time.Time) error      { return nil }
func (f *fakeICMP) SetReadDeadline(time.Time) error  { return nil }
func (f *fakeICMP) SetWriteDeadline(time.Time) error { return nil }

func echoReply(t *testing.T, id, seq int) []byte {
	t.Helper()
	b, err := (&icmp.Message{Type: ipv4.ICMPTypeEchoReply, Body: &icmp.Echo{ID: id, Seq: seq, Data: []byte("x")}}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// unreach is a destination unreachable quoting an IPv4 echo request.
func unreach(t *testing.T, id, seq int) []byte {
	t.Helper()
	quoted := make([]byte, 28)
	quoted[0], quoted[9] = 0x45, 1
	quoted[20] = 8
	binary.BigEndian.PutUint16(quoted[24:], uint16(id))
	binary.BigEndian.PutUint16(quoted[26:], uint16(seq))
	b, err := (&icmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 1, Body: &icmp.DstUnreach{Data: quoted}}).Marshal(nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPingMatching(t *testing.T) {
	target := &net.IPAddr{IP: net.ParseIP("192.0.2.7")}
	other := &net.IPAddr{IP: net.ParseIP("192.0.2.8")}
	const id, seq = 0x1234, 77
	tests := []struct {
		name    string
		matchID bool
		msgs    []fakeMsg
		want    string
	}{
		{"reply", true, []fakeMsg{{target, echoReply(t, id, seq)}}, ""},
		{"others' traffic ignored", true, []fakeMsg{
			{other, echoReply(t, id, seq)},    // another host
			{target, echoReply(t, id+1, seq)}, // another socket's request
			{target, echoReply(t, id, seq+1)}, // an older request
			{target, []byte{0, 0}},            // garbage
			{target, unreach(t, id+1, seq)},   // someone else's error
			{target, echoReply(t, id, seq)},
		}, ""},
		{"ping socket: the kernel's identifier", false, []fakeMsg{{target, echoReply(t, 999, seq)}}, ""},
		{"no reply", true, []fakeMsg{{target, echoReply(t, id+1, seq)}}, "no echo reply within 1s"},
		{"unreachable", true, []fakeMsg{{other, unreach(t, id, seq)}}, "destination unreachable (code 1) from 192.0.2.8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeICMP{reply: func([]byte) []fakeMsg { return tt.msgs }}
			e := echo{conn: f, to: target, matchID: tt.matchID, id: id, seq: seq, timeout: time.Second}
			err := e.ping(context.Background())
			if tt.want == "" && err != nil {
				t.Fatalf("ping = %v, want success", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("ping = %v, want %q", err, tt.want)
			}
			m, err := icmp.ParseMessage(1, f.sent[0])
			if err != nil {
				t.Fatal(err)
			}
			if e, ok := m.Body.(*icmp.Echo); m.Type != ipv4.ICMPTypeEcho || !ok || e.ID != id || e.Seq != seq || len(e.Data) != 128 {
				t.Errorf("sent %v %+v", m.Type, m.Body)
			}
		})
	}
}

// TestNetnsPing pings loopback for real in a fresh namespace: raw ICMP
// and ICMPv6 sockets need root, so it runs in `make test-netns`.
func TestNetnsPing(t *testing.T) {
	testutil.Netns(t)
	testutil.NewNetNS(t)
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"127.0.0.1", "::1"} {
		p := PingCheck{Conn: Conn{Addr: netip.AddrPortFrom(netip.MustParseAddr(a), 0), Timeout: 2 * time.Second}}
		if err := p.Probe(context.Background()); err != nil {
			t.Errorf("ping %s: %v", a, err)
		}
	}
	// No route out of this namespace: the send itself fails.
	p := PingCheck{Conn: Conn{Addr: netip.MustParseAddrPort("192.0.2.1:0"), Timeout: time.Second}}
	if err := p.Probe(context.Background()); err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Errorf("ping 192.0.2.1 = %v, want unreachable", err)
	}
}
