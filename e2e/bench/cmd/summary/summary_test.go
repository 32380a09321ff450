package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/bench/ops"
)

const failoverMD = `# Failover benchmark

## Results

bench-failover 2026-11-26 11:00Z: kernel 6.18.44-fc-v669, Keepalived v2.2.7 (01/16,2022); advert_int 1

| master → backup | event | median | min | max | vs keepalived | runs | result |
|---|---|---|---|---|---|---|---|
| keepalived → keepalived | clean stop (SIGTERM) | 0.622 s | 0.615 s | 0.622 s | 1.00× | 5/5 | ok |
| keepalived → keepalived | crash (SIGKILL + cable cut) | 2.791 s | 2.624 s | 3.505 s | 1.00× | 5/5 | ok |
| tandem-bin → tandem-bin | clean stop (SIGTERM) | 0.618 s | 0.616 s | 0.620 s | 0.99× | 5/5 | ok |
| tandem-bin → tandem-bin | crash (SIGKILL + cable cut) | 3.325 s | 2.907 s | 3.608 s | 1.19× | 5/5 | ok |
| tandem-bin-ff → tandem-bin-ff | clean stop (SIGTERM) | 0.010 s | 0.002 s | 0.012 s | 0.02× | 5/5 | ok (goal ≤ 50ms met) |
| tandem-bin-ff → tandem-bin-ff | crash (SIGKILL + cable cut) | 0.125 s | 0.106 s | 0.152 s | 0.04× | 5/5 | ok (goal ≤ 350ms met) |
`

const reconcileMD = "# Reconcile benchmark\n\n## Result\n\n" +
	"| step | implementation | what is timed | median | min – max | runs | vs keepalived |\n" +
	"|---|---|---|---:|---:|---:|---:|\n" +
	"| start with 1,000 × 10 (empty table) | keepalived 2.2.7 (`-C`, daemon) | exec → every entry in the kernel | 2.08 s | 2.02 s – 2.40 s | 5 | 1 (baseline) |\n" +
	"|  | **tandem-director run (daemon)** | exec → every entry in the kernel | 2.75 s | 2.69 s – 2.97 s | 5 | 1.3× slower |\n" +
	"|  | tandem-director run: READY=1 | exec → READY=1 | 2.94 s | 2.87 s – 3.10 s | 5 | 1.4× slower |\n" +
	"| one weight changed | keepalived 2.2.7 (`-C`, daemon) | SIGHUP → new weight seen | 509 ms | 489 ms – 515 ms | 5 | 1 (baseline) |\n" +
	"|  | **tandem-director run (daemon)** | SIGHUP → new weight seen | 2.59 s | 2.50 s – 2.69 s | 5 | 5.1× slower |\n" +
	"|  | Tandem lvs library (in-process) | Reconciler.ApplyService | 2.92 ms | 2.29 ms – 6.10 ms | 5 | **174.3× faster** |\n" +
	"\n## Where and how\n\n- Date: 2026-11-26. Host: 2 × Intel(R) Xeon(R) Processor, kernel 6.18.44-fc-v669, go1.26.8; load\n" +
	"- Guest: Debian's kernel 6.1.0-56-amd64 under QEMU, accel **TCG**, 2 vCPUs\n"

func TestParseFailover(t *testing.T) {
	f, err := parseFailover(failoverMD)
	if err != nil {
		t.Fatal(err)
	}
	if f.TandemLabel != "tandem-bin-ff → tandem-bin-ff" || f.TandemClean.Median != 0.010 || f.TandemCrash.Max != 0.152 ||
		f.KAClean.Median != 0.622 || f.KACrash.Min != 2.624 || f.Src.Date != "2026-11-26" {
		t.Errorf("%+v", f)
	}
	// Without the fast_failover rows the plain daemon is used.
	var lines []string
	for _, l := range strings.Split(failoverMD, "\n") {
		if !strings.Contains(l, "tandem-bin-ff") {
			lines = append(lines, l)
		}
	}
	f, err = parseFailover(strings.Join(lines, "\n"))
	if err != nil || f.TandemLabel != "tandem-bin → tandem-bin" || f.TandemCrash.Median != 3.325 {
		t.Errorf("%+v %v", f, err)
	}
	if _, err := parseFailover("# nothing\n"); err == nil {
		t.Error("a page without the rows parsed")
	}
}

