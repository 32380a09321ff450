package sockdiag

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/shared/testutil"
)

// freshNS puts the test's thread in a new network namespace with lo up.
func freshNS(t *testing.T) {
	t.Helper()
	testutil.Netns(t)
	testutil.NewNetNS(t)
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		t.Fatal(err)
	}
}

// reusePortListen listens on addr with SO_REUSEPORT, as a server that hands
// its socket over on restart does.
func reusePortListen(t *testing.T, addr string) net.Listener {
	t.Helper()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func portOf(ln net.Listener) uint16 { return uint16(ln.Addr().(*net.TCPAddr).Port) }

// TestNetnsListenerGone: the watch reports the destruction of the port's
// listener at once, ignores the connections the server closes, and a
// dump tells whether another listener (SO_REUSEPORT) still serves.
func TestNetnsListenerGone(t *testing.T) {
	freshNS(t)
	ln1 := reusePortListen(t, "127.0.0.1:0")
	port := portOf(ln1)
	w, err := WatchPort(port)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()

	// A connection accepted and closed on both ends is not a listener.
	c, err := net.Dial("tcp", ln1.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln1.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if a, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("after a closed connection: Next = %v, %v; want no event", a, err)
	}
	cancel()

	// A second server process takes the port over (SO_REUSEPORT).
	ln2 := reusePortListen(t, ln1.Addr().String())
	defer ln2.Close()
	got, err := Listeners(port)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Addr != netip.MustParseAddrPort(ln1.Addr().String()) || got[0].Inode == 0 {
		t.Fatalf("Listeners(%d) = %+v, want two on %s with inodes", port, got, ln1.Addr())
	}

	start := time.Now()
	ln1.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("listener closed: %v", err)
	}
	t.Logf("listener %s gone, event after %v", a, time.Since(start))
	if a.Port() != port {
		t.Errorf("event for %s, want port %d", a, port)
	}
	got, err = Listeners(port)
	if err != nil || len(got) != 1 {
		t.Fatalf("after one of two closed: Listeners = %+v, %v; want one", got, err)
	}

	ln2.Close()
	if _, err := w.Next(ctx); err != nil {
		t.Fatalf("second listener closed: %v", err)
	}
	if got, err := Listeners(port); err != nil || len(got) != 0 {
		t.Fatalf("after both closed: Listeners = %+v, %v; want none", got, err)
	}
}

// TestNetnsListenerGoneIPv6: the same for an IPv6 wildcard listener, and a
// listener on another port never wakes the watch.
func TestNetnsListenerGoneIPv6(t *testing.T) {
	freshNS(t)
	other := reusePortListen(t, "[::]:0")
	ln := reusePortListen(t, "[::]:0")
	port := portOf(ln)
	w, err := WatchPort(port)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	other.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	if a, err := w.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("another port's listener closed: Next = %v, %v; want no event", a, err)
	}
	cancel()
	ln.Close()
	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	a, err := w.Next(ctx)
	if err != nil || a.Port() != port || !a.Addr().Is6() {
		t.Fatalf("Next = %v, %v; want [::]:%d", a, err, port)
	}
}
