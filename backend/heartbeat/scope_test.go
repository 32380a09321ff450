package heartbeat

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/shared/clock/clocktest"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The scoped-key tests: agents on loopback addresses (127/8 is local), each
// with the key the directors derive for it from the cluster secret.
var (
	secret = []byte("the cluster secret, directors only")
	ipA    = netip.MustParseAddr("127.0.0.21")
	ipB    = netip.MustParseAddr("127.0.0.22")
)

// scopedRig runs an agent at ip with its derived key against one fake
// director that opens reports with that key.
type scopedRig struct {
	a    *Agent
	d    *fakeDirector
	clk  *clocktest.Clock // the agent's
	from *net.UDPAddr     // the agent's socket, once it has reported
}

func newScopedRig(t *testing.T, ip netip.Addr) *scopedRig {
	t.Helper()
	d := newFakeDirector(t)
	k := hbproto.DeriveAgentKey(secret, ip)
	d.opener = hbproto.NewOpener(k, 0)
	clk := manual()
	a := New(quiet(), Settings{Key: k, Interval: time.Hour, Targets: []netip.AddrPort{d.addr()}, RealIP: ip}, Hooks{}, clk)
	conn, err := Listen(ip)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.RunConn(ctx, conn) }()
	t.Cleanup(func() { cancel(); <-done })
	return &scopedRig{a: a, d: d, clk: clk}
}

// report sets a report and returns the one the director receives (with its
// header) and when it arrived.
func (r *scopedRig) report(t *testing.T, st hbproto.State) (*hbproto.Message, time.Time) {
	t.Helper()
	r.r(st)
	for {
		m, from, at := r.d.next()
		r.from = from
		if m.Agent.State == st {
			return m, at
		}
	}
}

func (r *scopedRig) r(st hbproto.State) {
	r.a.SetReport(hbproto.AgentReport{Node: "n", RealIP: r.a.set.RealIP, State: st})
}

// deliver sends b to the agent and says whether it was taken as a reply
// (Changed closed) once the agent has handled it: taken, rejected or
// counted unechoed.
func (r *scopedRig) deliver(t *testing.T, b []byte) bool {
	t.Helper()
	handled := func() uint64 {
		st := r.a.Stats()
		n := st.Received + st.Unechoed
		for _, c := range st.Rejected {
			n += c
		}
		return n
	}
	before := handled()
	changed := r.a.Changed()
	if _, err := r.d.conn.WriteToUDP(b, r.from); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 2*time.Second, func() bool { return handled() > before }, "the agent did not handle the datagram: %+v", r.a.Stats())
	select {
	case <-changed:
		return true
	default:
		return false
	}
}

func drainedReply(ip netip.Addr, echo *hbproto.ReplyEcho) *hbproto.DirectorReply {
	return &hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster, Echo: echo, Destinations: []hbproto.DestinationStatus{
		{Service: "TCP 192.0.2.100:80", Addr: netip.AddrPortFrom(ip, 80), Weight: 0, ConfiguredWeight: 1, Pool: hbproto.PoolDrained}}}
}

// TestAgentSendsFromRealIP: the socket is bound to the real IP, so the
// director sees the report come from it; an address not on this host is a
// clear error naming it.
func TestAgentSendsFromRealIP(t *testing.T) {
	r := newScopedRig(t, ipA)
	r.report(t, hbproto.StateUp)
	if got := r.from.AddrPort().Addr().Unmap(); got != ipA {
		t.Errorf("report came from %s, want the real IP %s", got, ipA)
	}
	_, err := Listen(netip.MustParseAddr("192.0.2.250"))
	if err == nil || !strings.Contains(err.Error(), "cannot send from the real IP 192.0.2.250") {
		t.Errorf("Listen on a foreign address: %v", err)
	}
}

