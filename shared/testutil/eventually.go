package testutil

import (
	"testing"
	"time"
)

// pollEvery is how often Eventually and WaitFor test a cheap condition.
// A costly one (a process started, a table dumped) is tested no more often
// than every twice its own duration, so that waiting never takes more
// than a third of a CPU from what it waits for (under TCG it matters).
const pollEvery = 10 * time.Millisecond

// WaitFor tests cond until it holds or timeout has passed and reports
// whether it held. It is the one place a test waits on real time: for a
// real kernel, a real process or a real socket, never for code a fake
// clock can drive.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for {
		t0 := time.Now()
		if cond() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		pause := max(pollEvery, 2*time.Since(t0))
		time.Sleep(min(pause, time.Until(deadline)+time.Millisecond))
	}
}

// Eventually is WaitFor that fails tb, with the message format and args
// give, when cond does not hold within timeout.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	if !WaitFor(timeout, cond) {
		tb.Fatalf("after %v: "+format, append([]any{timeout}, args...)...)
	}
}

// Settle lets real time pass for a reason the test names: a load window,
// a period in which something must not happen. It is time.Sleep under a
// name that says why, for the real-kernel and real-process tests only.
func Settle(d time.Duration) { time.Sleep(d) }
