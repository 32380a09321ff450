package agree

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// Wire constants of the agreement datagram (docs/director.md, "BGP mode").
const (
	// DefaultPort is the UDP port of the agreement (bgp.agreement_port).
	DefaultPort = 7482
	// Version is the wire version.
	Version = 1
	// MaxDatagram is the largest datagram sent or accepted: one datagram
	// that no path MTU of 1,500 fragments.
	MaxDatagram = 1400
	// HeaderSize is the fixed part before the name: magic (2), version,
	// flags, session (8), seq (8), time (8).
	HeaderSize = 28
	// TagSize is the HMAC-SHA256 tag that ends every datagram (the
	// envelope's).
	TagSize = hbproto.TagSize
	// MaxName is the longest node name.
	MaxName = 255
	// MinDatagram is the smallest well-formed datagram: the header, a
	// one-byte name, the service count and the tag.
	MinDatagram = HeaderSize + 2 + 2 + TagSize
	// Entry4 and Entry6 are the sizes of one service of an IPv4 and an
	// IPv6 VIP: flags, protocol, family, address, port, fingerprint.
	Entry4 = 3 + 4 + 2 + 8
	Entry6 = 3 + 16 + 2 + 8
	// MaxSessions bounds the replay state of an Opener (one session per
	// director process; a restart starts a new one).
	MaxSessions = 256
)

var magic = [2]byte{'T', 'A'}

// Entry flags.
const (
	flagAnnouncing  = 1 << 0
	flagFingerprint = 1 << 1
	flagsKnown      = flagAnnouncing | flagFingerprint
)

// Proto is a service's IP protocol number.
type Proto uint8

// The protocols of an IPVS service.
const (
	TCP  Proto = 6
	UDP  Proto = 17
	SCTP Proto = 132
)

func (p Proto) String() string {
	switch p {
	case TCP:
		return "TCP"
	case UDP:
		return "UDP"
	case SCTP:
		return "SCTP"
	}
	return fmt.Sprintf("proto(%d)", uint8(p))
}

// ParseProto returns the protocol of "TCP", "UDP" or "SCTP".
func ParseProto(s string) (Proto, bool) {
	switch strings.ToUpper(s) {
	case "TCP":
		return TCP, true
	case "UDP":
		return UDP, true
	case "SCTP":
		return SCTP, true
	}
	return 0, false
}

// Key names one service: "TCP 192.0.2.100:80", as config's
// VirtualService.Key and the heartbeat name it.
type Key struct {
	Proto Proto
	Addr  netip.AddrPort
}

func (k Key) String() string { return k.Proto.String() + " " + k.Addr.String() }

// VIP is the key's address.
func (k Key) VIP() netip.Addr { return k.Addr.Addr() }

// Compare orders keys by address, port, then protocol.
func (k Key) Compare(o Key) int {
	if c := k.Addr.Compare(o.Addr); c != 0 {
		return c
	}
	return int(k.Proto) - int(o.Proto)
}

func (k Key) valid() bool {
	a := k.Addr.Addr()
	return (k.Proto == TCP || k.Proto == UDP || k.Proto == SCTP) && a.IsValid() && !a.Is4In6() && a.Zone() == ""
}

// Service is one service of an announced VIP as its director reports it.
type Service struct {
	Key Key
	// Announcing: the sender announces the service's VIP (announced, not
	// shutting down).
	Announcing bool
	// Fingerprint is lvs.Fingerprint of the service's table as 64 bits;
	// valid only with HasFingerprint (the service not written yet).
	Fingerprint    uint64
	HasFingerprint bool
}

// Message is one agreement datagram: "I am Node, and per service of my
// announced VIPs: its fingerprint, and whether I announce its VIP".
type Message struct {
	// Session identifies the sending process (random, not 0); Seq numbers
	// its datagrams from 1; Time is its wall clock. A Sealer stamps them.
	Session uint64
	Seq     uint64
	Time    time.Time
	// Node is the sender's director name.
	Node string
	// Services are sorted by key, each once.
	Services []Service
}

// Size is the length of m's datagram, tag included.
func Size(node string, services []Service) int {
	n := HeaderSize + 1 + len(node) + 2 + TagSize
	for _, s := range services {
		n += EntrySize(s.Key.Addr.Addr())
	}
	return n
}

// EntrySize is the size of one service of vip.
func EntrySize(vip netip.Addr) int {
	if vip.Is4() {
		return Entry4
	}
	return Entry6
}

// ErrTooBig: the services do not fit in one datagram (MaxDatagram).
var ErrTooBig = errors.New("too many services for one datagram")

