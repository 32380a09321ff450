package ops

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/bench/benchutil"
)

// TestVMBenchOps boots the guest once, runs TestGuestBenchOps in it,
// prints the tables and rewrites docs/benchmarks-ops.md and
// docs/benchmarks-ops.json (TANDEM_BENCH_OUT names another .md; the .json
// goes next to it). It is a benchmark, not a test of `make test-vm`: it
// only runs with TANDEM_BENCH=1 (`make bench-ops`). It fails when a
// scenario fails, never on timing.
func TestVMBenchOps(t *testing.T) {
	res, host := benchutil.VMBench{
		Skip:    "ops benchmark: boots a QEMU guest for about half an hour; runs in `make bench-ops` / `make bench` (TANDEM_BENCH=1 TANDEM_TEST_VM=1), not in `make test-vm`",
		Bins:    []string{"tandem-director", "tandem-backend"},
		Package: "./e2e/bench/ops",
		Test:    "TestGuestBenchOps",
		Env:     []string{"TANDEM_BENCH_RUNS", "TANDEM_BENCH_WINDOW"},
		Timeout: 85 * time.Minute,
		Failed:  "a scenario failed: docs/benchmarks-ops.md and .json left as they were",
	}.Run(t)
	o, err := ParseOutput(string(res.Output))
	if err != nil {
		t.Fatal(err)
	}
	if o.Meta.Runs == 0 {
		t.Fatal("the guest printed no BENCHMETA line")
	}
	if o.Meta.GuestKernel == "" {
		o.Meta.GuestKernel = res.Kernel
	}
	trows, rrows := Summarize(o.Samples)
	t.Logf("ops benchmark, %d runs, guest kernel %s (%s):\n%s\n%s", o.Meta.Runs, o.Meta.GuestKernel, strings.ToUpper(res.Accel),
		TimingTable(trows), ResourceTable(rrows))
	out := benchutil.OutPath(t, "benchmarks-ops.md")
	js, err := JSON(host, o.Meta, trows, rrows)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte(Document(host, o.Meta, trows, rrows)), 0o644); err != nil {
		t.Fatal(err)
	}
	jsPath := strings.TrimSuffix(out, ".md") + ".json"
	if err := os.WriteFile(jsPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("written %s and %s", out, jsPath)
}
