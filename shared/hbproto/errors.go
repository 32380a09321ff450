package hbproto

import (
	"errors"
	"fmt"
)

// Sentinel errors; every decode error wraps exactly one of them.
var (
	// ErrTruncated: the datagram is shorter than its header says.
	ErrTruncated = errors.New("truncated")
	// ErrVersion: the datagram has a wire version this package does not speak.
	ErrVersion = errors.New("unsupported version")
	// ErrMAC: the HMAC tag does not match (wrong key or tampered datagram).
	ErrMAC = errors.New("bad MAC")
	// ErrStale: the timestamp is outside the window.
	ErrStale = errors.New("stale timestamp")
	// ErrReplay: the sequence number is not above the session's highest.
	ErrReplay = errors.New("replay")
	// ErrMalformed: the datagram does not follow the wire format.
	ErrMalformed = errors.New("malformed")
)

// DecodeError is the error of a rejected datagram: who sent it, which field
// was wrong, and why. The peer probe (director/peerwatch) uses it too.
type DecodeError struct {
	// Proto names the datagram's protocol in the message: empty for the
	// heartbeat, "probe" for the peer probe.
	Proto string
	// Peer is the sender's address as the caller gave it; may be empty.
	Peer string
	// Field names the offending field, e.g. "mac" or "services[2].reason".
	Field string
	// Err wraps one of the sentinel errors.
	Err error
}

// Error names the protocol, the peer and the field.
func (e *DecodeError) Error() string {
	proto, peer := e.Proto, e.Peer
	if proto == "" {
		proto = "heartbeat"
	}
	if peer == "" {
		peer = "unknown peer"
	}
	return fmt.Sprintf("%s from %s: field %s: %v", proto, peer, e.Field, e.Err)
}

// Unwrap returns the wrapped error.
func (e *DecodeError) Unwrap() error { return e.Err }

// Reason maps an error to a short stable label for metrics: "truncated",
// "version", "mac", "stale", "replay", "malformed" or "other".
func Reason(err error) string {
	switch {
	case errors.Is(err, ErrTruncated):
		return "truncated"
	case errors.Is(err, ErrVersion):
		return "version"
	case errors.Is(err, ErrMAC):
		return "mac"
	case errors.Is(err, ErrStale):
		return "stale"
	case errors.Is(err, ErrReplay):
		return "replay"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	}
	return "other"
}

func decodeErr(field string, sentinel error, format string, args ...any) *DecodeError {
	err := sentinel
	if format != "" {
		err = fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
	}
	return &DecodeError{Field: field, Err: err}
}
