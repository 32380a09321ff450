package ops

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

// TestVMBenchOps boots the guest once, runs TestGuestBenchOps in it,
// prints the tables and rewrites docs/benchmarks-ops.md and
// docs/benchmarks-ops.json (TANDEM_BENCH_OUT names another .md; the .json
// goes next to it). It is a benchmark, not a test of `make test-vm`: it
// only runs with TANDEM_BENCH=1 (`make bench-ops`). It fails when a
// scenario fails, never on timing.
func TestVMBenchOps(t *testing.T) {
	if os.Getenv("TANDEM_BENCH") == "" {
		t.Skip("ops benchmark: boots a QEMU guest for about half an hour; runs in `make bench-ops` / `make bench` (TANDEM_BENCH=1 TANDEM_TEST_VM=1), not in `make test-vm`")
	}
	testutil.VM(t)
	testutil.Bin(t, "tandem-director")
	testutil.Bin(t, "tandem-backend")
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	env := map[string]string{}
	for _, k := range []string{"TANDEM_BENCH_RUNS", "TANDEM_BENCH_WINDOW"} {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	res := vmtest.RunGuestTests(t, vmtest.GuestRun{
		Package: "./e2e/bench/ops",
		Run:     "^TestGuestBenchOps$",
		Want:    []string{"TestGuestBenchOps"},
		Env:     env,
		Timeout: 85 * time.Minute,
	})
	if t.Failed() {
		t.Fatal("a scenario failed: docs/benchmarks-ops.md and .json left as they were")
	}
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
	host := Host{Date: time.Now().UTC().Format("2006-01-02"), CPU: cpuModel(), CPUs: runtime.NumCPU(), Kernel: osRelease(),
		Accel: res.Accel, LoadAvg: load, GoVersion: runtime.Version(), VMWall: res.Wall}
	trows, rrows := Summarize(o.Samples)
	t.Logf("ops benchmark, %d runs, guest kernel %s (%s):\n%s\n%s", o.Meta.Runs, o.Meta.GuestKernel, strings.ToUpper(res.Accel),
		TimingTable(trows), ResourceTable(rrows))
	out := os.Getenv("TANDEM_BENCH_OUT")
	if out == "" {
		root, err := vmtest.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		out = filepath.Join(root, "docs", "benchmarks-ops.md")
	}
	js, err := JSON(host, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(out, []byte(Document(host, o)), 0o644); err != nil {
		t.Fatal(err)
	}
	jsPath := strings.TrimSuffix(out, ".md") + ".json"
	if err := os.WriteFile(jsPath, js, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("written %s and %s", out, jsPath)
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
