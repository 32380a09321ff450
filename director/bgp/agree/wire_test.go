package agree

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/shared/hbproto"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// The fixed inputs of the test vector: hbproto's test key (00 01 … 1f).
var (
	testKey  = []byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f")
	testTime = time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
	peerA    = netip.MustParseAddr("10.0.0.12")
)

func key(s string) Key {
	p, a, _ := strings.Cut(s, " ")
	pr, _ := ParseProto(p)
	return Key{Proto: pr, Addr: netip.MustParseAddrPort(a)}
}

func twoVIPs() *Message {
	return &Message{Session: 0x0123456789abcdef, Seq: 1, Time: testTime, Node: "lb1", Services: []Service{
		{Key: key("TCP 192.0.2.100:80"), Announcing: true, Fingerprint: 0x1122334455667788, HasFingerprint: true},
		{Key: key("UDP 192.0.2.100:53"), Announcing: true, Fingerprint: 0x8877665544332211, HasFingerprint: true},
		{Key: key("TCP [2001:db8::100]:443"), HasFingerprint: false},
	}}
}

func sorted(m *Message) *Message {
	// The encoder wants the services sorted by key.
	s := m.Services
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j-1].Key.Compare(s[j].Key) > 0; j-- {
			s[j-1], s[j] = s[j], s[j-1]
		}
	}
	return m
}

func encode(t testing.TB, m *Message) []byte {
	t.Helper()
	b, err := Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return hbproto.AppendTag(testKey, b)
}

func TestGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		m    *Message
	}{
		{"two_vips", sorted(twoVIPs())},
		{"empty", &Message{Session: 7, Seq: 9, Time: testTime, Node: "lb-joining"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := encode(t, tt.m)
			if len(got) != Size(tt.m.Node, tt.m.Services) {
				t.Errorf("Size %d, encoded %d", Size(tt.m.Node, tt.m.Services), len(got))
			}
			path := filepath.Join("testdata", "TestGolden_"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			want, err := hex.DecodeString(strings.TrimSpace(string(text)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, got) {
				t.Errorf("encoding differs from %s (a wire change?)\nwant %x\ngot  %x", path, want, got)
			}
			m, err := NewOpener([][]byte{testKey}, 0).Open(peerA, want, testTime)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.m, m, netipEq); diff != "" {
				t.Errorf("Open (-want +got)\n%s", diff)
			}
		})
	}
}

// TestGoldenLayout pins the first bytes by hand: magic, version, flags,
// session, seq, time, node, count, then the first entry.
func TestGoldenLayout(t *testing.T) {
	b := encode(t, sorted(twoVIPs()))
	want := "5441" + "01" + "00" + "0123456789abcdef" + "0000000000000001" +
		hex.EncodeToString(be64(uint64(testTime.UnixNano()))) + "03" + hex.EncodeToString([]byte("lb1")) + "0003" +
		"03" + "11" + "04" + "c0000264" + "0035" + "8877665544332211"
	if got := hex.EncodeToString(b[:len(want)/2]); got != want {
		t.Errorf("layout\n got %s\nwant %s", got, want)
	}
}

// netipEq compares the netip types by value.
var netipEq = cmpopts.EquateComparable(netip.Addr{}, netip.AddrPort{})

func be64(v uint64) []byte {
	b := make([]byte, 8)
	for i := range 8 {
		b[7-i] = byte(v >> (8 * i))
	}
	return b
}

