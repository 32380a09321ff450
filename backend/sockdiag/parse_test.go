package sockdiag

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"golang.org/x/sys/unix"
)

// msg builds a struct inet_diag_msg as the kernel writes it.
func msg(fam, state uint8, src netip.Addr, sport, dport uint16, inode uint32) []byte {
	b := make([]byte, msgLen)
	b[offFamily], b[offState] = fam, state
	binary.BigEndian.PutUint16(b[offSport:], sport)
	binary.BigEndian.PutUint16(b[offDport:], dport)
	copy(b[offSrc:], src.AsSlice())
	binary.NativeEndian.PutUint32(b[offInode:], inode)
	return b
}

func TestParseMsg(t *testing.T) {
	d, ok := parseMsg(msg(unix.AF_INET6, tcpListen, netip.MustParseAddr("::1"), 8080, 0, 42))
	if !ok || d.Addr != netip.MustParseAddrPort("[::1]:8080") || d.Inode != 42 || d.state != tcpListen || d.dport != 0 {
		t.Errorf("IPv6 listener: %+v, %v", d, ok)
	}
	d, ok = parseMsg(msg(unix.AF_INET, 1, netip.MustParseAddr("10.0.0.1"), 80, 5555, 7))
	if !ok || d.Addr != netip.MustParseAddrPort("10.0.0.1:80") || d.dport != 5555 {
		t.Errorf("IPv4 connection: %+v, %v", d, ok)
	}
	if _, ok := parseMsg(make([]byte, msgLen-1)); ok {
		t.Error("short message accepted")
	}
	b := msg(unix.AF_INET, tcpListen, netip.MustParseAddr("10.0.0.1"), 80, 0, 1)
	b[offFamily] = 99
	if _, ok := parseMsg(b); ok {
		t.Error("unknown family accepted")
	}
}

func FuzzParseMsg(f *testing.F) {
	f.Add(msg(unix.AF_INET, tcpListen, netip.MustParseAddr("127.0.0.1"), 80, 0, 1))
	f.Add(msg(unix.AF_INET6, tcpListen, netip.MustParseAddr("::"), 443, 0, 2))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		d, ok := parseMsg(b)
		if ok && !d.Addr.IsValid() {
			t.Fatalf("ok with an invalid address: %+v", d)
		}
	})
}
