package heartbeat

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/clock/clocktest"
	"github.com/tandemlb/tandem/shared/hbproto"
)

var (
	key    = []byte("0123456789abcdef0123456789abcdef")
	badKey = []byte("fedcba9876543210fedcba9876543210")
	realIP = netip.MustParseAddr("192.0.2.11")
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// manual returns a manual clock for an agent, at the real time: the fake
// directors seal and open with the system clock, within the window.
func manual() *clocktest.Clock { return clocktest.New(time.Now()) }

// fakeDirector is a UDP socket on loopback that opens agent reports and
// can answer with sealed replies.
type fakeDirector struct {
	t      *testing.T
	conn   *net.UDPConn
	opener *hbproto.Opener
}

func newFakeDirector(t *testing.T) *fakeDirector {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeDirector{t: t, conn: c, opener: hbproto.NewOpener(key, 0)}
}

func (d *fakeDirector) addr() netip.AddrPort { return d.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// next returns the next agent report and its source, within 2 s.
func (d *fakeDirector) next() (*hbproto.Message, *net.UDPAddr, time.Time) {
	d.t.Helper()
	buf := make([]byte, hbproto.MaxDatagram)
	d.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, from, err := d.conn.ReadFromUDP(buf)
	if err != nil {
		d.t.Fatalf("fake director: %v", err)
	}
	now := time.Now()
	m, err := d.opener.Open(from.String(), buf[:n], now)
	if err != nil {
		d.t.Fatalf("fake director: open: %v", err)
	}
	return m, from, now
}

func TestAgentSendsAndTracksReplies(t *testing.T) {
	d := newFakeDirector(t)
	var rejected []string
	rejCh := make(chan string, 10)
	clk := manual()
	a := New(quiet(), Settings{Key: key, Interval: time.Hour, Targets: []netip.AddrPort{d.addr()}, RealIP: realIP},
		Hooks{Rejected: func(_, reason string) { rejCh <- reason }}, clk)
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.RunConn(ctx, conn) }()
	defer func() { cancel(); <-done }()

	a.SetReport(hbproto.AgentReport{Node: "web1", RealIP: realIP, State: hbproto.StateUp,
		Services: []hbproto.ServiceHealth{{Service: "www", Healthy: true}}})
	m, from, _ := d.next()
	if m.Agent == nil || m.Agent.Node != "web1" || m.Agent.State != hbproto.StateUp {
		t.Fatalf("first report: %+v", m.Agent)
	}
	// A change goes out at once, though the interval is an hour: the
	// agent's clock does not move.
	a.SetReport(hbproto.AgentReport{Node: "web1", RealIP: realIP, State: hbproto.StateMaintenance, Reason: "maintenance: deploy"})
	for i := 0; ; i++ {
		m, _, _ = d.next()
		if m.Agent.State == hbproto.StateMaintenance {
			break
		}
		if i == 3 {
			t.Fatalf("no maintenance report: %+v", m.Agent)
		}
	}

	// The same report again is not sent again.
	a.SetReport(hbproto.AgentReport{Node: "web1", RealIP: realIP, State: hbproto.StateMaintenance, Reason: "maintenance: deploy"})

	// An accepted reply is kept, filtered to this server's destinations.
	sealer := hbproto.NewSealer(key, 42)
	reply := &hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster, Destinations: []hbproto.DestinationStatus{
		{Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort("192.0.2.11:80"), Weight: 0, ConfiguredWeight: 1, ActiveConns: 2, Pool: hbproto.PoolDraining},
		{Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort("192.0.2.12:80"), Weight: 1, ConfiguredWeight: 1, Pool: hbproto.PoolUp},
	}}
	b, err := sealer.SealDirector(time.Now(), reply)
	if err != nil {
		t.Fatal(err)
	}
	changed := a.Changed()
	if _, err := d.conn.WriteToUDP(b, from); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(2 * time.Second):
		t.Fatal("reply not accepted")
	}
	v := a.Views()[0]
	if v.Name != "lb1" || v.Role != hbproto.RoleMaster || len(v.Destinations) != 1 || v.Destinations[0].ActiveConns != 2 {
		t.Fatalf("view = %+v", v)
	}

	// Replayed, forged and foreign datagrams are rejected and counted.
	d.conn.WriteToUDP(b, from) // replay
	forged, _ := hbproto.NewSealer(badKey, 43).SealDirector(time.Now(), reply)
	d.conn.WriteToUDP(forged, from)
	stranger, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer stranger.Close()
	b2, _ := sealer.SealDirector(time.Now(), reply)
	stranger.WriteToUDP(b2, from)
	for i := 0; i < 3; i++ {
		select {
		case r := <-rejCh:
			rejected = append(rejected, r)
		case <-time.After(2 * time.Second):
			t.Fatalf("only %v rejected", rejected)
		}
	}
	want := map[string]bool{"replay": true, "mac": true, "unknown_peer": true}
	for _, r := range rejected {
		if !want[r] {
			t.Fatalf("rejected %v, want replay, mac, unknown_peer", rejected)
		}
		delete(want, r)
	}
	st := a.Stats()
	if st.Received != 1 || st.Rejected["replay"] != 1 || st.Rejected["mac"] != 1 || st.Sent < 1 || st.Sent > 3 { // the last increment may race with the read
		t.Fatalf("stats = %+v", st)
	}
}

