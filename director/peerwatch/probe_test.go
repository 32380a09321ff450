package peerwatch

import (
	"bytes"
	"encoding/hex"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/hbproto"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// The fixed inputs of the test vector: hbproto's test key (00 01 … 1f).
var (
	testKey  = []byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f")
	testTime = time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
)

func upProbe() *Probe {
	return &Probe{State: StateUp, Diag: DiagNone, DetectMult: 3, TxInterval: 50 * time.Millisecond,
		Session: 0x0123456789abcdef, YourSession: 0xfedcba9876543210, Seq: 1, Time: testTime, Name: "lb1",
		Instances: []InstanceRole{{VRID: 51, Family: 4, Role: hbproto.RoleMaster, Priority: 150}, {VRID: 52, Family: 6, Role: hbproto.RoleBackup, Priority: 100}}}
}

func goodbye() *Probe {
	return &Probe{State: StateAdminDown, Diag: DiagReleased, DetectMult: 3, TxInterval: time.Second,
		Session: 0x0123456789abcdef, YourSession: 0xfedcba9876543210, Seq: 1, Time: testTime, Name: "lb1"}
}

func TestGolden(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    *Probe
	}{{"up", upProbe()}, {"goodbye", goodbye()}} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(testKey, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "TestGolden_"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, []byte(hex.EncodeToString(got)+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			want, err := hex.DecodeString(strings.TrimSpace(string(text)))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(want, got) {
				t.Errorf("encoding differs from %s (a wire change?)\nwant %x\ngot  %x", path, want, got)
			}
			p, err := NewOpener(testKey, 0).Open("golden", want, testTime)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.p, p); diff != "" {
				t.Errorf("Open (-want +got)\n%s", diff)
			}
		})
	}
}

func TestOpenRejects(t *testing.T) {
	good, _ := Encode(testKey, upProbe())
	resign := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good[:len(good)-TagSize]...)
		f(b)
		return sign(b)
	}
	tests := []struct {
		name   string
		b      []byte
		now    time.Time
		reason string
		field  string
	}{
		{"empty", nil, testTime, "truncated", "header"},
		{"heartbeat datagram", append([]byte("TH\x01"), make([]byte, 80)...), testTime, "malformed", "magic"},
		{"version 2", resign(func(b []byte) { b[2] = 2 }), testTime, "version", "version"},
		{"short", good[:MinDatagram-1], testTime, "truncated", "header"},
		{"oversize", append(append([]byte(nil), good...), make([]byte, MaxDatagram)...), testTime, "malformed", "length"},
		{"flipped byte", func() []byte { b := append([]byte(nil), good...); b[20] ^= 1; return b }(), testTime, "mac", "mac"},
		{"wrong key", func() []byte { b, _ := Encode(bytes.Repeat([]byte{7}, 32), upProbe()); return b }(), testTime, "mac", "mac"},
		{"state 4", resign(func(b []byte) { b[3] = 4 }), testTime, "malformed", "state"},
		{"diag 6", resign(func(b []byte) { b[4] = 6 }), testTime, "malformed", "diag"},
		{"mult 0", resign(func(b []byte) { b[5] = 0 }), testTime, "malformed", "detect_mult"},
		{"flags", resign(func(b []byte) { b[7] = 1 }), testTime, "malformed", "flags"},
		{"interval 999us", resign(func(b []byte) { b[8], b[9], b[10], b[11] = 0, 0, 0x03, 0xe7 }), testTime, "malformed", "tx_interval"},
		{"session 0", resign(func(b []byte) { copy(b[12:20], make([]byte, 8)) }), testTime, "malformed", "session"},
		{"empty name", resign(func(b []byte) { b[HeaderSize] = 0 }), testTime, "malformed", "name"},
		{"name past end", resign(func(b []byte) { b[HeaderSize] = 200 }), testTime, "malformed", "name"},
		{"name not utf8", resign(func(b []byte) { b[HeaderSize+1] = 0xff }), testTime, "malformed", "name"},
		{"instances past end", resign(func(b []byte) { b[HeaderSize+4] = 3 }), testTime, "malformed", "instances"},
		{"vrid 0", resign(func(b []byte) { b[HeaderSize+5] = 0 }), testTime, "malformed", "instances[0]"},
		{"family 5", resign(func(b []byte) { b[HeaderSize+10] = 5 }), testTime, "malformed", "instances[1]"},
		{"role 4", resign(func(b []byte) { b[HeaderSize+7] = 4 }), testTime, "malformed", "instances[0]"},
		{"too old", good, testTime.Add(DefaultWindow + time.Nanosecond), "stale", "time"},
		{"in the future", good, testTime.Add(-DefaultWindow - time.Nanosecond), "stale", "time"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOpener(testKey, 0)
			_, err := o.Open("10.0.0.9:7481", tt.b, tt.now)
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %v is not a *DecodeError", err)
			}
			got := []string{hbproto.Reason(err), de.Field, de.Peer}
			if diff := cmp.Diff([]string{tt.reason, tt.field, "10.0.0.9:7481"}, got); diff != "" {
				t.Errorf("%v (-want +got)\n%s", err, diff)
			}
			if o.Sessions() != 0 {
				t.Error("a rejected probe created a session")
			}
		})
	}
}

