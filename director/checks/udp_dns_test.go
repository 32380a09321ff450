package checks

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// udpServer is a loopback UDP server that answers each datagram with
// what reply returns (nil: no answer) and records what it received.
type udpServer struct {
	pc   net.PacketConn
	mu   sync.Mutex
	got  [][]byte
	done chan struct{}
}

func newUDPServer(t *testing.T, reply func(q []byte) [][]byte) *udpServer {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &udpServer{pc: pc, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		buf := make([]byte, 65536)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			q := append([]byte(nil), buf[:n]...)
			s.mu.Lock()
			s.got = append(s.got, q)
			s.mu.Unlock()
			for _, r := range reply(q) {
				pc.WriteTo(r, from)
			}
		}
	}()
	t.Cleanup(func() { pc.Close(); <-s.done })
	return s
}

func (s *udpServer) addr() netip.AddrPort {
	return netip.MustParseAddrPort(s.pc.LocalAddr().String())
}

func (s *udpServer) received() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.got
}

// closedUDPPort returns a loopback port nothing listens on.
func closedUDPPort(t *testing.T) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(pc.LocalAddr().String())
	pc.Close()
	return a
}

func TestUDPCheck(t *testing.T) {
	echo := newUDPServer(t, func(q []byte) [][]byte { return [][]byte{q} })
	silent := newUDPServer(t, func([]byte) [][]byte { return nil })
	big := newUDPServer(t, func([]byte) [][]byte { return [][]byte{bytes.Repeat([]byte{'x'}, 4000)} })
	closed := closedUDPPort(t)
	const to = 300 * time.Millisecond
	conn := func(a netip.AddrPort) Conn { return Conn{Addr: a, Timeout: to} }
	tests := []struct {
		name  string
		check UDPCheck
		want  string
	}{
		{"echo, no reply required", UDPCheck{Conn: conn(echo.addr())}, ""},
		{"silence passes without require_reply", UDPCheck{Conn: conn(silent.addr())}, ""},
		{"silence fails with require_reply", UDPCheck{Conn: conn(silent.addr()), RequireReply: true}, "no reply within 300ms"},
		{"port unreachable", UDPCheck{Conn: conn(closed)}, "port unreachable (ICMP)"},
		{"port unreachable with require_reply", UDPCheck{Conn: conn(closed), RequireReply: true}, "port unreachable (ICMP)"},
		{"reply matches", UDPCheck{Conn: conn(echo.addr()), Payload: []byte{1, 2, 3}, RequireReply: true, Reply: []byte{1, 2, 3}}, ""},
		{"reply compared over the shorter length", UDPCheck{Conn: conn(echo.addr()), Payload: []byte{1, 2}, RequireReply: true, Reply: []byte{1, 2, 3, 4}}, ""},
		{"reply differs", UDPCheck{Conn: conn(echo.addr()), Payload: []byte{1, 2, 3}, RequireReply: true, Reply: []byte{1, 9}}, "differs from require_reply at byte 1"},
		{"wildcard nibbles", UDPCheck{Conn: conn(echo.addr()), Payload: []byte{0x1f, 0x2e}, RequireReply: true, Reply: []byte{0x10, 0x0e}, ReplyMask: []byte{0x0f, 0xf0}}, ""},
		{"min_reply_length", UDPCheck{Conn: conn(echo.addr()), Payload: []byte{1}, RequireReply: true, MinReplyLength: 2}, "shorter than min_reply_length 2"},
		{"max_reply_length", UDPCheck{Conn: conn(echo.addr()), Payload: []byte{1, 2, 3}, RequireReply: true, MaxReplyLength: 2}, "longer than max_reply_length 2"},
		{"a big reply is cut at the default 255", UDPCheck{Conn: conn(big.addr()), RequireReply: true}, "longer than max_reply_length 255"},
		{"any reply passes without require_reply", UDPCheck{Conn: conn(big.addr())}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check.Probe(context.Background())
			if tt.want == "" && err != nil {
				t.Fatalf("Probe = %v, want success", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Probe = %v, want %q", err, tt.want)
			}
		})
	}
	// keepalived's default payload.
	got := echo.received()
	if len(got) == 0 || string(got[0]) != "keepalived check - keepalived ch" {
		t.Errorf("default payload %q", got)
	}
}

func TestUDPCheckCancel(t *testing.T) {
	asked := make(chan struct{}, 1)
	silent := newUDPServer(t, func([]byte) [][]byte {
		select {
		case asked <- struct{}{}:
		default:
		}
		return nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- UDPCheck{Conn: Conn{Addr: silent.addr(), Timeout: time.Hour}, RequireReply: true}.Probe(ctx)
	}()
	// Cancel once the probe has sent its datagram and waits for the reply.
	select {
	case <-asked:
	case <-time.After(3 * time.Second):
		t.Fatal("the probe sent nothing")
	}
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Error("cancelled probe passed")
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Probe did not return after cancel")
	}
}

// dnsReply answers query q with flags (QR is set by the caller).
func dnsReply(q []byte, id uint16, flags uint16) []byte {
	r := append([]byte(nil), q...)
	binary.BigEndian.PutUint16(r, id)
	binary.BigEndian.PutUint16(r[2:], flags)
	return r
}