// TestAgentRejectsReplyForAnotherAgent: a reply captured on its way to
// agent A (sealed with A's key, echoing A's report) is delivered to B: B
// rejects it (mac) and its view does not change.
func TestAgentRejectsReplyForAnotherAgent(t *testing.T) {
	ra, rb := newScopedRig(t, ipA), newScopedRig(t, ipB)
	ma, _ := ra.report(t, hbproto.StateMaintenance)
	rb.report(t, hbproto.StateMaintenance)
	dir := hbproto.NewSealer(secret, 77)
	toA, err := dir.SealDirectorWith(hbproto.NewKey(hbproto.DeriveAgentKey(secret, ipA)), time.Now(), drainedReply(ipB, &hbproto.ReplyEcho{Session: ma.SessionID, Seq: ma.Seq}))
	if err != nil {
		t.Fatal(err)
	}
	if rb.deliver(t, toA) {
		t.Fatal("B took a reply sealed for A")
	}
	if n := rb.a.Stats().Rejected["mac"]; n != 1 {
		t.Errorf("B rejected %d as mac, want 1 (%+v)", n, rb.a.Stats())
	}
	if v := rb.a.Views()[0]; !v.LastReply.IsZero() || len(v.Destinations) != 0 {
		t.Errorf("B's view changed: %+v", v)
	}
	// A takes it.
	if !ra.deliver(t, toA) {
		t.Fatal("A rejected its own reply")
	}
}

// TestAgentForgedReplyCannotEndWait: rs B is in maintenance and waits for
// the drain. A reply forged with A's key, or sealed with B's key but
// echoing no report of B's (an old capture, a push), does not make the
// drain look done; the genuine answer to B's report does.
func TestAgentForgedReplyCannotEndWait(t *testing.T) {
	rb := newScopedRig(t, ipB)
	rb.report(t, hbproto.StateUp)
	since := rb.clk.Now() // maintenance begins; its report leaves a second later
	rb.clk.Advance(time.Second)
	m, _ := rb.report(t, hbproto.StateMaintenance)
	dir := hbproto.NewSealer(secret, 78)
	keyA, keyB := hbproto.NewKey(hbproto.DeriveAgentKey(secret, ipA)), hbproto.NewKey(hbproto.DeriveAgentKey(secret, ipB))
	echo := &hbproto.ReplyEcho{Session: m.SessionID, Seq: m.Seq}
	for name, tt := range map[string]struct {
		key  *hbproto.Key
		echo *hbproto.ReplyEcho
	}{
		"forged with A's key":        {keyA, echo},
		"B's key, echoing no report": {keyB, &hbproto.ReplyEcho{Session: m.SessionID, Seq: m.Seq + 1000}},
		"B's key, other session":     {keyB, &hbproto.ReplyEcho{Session: m.SessionID + 1, Seq: m.Seq}},
		"B's key, push":              {keyB, &hbproto.ReplyEcho{}},
	} {
		b, err := dir.SealDirectorWith(tt.key, time.Now(), drainedReply(ipB, tt.echo))
		if err != nil {
			t.Fatal(err)
		}
		if rb.deliver(t, b) {
			t.Errorf("%s: taken as a reply", name)
		}
		if st := maintenance.EvaluateDrain(rb.a.Views(), since); st.Done {
			t.Fatalf("%s: the wait would end: %+v", name, st)
		}
	}
	if st := rb.a.Stats(); st.Unechoed != 3 || st.Rejected["mac"] != 1 {
		t.Errorf("stats %+v, want 3 unechoed and 1 mac", st)
	}
	b, _ := dir.SealDirectorWith(keyB, time.Now(), drainedReply(ipB, echo))
	if !rb.deliver(t, b) {
		t.Fatal("the genuine reply was not taken")
	}
	if st := maintenance.EvaluateDrain(rb.a.Views(), since); !st.Done {
		t.Fatalf("genuine reply: not done: %+v", st)
	}
}

