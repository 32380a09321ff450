package ops

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func fakeSamples() []Sample {
	var s []Sample
	for r := 1; r <= 3; r++ {
		f := float64(r)
		s = append(s,
			Sample{Scenario: ScDrain, Variant: VarKeepalived, Run: r, Seconds: 5 + f, Sent: 300},
			Sample{Scenario: ScDrain, Variant: VarTandem, Run: r, Seconds: 0.05 * f, Sent: 100},
			Sample{Scenario: ScUnhealthy, Variant: VarKeepalived, Run: r, Seconds: 8, Failed: 100 + r, Sent: 400},
			Sample{Scenario: ScUnhealthy, Variant: VarKeepalivedDL1, Run: r, Seconds: 4, Failed: 50, Sent: 200},
			Sample{Scenario: ScUnhealthy, Variant: VarTandem, Run: r, Seconds: 2, Failed: 30, Sent: 150},
			Sample{Case: CaseIdle, Proc: ProcKA, Run: r, Procs: 3, RSSKiB: 10240, CPUPct: 0.1},
			Sample{Case: CaseIdle, Proc: ProcDirector, Run: r, Procs: 1, RSSKiB: 20480, CPUPct: 0.3},
			Sample{Case: CaseHBLoad, Proc: ProcDirector, Run: r, Procs: 1, RSSKiB: 30720, CPUPct: 20,
				HB: &HBCounts{Agents: 1000, Sent: 1000, Replies: 990, Accepted: 1000, QueueFull: 2}})
	}
	return s
}

func TestParseOutputRoundTrip(t *testing.T) {
	var b strings.Builder
	b.WriteString("=== RUN TestGuestBenchOps\nnoise\n")
	for _, s := range fakeSamples() {
		b.WriteString("guest: " + SampleLine(s) + "\n")
	}
	b.WriteString(MetaLine(Meta{Runs: 3, Keepalived: "Keepalived v2.2.7"}) + "\n")
	o, err := ParseOutput(b.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Samples) != len(fakeSamples()) || o.Meta.Runs != 3 || o.Samples[7].HB == nil || o.Samples[7].HB.Replies != 990 {
		t.Errorf("parsed %d samples, meta %+v", len(o.Samples), o.Meta)
	}
	if _, err := ParseOutput("BENCH {bad"); err == nil {
		t.Error("a bad sample line parsed")
	}
}

func TestSummarize(t *testing.T) {
	tr, rr := Summarize(fakeSamples())
	if len(tr) != 5 || len(rr) != 3 {
		t.Fatalf("%d timing rows, %d resource rows", len(tr), len(rr))
	}
	d := tr[1] // drain, tandem
	if d.Variant != VarTandem || d.Seconds.Median != 0.1 || d.Seconds.Min != 0.05 || d.VsSeed != 70 || d.VsDL1 != 0 {
		t.Errorf("drain tandem row %+v", d)
	}
	u := tr[4]
	if u.Variant != VarTandem || u.VsSeed != 4 || u.VsDL1 != 2 || u.Failed.Median != 30 {
		t.Errorf("unhealthy tandem row %+v", u)
	}
	if tr[2].Failed.Median != 102 || tr[2].Failed.Min != 101 {
		t.Errorf("failed %+v", tr[2].Failed)
	}
	if rr[1].RSSVsKA != 2 || rr[1].CPUVsKA < 2.99 || rr[1].CPUVsKA > 3.01 {
		t.Errorf("director idle row %+v", rr[1])
	}
	if h := rr[2].HB; h == nil || h.Sent != 3000 || h.Replies != 2970 || h.QueueFull != 6 {
		t.Errorf("heartbeat counts %+v", rr[2].HB)
	}
	if s := StatOf([]float64{4, 1, 3, 2}); s.Median != 2.5 || s.Min != 1 || s.Max != 4 || s.N != 4 {
		t.Errorf("StatOf %+v", s)
	}
}

