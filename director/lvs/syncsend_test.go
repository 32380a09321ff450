package lvs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gocmp "github.com/google/go-cmp/cmp"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/net/ipv4"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/shared/nsutil"
	"github.com/tandemlb/tandem/shared/testutil"
)

type recordingWriter struct {
	writes [][]byte
	failAt int // 1-based; 0 never
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if len(w.writes)+1 == w.failAt {
		return 0, errors.New("no buffer space")
	}
	w.writes = append(w.writes, b)
	return len(b), nil
}

func TestSendPaced(t *testing.T) {
	msgs := make([][]byte, 100)
	for i := range msgs {
		msgs[i] = []byte{byte(i)}
	}
	var pauses []int // how many messages had gone out at each pause
	w := &recordingWriter{}
	wait := func(_ context.Context, d time.Duration) error {
		if d != 3*time.Millisecond {
			t.Errorf("pause %v, want 3ms", d)
		}
		pauses = append(pauses, len(w.writes))
		return nil
	}
	n, err := sendPaced(context.Background(), w, msgs, 16, 3*time.Millisecond, wait)
	if err != nil || n != 100 || len(w.writes) != 100 {
		t.Fatalf("sent %d (%d writes), %v", n, len(w.writes), err)
	}
	if diff := gocmp.Diff([]int{16, 32, 48, 64, 80, 96}, pauses); diff != "" {
		t.Errorf("pauses (-want +got)\n%s", diff)
	}
	for i, m := range w.writes {
		if m[0] != byte(i) {
			t.Fatalf("write %d is message %d", i, m[0])
		}
	}

	// A write error stops the sending and says how far it got.
	w = &recordingWriter{failAt: 40}
	n, err = sendPaced(context.Background(), w, msgs, 16, time.Millisecond, func(context.Context, time.Duration) error { return nil })
	if n != 39 || err == nil {
		t.Errorf("write error: sent %d, %v; want 39 and the error", n, err)
	}
	// So does the deadline, in a pause.
	w = &recordingWriter{}
	n, err = sendPaced(context.Background(), w, msgs, 16, time.Millisecond, func(context.Context, time.Duration) error { return context.DeadlineExceeded })
	if n != 16 || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline: sent %d, %v; want 16 and the deadline", n, err)
	}
}

func TestSyncEntries(t *testing.T) {
	table := syncTestTable(20000)
	entries, skipped, first := syncEntries(table, nil)
	if len(entries) != 19998 || skipped != 2 || first == nil || !strings.Contains(first.Error(), "not of the client's family") {
		t.Fatalf("%d entries, %d skipped, first %v; want 19998, 2, a mixed-family error", len(entries), skipped, first)
	}
	if entries[0].Flags != 0x83 {
		t.Errorf("nil info: flags %#x, want direct routing's 0x83", entries[0].Flags)
	}
	entries, _, _ = syncEntries(table[:1], func(Conn) ConnInfo { return ConnInfo{Forward: ForwardTunnel, FWMark: 5} })
	if entries[0].Flags != 0x82 || entries[0].FWMark != 5 {
		t.Errorf("tunnel, mark 5: flags %#x, mark %d", entries[0].Flags, entries[0].FWMark)
	}
}

func TestSyncMaxLen(t *testing.T) {
	for _, tt := range []struct {
		mtu  int
		v6   bool
		want int
	}{{1500, false, 1472}, {9000, false, 1472}, {1500, true, 1452}, {1400, false, 1372}, {0, false, 1472}} {
		if got := syncMaxLen(tt.mtu, tt.v6); got != tt.want {
			t.Errorf("syncMaxLen(%d, %v) = %d, want %d", tt.mtu, tt.v6, got, tt.want)
		}
	}
}

func TestNewSyncSenderRefuses(t *testing.T) {
	for _, tt := range []struct {
		cfg SyncSenderConfig
		err string
	}{
		{SyncSenderConfig{}, `interface name ""`},
		{SyncSenderConfig{Interface: "a-very-long-name0"}, "want 1-15 bytes"},
		{SyncSenderConfig{Interface: "lo", Group: netip.MustParseAddrPort("192.0.2.1:8848")}, "not a multicast address"},
		{SyncSenderConfig{Interface: "lo", Group: netip.MustParseAddrPort("224.0.0.81:0")}, "not a multicast address"},
		{SyncSenderConfig{Interface: "nosuch0"}, "interface nosuch0"},
		{SyncSenderConfig{Interface: "lo", MaxLen: 100}, "message size 100"},
	} {
		s, err := NewSyncSender(tt.cfg)
		if err == nil {
			s.Close()
		}
		if err == nil || !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%+v: %v, want %q", tt.cfg, err, tt.err)
		}
	}
}