func TestParseReconcile(t *testing.T) {
	r, err := parseReconcile(reconcileMD)
	if err != nil {
		t.Fatal(err)
	}
	want := Reconcile{KAStart: Value{2.08, 2.02, 2.40, true}, TandemStart: Value{2.75, 2.69, 2.97, true},
		KAWeight: Value{0.509, 0.489, 0.515, true}, TandemWeight: Value{2.59, 2.50, 2.69, true}}
	for _, c := range []struct{ got, want Value }{{r.KAStart, want.KAStart}, {r.TandemStart, want.TandemStart}, {r.KAWeight, want.KAWeight}, {r.TandemWeight, want.TandemWeight}} {
		if !near(c.got, c.want) {
			t.Errorf("got %+v, want %+v", c.got, c.want)
		}
	}
	if r.StepStart != "start with 1,000 × 10 (empty table)" || !strings.Contains(r.Src.Machine, "QEMU TCG") {
		t.Errorf("%+v", r)
	}
}

func near(a, b Value) bool {
	d := func(x, y float64) bool { return x-y < 1e-9 && y-x < 1e-9 }
	return a.OK == b.OK && d(a.Median, b.Median) && d(a.Min, b.Min) && d(a.Max, b.Max)
}

func TestSeconds(t *testing.T) {
	for in, want := range map[string]float64{"0.622 s": 0.622, "509 ms": 0.509, "733 µs": 0.000733, "2.92 ms": 0.00292} {
		if got, err := seconds(in); err != nil || got-want > 1e-12 || want-got > 1e-12 {
			t.Errorf("seconds(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := seconds("—"); err == nil {
		t.Error("a dash parsed")
	}
}

// TestBuild renders the page from the two Markdown pages and a JSON file
// written by the ops benchmark's own generator.
func TestBuild(t *testing.T) {
	dir := t.TempDir()
	var samples []ops.Sample
	for r := 1; r <= 3; r++ {
		samples = append(samples,
			ops.Sample{Scenario: ops.ScDrain, Variant: ops.VarKeepalived, Run: r, Seconds: 8, Sent: 400},
			ops.Sample{Scenario: ops.ScDrain, Variant: ops.VarTandem, Run: r, Seconds: 0.08, Sent: 150},
			ops.Sample{Scenario: ops.ScUnhealthy, Variant: ops.VarKeepalived, Run: r, Seconds: 9, Failed: 150, Sent: 450},
			ops.Sample{Scenario: ops.ScUnhealthy, Variant: ops.VarKeepalivedDL1, Run: r, Seconds: 3.5, Failed: 60, Sent: 200},
			ops.Sample{Scenario: ops.ScUnhealthy, Variant: ops.VarTandem, Run: r, Seconds: 4, Failed: 70, Sent: 250},
			ops.Sample{Case: ops.CaseIdle, Proc: ops.ProcKA, Run: r, Procs: 3, RSSKiB: 9000, CPUPct: 0.2},
			ops.Sample{Case: ops.CaseIdle, Proc: ops.ProcDirector, Run: r, Procs: 1, RSSKiB: 27000, CPUPct: 0.5},
			ops.Sample{Case: ops.CaseIdle, Proc: ops.ProcBackend, Run: r, Procs: 1, RSSKiB: 15000, CPUPct: 0.1},
			ops.Sample{Case: ops.CaseHBUnknown, Proc: ops.ProcDirector, Run: r, Procs: 1, RSSKiB: 40000, CPUPct: 30,
				HB: &ops.HBCounts{Agents: 1000, Sent: 22000, Replies: 21990}},
			ops.Sample{Case: ops.CaseIdleBig, Proc: ops.ProcDirector, Run: r, Procs: 1, RSSKiB: 30000, CPUPct: 40},
			ops.Sample{Case: ops.CaseHBLoad, Proc: ops.ProcDirector, Run: r, Procs: 1, RSSKiB: 32000, CPUPct: 117,
				HB: &ops.HBCounts{Agents: 1000, Sent: 17000, Replies: 5000}})
	}
	host := ops.Host{Date: "2026-11-27", CPU: "cpu", CPUs: 2, Kernel: "k", Accel: "tcg"}
	meta := ops.Meta{Runs: 3, Keepalived: "Keepalived v2.3.1 (01/16,2025)", Director: "v1", Backend: "v1"}
	writeOps := func(samples []ops.Sample) {
		t.Helper()
		trows, rrows := ops.Summarize(samples)
		js, err := ops.JSON(host, meta, trows, rrows)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "benchmarks-ops.json"), js, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	writeOps(samples)
	for name, content := range map[string]string{"benchmarks-failover.md": failoverMD, "benchmarks-reconcile.md": reconcileMD} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	now = func() time.Time { return time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC) }
	defer func() { now = time.Now }()
	page, err := build(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(page, "Figures") || strings.Contains(page, "img/") {
		t.Errorf("figures shown without their PNGs:\n%s", page)
	}
	// A figure is shown once its PNG exists (the summary only looks
	// whether the file is there: these bytes are no PNG).
	if err := os.Mkdir(filepath.Join(dir, "img"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "img", "failover-bench-crash.png"), []byte("placeholder"), 0o644); err != nil {
		t.Fatal(err)
	}
	if page, err = build(dir); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(page, "## Figures\n\n![Requests through the VIP") || !strings.Contains(page, "](img/failover-bench-crash.png)\n\n**Master crashed.**") ||
		strings.Contains(page, "failover-bench-stop.png") || strings.Contains(page, "drain-connections.png") {
		t.Errorf("figures:\n%s", page)
	}
	for _, want := range []string{
		"# Benchmarks: keepalived 2.3.1 and Tandem",
		"| what | keepalived 2.3.1 | Tandem | Tandem vs keepalived | page |",
		"| VRRP failover, master stopped (SIGTERM) → backup serves (tandem-bin-ff) | 622 ms (615 ms – 622 ms) | 10.0 ms (2.00 ms – 12.0 ms) | **62.2× faster** |",
		"| one weight changed: file edited, SIGHUP → new weight in the kernel | 509 ms (489 ms – 515 ms) | 2.59 s (2.50 s – 2.69 s) | 5.1× slower |",
		"8.00 s; 0 failed | 80.0 ms; 0 failed | **100.0× faster** |",
		"| 9.00 s; 150 failed | 4.00 s; 70 failed | **2.2× faster** |",
		"| RSS idle (keepalived: its 3 processes; Tandem: tandem-director) | 8.8 MiB | 26.4 MiB | 3.0× more |",
		"| tandem-director answering 1,000 agents of no configured real server × 1 report/s (empty replies): RSS, CPU | — (no agents) | 39.1 MiB, 30.0 %; 100.0 % of 66000 reports answered | — |",
		"| tandem-director answering the same 1,000 agents, now its real servers, × 1 report/s: RSS, CPU | — (no agents) | 31.2 MiB, 117.0 %; 29.4 % of 51000 reports answered | — |",
		"| tandem-director idle with 1,000 more real servers configured (no checkers): RSS, CPU | — | 29.3 MiB, 40.0 % | — |",
		"2026-11-27; 2 × cpu, kernel k; guest  under QEMU TCG, 0 vCPUs, 0 MB; 3 runs",
		"This page: 2026-11-28.",
		"[operations and resources](benchmarks-ops.md)",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	// Every ops row is a headline: one missing fails the page.
	for _, drop := range []func(ops.Sample) bool{
		func(s ops.Sample) bool { return s.Case == ops.CaseHBLoad },
		func(s ops.Sample) bool { return s.Scenario == ops.ScDrain && s.Variant == ops.VarTandem },
		func(s ops.Sample) bool { return s.Case == ops.CaseIdle && s.Proc == ops.ProcBackend },
	} {
		var fewer []ops.Sample
		for _, s := range samples {
			if !drop(s) {
				fewer = append(fewer, s)
			}
		}
		writeOps(fewer)
		if _, err := build(dir); err == nil || !strings.Contains(err.Error(), "benchmarks-ops.json: no ") {
			t.Errorf("built without a headline row: %v", err)
		}
	}
	if err := os.Remove(filepath.Join(dir, "benchmarks-ops.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := build(dir); err == nil {
		t.Error("built without benchmarks-ops.json")
	}
}