func TestTables(t *testing.T) {
	tr, rr := Summarize(fakeSamples())
	tt := TimingTable(tr)
	for _, want := range []string{
		"| drain (rs1 out on purpose) | keepalived 2.2.7, seed config",
		"| 7.00 s | 6.00 s – 8.00 s | 0 | 300 | 1 (baseline) | — |",
		"| 100 ms | 50.0 ms – 150 ms | 0 | 100 | **70.0× faster** | — |",
		"| 2.00 s | 2.00 s – 2.00 s | 30 | 150 | **4.0× faster** | **2.0× faster** |",
		"| 102 (101–103) |",
	} {
		if !strings.Contains(tt, want) {
			t.Errorf("timing table lacks %q:\n%s", want, tt)
		}
	}
	rt := ResourceTable(rr)
	for _, want := range []string{
		"| keepalived 2.2.7 idle (parent + VRRP + checkers) | 10.0 MiB | 10.0 MiB – 10.0 MiB | 0.10 % |",
		"| 3 | 2.00× | 3.00× |",
		"sent 3000, replies received 2970 (30 lost), send errors 0; director: accepted 3000, dropped 0, queue full 6",
		"| 20.0 % |",
	} {
		if !strings.Contains(rt, want) {
			t.Errorf("resource table lacks %q:\n%s", want, rt)
		}
	}
}

func TestDocumentAndJSON(t *testing.T) {
	h := Host{Date: "2026-11-27", CPU: "cpu", CPUs: 2, Kernel: "6.18", Accel: "tcg", GoVersion: "go1.26", LoadAvg: "1 1 1", VMWall: 90 * time.Second}
	o := Output{Samples: fakeSamples(), Meta: Meta{Runs: 3, GuestKernel: "6.1.0", GuestCPUs: 2, GuestMemMB: 960, Rate: 40,
		KeepAlive: "25 %", Poll: "5ms", Window: "20s", Agents: 1000, Keepalived: "Keepalived v2.2.7", Director: "v1", Backend: "v1"}}
	tr, rr := Summarize(o.Samples)
	doc := Document(h, o.Meta, tr, rr)
	for _, want := range []string{"# Operations and resources benchmark", "- Date: 2026-11-27.", "accel **TCG**", "VM wall 1m30s",
		"tandem-director v1; tandem-backend v1", "## Resources", "with those 1000 addresses as real servers"} {
		if !strings.Contains(doc, want) {
			t.Errorf("document lacks %q", want)
		}
	}
	js, err := JSON(h, o.Meta, tr, rr)
	if err != nil {
		t.Fatal(err)
	}
	var r Results
	if err := json.Unmarshal(js, &r); err != nil {
		t.Fatal(err)
	}
	if r.Date != "2026-11-27" || len(r.Timings) != 5 || len(r.Resources) != 3 || !strings.Contains(r.Machine, "QEMU TCG") {
		t.Errorf("%+v", r)
	}
}

func TestParseStat(t *testing.T) {
	line := []byte("1234 (tandem (x) y) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 8 0 100 0 0\n")
	ticks, ppid, err := parseStat(line)
	if err != nil || ticks != 281 || ppid != 1 {
		t.Errorf("parseStat: %d %d %v", ticks, ppid, err)
	}
	if _, _, err := parseStat([]byte("1 (x) S 1")); err == nil {
		t.Error("a short line parsed")
	}
	rss, err := parseRSS([]byte("Name:\tx\nVmPeak:\t 100 kB\nVmRSS:\t    2048 kB\n"))
	if err != nil || rss != 2048 {
		t.Errorf("parseRSS: %d %v", rss, err)
	}
	if rss, err := parseRSS([]byte("Name:\tkthreadd\n")); err != nil || rss != 0 {
		t.Errorf("kernel thread: %d %v", rss, err)
	}
}

func TestReadProcSelf(t *testing.T) {
	s, err := ReadProc("/proc", os.Getpid())
	if err != nil {
		t.Skipf("no /proc here: %v", err)
	}
	if s.RSSKiB <= 0 {
		t.Errorf("%+v", s)
	}
	tr := Trees("/proc", os.Getppid(), os.Getpid())
	if len(tr) != 2 || len(tr[0]) < 2 || tr[0][0] != os.Getppid() || !slices.Contains(tr[0], os.Getpid()) || tr[1][0] != os.Getpid() {
		t.Errorf("trees of the parent and of this process: %v", tr)
	}
}
