package hbproto

import (
	"container/list"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// NewSessionID draws a random session id from crypto/rand.
func NewSessionID() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("hbproto: session id: %w", err)
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// macPool hands out HMAC-SHA256 states for one key.
type macPool struct{ p sync.Pool }

func newMACPool(key []byte) *macPool {
	k := append([]byte(nil), key...)
	mp := &macPool{}
	mp.p.New = func() any { return hmac.New(sha256.New, k) }
	return mp
}

// sum returns HMAC(key, b).
func (mp *macPool) sum(dst, b []byte) []byte {
	h := mp.p.Get().(hash.Hash)
	h.Reset()
	h.Write(b)
	dst = h.Sum(dst)
	mp.p.Put(h)
	return dst
}

// Key is an HMAC key prepared for sealing and opening: its MAC states are
// pooled, so that a Key kept per peer costs no allocation per datagram. It
// is safe for concurrent use.
type Key struct{ mac *macPool }

// NewKey prepares key (as returned by LoadKey or DeriveAgentKey; it is
// copied).
func NewKey(key []byte) *Key { return &Key{mac: newMACPool(key)} }

// Sealer produces authenticated datagrams for one session: each call takes
// the next sequence number. It is safe for concurrent use.
type Sealer struct {
	mac       *macPool
	sessionID uint64
	seq       atomic.Uint64
}

// NewSealer returns a Sealer for key (as returned by LoadKey; it is copied)
// and sessionID (from NewSessionID). The first datagram has sequence 1.
func NewSealer(key []byte, sessionID uint64) *Sealer {
	return &Sealer{mac: newMACPool(key), sessionID: sessionID}
}

// SessionID returns the Sealer's session id.
func (s *Sealer) SessionID() uint64 { return s.sessionID }

// SealAgent encodes and authenticates an agent report stamped with now.
func (s *Sealer) SealAgent(now time.Time, r *AgentReport) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("hbproto: seal: nil agent report")
	}
	return s.seal(&Message{Header: s.header(now, TypeAgentReport), Agent: r})
}

// SealDirector encodes and authenticates a director reply stamped with now.
func (s *Sealer) SealDirector(now time.Time, r *DirectorReply) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("hbproto: seal: nil director reply")
	}
	return s.seal(&Message{Header: s.header(now, TypeDirectorReply), Director: r})
}

// SealDirectorWith is SealDirector with another key than the Sealer's (a
// director answers each agent with that agent's key); the sequence number
// is the Sealer's, shared by all keys.
func (s *Sealer) SealDirectorWith(k *Key, now time.Time, r *DirectorReply) ([]byte, error) {
	if r == nil {
		return nil, fmt.Errorf("hbproto: seal: nil director reply")
	}
	b, err := appendMessage(make([]byte, 0, 256), &Message{Header: s.header(now, TypeDirectorReply), Director: r})
	if err != nil {
		return nil, err
	}
	return k.mac.sum(b, b), nil
}

func (s *Sealer) header(now time.Time, t MsgType) Header {
	return Header{Version: Version, Type: t, SessionID: s.sessionID, Seq: s.seq.Add(1), Time: now}
}

func (s *Sealer) seal(m *Message) ([]byte, error) {
	b, err := appendMessage(make([]byte, 0, 256), m)
	if err != nil {
		return nil, err
	}
	return s.mac.sum(b, b), nil
}

// Opener verifies and decodes datagrams, enforcing the timestamp window and
// per-session replay protection. It remembers at most MaxSessions sessions.
// It is safe for concurrent use.
type Opener struct {
	mac    *macPool
	window time.Duration
	max    int

	mu       sync.Mutex
	sessions map[sessionKey]*list.Element // of *session
	lru      list.List                    // front: most recently active
}

// sessionKey names a session within its scope (OpenScoped): a sender can
// only advance the sequence of sessions in the scope its key opens.
type sessionKey struct {
	scope netip.Addr
	id    uint64
}

type session struct {
	key      sessionKey
	seq      uint64
	lastSeen time.Time
}

// NewOpener returns an Opener for key that accepts timestamps within
// ±window of the receiver's clock (0 means DefaultWindow).
func NewOpener(key []byte, window time.Duration) *Opener {
	if window <= 0 {
		window = DefaultWindow
	}
	return &Opener{
		mac:      newMACPool(key),
		window:   window,
		max:      MaxSessions,
		sessions: make(map[sessionKey]*list.Element),
	}
}

