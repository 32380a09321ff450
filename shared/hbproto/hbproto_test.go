package hbproto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/testutil"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// Fixed inputs of the test vectors (docs/heartbeat.md, "Test vectors").
var (
	testKey     = []byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10\x11\x12\x13\x14\x15\x16\x17\x18\x19\x1a\x1b\x1c\x1d\x1e\x1f")
	testSession = uint64(0x0123456789abcdef)
	testTime    = time.Date(2024, 1, 2, 3, 4, 5, 6, time.UTC)
)

func agentUp() *AgentReport {
	return &AgentReport{
		Node:   "web1",
		RealIP: netip.MustParseAddr("192.0.2.11"),
		State:  StateUp,
		Services: []ServiceHealth{
			{Service: "http", Healthy: true},
		},
	}
}

func agentMaint() *AgentReport {
	return &AgentReport{
		Node:   "web2.example.net",
		RealIP: netip.MustParseAddr("2001:db8::12"),
		State:  StateMaintenance,
		Reason: "maintenance on by root at 2024-01-02T03:00:00Z",
		Services: []ServiceHealth{
			{Service: "http", Healthy: true},
			{Service: "app", Healthy: false, Reason: "GET /health: 503"},
		},
	}
}

func agentWitness() *AgentReport {
	a := agentUp()
	a.Seen = []DirectorSeen{
		{Director: "lb1", Role: RoleMaster, Age: 312 * time.Millisecond},
		{Director: "lb2", Role: RoleBackup, Age: 0},
		{Director: "lb3", Role: RoleUnknown, Age: MaxSeenAge},
	}
	return a
}

func directorMaster() *DirectorReply {
	return &DirectorReply{
		Director: "lb1",
		Role:     RoleMaster,
		Destinations: []DestinationStatus{
			{Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort("192.0.2.11:80"), Weight: 0, ConfiguredWeight: 100, ActiveConns: 3, InactiveConns: 17, Pool: PoolDraining},
			{Service: "FWM 1", Addr: netip.MustParseAddrPort("192.0.2.11:0"), Weight: 1, ConfiguredWeight: 1, Pool: PoolUp},
			{Service: "UDP [2001:db8::1]:53", Addr: netip.MustParseAddrPort("[2001:db8::11]:53"), Weight: -1, ConfiguredWeight: 2147483647, ActiveConns: 4294967295, Pool: PoolMaintenance},
		},
	}
}

func hdr(t MsgType, seq uint64) Header {
	return Header{Version: Version, Type: t, SessionID: testSession, Seq: seq, Time: testTime}
}

// hexLines formats b as hex, 32 bytes a line.
func hexLines(b []byte) []byte {
	var out bytes.Buffer
	for len(b) > 0 {
		n := min(32, len(b))
		out.WriteString(hex.EncodeToString(b[:n]))
		out.WriteByte('\n')
		b = b[n:]
	}
	return out.Bytes()
}

