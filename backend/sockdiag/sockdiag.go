// Package sockdiag is the agent's window on the kernel's TCP sockets
// through NETLINK_SOCK_DIAG (inet_diag): how many sockets listen on a port
// (a dump of LISTEN sockets only, both address families), and an event the
// moment a socket bound to that port with no peer — a listener — is
// destroyed (the SKNLGRP_INET_TCP_DESTROY and SKNLGRP_INET6_TCP_DESTROY
// multicast groups, kernel ≥ 4.10, CAP_NET_ADMIN). A classic BPF filter on
// the event socket keeps every other socket's destruction (the web
// server's closed connections) in the kernel: the agent wakes up only for
// its own port's listeners.
//
// It is the kernel edge of backend/health's listener watch; it knows
// nothing of health.
package sockdiag

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/mdlayher/netlink"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// The kernel's constants (include/uapi/linux/sock_diag.h, inet_diag.h,
// net/tcp_states.h).
const (
	sknlgrpInetTCPDestroy  = 1
	sknlgrpInet6TCPDestroy = 3
	tcpListen              = 10

	reqLen = 56 // struct inet_diag_req_v2
	msgLen = 72 // struct inet_diag_msg

	// Offsets in struct inet_diag_msg.
	offFamily = 0
	offState  = 1
	offSport  = 4
	offDport  = 6
	offSrc    = 8
	offInode  = 68

	nlmsgHdrLen = 16
)

// Listener is one TCP socket in LISTEN.
type Listener struct {
	// Addr is the local address and port (0.0.0.0 or :: for any).
	Addr netip.AddrPort
	// Inode is the socket's inode (what /proc/PID/fd links name).
	Inode uint32
}

// maxDump bounds the listeners one dump returns: a host has a few, and a
// kernel that answered more would be misbehaving.
const maxDump = 65536

// Listeners returns the TCP sockets in LISTEN on port, IPv4 and IPv6, in
// the calling thread's network namespace. It needs no privilege.
func Listeners(port uint16) ([]Listener, error) {
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, nil)
	if err != nil {
		return nil, fmt.Errorf("sockdiag: %w", err)
	}
	defer c.Close()
	if err := c.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return nil, fmt.Errorf("sockdiag: %w", err)
	}
	var out []Listener
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		msgs, err := c.Execute(netlink.Message{
			Header: netlink.Header{Type: unix.SOCK_DIAG_BY_FAMILY, Flags: netlink.Request | netlink.Dump},
			Data:   listenRequest(fam),
		})
		if err != nil {
			return nil, fmt.Errorf("sockdiag: dump of listening sockets (family %d): %w", fam, err)
		}
		for _, m := range msgs {
			l, ok := parseMsg(m.Data)
			if !ok || l.state != tcpListen || l.Addr.Port() != port {
				continue
			}
			if len(out) == maxDump {
				return nil, fmt.Errorf("sockdiag: more than %d listeners on port %d", maxDump, port)
			}
			out = append(out, l.Listener)
		}
	}
	return out, nil
}

// listenRequest is a struct inet_diag_req_v2 asking for every TCP socket of
// family fam in LISTEN.
func listenRequest(fam uint8) []byte {
	b := make([]byte, reqLen)
	b[0] = fam
	b[1] = unix.IPPROTO_TCP
	binary.NativeEndian.PutUint32(b[4:], 1<<tcpListen)
	return b
}

type diagMsg struct {
	Listener
	state uint8
	dport uint16
}

