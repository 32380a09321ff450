package hbproto

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

func TestTruncateString(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want string
	}{
		{"short", "abc", 10, "abc"},
		{"cut ascii", "abcdef", 3, "abc"},
		{"cut mid rune", "aé", 2, "a"},                   // é is 2 bytes: not split
		{"cut mid 3-byte rune", "ab€", 4, "ab"},          // € is 3 bytes
		{"invalid made valid", "a\xffb", 10, "a\uFFFDb"}, // 1 byte becomes 3
		{"invalid then cut", "\xff\xff", 4, "\uFFFD"},
		{"default max", strings.Repeat("é", 200), 0, strings.Repeat("é", 127)},
		{"max above MaxString", strings.Repeat("x", 300), 1000, strings.Repeat("x", MaxString)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := TruncateString(tt.in, tt.max)
			if got != tt.want {
				t.Errorf("TruncateString(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
			}
			if !utf8.ValidString(got) {
				t.Errorf("%q is not valid UTF-8", got)
			}
		})
	}
}

// TestFitReply: a reply is trimmed by its encoded size, not by a count:
// long service names and IPv6 addresses make 128 destinations too large.
func TestFitReply(t *testing.T) {
	long := strings.Repeat("s", MaxString)
	dests := func(n int, service string, addr string) []DestinationStatus {
		d := make([]DestinationStatus, n)
		for i := range d {
			d[i] = DestinationStatus{Service: service, Addr: netip.MustParseAddrPort(addr), Pool: PoolUp}
		}
		return d
	}
	tests := []struct {
		name  string
		r     DirectorReply
		kept  int
		atMax bool // the kept list is the most that fits
	}{
		{"fits", DirectorReply{Director: "d", Destinations: dests(3, "TCP 192.0.2.1:80", "192.0.2.11:80")}, 3, false},
		{"count cap", DirectorReply{Director: "d", Destinations: dests(MaxDestinations+5, "FWM 1", "192.0.2.11:0")}, MaxDestinations, false},
		{"long names", DirectorReply{Director: long, Destinations: dests(MaxDestinations, long, "192.0.2.11:80"), Echo: &ReplyEcho{Session: 1, Seq: 2}}, -1, true},
		{"ipv6", DirectorReply{Director: "d", ReportNow: true, Destinations: dests(MaxDestinations, strings.Repeat("v", 60), "[2001:db8::11]:443")}, -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			full := tt.r.Destinations
			r := tt.r
			dropped := FitReply(&r)
			if tt.kept >= 0 && len(r.Destinations) != tt.kept {
				t.Errorf("kept %d, want %d", len(r.Destinations), tt.kept)
			}
			if dropped != len(full)-len(r.Destinations) {
				t.Errorf("dropped %d, but %d of %d are gone", dropped, len(full)-len(r.Destinations), len(full))
			}
			b, err := Encode(testKey, &Message{Header: hdr(TypeDirectorReply, 1), Director: &r})
			if err != nil {
				t.Fatalf("fitted reply does not encode: %v", err)
			}
			if len(b) != ReplySize(&r) {
				t.Errorf("ReplySize %d, encoded %d", ReplySize(&r), len(b))
			}
			if tt.atMax {
				more := r
				more.Destinations = full[:len(r.Destinations)+1]
				if _, err := Encode(testKey, &Message{Header: hdr(TypeDirectorReply, 1), Director: &more}); !errors.Is(err, ErrTooLarge) {
					t.Errorf("one destination more: %v, want ErrTooLarge", err)
				}
			}
			t.Logf("%d of %d destinations kept, %d bytes", len(r.Destinations), len(full), len(b))
		})
	}
}

