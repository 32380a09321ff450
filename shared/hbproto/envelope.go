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

// The authenticated envelope. Two wire formats use it: the heartbeat of
// this package ("TH", docs/heartbeat.md) and the directors' peer probe
// ("TP", director/peerwatch, docs/ha.md). Their layouts differ; what they
// share is here, once: a datagram ends with TagSize bytes of
// HMAC-SHA256(key, every byte before them) and carries a sender session id,
// a sequence number and the sender's clock; a receiver verifies the tag in
// constant time before it reads any field, then checks the time window and
// the highest sequence number accepted per (scope, session), with a bounded
// memory of sessions. The codecs own framing and fields, and the drop
// reasons are this package's sentinels (Reason).

// NewSessionID draws a random session id from crypto/rand.
func NewSessionID() (uint64, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, fmt.Errorf("hbproto: session id: %w", err)
	}
	return binary.BigEndian.Uint64(b[:]), nil
}

// Key is an HMAC-SHA256 key prepared for sealing and opening: its MAC
// states are pooled, so that a Key kept per peer costs no allocation per
// datagram. It is safe for concurrent use.
//
// One state is kept aside from the pool (which a garbage collection
// empties): a key used by one goroutine at a time, as a director's key
// per agent is, does not rebuild its HMAC after each collection.
type Key struct {
	kept atomic.Pointer[macState]
	p    sync.Pool // of *macState
}

// macState is a pooled MAC state, with room for the tag a receiver
// computes (a local array would escape through hash.Hash.Sum).
type macState struct {
	h   hash.Hash
	tag [TagSize]byte
}

// NewKey prepares key (as returned by LoadKey or DeriveAgentKey; it is
// copied).
func NewKey(key []byte) *Key {
	kc := append([]byte(nil), key...)
	k := &Key{}
	k.p.New = func() any { return &macState{h: hmac.New(sha256.New, kc)} }
	return k
}

// AppendTag appends the tag of b, HMAC-SHA256(key, b), to b.
func (k *Key) AppendTag(b []byte) []byte {
	s := k.mac(b)
	b = s.h.Sum(b)
	k.put(s)
	return b
}

// verify reports, in constant time, whether tag is the tag of signed.
func (k *Key) verify(signed, tag []byte) bool {
	s := k.mac(signed)
	ok := hmac.Equal(s.h.Sum(s.tag[:0]), tag)
	k.put(s)
	return ok
}

// mac returns a pooled state that has hashed b; the caller puts it back.
func (k *Key) mac(b []byte) *macState {
	s := k.kept.Swap(nil)
	if s == nil {
		s = k.p.Get().(*macState)
	}
	s.h.Reset()
	s.h.Write(b)
	return s
}

// put returns a state taken by mac.
func (k *Key) put(s *macState) {
	if !k.kept.CompareAndSwap(nil, s) {
		k.p.Put(s)
	}
}

// AppendTag appends HMAC-SHA256(key, b) to b, for a one-off datagram (the
// codecs' Encode); a sender that seals many keeps a Key.
func AppendTag(key, b []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(b)
}

// Stamp is what the envelope reads from an authenticated header: the
// sender's session, the datagram's sequence number in it and the sender's
// clock.
type Stamp struct {
	Session uint64
	Seq     uint64
	Time    time.Time
}

// Envelope is the receiving side of the envelope: the time window and the
// replay state, at most a fixed number of sessions. It is safe for
// concurrent use.
type Envelope struct {
	window time.Duration
	max    int

	mu       sync.Mutex
	sessions map[sessionKey]*list.Element // of *session
	lru      list.List                    // front: most recently active
}

// sessionKey names a session within its scope (the sender's address when
// the keys are per sender, else the zero Addr): a sender can only advance
// the sequence of sessions in the scope its key opens.
type sessionKey struct {
	scope netip.Addr
	id    uint64
}

type session struct {
	key      sessionKey
	seq      uint64
	lastSeen time.Time
}

