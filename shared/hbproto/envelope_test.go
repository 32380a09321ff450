package hbproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// envDatagram is a toy layout for the envelope alone: session, seq, time
// (8 bytes each), then the tag.
func envDatagram(k *Key, session, seq uint64, at time.Time) []byte {
	b := binary.BigEndian.AppendUint64(nil, session)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(at.UnixNano()))
	return k.AppendTag(b)
}

func envFields(signed []byte) (Stamp, error) {
	return Stamp{
		Session: binary.BigEndian.Uint64(signed),
		Seq:     binary.BigEndian.Uint64(signed[8:]),
		Time:    time.Unix(0, int64(binary.BigEndian.Uint64(signed[16:]))),
	}, nil
}

// TestEnvelopeOrder: each check in its place, the first failure wins, and
// only a datagram that passes all of them changes the replay state.
func TestEnvelopeOrder(t *testing.T) {
	k, other := NewKey(testKey), NewKey(bytes.Repeat([]byte{7}, 32))
	var scope netip.Addr
	badFields := func([]byte) (Stamp, error) { return Stamp{}, decodeErr("flags", ErrMalformed, "") }
	badBody := func() error { return decodeErr("body", ErrMalformed, "") }
	tests := []struct {
		name   string
		keys   []*Key
		b      []byte
		now    time.Time
		fields func([]byte) (Stamp, error)
		body   func() error
		reason string
		field  string
	}{
		{"wrong key before fields", []*Key{other}, envDatagram(k, 1, 1, testTime), testTime, badFields, nil, "mac", "mac"},
		{"fields before time", []*Key{k}, envDatagram(k, 1, 1, testTime), testTime.Add(time.Hour), badFields, nil, "malformed", "flags"},
		{"time", []*Key{nil, k}, envDatagram(k, 1, 1, testTime), testTime.Add(DefaultWindow + 1), envFields, badBody, "stale", "time"},
		{"replay before body", []*Key{k}, envDatagram(k, 1, 5, testTime), testTime, envFields, badBody, "replay", "seq"},
		{"body", []*Key{k}, envDatagram(k, 2, 1, testTime), testTime, envFields, badBody, "malformed", "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := NewEnvelope(0, 0)
			if _, err := e.Open(scope, []*Key{k}, envDatagram(k, 1, 5, testTime), testTime, envFields, nil); err != nil {
				t.Fatal(err)
			}
			which, err := e.Open(scope, tt.keys, tt.b, tt.now, tt.fields, tt.body)
			var de *DecodeError
			if !errors.As(err, &de) || which != -1 {
				t.Fatalf("Open = %d, %v; want -1 and a *DecodeError", which, err)
			}
			if diff := cmp.Diff([]string{tt.reason, tt.field}, []string{Reason(err), de.Field}); diff != "" {
				t.Errorf("%v (-want +got)\n%s", err, diff)
			}
			if got := e.Sessions(); got != 1 {
				t.Errorf("%d sessions after a rejected datagram, want 1", got)
			}
		})
	}
}

// TestEnvelopeScopesAndBound: which key opened, replay state per scope, and
// at most maxSessions sessions, the least recently active forgotten.
func TestEnvelopeScopesAndBound(t *testing.T) {
	k1, k2 := NewKey(testKey), NewKey(bytes.Repeat([]byte{7}, 32))
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	e := NewEnvelope(time.Minute, 2)
	open := func(scope netip.Addr, k *Key, session, seq uint64) (int, error) {
		return e.Open(scope, []*Key{nil, k1, k2}, envDatagram(k, session, seq, testTime), testTime, envFields, func() error { return nil })
	}
	if which, err := open(a, k2, 1, 10); err != nil || which != 2 {
		t.Fatalf("Open under the third key = %d, %v; want 2", which, err)
	}
	if _, err := open(b, k1, 1, 3); err != nil {
		t.Errorf("same session in another scope: %v", err)
	}
	if _, err := open(a, k1, 1, 10); !errors.Is(err, ErrReplay) {
		t.Errorf("same seq in scope a: %v, want replay", err)
	}
	if _, err := open(a, k1, 2, 1); err != nil {
		t.Fatal(err)
	}
	if got := e.Sessions(); got != 2 {
		t.Errorf("%d sessions, want the bound 2", got)
	}
	// (a, 1) was the least recently active: forgotten, so seq 10 opens
	// again, and (b, 1) is remembered.
	if _, err := open(b, k1, 1, 3); !errors.Is(err, ErrReplay) {
		t.Errorf("kept session: %v, want replay", err)
	}
	if _, err := open(a, k1, 1, 10); err != nil {
		t.Errorf("forgotten session: %v", err)
	}
}
