package testutil

import (
	"testing"
	"time"
)

func TestWaitFor(t *testing.T) {
	n := 0
	if !WaitFor(time.Second, func() bool { n++; return n == 3 }) {
		t.Fatalf("WaitFor: false after %d tries", n)
	}
	start := time.Now()
	if WaitFor(30*time.Millisecond, func() bool { return false }) {
		t.Fatal("WaitFor: true for a condition that never holds")
	}
	if el := time.Since(start); el < 30*time.Millisecond || el > time.Second {
		t.Errorf("WaitFor(30ms) took %v", el)
	}
}

type fatalRecorder struct {
	testing.TB
	msg string
}

func (f *fatalRecorder) Helper() {}
func (f *fatalRecorder) Fatalf(format string, args ...any) {
	f.msg = format
}

func TestEventuallyFails(t *testing.T) {
	r := &fatalRecorder{TB: t}
	Eventually(r, 20*time.Millisecond, func() bool { return false }, "never %s", "x")
	if r.msg == "" {
		t.Fatal("Eventually did not fail")
	}
}

// TestWaitForThrottlesCostlyConditions: a condition that takes 20 ms is
// tested at most about once every 60 ms, not every 10 ms.
func TestWaitForThrottlesCostlyConditions(t *testing.T) {
	n := 0
	WaitFor(300*time.Millisecond, func() bool {
		n++
		time.Sleep(20 * time.Millisecond)
		return false
	})
	if n > 7 {
		t.Errorf("a 20 ms condition was tested %d times in 300 ms, want at most 7", n)
	}
}
