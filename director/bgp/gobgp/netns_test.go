package gobgp

// The netns-level test: the speaker and a GoBGP "router" in two network
// namespaces this file creates, joined by a veth. Gated by testutil.Netns:
// root and TANDEM_TEST_NETNS=1.
//
// GoBGP dials its peers from goroutines of its own, which run on any OS
// thread, so the speaker needs a process whose every thread is in its
// namespace: the test re-executes its own binary from a thread in the
// speaker's namespace (childEnv), and that child runs the scenario. The
// router only listens (a passive neighbour): its main loop, where GoBGP
// opens the listening sockets, runs on a thread locked in the router's
// namespace, whose handle the child receives as file descriptor 3.

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	packet "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/director/bgp"
	"github.com/tandemlb/tandem/shared/testutil"
)

const childEnv = "TANDEM_BGP_NETNS_CHILD"

var (
	spk4, rtr4 = netip.MustParseAddr("10.99.0.2"), netip.MustParseAddr("10.99.0.1")
	spk6, rtr6 = netip.MustParseAddr("fd00:99::2"), netip.MustParseAddr("fd00:99::1")
)

func TestNetnsGoBGP(t *testing.T) {
	testutil.Netns(t)
	if os.Getenv(childEnv) != "" {
		netnsScenario(t, netns.NsHandle(3))
		return
	}
	_, nsB := vethLab(t)
	runChild(t, "TestNetnsGoBGP", nsB)
}

// vethLab builds the two namespaces, spk0 in A (10.99.0.2/24,
// fd00:99::2/64) and rtr0 in B (10.99.0.1/24, fd00:99::1/64), and leaves
// the calling goroutine's thread in A (locked; restored at the end of the
// test).
func vethLab(t *testing.T) (nsA, nsB netns.NsHandle) {
	nsA = testutil.NewNetNS(t) // this thread: the speaker's namespace
	nsB, err := netns.New()    // and now the router's
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nsB.Close() })
	if err := netns.Set(nsA); err != nil {
		t.Fatal(err)
	}
	hA, err := netlink.NewHandleAt(nsA)
	if err != nil {
		t.Fatal(err)
	}
	defer hA.Close()
	hB, err := netlink.NewHandleAt(nsB)
	if err != nil {
		t.Fatal(err)
	}
	defer hB.Close()
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "spk0"}, PeerName: "rtr0", PeerNamespace: netlink.NsFd(nsB)}
	if err := hA.LinkAdd(veth); err != nil {
		t.Fatalf("veth: %v", err)
	}
	setup := func(h *netlink.Handle, name string, addrs ...string) {
		l, err := h.LinkByName(name)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range addrs {
			na, _ := netlink.ParseAddr(a)
			na.Flags = unix.IFA_F_NODAD
			if err := h.AddrAdd(l, na); err != nil {
				t.Fatalf("%s %s: %v", name, a, err)
			}
		}
		if err := h.LinkSetUp(l); err != nil {
			t.Fatal(err)
		}
		lo, _ := h.LinkByName("lo")
		_ = h.LinkSetUp(lo)
	}
	// IPv6 flushes an interface's addresses when it goes down, unless
	// told otherwise: the session drop of the scenario takes the link
	// down.
	inNS(t, nsB, func() {
		if err := os.WriteFile("/proc/sys/net/ipv6/conf/all/keep_addr_on_down", []byte("1"), 0o644); err != nil {
			t.Fatal(err)
		}
	})
	setup(hA, "spk0", "10.99.0.2/24", "fd00:99::2/64")
	setup(hB, "rtr0", "10.99.0.1/24", "fd00:99::1/64")
	return nsA, nsB
}

// inNS runs f with the calling (locked) thread in ns, then moves it back
// to the namespace it was in.
func inNS(t *testing.T, ns netns.NsHandle, f func()) {
	t.Helper()
	orig, err := netns.Get()
	if err != nil {
		t.Fatal(err)
	}
	defer orig.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			t.Fatalf("back to the namespace: %v", err)
		}
	}()
	f()
}

// runChild runs test name in a child process started from this thread
// (namespace A), with nsB as its file descriptor 3 and env added, and
// fails when the child's test does not pass.
func runChild(t *testing.T, name string, nsB netns.NsHandle, env ...string) {
	cmd := exec.Command(os.Args[0], "-test.run=^"+name+"$", "-test.count=1", "-test.v")
	cmd.Env = append(append(os.Environ(), childEnv+"=1"), env...)
	cmd.ExtraFiles = []*os.File{os.NewFile(uintptr(nsB), "netns-router")}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		err = <-done
	}
	t.Logf("child:\n%s", out.String())
	if err != nil || !strings.Contains(out.String(), "--- PASS: "+name) {
		t.Fatalf("child: %v", err)
	}
}

