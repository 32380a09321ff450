package heartbeat

import (
	"context"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The dual-stack tests: an agent speaking for 127.0.0.21 and ::1 (both
// local on loopback) to a director on 127.0.0.1 and one on [::1].
var ip6 = netip.MustParseAddr("::1")

// keyedDirector is a fake director that opens each report, as tandem-director
// does, with the key it derives for the datagram's source address (or with
// the one cluster key when legacy), requires real_ip to be that address,
// and answers with the same key.
type keyedDirector struct {
	t      *testing.T
	conn   *net.UDPConn
	legacy []byte // non-nil: open everything with this key
	sealer *hbproto.Sealer
}

// keyedReport is a report as a keyedDirector accepted it.
type keyedReport struct {
	msg  *hbproto.Message
	from netip.AddrPort
}

func newKeyedDirector(t *testing.T, listen string, legacy []byte) *keyedDirector {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort(listen)))
	if err != nil {
		t.Skipf("no %s on this host: %v", listen, err)
	}
	t.Cleanup(func() { c.Close() })
	return &keyedDirector{t: t, conn: c, legacy: legacy, sealer: hbproto.NewSealer(secret, 91)}
}

func (d *keyedDirector) addr() netip.AddrPort { return d.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (d *keyedDirector) keyFor(ip netip.Addr) []byte {
	if d.legacy != nil {
		return d.legacy
	}
	return hbproto.DeriveAgentKey(secret, ip)
}

// next returns the next report whose state is st, within 2 s; any report
// that does not open with the sender's key, or says another real_ip, fails
// the test.
func (d *keyedDirector) next(st hbproto.State) keyedReport {
	d.t.Helper()
	buf := make([]byte, hbproto.MaxDatagram)
	d.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
	for {
		n, from, err := d.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			d.t.Fatalf("director %s: %v", d.addr(), err)
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		m, err := hbproto.NewOpener(d.keyFor(from.Addr()), 0).Open(from.String(), buf[:n], time.Now())
		if err != nil {
			d.t.Fatalf("director %s: report from %s does not open with its key: %v", d.addr(), from, err)
		}
		if m.Agent == nil || m.Agent.RealIP != from.Addr() {
			d.t.Fatalf("director %s: report from %s says real_ip %v", d.addr(), from, m.Agent)
		}
		if m.Agent.State == st {
			return keyedReport{m, from}
		}
	}
}

// answer sends rep to the agent that sent r, echoing r, sealed with key.
func (d *keyedDirector) answer(r keyedReport, key []byte, rep hbproto.DirectorReply) {
	d.t.Helper()
	rep.Echo = &hbproto.ReplyEcho{Session: r.msg.SessionID, Seq: r.msg.Seq}
	b, err := d.sealer.SealDirectorWith(hbproto.NewKey(key), time.Now(), &rep)
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.conn.WriteToUDPAddrPort(b, r.from); err != nil {
		d.t.Fatal(err)
	}
}

// bothDests is a reply that lists a destination at each of the agent's
// addresses: each identity keeps only its own.
func bothDests(active uint32) hbproto.DirectorReply {
	return hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster, Destinations: []hbproto.DestinationStatus{
		{Service: "TCP 192.0.2.100:80", Addr: netip.AddrPortFrom(ipA, 80), ConfiguredWeight: 1, ActiveConns: active, Pool: hbproto.PoolDraining},
		{Service: "TCP [2001:db8::100]:80", Addr: netip.AddrPortFrom(ip6, 80), ConfiguredWeight: 1, ActiveConns: active, Pool: hbproto.PoolDraining},
	}}
}

func runAgent(t *testing.T, a *Agent) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// waitReplies waits until the agent has taken n replies in all.
func waitReplies(t *testing.T, a *Agent, n uint64) {
	t.Helper()
	testutil.Eventually(t, 2*time.Second, func() bool { return a.Stats().Received >= n }, "replies taken: %+v", a.Stats())
}

