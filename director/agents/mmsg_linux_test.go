//go:build linux

package agents

import (
	"net/netip"
	"testing"
	"unsafe"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// TestMmsgAddrs: the addresses written into the kernel's sockaddr for
// sendmmsg, as the socket's family has them, read back as recvmmsg's
// senders are; an IPv6 peer on an IPv4 socket is refused.
func TestMmsgAddrs(t *testing.T) {
	for _, c := range []struct {
		name   string
		v6     bool
		peer   string
		len    uint32
		family uint16
		back   string // "" for refused
	}{
		{"v4 socket, v4 peer", false, "192.0.2.1:7481", unix.SizeofSockaddrInet4, unix.AF_INET, "192.0.2.1:7481"},
		{"v4 socket, v4-mapped peer", false, "[::ffff:192.0.2.1]:258", unix.SizeofSockaddrInet4, unix.AF_INET, "192.0.2.1:258"},
		{"v4 socket, v6 peer", false, "[2001:db8::1]:7481", 0, 0, ""},
		{"v6 socket, v6 peer", true, "[2001:db8::1]:65535", unix.SizeofSockaddrInet6, unix.AF_INET6, "[2001:db8::1]:65535"},
		{"v6 socket, v4 peer", true, "192.0.2.1:1", unix.SizeofSockaddrInet6, unix.AF_INET6, "[::ffff:192.0.2.1]:1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := &mmsg{v6: c.v6}
			var sa unix.RawSockaddrInet6
			n, ok := m.sockaddr(&sa, netip.MustParseAddrPort(c.peer))
			if ok != (c.back != "") {
				t.Fatalf("sockaddr ok %v, want %v", ok, c.back != "")
			}
			if !ok {
				return
			}
			if n != c.len || sa.Family != c.family {
				t.Fatalf("length %d, family %d; want %d, %d", n, sa.Family, c.len, c.family)
			}
			if got := addrOf(&sa, n).String(); got != c.back {
				t.Errorf("read back %s, want %s", got, c.back)
			}
			// The port in network byte order, as the kernel has it.
			b := [2]byte{byte(netip.MustParseAddrPort(c.back).Port() >> 8), byte(netip.MustParseAddrPort(c.back).Port())}
			got := *(*[2]byte)(portBytes(&sa))
			if diff := cmp.Diff(b, got); diff != "" {
				t.Errorf("port bytes (-want +got):\n%s", diff)
			}
		})
	}
	// What is no IPv4 or IPv6 address, or shorter than its family, reads
	// as no sender.
	var sa unix.RawSockaddrInet6
	sa.Family = unix.AF_UNIX
	if a := addrOf(&sa, unix.SizeofSockaddrInet6); a.IsValid() {
		t.Errorf("AF_UNIX read as %s", a)
	}
	sa.Family = unix.AF_INET6
	if a := addrOf(&sa, unix.SizeofSockaddrInet4); a.IsValid() {
		t.Errorf("a short AF_INET6 address read as %s", a)
	}
}

// portBytes is the port of sa (either family: at the same offset) as
// the kernel has it, in network byte order.
func portBytes(sa *unix.RawSockaddrInet6) unsafe.Pointer { return unsafe.Pointer(&sa.Port) }
