package benchutil

import (
	"testing"
	"time"
)

func TestSeconds(t *testing.T) {
	for s, want := range map[float64]string{12.34: "12.3 s", 1.234: "1.23 s", 0.1234: "123 ms", 0.01234: "12.3 ms", 0.001234: "1.23 ms", 0.000789: "789 µs"} {
		if got := Seconds(s); got != want {
			t.Errorf("Seconds(%v) = %q, want %q", s, got, want)
		}
	}
}

func TestHostLines(t *testing.T) {
	h := Host{Date: "2026-11-27", CPU: "cpu", CPUs: 2, Kernel: "6.18", Accel: "tcg", GoVersion: "go1.26", LoadAvg: "1 1 1", VMWall: time.Minute}
	for got, want := range map[string]string{
		h.DateLine("shared"):       "- Date: 2026-11-27. Host: 2 × cpu, kernel 6.18, go1.26; load average before the boot 1 1 1 (shared).\n",
		h.GuestVM("6.1.0", 2, 960): "Debian's kernel 6.1.0 under QEMU, accel **TCG**, 2 vCPUs, 960 MB (e2e/vm)",
		h.Machine("6.1.0", 2, 960): "2 × cpu, kernel 6.18; guest 6.1.0 under QEMU TCG, 2 vCPUs, 960 MB",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

func TestEnvRuns(t *testing.T) {
	t.Setenv("TANDEM_BENCH_RUNS", "")
	if n := EnvRuns(t, 3, 50); n != 3 {
		t.Errorf("default: %d", n)
	}
	t.Setenv("TANDEM_BENCH_RUNS", "7")
	if n := EnvRuns(t, 3, 50); n != 7 {
		t.Errorf("7: %d", n)
	}
}

func TestStatAndMedian(t *testing.T) {
	v := []float64{4, 1, 3, 2}
	if s := StatOf(v); s != (Stat{Median: 2.5, Min: 1, Max: 4, N: 4}) || v[0] != 4 {
		t.Errorf("StatOf %+v (input now %v)", s, v)
	}
	if Median([]float64{1, 5, 9}) != 5 || Median(nil) != 0 || StatOf(nil) != (Stat{}) {
		t.Error("Median")
	}
}

func TestSpeed(t *testing.T) {
	for _, c := range []struct {
		ratio    float64
		baseline bool
		want     string
	}{{12.34, false, "**12.3× faster**"}, {0.5, false, "2.0× slower"}, {1, true, "1 (baseline)"}, {0, true, "1 (baseline)"}, {0, false, "—"}} {
		if got := Speed(c.ratio, c.baseline); got != c.want {
			t.Errorf("Speed(%v, %v) = %q, want %q", c.ratio, c.baseline, got, c.want)
		}
	}
}

func TestParseOutput(t *testing.T) {
	type sample struct{ N int }
	var samples []sample
	var meta struct{ Runs int }
	var logs []string
	out := "=== RUN TestGuest\r\nBENCH {\"N\":1}\nguest: BENCH {\"N\":2}\r\nBENCHMETA {\"Runs\":1}\nBENCHLOG a BENCH b\n" +
		"guest: BENCHMETA {\"Runs\":3}\nnoise BENCHLOG\n"
	err := ParseOutput(out, Marker{SamplePrefix, Append(&samples)}, Marker{MetaPrefix, Into(&meta)},
		Marker{"BENCHLOG ", func(s string) error { logs = append(logs, s); return nil }})
	if err != nil || len(samples) != 2 || samples[1].N != 2 || meta.Runs != 3 || len(logs) != 1 || logs[0] != "a BENCH b" {
		t.Errorf("%v: samples %v, meta %+v, logs %q", err, samples, meta, logs)
	}
	if err := ParseOutput("x\nBENCH {bad\n", Marker{SamplePrefix, Append(&samples)}); err == nil {
		t.Error("a bad line parsed")
	}
}
