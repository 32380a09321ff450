package vmtest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/vm"
)

// GuestRun describes one boot of the guest running a package's tests.
type GuestRun struct {
	// Package is the package whose tests run in the guest, relative to the
	// module root (e.g. "./e2e/guest").
	Package string
	// Run is the -test.run pattern inside the guest.
	Run string
	// Want lists tests that must report PASS (not skip, not fail, not be
	// missing).
	Want []string
	// Env is added to the guest environment; TANDEM_BIN is passed through
	// from the host when set (the guest sees the host's bin/ directory).
	Env map[string]string
	// Timeout bounds the guest; 12 minutes if zero.
	Timeout time.Duration
	// Count runs each test this many times in the one boot (-test.count);
	// every run must pass. 0 means 1.
	Count int
}

// lineLog sends each line to the test log as it arrives.
type lineLog struct {
	t      testing.TB
	prefix string
}

func (l lineLog) Write(p []byte) (int, error) {
	l.t.Logf("%s%s", l.prefix, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// RunGuestTests builds r.Package's test binary on the host (CGO_ENABLED=0),
// boots the guest once, runs the binary with -test.v and fails t unless
// every test in r.Want passed. The guest's output is logged line by line.
func RunGuestTests(t *testing.T, r GuestRun) vm.Result {
	t.Helper()
	ctx := context.Background()
	start := time.Now()
	bin := filepath.Join(t.TempDir(), "guest.test")
	if err := BuildTestBinary(ctx, r.Package, bin); err != nil {
		t.Fatal(err)
	}
	built := time.Since(start)
	env := map[string]string{}
	if b := os.Getenv("TANDEM_BIN"); b != "" {
		env["TANDEM_BIN"] = b
	}
	for k, v := range r.Env {
		env[k] = v
	}
	timeout := r.Timeout
	if timeout == 0 {
		timeout = 12 * time.Minute
	}
	count := max(r.Count, 1)
	res, err := vm.Run(ctx, vm.Options{
		Command: []string{bin, "-test.v", "-test.count=" + strconv.Itoa(count), "-test.timeout=" + (timeout - time.Minute).String(), "-test.run", r.Run},
		Env:     env,
		Timeout: timeout,
		Stdout:  lineLog{t, "guest: "},
		Log:     lineLog{t, ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest binary built in %v; kernel %s (%s): boot to command %v, VM wall %v, total %v",
		built.Round(time.Millisecond), res.Kernel, res.Accel, res.Boot.Round(time.Millisecond),
		res.Wall.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if err := CheckGuestRuns(string(res.Output), res.ExitCode, r.Want, count); err != nil {
		t.Errorf("%v\n--- guest console (tail) ---\n%s", err, res.Console)
	}
	return res
}