// TestOpenScoped: a datagram opens with the first matching key of its
// sender's set; the replay state of one scope cannot be advanced by a
// sender of another scope.
func TestOpenScoped(t *testing.T) {
	secret := testKey
	rs1, rs2 := netip.MustParseAddr("192.0.2.11"), netip.MustParseAddr("192.0.2.12")
	k1, k2 := NewKey(DeriveAgentKey(secret, rs1)), NewKey(DeriveAgentKey(secret, rs2))
	cluster := NewKey(secret)
	o := NewOpener(secret, 0)
	seal := func(key []byte, session, seq uint64) []byte {
		b, err := Encode(key, &Message{Header: Header{Type: TypeAgentReport, SessionID: session, Seq: seq, Time: testTime}, Agent: agentUp()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if _, which, err := o.OpenScoped("rs1", rs1, []*Key{k1, nil, cluster}, seal(DeriveAgentKey(secret, rs1), 7, 1), testTime); err != nil || which != 0 {
		t.Fatalf("derived key: which %d, %v", which, err)
	}
	if _, which, err := o.OpenScoped("rs1", rs1, []*Key{k1, nil, cluster}, seal(secret, 8, 1), testTime); err != nil || which != 2 {
		t.Fatalf("cluster key: which %d, %v", which, err)
	}
	if _, _, err := o.OpenScoped("rs1", rs1, []*Key{k1}, seal(DeriveAgentKey(secret, rs2), 9, 1), testTime); !errors.Is(err, ErrMAC) {
		t.Fatalf("rs2's key from rs1: %v, want ErrMAC", err)
	}
	// rs1's key holder uses rs2's session id with a huge seq: rs2's own
	// next report is not a replay.
	if _, _, err := o.OpenScoped("rs2", rs2, []*Key{k2}, seal(DeriveAgentKey(secret, rs2), 100, 1), testTime); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.OpenScoped("rs1", rs1, []*Key{k1}, seal(DeriveAgentKey(secret, rs1), 100, 1<<40), testTime); err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.OpenScoped("rs2", rs2, []*Key{k2}, seal(DeriveAgentKey(secret, rs2), 100, 2), testTime); err != nil {
		t.Fatalf("rs2's next report after rs1 used its session id: %v", err)
	}
	if _, _, err := o.OpenScoped("rs2", rs2, []*Key{k2}, seal(DeriveAgentKey(secret, rs2), 100, 2), testTime); !errors.Is(err, ErrReplay) {
		t.Fatalf("replay within the scope: %v, want ErrReplay", err)
	}
}

// TestSealDirectorWith: a reply sealed with agent A's key opens with A's
// key only.
func TestSealDirectorWith(t *testing.T) {
	a, b := DeriveAgentKey(testKey, netip.MustParseAddr("192.0.2.11")), DeriveAgentKey(testKey, netip.MustParseAddr("192.0.2.12"))
	s := NewSealer(testKey, 5)
	r := &DirectorReply{Director: "lb1", Role: RoleMaster, Echo: &ReplyEcho{Session: 3, Seq: 4}}
	out, err := s.SealDirectorWith(NewKey(a), testTime, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewOpener(b, 0).Open("lb1", out, testTime); !errors.Is(err, ErrMAC) {
		t.Errorf("B opened A's reply: %v", err)
	}
	m, err := NewOpener(a, 0).Open("lb1", out, testTime)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(r, m.Director); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if m.Seq != 1 {
		t.Errorf("seq %d, want 1", m.Seq)
	}
}

func TestEchoTruncated(t *testing.T) {
	for n := 1; n < 16; n++ {
		body := append([]byte{1, 'd', 2, 0, 0}, make([]byte, n)...)
		if _, err := Decode(frame(TypeDirectorReply, 1, body, nil)); !errors.Is(err, ErrMalformed) {
			t.Errorf("echo of %d bytes: %v, want malformed", n, err)
		}
	}
}

// BenchmarkOpenDerived: what a director pays per report when it derives
// the sender's key for every datagram (no cache): derivation plus Open.
func BenchmarkOpenDerived(b *testing.B) {
	o := NewOpener(testKey, time.Hour)
	const agents = 1000
	dgrams := make([][]byte, agents)
	ips := make([]netip.Addr, agents)
	for i := range dgrams {
		ips[i] = netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)})
		var err error
		dgrams[i], err = Encode(DeriveAgentKey(testKey, ips[i]), &Message{Header: Header{Type: TypeAgentReport, SessionID: uint64(i), Seq: 1, Time: testTime}, Agent: agentUp()})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % agents
		k := NewKey(DeriveAgentKey(testKey, ips[j]))
		_, _, err := o.OpenScoped(fmt.Sprint(j), ips[j], []*Key{k}, dgrams[j], testTime)
		if err != nil && !errors.Is(err, ErrReplay) {
			b.Fatal(err)
		}
	}
}
