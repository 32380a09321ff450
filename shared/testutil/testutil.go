// Package testutil gates privileged tests and gives them a fresh network
// namespace.
//
// Test levels (see the Makefile):
//   - unit: always runs, no root.
//   - netns: tests named TestNetns*, need root on this kernel; enabled by
//     TANDEM_TEST_NETNS=1 (make test-netns).
//   - vm: tests named TestVM*, run on the host and boot the ip_vs guest;
//     enabled by TANDEM_TEST_VM=1 (make test-vm). Inside the guest the test
//     binary sees TANDEM_IN_VM=1.
//
// A gated test that is not enabled skips and says how to run it. A level
// that is enabled but cannot run here (no root, no qemu) fails, never skips.
package testutil

import (
	"os"
	"runtime"
	"testing"

	"github.com/vishvananda/netns"
)

// Netns gates a test on the netns level: root and TANDEM_TEST_NETNS=1.
func Netns(tb testing.TB) {
	tb.Helper()
	if os.Getenv("TANDEM_TEST_NETNS") == "" && os.Getenv("TANDEM_IN_VM") == "" {
		tb.Skip("netns test: needs root; runs in `make test-netns` (TANDEM_TEST_NETNS=1)")
	}
	if os.Geteuid() != 0 {
		tb.Fatal("netns test enabled but not running as root")
	}
}

// InVM gates a test that must run inside the ip_vs guest (TANDEM_IN_VM=1).
func InVM(tb testing.TB) {
	tb.Helper()
	if os.Getenv("TANDEM_IN_VM") == "" {
		tb.Skip("guest-only test: runs inside the QEMU guest started by `make test-vm`")
	}
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		tb.Fatalf("inside the VM but ip_vs is not available: %v", err)
	}
}

// VM gates a host-side test that boots the guest: TANDEM_TEST_VM=1.
func VM(tb testing.TB) {
	tb.Helper()
	if os.Getenv("TANDEM_TEST_VM") == "" {
		tb.Skip("vm test: boots a QEMU guest; runs in `make test-vm` (TANDEM_TEST_VM=1)")
	}
	if os.Geteuid() != 0 {
		tb.Fatal("vm test enabled but not running as root")
	}
}

// NewNetNS puts the calling goroutine's OS thread into a fresh network
// namespace for the rest of the test and returns its handle. The thread stays
// locked; the original namespace is restored and the new one closed by
// tb.Cleanup. Call Netns first.
func NewNetNS(tb testing.TB) netns.NsHandle {
	tb.Helper()
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		tb.Fatalf("netns.Get: %v", err)
	}
	ns, err := netns.New()
	if err != nil {
		orig.Close()
		runtime.UnlockOSThread()
		tb.Fatalf("netns.New: %v", err)
	}
	tb.Cleanup(func() {
		if err := netns.Set(orig); err != nil {
			tb.Errorf("restore netns: %v", err)
		}
		ns.Close()
		orig.Close()
		runtime.UnlockOSThread()
	})
	return ns
}

// Bin returns the path of a built binary (bin/NAME), from TANDEM_BIN, which
// the Makefile sets. It fails the test when the variable is unset.
func Bin(tb testing.TB, name string) string {
	tb.Helper()
	dir := os.Getenv("TANDEM_BIN")
	if dir == "" {
		tb.Fatal("TANDEM_BIN is not set: run through make (it builds bin/ first)")
	}
	p := dir + "/" + name
	if _, err := os.Stat(p); err != nil {
		tb.Fatalf("binary %s: %v", name, err)
	}
	return p
}