// DecodeError is a rejected datagram: the heartbeat's error type (the
// envelope is shared), Proto "agreement"; Err wraps one of the hbproto
// sentinels, so hbproto.Reason labels it.
type DecodeError = hbproto.DecodeError

const proto = "agreement"

func derr(field string, sentinel error, format string, args ...any) *DecodeError {
	err := sentinel
	if format != "" {
		err = fmt.Errorf("%w: "+format, append([]any{sentinel}, args...)...)
	}
	return &DecodeError{Proto: proto, Field: field, Err: err}
}

// Marshal encodes m without the tag.
func Marshal(m *Message) ([]byte, error) {
	switch {
	case m == nil:
		return nil, errors.New("agree: encode: nil message")
	case m.Session == 0:
		return nil, errors.New("agree: encode: field session: 0")
	case m.Node == "" || len(m.Node) > MaxName || !utf8.ValidString(m.Node):
		return nil, fmt.Errorf("agree: encode: field node: %q", m.Node)
	}
	if n := Size(m.Node, m.Services); n > MaxDatagram {
		return nil, fmt.Errorf("agree: encode: %d services make %d bytes, max %d: %w", len(m.Services), n, MaxDatagram, ErrTooBig)
	}
	ns := m.Time.UnixNano()
	if !time.Unix(0, ns).Equal(m.Time) {
		return nil, fmt.Errorf("agree: encode: field time: %v", m.Time)
	}
	b := make([]byte, 0, Size(m.Node, m.Services))
	b = append(b, magic[0], magic[1], Version, 0)
	b = binary.BigEndian.AppendUint64(b, m.Session)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(ns))
	b = append(b, byte(len(m.Node)))
	b = append(b, m.Node...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(m.Services)))
	for i, s := range m.Services {
		if !s.Key.valid() {
			return nil, fmt.Errorf("agree: encode: field services[%d]: key %v", i, s.Key)
		}
		if i > 0 && m.Services[i-1].Key.Compare(s.Key) >= 0 {
			return nil, fmt.Errorf("agree: encode: field services[%d]: %v not after %v (sorted, each once)", i, s.Key, m.Services[i-1].Key)
		}
		var f byte
		if s.Announcing {
			f |= flagAnnouncing
		}
		if s.HasFingerprint {
			f |= flagFingerprint
		}
		a := s.Key.Addr.Addr()
		fam := byte(6)
		if a.Is4() {
			fam = 4
		}
		b = append(b, f, byte(s.Key.Proto), fam)
		b = append(b, a.AsSlice()...)
		b = binary.BigEndian.AppendUint16(b, s.Key.Addr.Port())
		fp := s.Fingerprint
		if !s.HasFingerprint {
			fp = 0
		}
		b = binary.BigEndian.AppendUint64(b, fp)
	}
	return b, nil
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

// Decode parses a datagram (with its tag) WITHOUT verifying the tag, the
// time or the sequence: for tests and fuzzing. The driver uses an Opener.
func Decode(b []byte) (*Message, error) {
	if err := checkFrame(b); err != nil {
		return nil, err
	}
	return parse(b[:len(b)-TagSize])
}

