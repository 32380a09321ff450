package scenarios

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/vmtest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestVMScenarios builds this package's test binary, boots the ip_vs guest
// once and runs every scenario inside; each must pass. TANDEM_SCENARIOS,
// a regular expression over the scenario names ("2|5"), runs only those;
// TANDEM_SCENARIO_COUNT=n runs each n times in the one boot, all must pass.
func TestVMScenarios(t *testing.T) {
	testutil.VM(t)
	testutil.Bin(t, "tandem-director")
	testutil.Bin(t, "tandem-backend")
	all := guestScenarios(t)
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
	var env map[string]string // Ops3's upgrade build, only when it runs
	if slices.Contains(want, "TestGuestScenarioOps3AgentUpgrade") {
		env = opsGuestEnv(t)
	}
	env = promGuestEnv(t, want, env) // Prom1: the module root, TANDEM_PLOT_DATA
	env = bgpGuestEnv(t, want, env)  // BGP*: the module root (scripts/frr.sh)
	count := 1
	if c := os.Getenv("TANDEM_SCENARIO_COUNT"); c != "" {
		n, err := strconv.Atoi(c)
		if err != nil || n < 1 {
			t.Fatalf("TANDEM_SCENARIO_COUNT=%q: want a positive number", c)
		}
		count = n
	}
	res := vmtest.RunGuestTests(t, vmtest.GuestRun{
		Package: "./e2e/scenarios",
		Run:     run,
		Want:    want,
		Env:     env,
		Timeout: time.Duration(count) * 30 * time.Minute,
		Count:   count,
	})
	promSavePlotData(t, res.Output)
}

// guestScenarios lists this package's TestGuestScenario* tests (go test
// -list on the host), so that a scenario added in any file is required to
// pass without being registered here too.
func guestScenarios(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("go", "test", "-list", "^TestGuestScenario", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go test -list: %v\n%s", err, out)
	}
	var names []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "TestGuestScenario") {
			names = append(names, l)
		}
	}
	if len(names) < 15 {
		t.Fatalf("go test -list found %d guest scenarios, want at least 15 (6 + Ops1-5 + HA1-4):\n%s", len(names), out)
	}
	return names
}
