// Package benchutil is what the VM benchmarks (e2e/bench/ops,
// e2e/bench/reconcile) share:
//
//   - host side: VMBench.Run is the start of a benchmark's TestVM* test
//     (the TANDEM_BENCH gate, one boot of the guest running the package's
//     TestGuest* test, the Host it ran on); OutPath is the page it
//     rewrites.
//   - guest side: EnvRuns (TANDEM_BENCH_RUNS); KernelRelease, GuestMemMB
//     and FirstLine (a tool's version) for the benchmark's meta line.
//   - the guest's output: SamplePrefix and MetaPrefix mark the JSON lines
//     (Line) the guest test prints for the host test; ParseOutput reads
//     them back (Append, Into).
//   - reports: Host, its "Where and how" lines (DateLine, GuestVM,
//     Machine), Stat (median and range), Seconds and Speed.
//
// What each benchmark measures, parses and writes stays in its package.
package benchutil

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/vm"
	"github.com/tandemlb/tandem/e2e/vmtest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// Markers of the lines a guest test prints for its host test: one sample,
// the meta line.
const (
	SamplePrefix = "BENCH "
	MetaPrefix   = "BENCHMETA "
)

// Line is the line the guest prints for v: prefix, then v in JSON.
func Line(prefix string, v any) string {
	b, _ := json.Marshal(v)
	return prefix + string(b)
}

// A Marker is one kind of line in a guest's output: the lines that hold
// Prefix, and what to do with the rest of such a line.
type Marker struct {
	Prefix string
	Parse  func(rest string) error
}

// ParseOutput reads a guest's output line by line. A line that holds a
// marker's prefix (the host log may put its own in front, "guest: ") goes
// to that marker's Parse with what follows the prefix; when a line holds
// several, the one that comes first in the line counts. Other lines are
// ignored.
func ParseOutput(out string, markers ...Marker) error {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		var m *Marker
		at := -1
		for i := range markers {
			if j := strings.Index(line, markers[i].Prefix); j >= 0 && (at < 0 || j < at) {
				m, at = &markers[i], j
			}
		}
		if m == nil {
			continue
		}
		if err := m.Parse(line[at+len(m.Prefix):]); err != nil {
			return fmt.Errorf("bad line %q: %w", line, err)
		}
	}
	return sc.Err()
}

// Append is a Marker's Parse that decodes the JSON of each line and
// appends it to *dst.
func Append[T any](dst *[]T) func(string) error {
	return func(rest string) error {
		var v T
		if err := json.Unmarshal([]byte(rest), &v); err != nil {
			return err
		}
		*dst = append(*dst, v)
		return nil
	}
}

// Into is a Marker's Parse that decodes the JSON of each line into v (a
// pointer): of several lines, the last one wins.
func Into(v any) func(string) error {
	return func(rest string) error { return json.Unmarshal([]byte(rest), v) }
}

// Host describes the machine that ran the guest.
type Host struct {
	Date, CPU, Kernel, Accel, GoVersion string
	// LoadAvg is the host's /proc/loadavg before the guest booted.
	LoadAvg string
	CPUs    int
	VMWall  time.Duration
}

// DateLine is the first line of a page's "Where and how": date, host, Go,
// the load average before the boot, then note in parentheses.
func (h Host) DateLine(note string) string {
	return fmt.Sprintf("- Date: %s. Host: %d × %s, kernel %s, %s; load average before the boot %s (%s).\n",
		h.Date, h.CPUs, h.CPU, h.Kernel, h.GoVersion, h.LoadAvg, note)
}

// GuestVM describes the guest for the "Guest:" line: "Debian's kernel K
// under QEMU, accel **TCG**, 2 vCPUs, 1024 MB (e2e/vm)".
func (h Host) GuestVM(kernel string, cpus, memMB int) string {
	return fmt.Sprintf("Debian's kernel %s under QEMU, accel **%s**, %d vCPUs, %d MB (e2e/vm)", kernel, strings.ToUpper(h.Accel), cpus, memMB)
}

// Machine is the one-line description of host and guest.
func (h Host) Machine(guestKernel string, guestCPUs, guestMemMB int) string {
	return fmt.Sprintf("%d × %s, kernel %s; guest %s under QEMU %s, %d vCPUs, %d MB", h.CPUs, h.CPU, h.Kernel,
		guestKernel, strings.ToUpper(h.Accel), guestCPUs, guestMemMB)
}

// Stat is the median and range of some values.
type Stat struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

// StatOf summarises v (any order; v is left as it is).
func StatOf(v []float64) Stat {
	if len(v) == 0 {
		return Stat{}
	}
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	m := v[n/2]
	if n%2 == 0 {
		m = (v[n/2-1] + v[n/2]) / 2
	}
	return Stat{Median: m, Min: v[0], Max: v[n-1], N: n}
}