// parseMsg reads a struct inet_diag_msg; ok is false when b is too short
// or of an unknown family.
func parseMsg(b []byte) (diagMsg, bool) {
	if len(b) < msgLen {
		return diagMsg{}, false
	}
	var addr netip.Addr
	switch b[offFamily] {
	case unix.AF_INET:
		addr = netip.AddrFrom4([4]byte(b[offSrc : offSrc+4]))
	case unix.AF_INET6:
		addr = netip.AddrFrom16([16]byte(b[offSrc : offSrc+16]))
	default:
		return diagMsg{}, false
	}
	return diagMsg{
		Listener: Listener{
			Addr:  netip.AddrPortFrom(addr, binary.BigEndian.Uint16(b[offSport:])),
			Inode: binary.NativeEndian.Uint32(b[offInode:]),
		},
		state: b[offState],
		dport: binary.BigEndian.Uint16(b[offDport:]),
	}, true
}

// Watch is a subscription to the destruction of port's listeners.
type Watch struct {
	c    *netlink.Conn
	port uint16
}

// ErrOverrun says events were lost (the socket's buffer overflowed): the
// caller must look at Listeners again.
var ErrOverrun = errors.New("sockdiag: destroy events lost (ENOBUFS)")

// WatchPort subscribes to the destruction of TCP sockets (IPv4 and IPv6)
// whose local port is port and that have no peer: listeners, and sockets
// bound but never connected. It needs CAP_NET_ADMIN.
func WatchPort(port uint16) (*Watch, error) {
	c, err := netlink.Dial(unix.NETLINK_SOCK_DIAG, &netlink.Config{
		Groups: 1<<(sknlgrpInetTCPDestroy-1) | 1<<(sknlgrpInet6TCPDestroy-1),
	})
	if err != nil {
		if errors.Is(err, os.ErrPermission) {
			return nil, fmt.Errorf("sockdiag: subscribing to socket destroy events needs CAP_NET_ADMIN: %w", err)
		}
		return nil, fmt.Errorf("sockdiag: subscribing to socket destroy events: %w", err)
	}
	prog, err := bpf.Assemble(destroyFilter(port))
	if err == nil {
		err = c.SetBPF(prog)
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("sockdiag: event filter: %w", err)
	}
	return &Watch{c: c, port: port}, nil
}

// destroyFilter passes a destroy event only when its socket's local port
// is port and its remote port 0 (no peer): the inet_diag_msg after the
// 16-byte netlink header.
func destroyFilter(port uint16) []bpf.Instruction {
	return []bpf.Instruction{
		bpf.LoadAbsolute{Off: nlmsgHdrLen + offSport, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(port), SkipFalse: 3},
		bpf.LoadAbsolute{Off: nlmsgHdrLen + offDport, Size: 2},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipFalse: 1},
		bpf.RetConstant{Val: 0xffff},
		bpf.RetConstant{Val: 0},
	}
}

// Next blocks until a listener of the port is destroyed and returns its
// local address, or returns ctx's error, or ErrOverrun when events were
// lost (look at Listeners: one of them may be gone).
func (w *Watch) Next(ctx context.Context) (netip.AddrPort, error) {
	if err := w.c.SetReadDeadline(time.Time{}); err != nil {
		return netip.AddrPort{}, fmt.Errorf("sockdiag: %w", err)
	}
	// ctx's end interrupts the read; the deadline it sets is undone by
	// the next call, never by a late run of this one.
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		_ = w.c.SetReadDeadline(time.Unix(1, 0))
		close(fired)
	})
	defer func() {
		if !stop() {
			<-fired
		}
	}()
	for {
		msgs, err := w.c.Receive()
		if ctx.Err() != nil {
			return netip.AddrPort{}, ctx.Err()
		}
		if err != nil {
			if errors.Is(err, unix.ENOBUFS) {
				return netip.AddrPort{}, ErrOverrun
			}
			return netip.AddrPort{}, fmt.Errorf("sockdiag: destroy events: %w", err)
		}
		for _, m := range msgs {
			if d, ok := parseMsg(m.Data); ok && d.Addr.Port() == w.port && d.dport == 0 {
				return d.Addr, nil
			}
		}
	}
}

// Close ends the subscription.
func (w *Watch) Close() error { return w.c.Close() }
