package hbproto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"
)

// ErrTooLarge is returned by the encoders when a message does not fit in
// MaxDatagram bytes; the sender must trim its lists.
var ErrTooLarge = errors.New("message larger than the datagram limit")

// Address families on the wire.
const (
	family4 = 4
	family6 = 6
)

// Header field offsets.
const (
	offVersion = 2
	offType    = 3
	offBodyLen = 4
	offFlags   = 6
	offSession = 8
	offSeq     = 16
	offTime    = 24
)

// Marshal encodes m into header and body, without the tag. A zero
// m.Version means Version; a zero m.Type is derived from which of m.Agent
// and m.Director is set.
func Marshal(m *Message) ([]byte, error) {
	return appendMessage(make([]byte, 0, 256), m)
}

// Encode encodes m and appends the HMAC-SHA256 tag under key: a complete
// datagram, as Sealer produces it but with the header fields taken from m.
func Encode(key []byte, m *Message) ([]byte, error) {
	b, err := Marshal(m)
	if err != nil {
		return nil, err
	}
	return AppendTag(key, b), nil
}

func appendMessage(b []byte, m *Message) ([]byte, error) {
	if m == nil {
		return nil, errors.New("hbproto: encode: nil message")
	}
	v := m.Version
	if v == 0 {
		v = Version
	}
	if v != Version {
		return nil, fmt.Errorf("hbproto: encode: field version: %d, this package speaks %d", v, Version)
	}
	typ := m.Type
	switch {
	case m.Agent != nil && m.Director != nil:
		return nil, errors.New("hbproto: encode: both Agent and Director set")
	case m.Agent != nil && (typ == 0 || typ == TypeAgentReport):
		typ = TypeAgentReport
	case m.Director != nil && (typ == 0 || typ == TypeDirectorReply):
		typ = TypeDirectorReply
	default:
		return nil, fmt.Errorf("hbproto: encode: field type: %v does not match the message body", typ)
	}
	ns := m.Time.UnixNano()
	if !time.Unix(0, ns).Equal(m.Time) {
		return nil, fmt.Errorf("hbproto: encode: field time: %v not representable as int64 nanoseconds", m.Time)
	}
	start := len(b)
	b = append(b, magic[0], magic[1], v, byte(typ), 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, m.SessionID)
	b = binary.BigEndian.AppendUint64(b, m.Seq)
	b = binary.BigEndian.AppendUint64(b, uint64(ns))
	var err error
	if typ == TypeAgentReport {
		b, err = appendAgent(b, m.Agent)
	} else {
		b, err = appendDirector(b, m.Director)
	}
	if err != nil {
		return nil, err
	}
	bodyLen := len(b) - start - HeaderSize
	if bodyLen > MaxBody {
		return nil, fmt.Errorf("hbproto: encode %v: body of %d bytes, max %d: %w", typ, bodyLen, MaxBody, ErrTooLarge)
	}
	binary.BigEndian.PutUint16(b[start+offBodyLen:], uint16(bodyLen))
	return b, nil
}

func encodeErr(what, field string, format string, args ...any) error {
	return fmt.Errorf("hbproto: encode %s: field %s: %s", what, field, fmt.Sprintf(format, args...))
}

// fieldName names a field in an encoding error: name, or list[i].name.
// It is formatted only when there is an error, so that encoding a list
// costs no formatting per element.
type fieldName struct {
	list string
	i    int
	name string
}

// field is a top-level field's name.
func field(name string) fieldName { return fieldName{i: -1, name: name} }

// elem is the name of field name of element i of list.
func elem(list string, i int, name string) fieldName { return fieldName{list: list, i: i, name: name} }

func (f fieldName) String() string {
	if f.i < 0 {
		return f.name
	}
	return fmt.Sprintf("%s[%d].%s", f.list, f.i, f.name)
}

func checkString(what string, f fieldName, s string, required bool) error {
	switch {
	case len(s) > MaxString:
		return encodeErr(what, f.String(), "%d bytes, max %d", len(s), MaxString)
	case required && s == "":
		return encodeErr(what, f.String(), "empty")
	case !utf8.ValidString(s):
		return encodeErr(what, f.String(), "not valid UTF-8")
	}
	return nil
}