// syncTestTable is n connections of the kinds a DR director has: IPv4
// TCP in three states, IPv6 TCP, a template every 1,000, and one every
// 10,000 that the kernel cannot sync (an IPv6 service with an IPv4 real
// server).
func syncTestTable(n int) []Conn {
	states := []struct {
		name    string
		expires uint32
	}{{"ESTABLISHED", 900}, {"SYN_RECV", 60}, {"FIN_WAIT", 120}}
	var out []Conn
	for i := range n {
		v4client := netip.AddrFrom4([4]byte{198, 51, byte(i >> 16), byte(i >> 8)})
		port := uint16(1024 + i%60000)
		st := states[i%3]
		switch {
		case i%10000 == 9999:
			out = append(out, Conn{Protocol: "TCP", Client: netip.MustParseAddrPort("[2001:db8::1]:1234"), Virtual: netip.MustParseAddrPort("[2001:db8::100]:80"),
				Dest: netip.AddrPortFrom(rs1, 80), State: "ESTABLISHED", Expires: 900})
		case i%1000 == 999:
			out = append(out, Conn{Protocol: "TCP", Client: netip.AddrPortFrom(v4client, 0), Virtual: netip.MustParseAddrPort("192.0.2.100:443"),
				Dest: netip.AddrPortFrom(rs1, 443), State: "NONE", Expires: 300})
		case i%7 == 3:
			out = append(out, Conn{Protocol: "TCP", Client: netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 13: byte(i >> 16), 14: byte(i >> 8), 15: byte(i)}), port),
				Virtual: netip.MustParseAddrPort("[2001:db8::100]:80"), Dest: netip.MustParseAddrPort("[2001:db8::b]:80"), State: st.name, Expires: st.expires - uint32(i%50)})
		default:
			out = append(out, Conn{Protocol: "TCP", Client: netip.AddrPortFrom(v4client, port), Virtual: netip.MustParseAddrPort("192.0.2.100:80"),
				Dest: netip.AddrPortFrom([]netip.Addr{rs1, rs2}[i%2], 80), State: st.name, Expires: st.expires - uint32(i%50)})
		}
	}
	return out
}

type received struct {
	msg      []byte
	src, dst net.IP
	ttl      int
}

