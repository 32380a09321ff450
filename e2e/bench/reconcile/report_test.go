package reconcile

import (
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestParseAndSummarize(t *testing.T) {
	var out strings.Builder
	out.WriteString("=== RUN   TestGuestBenchReconcile\nnoise\n")
	for run, v := range []float64{4.0, 4.4, 3.8} {
		out.WriteString(SampleLine(Sample{Impl: ImplKeepalived, Step: StepStart, Run: run + 1, Seconds: v}) + "\n")
		out.WriteString(SampleLine(Sample{Impl: ImplTandem, Step: StepStart, Run: run + 1, Seconds: v / 20}) + "\n")
		out.WriteString(SampleLine(Sample{Impl: ImplKeepalived, Step: StepWeight, Run: run + 1, Seconds: 0.65}) + "\n")
		out.WriteString(SampleLine(Sample{Impl: ImplTandem, Step: StepWeight, Run: run + 1, Seconds: 0.13}) + "\n")
		out.WriteString(SampleLine(Sample{Impl: ImplTandem, Step: StepStop, Run: run + 1, Seconds: 0.5, Left: &[2]int{1000, 10000}}) + "\n")
		out.WriteString(SampleLine(Sample{Impl: ImplKeepalived, Step: StepStop, Run: run + 1, Seconds: 5, Left: &[2]int{100 * run, 1000 * run}}) + "\n")
	}
	out.WriteString(MetaLine(Meta{Services: 1000, Dests: 10, Runs: 3, GuestKernel: "6.1.0-test"}) + "\n")
	out.WriteString(LogLine("    744ms level=INFO msg=starting") + "\n")
	o, err := ParseOutput(out.String())
	if err != nil {
		t.Fatal(err)
	}
	samples, meta := o.Samples, o.Meta
	if len(o.TandemLog) != 1 || o.TandemLog[0] != "    744ms level=INFO msg=starting" {
		t.Errorf("log digest %q", o.TandemLog)
	}
	if len(samples) != 18 || meta.Runs != 3 || meta.GuestKernel != "6.1.0-test" {
		t.Fatalf("%d samples, meta %+v", len(samples), meta)
	}
	rows := Summarize(samples)
	if len(rows) != 6 {
		t.Fatalf("%d rows: %+v", len(rows), rows)
	}
	if r := rows[0]; r.Impl != ImplKeepalived || r.Median != 4.0 || r.Min != 3.8 || r.Max != 4.4 || r.VsKeepalived != 1 {
		t.Errorf("keepalived start row %+v", r)
	}
	if r := rows[1]; r.Impl != ImplTandem || r.VsKeepalived < 19.99 || r.VsKeepalived > 20.01 {
		t.Errorf("tandem start row %+v", r)
	}
	v := Verdicts(rows)
	if len(v) != 2 || !strings.Contains(v[0], "20.0×") || !strings.Contains(v[0], "goal met") || !strings.Contains(v[1], "5.0×") || !strings.Contains(v[1], "NOT met") {
		t.Errorf("verdicts %q", v)
	}
	table := MarkdownTable(rows)
	for _, want := range []string{"| start with 1,000 × 10 (empty table) | keepalived", "4.00 s", "200 ms", "**20.0× faster**", "| stop |", "(left in the table: 1,000 services, 10,000 destinations)", "(left in the table: 0–200 services, 0–2,000 destinations)"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	doc := Document(Host{Date: "2025-01-01", CPU: "cpu", CPUs: 2, Kernel: "k", Accel: "tcg", GoVersion: "go1.26", VMWall: time.Minute}, o)
	for _, want := range []string{"# Reconcile benchmark", "accel **TCG**", "1,000 virtual services × 10", table, "## Where tandem-director's time goes", "744ms level=INFO msg=starting"} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q", want)
		}
	}
	if _, err := ParseOutput(samplePrefix + "{bad\n"); err == nil {
		t.Error("a bad sample line was accepted")
	}
}

func TestThousands(t *testing.T) {
	if thousands(1000) != "1,000" || thousands(999) != "999" || thousands(1234567) != "1,234,567" {
		t.Error("thousands")
	}
}
