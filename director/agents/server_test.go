package agents

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// testKey is the cluster secret; agents hold keys derived from it.
var testKey = []byte("0123456789abcdef0123456789abcdef")

// The agents of the tests are loopback addresses (127/8 is local on
// Linux), so that each sends from its own real IP.
var (
	rs1 = netip.MustParseAddr("127.0.0.11")
	rs2 = netip.MustParseAddr("127.0.0.12")
)

// agentKey is the key of the agent at ip.
func agentKey(ip netip.Addr) []byte { return hbproto.DeriveAgentKey(testKey, ip) }

// dialFrom opens a UDP socket bound to local (any port) connected to addr.
func dialFrom(t *testing.T, local netip.Addr, addr net.Addr) *net.UDPConn {
	t.Helper()
	c, err := net.DialUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(local, 0)), addr.(*net.UDPAddr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// fakeHandler records the reports it gets and, as the director does,
// publishes the view that reflects each (when s is set).
type fakeHandler struct {
	mu      sync.Mutex
	reports []Report
	s       *Server
}

func (f *fakeHandler) Report(r Report) {
	f.mu.Lock()
	f.reports = append(f.reports, r)
	s := f.s
	f.mu.Unlock()
	if s != nil {
		ip := r.Agent.RealIP
		s.Publish(map[netip.Addr]*View{ip: {Reply: f.Reply(ip), Report: &r.Agent, Peer: r.Peer, Legacy: r.Legacy}})
	}
}

func (f *fakeHandler) Reply(ip netip.Addr) hbproto.DirectorReply {
	r := hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster}
	if ip == rs1 {
		r.Destinations = []hbproto.DestinationStatus{{Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort("127.0.0.11:80"),
			Weight: 0, ConfiguredWeight: 1, ActiveConns: 3, InactiveConns: 7, Pool: hbproto.PoolDraining}}
	}
	return r
}

func start(t *testing.T, logs *testutil.SyncBuffer) (*Server, *fakeHandler, net.Addr) {
	t.Helper()
	return startWith(t, logs, Options{Key: testKey})
}

// startWith starts a server with opts (Log and LogEvery set here).
func startWith(t *testing.T, logs *testutil.SyncBuffer, opts Options) (*Server, *fakeHandler, net.Addr) {
	t.Helper()
	conn, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &fakeHandler{}
	opts.Log, opts.LogEvery = logger(logs), time.Hour
	s, err := New(conn, h, opts)
	if err != nil {
		t.Fatal(err)
	}
	// rs1 and rs2 are the configured real servers: published before any
	// report, as the director does.
	h.s = s
	s.Publish(map[netip.Addr]*View{rs1: {Reply: h.Reply(rs1)}, rs2: {Reply: h.Reply(rs2)}})
	runServer(t, s)
	return s, h, conn.LocalAddr()
}

func logger(logs *testutil.SyncBuffer) *slog.Logger { return slog.New(slog.NewTextHandler(logs, nil)) }

// runServer runs s until the test ends.
func runServer(t *testing.T, s *Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// exchange sends b and waits (bounded) for one reply, nil if none comes.
func exchange(t *testing.T, c net.Conn, b []byte, wait time.Duration) []byte {
	t.Helper()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(wait))
	buf := make([]byte, hbproto.MaxDatagram)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

func TestServerRepliesAndDrops(t *testing.T) {
	var logs testutil.SyncBuffer
	s, h, addr := start(t, &logs)
	c := dialFrom(t, rs1, addr)
	agent := hbproto.NewSealer(agentKey(rs1), 42)
	report := &hbproto.AgentReport{Node: "rs1", RealIP: rs1, State: hbproto.StateMaintenance, Reason: "deploy"}
	good, err := agent.SealAgent(time.Now(), report)
	if err != nil {
		t.Fatal(err)
	}
	out := exchange(t, c, good, 2*time.Second)
	if out == nil {
		t.Fatal("no reply to a valid report")
	}
	// The reply is sealed with rs1's key: rs2 (or the cluster key) cannot
	// open it.
	for name, k := range map[string][]byte{"rs2": agentKey(rs2), "cluster": testKey} {
		if _, err := hbproto.NewOpener(k, 0).Open("director", out, time.Now()); !errors.Is(err, hbproto.ErrMAC) {
			t.Errorf("reply to rs1 opened with the %s key: %v", name, err)
		}
	}
	m, err := hbproto.NewOpener(agentKey(rs1), 0).Open("director", out, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster, Destinations: []hbproto.DestinationStatus{{
		Service: "TCP 192.0.2.100:80", Addr: netip.MustParseAddrPort("127.0.0.11:80"), ConfiguredWeight: 1, ActiveConns: 3, InactiveConns: 7, Pool: hbproto.PoolDraining}},
		Echo: &hbproto.ReplyEcho{Session: 42, Seq: 1}}
	if diff := cmp.Diff(want, *m.Director, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("reply (-want +got)\n%s", diff)
	}
	h.mu.Lock()
	if len(h.reports) != 1 || h.reports[0].Agent.State != hbproto.StateMaintenance || h.reports[0].Agent.Node != "rs1" {
		t.Errorf("reports = %+v", h.reports)
	}
	h.mu.Unlock()

	// Replay, forged (other key), stale, garbage: no reply, counted.
	forged, _ := hbproto.NewSealer([]byte(strings.Repeat("x", 32)), 43).SealAgent(time.Now(), report)
	stale, _ := agent.SealAgent(time.Now().Add(-time.Hour), report)
	for name, b := range map[string][]byte{"replay": good, "forged": forged, "forged again": forged, "stale": stale, "garbage": []byte("hello")} {
		if out := exchange(t, c, b, 200*time.Millisecond); out != nil {
			t.Errorf("%s: got a reply", name)
		}
	}
	st := s.Stats()
	wantDropped := map[string]uint64{"replay": 1, "mac": 2, "stale": 1, "malformed": 1}
	if diff := cmp.Diff(wantDropped, st.Dropped); diff != "" || st.Accepted != 1 || st.Replies != 1 {
		t.Errorf("stats %+v; dropped (-want +got)\n%s", st, diff)
	}
	// Rate-limited: the second forged datagram is not logged.
	if n := strings.Count(logs.String(), "reason=mac"); n != 1 {
		t.Errorf("mac drops logged %d times, want 1:\n%s", n, logs.String())
	}
}

func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	good := write("good", strings.Repeat("k", 40)+"\n", 0o600)
	open := write("open", strings.Repeat("k", 40)+"\n", 0o644)
	short := write("short", "abc\n", 0o600)
	tests := []struct {
		name     string
		path     string
		insecure bool
		key      bool
		err      string
		log      string
	}{
		{"good", good, false, true, "", ""},
		{"world readable refused", open, false, false, "--insecure-heartbeat", ""},
		{"missing refused", filepath.Join(dir, "none"), false, false, "no such file", ""},
		{"short refused", short, false, false, "heartbeat key", ""},
		{"insecure: open file used loudly", open, true, true, "", "INSECURE"},
		{"insecure: missing disables loudly", filepath.Join(dir, "none"), true, false, "", "DISABLED"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			key, err := LoadKey(tt.path, tt.insecure, slog.New(slog.NewTextHandler(&logs, nil)))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || (key != nil) != tt.key {
				t.Fatalf("key %q err %v", key, err)
			}
			if !strings.Contains(logs.String(), tt.log) {
				t.Fatalf("log lacks %q: %s", tt.log, logs.String())
			}
		})
	}
}

