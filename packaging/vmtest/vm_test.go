// Package vmtest is the host side of the package install tests: it builds a
// previous (lower-versioned) copy of the packages next to the current ones,
// builds the guest tests of ./packaging/vmtest/guest, boots the ip_vs guest
// once with systemd as PID 1 (e2e/vm, Options.Systemd) and fails unless
// every guest test passed. make test-vm runs it (target test-vm-packages).
package vmtest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/vm"
	e2evmtest "github.com/tandemlb/tandem/e2e/vmtest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// lineLog sends each line to the test log as it arrives.
type lineLog struct {
	t      testing.TB
	prefix string
}

func (l lineLog) Write(p []byte) (int, error) {
	l.t.Logf("%s%s", l.prefix, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// prevVersion is the version of the "previous build": lower than any
// version packaging/version.sh produces (0.0.0+git..., or a tag's).
const prevVersion = "0.0.0~vmtest"

func TestVMPackagesSystemd(t *testing.T) {
	testutil.VM(t)
	dist := os.Getenv("TANDEM_DIST")
	bin := os.Getenv("TANDEM_BIN")
	if dist == "" || bin == "" {
		t.Fatal("TANDEM_DIST and TANDEM_BIN must be set: run through make test-vm (it builds bin/ and the packages first)")
	}
	root, err := e2evmtest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	// Everything the guest reads must live outside /tmp (systemd mounts a
	// fresh /tmp in the guest), and the checkout itself may be under /tmp:
	// copy the current packages into a work directory under /var/tmp.
	if err := os.MkdirAll("/var/tmp", 0o1777); err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("/var/tmp", "tandem-pkgvm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	cur := filepath.Join(work, "cur")
	prev := filepath.Join(work, "prev")
	for _, d := range []string{cur, prev} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	copyBuild(t, dist, cur)

	ctx := context.Background()
	build := exec.CommandContext(ctx, filepath.Join(root, "packaging", "build.sh"), "-v", prevVersion, "-o", prev, "-b", bin)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("previous build: %v\n%s", err, out)
	}
	guest := filepath.Join(work, "guest.test")
	if err := e2evmtest.BuildTestBinary(ctx, "./packaging/vmtest/guest", guest); err != nil {
		t.Fatal(err)
	}

	timeout := 20 * time.Minute
	res, err := vm.Run(ctx, vm.Options{
		Command: []string{guest, "-test.v", "-test.count=1", "-test.timeout=" + (timeout - time.Minute).String(), "-test.run", "^TestGuest"},
		Env: map[string]string{
			"TANDEM_DIST":      cur,
			"TANDEM_PREV_DIST": prev,
		},
		Systemd: true,
		// Nothing preloaded: the director package must load ip_vs itself
		// (modules-load.d).
		Modules: []string{},
		Timeout: timeout,
		Stdout:  lineLog{t, "guest: "},
		Log:     lineLog{t, ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kernel %s (%s): boot to command %v, VM wall %v", res.Kernel, res.Accel,
		res.Boot.Round(time.Millisecond), res.Wall.Round(time.Millisecond))
	want := []string{"TestGuestBackendPackage", "TestGuestDirectorPackage"}
	if err := e2evmtest.CheckGuestTests(string(res.Output), res.ExitCode, want); err != nil {
		t.Errorf("%v\n--- guest console (tail) ---\n%s", err, res.Console)
	}
}

// copyBuild copies one build's VERSION file and .deb packages from src to
// dst.
func copyBuild(t *testing.T, src, dst string) {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(src, "*.deb"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no .deb packages in %s (run make packages): %v", src, err)
	}
	for _, n := range append(names, filepath.Join(src, "VERSION")) {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, filepath.Base(n)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