func sign(b []byte) []byte { return hbproto.AppendTag(testKey, b) }

func TestReplayAndSessions(t *testing.T) {
	s := NewSealer(testKey, 42)
	o := NewOpener(testKey, time.Minute)
	b1, _ := s.Seal(testTime, *upProbe())
	b2, _ := s.Seal(testTime, *upProbe())
	if _, err := o.Open("p", b2, testTime); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Open("p", b1, testTime); hbproto.Reason(err) != "replay" {
		t.Fatalf("older seq: %v, want replay", err)
	}
	if _, err := o.Open("p", b2, testTime); hbproto.Reason(err) != "replay" {
		t.Fatalf("same seq: %v, want replay", err)
	}
	// A new session (a restart) is accepted at once.
	b, _ := NewSealer(testKey, 43).Seal(testTime, *upProbe())
	if _, err := o.Open("p", b, testTime); err != nil {
		t.Fatal(err)
	}
	for i := range MaxSessions + 5 {
		b, _ := NewSealer(testKey, uint64(100+i)).Seal(testTime, *upProbe())
		if _, err := o.Open("p", b, testTime); err != nil {
			t.Fatal(err)
		}
	}
	if o.Sessions() != MaxSessions {
		t.Errorf("%d sessions kept, want %d", o.Sessions(), MaxSessions)
	}
	// Idle sessions are forgotten after twice the window.
	b, _ = NewSealer(testKey, 7).Seal(testTime.Add(3*time.Minute), *upProbe())
	if _, err := o.Open("p", b, testTime.Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if o.Sessions() != 1 {
		t.Errorf("%d sessions after 3 idle minutes, want 1", o.Sessions())
	}
}

func TestEncodeErrors(t *testing.T) {
	for name, f := range map[string]func(*Probe){
		"state":    func(p *Probe) { p.State = 9 },
		"mult":     func(p *Probe) { p.DetectMult = 0 },
		"interval": func(p *Probe) { p.TxInterval = time.Microsecond },
		"session":  func(p *Probe) { p.Session = 0 },
		"name":     func(p *Probe) { p.Name = "" },
		"long":     func(p *Probe) { p.Name = strings.Repeat("a", 256) },
		"many":     func(p *Probe) { p.Instances = make([]InstanceRole, MaxInstances+1) },
		"vrid":     func(p *Probe) { p.Instances[0].VRID = 0 },
		"time":     func(p *Probe) { p.Time = time.Time{} },
	} {
		p := upProbe()
		f(p)
		if _, err := Marshal(p); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := Marshal(nil); err == nil {
		t.Error("nil: no error")
	}
}

func FuzzDecode(f *testing.F) {
	for _, p := range []*Probe{upProbe(), goodbye()} {
		b, _ := Encode(testKey, p)
		f.Add(b)
		f.Add(hbproto.AppendTag(testKey, append(append([]byte(nil), b[:len(b)-TagSize]...), 0xAA, 0xBB)))
	}
	f.Add([]byte("TP\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, skipped, err := decode(b)
		if err != nil {
			if hbproto.Reason(err) == "other" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		re, err := Marshal(p)
		if err != nil {
			t.Fatalf("decoded probe does not re-encode: %v\n%+v", err, p)
		}
		if want := b[:len(b)-TagSize-skipped]; !bytes.Equal(re, want) {
			t.Fatalf("re-encoding differs\nin:  %x\nout: %x", want, re)
		}
		o := NewOpener(testKey, time.Hour)
		if q, err := o.Open("fuzz", hbproto.AppendTag(testKey, re), p.Time); err != nil {
			t.Fatalf("signed re-encoding does not open: %v", err)
		} else if diff := cmp.Diff(p, q); diff != "" {
			t.Fatalf("Open vs decode (-want +got)\n%s", diff)
		}
	})
}

// BenchmarkSealOpen: what one probe costs its sender and its receiver.
func BenchmarkSealOpen(b *testing.B) {
	s := NewSealer(testKey, 42)
	o := NewOpener(testKey, 0)
	p := *upProbe()
	b.ReportAllocs()
	for b.Loop() {
		d, err := s.Seal(testTime, p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := o.Open("p", d, testTime); err != nil {
			b.Fatal(err)
		}
	}
}
