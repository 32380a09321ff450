package clock_test

import (
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/clock"
	"github.com/tandemlb/tandem/shared/clock/clocktest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// patience bounds every wait for a fire that must come (real time).
const patience = 5 * time.Second

func recv(t *testing.T, ch <-chan time.Time, what string) time.Time {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(patience):
		t.Fatalf("%s: no fire within %v", what, patience)
	}
	return time.Time{}
}

func none(t *testing.T, ch <-chan time.Time, what string) {
	t.Helper()
	select {
	case v := <-ch:
		t.Fatalf("%s: fired (%v)", what, v)
	default:
	}
}

func TestOr(t *testing.T) {
	if _, ok := clock.Or(nil).(clock.Real); !ok {
		t.Errorf("Or(nil) = %T, want Real", clock.Or(nil))
	}
	c := clocktest.New(time.Unix(0, 0))
	if clock.Or(c) != c {
		t.Error("Or(c) is not c")
	}
}

// The system clock's timer, ticker and alarm, with short durations.
func TestRealTimerTicker(t *testing.T) {
	c := clock.Real{}
	start := c.Now()
	tm := c.NewTimer(10 * time.Millisecond)
	if v := recv(t, tm.C(), "timer"); v.Sub(start) < 10*time.Millisecond {
		t.Errorf("timer fired after %v, want >= 10ms", v.Sub(start))
	}
	if tm.Stop() {
		t.Error("Stop of a fired timer reported a stop")
	}
	if tm.Reset(time.Hour) {
		t.Error("Reset of a fired timer reported it armed")
	}
	if !tm.Stop() {
		t.Error("Stop of an armed timer reported none")
	}

	tk := c.NewTicker(5 * time.Millisecond)
	defer tk.Stop()
	recv(t, tk.C(), "tick 1")
	recv(t, tk.C(), "tick 2")
	tk.Reset(time.Hour)
	testutil.Settle(20 * time.Millisecond) // the old period would tick meanwhile
	none(t, tk.C(), "ticker reset to an hour")
}

func TestRealAlarm(t *testing.T) {
	c := clock.Real{}
	a := clock.NewAlarm(nil)
	defer a.Stop()
	if ch := a.At(time.Time{}); ch != nil {
		t.Fatal("zero deadline: a channel, want nil")
	}
	start := c.Now()
	if v := recv(t, a.At(start.Add(10*time.Millisecond)), "alarm"); v.Sub(start) < 10*time.Millisecond {
		t.Errorf("alarm fired after %v, want >= 10ms", v.Sub(start))
	}
	recv(t, a.At(start.Add(-time.Second)), "a deadline passed fires at once")

	// A fire nobody received is never seen after a re-arm.
	a.At(c.Now().Add(time.Millisecond))
	testutil.Settle(20 * time.Millisecond) // the fire happens, unreceived
	ch := a.At(c.Now().Add(time.Hour))
	testutil.Settle(5 * time.Millisecond)
	none(t, ch, "re-armed for an hour")
	// Nor after a Stop.
	a.At(c.Now().Add(time.Millisecond))
	testutil.Settle(20 * time.Millisecond)
	a.Stop()
	none(t, ch, "stopped")
}

// The same alarm on the manual clock: exact, and without waiting.
func TestAlarmManual(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := clocktest.New(t0)
	a := clock.NewAlarm(c)
	ch := a.At(t0.Add(time.Second))
	c.Advance(999 * time.Millisecond)
	none(t, ch, "before the deadline")
	c.Advance(time.Millisecond)
	if v := recv(t, ch, "at the deadline"); !v.Equal(t0.Add(time.Second)) {
		t.Errorf("fired with %v", v)
	}
	// Armed, fired, not received, re-armed: the stale fire is dropped.
	a.At(c.Now().Add(time.Second))
	c.Advance(time.Second)
	ch = a.At(c.Now().Add(time.Second))
	none(t, ch, "stale fire after re-arm")
	if n := c.Pending(); n != 1 {
		t.Errorf("pending %d, want 1: one timer, re-armed", n)
	}
	// A later deadline replaces the earlier one.
	ch = a.At(c.Now().Add(5 * time.Second))
	c.Advance(time.Second)
	none(t, ch, "the earlier deadline")
	c.Advance(4 * time.Second)
	recv(t, ch, "the later deadline")
	// A zero deadline disarms.
	a.At(c.Now().Add(time.Second))
	if ch := a.At(time.Time{}); ch != nil {
		t.Fatal("zero deadline: a channel, want nil")
	}
	if n := c.Pending(); n != 0 {
		t.Errorf("pending %d after a zero deadline, want 0", n)
	}
	// A deadline passed fires at once; Stop drops it when unreceived.
	ch = a.At(c.Now().Add(-time.Second))
	a.Stop()
	none(t, ch, "stopped")
	recv(t, a.At(c.Now()), "deadline now")
}
