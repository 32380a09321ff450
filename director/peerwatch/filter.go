package peerwatch

import (
	"fmt"
	"net"
	"net/netip"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// skfNetOff is the kernel's SKF_NET_OFF: classic BPF loads at this offset
// read the network (IP) header of the datagram a UDP socket receives.
const skfNetOff = 0xfff00000 // -0x100000 as uint32

// kernelFilter is the socket filter that refuses, in the kernel and before
// the datagram takes room in the socket's receive buffer, every datagram
// whose TTL (hop limit) is not 255 and, when peer is valid, every datagram
// not from peer: a flood of such junk costs the watcher nothing. The
// reader checks the same again (and counts what reaches it).
func kernelFilter(v6 bool, peer netip.Addr) ([]bpf.RawInstruction, error) {
	var prog []bpf.Instruction
	if !v6 {
		prog = append(prog, bpf.LoadAbsolute{Off: skfNetOff + 8, Size: 1}, // ttl
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ProbeTTL, SkipTrue: 0xff})
		if peer.IsValid() && peer.Unmap().Is4() {
			a := peer.Unmap().As4()
			prog = append(prog, bpf.LoadAbsolute{Off: skfNetOff + 12, Size: 4}, // saddr
				bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3]), SkipTrue: 0xff})
		}
	} else {
		prog = append(prog, bpf.LoadAbsolute{Off: skfNetOff + 7, Size: 1}, // hop limit
			bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: ProbeTTL, SkipTrue: 0xff})
		if peer.IsValid() && peer.Is6() && !peer.Is4In6() {
			a := peer.As16()
			for i := 0; i < 16; i += 4 {
				prog = append(prog, bpf.LoadAbsolute{Off: skfNetOff + 8 + uint32(i), Size: 4}, // saddr
					bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: uint32(a[i])<<24 | uint32(a[i+1])<<16 | uint32(a[i+2])<<8 | uint32(a[i+3]), SkipTrue: 0xff})
			}
		}
	}
	// Point every "drop" jump at the final drop.
	n := len(prog)
	for i, ins := range prog {
		if j, ok := ins.(bpf.JumpIf); ok {
			j.SkipTrue = uint8(n - i) // past "accept", onto "drop"
			prog[i] = j
		}
	}
	prog = append(prog, bpf.RetConstant{Val: 0xffff}, bpf.RetConstant{Val: 0})
	return bpf.Assemble(prog)
}

// attachFilter attaches kernelFilter to fd (replacing any earlier one).
func attachFilter(fd int, v6 bool, peer netip.Addr) error {
	raw, err := kernelFilter(v6, peer)
	if err != nil {
		return err
	}
	fp := unix.SockFprog{Len: uint16(len(raw)), Filter: (*unix.SockFilter)(unsafe.Pointer(&raw[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp); err != nil {
		return fmt.Errorf("SO_ATTACH_FILTER: %w", err)
	}
	return nil
}

// FilterPeer makes the kernel drop every datagram with a TTL (hop limit)
// other than 255, and, when peer is valid, every datagram not from peer
// (the watcher calls it at start and when it pins the peer).
func (u UDPConn) FilterPeer(peer netip.Addr) error {
	rc, err := u.C.SyscallConn()
	if err != nil {
		return err
	}
	v6 := u.C.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap().Is6()
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = attachFilter(int(fd), v6, peer) }); err != nil {
		return err
	}
	return serr
}
