package hbproto

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"
)

// TestStamped: a protocol of its own over the envelope: a message is the
// stamp (session, seq, unix nanoseconds) and a body byte; a sealed one
// opens once (replay refused), not under another key, not outside the
// window.
func TestStamped(t *testing.T) {
	marshal := func(body byte) func(Stamp) ([]byte, error) {
		return func(st Stamp) ([]byte, error) {
			b := binary.BigEndian.AppendUint64(nil, st.Session)
			b = binary.BigEndian.AppendUint64(b, st.Seq)
			b = binary.BigEndian.AppendUint64(b, uint64(st.Time.UnixNano()))
			return append(b, body), nil
		}
	}
	parse := func(signed []byte) (byte, Stamp, error) {
		if len(signed) != 25 {
			return 0, Stamp{}, errors.New("length")
		}
		return signed[24], Stamp{Session: binary.BigEndian.Uint64(signed), Seq: binary.BigEndian.Uint64(signed[8:]),
			Time: time.Unix(0, int64(binary.BigEndian.Uint64(signed[16:])))}, nil
	}
	now := time.Unix(1_800_000_000, 0)
	key := []byte("0123456789abcdef0123456789abcdef")
	s := NewStampSealer(key, 42)
	o := NewStampOpener([][]byte{nil, []byte("an older key, 32 bytes long....."), key}, 30*time.Second, 8)
	peer := netip.MustParseAddr("192.0.2.1")
	b1, err := s.Seal(now, marshal(7))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := OpenStamped(o, peer, b1, now, parse); err != nil || got != 7 {
		t.Fatalf("open: %v, %v; want 7", got, err)
	}
	if _, err := OpenStamped(o, peer, b1, now, parse); err == nil {
		t.Errorf("a replayed datagram opened")
	}
	b2, _ := s.Seal(now, marshal(8))
	if got, err := OpenStamped(o, peer, b2, now, parse); err != nil || got != 8 {
		t.Errorf("the next one: %v, %v; want 8", got, err)
	}
	other := NewStampSealer([]byte("another key of 32 bytes........."), 43)
	b3, _ := other.Seal(now, marshal(9))
	if _, err := OpenStamped(o, peer, b3, now, parse); err == nil {
		t.Errorf("a datagram under an unknown key opened")
	}
	b4, _ := s.Seal(now.Add(-time.Minute), marshal(10))
	if _, err := OpenStamped(o, peer, b4, now, parse); err == nil {
		t.Errorf("a datagram a minute old opened with a 30 s window")
	}
	if o.Sessions() != 1 || s.Session() != 42 {
		t.Errorf("sessions %d, session id %d", o.Sessions(), s.Session())
	}
}