// Sessions returns the number of sessions the Opener remembers.
func (o *Opener) Sessions() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.sessions)
}

// Open authenticates and decodes datagram b received from peer at now. The
// checks run in the order of docs/heartbeat.md: framing, version, MAC
// (constant-time, before anything of the body is read), timestamp window,
// replay, body. Errors are *DecodeError naming peer and field.
func (o *Opener) Open(peer string, b []byte, now time.Time) (*Message, error) {
	m, _, err := o.open(peer, netip.Addr{}, []*macPool{o.mac}, b, now)
	return m, err
}

// OpenScoped is Open with the keys of one sender instead of the Opener's
// key: the first of keys whose tag matches opens the datagram (its index is
// returned), and the replay state is kept per scope (the sender's address),
// so that the holder of one scope's key cannot advance another scope's
// sessions. No key matching is ErrMAC.
func (o *Opener) OpenScoped(peer string, scope netip.Addr, keys []*Key, b []byte, now time.Time) (*Message, int, error) {
	macs := make([]*macPool, 0, 4)
	for _, k := range keys {
		if k != nil {
			macs = append(macs, k.mac)
		} else {
			macs = append(macs, nil)
		}
	}
	return o.open(peer, scope, macs, b, now)
}

func (o *Opener) open(peer string, scope netip.Addr, macs []*macPool, b []byte, now time.Time) (*Message, int, error) {
	m, which, err := o.open1(scope, macs, b, now)
	if err != nil {
		if de, ok := err.(*DecodeError); ok {
			de.Peer = peer
		}
		return nil, -1, err
	}
	return m, which, nil
}

func (o *Opener) open1(scope netip.Addr, macs []*macPool, b []byte, now time.Time) (*Message, int, error) {
	bodyLen, err := checkFrame(b)
	if err != nil {
		return nil, -1, err
	}
	signed := HeaderSize + bodyLen
	which := -1
	var sum [sha256.Size]byte
	for i, mac := range macs {
		if mac != nil && hmac.Equal(mac.sum(sum[:0], b[:signed]), b[signed:]) {
			which = i
			break
		}
	}
	if which < 0 {
		return nil, -1, decodeErr("mac", ErrMAC, "")
	}
	h, err := parseHeader(b)
	if err != nil {
		return nil, -1, err
	}
	if skew := h.Time.Sub(now); skew > o.window || skew < -o.window {
		return nil, -1, decodeErr("time", ErrStale, "sender clock %v is %v off ours (window ±%v)", h.Time.Format(time.RFC3339Nano), skew.Round(time.Millisecond), o.window)
	}
	sk := sessionKey{scope: scope, id: h.SessionID}
	if err := o.checkSeq(sk, h, now, false); err != nil {
		return nil, -1, err
	}
	m, _, err := parseBody(h, b[HeaderSize:signed])
	if err != nil {
		return nil, -1, err
	}
	if err := o.checkSeq(sk, h, now, true); err != nil {
		return nil, -1, err
	}
	return m, which, nil
}

// checkSeq rejects a sequence number not above the session's highest; with
// commit it also records it. It first forgets sessions idle for more than
// twice the window: all their datagrams are stale by now.
func (o *Opener) checkSeq(sk sessionKey, h Header, now time.Time, commit bool) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for e := o.lru.Back(); e != nil; e = o.lru.Back() {
		s := e.Value.(*session)
		if now.Sub(s.lastSeen) <= 2*o.window {
			break
		}
		o.lru.Remove(e)
		delete(o.sessions, s.key)
	}
	e, ok := o.sessions[sk]
	if ok {
		if s := e.Value.(*session); h.Seq <= s.seq {
			return decodeErr("seq", ErrReplay, "seq %d, session %016x already at %d", h.Seq, h.SessionID, s.seq)
		}
	}
	if !commit {
		return nil
	}
	if ok {
		s := e.Value.(*session)
		s.seq, s.lastSeen = h.Seq, now
		o.lru.MoveToFront(e)
		return nil
	}
	for len(o.sessions) >= o.max {
		old := o.lru.Back()
		o.lru.Remove(old)
		delete(o.sessions, old.Value.(*session).key)
	}
	o.sessions[sk] = o.lru.PushFront(&session{key: sk, seq: h.Seq, lastSeen: now})
	return nil
}