func TestAgentDisabledWithoutKey(t *testing.T) {
	d := newFakeDirector(t)
	a := New(quiet(), Settings{Interval: 10 * time.Millisecond, Targets: []netip.AddrPort{d.addr()}}, Hooks{}, nil)
	if !a.Stats().Disabled {
		t.Fatal("agent without key not disabled")
	}
	conn, _ := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	a.SetReport(hbproto.AgentReport{Node: "web1", RealIP: realIP, State: hbproto.StateUp})
	if err := a.RunConn(ctx, conn); err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Sent != 0 {
		t.Fatalf("sent %d without a key", st.Sent)
	}
}

// TestAgentWitness: reports carry what each director last said (name, role,
// age, on the agent's clock); a report_now from one director gets a report
// to every director at once, and the next reply of the other director is
// relayed to the requester by one more report, to the requester only.
func TestAgentWitness(t *testing.T) {
	master, backup := newFakeDirector(t), newFakeDirector(t)
	clk := manual()
	a := New(quiet(), Settings{Key: key, Interval: time.Hour, Targets: []netip.AddrPort{master.addr(), backup.addr()}, RealIP: realIP}, Hooks{}, clk)
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.0.0.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- a.RunConn(ctx, conn) }()
	defer func() { cancel(); <-done }()

	a.SetReport(hbproto.AgentReport{Node: "web1", RealIP: realIP, State: hbproto.StateUp})
	m, from, _ := master.next()
	if len(m.Agent.Seen) != 0 {
		t.Fatalf("first report has witness data %+v before any reply", m.Agent.Seen)
	}
	backup.next()
	reply := func(d *fakeDirector, sealer *hbproto.Sealer, r *hbproto.DirectorReply) {
		t.Helper()
		changed := a.Changed()
		b, err := sealer.SealDirector(time.Now(), r)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.conn.WriteToUDP(b, from); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
		case <-time.After(2 * time.Second):
			t.Fatal("reply not accepted")
		}
	}
	ms, bs := hbproto.NewSealer(key, 1), hbproto.NewSealer(key, 2)
	reply(master, ms, &hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster})
	clk.Advance(20 * time.Millisecond)
	// The backup asks: a report goes to both at once, with lb1 MASTER.
	reply(backup, bs, &hbproto.DirectorReply{Director: "lb2", Role: hbproto.RoleBackup, ReportNow: true})
	two := func(r *hbproto.AgentReport) bool { return len(r.Seen) == 2 }
	seen := master.nextWith(two).Seen
	if len(seen) != 2 || seen[0].Director != "lb1" || seen[0].Role != hbproto.RoleMaster || seen[0].Age != 20*time.Millisecond ||
		seen[1].Director != "lb2" || seen[1].Role != hbproto.RoleBackup || seen[1].Age != 0 {
		t.Fatalf("report after report_now: seen %+v, want lb1 20ms ago, lb2 now", seen)
	}
	backup.nextWith(two)
	// The master answers that report: relayed to the backup with a fresh
	// age (a reply without the echo counts when received).
	clk.Advance(5 * time.Millisecond)
	reply(master, ms, &hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster})
	if s := func() *hbproto.Message { m, _, _ := backup.next(); return m }().Agent.Seen; len(s) != 2 || s[0].Director != "lb1" || s[0].Age != 0 {
		t.Fatalf("relayed report: seen %+v, want lb1 seen just now", s)
	}
	// Nothing more: not to the master, and no second relay.
	master.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	buf := make([]byte, hbproto.MaxDatagram)
	if n, _, err := master.conn.ReadFromUDP(buf); err == nil {
		t.Fatalf("unexpected datagram of %d bytes to the master", n)
	}
	reply(master, ms, &hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster})
	backup.conn.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, _, err := backup.conn.ReadFromUDP(buf); err == nil {
		t.Fatalf("second relay of %d bytes to the backup", n)
	}
}

// nextWith returns the next report for which ok holds, skipping at most 3.
func (d *fakeDirector) nextWith(ok func(*hbproto.AgentReport) bool) *hbproto.AgentReport {
	d.t.Helper()
	for range 4 {
		if m, _, _ := d.next(); ok(m.Agent) {
			return m.Agent
		}
	}
	d.t.Fatal("no matching report")
	return nil
}
