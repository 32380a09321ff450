package hbproto

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestAppendReplyIsSealDirector: a reply sealed from a template is byte
// for byte what SealDirectorWith makes of the same reply and echo (the
// wire format does not change), with report_now both ways and without
// destinations.
func TestAppendReplyIsSealDirector(t *testing.T) {
	k := NewKey(testKey)
	for _, r := range []*DirectorReply{directorMaster(), {Director: "lb2", Role: RoleBackup, ReportNow: true}} {
		tmpl, err := NewReplyTemplate(r)
		if err != nil {
			t.Fatal(err)
		}
		echo := ReplyEcho{Session: 0xfeedface, Seq: 42}
		c := *r
		c.Echo = &echo
		want, err := NewSealer(testKey, testSession).SealDirectorWith(k, testTime, &c)
		if err != nil {
			t.Fatal(err)
		}
		got := NewSealer(testKey, testSession).AppendReply([]byte("prefix"), k, testTime, tmpl, echo)
		if !bytes.Equal(got[6:], want) || string(got[:6]) != "prefix" {
			t.Errorf("AppendReply\n got %x\nwant %x", got[6:], want)
		}
		if tmpl.Size() != len(want) {
			t.Errorf("Size %d, datagram %d bytes", tmpl.Size(), len(want))
		}
		m, err := NewOpener(testKey, 0).Open("p", got[6:], testTime)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(&c, m.Director, cmpOpts); diff != "" {
			t.Errorf("decoded (-want +got)\n%s", diff)
		}
	}
}

// TestOpenSenderReplay: the per-sender replay state refuses a sequence
// number already seen, remembers senderSessions sessions, and after
// forgetting one (a fifth session) refuses a session it does not know
// whose time is not after the forgotten one's.
func TestOpenSenderReplay(t *testing.T) {
	o := NewOpener(testKey, time.Minute)
	ip := netip.MustParseAddr("192.0.2.11")
	keys := []*Key{NewKey(DeriveAgentKey(testKey, ip))}
	var st Sender
	seal := func(session, seq uint64, at time.Time) []byte {
		b, err := Encode(DeriveAgentKey(testKey, ip), &Message{Header: Header{Type: TypeAgentReport, SessionID: session, Seq: seq, Time: at}, Agent: agentUp()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	open := func(b []byte, now time.Time) error {
		_, _, err := o.OpenSender(&st, keys, b, now)
		return err
	}
	now := testTime
	first := seal(1, 1, now)
	if err := open(first, now); err != nil {
		t.Fatal(err)
	}
	if err := open(first, now); !errors.Is(err, ErrReplay) {
		t.Errorf("replay of seq 1: %v", err)
	}
	if err := open(seal(1, 2, now), now); err != nil {
		t.Errorf("seq 2: %v", err)
	}
	// Sessions 2..5 at later times: session 1 is pushed out.
	for s := uint64(2); s <= 5; s++ {
		now = now.Add(time.Second)
		if err := open(seal(s, 1, now), now); err != nil {
			t.Fatalf("session %d: %v", s, err)
		}
	}
	if err := open(seal(1, 3, testTime), now); !errors.Is(err, ErrReplay) {
		t.Errorf("a forgotten session's datagram: %v, want a replay", err)
	}
	if err := open(seal(6, 1, now.Add(time.Millisecond)), now); err != nil {
		t.Errorf("a new session: %v", err)
	}
	if err := open(seal(7, 1, now), now.Add(3*time.Minute)); !errors.Is(err, ErrStale) {
		t.Errorf("stale: %v", err)
	}
	b := seal(8, 1, now)
	b[len(b)-1] ^= 1
	if err := open(b, now); !errors.Is(err, ErrMAC) {
		t.Errorf("bad tag: %v", err)
	}
}

// BenchmarkFastPath is what a director pays per report on its fast path:
// open the report with the sender's prepared key and replay state, seal the
// reply from its template.
func BenchmarkFastPath(b *testing.B) {
	ip := netip.MustParseAddr("192.0.2.11")
	key := NewKey(DeriveAgentKey(testKey, ip))
	s := NewSealer(DeriveAgentKey(testKey, ip), testSession)
	o := NewOpener(testKey, time.Hour)
	d := NewSealer(testKey, 1)
	tmpl, err := NewReplyTemplate(directorMaster())
	if err != nil {
		b.Fatal(err)
	}
	var st Sender
	keys := []*Key{key}
	r := agentWitness()
	r.RealIP = ip
	dgrams := make([][]byte, 4096)
	for i := range dgrams {
		if dgrams[i], err = s.SealAgent(testTime, r); err != nil {
			b.Fatal(err)
		}
	}
	out := make([]byte, 0, MaxDatagram)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i == len(dgrams) {
			b.StopTimer()
			st = Sender{}
			i = 0
			b.StartTimer()
		}
		m, _, err := o.OpenSender(&st, keys, dgrams[i], testTime)
		if err != nil {
			b.Fatal(err)
		}
		i++
		out = d.AppendReply(out[:0], key, testTime, tmpl, ReplyEcho{Session: m.SessionID, Seq: m.Seq})
	}
}

// TestCheckShared: what the shared table accepted (OpenScoped, before the
// sender had a state of its own) is a replay for CheckShared; a later
// sequence number is not.
func TestCheckShared(t *testing.T) {
	o := NewOpener(testKey, time.Minute)
	ip := netip.MustParseAddr("192.0.2.11")
	keys := []*Key{NewKey(DeriveAgentKey(testKey, ip))}
	b, err := Encode(DeriveAgentKey(testKey, ip), &Message{Header: Header{Type: TypeAgentReport, SessionID: 7, Seq: 3, Time: testTime}, Agent: agentUp()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := o.OpenScoped("p", ip, keys, b, testTime); err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{1, 3} {
		if err := o.CheckShared(ip, 7, seq); !errors.Is(err, ErrReplay) {
			t.Errorf("seq %d after 3: %v, want a replay", seq, err)
		}
	}
	if err := o.CheckShared(ip, 7, 4); err != nil {
		t.Errorf("seq 4: %v", err)
	}
	if err := o.CheckShared(netip.MustParseAddr("192.0.2.12"), 7, 1); err != nil {
		t.Errorf("another sender's session: %v", err)
	}
}
