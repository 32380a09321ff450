package promlab

import (
	"os"
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
// binary is used as is): testutil.FetchedTool, which skips the caller when
// prometheus cannot be had, or fails it under CI=true or inside the guest
// (its scenarios must run).
func Binary(tb testing.TB) string {
	tb.Helper()
	return testutil.FetchedTool(tb, Root, "prometheus.sh")
}
