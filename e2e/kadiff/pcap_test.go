package kadiff

import (
	"encoding/binary"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/vrrp"
)

// ipv4Frame wraps a VRRP payload in Ethernet and IPv4 headers.
func ipv4Frame(t *testing.T, p *vrrp.Packet, src, dst netip.Addr) []byte {
	t.Helper()
	payload, err := p.Marshal(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	eth := []byte{0x01, 0x00, 0x5e, 0, 0, 0x12, 0x02, 0x4c, 0, 0, 0, 1, 0x08, 0x00}
	ip := make([]byte, 20)
	ip[0], ip[1], ip[8], ip[9] = 0x45, 0xc0, 255, vrrp.Protocol
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(payload)))
	copy(ip[12:], src.AsSlice())
	copy(ip[16:], dst.AsSlice())
	return append(append(eth, ip...), payload...)
}

// pcapFile builds a little-endian microsecond pcap of Ethernet frames.
func pcapFile(ts time.Time, frames ...[]byte) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b, 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(b[4:], 2)
	binary.LittleEndian.PutUint16(b[6:], 4)
	binary.LittleEndian.PutUint32(b[16:], 262144)
	binary.LittleEndian.PutUint32(b[20:], LinkEthernet)
	for _, f := range frames {
		h := make([]byte, 16)
		binary.LittleEndian.PutUint32(h, uint32(ts.Unix()))
		binary.LittleEndian.PutUint32(h[4:], uint32(ts.Nanosecond()/1000))
		binary.LittleEndian.PutUint32(h[8:], uint32(len(f)))
		binary.LittleEndian.PutUint32(h[12:], uint32(len(f)))
		b = append(append(b, h...), f...)
	}
	return b
}

func TestPcapAdvert(t *testing.T) {
	src, dst := netip.MustParseAddr("192.0.2.254"), vrrp.MulticastGroup4
	p := &vrrp.Packet{Version: 2, Type: vrrp.TypeAdvertisement, VRID: 51, Priority: 150, AuthType: vrrp.AuthPassword,
		AdverInt: 1, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	copy(p.AuthData[:], "secret")
	ts := time.Unix(1700000000, 250000000)
	file := pcapFile(ts, ipv4Frame(t, p, src, dst), []byte{1, 2, 3})
	frames, err := ReadPcap(append(file, 0, 0, 0)) // a cut last record is dropped
	if err != nil {
		t.Fatal(err)
	}
	if len(frames) != 2 || !frames[0].TS.Equal(ts) {
		t.Fatalf("frames = %d, ts %v; want 2 at %v", len(frames), frames[0].TS, ts)
	}
	a, ok := DecodeFrame(frames[0])
	if !ok || a.Packet == nil {
		t.Fatalf("DecodeFrame: ok=%v err=%v", ok, a.Err)
	}
	want := `192.0.2.254 > 224.0.0.18 ttl 255 tos 0xc0 mac 02:4c:00:00:00:01 v2 vrid 51 prio 150 int 1s auth PASS "secret" addrs [192.0.2.100]`
	if got := a.Line(); got != want {
		t.Errorf("Line() =\n%s\nwant\n%s", got, want)
	}
	if _, ok := DecodeFrame(frames[1]); ok {
		t.Error("a runt frame decoded as an advert")
	}
	if _, err := ReadPcap([]byte("not a pcap file at all....")); err == nil {
		t.Error("bad magic accepted")
	}
}

func TestDeltaCompare(t *testing.T) {
	base := Snapshot{ClassAddr: {"eth0 inet 192.0.2.254/24 scope global eth0"}}
	k := Delta(base, Snapshot{ClassAddr: {"eth0 inet 192.0.2.100/32 scope global eth0", "eth0 inet 192.0.2.254/24 scope global eth0"}})
	tn := Delta(base, Snapshot{ClassAddr: {"eth0 inet 192.0.2.254/24 scope global eth0"}, ClassAdvert: {"x"}})
	d := Compare(k, tn)
	if len(d) != 2 || d[0].Class != ClassAddr || d[1].Class != ClassAdvert {
		t.Fatalf("Compare = %v", d)
	}
	if !strings.Contains(d[0].String(), "keepalived only: + eth0 inet 192.0.2.100/32") {
		t.Errorf("difference text: %s", d[0])
	}
	if got := Lines(`2: eth0    inet 192.0.2.1/24 scope global eth0\       valid_lft forever preferred_lft forever`, NormAddr); len(got) != 1 || got[0] != "eth0 inet 192.0.2.1/24 scope global eth0" {
		t.Errorf("NormAddr: %q", got)
	}
}