func TestMarshalRefuses(t *testing.T) {
	many := &Message{Session: 1, Time: testTime, Node: "lb1"}
	for i := range 50 {
		many.Services = append(many.Services, Service{Key: Key{Proto: TCP, Addr: netip.AddrPortFrom(netip.MustParseAddr("2001:db8::1"), uint16(i+1))}})
	}
	unsorted := twoVIPs()
	for _, tt := range []struct {
		name string
		m    *Message
		want string
	}{
		{"nil", nil, "nil message"},
		{"session", &Message{Node: "x"}, "field session: 0"},
		{"node", &Message{Session: 1, Node: ""}, "field node"},
		{"too many", many, "50 services make 1516 bytes, max 1400"},
		{"unsorted", unsorted, "field services[1]: UDP 192.0.2.100:53 not after TCP 192.0.2.100:80"},
		{"bad key", &Message{Session: 1, Node: "x", Time: testTime, Services: []Service{{Key: Key{Proto: 1, Addr: netip.MustParseAddrPort("192.0.2.1:1")}}}}, "field services[0]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Marshal(tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := Marshal(many); !errors.Is(err, ErrTooBig) {
		t.Errorf("too many: %v is not ErrTooBig", err)
	}
}

// TestMaxServices: the datagram bound in services (43 IPv6 or 74 IPv4
// services with a 64-byte name), as docs/config-director.md gives it.
func TestMaxServices(t *testing.T) {
	name := strings.Repeat("n", 64)
	for _, tt := range []struct {
		addr string
		max  int
	}{{"192.0.2.1", 74}, {"2001:db8::1", 43}} {
		var ss []Service
		for i := range tt.max + 1 {
			ss = append(ss, Service{Key: Key{Proto: TCP, Addr: netip.AddrPortFrom(netip.MustParseAddr(tt.addr), uint16(i+1))}})
		}
		if n := Size(name, ss[:tt.max]); n > MaxDatagram {
			t.Errorf("%s: %d services are %d bytes", tt.addr, tt.max, n)
		}
		if n := Size(name, ss); n <= MaxDatagram {
			t.Errorf("%s: %d services are only %d bytes", tt.addr, tt.max+1, n)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	good := encode(t, sorted(twoVIPs()))
	resign := func(f func(b []byte) []byte) []byte {
		b := append([]byte(nil), good[:len(good)-TagSize]...)
		return hbproto.AppendTag(testKey, f(b))
	}
	entry := HeaderSize + 1 + 3 + 2 // the first entry
	for _, tt := range []struct {
		name string
		b    []byte
		now  time.Time
		want error
	}{
		{"short", good[:10], testTime, hbproto.ErrTruncated},
		{"long", make([]byte, MaxDatagram+1), testTime, hbproto.ErrMalformed},
		{"magic", resign(func(b []byte) []byte { b[0] = 'X'; return b }), testTime, hbproto.ErrMalformed},
		{"version", resign(func(b []byte) []byte { b[2] = 2; return b }), testTime, hbproto.ErrVersion},
		{"mac", append(append([]byte(nil), good[:len(good)-1]...), good[len(good)-1]^1), testTime, hbproto.ErrMAC},
		{"other key", hbproto.AppendTag([]byte(strings.Repeat("z", 32)), append([]byte(nil), good[:len(good)-TagSize]...)), testTime, hbproto.ErrMAC},
		{"stale", good, testTime.Add(time.Minute), hbproto.ErrStale},
		{"flags", resign(func(b []byte) []byte { b[3] = 1; return b }), testTime, hbproto.ErrMalformed},
		{"entry flags", resign(func(b []byte) []byte { b[entry] = 0x80; return b }), testTime, hbproto.ErrMalformed},
		{"family", resign(func(b []byte) []byte { b[entry+2] = 5; return b }), testTime, hbproto.ErrMalformed},
		{"proto", resign(func(b []byte) []byte { b[entry+1] = 1; return b }), testTime, hbproto.ErrMalformed},
		{"count", resign(func(b []byte) []byte { b[entry-1] = 4; return b }), testTime, hbproto.ErrMalformed},
		{"trailing", resign(func(b []byte) []byte { return append(b, 0) }), testTime, hbproto.ErrMalformed},
		{"huge count", resign(func(b []byte) []byte { b[entry-2] = 0xff; return b }), testTime, hbproto.ErrMalformed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewOpener([][]byte{testKey}, 0).Open(peerA, tt.b, tt.now)
			var de *DecodeError
			if !errors.Is(err, tt.want) || !errors.As(err, &de) || de.Peer != "10.0.0.12" || de.Proto != "agreement" {
				t.Fatalf("err %v, want %v from 10.0.0.12", err, tt.want)
			}
		})
	}
}

// TestOpenReplay: the replay rule is per sender address and session.
func TestOpenReplay(t *testing.T) {
	o := NewOpener([][]byte{[]byte("old-key-old-key-old-key-old-key!"), testKey}, 0)
	s := NewSealer(testKey, 42)
	b1, err := s.Seal(testTime, *twoVIPsSorted())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open(peerA, b1, testTime); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open(peerA, b1, testTime); !errors.Is(err, hbproto.ErrReplay) {
		t.Errorf("replayed from the same sender: %v", err)
	}
	if _, err := o.Open(netip.MustParseAddr("10.0.0.13"), b1, testTime); err != nil {
		t.Errorf("same datagram from another director (sent to each): %v", err)
	}
	b2, _ := s.Seal(testTime, *twoVIPsSorted())
	m, err := o.Open(peerA, b2, testTime)
	if err != nil || m.Seq != 2 || m.Session != 42 {
		t.Errorf("next: %+v, %v", m, err)
	}
}

func twoVIPsSorted() *Message { return sorted(twoVIPs()) }

func FuzzDecode(f *testing.F) {
	f.Add(encode(f, sorted(twoVIPs())))
	f.Add(encode(f, &Message{Session: 7, Node: "x", Time: testTime}))
	f.Add([]byte("TA\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a DecodeError", err)
			}
			return
		}
		// What decodes encodes to the same bytes.
		out, err := Marshal(m)
		if err != nil {
			t.Fatalf("decoded %+v does not encode: %v", m, err)
		}
		if !bytes.Equal(out, b[:len(b)-TagSize]) {
			t.Fatalf("round trip\n in  %x\n out %x", b[:len(b)-TagSize], out)
		}
	})
}

// TestConfigSize: the config's bound on the message (config.BGPAgreementBytes,
// checked by check-config) is this package's Size.
func TestConfigSize(t *testing.T) {
	in := `version: 1
node: lb-size
bgp:
  local_as: 65001
  router_id: 10.0.0.11
  peers: [{address: 10.0.0.1, as: 65000}, {address: "2001:db8::1", as: 65000}]
  directors: [10.0.0.12]
virtual_servers:
  - {address: 192.0.2.10:80, real_servers: [{address: 198.51.100.1}]}
  - {address: 192.0.2.10:443, real_servers: [{address: 198.51.100.1}]}
  - {address: "[2001:db8::10]:80", protocol: UDP, real_servers: [{address: "2001:db8:1::1"}]}
`
	c, err := config.ParseNative("d.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	ss := []Service{{Key: key("TCP 192.0.2.10:80")}, {Key: key("TCP 192.0.2.10:443")}, {Key: key("UDP [2001:db8::10]:80")}}
	if got, want := c.BGPAgreementBytes(), Size("lb-size", ss); got != want {
		t.Errorf("config says %d bytes, agree %d", got, want)
	}
	if config.MaxBGPAgreementBytes != MaxDatagram || config.DefaultBGPAgreementPort != DefaultPort {
		t.Error("config's bound or port differs from agree's")
	}
}
