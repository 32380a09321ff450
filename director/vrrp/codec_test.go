package vrrp

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// ipPacket is an IP packet split into the fields the driver sees.
type ipPacket struct {
	src, dst netip.Addr
	ttl, tos uint8
	payload  []byte
}

// splitIP parses the IPv4 or IPv6 header of a captured packet.
func splitIP(t testing.TB, b []byte) ipPacket {
	t.Helper()
	switch b[0] >> 4 {
	case 4:
		ihl := int(b[0]&0x0f) * 4
		return ipPacket{
			src: netip.AddrFrom4([4]byte(b[12:16])), dst: netip.AddrFrom4([4]byte(b[16:20])),
			ttl: b[8], tos: b[1], payload: b[ihl:binary.BigEndian.Uint16(b[2:4])],
		}
	case 6:
		return ipPacket{
			src: netip.AddrFrom16([16]byte(b[8:24])), dst: netip.AddrFrom16([16]byte(b[24:40])),
			ttl: b[7], tos: uint8(binary.BigEndian.Uint16(b[0:2]) >> 4), payload: b[40 : 40+binary.BigEndian.Uint16(b[4:6])],
		}
	}
	t.Fatalf("not an IP packet: % x", b[:1])
	return ipPacket{}
}

// readGolden returns the hex line of testdata/NAME.golden (comments skipped).
func readGolden(t testing.TB, name string) []byte {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name+".golden"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		b, err := hex.DecodeString(line)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		return b
	}
	t.Fatalf("%s: no hex line", name)
	return nil
}

func pw(s string) (a [8]byte) { copy(a[:], s); return a }

var a = netip.MustParseAddr

// goldenAdverts are keepalived 2.2.7's adverts (testdata/capture.sh) and what
// Decode must make of them.
var goldenAdverts = []struct {
	name string
	want Packet
}{
	{"v2_pass", Packet{
		Version: 2, Type: 1, VRID: 51, Priority: 150, CountIPAddrs: 2, AuthType: AuthPassword, AdverInt: 1,
		Checksum: 0xf555, Addresses: []netip.Addr{a("192.0.2.100"), a("192.0.2.101")}, AuthData: pw("password"),
	}},
	{"v3_ipv4", Packet{
		Version: 3, Type: 1, VRID: 52, Priority: 100, CountIPAddrs: 1, MaxAdverInt: 50,
		Checksum: 0xbda1, Addresses: []netip.Addr{a("192.0.2.102")},
	}},
	{"v3_ipv6", Packet{
		Version: 3, Type: 1, VRID: 53, Priority: 200, CountIPAddrs: 2, MaxAdverInt: 100,
		Checksum: 0xb320, Addresses: []netip.Addr{a("fe80::53"), a("2001:db8::100")},
	}},
}

