package checks

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
)

// DefaultMaxReplyLength is keepalived's max_reply_length default.
const DefaultMaxReplyLength = 255

// udpDefaultPayload is what keepalived sends when no payload is
// configured: 32 bytes of "keepalived check - " repeated.
var udpDefaultPayload = keepalivedFill(32)

// keepalivedFill returns n bytes of "keepalived check - " repeated, the
// filler keepalived puts in UDP and ICMP probes (set_buf).
func keepalivedFill(n int) []byte {
	const s = "keepalived check - "
	b := make([]byte, n)
	for i := range b {
		b[i] = s[i%len(s)]
	}
	return b
}

// UDPCheck is keepalived's UDP_CHECK. It sends Payload from a connected
// UDP socket and waits connect_timeout for an answer:
//
//   - an ICMP error back (port, host or network unreachable: the
//     socket's read fails) fails the check;
//   - without RequireReply, silence until the timeout passes, and so does
//     any datagram;
//   - with RequireReply, silence fails; the first datagram must be
//     MinReplyLength..MaxReplyLength bytes long and, when Reply is set,
//     match it over the shorter of the two lengths, ignoring the bits set
//     in ReplyMask (keepalived's x wildcards).
//
// Only MaxReplyLength+1 bytes of a datagram are read.
type UDPCheck struct {
	Conn
	// Payload is keepalived's payload (see [ParseHex]); nil sends
	// keepalived's default 32 bytes.
	Payload []byte
	// RequireReply is require_reply; Reply and ReplyMask its optional
	// hex string ([ParseHex] with wildcards).
	RequireReply bool
	Reply        []byte
	ReplyMask    []byte
	// MinReplyLength is min_reply_length (default 0).
	MinReplyLength int
	// MaxReplyLength is max_reply_length; 0 means 255, keepalived's
	// default.
	MaxReplyLength int
}

// Name returns "UDP_CHECK".
func (UDPCheck) Name() string { return "UDP_CHECK" }

// Probe sends the payload and judges the answer.
func (u UDPCheck) Probe(ctx context.Context) error {
	conn, _, err := u.dialUDP(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := closeOnDone(ctx, conn)
	defer stop()
	payload := u.Payload
	if payload == nil {
		payload = udpDefaultPayload
	}
	if _, err := conn.Write(payload); err != nil {
		return describeNetErr("send", u.timeout(), err)
	}
	maxLen := u.MaxReplyLength
	if maxLen <= 0 {
		maxLen = DefaultMaxReplyLength
	}
	buf := make([]byte, min(maxLen, 65535)+1)
	n, err := conn.Read(buf)
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil:
		if u.RequireReply {
			return fmt.Errorf("no reply within %s", u.timeout())
		}
		return nil // silence is success: no ICMP error came back
	case errors.Is(err, syscall.ECONNREFUSED):
		return errors.New("port unreachable (ICMP)")
	default:
		return describeNetErr("receive", u.timeout(), err)
	}
	if !u.RequireReply {
		return nil
	}
	return u.matchReply(buf[:n])
}

// matchReply applies keepalived's check_udp_reply rules to a datagram.
func (u UDPCheck) matchReply(b []byte) error {
	maxLen := u.MaxReplyLength
	if maxLen <= 0 {
		maxLen = DefaultMaxReplyLength
	}
	if len(b) < u.MinReplyLength {
		return fmt.Errorf("reply of %d bytes, shorter than min_reply_length %d", len(b), u.MinReplyLength)
	}
	if len(b) > maxLen {
		return fmt.Errorf("reply longer than max_reply_length %d", maxLen)
	}
	for i := 0; i < min(len(b), len(u.Reply)); i++ {
		var ignore byte
		if i < len(u.ReplyMask) {
			ignore = u.ReplyMask[i]
		}
		if (b[i]^u.Reply[i])&^ignore != 0 {
			return fmt.Errorf("reply differs from require_reply at byte %d (%#02x)", i, b[i])
		}
	}
	return nil
}
