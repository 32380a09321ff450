package scenarios

import (
	"os"
	"regexp"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/vmtest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestVMScenarios builds this package's test binary, boots the ip_vs guest
// once and runs every scenario inside; each must pass. TANDEM_SCENARIOS,
// a regular expression over the scenario names ("2|5"), runs only those.
func TestVMScenarios(t *testing.T) {
	testutil.VM(t)
	testutil.Bin(t, "tandem-director")
	testutil.Bin(t, "tandem-backend")
	all := []string{
		"TestGuestScenario1Balanced",
		"TestGuestScenario2Maintenance",
		"TestGuestScenario3AppDown",
		"TestGuestScenario4Sorry",
		"TestGuestScenario5DirectorKill",
		"TestGuestScenario6Reload",
	}
	run, want := "^TestGuestScenario", all
	if sel := os.Getenv("TANDEM_SCENARIOS"); sel != "" {
		re, err := regexp.Compile("^TestGuestScenario(" + sel + ")")
		if err != nil {
			t.Fatalf("TANDEM_SCENARIOS: %v", err)
		}
		run, want = re.String(), nil
		for _, n := range all {
			if re.MatchString(n) {
				want = append(want, n)
			}
		}
	}
	vmtest.RunGuestTests(t, vmtest.GuestRun{
		Package: "./e2e/scenarios",
		Run:     run,
		Want:    want,
		Timeout: 30 * time.Minute,
	})
}