// routerIn starts the test router with its main loop on a thread locked
// in namespace ns.
func routerIn(t *testing.T, ns netns.NsHandle, nbrs []routerNeighbor) *testRouter {
	t.Helper()
	r := &testRouter{srv: server.NewBgpServer(), served: make(chan struct{})}
	entered := make(chan error, 1)
	go func() {
		defer close(r.served)
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
		if err := netns.Set(ns); err != nil {
			entered <- err
			return
		}
		entered <- nil
		r.srv.Serve()
	}()
	if err := <-entered; err != nil {
		t.Fatalf("router netns: %v", err)
	}
	if err := r.configure(65000, "10.99.0.1", 179, []string{rtr4.String(), rtr6.String()}, nbrs); err != nil {
		t.Fatal(err)
	}
	return r
}

// netnsScenario runs in the child, in the speaker's namespace.
func netnsScenario(t *testing.T, nsB netns.NsHandle) {
	const password = "tandem-md5"
	router := routerIn(t, nsB, []routerNeighbor{
		{Addr: spk4, AS: 65001, Password: password, Families: []packet.Family{packet.RF_IPv4_UC}},
		{Addr: spk6, AS: 65001, Families: []packet.Family{packet.RF_IPv6_UC}},
	})
	defer router.stop()

	sp, logs := startSpeaker(t, bgp.SpeakerConfig{LocalAS: 65001, RouterID: spk4, Peers: []bgp.PeerConfig{
		{Addr: rtr4, AS: 65000, Password: password, HoldTime: 3 * time.Second, ConnectRetry: time.Second},
		{Addr: rtr6, AS: 65000, HoldTime: 3 * time.Second, ConnectRetry: time.Second},
	}})
	ctx := context.Background()
	allUp := allEstablished(sp)
	testutil.Eventually(t, 30*time.Second, allUp, "sessions not established")

	// The driver's part, by hand: the Announcer's actions performed.
	a, err := bgp.New(bgp.Config{GracefulShutdownWait: 2 * time.Second, Communities: []bgp.Community{65001<<16 | 7}})
	if err != nil {
		t.Fatal(err)
	}
	v4, v6 := netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("2001:db8::10")
	now := time.Now()
	var acts []bgp.Action
	for _, ev := range []bgp.Event{bgp.Session{Peer: rtr4, Up: true}, bgp.Fingerprint{Agreed: true},
		bgp.Service{VIP: v4, Programmed: true}, bgp.Quorum{VIP: v4, Up: true}, bgp.Service{VIP: v6, Programmed: true}, bgp.Quorum{VIP: v6, Up: true}} {
		acts = append(acts, a.Step(now, ev)...)
	}
	perform(t, sp, acts)
	waitRoutes(t, router, []string{"192.0.2.10/32 via 10.99.0.2 [65001:7]", "2001:db8::10/128 via fd00:99::2 [65001:7]"})

	// Quorum lost: 65535:0 first, then (at the deadline) the withdrawal.
	perform(t, sp, a.Step(now, bgp.Quorum{VIP: v4, Up: false}))
	waitRoutes(t, router, []string{"192.0.2.10/32 via 10.99.0.2 [65001:7 65535:0]", "2001:db8::10/128 via fd00:99::2 [65001:7]"})
	perform(t, sp, a.Step(a.NextDeadline(), bgp.TimerFired{}))
	waitRoutes(t, router, []string{"2001:db8::10/128 via fd00:99::2 [65001:7]"})

	// The session dropped (the link down past the hold time) and back:
	// the route comes back without any new announcement.
	hB, err := netlink.NewHandleAt(nsB)
	if err != nil {
		t.Fatal(err)
	}
	defer hB.Close()
	l, err := hB.LinkByName("rtr0")
	if err != nil {
		t.Fatal(err)
	}
	if err := hB.LinkSetDown(l); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return !sp.Peers()[1].Established }, "session not dropped")
	waitRoutes(t, router, nil)
	if err := hB.LinkSetUp(l); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, allUp, "sessions not re-established")
	waitRoutes(t, router, []string{"2001:db8::10/128 via fd00:99::2 [65001:7]"})

	// A clean stop: graceful, then the withdrawal, then the speaker's end.
	perform(t, sp, a.Step(now, bgp.Stop{}))
	waitRoutes(t, router, []string{"2001:db8::10/128 via fd00:99::2 [65001:7 65535:0]"})
	perform(t, sp, a.Step(a.NextDeadline(), bgp.TimerFired{}))
	waitRoutes(t, router, nil)
	if !a.Done() {
		t.Fatal("announcer not done after the withdrawals")
	}
	if err := sp.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if !cmp.Equal(router.routes(), []string(nil), cmpEmpty) {
		t.Errorf("routes after the stop: %v", router.routes())
	}
	t.Logf("speaker log:\n%s", logs.String())
}

func perform(t *testing.T, sp bgp.Speaker, acts []bgp.Action) {
	t.Helper()
	for _, act := range acts {
		var err error
		switch act := act.(type) {
		case bgp.Announce:
			err = sp.Announce(context.Background(), bgp.Route{Prefix: act.Prefix, Communities: act.Communities})
		case bgp.Withdraw:
			err = sp.Withdraw(context.Background(), act.Prefix)
		}
		if err != nil {
			t.Fatalf("%s: %v", act, err)
		}
	}
}
