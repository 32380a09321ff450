package peerwatch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// Wire constants of the probe (docs/ha.md, "The probe on the wire").
const (
	// DefaultPort is the UDP port of the probe (fast_failover port).
	DefaultPort = 7481
	// Version is the probe's wire version.
	Version = 1
	// MaxDatagram is the largest probe accepted.
	MaxDatagram = 1024
	// HeaderSize is the fixed part before the name.
	HeaderSize = 44
	// TagSize is the HMAC-SHA256 tag that ends every probe (the envelope's).
	TagSize = hbproto.TagSize
	// MinDatagram is the smallest well-formed probe: header, a one-byte
	// name, the instance count and the tag.
	MinDatagram = HeaderSize + 2 + 1 + TagSize
	// MaxInstances is the longest instance list.
	MaxInstances = 64
	// DefaultWindow is the accepted clock difference (the heartbeat's).
	DefaultWindow = hbproto.DefaultWindow
	// MaxSessions bounds the replay state of an Opener.
	MaxSessions = 64
)

var magic = [2]byte{'T', 'P'}

// SessionState is a probe session state, numbered as BFD (RFC 5880 §4.1).
type SessionState uint8

// Session states.
const (
	StateAdminDown SessionState = 0 // the sender has stopped probing (see Diag)
	StateDown      SessionState = 1
	StateInit      SessionState = 2
	StateUp        SessionState = 3
)