func TestGolden(t *testing.T) {
	tests := []struct {
		name string
		msg  *Message
	}{
		{"agent_up", &Message{Header: hdr(TypeAgentReport, 1), Agent: agentUp()}},
		{"agent_maintenance", &Message{Header: hdr(TypeAgentReport, 1), Agent: agentMaint()}},
		{"agent_down_no_services", &Message{Header: hdr(TypeAgentReport, 1), Agent: &AgentReport{Node: "n", RealIP: netip.MustParseAddr("10.0.0.1"), State: StateDown, Reason: "check: connection refused"}}},
		{"director_master", &Message{Header: hdr(TypeDirectorReply, 1), Director: directorMaster()}},
		{"director_backup_empty", &Message{Header: hdr(TypeDirectorReply, 1), Director: &DirectorReply{Director: "lb2", Role: RoleBackup}}},
		// Version-1 extensions (docs/ha.md): the witness list, report_now.
		{"agent_witness", &Message{Header: hdr(TypeAgentReport, 1), Agent: agentWitness()}},
		{"director_report_now", &Message{Header: hdr(TypeDirectorReply, 1), Director: &DirectorReply{Director: "lb2", Role: RoleBackup, ReportNow: true}}},
		// Extension 2 (docs/heartbeat.md "Key scopes"): the echo, with
		// report_now written before it even when false.
		{"director_echo", &Message{Header: hdr(TypeDirectorReply, 1), Director: func() *DirectorReply {
			d := directorMaster()
			d.Echo = &ReplyEcho{Session: 0xfedcba9876543210, Seq: 42}
			return d
		}()}},
		{"director_echo_push", &Message{Header: hdr(TypeDirectorReply, 1), Director: &DirectorReply{Director: "lb2", Role: RoleBackup, ReportNow: true, Echo: &ReplyEcho{}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Encode(testKey, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "TestGolden_"+tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, hexLines(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			text, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run with -update to create)", err)
			}
			want, err := hex.DecodeString(strings.Join(strings.Fields(string(text)), ""))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if !bytes.Equal(want, got) {
				t.Errorf("encoding differs from %s (a wire change?)\nwant:\n%sgot:\n%s", path, hexLines(want), hexLines(got))
			}
			// The vector also decodes and opens to the message.
			o := NewOpener(testKey, 0)
			m, err := o.Open("golden", want, testTime.Add(time.Second))
			if err != nil {
				t.Fatalf("Open golden: %v", err)
			}
			if diff := cmp.Diff(tt.msg, m, cmpOpts); diff != "" {
				t.Errorf("Open golden (-want +got)\n%s", diff)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	long := strings.Repeat("é", MaxString/2) + "x" // 255 bytes
	tests := []struct {
		name string
		msg  *Message
	}{
		{"agent", &Message{Header: hdr(TypeAgentReport, 7), Agent: agentMaint()}},
		{"director", &Message{Header: hdr(TypeDirectorReply, 1<<63), Director: directorMaster()}},
		{"role unknown", &Message{Header: hdr(TypeDirectorReply, 2), Director: &DirectorReply{Director: "d", Role: RoleUnknown}}},
		{"v4 mapped stays v6", &Message{Header: hdr(TypeAgentReport, 1), Agent: &AgentReport{Node: "n", RealIP: netip.MustParseAddr("::ffff:192.0.2.1"), State: StateUp}}},
		{"max strings", &Message{Header: hdr(TypeAgentReport, 1), Agent: &AgentReport{Node: long, RealIP: netip.MustParseAddr("192.0.2.1"), State: StateDown, Reason: long,
			Services: []ServiceHealth{{Service: long, Reason: long}}}}},
		{"max services", &Message{Header: hdr(TypeAgentReport, 1), Agent: &AgentReport{Node: "n", RealIP: netip.MustParseAddr("192.0.2.1"), State: StateUp,
			Services: make([]ServiceHealth, MaxServices)}}},
		{"max destinations", &Message{Header: hdr(TypeDirectorReply, 1), Director: &DirectorReply{Director: "d", Role: RoleFault,
			Destinations: func() []DestinationStatus {
				d := make([]DestinationStatus, MaxDestinations)
				for i := range d {
					d[i] = DestinationStatus{Service: "TCP 192.0.2.100:443", Addr: netip.MustParseAddrPort("[2001:db8::11]:443"), Pool: PoolDrained}
				}
				return d
			}()}}},
		{"witness", &Message{Header: hdr(TypeAgentReport, 3), Agent: agentWitness()}},
		{"max seen", &Message{Header: hdr(TypeAgentReport, 1), Agent: &AgentReport{Node: "n", RealIP: netip.MustParseAddr("192.0.2.1"), State: StateUp,
			Seen: func() []DirectorSeen {
				s := make([]DirectorSeen, MaxSeen)
				for i := range s {
					s[i] = DirectorSeen{Director: long, Role: RoleFault, Age: time.Duration(i) * time.Hour}
				}
				return s
			}()}}},
		{"report now", &Message{Header: hdr(TypeDirectorReply, 9), Director: func() *DirectorReply { d := directorMaster(); d.ReportNow = true; return d }()}},
		{"echo", &Message{Header: hdr(TypeDirectorReply, 9), Director: &DirectorReply{Director: "d", Echo: &ReplyEcho{Session: 1<<64 - 1, Seq: 1}}}},
		{"negative time", &Message{Header: Header{Version: Version, Type: TypeAgentReport, Seq: 1, Time: time.Unix(0, -5).UTC()}, Agent: agentUp()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := Encode(testKey, tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if len(b) > MaxDatagram {
				t.Fatalf("encoded %d bytes, max %d", len(b), MaxDatagram)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.msg, got, cmpOpts); diff != "" {
				t.Errorf("Decode(Encode(m)) (-want +got)\n%s", diff)
			}
		})
	}
}

func TestMarshalDefaults(t *testing.T) {
	// Zero Version and Type are filled in.
	b, err := Marshal(&Message{Header: Header{Seq: 1, Time: testTime}, Director: &DirectorReply{Director: "d"}})
	if err != nil {
		t.Fatal(err)
	}
	if b[offVersion] != Version || MsgType(b[offType]) != TypeDirectorReply {
		t.Errorf("header % x: want version %d type %d", b[:4], Version, TypeDirectorReply)
	}
}

func TestSealOpen(t *testing.T) {
	s := NewSealer(testKey, testSession)
	o := NewOpener(testKey, 0)
	now := testTime
	for i := 1; i <= 3; i++ {
		b, err := s.SealAgent(now, agentUp())
		if err != nil {
			t.Fatal(err)
		}
		m, err := o.Open("192.0.2.11:40000", b, now)
		if err != nil {
			t.Fatalf("Open #%d: %v", i, err)
		}
		want := &Message{Header: Header{Version: Version, Type: TypeAgentReport, SessionID: testSession, Seq: uint64(i), Time: now}, Agent: agentUp()}
		if diff := cmp.Diff(want, m, cmpOpts); diff != "" {
			t.Errorf("Open #%d (-want +got)\n%s", i, diff)
		}
		now = now.Add(time.Second)
	}
	b, err := s.SealDirector(now, directorMaster())
	if err != nil {
		t.Fatal(err)
	}
	m, err := o.Open("192.0.2.1:7480", b, now)
	if err != nil {
		t.Fatal(err)
	}
	if m.Seq != 4 || m.Type != TypeDirectorReply || m.Agent != nil {
		t.Errorf("director reply: seq %d type %v agent %v; want 4 director-reply nil", m.Seq, m.Type, m.Agent)
	}
	if diff := cmp.Diff(directorMaster(), m.Director, cmpOpts); diff != "" {
		t.Errorf("director reply (-want +got)\n%s", diff)
	}
	if got := o.Sessions(); got != 1 {
		t.Errorf("Sessions() = %d, want 1", got)
	}
	if _, err := s.SealAgent(now, nil); err == nil {
		t.Error("SealAgent(nil): no error")
	}
}

// frame builds a datagram with the fixed test header around body, signed
// with testKey; mutate may change the header before signing.
func frame(typ MsgType, seq uint64, body []byte, mutate func(h []byte)) []byte {
	b := []byte{'T', 'H', Version, byte(typ), 0, 0, 0, 0}
	binary.BigEndian.PutUint16(b[offBodyLen:], uint16(len(body)))
	b = binary.BigEndian.AppendUint64(b, testSession)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(testTime.UnixNano()))
	b = append(b, body...)
	if mutate != nil {
		mutate(b)
	}
	return sign(testKey, b)
}

func sign(key, b []byte) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write(b)
	return mac.Sum(b)
}

func mustEncode(t *testing.T, m *Message) []byte {
	t.Helper()
	b, err := Encode(testKey, m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenRejects(t *testing.T) {
	good := mustEncode(t, &Message{Header: hdr(TypeAgentReport, 5), Agent: agentMaint()})
	goodDir := mustEncode(t, &Message{Header: hdr(TypeDirectorReply, 5), Director: directorMaster()})
	modify := func(b []byte, f func([]byte) []byte) []byte { return f(append([]byte(nil), b...)) }
	resign := func(b []byte, f func([]byte)) []byte {
		c := append([]byte(nil), b[:len(b)-TagSize]...)
		f(c)
		return sign(testKey, c)
	}
	agentBody := func(tail ...byte) []byte { // node "n", real_ip 10.0.0.1, then tail
		return append([]byte{1, 'n', 4, 10, 0, 0, 1}, tail...)
	}
	dirBody := func(tail ...byte) []byte { return append([]byte{1, 'd'}, tail...) }
	dest := func(pool byte) []byte {
		rec := []byte{0, 0, 1, 'S', 4, 192, 0, 2, 11, 0, 80, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, pool}
		binary.BigEndian.PutUint16(rec, uint16(len(rec)-2))
		return rec
	}
	tests := []struct {
		name   string
		b      []byte
		now    time.Time
		reason string
		field  string
	}{
		{"empty", nil, testTime, "truncated", "header"},
		{"bad magic", modify(good, func(b []byte) []byte { b[0] = 'X'; return b }), testTime, "malformed", "magic"},
		{"version 0", modify(good, func(b []byte) []byte { b[offVersion] = 0; return b }), testTime, "version", "version"},
		{"version 2", modify(good, func(b []byte) []byte { b[offVersion] = 2; return b }), testTime, "version", "version"},
		{"oversize", append(modify(good, func(b []byte) []byte { return b }), make([]byte, MaxDatagram)...), testTime, "malformed", "length"},
		{"bytes after tag", append(modify(good, func(b []byte) []byte { return b }), 0), testTime, "malformed", "length"},
		{"body_len above max", modify(good, func(b []byte) []byte { binary.BigEndian.PutUint16(b[offBodyLen:], MaxBody+1); return b }), testTime, "malformed", "body_len"},
		{"flipped body byte", modify(good, func(b []byte) []byte { b[HeaderSize+1] ^= 1; return b }), testTime, "mac", "mac"},
		{"flipped seq", modify(good, func(b []byte) []byte { b[offSeq+7] ^= 1; return b }), testTime, "mac", "mac"},
		{"flipped time", modify(good, func(b []byte) []byte { b[offTime+7] ^= 1; return b }), testTime, "mac", "mac"},
		{"flipped tag", modify(good, func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }), testTime, "mac", "mac"},
		{"wrong key", func() []byte {
			k := bytes.Repeat([]byte{7}, 32)
			b, _ := Encode(k, &Message{Header: hdr(TypeAgentReport, 5), Agent: agentUp()})
			return b
		}(), testTime, "mac", "mac"},
		{"flags set", resign(good, func(b []byte) { b[offFlags+1] = 1 }), testTime, "malformed", "flags"},
		{"type 0", resign(good, func(b []byte) { b[offType] = 0 }), testTime, "malformed", "type"},
		{"type 3", resign(good, func(b []byte) { b[offType] = 3 }), testTime, "malformed", "type"},
		{"too old", good, testTime.Add(DefaultWindow + time.Nanosecond), "stale", "time"},
		{"in the future", good, testTime.Add(-DefaultWindow - time.Nanosecond), "stale", "time"},
		{"agent body as director", resign(good, func(b []byte) { b[offType] = byte(TypeDirectorReply) }), testTime, "malformed", "role"},
		{"director body as agent", resign(goodDir, func(b []byte) { b[offType] = byte(TypeAgentReport) }), testTime, "malformed", "real_ip"},
		{"empty body", frame(TypeAgentReport, 1, nil, nil), testTime, "malformed", "node"},
		{"empty node", frame(TypeAgentReport, 1, []byte{0, 4, 10, 0, 0, 1, 1, 0, 0}, nil), testTime, "malformed", "node"},
		{"node past body", frame(TypeAgentReport, 1, []byte{9, 'n'}, nil), testTime, "malformed", "node"},
		{"node not utf8", frame(TypeAgentReport, 1, []byte{2, 0xc3, 0x28, 4, 10, 0, 0, 1, 1, 0, 0}, nil), testTime, "malformed", "node"},
		{"family 5", frame(TypeAgentReport, 1, []byte{1, 'n', 5, 10, 0, 0, 1, 1, 0, 0}, nil), testTime, "malformed", "real_ip"},
		{"short v6", frame(TypeAgentReport, 1, []byte{1, 'n', 6, 10, 0, 0, 1, 1, 0, 0}, nil), testTime, "malformed", "real_ip"},
		{"state 0", frame(TypeAgentReport, 1, agentBody(0, 0, 0), nil), testTime, "malformed", "state"},
		{"state 4", frame(TypeAgentReport, 1, agentBody(4, 0, 0), nil), testTime, "malformed", "state"},
		{"no reason", frame(TypeAgentReport, 1, agentBody(1), nil), testTime, "malformed", "reason"},
		{"no service count", frame(TypeAgentReport, 1, agentBody(1, 0), nil), testTime, "malformed", "services"},
		{"too many services", frame(TypeAgentReport, 1, agentBody(append([]byte{1, 0, MaxServices + 1}, make([]byte, 2*(MaxServices+1))...)...), nil), testTime, "malformed", "services"},
		{"service count past body", frame(TypeAgentReport, 1, agentBody(1, 0, 3, 0, 0), nil), testTime, "malformed", "services"},
		{"service record past body", frame(TypeAgentReport, 1, agentBody(1, 0, 1, 0, 9, 0, 0), nil), testTime, "malformed", "services"},
		{"service record empty", frame(TypeAgentReport, 1, agentBody(1, 0, 1, 0, 0), nil), testTime, "malformed", "services[0].service"},
		{"service bool 2", frame(TypeAgentReport, 1, agentBody(1, 0, 1, 0, 3, 0, 2, 0), nil), testTime, "malformed", "services[0].healthy"},
		{"service string past record", frame(TypeAgentReport, 1, agentBody(1, 0, 1, 0, 3, 0, 1, 5, 'a', 'b'), nil), testTime, "malformed", "services[0].reason"},
		{"too many seen", frame(TypeAgentReport, 1, agentBody(append([]byte{1, 0, 0, MaxSeen + 1}, make([]byte, 2*(MaxSeen+1))...)...), nil), testTime, "malformed", "seen"},
		{"seen record past body", frame(TypeAgentReport, 1, agentBody(1, 0, 0, 1, 0, 9, 1, 'd'), nil), testTime, "malformed", "seen"},
		{"seen empty director", frame(TypeAgentReport, 1, agentBody(1, 0, 0, 1, 0, 6, 0, 2, 0, 0, 0, 1), nil), testTime, "malformed", "seen[0].director"},
		{"seen role 4", frame(TypeAgentReport, 1, agentBody(1, 0, 0, 1, 0, 7, 1, 'd', 4, 0, 0, 0, 1), nil), testTime, "malformed", "seen[0].role"},
		{"seen age cut short", frame(TypeAgentReport, 1, agentBody(1, 0, 0, 1, 0, 5, 1, 'd', 2, 0, 0), nil), testTime, "malformed", "seen[0].age_ms"},
		{"report_now 2", frame(TypeDirectorReply, 1, dirBody(2, 0, 2), nil), testTime, "malformed", "report_now"},
		{"empty director", frame(TypeDirectorReply, 1, []byte{0, 2, 0}, nil), testTime, "malformed", "director"},
		{"role 4", frame(TypeDirectorReply, 1, dirBody(4, 0), nil), testTime, "malformed", "role"},
		{"too many destinations", frame(TypeDirectorReply, 1, dirBody(append([]byte{2, MaxDestinations + 1}, make([]byte, 2*(MaxDestinations+1))...)...), nil), testTime, "malformed", "destinations"},
		{"pool 0", frame(TypeDirectorReply, 1, dirBody(append([]byte{2, 1}, dest(0)...)...), nil), testTime, "malformed", "destinations[0].pool"},
		{"pool 6", frame(TypeDirectorReply, 1, dirBody(append([]byte{2, 2}, append(dest(1), dest(6)...)...)...), nil), testTime, "malformed", "destinations[1].pool"},
		{"dest cut short", frame(TypeDirectorReply, 1, dirBody(append([]byte{2, 1}, dest(1)[:20]...)...), nil), testTime, "malformed", "destinations"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOpener(testKey, 0)
			m, err := o.Open("198.51.100.7:9999", tt.b, tt.now)
			if err == nil {
				t.Fatalf("Open accepted %+v", m)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			got := struct{ Reason, Field, Peer string }{Reason(err), de.Field, de.Peer}
			want := struct{ Reason, Field, Peer string }{tt.reason, tt.field, "198.51.100.7:9999"}
			if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
				t.Errorf("error %q (-want +got)\n%s", err, diff)
			}
			if !strings.Contains(err.Error(), "198.51.100.7:9999") || !strings.Contains(err.Error(), tt.field) {
				t.Errorf("error %q does not name peer and field", err)
			}
			if o.Sessions() != 0 {
				t.Errorf("a rejected datagram created a session")
			}
		})
	}
}

func TestOpenAcceptsWindowEdges(t *testing.T) {
	for _, d := range []time.Duration{DefaultWindow, -DefaultWindow, 0} {
		o := NewOpener(testKey, 0)
		b := mustEncode(t, &Message{Header: hdr(TypeAgentReport, 1), Agent: agentUp()})
		if _, err := o.Open("p", b, testTime.Add(d)); err != nil {
			t.Errorf("skew %v: %v", d, err)
		}
	}
	o := NewOpener(testKey, time.Second)
	b := mustEncode(t, &Message{Header: hdr(TypeAgentReport, 1), Agent: agentUp()})
	if _, err := o.Open("p", b, testTime.Add(2*time.Second)); Reason(err) != "stale" {
		t.Errorf("window 1s, skew 2s: got %v, want stale", err)
	}
}

func TestReplay(t *testing.T) {
	o := NewOpener(testKey, 0)
	enc := func(session, seq uint64) []byte {
		h := hdr(TypeAgentReport, seq)
		h.SessionID = session
		return mustEncode(t, &Message{Header: h, Agent: agentUp()})
	}
	steps := []struct {
		name    string
		b       []byte
		wantErr string // Reason, "" for accepted
	}{
		{"first", enc(1, 5), ""},
		{"same again", enc(1, 5), "replay"},
		{"lower", enc(1, 4), "replay"},
		{"higher, gap", enc(1, 9), ""},
		{"other session, low seq", enc(2, 1), ""},
		{"first session replayed", enc(1, 9), "replay"},
		{"first session next", enc(1, 10), ""},
		{"malformed but authentic does not advance", frame(TypeAgentReport, 11, []byte{0}, func(h []byte) { binary.BigEndian.PutUint64(h[offSession:], 1) }), "malformed"},
		{"seq 11 still accepted", enc(1, 11), ""},
	}
	for _, s := range steps {
		_, err := o.Open("p", s.b, testTime)
		got := ""
		if err != nil {
			got = Reason(err)
		}
		if got != s.wantErr {
			t.Errorf("%s: got %q (%v), want %q", s.name, got, err, s.wantErr)
		}
	}
}

func TestSessionMemoryBounded(t *testing.T) {
	o := NewOpener(testKey, 0)
	o.env.max = 3
	open := func(session, seq uint64, now time.Time) error {
		h := hdr(TypeAgentReport, seq)
		h.SessionID, h.Time = session, now
		_, err := o.Open("p", mustEncode(t, &Message{Header: h, Agent: agentUp()}), now)
		return err
	}
	for s := uint64(1); s <= 5; s++ {
		if err := open(s, 1, testTime); err != nil {
			t.Fatal(err)
		}
	}
	if got := o.Sessions(); got != 3 {
		t.Errorf("Sessions() = %d, want 3", got)
	}
	// Session 5 is remembered; session 1 was the oldest and is forgotten.
	if err := open(5, 1, testTime); Reason(err) != "replay" {
		t.Errorf("session 5 seq 1 again: %v, want replay", err)
	}
	if err := open(1, 1, testTime); err != nil {
		t.Errorf("evicted session 1: %v", err)
	}
	// Idle more than twice the window: forgotten at the next Open.
	later := testTime.Add(2*DefaultWindow + time.Second)
	if err := open(9, 1, later); err != nil {
		t.Fatal(err)
	}
	if got := o.Sessions(); got != 1 {
		t.Errorf("after idle: Sessions() = %d, want 1", got)
	}
}

func TestTruncatedAtEveryLength(t *testing.T) {
	for _, m := range []*Message{
		{Header: hdr(TypeAgentReport, 1), Agent: agentMaint()},
		{Header: hdr(TypeDirectorReply, 1), Director: directorMaster()},
	} {
		b := mustEncode(t, m)
		o := NewOpener(testKey, 0)
		for n := 0; n < len(b); n++ {
			_, err := o.Open("p", b[:n], testTime)
			if Reason(err) != "truncated" {
				t.Errorf("%v cut to %d of %d bytes: %v, want truncated", m.Type, n, len(b), err)
			}
			if _, err := Decode(b[:n]); Reason(err) != "truncated" {
				t.Errorf("Decode %v cut to %d of %d bytes: %v, want truncated", m.Type, n, len(b), err)
			}
		}
	}
}

func TestExtensionsIgnored(t *testing.T) {
	// A version-1 sender that appends fields to the body and to each record.
	body := []byte{1, 'n', 4, 10, 0, 0, 1, byte(StateDown), 1, 'r', 2,
		0, 5, 1, 's', 1, 0, 0xEE, // record with one extra byte
		0, 3, 1, 't', 0, // record without reason: must fail, so below fixed
	}
	body = body[:len(body)-5]
	body = append(body, 0, 6, 1, 't', 0, 1, 'x', 0xEE)
	// The witness list (the first extension defined), itself with a record
	// extension byte, then bytes of a later extension.
	body = append(body, 1, 0, 9, 2, 'l', 'b', byte(RoleMaster), 0, 0, 0x01, 0xF4, 0xEE)
	body = append(body, 0xAA, 0xBB) // body extension
	b := frame(TypeAgentReport, 1, body, nil)
	m, skipped, err := decode(b)
	if err != nil {
		t.Fatal(err)
	}
	if skipped != 5 {
		t.Errorf("skipped %d bytes, want 5", skipped)
	}
	want := &Message{Header: hdr(TypeAgentReport, 1), Agent: &AgentReport{
		Node: "n", RealIP: netip.MustParseAddr("10.0.0.1"), State: StateDown, Reason: "r",
		Services: []ServiceHealth{{Service: "s", Healthy: true}, {Service: "t", Reason: "x"}},
		Seen:     []DirectorSeen{{Director: "lb", Role: RoleMaster, Age: 500 * time.Millisecond}},
	}}
	if diff := cmp.Diff(want, m, cmpOpts); diff != "" {
		t.Errorf("decode (-want +got)\n%s", diff)
	}
	if _, err := NewOpener(testKey, 0).Open("p", b, testTime); err != nil {
		t.Errorf("Open: %v", err)
	}
}

func TestEncodeErrors(t *testing.T) {
	long := strings.Repeat("a", MaxString+1)
	a := func(f func(*AgentReport)) *Message {
		r := agentUp()
		f(r)
		return &Message{Header: hdr(TypeAgentReport, 1), Agent: r}
	}
	d := func(f func(*DirectorReply)) *Message {
		r := directorMaster()
		f(r)
		return &Message{Header: hdr(TypeDirectorReply, 1), Director: r}
	}
	tests := []struct {
		name    string
		m       *Message
		want    string
		tooLong bool
	}{
		{"nil", nil, "nil message", false},
		{"no body", &Message{Header: hdr(TypeAgentReport, 1)}, "field type", false},
		{"both bodies", &Message{Header: hdr(0, 1), Agent: agentUp(), Director: directorMaster()}, "both", false},
		{"type mismatch", &Message{Header: hdr(TypeDirectorReply, 1), Agent: agentUp()}, "field type", false},
		{"version 2", &Message{Header: Header{Version: 2, Time: testTime}, Agent: agentUp()}, "field version", false},
		{"zero time", &Message{Header: Header{}, Agent: agentUp()}, "field time", false},
		{"empty node", a(func(r *AgentReport) { r.Node = "" }), "field node: empty", false},
		{"long node", a(func(r *AgentReport) { r.Node = long }), "field node: 256 bytes", false},
		{"bad utf8", a(func(r *AgentReport) { r.Reason = "\xff" }), "field reason: not valid UTF-8", false},
		{"no real ip", a(func(r *AgentReport) { r.RealIP = netip.Addr{} }), "field real_ip", false},
		{"zone", a(func(r *AgentReport) { r.RealIP = netip.MustParseAddr("fe80::1%eth0") }), "field real_ip", false},
		{"state 0", a(func(r *AgentReport) { r.State = 0 }), "field state", false},
		{"long service reason", a(func(r *AgentReport) { r.Services[0].Reason = long }), "field services[0].reason", false},
		{"too many services", a(func(r *AgentReport) { r.Services = make([]ServiceHealth, MaxServices+1) }), "field services", true},
		{"seen empty director", a(func(r *AgentReport) { r.Seen = []DirectorSeen{{Role: RoleMaster}} }), "field seen[0].director: empty", false},
		{"seen role 4", a(func(r *AgentReport) { r.Seen = []DirectorSeen{{Director: "d", Role: 4}} }), "field seen[0].role", false},
		{"too many seen", a(func(r *AgentReport) {
			r.Seen = make([]DirectorSeen, MaxSeen+1)
			for i := range r.Seen {
				r.Seen[i].Director = "d"
			}
		}), "field seen", true},
		{"empty director", d(func(r *DirectorReply) { r.Director = "" }), "field director", false},
		{"role 9", d(func(r *DirectorReply) { r.Role = 9 }), "field role", false},
		{"pool 0", d(func(r *DirectorReply) { r.Destinations[2].Pool = 0 }), "field destinations[2].pool", false},
		{"dest no addr", d(func(r *DirectorReply) { r.Destinations[1].Addr = netip.AddrPort{} }), "field destinations[1].addr", false},
		{"too many destinations", d(func(r *DirectorReply) { r.Destinations = make([]DestinationStatus, MaxDestinations+1) }), "field destinations", true},
		{"over the datagram", d(func(r *DirectorReply) {
			r.Destinations = make([]DestinationStatus, MaxDestinations)
			for i := range r.Destinations {
				r.Destinations[i] = DestinationStatus{Service: strings.Repeat("s", 100), Addr: netip.MustParseAddrPort("192.0.2.1:1"), Pool: PoolUp}
			}
		}), "body of", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Marshal(tt.m)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Marshal: %v, want error containing %q", err, tt.want)
			}
			if got := errors.Is(err, ErrTooLarge); got != tt.tooLong {
				t.Errorf("errors.Is(ErrTooLarge) = %v, want %v", got, tt.tooLong)
			}
		})
	}
}

func TestReasonAndError(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&DecodeError{Err: ErrTruncated}, "truncated"},
		{&DecodeError{Err: ErrVersion}, "version"},
		{&DecodeError{Err: ErrMAC}, "mac"},
		{&DecodeError{Err: ErrStale}, "stale"},
		{&DecodeError{Err: ErrReplay}, "replay"},
		{&DecodeError{Err: ErrMalformed}, "malformed"},
		{errors.New("x"), "other"},
		{nil, "other"},
	}
	for _, tt := range tests {
		if got := Reason(tt.err); got != tt.want {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
	e := decodeErr("seq", ErrReplay, "seq %d", 3)
	e.Peer = "192.0.2.1:1"
	if got, want := e.Error(), "heartbeat from 192.0.2.1:1: field seq: replay: seq 3"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestStrings(t *testing.T) {
	got := []string{StateUp.String(), StateDown.String(), StateMaintenance.String(), State(9).String(),
		RoleUnknown.String(), RoleBackup.String(), RoleMaster.String(), RoleFault.String(), Role(9).String(),
		PoolUp.String(), PoolDown.String(), PoolDraining.String(), PoolDrained.String(), PoolMaintenance.String(), PoolState(9).String(),
		TypeAgentReport.String(), TypeDirectorReply.String(), MsgType(9).String()}
	want := []string{"up", "down", "maintenance", "state(9)",
		"unknown", "backup", "master", "fault", "role(9)",
		"up", "down", "draining", "drained", "maintenance", "pool(9)",
		"agent-report", "director-reply", "type(9)"}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("String() (-want +got)\n%s", diff)
	}
}

func TestNewSessionID(t *testing.T) {
	a, err := NewSessionID()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewSessionID()
	if a == b {
		t.Errorf("two session ids are both %x", a)
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, content []byte, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // umask-proof
			t.Fatal(err)
		}
		return p
	}
	hexKey := []byte(strings.Repeat("ab", 32))
	tests := []struct {
		name    string
		path    string
		want    []byte
		wantErr string
	}{
		{"0600 raw", write("raw", testKey, 0o600), testKey, ""},
		{"0400 hex with newline", write("hex", append(hexKey, '\n'), 0o400), hexKey, ""},
		{"0644 refused", write("world", testKey, 0o644), nil, "mode 0644"},
		{"0640 refused", write("group", testKey, 0o640), nil, "mode 0640"},
		{"0604 refused", write("other", testKey, 0o604), nil, "mode 0604"},
		{"short", write("short", []byte(strings.Repeat("k", 31)+"\n"), 0o600), nil, "31 bytes, need at least 32"},
		{"empty", write("empty", nil, 0o600), nil, "0 bytes"},
		{"huge", write("huge", make([]byte, MaxKeyFileSize+1), 0o600), nil, "larger than"},
		{"missing", filepath.Join(dir, "nope"), nil, "no such file"},
		{"directory", dir, nil, "not a regular file"},
		{"fifo", fifo(t, filepath.Join(dir, "fifo")), nil, "not a regular file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := LoadKey(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("LoadKey: %v, want error containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("key %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkSealOpen(b *testing.B) {
	s := NewSealer(testKey, testSession)
	o := NewOpener(testKey, 0)
	r := agentMaint()
	b.ReportAllocs()
	for b.Loop() {
		d, err := s.SealAgent(testTime, r)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := o.Open("p", d, testTime); err != nil {
			b.Fatal(err)
		}
	}
}

// cmpOpts compares netip values, which have unexported fields, by ==.
var cmpOpts = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

// TestLoadKeyOwner: a key file owned by another user (who could rewrite it)
// is refused. Changing a file's owner needs root.
func TestLoadKeyOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to chown the key file to another user (make test runs as root)")
	}
	p := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(p, testKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(p); err == nil || !strings.Contains(err.Error(), "owned by uid 65534") {
		t.Fatalf("LoadKey of a key owned by uid 65534: %v", err)
	}
}

// TestDeriveKeys: derived keys are 64 hex digits, differ per address and
// scope, treat an IPv4-mapped address as IPv4, and match fixed vectors
// (docs/heartbeat.md, "Key scopes"; the secret is testKey).
func TestDeriveKeys(t *testing.T) {
	a := DeriveAgentKey(testKey, netip.MustParseAddr("192.0.2.11"))
	b := DeriveAgentKey(testKey, netip.MustParseAddr("192.0.2.12"))
	m := DeriveAgentKey(testKey, netip.MustParseAddr("::ffff:192.0.2.11"))
	d := DeriveDirectorKey(testKey)
	for _, k := range [][]byte{a, b, d} {
		if len(k) != 64 || strings.Trim(string(k), "0123456789abcdef") != "" {
			t.Errorf("derived key %q is not 64 lowercase hex digits", k)
		}
	}
	if bytes.Equal(a, b) || bytes.Equal(a, d) {
		t.Errorf("derived keys collide: %s %s %s", a, b, d)
	}
	if !bytes.Equal(a, m) {
		t.Errorf("IPv4-mapped address derives %s, IPv4 %s", m, a)
	}
	golden := fmt.Sprintf("agent 192.0.2.11 %s\nagent 2001:db8::11 %s\ndirector %s\n",
		a, DeriveAgentKey(testKey, netip.MustParseAddr("2001:db8::11")), d)
	testutil.Golden(t, "derive_keys", []byte(golden), *update)
}

// fifo makes a named pipe at path (a key file that would block a plain
// open until someone writes to it).
func fifo(t *testing.T, path string) string {
	t.Helper()
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
