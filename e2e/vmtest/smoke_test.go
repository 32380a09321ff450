package vmtest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/vm"
	"github.com/tandemlb/tandem/shared/testutil"
)

// guestTests must each report PASS inside the guest.
var guestTests = []string{"TestGuestDR", "TestGuestDRWithoutArpTable"}

// lineLog sends each line to the test log as it arrives.
type lineLog struct {
	t      testing.TB
	prefix string
}

func (l lineLog) Write(p []byte) (int, error) {
	l.t.Logf("%s%s", l.prefix, strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestVMSmoke builds e2e/guest's test binary, boots the ip_vs guest once,
// runs the guest tests inside and fails unless each of them passed.
func TestVMSmoke(t *testing.T) {
	testutil.VM(t)
	ctx := context.Background()
	start := time.Now()
	bin := filepath.Join(t.TempDir(), "guest.test")
	if err := BuildTestBinary(ctx, "./e2e/guest", bin); err != nil {
		t.Fatal(err)
	}
	built := time.Since(start)
	res, err := vm.Run(ctx, vm.Options{
		Command: []string{bin, "-test.v", "-test.count=1", "-test.timeout=8m", "-test.run", "^TestGuest"},
		Timeout: 12 * time.Minute,
		Stdout:  lineLog{t, "guest: "},
		Log:     lineLog{t, ""},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("guest binary built in %v; kernel %s (%s): boot to command %v, VM wall %v, total %v",
		built.Round(time.Millisecond), res.Kernel, res.Accel, res.Boot.Round(time.Millisecond),
		res.Wall.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	if err := CheckGuestTests(string(res.Output), res.ExitCode, guestTests); err != nil {
		t.Errorf("%v\n--- guest console (tail) ---\n%s", err, res.Console)
	}
}