func appendString(b []byte, s string) []byte {
	b = append(b, byte(len(s)))
	return append(b, s...)
}

func checkAddr(what string, f fieldName, a netip.Addr) error {
	switch {
	case !a.IsValid():
		return encodeErr(what, f.String(), "no address")
	case a.Zone() != "":
		return encodeErr(what, f.String(), "address %v has a zone", a)
	}
	return nil
}

func appendAddr(b []byte, a netip.Addr) []byte {
	if a.Is4() {
		b = append(b, family4)
		v := a.As4()
		return append(b, v[:]...)
	}
	b = append(b, family6)
	v := a.As16()
	return append(b, v[:]...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// beginRecord appends a record length placeholder and returns its offset.
func beginRecord(b []byte) ([]byte, int) { return append(b, 0, 0), len(b) }

func endRecord(b []byte, at int) []byte {
	// A record holds at most 2 strings plus fixed fields: far below 64 KiB.
	binary.BigEndian.PutUint16(b[at:], uint16(len(b)-at-2))
	return b
}

func appendAgent(b []byte, r *AgentReport) ([]byte, error) {
	const what = "agent report"
	if err := checkString(what, field("node"), r.Node, true); err != nil {
		return nil, err
	}
	if err := checkAddr(what, field("real_ip"), r.RealIP); err != nil {
		return nil, err
	}
	if !r.State.valid() {
		return nil, encodeErr(what, "state", "invalid value %d", uint8(r.State))
	}
	if err := checkString(what, field("reason"), r.Reason, false); err != nil {
		return nil, err
	}
	if len(r.Services) > MaxServices {
		return nil, fmt.Errorf("hbproto: encode %s: field services: %d entries, max %d: %w", what, len(r.Services), MaxServices, ErrTooLarge)
	}
	b = appendString(b, r.Node)
	b = appendAddr(b, r.RealIP)
	b = append(b, byte(r.State))
	b = appendString(b, r.Reason)
	b = append(b, byte(len(r.Services)))
	for i, s := range r.Services {
		if err := checkString(what, elem("services", i, "service"), s.Service, false); err != nil {
			return nil, err
		}
		if err := checkString(what, elem("services", i, "reason"), s.Reason, false); err != nil {
			return nil, err
		}
		var at int
		b, at = beginRecord(b)
		b = appendString(b, s.Service)
		b = appendBool(b, s.Healthy)
		b = appendString(b, s.Reason)
		b = endRecord(b, at)
	}
	// Extension: the witness list, only when not empty (a report without it
	// is byte for byte the original version-1 encoding).
	if len(r.Seen) > MaxSeen {
		return nil, fmt.Errorf("hbproto: encode %s: field seen: %d entries, max %d: %w", what, len(r.Seen), MaxSeen, ErrTooLarge)
	}
	if len(r.Seen) == 0 {
		return b, nil
	}
	b = append(b, byte(len(r.Seen)))
	for i, s := range r.Seen {
		if err := checkString(what, elem("seen", i, "director"), s.Director, true); err != nil {
			return nil, err
		}
		if !s.Role.valid() {
			return nil, encodeErr(what, fmt.Sprintf("seen[%d].role", i), "invalid value %d", uint8(s.Role))
		}
		var at int
		b, at = beginRecord(b)
		b = appendString(b, s.Director)
		b = append(b, byte(s.Role))
		b = binary.BigEndian.AppendUint32(b, ageMillis(s.Age))
		b = endRecord(b, at)
	}
	return b, nil
}

// ageMillis is d in whole milliseconds, clamped to the u32 range.
func ageMillis(d time.Duration) uint32 {
	switch {
	case d <= 0:
		return 0
	case d >= MaxSeenAge:
		return 1<<32 - 1
	}
	return uint32(d / time.Millisecond)
}

func appendDirector(b []byte, r *DirectorReply) ([]byte, error) {
	const what = "director reply"
	if err := checkString(what, field("director"), r.Director, true); err != nil {
		return nil, err
	}
	if !r.Role.valid() {
		return nil, encodeErr(what, "role", "invalid value %d", uint8(r.Role))
	}
	if len(r.Destinations) > MaxDestinations {
		return nil, fmt.Errorf("hbproto: encode %s: field destinations: %d entries, max %d: %w", what, len(r.Destinations), MaxDestinations, ErrTooLarge)
	}
	b = appendString(b, r.Director)
	b = append(b, byte(r.Role))
	b = append(b, byte(len(r.Destinations)))
	for i, d := range r.Destinations {
		if err := checkString(what, elem("destinations", i, "service"), d.Service, false); err != nil {
			return nil, err
		}
		if err := checkAddr(what, elem("destinations", i, "addr"), d.Addr.Addr()); err != nil {
			return nil, err
		}
		if !d.Pool.valid() {
			return nil, encodeErr(what, fmt.Sprintf("destinations[%d].pool", i), "invalid value %d", uint8(d.Pool))
		}
		var at int
		b, at = beginRecord(b)
		b = appendString(b, d.Service)
		b = appendAddr(b, d.Addr.Addr())
		b = binary.BigEndian.AppendUint16(b, d.Addr.Port())
		b = binary.BigEndian.AppendUint32(b, uint32(d.Weight))
		b = binary.BigEndian.AppendUint32(b, uint32(d.ConfiguredWeight))
		b = binary.BigEndian.AppendUint32(b, d.ActiveConns)
		b = binary.BigEndian.AppendUint32(b, d.InactiveConns)
		b = append(b, byte(d.Pool))
		b = endRecord(b, at)
	}
	// Extension 1: report_now, when set or when extension 2 follows it.
	if r.ReportNow || r.Echo != nil {
		b = appendBool(b, r.ReportNow)
	}
	// Extension 2: the echo of the report answered.
	if r.Echo != nil {
		b = binary.BigEndian.AppendUint64(b, r.Echo.Session)
		b = binary.BigEndian.AppendUint64(b, r.Echo.Seq)
	}
	return b, nil
}

// HeaderOf returns the header of datagram b (as Sealer produced it)
// without verifying anything else: the sender's record of what it sent.
func HeaderOf(b []byte) (Header, error) {
	if _, err := checkFrame(b); err != nil {
		return Header{}, err
	}
	return parseHeader(b)
}

// Decode parses a complete datagram (header, body and tag) WITHOUT verifying
// the tag, the timestamp or the sequence. It is for tests, tools and
// fuzzing; daemons use an Opener. Errors are *DecodeError with an empty Peer.
func Decode(b []byte) (*Message, error) {
	m, _, err := decode(b)
	if err != nil {
		return nil, err
	}
	return m, nil
}

// decode is Decode that also reports how many extension bytes it skipped.
func decode(b []byte) (*Message, int, error) {
	bodyLen, err := checkFrame(b)
	if err != nil {
		return nil, 0, err
	}
	h, err := parseHeader(b)
	if err != nil {
		return nil, 0, err
	}
	return parseBody(h, b[HeaderSize:HeaderSize+bodyLen])
}

// checkFrame applies the structural checks that come before the MAC (spec
// steps 1-6) and returns the body length.
func checkFrame(b []byte) (int, error) {
	switch {
	case len(b) > MaxDatagram:
		return 0, decodeErr("length", ErrMalformed, "%d bytes, max %d", len(b), MaxDatagram)
	case len(b) < offType+1:
		return 0, decodeErr("header", ErrTruncated, "%d bytes", len(b))
	case b[0] != magic[0] || b[1] != magic[1]:
		return 0, decodeErr("magic", ErrMalformed, "%#02x%02x", b[0], b[1])
	case b[offVersion] != Version:
		return 0, decodeErr("version", ErrVersion, "%d, this receiver speaks %d", b[offVersion], Version)
	case len(b) < HeaderSize+TagSize:
		return 0, decodeErr("header", ErrTruncated, "%d bytes, min %d", len(b), HeaderSize+TagSize)
	}
	bodyLen := int(binary.BigEndian.Uint16(b[offBodyLen:]))
	switch want := HeaderSize + bodyLen + TagSize; {
	case bodyLen > MaxBody:
		return 0, decodeErr("body_len", ErrMalformed, "%d, max %d", bodyLen, MaxBody)
	case len(b) < want:
		return 0, decodeErr("body", ErrTruncated, "%d bytes, header says %d", len(b), want)
	case len(b) > want:
		return 0, decodeErr("length", ErrMalformed, "%d bytes after the tag", len(b)-want)
	}
	return bodyLen, nil
}

// parseHeader reads the header fields that come after the MAC (spec step 8).
func parseHeader(b []byte) (Header, error) {
	h := Header{
		Version:   b[offVersion],
		Type:      MsgType(b[offType]),
		SessionID: binary.BigEndian.Uint64(b[offSession:]),
		Seq:       binary.BigEndian.Uint64(b[offSeq:]),
		Time:      time.Unix(0, int64(binary.BigEndian.Uint64(b[offTime:]))).UTC(),
	}
	if f := binary.BigEndian.Uint16(b[offFlags:]); f != 0 {
		return h, decodeErr("flags", ErrMalformed, "%#04x, must be 0", f)
	}
	if h.Type != TypeAgentReport && h.Type != TypeDirectorReply {
		return h, decodeErr("type", ErrMalformed, "unknown type %d", uint8(h.Type))
	}
	return h, nil
}

func parseBody(h Header, body []byte) (*Message, int, error) {
	m := &Message{Header: h}
	r := reader{b: body}
	if h.Type == TypeAgentReport {
		m.Agent = r.agent()
	} else {
		m.Director = r.director()
	}
	if r.err != nil {
		return nil, 0, r.err
	}
	return m, r.skipped + len(r.b), nil
}

// reader consumes a body. The first error sticks; later reads return zero
// values. skipped counts ignored record extension bytes.
type reader struct {
	b       []byte
	err     *DecodeError
	skipped int
}

func (r *reader) fail(field string, sentinel error, format string, args ...any) {
	if r.err == nil {
		r.err = decodeErr(field, sentinel, format, args...)
	}
}

func (r *reader) take(field string, n int) []byte {
	if r.err != nil {
		return nil
	}
	if len(r.b) < n {
		r.fail(field, ErrMalformed, "needs %d bytes, %d left", n, len(r.b))
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8(field string) uint8 {
	if v := r.take(field, 1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16(field string) uint16 {
	if v := r.take(field, 2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32(field string) uint32 {
	if v := r.take(field, 4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64(field string) uint64 {
	if v := r.take(field, 8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) str(field string, required bool) string {
	n := int(r.u8(field))
	v := r.take(field, n)
	if r.err != nil {
		return ""
	}
	if required && n == 0 {
		r.fail(field, ErrMalformed, "empty")
		return ""
	}
	if !utf8.Valid(v) {
		r.fail(field, ErrMalformed, "not valid UTF-8")
		return ""
	}
	return string(v)
}

func (r *reader) boolean(field string) bool {
	v := r.u8(field)
	if v > 1 {
		r.fail(field, ErrMalformed, "bool %d", v)
	}
	return v == 1
}

func (r *reader) addr(field string) netip.Addr {
	switch fam := r.u8(field); {
	case r.err != nil:
	case fam == family4:
		if v := r.take(field, 4); v != nil {
			return netip.AddrFrom4([4]byte(v))
		}
	case fam == family6:
		if v := r.take(field, 16); v != nil {
			return netip.AddrFrom16([16]byte(v))
		}
	default:
		r.fail(field, ErrMalformed, "address family %d", fam)
	}
	return netip.Addr{}
}

// record returns a reader over the next length-prefixed record.
func (r *reader) record(field string) reader {
	n := int(r.u16(field))
	return reader{b: r.take(field, n)}
}

// list reads a count and checks it against max and against the bytes left
// (each record takes at least 2 bytes), so the slice capacity is bounded.
func (r *reader) list(field string, max int) int {
	n := int(r.u8(field))
	switch {
	case r.err != nil:
		return 0
	case n > max:
		r.fail(field, ErrMalformed, "%d entries, max %d", n, max)
		return 0
	case n*2 > len(r.b):
		r.fail(field, ErrMalformed, "%d entries in %d bytes", n, len(r.b))
		return 0
	}
	return n
}

// sub finishes a record reader: its error is reported with the list field
// and index prefixed; its left-over bytes are extensions.
func (r *reader) sub(list string, i int, s *reader) {
	if r.err != nil {
		return
	}
	if s.err != nil {
		s.err.Field = fmt.Sprintf("%s[%d].%s", list, i, s.err.Field)
		r.err = s.err
		return
	}
	r.skipped += len(s.b)
}

func (r *reader) agent() *AgentReport {
	a := &AgentReport{
		Node:   r.str("node", true),
		RealIP: r.addr("real_ip"),
		State:  State(r.u8("state")),
	}
	if r.err == nil && !a.State.valid() {
		r.fail("state", ErrMalformed, "unknown state %d", uint8(a.State))
	}
	a.Reason = r.str("reason", false)
	n := r.list("services", MaxServices)
	if n > 0 {
		a.Services = make([]ServiceHealth, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		s := r.record("services")
		if r.err != nil {
			break
		}
		sh := ServiceHealth{
			Service: s.str("service", false),
			Healthy: s.boolean("healthy"),
			Reason:  s.str("reason", false),
		}
		r.sub("services", i, &s)
		a.Services = append(a.Services, sh)
	}
	// Extension: the witness list. Absent in older senders' reports; an
	// empty list is valid but not canonical (senders omit it), so its byte
	// counts as skipped.
	if r.err != nil || len(r.b) == 0 {
		return a
	}
	n = r.list("seen", MaxSeen)
	if r.err == nil && n == 0 {
		r.skipped++
	}
	if n > 0 {
		a.Seen = make([]DirectorSeen, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		s := r.record("seen")
		if r.err != nil {
			break
		}
		ds := DirectorSeen{Director: s.str("director", true), Role: Role(s.u8("role"))}
		if s.err == nil && !ds.Role.valid() {
			s.fail("role", ErrMalformed, "unknown role %d", uint8(ds.Role))
		}
		ds.Age = time.Duration(s.u32("age_ms")) * time.Millisecond
		r.sub("seen", i, &s)
		a.Seen = append(a.Seen, ds)
	}
	return a
}

func (r *reader) director() *DirectorReply {
	d := &DirectorReply{
		Director: r.str("director", true),
		Role:     Role(r.u8("role")),
	}
	if r.err == nil && !d.Role.valid() {
		r.fail("role", ErrMalformed, "unknown role %d", uint8(d.Role))
	}
	n := r.list("destinations", MaxDestinations)
	if n > 0 {
		d.Destinations = make([]DestinationStatus, 0, n)
	}
	for i := 0; i < n && r.err == nil; i++ {
		s := r.record("destinations")
		if r.err != nil {
			break
		}
		ds := DestinationStatus{Service: s.str("service", false)}
		a := s.addr("addr")
		port := s.u16("port")
		ds.Addr = netip.AddrPortFrom(a, port)
		ds.Weight = int32(s.u32("weight"))
		ds.ConfiguredWeight = int32(s.u32("configured_weight"))
		ds.ActiveConns = s.u32("active_conns")
		ds.InactiveConns = s.u32("inactive_conns")
		ds.Pool = PoolState(s.u8("pool"))
		if s.err == nil && !ds.Pool.valid() {
			s.fail("pool", ErrMalformed, "unknown pool state %d", uint8(ds.Pool))
		}
		r.sub("destinations", i, &s)
		d.Destinations = append(d.Destinations, ds)
	}
	// Extension: report_now. Absent in older senders' replies; a present
	// false is valid but not canonical (senders omit it).
	if r.err != nil || len(r.b) == 0 {
		return d
	}
	d.ReportNow = r.boolean("report_now")
	if r.err != nil {
		return d
	}
	// Extension 2: echo. Absent in older senders' replies; when present,
	// all 16 bytes of it are.
	if len(r.b) == 0 {
		if !d.ReportNow {
			r.skipped++
		}
		return d
	}
	e := &ReplyEcho{Session: r.u64("echo_session"), Seq: r.u64("echo_seq")}
	if r.err == nil {
		d.Echo = e
	}
	return d
}
