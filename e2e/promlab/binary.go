package promlab

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tandemlb/tandem/shared/testutil"
)

// EnvRoot names the module root for a test binary that runs outside it:
// inside the guest the working directory is /, and TestVMScenarios sets
// it.
const EnvRoot = "TANDEM_PROM_ROOT"

// Root is the module root: $TANDEM_PROM_ROOT, else the go.mod above the
// working directory.
func Root() (string, error) {
	if r := os.Getenv(EnvRoot); r != "" {
		return r, nil
	}
	return testutil.FindModuleRoot()
}

// Binary returns the path of scripts/prometheus.sh once it has run
// prometheus --version (the script fetches Debian's prometheus package on
// first use, without installing it; inside the guest the host's unpacked
// binary is used as is); the check runs once per test binary. When
// prometheus cannot be had, every caller is skipped with the reason, or
// fails under CI=true or inside the guest (its scenarios must run).
func Binary(tb testing.TB) string {
	tb.Helper()
	binaryOnce.Do(func() {
		root, err := Root()
		if err != nil {
			binaryErr = err.Error()
			return
		}
		binaryPath = filepath.Join(root, "scripts", "prometheus.sh")
		if out, err := exec.Command(binaryPath, "--version").CombinedOutput(); err != nil {
			binaryErr = fmt.Sprintf("prometheus is not available: scripts/prometheus.sh --version: %v\n%s", err, out)
		}
	})
	if binaryErr != "" {
		if os.Getenv("CI") == "true" || os.Getenv("TANDEM_IN_VM") != "" {
			tb.Fatalf("%s\nCI=true and the guest require prometheus (scripts/deps.sh fetches it as root, on the host)", binaryErr)
		}
		tb.Skipf("%s\nthis test fails instead under CI=true; scripts/deps.sh (root) fetches prometheus", binaryErr)
	}
	return binaryPath
}

var (
	binaryOnce            sync.Once
	binaryPath, binaryErr string
)