func (s SessionState) String() string {
	switch s {
	case StateAdminDown:
		return "admin-down"
	case StateDown:
		return "down"
	case StateInit:
		return "init"
	case StateUp:
		return "up"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// Diag says why a session left Up, or why the sender is AdminDown.
type Diag uint8

// Diagnostics.
const (
	DiagNone          Diag = 0
	DiagDetectExpired Diag = 1 // no probe within the detection time
	DiagNeighborDown  Diag = 2 // the peer said it no longer hears us
	DiagReleased      Diag = 3 // AdminDown: the sender's VRRP instances stopped and released their VIPs
	DiagDisabled      Diag = 4 // AdminDown: the probe was turned off; its VRRP goes on
	DiagPeerRestarted Diag = 5 // the peer came back with a new session
)

func (d Diag) String() string {
	switch d {
	case DiagNone:
		return "none"
	case DiagDetectExpired:
		return "detection time expired"
	case DiagNeighborDown:
		return "peer no longer hears us"
	case DiagReleased:
		return "peer stopped and released its VIPs"
	case DiagDisabled:
		return "peer disabled the probe"
	case DiagPeerRestarted:
		return "peer restarted"
	}
	return fmt.Sprintf("diag(%d)", uint8(d))
}

// InstanceRole is one VRRP instance of the sender, as its probe reports it.
type InstanceRole struct {
	// VRID is the virtual router id, 1..255.
	VRID uint8
	// Family is 4 or 6, the family of the instance's addresses.
	Family uint8
	// Role is the instance's state: unknown (INIT, STOP), backup, master or
	// fault.
	Role hbproto.Role
	// Priority is the instance's configured priority.
	Priority uint8
}

// Probe is one probe datagram.
type Probe struct {
	// State is the sender's session state.
	State SessionState
	// Diag is the sender's last diagnostic (with AdminDown: why it stopped).
	Diag Diag
	// DetectMult is the number of TxInterval the receiver waits before
	// declaring the sender dead, 1..255.
	DetectMult uint8
	// TxInterval is the sender's current transmit interval (the slow one
	// while not Up), microsecond resolution on the wire, at least 1ms.
	TxInterval time.Duration
	// Session identifies the sending process (random, not 0).
	Session uint64
	// YourSession is the last session id the sender heard from us, 0 if
	// none.
	YourSession uint64
	// Seq numbers the sender's probes within Session, from 1.
	Seq uint64
	// Time is the sender's wall clock.
	Time time.Time
	// Name is the sender's director name, as in its heartbeat replies.
	Name string
	// Instances are the sender's VRRP instances.
	Instances []InstanceRole
}

// DecodeError is a rejected probe: who sent it, which field was wrong, and
// why. It is the heartbeat's error type (the envelope is shared): Err wraps
// one of the hbproto sentinels (ErrTruncated, ErrMalformed, ErrVersion,
// ErrMAC, ErrStale, ErrReplay), so hbproto.Reason labels it, and Proto is
// "probe".
type DecodeError = hbproto.DecodeError

// proto names the probe in its errors.
const proto = "probe"

func derr(field string, sentinel error, format string, args ...any) *DecodeError {
	err := sentinel
	if format != "" {
		err = fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
	}
	return &DecodeError{Proto: proto, Field: field, Err: err}
}

// Marshal encodes p without the tag.
func Marshal(p *Probe) ([]byte, error) {
	switch {
	case p == nil:
		return nil, errors.New("peerwatch: encode: nil probe")
	case p.State > StateUp:
		return nil, fmt.Errorf("peerwatch: encode: field state: %d", p.State)
	case p.DetectMult == 0:
		return nil, errors.New("peerwatch: encode: field detect_mult: 0")
	case p.TxInterval < time.Millisecond || p.TxInterval/time.Microsecond > 1<<32-1:
		return nil, fmt.Errorf("peerwatch: encode: field tx_interval: %v", p.TxInterval)
	case p.Session == 0:
		return nil, errors.New("peerwatch: encode: field session: 0")
	case p.Name == "" || len(p.Name) > 255 || !utf8.ValidString(p.Name):
		return nil, fmt.Errorf("peerwatch: encode: field name: %q", p.Name)
	case len(p.Instances) > MaxInstances:
		return nil, fmt.Errorf("peerwatch: encode: field instances: %d, max %d", len(p.Instances), MaxInstances)
	}
	ns := p.Time.UnixNano()
	if !time.Unix(0, ns).Equal(p.Time) {
		return nil, fmt.Errorf("peerwatch: encode: field time: %v", p.Time)
	}
	b := make([]byte, 0, HeaderSize+2+len(p.Name)+4*len(p.Instances)+TagSize)
	b = append(b, magic[0], magic[1], Version, byte(p.State), byte(p.Diag), p.DetectMult, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(p.TxInterval/time.Microsecond))
	b = binary.BigEndian.AppendUint64(b, p.Session)
	b = binary.BigEndian.AppendUint64(b, p.YourSession)
	b = binary.BigEndian.AppendUint64(b, p.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(ns))
	b = append(b, byte(len(p.Name)))
	b = append(b, p.Name...)
	b = append(b, byte(len(p.Instances)))
	for i, in := range p.Instances {
		if in.VRID == 0 || (in.Family != 4 && in.Family != 6) || in.Role > hbproto.RoleFault {
			return nil, fmt.Errorf("peerwatch: encode: field instances[%d]: %+v", i, in)
		}
		b = append(b, in.VRID, in.Family, byte(in.Role), in.Priority)
	}
	return b, nil
}

// Encode encodes p and appends the HMAC-SHA256 tag under key.
func Encode(key []byte, p *Probe) ([]byte, error) {
	b, err := Marshal(p)
	if err != nil {
		return nil, err
	}
	return hbproto.AppendTag(key, b), nil
}

// checkFrame: length, magic, version (before the MAC).
func checkFrame(b []byte) error {
	switch {
	case len(b) > MaxDatagram:
		return derr("length", hbproto.ErrMalformed, "%d bytes, max %d", len(b), MaxDatagram)
	case len(b) < 3:
		return derr("header", hbproto.ErrTruncated, "%d bytes", len(b))
	case b[0] != magic[0] || b[1] != magic[1]:
		return derr("magic", hbproto.ErrMalformed, "%#02x%02x", b[0], b[1])
	case b[2] != Version:
		return derr("version", hbproto.ErrVersion, "%d, this receiver speaks %d", b[2], Version)
	case len(b) < MinDatagram:
		return derr("header", hbproto.ErrTruncated, "%d bytes, min %d", len(b), MinDatagram)
	}
	return nil
}

// Decode parses a probe (with its tag) WITHOUT verifying the tag, the time
// or the sequence: for tests and fuzzing. Daemons use an Opener.
func Decode(b []byte) (*Probe, error) {
	p, _, err := decode(b)
	return p, err
}

// decode also returns how many extension bytes were ignored.
func decode(b []byte) (*Probe, int, error) {
	if err := checkFrame(b); err != nil {
		return nil, 0, err
	}
	return parse(b[:len(b)-TagSize])
}

func parse(b []byte) (*Probe, int, error) {
	p := &Probe{
		State:       SessionState(b[3]),
		Diag:        Diag(b[4]),
		DetectMult:  b[5],
		TxInterval:  time.Duration(binary.BigEndian.Uint32(b[8:])) * time.Microsecond,
		Session:     binary.BigEndian.Uint64(b[12:]),
		YourSession: binary.BigEndian.Uint64(b[20:]),
		Seq:         binary.BigEndian.Uint64(b[28:]),
		Time:        time.Unix(0, int64(binary.BigEndian.Uint64(b[36:]))).UTC(),
	}
	switch {
	case p.State > StateUp:
		return nil, 0, derr("state", hbproto.ErrMalformed, "%d", b[3])
	case p.Diag > DiagPeerRestarted:
		return nil, 0, derr("diag", hbproto.ErrMalformed, "%d", b[4])
	case p.DetectMult == 0:
		return nil, 0, derr("detect_mult", hbproto.ErrMalformed, "0")
	case binary.BigEndian.Uint16(b[6:]) != 0:
		return nil, 0, derr("flags", hbproto.ErrMalformed, "%#04x, must be 0", binary.BigEndian.Uint16(b[6:]))
	case p.TxInterval < time.Millisecond:
		return nil, 0, derr("tx_interval", hbproto.ErrMalformed, "%v, min 1ms", p.TxInterval)
	case p.Session == 0:
		return nil, 0, derr("session", hbproto.ErrMalformed, "0")
	}
	rest := b[HeaderSize:]
	n := int(rest[0])
	if n == 0 || len(rest) < 1+n+1 {
		return nil, 0, derr("name", hbproto.ErrMalformed, "length %d in %d bytes", n, len(rest)-1)
	}
	if !utf8.Valid(rest[1 : 1+n]) {
		return nil, 0, derr("name", hbproto.ErrMalformed, "not valid UTF-8")
	}
	p.Name = string(rest[1 : 1+n])
	rest = rest[1+n:]
	k := int(rest[0])
	rest = rest[1:]
	if k > MaxInstances || len(rest) < 4*k {
		return nil, 0, derr("instances", hbproto.ErrMalformed, "%d entries in %d bytes", k, len(rest))
	}
	if k > 0 {
		p.Instances = make([]InstanceRole, k)
	}
	for i := range k {
		in := InstanceRole{VRID: rest[0], Family: rest[1], Role: hbproto.Role(rest[2]), Priority: rest[3]}
		if in.VRID == 0 || (in.Family != 4 && in.Family != 6) || in.Role > hbproto.RoleFault {
			return nil, 0, derr(fmt.Sprintf("instances[%d]", i), hbproto.ErrMalformed, "vrid %d family %d role %d", in.VRID, in.Family, in.Role)
		}
		p.Instances[i] = in
		rest = rest[4:]
	}
	return p, len(rest), nil
}

// Sealer produces authenticated probes for one session. Safe for
// concurrent use.
type Sealer struct{ s *hbproto.StampSealer }

// NewSealer returns a Sealer for key (copied) and a non-zero session id.
func NewSealer(key []byte, session uint64) *Sealer {
	return &Sealer{hbproto.NewStampSealer(key, session)}
}

// Session returns the session id.
func (s *Sealer) Session() uint64 { return s.s.Session() }

// Seal stamps p with the session, the next sequence number and now, and
// returns the authenticated datagram.
func (s *Sealer) Seal(now time.Time, p Probe) ([]byte, error) {
	return s.s.Seal(now, func(st hbproto.Stamp) ([]byte, error) {
		p.Session, p.Seq, p.Time = st.Session, st.Seq, st.Time
		return Marshal(&p)
	})
}

// Opener verifies probes with the heartbeat's envelope
// (hbproto.StampOpener): framing, MAC (before any field is read), the
// fields, time window, then per-session replay (the highest sequence
// number accepted, MaxSessions sessions remembered), as docs/ha.md orders
// them. Safe for concurrent use.
type Opener struct{ o *hbproto.StampOpener }

// NewOpener returns an Opener for key with a ±window time check (0 means
// DefaultWindow).
func NewOpener(key []byte, window time.Duration) *Opener {
	return NewOpenerKeys([][]byte{key}, window)
}

// NewOpenerKeys returns an Opener that accepts a tag under any of keys
// (copied; empty ones are skipped): the directors' key of the current
// cluster secret, of the previous one during a rotation, and the raw
// secret from directors older than the director key (docs/ha.md).
func NewOpenerKeys(keys [][]byte, window time.Duration) *Opener {
	if window <= 0 {
		window = DefaultWindow
	}
	return &Opener{hbproto.NewStampOpener(keys, window, MaxSessions)}
}

// Sessions returns the number of sessions the Opener remembers.
func (o *Opener) Sessions() int { return o.o.Sessions() }

// Open authenticates and decodes a probe received from peer at now.
func (o *Opener) Open(peer string, b []byte, now time.Time) (*Probe, error) {
	p, err := o.open(b, now)
	if err != nil {
		if de, ok := err.(*DecodeError); ok {
			de.Proto, de.Peer = proto, peer
		}
		return nil, err
	}
	return p, nil
}

func (o *Opener) open(b []byte, now time.Time) (*Probe, error) {
	if err := checkFrame(b); err != nil {
		return nil, err
	}
	return hbproto.OpenStamped(o.o, netip.Addr{}, b, now, func(signed []byte) (*Probe, hbproto.Stamp, error) {
		p, _, err := parse(signed)
		if err != nil {
			return nil, hbproto.Stamp{}, err
		}
		return p, hbproto.Stamp{Session: p.Session, Seq: p.Seq, Time: p.Time}, nil
	})
}
