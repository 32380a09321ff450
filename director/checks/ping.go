package checks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pingPayload is what keepalived puts after the echo header: 128 bytes
// of "keepalived check - " repeated.
var pingPayload = keepalivedFill(128)

// pingReadSize bounds one ICMP message read; a longer one is cut.
const pingReadSize = 1500

// PingCheck is keepalived's PING_CHECK: one ICMP (ICMPv6) echo request
// to the real server's address; the server passes when the matching
// echo reply comes back within connect_timeout. The port of Conn.Addr is
// not used, BindTo is the source address.
//
// The probe uses a raw ICMP socket when it may (root or CAP_NET_RAW),
// matching replies by source, identifier and sequence number, and
// otherwise an unprivileged ICMP datagram ("ping") socket, which the
// kernel allows only to the groups in net.ipv4.ping_group_range (the
// kernel picks the identifier, replies are matched by source and
// sequence). keepalived widens ping_group_range itself; the director does
// not change sysctls. A destination or time-exceeded error quoting the
// request fails the attempt at once; other ICMP traffic is ignored.
type PingCheck struct {
	Conn
}

// Name returns "PING_CHECK".
func (PingCheck) Name() string { return "PING_CHECK" }

// Probe sends one echo request and waits for its reply.
func (p PingCheck) Probe(ctx context.Context) error {
	dst := p.Addr.Addr().Unmap()
	if !dst.IsValid() {
		return errors.New("no address to ping")
	}
	v6 := dst.Is6()
	rawNet, dgramNet, src := "ip4:icmp", "udp4", "0.0.0.0"
	if v6 {
		rawNet, dgramNet, src = "ip6:ipv6-icmp", "udp6", "::"
	}
	if p.BindTo.IsValid() {
		src = p.BindTo.String()
	}
	raw := true
	conn, err := icmp.ListenPacket(rawNet, src)
	if err != nil && errors.Is(err, os.ErrPermission) {
		raw = false
		conn, err = icmp.ListenPacket(dgramNet, src)
	}
	if err != nil {
		return fmt.Errorf("open ICMP socket: %w", unwrapSyscall(err))
	}
	defer conn.Close()
	stop := closeOnDone(ctx, conn)
	defer stop()
	var to net.Addr = &net.IPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	if !raw {
		to = &net.UDPAddr{IP: dst.AsSlice(), Zone: dst.Zone()}
	}
	if raw {
		filterEcho(conn, v6)
	}
	deadline := time.Now().Add(p.timeout())
	if err := conn.SetDeadline(deadline); err != nil {
		return err
	}
	e := echo{
		conn: conn, to: to, v6: v6, matchID: raw,
		id: int(rand.N(uint32(1 << 16))), seq: int(rand.N(uint32(1 << 16))),
		timeout: p.timeout(),
	}
	return e.ping(ctx)
}

// echo is one echo request over conn and the wait for its reply.
type echo struct {
	conn    net.PacketConn
	to      net.Addr
	v6      bool
	matchID bool // false on a ping socket: the kernel sets the identifier
	id, seq int
	timeout time.Duration
}

func (e echo) ping(ctx context.Context) error {
	var typ icmp.Type = ipv4.ICMPTypeEcho
	proto := 1 // ICMP
	if e.v6 {
		typ, proto = ipv6.ICMPTypeEchoRequest, 58
	}
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: e.id, Seq: e.seq, Data: pingPayload}}
	b, err := msg.Marshal(nil) // the kernel sums ICMPv6 (pseudo-header)
	if err != nil {
		return err
	}
	if _, err := e.conn.WriteTo(b, e.to); err != nil {
		return describeNetErr("send echo request", e.timeout, err)
	}
	buf := make([]byte, pingReadSize)
	for {
		n, from, err := e.conn.ReadFrom(buf)
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil {
				return fmt.Errorf("no echo reply within %s", e.timeout)
			}
			return describeNetErr("receive", e.timeout, err)
		}
		done, err := e.judge(proto, buf[:n], from)
		if done {
			return err
		}
	}
}

// judge looks at one ICMP message from from: done is false when it is
// not about our request.
func (e echo) judge(proto int, b []byte, from net.Addr) (done bool, err error) {
	m, err := icmp.ParseMessage(proto, b)
	if err != nil {
		return false, nil
	}
	switch body := m.Body.(type) {
	case *icmp.Echo:
		if m.Type != ipv4.ICMPTypeEchoReply && m.Type != ipv6.ICMPTypeEchoReply {
			return false, nil
		}
		if !sameIP(from, e.to) || body.Seq != e.seq || (e.matchID && body.ID != e.id) {
			return false, nil
		}
		return true, nil
	case *icmp.DstUnreach:
		if e.quotes(body.Data) {
			return true, fmt.Errorf("destination unreachable (code %d) from %s", m.Code, hostOf(from))
		}
	case *icmp.TimeExceeded:
		if e.quotes(body.Data) {
			return true, fmt.Errorf("time exceeded from %s", hostOf(from))
		}
	}
	return false, nil
}

// quotes reports whether an ICMP error's quoted datagram is our echo
// request (IP header, then the first 8 bytes of our message).
func (e echo) quotes(d []byte) bool {
	var hdr int
	if e.v6 {
		if len(d) < 40 || d[0]>>4 != 6 || d[6] != 58 {
			return false
		}
		hdr = 40
	} else {
		if len(d) < 20 || d[0]>>4 != 4 || d[9] != 1 {
			return false
		}
		hdr = int(d[0]&0x0f) * 4
	}
	if hdr < 20 || len(d) < hdr+8 {
		return false
	}
	q := d[hdr:]
	req := byte(8)
	if e.v6 {
		req = 128
	}
	return q[0] == req && int(binary.BigEndian.Uint16(q[6:])) == e.seq &&
		(!e.matchID || int(binary.BigEndian.Uint16(q[4:])) == e.id)
}

// filterEcho asks the kernel to pass a raw socket only the ICMP types the
// probe reads, so the other ICMP traffic of the host does not wake it.
// Best effort: without the filter the probe still ignores the rest.
func filterEcho(conn *icmp.PacketConn, v6 bool) {
	if v6 {
		var f ipv6.ICMPFilter
		f.SetAll(true)
		for _, t := range []ipv6.ICMPType{ipv6.ICMPTypeEchoReply, ipv6.ICMPTypeDestinationUnreachable, ipv6.ICMPTypeTimeExceeded} {
			f.Accept(t)
		}
		if pc := conn.IPv6PacketConn(); pc != nil {
			_ = pc.SetICMPFilter(&f)
		}
		return
	}
	var f ipv4.ICMPFilter
	f.SetAll(true)
	for _, t := range []ipv4.ICMPType{ipv4.ICMPTypeEchoReply, ipv4.ICMPTypeDestinationUnreachable, ipv4.ICMPTypeTimeExceeded} {
		f.Accept(t)
	}
	if pc := conn.IPv4PacketConn(); pc != nil {
		_ = pc.SetICMPFilter(&f)
	}
}

func sameIP(a, b net.Addr) bool {
	ip := func(a net.Addr) net.IP {
		switch a := a.(type) {
		case *net.IPAddr:
			return a.IP
		case *net.UDPAddr:
			return a.IP
		}
		return nil
	}
	x, y := ip(a), ip(b)
	return x != nil && x.Equal(y)
}

func hostOf(a net.Addr) string {
	if a == nil {
		return "?"
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// unwrapSyscall keeps the errno of a socket error ("operation not
// permitted").
func unwrapSyscall(err error) error {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return se.Err
	}
	return err
}