// TestAgentEvidenceTimeIsSendTime: a reply echoing a report counts as seen
// when that report was sent, however late it arrives; a reply echoing no
// recent report does not refresh the witness age, but its report_now is
// honoured.
func TestAgentEvidenceTimeIsSendTime(t *testing.T) {
	r := newScopedRig(t, ipA)
	r.report(t, hbproto.StateUp)
	r.clk.Advance(time.Second)
	sent := r.clk.Now() // the agent's clock moves only below: the report leaves now
	m, _ := r.report(t, hbproto.StateDown)
	dir := hbproto.NewSealer(secret, 79)
	k := hbproto.NewKey(hbproto.DeriveAgentKey(secret, ipA))
	r.clk.Advance(300 * time.Millisecond) // the reply is late
	b, _ := dir.SealDirectorWith(k, time.Now(), &hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster, Echo: &hbproto.ReplyEcho{Session: m.SessionID, Seq: m.Seq}})
	if !r.deliver(t, b) {
		t.Fatal("reply not taken")
	}
	seen := r.a.Views()[0].LastReply
	if !seen.Equal(sent) {
		t.Fatalf("seen at %v: not the send time of the report, %v (received %v later)", seen, sent, r.clk.Now().Sub(sent))
	}
	// A reply echoing nothing of ours, with report_now: no refresh, but a
	// report goes out at once (the interval is an hour).
	b, _ = dir.SealDirectorWith(k, time.Now(), &hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleBackup, ReportNow: true, Echo: &hbproto.ReplyEcho{Session: m.SessionID, Seq: 999}})
	if r.deliver(t, b) {
		t.Fatal("unechoed reply taken")
	}
	next, _, _ := r.d.next() // the report_now report
	if v := r.a.Views()[0]; !v.LastReply.Equal(seen) || v.Role != hbproto.RoleMaster {
		t.Errorf("unechoed reply changed the view: %+v", v)
	}
	if len(next.Agent.Seen) != 1 || next.Agent.Seen[0].Age != 300*time.Millisecond {
		t.Errorf("witness age %+v, want 300ms: refreshed by an unechoed reply", next.Agent.Seen)
	}
}

// TestAgentReportUTF8AndTooLarge: reasons cut mid-rune and non-UTF-8 text
// still make a report; a report that cannot be encoded at all becomes a
// minimal one with the state and a fixed reason, rather than nothing.
func TestAgentReportUTF8AndTooLarge(t *testing.T) {
	r := newScopedRig(t, ipA)
	reason := strings.Repeat("é", 127) + "€€" // 260 bytes; the cut at 255 falls inside a rune
	r.a.SetReport(hbproto.AgentReport{Node: "n\xff", RealIP: ipA, State: hbproto.StateDown, Reason: reason,
		Services: []hbproto.ServiceHealth{{Service: "www", Reason: "exit 1: \xc3\x28 garbage"}}})
	m, _, _ := r.d.next()
	if m.Agent.State != hbproto.StateDown || !utf8.ValidString(m.Agent.Reason) || len(m.Agent.Reason) > hbproto.MaxString ||
		!strings.HasPrefix(reason, m.Agent.Reason) || m.Agent.Node != "n\uFFFD" || !utf8.ValidString(m.Agent.Services[0].Reason) {
		t.Fatalf("report %+v", m.Agent)
	}
	long := strings.Repeat("x", 300)
	svcs := make([]hbproto.ServiceHealth, 100)
	for i := range svcs {
		svcs[i] = hbproto.ServiceHealth{Service: long, Reason: long}
	}
	r.a.SetReport(hbproto.AgentReport{Node: "n", RealIP: ipA, State: hbproto.StateMaintenance, Reason: "deploy", Services: svcs})
	got := r.d.nextWith(func(a *hbproto.AgentReport) bool { return a.State == hbproto.StateMaintenance })
	if got.Reason != MinimalReason || len(got.Services) != 0 {
		t.Fatalf("too large: %+v, want a minimal maintenance report", got)
	}
	if r.a.Stats().Minimal != 1 {
		t.Errorf("stats %+v", r.a.Stats())
	}
}