func qid(q []byte) uint16 { return binary.BigEndian.Uint16(q) }

func TestDNSCheck(t *testing.T) {
	const to = 300 * time.Millisecond
	noerror := newUDPServer(t, func(q []byte) [][]byte { return [][]byte{dnsReply(q, qid(q), 0x8180)} })
	nxdomain := newUDPServer(t, func(q []byte) [][]byte { return [][]byte{dnsReply(q, qid(q), 0x8183)} })
	refused := newUDPServer(t, func(q []byte) [][]byte { return [][]byte{dnsReply(q, qid(q), 0x8185)} })
	junkFirst := newUDPServer(t, func(q []byte) [][]byte {
		return [][]byte{
			{1, 2, 3},                     // shorter than a header
			dnsReply(q, qid(q)+1, 0x8183), // another id
			dnsReply(q, qid(q), 0x0100),   // a query, not a response
			dnsReply(q, qid(q), 0x8180),   // the answer
			dnsReply(q, qid(q), 0x8182),   // too late to matter
		}
	})
	silent := newUDPServer(t, func([]byte) [][]byte { return nil })
	tests := []struct {
		name  string
		check DNSCheck
		want  string
	}{
		{"NOERROR", DNSCheck{Conn: Conn{Addr: noerror.addr(), Timeout: to}}, ""},
		{"NXDOMAIN", DNSCheck{Conn: Conn{Addr: nxdomain.addr(), Timeout: to}, Query: "nope.example."}, "rcode 3 (NXDOMAIN)"},
		{"REFUSED", DNSCheck{Conn: Conn{Addr: refused.addr(), Timeout: to}}, "rcode 5 (REFUSED)"},
		{"junk ignored", DNSCheck{Conn: Conn{Addr: junkFirst.addr(), Timeout: to}}, ""},
		{"no response", DNSCheck{Conn: Conn{Addr: silent.addr(), Timeout: to}}, "no response within 300ms"},
		{"port unreachable", DNSCheck{Conn: Conn{Addr: closedUDPPort(t), Timeout: to}}, "port unreachable"},
		{"invalid name", DNSCheck{Conn: Conn{Addr: noerror.addr(), Timeout: to}, Query: "a..b"}, "empty label"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.check.Probe(context.Background())
			if tt.want == "" && err != nil {
				t.Fatalf("Probe = %v, want success", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Probe = %v, want %q", err, tt.want)
			}
		})
	}
	// The default query: ". IN SOA", recursion desired.
	got := noerror.received()
	if len(got) != 1 {
		t.Fatalf("server got %d queries", len(got))
	}
	want := []byte{0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1}
	copy(want, got[0][:2]) // random id
	if !bytes.Equal(got[0], want) {
		t.Errorf("query % x, want % x", got[0], want)
	}
}

func TestDNSQuery(t *testing.T) {
	tests := []struct {
		name string
		typ  uint16
		want []byte // after the 12-byte header
		err  string
	}{
		{"example.com", DNSTypeA, append([]byte("\x07example\x03com\x00"), 0, 1, 0, 1), ""},
		{"example.com.", DNSTypeAAAA, append([]byte("\x07example\x03com\x00"), 0, 28, 0, 1), ""},
		{".", DNSTypeNS, []byte{0, 0, 2, 0, 1}, ""},
		{"", DNSTypeMX, []byte{0, 0, 15, 0, 1}, ""},
		{".com", 0, nil, "empty label"},
		{"a..com", 0, nil, "empty label"},
		{strings.Repeat("a", 64) + ".com", 0, nil, "longer than 63"},
	}
	for _, tt := range tests {
		q, err := DNSCheck{Query: tt.name, Type: tt.typ}.query(0x1234)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("query(%q) error %v, want %q", tt.name, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("query(%q): %v", tt.name, err)
		}
		hdr := []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0}
		if !bytes.Equal(q[:12], hdr) || !bytes.Equal(q[12:], tt.want) {
			t.Errorf("query(%q) = % x, want % x % x", tt.name, q, hdr, tt.want)
		}
	}
	for _, s := range []string{"a", "soa", "Txt", "CNAME"} {
		if _, err := ParseDNSType(s); err != nil {
			t.Errorf("ParseDNSType(%q): %v", s, err)
		}
	}
	if _, err := ParseDNSType("PTR"); err == nil {
		t.Error("ParseDNSType(PTR) accepted")
	}
}

func FuzzDNSVerdict(f *testing.F) {
	f.Add([]byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x12, 0x34, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0x12, 0x34, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		done, err := dnsVerdict(b, 0x1234)
		if !done && err != nil {
			t.Fatal("ignored datagram with an error")
		}
		if done && (len(b) < 12 || b[0] != 0x12 || b[1] != 0x34 || b[2]&0x80 == 0) {
			t.Fatalf("verdict on a datagram that is not our response: % x", b)
		}
		if done && (err == nil) != (b[3]&0x0f == 0) {
			t.Fatalf("rcode %d, err %v", b[3]&0x0f, err)
		}
	})
}
