package hbproto

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func fuzzSeeds(f *testing.F) {
	for _, m := range []*Message{
		{Header: hdr(TypeAgentReport, 1), Agent: agentUp()},
		{Header: hdr(TypeAgentReport, 2), Agent: agentMaint()},
		{Header: hdr(TypeDirectorReply, 3), Director: directorMaster()},
		{Header: hdr(TypeAgentReport, 4), Agent: agentWitness()},
		{Header: hdr(TypeDirectorReply, 5), Director: &DirectorReply{Director: "lb2", ReportNow: true}},
		{Header: hdr(TypeDirectorReply, 6), Director: &DirectorReply{Director: "lb2", Echo: &ReplyEcho{Session: 9, Seq: 3}}},
		{Header: hdr(TypeDirectorReply, 7), Director: &DirectorReply{Director: "lb2", ReportNow: true, Echo: &ReplyEcho{}}},
	} {
		b, err := Encode(testKey, m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{})
	f.Add([]byte("TH\x01"))
	f.Add(frame(TypeAgentReport, 1, []byte{1, 'n', 4, 10, 0, 0, 1, 1, 0, 1, 0, 5, 1, 's', 1, 0, 0xEE, 0xAA}, nil))
	// Extensions present with their default value (not canonical), and
	// followed by later bytes.
	f.Add(frame(TypeAgentReport, 1, []byte{1, 'n', 4, 10, 0, 0, 1, 1, 0, 0, 0}, nil))
	f.Add(frame(TypeAgentReport, 1, []byte{1, 'n', 4, 10, 0, 0, 1, 1, 0, 0, 1, 0, 8, 1, 'd', 2, 0, 0, 0, 9, 0xEE, 0xAA}, nil))
	f.Add(frame(TypeDirectorReply, 1, []byte{1, 'd', 2, 0, 0}, nil))
	f.Add(frame(TypeDirectorReply, 1, []byte{1, 'd', 2, 0, 1, 0xAA}, nil))
	// Extension 2 (echo): complete and followed by later bytes, truncated.
	f.Add(frame(TypeDirectorReply, 1, []byte{1, 'd', 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 2, 0xAA}, nil))
	f.Add(frame(TypeDirectorReply, 1, []byte{1, 'd', 2, 0, 1, 0, 0, 0}, nil))
}

// FuzzDecode: Decode never panics, and a decoded message re-encodes to the
// same header and body (exactly, when no extension bytes were skipped).
func FuzzDecode(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		m, skipped, err := decode(b)
		if err != nil {
			if Reason(err) == "other" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		re, err := Marshal(m)
		if err != nil {
			t.Fatalf("decoded message does not re-encode: %v\n%+v", err, m)
		}
		if skipped == 0 {
			if !bytes.Equal(re, b[:len(b)-TagSize]) {
				t.Fatalf("re-encoding differs\nin:  %x\nout: %x", b[:len(b)-TagSize], re)
			}
			return
		}
		if len(re) != len(b)-TagSize-skipped {
			t.Fatalf("re-encoding is %d bytes, want %d - %d skipped", len(re), len(b)-TagSize, skipped)
		}
		m2, err := Decode(sign(testKey, re))
		if err != nil {
			t.Fatalf("re-encoding does not decode: %v", err)
		}
		if diff := cmp.Diff(m, m2, cmpOpts); diff != "" {
			t.Fatalf("decode(encode(m)) (-want +got)\n%s", diff)
		}
	})
}

// FuzzOpen: Open never panics, rejects whatever is not signed with the key,
// and, for signed input, agrees with Decode.
func FuzzOpen(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		o := NewOpener(testKey, time.Hour)
		m, err := o.Open("fuzz", b, testTime)
		if err == nil {
			d, derr := Decode(b)
			if derr != nil {
				t.Fatalf("Open accepted what Decode rejects: %v", derr)
			}
			if diff := cmp.Diff(d, m, cmpOpts); diff != "" {
				t.Fatalf("Open vs Decode (-want +got)\n%s", diff)
			}
			if _, err := o.Open("fuzz", b, testTime); Reason(err) != "replay" {
				t.Fatalf("second Open: %v, want replay", err)
			}
		}
		// Signing the fuzzed header+body with the key must give the same
		// verdict as Decode, except for time and replay.
		if len(b) >= HeaderSize+TagSize && len(b) <= MaxDatagram {
			s := sign(testKey, append([]byte(nil), b[:len(b)-TagSize]...))
			_, derr := Decode(s)
			_, oerr := NewOpener(testKey, 0).Open("fuzz", s, testTime)
			if derr == nil && oerr != nil && Reason(oerr) != "stale" {
				t.Fatalf("signed: Decode ok, Open %v", oerr)
			}
			if derr != nil && oerr == nil {
				t.Fatalf("signed: Decode %v, Open ok", derr)
			}
		}
	})
}