// listenSync joins the default sync group on ifname in ns (the current
// namespace if ns is not open) and collects what arrives until the test
// ends.
func listenSync(t *testing.T, ns netns.NsHandle, ifname string) func() []received {
	t.Helper()
	var ln *net.UDPConn
	err := nsutil.Do(ns, func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		ln, err = net.ListenMulticastUDP("udp4", ifi, net.UDPAddrFromAddrPort(DefaultSyncGroup))
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s: %v", ifname, err)
	}
	pc := ipv4.NewPacketConn(ln)
	if err := pc.SetControlMessage(ipv4.FlagTTL|ipv4.FlagDst|ipv4.FlagSrc, true); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []received
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			n, cm, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			r := received{msg: append([]byte(nil), buf[:n]...)}
			if cm != nil {
				r.src, r.dst, r.ttl = cm.Src, cm.Dst, cm.TTL
			}
			mu.Lock()
			got = append(got, r)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return func() []received {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

// TestNetnsSyncSender: the sender in one namespace, a plain multicast
// listener joined to 224.0.0.81:8848 on the peer's end of a veth pair in
// another; 100,000 connections go out paced in well under a second, in
// messages of at most 1472 bytes with TTL 1 from the interface's address,
// and decode back to the table sent; a listener on the sender's own
// interface gets nothing (multicast loop off).
func TestNetnsSyncSender(t *testing.T) {
	testutil.Netns(t)
	peerNS := syncLink(t, []string{"10.77.0.1/24"}, []string{"10.77.0.2/24"})

	peer := listenSync(t, peerNS, "sync1")
	self := listenSync(t, netns.None(), "sync0")
	s, err := NewSyncSender(SyncSenderConfig{Interface: "sync0", SyncID: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.MaxLen() != 1472 {
		t.Errorf("MaxLen %d, want 1472 (veth MTU 1500)", s.MaxLen())
	}

	table := syncTestTable(100000)
	var want []SyncConn
	for _, c := range table {
		if sc, err := SyncConnFromConn(c, ConnInfo{}); err == nil {
			want = append(want, sc)
		}
	}
	start := time.Now()
	sent, msgs, err := s.SendConns(table, nil)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d of %d connections in %d messages in %v", sent, len(table), msgs, took)
	if sent != len(want) || sent != len(table)-10 {
		t.Errorf("sent %d connections, want %d (all but the 10 of mixed families)", sent, len(want))
	}
	if took > time.Second {
		t.Errorf("sending took %v, want well under a second", took)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return len(peer()) >= msgs }, "%d of %d messages received", len(peer()), msgs)

	var got []SyncConn
	for i, r := range peer() {
		if len(r.msg) > 1472 || r.ttl != 1 || !r.src.Equal(net.ParseIP("10.77.0.1")) || !r.dst.Equal(net.IPv4(224, 0, 0, 81)) {
			t.Fatalf("message %d: %d bytes, TTL %d, %v -> %v; want at most 1472 bytes, TTL 1, 10.77.0.1 -> 224.0.0.81", i, len(r.msg), r.ttl, r.src, r.dst)
		}
		id, cs, err := DecodeSyncMessage(r.msg)
		if err != nil || id != 7 {
			t.Fatalf("message %d: sync ID %d, %v", i, id, err)
		}
		got = append(got, cs...)
	}
	if len(peer()) != msgs {
		t.Errorf("%d messages received, %d sent", len(peer()), msgs)
	}
	// One sender, one veth: the order is kept, but the test does not
	// depend on it.
	key := func(c SyncConn) string { return fmt.Sprint(c.Protocol, c.Client, c.Virtual, c.Flags) }
	byKey := func(a, b SyncConn) int { return cmp.Compare(key(a), key(b)) }
	slices.SortFunc(want, byKey)
	slices.SortFunc(got, byKey)
	if diff := gocmp.Diff(want, got, gocmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("decoded table (-sent +received)\n%s", diff)
	}
	if n := len(self()); n != 0 {
		t.Errorf("the sender's own interface got %d messages: multicast loop is on", n)
	}
}

// vethPair makes sync0 (here, with addrsA) and sync1 (moved to peerNS,
// with addrsB), both up, with lo up in the peer.
// syncLink puts the test's thread in a fresh namespace (the old master),
// makes the peer's namespace, and joins them by the veth pair sync0 (here,
// addrsA) and sync1 (the peer, addrsB); it returns the peer's namespace.
func syncLink(t *testing.T, addrsA, addrsB []string) netns.NsHandle {
	t.Helper()
	master := testutil.NewNetNS(t)
	peerNS, err := netns.New() // moves the thread: put it back
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { peerNS.Close() })
	if err := netns.Set(master); err != nil {
		t.Fatal(err)
	}
	h, err := netlink.NewHandle()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	hp, err := netlink.NewHandleAt(peerNS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hp.Close)
	vethPair(t, h, hp, peerNS, addrsA, addrsB)
	return peerNS
}

func vethPair(t *testing.T, h, hp *netlink.Handle, peerNS netns.NsHandle, addrsA, addrsB []string) {
	t.Helper()
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "sync0"}, PeerName: "sync1"}); err != nil {
		t.Fatalf("add veth: %v", err)
	}
	l1, err := h.LinkByName("sync1")
	if err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetNsFd(l1, int(peerNS)); err != nil {
		t.Fatalf("move sync1: %v", err)
	}
	for _, e := range []struct {
		h     *netlink.Handle
		name  string
		addrs []string
	}{{h, "sync0", addrsA}, {hp, "sync1", addrsB}, {hp, "lo", nil}} {
		l, err := e.h.LinkByName(e.name)
		if err != nil {
			t.Fatal(err)
		}
		for _, addr := range e.addrs {
			a, err := netlink.ParseAddr(addr)
			if err != nil {
				t.Fatal(err)
			}
			a.Flags |= unix.IFA_F_NODAD // usable at once
			if err := e.h.AddrAdd(l, a); err != nil {
				t.Fatalf("%s %s: %v", e.name, addr, err)
			}
		}
		if err := e.h.LinkSetUp(l); err != nil {
			t.Fatalf("%s up: %v", e.name, err)
		}
	}
}