// TestAgentDualStack: with scoped keys, the report to the IPv4 director
// leaves from real_ip sealed with its key, the one to the IPv6 director
// from real_ip6 sealed with key_file6's; both say the same, each with its
// sender as real_ip. Each director's reply is kept for the destinations at
// that family's address only; a reply sealed with the other identity's
// key is rejected. A director named in both families is one witness.
func TestAgentDualStack(t *testing.T) {
	d4, d6 := newKeyedDirector(t, "127.0.0.1:0", nil), newKeyedDirector(t, "[::1]:0", nil)
	k4, k6 := hbproto.DeriveAgentKey(secret, ipA), hbproto.DeriveAgentKey(secret, ip6)
	a := New(quiet(), Settings{Key: k4, Key6: k6, Interval: time.Hour, Targets: []netip.AddrPort{d4.addr(), d6.addr()},
		RealIP: ipA, RealIP6: ip6}, Hooks{}, manual())
	runAgent(t, a)
	// The report as the wiring gives it: real_ip is the IPv4 identity.
	a.SetReport(hbproto.AgentReport{Node: "web1", RealIP: ipA, State: hbproto.StateMaintenance, Reason: "maintenance: deploy",
		Services: []hbproto.ServiceHealth{{Service: "www", Healthy: true}}})
	r4, r6 := d4.next(hbproto.StateMaintenance), d6.next(hbproto.StateMaintenance)
	if r4.from.Addr() != ipA || r6.from.Addr() != ip6 {
		t.Fatalf("reports came from %s and %s, want %s and %s", r4.from, r6.from, ipA, ip6)
	}
	if r4.msg.Agent.Reason != r6.msg.Agent.Reason || r4.msg.Agent.Node != r6.msg.Agent.Node ||
		!slices.Equal(r4.msg.Agent.Services, r6.msg.Agent.Services) {
		t.Errorf("the two reports differ: %+v and %+v", r4.msg.Agent, r6.msg.Agent)
	}
	if st := a.Stats(); st.SessionID == 0 || st.SessionID6 == 0 || st.SessionID == st.SessionID6 ||
		r4.msg.SessionID != st.SessionID || r6.msg.SessionID != st.SessionID6 {
		t.Errorf("sessions %d/%d, reports' %d/%d: want one per identity", st.SessionID, st.SessionID6, r4.msg.SessionID, r6.msg.SessionID)
	}

	// A reply to the IPv6 identity sealed with the IPv4 identity's key is
	// not taken (mac); the genuine ones are, each for its own address.
	d6.answer(r6, k4, bothDests(0))
	testutil.Eventually(t, 2*time.Second, func() bool { return a.Stats().Rejected["mac"] == 1 }, "the wrongly keyed reply: %+v", a.Stats())
	d4.answer(r4, k4, bothDests(0))
	d6.answer(r6, k6, bothDests(3))
	waitReplies(t, a, 2)
	views := a.Views()
	if len(views) != 2 || len(views[0].Destinations) != 1 || len(views[1].Destinations) != 1 ||
		views[0].Destinations[0].Addr.Addr() != ipA || views[1].Destinations[0].Addr.Addr() != ip6 {
		t.Fatalf("views %+v: want the IPv4 director's destination at %s and the IPv6 one's at %s", views, ipA, ip6)
	}
	// The drain waits for the IPv6 real server's connections too.
	since := time.Now().Add(-time.Hour)
	if st := maintenance.EvaluateDrain(views, since); st.Done {
		t.Fatalf("drain done with 3 active connections at %s: %+v", ip6, st)
	}

	// The next report names lb1 once, though it answered on both addresses.
	a.SetReport(hbproto.AgentReport{Node: "web1", RealIP: ipA, State: hbproto.StateDown, Reason: "x"})
	next := d4.next(hbproto.StateDown)
	if len(next.msg.Agent.Seen) != 1 || next.msg.Agent.Seen[0].Director != "lb1" {
		t.Errorf("witness field %+v, want lb1 once", next.msg.Agent.Seen)
	}
	if n := d6.next(hbproto.StateDown); n.from.Addr() != ip6 {
		t.Errorf("down report to the IPv6 director from %s", n.from)
	}
}

// TestAgentDualStackLegacyKey: without key_file6 the one key serves both
// identities, as the legacy cluster key does (a director with
// agent_keys both or cluster accepts it from any address).
func TestAgentDualStackLegacyKey(t *testing.T) {
	cluster := []byte("the legacy cluster key, 32 bytes or more")
	d4, d6 := newKeyedDirector(t, "127.0.0.1:0", cluster), newKeyedDirector(t, "[::1]:0", cluster)
	a := New(quiet(), Settings{Key: cluster, Interval: time.Hour, Targets: []netip.AddrPort{d4.addr(), d6.addr()},
		RealIP: ipA, RealIP6: ip6}, Hooks{}, manual())
	runAgent(t, a)
	a.SetReport(hbproto.AgentReport{Node: "web1", RealIP: ipA, State: hbproto.StateUp})
	r4, r6 := d4.next(hbproto.StateUp), d6.next(hbproto.StateUp)
	if r4.from.Addr() != ipA || r6.from.Addr() != ip6 {
		t.Fatalf("reports came from %s and %s", r4.from, r6.from)
	}
	d6.answer(r6, cluster, bothDests(0))
	waitReplies(t, a, 1)
	if v := a.Views()[1]; v.Name != "lb1" || len(v.Destinations) != 1 || v.Destinations[0].Addr.Addr() != ip6 {
		t.Errorf("IPv6 director's view %+v", v)
	}
}

// TestAgentDualStackReload: an IPv6 director added by a reload gets
// reports from real_ip6 at once, on a socket bound for it, and the IPv4
// director still gets them from real_ip.
func TestAgentDualStackReload(t *testing.T) {
	d4, d6 := newKeyedDirector(t, "127.0.0.1:0", nil), newKeyedDirector(t, "[::1]:0", nil)
	k4, k6 := hbproto.DeriveAgentKey(secret, ipA), hbproto.DeriveAgentKey(secret, ip6)
	s := Settings{Key: k4, Key6: k6, Interval: time.Hour, Targets: []netip.AddrPort{d4.addr()}, RealIP: ipA}
	a := New(quiet(), s, Hooks{}, manual())
	runAgent(t, a)
	a.SetReport(hbproto.AgentReport{Node: "web1", RealIP: ipA, State: hbproto.StateUp})
	d4.next(hbproto.StateUp)
	if a.Stats().SessionID6 != 0 {
		t.Errorf("an IPv6 session without IPv6 directors: %+v", a.Stats())
	}
	s.Targets, s.RealIP6 = append(s.Targets, d6.addr()), ip6
	a.Update(s)
	if r := d6.next(hbproto.StateUp); r.from.Addr() != ip6 {
		t.Fatalf("after the reload: report from %s, want %s", r.from, ip6)
	}
	if r := d4.next(hbproto.StateUp); r.from.Addr() != ipA {
		t.Fatalf("after the reload: IPv4 report from %s, want %s", r.from, ipA)
	}
}
