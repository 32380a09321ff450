package lvs

// Guest-only test of the connection-table hand-over (SyncSender) against
// the kernel's own backup sync daemon. Run it like the other TestVM*
// tests of this package (vm_test.go): e2e/vmtest's TestVMLvs runs
// `lvs.test -test.run '^TestVM'` in the guest and requires it by name.

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/nsutil"
	"github.com/tandemlb/tandem/shared/testutil"
)

type connKey struct {
	proto           string
	client, virtual netip.AddrPort
}

func keyOf(c Conn) connKey { return connKey{c.Protocol, c.Client, c.Virtual} }

// TestVMSyncHandover: two namespaces joined by a veth pair. The "peer"
// has IPVS DR services (IPv4 with two real servers, a persistent one,
// IPv6) and the kernel's backup sync daemon on its end, sync ID 7. The
// "old master" (no IPVS used there) first sends one connection with sync
// ID 8, then a table of 300 IPv4 TCP connections (ESTABLISHED, SYN_RECV,
// FIN_WAIT), one to the persistent service and its template, and 20 IPv6
// ones with SendConns. The peer's table must then hold every one with its
// state, client, virtual, destination, and Expires the timeout sent less
// the time since; its destinations count them active (ESTABLISHED) or
// inactive, so they are bound to them. The sync-ID-8 connection, sent
// first, is not there; sent again with ID 7, it is.
func TestVMSyncHandover(t *testing.T) {
	testutil.InVM(t)
	// The real servers (192.0.2.101-102, 2001:db8::b) are on the link.
	peerNS := syncLink(t, []string{"192.0.2.1/24", "2001:db8::1/64"}, []string{"192.0.2.2/24", "2001:db8::2/64"})

	// The peer: services and the backup daemon.
	k, err := Open(fmt.Sprintf("/proc/self/fd/%d", int(peerNS)), slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatalf("open IPVS in the peer: %v", err)
	}
	t.Cleanup(func() { k.Close() })
	vip, vip6 := netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("2001:db8::100")
	rs6 := netip.MustParseAddr("2001:db8::b")
	web := Service{Protocol: TCP, Addr: vip, Port: 80, Scheduler: "rr"}
	sticky := Service{Protocol: TCP, Addr: vip, Port: 443, Scheduler: "rr", Flags: FlagPersistent, Timeout: 300, Netmask: 24}
	web6 := Service{Protocol: TCP, Addr: vip6, Port: 80, Scheduler: "rr"}
	d := Desired{}
	d.Add(ServiceSpec{Service: web, Destinations: []Destination{{Addr: rs1, Port: 80, Weight: 1}, {Addr: rs2, Port: 80, Weight: 1}}})
	d.Add(ServiceSpec{Service: sticky, Destinations: []Destination{{Addr: rs1, Port: 443, Weight: 1}}})
	d.Add(ServiceSpec{Service: web6, Destinations: []Destination{{Addr: rs6, Port: 80, Weight: 1}}})
	if _, err := NewReconciler(k, Options{}).Apply(context.Background(), d); err != nil {
		t.Fatalf("services in the peer: %v", err)
	}
	if err := k.StartDaemon(DaemonBackup, "sync1", 7); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.StopDaemon(DaemonBackup) })

	// The old master's table.
	var table []Conn
	states := []struct {
		name    string
		expires uint32
	}{{"ESTABLISHED", 900}, {"SYN_RECV", 60}, {"FIN_WAIT", 120}}
	active := map[netip.Addr]int{}
	inactive := map[netip.Addr]int{}
	for i := range 300 {
		st := states[i%3]
		dest := []netip.Addr{rs1, rs2}[i%2]
		table = append(table, Conn{Protocol: "TCP", Client: netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100 + byte(i/250), byte(1 + i%250)}), uint16(40000+i)),
			Virtual: netip.AddrPortFrom(vip, 80), Dest: netip.AddrPortFrom(dest, 80), State: st.name, Expires: st.expires - uint32(i%7)})
		if st.name == "ESTABLISHED" {
			active[dest]++
		} else {
			inactive[dest]++
		}
	}
	table = append(table,
		Conn{Protocol: "TCP", Client: netip.MustParseAddrPort("198.51.100.50:50000"), Virtual: netip.AddrPortFrom(vip, 443), Dest: netip.AddrPortFrom(rs1, 443), State: "ESTABLISHED", Expires: 897},
		Conn{Protocol: "TCP", Client: netip.MustParseAddrPort("198.51.100.0:0"), Virtual: netip.AddrPortFrom(vip, 443), Dest: netip.AddrPortFrom(rs1, 443), State: "NONE", Expires: 299})
	for i := range 20 {
		table = append(table, Conn{Protocol: "TCP", Client: netip.AddrPortFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 15: byte(1 + i)}), uint16(50000+i)),
			Virtual: netip.AddrPortFrom(vip6, 80), Dest: netip.AddrPortFrom(rs6, 80), State: "ESTABLISHED", Expires: 880 + uint32(i)})
	}
	stranger := Conn{Protocol: "TCP", Client: netip.MustParseAddrPort("203.0.113.9:4444"), Virtual: netip.AddrPortFrom(vip, 80), Dest: netip.AddrPortFrom(rs1, 80), State: "ESTABLISHED", Expires: 900}

	// The old master sends: first the stranger with the wrong sync ID.
	wrong, err := NewSyncSender(SyncSenderConfig{Interface: "sync0", SyncID: 8})
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if n, _, err := wrong.SendConns([]Conn{stranger}, nil); n != 1 || err != nil {
		t.Fatalf("send with sync ID 8: %d, %v", n, err)
	}
	s, err := NewSyncSender(SyncSenderConfig{Interface: "sync0", SyncID: 7})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sentAt := time.Now()
	sent, msgs, err := s.SendConns(table, nil)
	if err != nil || sent != len(table) {
		t.Fatalf("SendConns: %d of %d connections in %d messages, %v", sent, len(table), msgs, err)
	}
	t.Logf("sent %d connections in %d messages in %v", sent, msgs, time.Since(sentAt))

	peerTable := func() map[connKey]Conn {
		var conns []Conn
		err := nsutil.Do(peerNS, func() error {
			var err error
			conns, err = ReadConnTable()
			return err
		})
		if err != nil {
			t.Fatalf("the peer's table: %v", err)
		}
		m := map[connKey]Conn{}
		for _, c := range conns {
			m[keyOf(c)] = c
		}
		return m
	}
	var got map[connKey]Conn
	missing := func() int {
		got = peerTable()
		n := 0
		for _, c := range table {
			if _, ok := got[keyOf(c)]; !ok {
				n++
			}
		}
		return n
	}
	if !testutil.WaitFor(20*time.Second, func() bool { return missing() == 0 }) {
		t.Fatalf("after 20s, %d of %d connections are not in the peer's table", missing(), len(table))
	}
	elapsed := uint32(time.Since(sentAt)/time.Second) + 2
	for _, c := range table {
		g := got[keyOf(c)]
		if g.State != c.State || g.Dest != c.Dest || g.Expires > c.Expires || g.Expires+elapsed < c.Expires {
			t.Errorf("%s %v -> %v: the peer has %s to %v expiring in %d s; sent %s to %v, %d s (%d s ago at most)",
				c.Protocol, c.Client, c.Virtual, g.State, g.Dest, g.Expires, c.State, c.Dest, c.Expires, elapsed)
		}
	}
	// Bound to their destinations, active or not as the flags said.
	st, err := k.Service(web)
	if err != nil {
		t.Fatal(err)
	}
	for _, ds := range st.Destinations {
		if ds.ActiveConns != active[ds.Addr] || ds.InactiveConns != inactive[ds.Addr] {
			t.Errorf("destination %v: %d active, %d inactive; want %d, %d", ds.Addr, ds.ActiveConns, ds.InactiveConns, active[ds.Addr], inactive[ds.Addr])
		}
	}
	if ipvsadm, err := exec.LookPath("ipvsadm"); err == nil {
		var out []byte
		_ = nsutil.Do(peerNS, func() error { out, _ = exec.Command(ipvsadm, "-Ln").CombinedOutput(); return nil })
		t.Logf("the peer's ipvsadm -Ln:\n%s", out)
	}

	// The stranger went first: every message after it was processed.
	testutil.Settle(300 * time.Millisecond) // and a window for it too, should the two sockets' packets be reordered
	if _, ok := peerTable()[keyOf(stranger)]; ok {
		t.Error("a connection sent with sync ID 8 is in the table of a backup of sync ID 7")
	}
	if n, _, err := s.SendConns([]Conn{stranger}, nil); n != 1 || err != nil {
		t.Fatalf("send with sync ID 7: %d, %v", n, err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { _, ok := peerTable()[keyOf(stranger)]; return ok },
		"the connection sent again with sync ID 7 (%v) is not in the peer's table", stranger.Client)
}