// blockingHandler holds every report of blockIP until release is closed.
type blockingHandler struct {
	fakeHandler
	blockIP netip.Addr
	release chan struct{}
}

func (b *blockingHandler) Report(r Report) {
	if r.Agent.RealIP == b.blockIP {
		<-b.release
	}
	b.fakeHandler.Report(r)
}

// TestServerWorkers: an agent whose report the application holds does not
// hold up another agent's reply; a flood beyond its worker's queue is
// dropped as busy and counted, not lost unseen; the held reports are
// answered once released, in order.
func TestServerWorkers(t *testing.T) {
	conn, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held, other := rs1, rs2
	if workerOf(held) == workerOf(other) {
		other = netip.MustParseAddr("127.0.0.13")
		if workerOf(held) == workerOf(other) {
			t.Fatal("pick another address: same worker")
		}
	}
	h := &blockingHandler{blockIP: held, release: make(chan struct{})}
	s, err := New(conn, h, Options{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	released := false
	defer func() {
		if !released {
			close(h.release)
		}
	}()

	c := dialFrom(t, held, conn.LocalAddr())
	heldAgent := hbproto.NewSealer(agentKey(held), 7)
	const flood = workerQueue + 40
	for i := 0; i < flood; i++ {
		b, _ := heldAgent.SealAgent(time.Now(), &hbproto.AgentReport{Node: "held", RealIP: held, State: hbproto.StateUp})
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		if i%32 == 31 {
			testutil.Settle(5 * time.Millisecond) // let the reader keep up with the socket
		}
	}
	// Another agent is answered while the first one's reports are held.
	c2 := dialFrom(t, other, conn.LocalAddr())
	b, _ := hbproto.NewSealer(agentKey(other), 8).SealAgent(time.Now(), &hbproto.AgentReport{Node: "other", RealIP: other, State: hbproto.StateUp})
	if out := exchange(t, c2, b, 2*time.Second); out == nil {
		t.Fatal("the other agent got no reply while the first one's reports were held")
	}
	testutil.WaitFor(5*time.Second, func() bool { return s.Stats().Dropped[ReasonBusy] != 0 })
	busy := s.Stats().Dropped[ReasonBusy]
	if busy == 0 {
		t.Fatalf("a flood of %d reports past a queue of %d: none dropped as busy (stats %+v)", flood, workerQueue, s.Stats())
	}
	close(h.release)
	released = true
	// Every report not dropped is answered, in the order it came.
	buf := make([]byte, hbproto.MaxDatagram)
	opener := hbproto.NewOpener(agentKey(held), 0)
	var replies uint64
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	for {
		n, err := c.Read(buf)
		if err != nil {
			break
		}
		if _, err := opener.Open("director", buf[:n], time.Now()); err != nil {
			t.Fatalf("reply %d: %v (out of order?)", replies+1, err)
		}
		replies++
		if replies+busy == flood {
			break
		}
	}
	if replies+busy != flood {
		t.Errorf("%d replies + %d busy drops, want %d reports accounted for (stats %+v)", replies, busy, flood, s.Stats())
	}
	t.Logf("flood of %d: %d answered in order, %d dropped as busy", flood, replies, busy)
}