// NewEnvelope returns an Envelope that accepts sender clocks within
// ±window of the receiver's (0 means DefaultWindow) and remembers at most
// maxSessions sessions (0 means MaxSessions), forgetting the least recently
// active beyond that.
func NewEnvelope(window time.Duration, maxSessions int) *Envelope {
	if window <= 0 {
		window = DefaultWindow
	}
	if maxSessions <= 0 {
		maxSessions = MaxSessions
	}
	return &Envelope{window: window, max: maxSessions, sessions: make(map[sessionKey]*list.Element)}
}

// Sessions returns the number of sessions the Envelope remembers.
func (e *Envelope) Sessions() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.sessions)
}

// Open authenticates datagram b received at now. The codec has checked its
// framing (length, magic, version) and b ends with the tag. The checks run
// in this order, the first failure returned as a *DecodeError without its
// Peer:
//
//  1. the tag under each of keys in turn, in constant time (nil keys are
//     skipped): none matching is ErrMAC;
//  2. fields, the codec's parse of the authenticated bytes, which returns
//     the datagram's Stamp (its errors are returned as they are);
//  3. the time window: ErrStale;
//  4. the highest sequence number accepted in (scope, session): ErrReplay;
//  5. body, the codec's parse of what it left for after the replay check
//     (nil: nothing), then the replay check again, which records the new
//     highest sequence number.
//
// Only a datagram that passes every check changes the replay state. Open
// returns the index in keys of the key that opened b.
func (e *Envelope) Open(scope netip.Addr, keys []*Key, b []byte, now time.Time, fields func(signed []byte) (Stamp, error), body func() error) (int, error) {
	signed := len(b) - TagSize
	which, err := openingKey(keys, b)
	if err != nil {
		return -1, err
	}
	st, err := fields(b[:signed])
	if err != nil {
		return -1, err
	}
	if err := e.checkTime(st.Time, now); err != nil {
		return -1, err
	}
	sk := sessionKey{scope: scope, id: st.Session}
	if body != nil {
		if err := e.checkSeq(sk, st.Seq, now, false); err != nil {
			return -1, err
		}
		if err := body(); err != nil {
			return -1, err
		}
	}
	if err := e.checkSeq(sk, st.Seq, now, true); err != nil {
		return -1, err
	}
	return which, nil
}

// checkTime rejects a sender timestamp more than the window off now.
func (e *Envelope) checkTime(t, now time.Time) error {
	if skew := t.Sub(now); skew > e.window || skew < -e.window {
		return decodeErr("time", ErrStale, "sender clock %v is %v off ours (window ±%v)", t.Format(time.RFC3339Nano), skew.Round(time.Millisecond), e.window)
	}
	return nil
}

// openingKey is the index in keys of the first key whose tag b (ending
// with its tag) carries, checked in constant time (nil keys are skipped),
// or ErrMAC.
func openingKey(keys []*Key, b []byte) (int, error) {
	signed := len(b) - TagSize
	for i, k := range keys {
		if k != nil && k.verify(b[:signed], b[signed:]) {
			return i, nil
		}
	}
	return -1, decodeErr("mac", ErrMAC, "")
}

// checkSeq rejects a sequence number not above the session's highest; with
// commit it also records it. It first forgets sessions idle for more than
// twice the window: all their datagrams are stale by now.
func (e *Envelope) checkSeq(sk sessionKey, seq uint64, now time.Time, commit bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	for el := e.lru.Back(); el != nil; el = e.lru.Back() {
		s := el.Value.(*session)
		if now.Sub(s.lastSeen) <= 2*e.window {
			break
		}
		e.lru.Remove(el)
		delete(e.sessions, s.key)
	}
	el, ok := e.sessions[sk]
	if ok {
		if s := el.Value.(*session); seq <= s.seq {
			return decodeErr("seq", ErrReplay, "seq %d, session %016x already at %d", seq, sk.id, s.seq)
		}
	}
	if !commit {
		return nil
	}
	if ok {
		s := el.Value.(*session)
		s.seq, s.lastSeen = seq, now
		e.lru.MoveToFront(el)
		return nil
	}
	for len(e.sessions) >= e.max {
		old := e.lru.Back()
		e.lru.Remove(old)
		delete(e.sessions, old.Value.(*session).key)
	}
	e.sessions[sk] = e.lru.PushFront(&session{key: sk, seq: seq, lastSeen: now})
	return nil
}