// Median of v (any order); 0 without values.
func Median(v []float64) float64 { return StatOf(v).Median }

// Speed renders a ratio of durations, the baseline's ÷ this one:
// "**12.3× faster**", "2.0× slower", "1 (baseline)" for the baseline
// itself, "—" without a ratio (0).
func Speed(ratio float64, baseline bool) string {
	switch {
	case baseline:
		return "1 (baseline)"
	case ratio == 0:
		return "—"
	case ratio >= 1:
		return fmt.Sprintf("**%.1f× faster**", ratio)
	default:
		return fmt.Sprintf("%.1f× slower", 1/ratio)
	}
}

// Seconds formats a duration in seconds with about three significant
// digits (1.23 s, 45.6 ms, 789 µs).
func Seconds(s float64) string {
	d := time.Duration(s * float64(time.Second))
	switch {
	case d >= 10*time.Second:
		return fmt.Sprintf("%.1f s", s)
	case d >= time.Second:
		return fmt.Sprintf("%.2f s", s)
	case d >= 100*time.Millisecond:
		return fmt.Sprintf("%.0f ms", s*1e3)
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1f ms", s*1e3)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2f ms", s*1e3)
	default:
		return fmt.Sprintf("%.0f µs", s*1e6)
	}
}

// VMBench is a benchmark's host test: the guest test it runs and how.
type VMBench struct {
	// Skip is the message the test skips with unless TANDEM_BENCH is set.
	Skip string
	// Bins are the binaries of TANDEM_BIN the guest needs.
	Bins []string
	// Package is the benchmark's package ("./e2e/bench/ops"); Test the
	// guest test in it ("TestGuestBenchOps").
	Package, Test string
	// Env are the host's variables passed on to the guest when set.
	Env []string
	// Timeout bounds the guest.
	Timeout time.Duration
	// Failed is the message t fails with when the guest test failed.
	Failed string
}

// Run skips t unless TANDEM_BENCH is set, gates it on the VM level and
// b.Bins, reads the host's load average, boots the guest once running
// b.Test (which must pass, else t fails with b.Failed) and returns the
// guest's result and the host it ran on.
func (b VMBench) Run(t *testing.T) (vm.Result, Host) {
	t.Helper()
	if os.Getenv("TANDEM_BENCH") == "" {
		t.Skip(b.Skip)
	}
	testutil.VM(t)
	for _, bin := range b.Bins {
		testutil.Bin(t, bin)
	}
	load := "unknown"
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		load = strings.Join(strings.Fields(string(b))[:3], " ")
	}
	env := map[string]string{}
	for _, k := range b.Env {
		if v := os.Getenv(k); v != "" {
			env[k] = v
		}
	}
	res := vmtest.RunGuestTests(t, vmtest.GuestRun{
		Package: b.Package,
		Run:     "^" + b.Test + "$",
		Want:    []string{b.Test},
		Env:     env,
		Timeout: b.Timeout,
	})
	if t.Failed() {
		t.Fatal(b.Failed)
	}
	kernel := KernelRelease()
	if kernel == "" {
		kernel = "unknown"
	}
	return res, Host{Date: time.Now().UTC().Format("2006-01-02"), CPU: cpuModel(), CPUs: runtime.NumCPU(), Kernel: kernel,
		Accel: res.Accel, LoadAvg: load, GoVersion: runtime.Version(), VMWall: res.Wall}
}

// OutPath is the page a benchmark rewrites: TANDEM_BENCH_OUT, else
// docs/NAME in the module.
func OutPath(t *testing.T, name string) string {
	t.Helper()
	if out := os.Getenv("TANDEM_BENCH_OUT"); out != "" {
		return out
	}
	root, err := vmtest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Join(root, "docs", name)
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

// KernelRelease is the running kernel's release (the guest's in a guest
// test, the host's in VMBench.Run); "" when unknown.
func KernelRelease() string {
	v, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(v))
}

// GuestMemMB is the running system's MemTotal in MB; 0 when unknown.
func GuestMemMB() int {
	v, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	var kb int
	if _, err := fmt.Sscanf(string(v), "MemTotal: %d kB", &kb); err != nil {
		return 0
	}
	return kb / 1024
}

// FirstLine runs argv and returns the first line of its output (a tool's
// version, say); when it fails, that is logged and the line returned all
// the same.
func FirstLine(t testing.TB, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Logf("%s: %v", strings.Join(argv, " "), err)
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	return line
}

// EnvRuns is TANDEM_BENCH_RUNS, the runs of each case; def when it is not
// set. Anything but a whole number from 1 to most fails t.
func EnvRuns(t testing.TB, def, most int) int {
	t.Helper()
	s := os.Getenv("TANDEM_BENCH_RUNS")
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > most {
		t.Fatalf("TANDEM_BENCH_RUNS=%q: want 1..%d", s, most)
	}
	return n
}
