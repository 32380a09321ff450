package hbproto

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"time"
)

// Sealer produces authenticated datagrams for one session: each call takes
// the next sequence number. It is safe for concurrent use.
type Sealer struct {
	key       *Key
	sessionID uint64
	seq       atomic.Uint64
}

// NewSealer returns a Sealer for key (as returned by LoadKey; it is copied)
// and sessionID (from NewSessionID). The first datagram has sequence 1.
func NewSealer(key []byte, sessionID uint64) *Sealer {
	return &Sealer{key: NewKey(key), sessionID: sessionID}
}

// SessionID returns the Sealer's session id.
func (s *Sealer) SessionID() uint64 { return s.sessionID }

// SealAgent encodes and authenticates an agent report stamped with now.
func (s *Sealer) SealAgent(now time.Time, r *AgentReport) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("hbproto: seal: nil agent report")
	}
	return s.seal(s.key, &Message{Header: s.header(now, TypeAgentReport), Agent: r})
}

// SealDirector encodes and authenticates a director reply stamped with now.
func (s *Sealer) SealDirector(now time.Time, r *DirectorReply) ([]byte, error) {
	return s.SealDirectorWith(s.key, now, r)
}

// SealDirectorWith is SealDirector with another key than the Sealer's (a
// director answers each agent with that agent's key); the sequence number
// is the Sealer's, shared by all keys.
func (s *Sealer) SealDirectorWith(k *Key, now time.Time, r *DirectorReply) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("hbproto: seal: nil director reply")
	}
	return s.seal(k, &Message{Header: s.header(now, TypeDirectorReply), Director: r})
}

func (s *Sealer) header(now time.Time, t MsgType) Header {
	return Header{Version: Version, Type: t, SessionID: s.sessionID, Seq: s.seq.Add(1), Time: now}
}

func (s *Sealer) seal(k *Key, m *Message) ([]byte, error) {
	b, err := appendMessage(make([]byte, 0, 256), m)
	if err != nil {
		return nil, err
	}
	return k.AppendTag(b), nil
}

// Opener verifies and decodes datagrams, enforcing the timestamp window and
// per-session replay protection (the Envelope). It remembers at most
// MaxSessions sessions. It is safe for concurrent use.
type Opener struct {
	key *Key
	env *Envelope
}

// NewOpener returns an Opener for key that accepts timestamps within
// ±window of the receiver's clock (0 means DefaultWindow).
func NewOpener(key []byte, window time.Duration) *Opener {
	return &Opener{key: NewKey(key), env: NewEnvelope(window, MaxSessions)}
}

// Sessions returns the number of sessions the Opener remembers.
func (o *Opener) Sessions() int { return o.env.Sessions() }

// Open authenticates and decodes datagram b received from peer at now. The
// checks run in the order of docs/heartbeat.md: framing, version, MAC
// (constant-time, before anything of the body is read), header fields,
// timestamp window, replay, body. Errors are *DecodeError naming peer and
// field.
func (o *Opener) Open(peer string, b []byte, now time.Time) (*Message, error) {
	m, _, err := o.open(peer, netip.Addr{}, []*Key{o.key}, b, now)
	return m, err
}

// OpenScoped is Open with the keys of one sender instead of the Opener's
// key: the first of keys whose tag matches opens the datagram (its index is
// returned; nil keys are skipped), and the replay state is kept per scope
// (the sender's address), so that the holder of one scope's key cannot
// advance another scope's sessions. No key matching is ErrMAC.
func (o *Opener) OpenScoped(peer string, scope netip.Addr, keys []*Key, b []byte, now time.Time) (*Message, int, error) {
	return o.open(peer, scope, keys, b, now)
}

func (o *Opener) open(peer string, scope netip.Addr, keys []*Key, b []byte, now time.Time) (*Message, int, error) {
	m, which, err := o.open1(scope, keys, b, now)
	if err != nil {
		if de, ok := err.(*DecodeError); ok {
			de.Peer = peer
		}
		return nil, -1, err
	}
	return m, which, nil
}

func (o *Opener) open1(scope netip.Addr, keys []*Key, b []byte, now time.Time) (*Message, int, error) {
	bodyLen, err := checkFrame(b)
	if err != nil {
		return nil, -1, err
	}
	var (
		h Header
		m *Message
	)
	which, err := o.env.Open(scope, keys, b, now, func(signed []byte) (Stamp, error) {
		var err error
		if h, err = parseHeader(signed); err != nil {
			return Stamp{}, err
		}
		return Stamp{Session: h.SessionID, Seq: h.Seq, Time: h.Time}, nil
	}, func() error {
		var err error
		m, _, err = parseBody(h, b[HeaderSize:HeaderSize+bodyLen])
		return err
	})
	if err != nil {
		return nil, -1, err
	}
	return m, which, nil
}
