package kadiff

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/vmtest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// guestTimeout bounds the guest: the corpus takes about 8 minutes under
// TCG.
const guestTimeout = 25 * time.Minute

// TestVMKeepalivedDiff builds tandem-director into a temporary directory
// (so that a rebuild of bin/ meanwhile does not race it) and this
// package's test binary, boots the ip_vs guest once and runs
// TestGuestKeepalivedDiff there: every corpus file through keepalived
// 2.2.7 and tandem-director, compared. TANDEM_KADIFF_FILES (a regular
// expression over file names) and TANDEM_KADIFF_PARALLEL are passed
// through.
func TestVMKeepalivedDiff(t *testing.T) {
	testutil.VM(t)
	root, err := vmtest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	director := filepath.Join(t.TempDir(), "tandem-director")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", director, "./director/cmd/tandem-director")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build tandem-director: %v\n%s", err, out.String())
	}
	env := map[string]string{"TANDEM_KADIFF_DIRECTOR": director, "TANDEM_KADIFF_ROOT": root}
	for _, k := range []string{"TANDEM_KADIFF_FILES", "TANDEM_KADIFF_PARALLEL", "TANDEM_KADIFF_VERBOSE"} {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	vmtest.RunGuestTests(t, vmtest.GuestRun{
		Package: "./e2e/kadiff",
		Run:     "^TestGuestKeepalivedDiff$",
		Want:    []string{"TestGuestKeepalivedDiff"},
		Env:     env,
		Timeout: guestTimeout,
	})
}
