package reconcile

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/bench/benchutil"
)

// TestVMBenchReconcile boots the guest once, runs TestGuestBenchReconcile
// in it, prints the table of medians and rewrites
// docs/benchmarks-reconcile.md (TANDEM_BENCH_OUT overrides the path). It
// is a benchmark, not a test of `make test-vm`: it only runs with
// TANDEM_BENCH=1 (`make bench`). It fails when a scenario fails, never on
// timing.
func TestVMBenchReconcile(t *testing.T) {
	res, host := benchutil.VMBench{
		Skip:    "reconcile benchmark: boots a QEMU guest for minutes; runs in `make bench` (TANDEM_BENCH=1 TANDEM_TEST_VM=1), not in `make test-vm`",
		Bins:    []string{"tandem-director"},
		Package: "./e2e/bench/reconcile",
		Test:    "TestGuestBenchReconcile",
		Env:     []string{"TANDEM_BENCH_RUNS"},
		Timeout: 40 * time.Minute,
		Failed:  "a scenario failed: no table, docs/benchmarks-reconcile.md left as it was",
	}.Run(t)
	o, err := ParseOutput(string(res.Output))
	if err != nil {
		t.Fatal(err)
	}
	samples, meta := o.Samples, o.Meta
	if meta.Runs == 0 {
		t.Fatal("the guest printed no BENCHMETA line")
	}
	rows := Summarize(samples)
	for _, need := range [][2]string{{StepStart, ImplKeepalived}, {StepStart, ImplTandem}, {StepWeight, ImplKeepalived}, {StepWeight, ImplTandem}} {
		n := 0
		for _, s := range samples {
			if s.Step == need[0] && s.Impl == need[1] {
				n++
			}
		}
		if n != meta.Runs {
			t.Fatalf("%d samples of %s/%s, want %d", n, need[1], need[0], meta.Runs)
		}
	}
	if meta.GuestKernel == "" {
		meta.GuestKernel = res.Kernel
		o.Meta = meta
	}
	t.Logf("reconcile benchmark, %s × %d, %d runs, guest kernel %s (%s):\n%s", thousands(meta.Services), meta.Dests, meta.Runs,
		meta.GuestKernel, strings.ToUpper(res.Accel), MarkdownTable(rows))
	for _, v := range Verdicts(rows) {
		t.Log(v)
	}
	out := benchutil.OutPath(t, "benchmarks-reconcile.md")
	if err := os.WriteFile(out, []byte(Document(host, o)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("written %s", out)
}
