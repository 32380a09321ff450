package reconcile

import (
	"bufio"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/vmtest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestVMBenchReconcile boots the guest once, runs TestGuestBenchReconcile
// in it, prints the table of medians and rewrites
// docs/benchmarks-reconcile.md (TANDEM_BENCH_OUT overrides the path). It
// is a benchmark, not a test of `make test-vm`: it only runs with
// TANDEM_BENCH=1 (`make bench`). It fails when a scenario fails, never on
// timing.
func TestVMBenchReconcile(t *testing.T) {
	if os.Getenv("TANDEM_BENCH") == "" {
		t.Skip("reconcile benchmark: boots a QEMU guest for minutes; runs in `make bench` (TANDEM_BENCH=1 TANDEM_TEST_VM=1), not in `make test-vm`")
	}
	testutil.VM(t)
	testutil.Bin(t, "tandem-director")
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	env := map[string]string{}
	if r := os.Getenv("TANDEM_BENCH_RUNS"); r != "" {
		env["TANDEM_BENCH_RUNS"] = r
	}
	res := vmtest.RunGuestTests(t, vmtest.GuestRun{
		Package: "./e2e/bench/reconcile",
		Run:     "^TestGuestBenchReconcile$",
		Want:    []string{"TestGuestBenchReconcile"},
		Env:     env,
		Timeout: 40 * time.Minute,
	})
	if t.Failed() {
		t.Fatal("a scenario failed: no table, docs/benchmarks-reconcile.md left as it was")
	}
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
	host := Host{
		Date: time.Now().UTC().Format("2006-01-02"), CPU: cpuModel(), CPUs: runtime.NumCPU(),
		Kernel: osRelease(), Accel: res.Accel, LoadAvg: load, GoVersion: runtime.Version(), VMWall: res.Wall,
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
	out := os.Getenv("TANDEM_BENCH_OUT")
	if out == "" {
		root, err := vmtest.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		out = filepath.Join(root, "docs", "benchmarks-reconcile.md")
	}
	if err := os.WriteFile(out, []byte(Document(host, o)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("written %s", out)
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func osRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}
