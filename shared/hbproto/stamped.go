package hbproto

import (
	"net/netip"
	"sync/atomic"
	"time"
)

// StampSealer seals the datagrams of one session of a protocol that uses
// the heartbeat's envelope with its own message format (the directors'
// fast failover probe, BGP mode's fingerprint agreement): each Seal takes
// the next sequence number, the message is encoded by the caller with
// that Stamp, and the tag is appended. Safe for concurrent use.
type StampSealer struct {
	key     *Key
	session uint64
	seq     atomic.Uint64
}

// NewStampSealer returns a StampSealer for key (copied) and a non-zero
// session id (NewSessionID). The first datagram has sequence 1.
func NewStampSealer(key []byte, session uint64) *StampSealer {
	return &StampSealer{key: NewKey(key), session: session}
}

// Session returns the session id.
func (s *StampSealer) Session() uint64 { return s.session }

// Seal encodes a message stamped with the session, the next sequence
// number and now (marshal) and returns the authenticated datagram.
func (s *StampSealer) Seal(now time.Time, marshal func(Stamp) ([]byte, error)) ([]byte, error) {
	b, err := marshal(Stamp{Session: s.session, Seq: s.seq.Add(1), Time: now})
	if err != nil {
		return nil, err
	}
	return s.key.AppendTag(b), nil
}

// StampOpener is the receiving side of such a protocol: the keys a tag
// may be under (the current one, the previous one during a rotation) and
// the Envelope (time window, replay per session). Safe for concurrent
// use.
type StampOpener struct {
	keys []*Key
	env  *Envelope
}

// NewStampOpener returns a StampOpener that accepts a tag under any of
// keys (copied; empty ones skipped), with a ±window time check and at
// most maxSessions sessions remembered.
func NewStampOpener(keys [][]byte, window time.Duration, maxSessions int) *StampOpener {
	o := &StampOpener{env: NewEnvelope(window, maxSessions)}
	for _, k := range keys {
		if len(k) > 0 {
			o.keys = append(o.keys, NewKey(k))
		}
	}
	return o
}

// Sessions returns the number of sessions the opener remembers.
func (o *StampOpener) Sessions() int { return o.env.Sessions() }

// OpenStamped authenticates b (its MAC before any field is read), decodes
// the signed part with parse, then checks the time window and the replay
// rule of the session within scope (the sender's address, or the zero
// Addr for one scope).
func OpenStamped[T any](o *StampOpener, scope netip.Addr, b []byte, now time.Time, parse func(signed []byte) (T, Stamp, error)) (T, error) {
	var m T
	_, err := o.env.Open(scope, o.keys, b, now, func(signed []byte) (Stamp, error) {
		var (
			st  Stamp
			err error
		)
		m, st, err = parse(signed)
		return st, err
	}, nil)
	if err != nil {
		var zero T
		return zero, err
	}
	return m, nil
}