func TestDecodeKeepalivedGolden(t *testing.T) {
	for _, tt := range goldenAdverts {
		t.Run(tt.name, func(t *testing.T) {
			ip := splitIP(t, readGolden(t, tt.name))
			if ip.ttl != 255 || ip.tos != 0xc0 {
				t.Errorf("keepalived sent ttl %d tos %#x, want 255 and 0xc0", ip.ttl, ip.tos)
			}
			got, err := Decode(ip.payload, ip.src, ip.dst)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(&tt.want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
				t.Errorf("Decode (-want +got)\n%s", diff)
			}
			// Our encoder must produce keepalived's exact bytes.
			b, err := got.Marshal(ip.src, ip.dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, ip.payload) {
				t.Errorf("Marshal\n got % x\nwant % x", b, ip.payload)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	v2 := splitIP(t, readGolden(t, "v2_pass"))
	v3 := splitIP(t, readGolden(t, "v3_ipv4"))
	v6 := splitIP(t, readGolden(t, "v3_ipv6"))
	mod := func(b []byte, f func([]byte) []byte) []byte { return f(bytes.Clone(b)) }
	// fix recomputes the checksum after a change, so that the test reaches
	// the field it is about.
	fix := func(ip ipPacket) func([]byte) []byte {
		return func(b []byte) []byte {
			b[6], b[7] = 0, 0
			var s uint32
			if b[0]>>4 == 3 {
				s = pseudoHeaderSum(ip.src, ip.dst, len(b))
			}
			binary.BigEndian.PutUint16(b[6:], checksum(b, s))
			return b
		}
	}
	tests := []struct {
		name      string
		b         []byte
		src, dst  netip.Addr
		field     string
		sentinel  error
		wantError string
	}{
		{"short", v2.payload[:7], v2.src, v2.dst, "length", ErrTruncated, ""},
		{"mixed family", v2.payload, v2.src, v6.dst, "address family", ErrFamily, ""},
		{"version 1", mod(v2.payload, func(b []byte) []byte { b[0] = 0x11; return fix(v2)(b) }), v2.src, v2.dst, "version", ErrVersion, ""},
		{"type 2", mod(v2.payload, func(b []byte) []byte { b[0] = 0x22; return fix(v2)(b) }), v2.src, v2.dst, "type", ErrType, ""},
		{"count too big", mod(v2.payload, func(b []byte) []byte { b[3] = 3; return fix(v2)(b) }), v2.src, v2.dst, "count ip addrs", ErrLength, ""},
		{"trailing byte", append(bytes.Clone(v3.payload), 0), v3.src, v3.dst, "count ip addrs", ErrLength, ""},
		{"v2 checksum", mod(v2.payload, func(b []byte) []byte { b[2]++; return b }), v2.src, v2.dst, "checksum", ErrChecksum,
			`vrrp: from 10.0.0.1: field "checksum": bad checksum: 0xf555 does not verify`},
		{"v3 checksum", mod(v3.payload, func(b []byte) []byte { b[7]++; return b }), v3.src, v3.dst, "checksum", ErrChecksum, ""},
		// The v3 checksum covers the pseudo-header: another source fails.
		{"v3 pseudo-header", v3.payload, a("10.0.0.9"), v3.dst, "checksum", ErrChecksum, ""},
		{"v6 pseudo-header", v6.payload, a("fe80::9"), v6.dst, "checksum", ErrChecksum, ""},
		{"v2 over IPv6", mod(v6.payload, func(b []byte) []byte { b[0] = 0x21; return fix(v6)(b) }), v6.src, v6.dst, "version", ErrFamily, ""},
		{"v3 IPv6 payload over IPv4", v6.payload, v3.src, v3.dst, "count ip addrs", ErrLength, ""},
		{"auth AH", mod(v2.payload, func(b []byte) []byte { b[4] = 2; return fix(v2)(b) }), v2.src, v2.dst, "auth type", ErrAuthType, ""},
		{"vrid 0", mod(v3.payload, func(b []byte) []byte { b[1] = 0; return fix(v3)(b) }), v3.src, v3.dst, "vrid", ErrVRID, ""},
		{"v2 interval 0", mod(v2.payload, func(b []byte) []byte { b[5] = 0; return fix(v2)(b) }), v2.src, v2.dst, "adver int", ErrInterval, ""},
		{"v3 interval 0", mod(v3.payload, func(b []byte) []byte { b[4], b[5] = 0xf0, 0; return fix(v3)(b) }), v3.src, v3.dst, "max adver int", ErrInterval, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Decode(tt.b, tt.src, tt.dst)
			if err == nil {
				t.Fatalf("Decode = %+v, want error", p)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			if de.Field != tt.field || !errors.Is(err, tt.sentinel) || de.Peer != tt.src {
				t.Errorf("error %q: field %q peer %s, want field %q sentinel %v peer %s", err, de.Field, de.Peer, tt.field, tt.sentinel, tt.src)
			}
			if tt.wantError != "" && err.Error() != tt.wantError {
				t.Errorf("error text\n got %s\nwant %s", err, tt.wantError)
			}
		})
	}
}

func TestDecodeIgnoresReservedBits(t *testing.T) {
	v3 := splitIP(t, readGolden(t, "v3_ipv4"))
	b := bytes.Clone(v3.payload)
	b[4] |= 0xf0
	b[6], b[7] = 0, 0
	binary.BigEndian.PutUint16(b[6:], checksum(b, pseudoHeaderSum(v3.src, v3.dst, len(b))))
	p, err := Decode(b, v3.src, v3.dst)
	if err != nil {
		t.Fatal(err)
	}
	if p.MaxAdverInt != 50 {
		t.Errorf("MaxAdverInt = %d, want 50", p.MaxAdverInt)
	}
}

func TestMarshalErrors(t *testing.T) {
	src4, dst4, src6, dst6 := a("10.0.0.1"), MulticastGroup4, a("fe80::1"), MulticastGroup6
	ok := Packet{Version: 3, Type: 1, VRID: 1, Priority: 100, MaxAdverInt: 100, Addresses: []netip.Addr{a("192.0.2.1")}}
	tests := []struct {
		name     string
		edit     func(*Packet)
		src, dst netip.Addr
		want     string
	}{
		{"family", func(*Packet) {}, src4, dst6, "address family"},
		{"version", func(p *Packet) { p.Version = 4 }, src4, dst4, `field "version"`},
		{"v2 over ipv6", func(p *Packet) { p.Version = 2; p.AdverInt = 1 }, src6, dst6, `field "version"`},
		{"type", func(p *Packet) { p.Type = 0 }, src4, dst4, `field "type"`},
		{"count", func(p *Packet) { p.CountIPAddrs = 2 }, src4, dst4, `field "count ip addrs"`},
		{"vrid", func(p *Packet) { p.VRID = 0 }, src4, dst4, `field "vrid"`},
		{"v3 interval", func(p *Packet) { p.MaxAdverInt = 4096 }, src4, dst4, `field "max adver int"`},
		{"v2 interval", func(p *Packet) { p.Version = 2 }, src4, dst4, `field "adver int"`},
		{"v2 auth", func(p *Packet) { p.Version = 2; p.AdverInt = 1; p.AuthType = 2 }, src4, dst4, `field "auth type"`},
		{"addr family", func(*Packet) {}, src6, dst6, `field "addresses"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := ok
			p.Addresses = append([]netip.Addr(nil), ok.Addresses...)
			tt.edit(&p)
			_, err := p.Marshal(tt.src, tt.dst)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Marshal error = %v, want one naming %s", err, tt.want)
			}
		})
	}
}

func FuzzDecode(f *testing.F) {
	for _, g := range goldenAdverts {
		ip := splitIP(f, readGolden(f, g.name))
		f.Add(ip.payload, ip.src.AsSlice(), ip.dst.AsSlice())
	}
	f.Add([]byte{0x31, 1, 0, 0, 0, 1, 0, 0}, []byte{10, 0, 0, 1}, []byte{224, 0, 0, 18})
	f.Fuzz(func(t *testing.T, b, src, dst []byte) {
		s, ok1 := netip.AddrFromSlice(src)
		d, ok2 := netip.AddrFromSlice(dst)
		if !ok1 || !ok2 {
			return
		}
		p, err := Decode(b, s, d)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Field == "" {
				t.Fatalf("error %v is not a *DecodeError naming a field", err)
			}
			return
		}
		out, err := p.Marshal(s, d)
		if err != nil {
			t.Fatalf("Marshal of a decoded packet: %v", err)
		}
		q, err := Decode(out, s, d)
		if err != nil {
			t.Fatalf("Decode(Marshal(p)): %v", err)
		}
		if diff := cmp.Diff(p, q, cmpopts.EquateComparable(netip.Addr{}), cmpopts.IgnoreFields(Packet{}, "Checksum")); diff != "" {
			t.Fatalf("round trip (-first +second)\n%s", diff)
		}
		// Only the reserved bits of v3 may differ, and with them the checksum.
		if p.Version == Version2 || b[4]&0xf0 == 0 {
			if !bytes.Equal(out, b) {
				t.Fatalf("Marshal(Decode(b)) != b\n got % x\nwant % x", out, b)
			}
		}
	})
}

var cmpOptsPacket = []cmp.Option{cmpopts.EquateComparable(netip.Addr{})}

// An IPv4-mapped address in a v3 advert over IPv6 (found by FuzzDecode)
// is 16 bytes on the wire and must marshal back as it was decoded.
func TestRoundTripMappedAddress(t *testing.T) {
	p := Packet{Version: 3, Type: 1, VRID: 1, Priority: 100, MaxAdverInt: 100, Addresses: []netip.Addr{a("::ffff:0.0.0.83")}}
	b, err := p.Marshal(a("fe80::1"), MulticastGroup6)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Decode(b, a("fe80::1"), MulticastGroup6)
	if err != nil {
		t.Fatal(err)
	}
	out, err := q.Marshal(a("fe80::1"), MulticastGroup6)
	if err != nil {
		t.Fatalf("Marshal of the decoded packet: %v", err)
	}
	if !bytes.Equal(out, b) {
		t.Fatalf("round trip changed the bytes\n got % x\nwant % x", out, b)
	}
}
