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
