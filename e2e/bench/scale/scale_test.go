package scale

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/testutil"
)

// TestMain runs the director's or the agents' process when the
// environment names the role (the benchmark re-executes this binary).
func TestMain(m *testing.M) {
	if code, ran := RunRole(); ran {
		os.Exit(code)
	}
	os.Exit(m.Run())
}

// TestNetnsScaleSmoke: 100 agents for 2 s against a director with their
// 100 real servers: every report of the window is answered, every reply is
// correct (sealed for its agent, echoing the report, its destination at
// weight 1 and up). Root; netns level.
func TestNetnsScaleSmoke(t *testing.T) {
	testutil.Netns(t)
	row, err := Measure(t.TempDir(), 100, 100, Params{Warm: time.Second, Window: 2 * time.Second, Grace: time.Second}, testutil.Settle)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURED 100 agents: %d reports, %d answered, %d bad, p50 %.0f µs, p99 %.0f µs; director CPU %.2f %% of a core, RSS %.1f MiB",
		row.Gen.Sent, row.Gen.Answered, row.Gen.Bad, row.Gen.P50US, row.Gen.P99US, row.CPUPct, row.RSSMiB)
	if row.Gen.Sent < 150 || row.Gen.Answered != row.Gen.Sent || row.Gen.Bad != 0 || row.Gen.SendErrors != 0 {
		t.Errorf("%d reports sent in the window, %d answered, %d bad replies (first: %s), %d send errors", row.Gen.Sent, row.Gen.Answered, row.Gen.Bad, row.Gen.Why, row.Gen.SendErrors)
	}
}

// TestNetnsBenchScale is `make bench-scale`: the curve for 0, 100, 1,000
// and 10,000 agents (and 10,000 real servers without agents), written to
// docs/benchmarks-scale.md. It needs TANDEM_BENCH=1 too; it fails when a
// row cannot be measured or a reply is wrong (Gen.Bad), not on the
// figures (slow is not wrong). TANDEM_SCALE_ONLY=N measures the row of N
// agents only. Each row with agents also measures the director after
// they stop (Params.Quiet: 10 s windows, agents forgotten after 20 s;
// TANDEM_SCALE_QUIET=0 skips it, another duration sets the windows).
func TestNetnsBenchScale(t *testing.T) {
	testutil.Netns(t)
	if os.Getenv("TANDEM_BENCH") == "" {
		t.Skip("a benchmark: make bench-scale (TANDEM_BENCH=1)")
	}
	p := Params{Warm: 10 * time.Second, MaxWarm: 2 * time.Minute, Window: 20 * time.Second, Grace: 2 * time.Second}
	p.Quiet, p.Forget = 10*time.Second, 20*time.Second // the director after the agents stop
	if d, err := time.ParseDuration(os.Getenv("TANDEM_SCALE_QUIET")); err == nil {
		p.Quiet = d
	}
	host := HostLine()
	start := time.Now()
	var rows []Row
	cases := []struct{ rs, agents int }{{0, 0}, {10000, 0}, {100, 100}, {1000, 1000}, {10000, 10000}}
	if n, err := strconv.Atoi(os.Getenv("TANDEM_SCALE_ONLY")); err == nil { // one row, e.g. to profile it
		cases = []struct{ rs, agents int }{{n, n}}
	}
	// The largest row is profiled (the director over the window): where
	// its time goes is on the page.
	self, _ := os.Executable()
	prof := filepath.Join(t.TempDir(), "director.prof")
	if p := os.Getenv(envProfile); p != "" {
		prof = p
	}
	var shares []Share
	for i, c := range cases {
		if i == len(cases)-1 && os.Getenv(envProfile) == "" {
			t.Setenv(envProfile, prof)
		}
		row, err := Measure(t.TempDir(), c.rs, c.agents, p, testutil.Settle)
		if err != nil {
			t.Fatalf("%d real servers, %d agents: %v", c.rs, c.agents, err)
		}
		t.Logf("MEASURED %d real servers, %d agents: CPU %.2f %%, RSS %.1f MiB, %d reports, %.2f %% answered, %d late, %d bad (%s), p50 %.0f µs, p99 %.0f µs, max %.0f µs, %.1f per wake-up, kernel drops %d at the director, %d at the agents, %d replies > 5 ms (sent %.1f s to %.1f s into the window), warm-up %v (unsettled %v)",
			c.rs, c.agents, row.CPUPct, row.RSSMiB, row.Gen.Sent, row.Answered(), row.Gen.Late, row.Gen.Bad, row.Gen.Why, row.Gen.P50US, row.Gen.P99US, row.Gen.MaxUS, row.Gen.Bursts,
			row.DirectorDrops, row.AgentsDrops, row.Gen.Slow, row.Gen.SlowFrom, row.Gen.SlowTo, row.Gen.Warmup.Round(time.Millisecond), row.Gen.Unsettled)
		if row.Silent.Window > 0 {
			t.Logf("MEASURED %d agents stopped: every one silent, still in the table: CPU %.2f %%, RSS %.1f MiB; forgotten: CPU %.2f %%, RSS %.1f MiB (%v each)",
				c.agents, row.Silent.CPUPct, row.Silent.RSSMiB, row.Forgotten.CPUPct, row.Forgotten.RSSMiB, p.Quiet)
		}
		// Slow is a figure; wrong is a failure: a reply that is not the
		// answer to a report sent (another agent's, a wrong weight, a
		// bad seal) means the director answers wrongly.
		if row.Gen.Bad != 0 {
			t.Errorf("%d real servers, %d agents: %d wrong replies (first: %s)", c.rs, c.agents, row.Gen.Bad, row.Gen.Why)
		}
		rows = append(rows, row)
	}
	if _, err := os.Stat(prof); err == nil {
		if shares, err = Shares(self, prof); err != nil {
			t.Logf("profile: %v", err)
		}
		for _, x := range shares {
			t.Logf("PROFILE %5.1f %%  %s", x.Pct, x.What)
		}
	}
	for i, what := range []string{"silent", "forgotten"} { // the quiet windows (TANDEM_SCALE_QUIET)
		if q, err := Shares(self, fmt.Sprintf("%s.%d", prof, i+2)); err == nil {
			for _, x := range q {
				t.Logf("PROFILE (agents %s) %5.1f %%  %s", what, x.Pct, x.What)
			}
		}
	}
	if len(rows) != 5 {
		return // one row: no page
	}
	page := Page(rows, shares, host, p, time.Since(start))
	out := filepath.Join(testutil.ModuleRoot(t), "docs", "benchmarks-scale.md")
	if err := os.WriteFile(out, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s\n%s", out, page)
}

// TestPageQuiet: the page shows the rows measured after their agents
// stopped, and only those.
func TestPageQuiet(t *testing.T) {
	rows := []Row{
		{RealServers: 100, Agents: 100, CPUPct: 1, Window: time.Second},
		{RealServers: 1000, Agents: 1000, CPUPct: 5, Window: time.Second,
			Silent: Quiet{CPUPct: 0.1, RSSMiB: 40, Window: 10 * time.Second}, Forgotten: Quiet{CPUPct: 0.2, RSSMiB: 41, Window: 10 * time.Second}},
	}
	page := Page(rows, nil, "host", Params{Window: time.Second}, time.Minute)
	want := "| 1,000 | 0.10 | 40.0 | 0.20 | 41.0 | 10s |"
	if !strings.Contains(page, "### After the agents stop") || !strings.Contains(page, want) || strings.Contains(page, "| 100 | 0.00 |") {
		t.Errorf("page without the quiet row %q, or with the row not measured:\n%s", want, page)
	}
}
