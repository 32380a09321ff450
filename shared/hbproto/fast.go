package hbproto

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// The receiving director's fast path (docs/heartbeat.md): a reply encoded
// once per change of what it says and sealed per report with only the
// header and the echo new, and a sender's replay state kept with that
// sender rather than in the Opener's shared table.

// ReplyTemplate is a director reply encoded once, for the many datagrams
// that answer reports with it: each seal (Sealer.AppendReply) adds the
// header, the echo of the report answered and the tag. The datagram is
// byte for byte the one SealDirectorWith makes of the same reply with that
// echo. It is immutable and safe for concurrent use.
type ReplyTemplate struct {
	// body is the encoded body up to the echo: director, role,
	// destinations, report_now.
	body []byte
}

// NewReplyTemplate encodes r (its Echo is ignored: each seal sets it). r
// must fit the datagram with the echo (FitReply).
func NewReplyTemplate(r *DirectorReply) (*ReplyTemplate, error) {
	c := *r
	c.Echo = &ReplyEcho{}
	b, err := appendDirector(make([]byte, 0, 64+len(r.Destinations)*48), &c)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxBody {
		return nil, fmt.Errorf("hbproto: encode director reply: body of %d bytes, max %d: %w", len(b), MaxBody, ErrTooLarge)
	}
	return &ReplyTemplate{body: b[:len(b)-16]}, nil
}

// Size is the size of the datagrams sealed from t.
func (t *ReplyTemplate) Size() int { return HeaderSize + len(t.body) + 16 + TagSize }

// AppendReply appends to dst the datagram that answers the report echo
// names with t, stamped now and sealed with k, under the Sealer's session
// and next sequence number. It allocates nothing when dst has room for
// t.Size() more bytes.
func (s *Sealer) AppendReply(dst []byte, k *Key, now time.Time, t *ReplyTemplate, echo ReplyEcho) []byte {
	start := len(dst)
	dst = append(dst, magic[0], magic[1], Version, byte(TypeDirectorReply))
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(t.body)+16))
	dst = append(dst, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, s.sessionID)
	dst = binary.BigEndian.AppendUint64(dst, s.seq.Add(1))
	dst = binary.BigEndian.AppendUint64(dst, uint64(now.UnixNano()))
	dst = append(dst, t.body...)
	dst = binary.BigEndian.AppendUint64(dst, echo.Session)
	dst = binary.BigEndian.AppendUint64(dst, echo.Seq)
	m := k.mac(dst[start:])
	dst = m.h.Sum(dst)
	k.put(m)
	return dst
}

// senderSessions is how many sessions of one sender a Sender remembers:
// an agent has one at a time, and a new one at each restart.
const senderSessions = 4

// Sender is the replay state of one sender (an agent, by its source
// address), kept by the receiver with what else it knows of that sender,
// so that a receiver of many senders needs no shared table: the highest
// sequence number of each of the sender's last few sessions. A session
// pushed out by a newer one leaves a floor: a datagram of a session not
// remembered whose timestamp is not after the newest timestamp of a
// forgotten session is a replay. It is safe for concurrent use.
type Sender struct {
	mu       sync.Mutex
	sessions [senderSessions]senderSession
	floor    int64 // sender clock, ns: the newest stamp of a forgotten session
}

type senderSession struct {
	id, seq uint64
	stamp   int64     // newest sender timestamp accepted, ns
	last    time.Time // receiver's time of the last datagram accepted
	used    bool
}

// check rejects a sequence number not above its session's highest, or a
// session not remembered and not newer than the floor; with commit it
// records the datagram. window is the Envelope's: a session silent for
// twice the window has only stale datagrams left and is forgotten without
// raising the floor.
func (s *Sender) check(st Stamp, now time.Time, window time.Duration, commit bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamp := st.Time.UnixNano()
	free, oldest := -1, -1
	for i := range s.sessions {
		x := &s.sessions[i]
		switch {
		case x.used && x.id == st.Session:
			if st.Seq <= x.seq {
				return decodeErr("seq", ErrReplay, "seq %d, session %016x already at %d", st.Seq, st.Session, x.seq)
			}
			if commit {
				x.seq, x.last = st.Seq, now
				x.stamp = max(x.stamp, stamp)
			}
			return nil
		case !x.used || now.Sub(x.last) > 2*window:
			if free < 0 {
				free = i
			}
		case oldest < 0 || x.last.Before(s.sessions[oldest].last):
			oldest = i
		}
	}
	if stamp <= s.floor {
		return decodeErr("seq", ErrReplay, "session %016x not remembered and its time is not after a newer session's", st.Session)
	}
	if !commit {
		return nil
	}
	if free < 0 {
		free = oldest
		s.floor = max(s.floor, s.sessions[oldest].stamp)
	}
	s.sessions[free] = senderSession{id: st.Session, seq: st.Seq, stamp: stamp, last: now, used: true}
	return nil
}

// OpenSender is OpenScoped for a sender whose replay state the caller
// keeps (st, one per sender address) instead of the Opener's shared
// table: the checks and their order are Open's. Its errors are
// *DecodeError without their Peer, which the caller sets if it logs them
// (so that a report accepted costs no formatting of its sender).
func (o *Opener) OpenSender(st *Sender, keys []*Key, b []byte, now time.Time) (*Message, int, error) {
	bodyLen, err := checkFrame(b)
	if err != nil {
		return nil, -1, err
	}
	signed := len(b) - TagSize
	which, err := openingKey(keys, b)
	if err != nil {
		return nil, -1, err
	}
	h, err := parseHeader(b[:signed])
	if err != nil {
		return nil, -1, err
	}
	stamp := Stamp{Session: h.SessionID, Seq: h.Seq, Time: h.Time}
	window := o.env.window
	if err := o.env.checkTime(h.Time, now); err != nil {
		return nil, -1, err
	}
	if err := st.check(stamp, now, window, false); err != nil {
		return nil, -1, err
	}
	m, _, err := parseBody(h, b[HeaderSize:HeaderSize+bodyLen])
	if err != nil {
		return nil, -1, err
	}
	if err := st.check(stamp, now, window, true); err != nil {
		return nil, -1, err
	}
	return m, which, nil
}

// CheckShared is the replay check of the Opener's shared table, read only:
// an ErrReplay *DecodeError when it already accepted seq or a later one in
// (scope, session). A caller that moves a sender from the shared table to
// a Sender of its own (OpenSender) checks both, so that what the shared
// table accepted before the move stays a replay after it.
func (o *Opener) CheckShared(scope netip.Addr, session, seq uint64) error {
	return o.env.checkSeq(sessionKey{scope: scope, id: session}, seq, time.Time{}, false)
}