// parse reads the authenticated bytes (framing checked, tag removed).
func parse(b []byte) (*Message, error) {
	if b[3] != 0 {
		return nil, derr("flags", hbproto.ErrMalformed, "%#02x, must be 0", b[3])
	}
	m := &Message{
		Session: binary.BigEndian.Uint64(b[4:]),
		Seq:     binary.BigEndian.Uint64(b[12:]),
		Time:    time.Unix(0, int64(binary.BigEndian.Uint64(b[20:]))).UTC(),
	}
	if m.Session == 0 {
		return nil, derr("session", hbproto.ErrMalformed, "0")
	}
	rest := b[HeaderSize:]
	n := int(rest[0])
	if n == 0 || len(rest) < 1+n+2 {
		return nil, derr("node", hbproto.ErrMalformed, "length %d in %d bytes", n, len(rest)-1)
	}
	if !utf8.Valid(rest[1 : 1+n]) {
		return nil, derr("node", hbproto.ErrMalformed, "not valid UTF-8")
	}
	m.Node = string(rest[1 : 1+n])
	rest = rest[1+n:]
	k := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	// Each entry is at least Entry4 bytes: the count is bounded by the
	// datagram before anything is allocated.
	if k > len(rest)/Entry4 {
		return nil, derr("services", hbproto.ErrMalformed, "%d entries in %d bytes", k, len(rest))
	}
	if k > 0 {
		m.Services = make([]Service, 0, k)
	}
	for i := range k {
		field := fmt.Sprintf("services[%d]", i)
		if len(rest) < 3 {
			return nil, derr(field, hbproto.ErrTruncated, "%d bytes left", len(rest))
		}
		f, pr, fam := rest[0], Proto(rest[1]), rest[2]
		size := Entry4
		switch fam {
		case 4:
		case 6:
			size = Entry6
		default:
			return nil, derr(field, hbproto.ErrMalformed, "family %d", fam)
		}
		if len(rest) < size {
			return nil, derr(field, hbproto.ErrTruncated, "%d bytes left, entry of %d", len(rest), size)
		}
		if f&^flagsKnown != 0 {
			return nil, derr(field, hbproto.ErrMalformed, "flags %#02x", f)
		}
		alen := 4
		if fam == 6 {
			alen = 16
		}
		a, _ := netip.AddrFromSlice(rest[3 : 3+alen])
		port := binary.BigEndian.Uint16(rest[3+alen:])
		s := Service{
			Key:            Key{Proto: pr, Addr: netip.AddrPortFrom(a, port)},
			Announcing:     f&flagAnnouncing != 0,
			HasFingerprint: f&flagFingerprint != 0,
			Fingerprint:    binary.BigEndian.Uint64(rest[5+alen:]),
		}
		if !s.Key.valid() {
			return nil, derr(field, hbproto.ErrMalformed, "protocol %d, address %v", pr, s.Key.Addr)
		}
		if !s.HasFingerprint && s.Fingerprint != 0 {
			return nil, derr(field, hbproto.ErrMalformed, "fingerprint %016x without its flag", s.Fingerprint)
		}
		if i > 0 && m.Services[i-1].Key.Compare(s.Key) >= 0 {
			return nil, derr(field, hbproto.ErrMalformed, "%v not after %v (sorted, each once)", s.Key, m.Services[i-1].Key)
		}
		m.Services = append(m.Services, s)
		rest = rest[size:]
	}
	if len(rest) != 0 {
		return nil, derr("length", hbproto.ErrMalformed, "%d bytes after the last service", len(rest))
	}
	return m, nil
}

// Sealer produces authenticated datagrams for one session. Safe for
// concurrent use.
type Sealer struct{ s *hbproto.StampSealer }

// NewSealer returns a Sealer for key (copied) and a non-zero session id.
func NewSealer(key []byte, session uint64) *Sealer {
	return &Sealer{hbproto.NewStampSealer(key, session)}
}

// Session returns the session id.
func (s *Sealer) Session() uint64 { return s.s.Session() }

// Seal stamps m with the session, the next sequence number and now, and
// returns the authenticated datagram.
func (s *Sealer) Seal(now time.Time, m Message) ([]byte, error) {
	return s.s.Seal(now, func(st hbproto.Stamp) ([]byte, error) {
		m.Session, m.Seq, m.Time = st.Session, st.Seq, st.Time
		return Marshal(&m)
	})
}

// Opener verifies datagrams with the heartbeat's envelope
// (hbproto.StampOpener): framing, MAC (before any field is read), the
// fields, the time window, then the replay rule per (sender address,
// session). Safe for concurrent use.
type Opener struct{ o *hbproto.StampOpener }

// NewOpener returns an Opener that accepts a tag under any of keys
// (copied; empty ones skipped), with a ±window time check (0: the
// heartbeat's default).
func NewOpener(keys [][]byte, window time.Duration) *Opener {
	return &Opener{hbproto.NewStampOpener(keys, window, MaxSessions)}
}

// Open authenticates and decodes a datagram received from peer at now.
func (o *Opener) Open(peer netip.Addr, b []byte, now time.Time) (*Message, error) {
	m, err := o.open(peer, b, now)
	if err != nil {
		if de, ok := err.(*DecodeError); ok {
			de.Proto, de.Peer = proto, peer.String()
		}
		return nil, err
	}
	return m, nil
}

func (o *Opener) open(peer netip.Addr, b []byte, now time.Time) (*Message, error) {
	if err := checkFrame(b); err != nil {
		return nil, err
	}
	return hbproto.OpenStamped(o.o, peer, b, now, func(signed []byte) (*Message, hbproto.Stamp, error) {
		m, err := parse(signed)
		if err != nil {
			return nil, hbproto.Stamp{}, err
		}
		return m, hbproto.Stamp{Session: m.Session, Seq: m.Seq, Time: m.Time}, nil
	})
}
