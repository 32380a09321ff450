package clocktest

import (
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// got returns the value ready on ch, if any, without waiting: a manual
// clock fires before Advance returns.
func got(ch <-chan time.Time) (time.Time, bool) {
	select {
	case v := <-ch:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestTimer(t *testing.T) {
	c := New(t0)
	tm := c.NewTimer(time.Second)
	if d := <-c.Armed; d != time.Second {
		t.Errorf("announced %v", d)
	}
	c.Advance(999 * time.Millisecond)
	if _, ok := got(tm.C()); ok {
		t.Fatal("fired early")
	}
	c.Advance(time.Millisecond)
	if v, ok := got(tm.C()); !ok || !v.Equal(t0.Add(time.Second)) {
		t.Fatalf("fire %v %v, want at t0+1s", v, ok)
	}
	if tm.Stop() {
		t.Error("Stop of a fired timer reported a stop")
	}
	if tm.Reset(time.Second) {
		t.Error("Reset of a fired timer reported it armed")
	}
	if d := <-c.Armed; d != time.Second {
		t.Errorf("Reset announced %v", d)
	}
	// Reset drops a fire not received.
	c.Advance(time.Second)
	tm.Reset(time.Second)
	if _, ok := got(tm.C()); ok {
		t.Fatal("stale fire after Reset")
	}
	if n := c.Pending(); n != 1 {
		t.Errorf("pending %d after Reset, want 1", n)
	}
	if !tm.Reset(2 * time.Second) {
		t.Error("Reset of an armed timer reported it unarmed")
	}
	c.Advance(time.Second)
	if _, ok := got(tm.C()); ok {
		t.Fatal("fired at the deadline Reset replaced")
	}
	// Stop prevents the fire, and drops one not received.
	if !tm.Stop() {
		t.Error("Stop of an armed timer reported none")
	}
	c.Advance(time.Hour)
	if _, ok := got(tm.C()); ok {
		t.Fatal("a stopped timer fired")
	}
	tm.Reset(0)
	tm.Stop()
	if _, ok := got(tm.C()); ok {
		t.Fatal("fire received after Stop")
	}
	// Zero and negative durations fire at once, and are not pending.
	for _, d := range []time.Duration{0, -time.Second} {
		tm := c.NewTimer(d)
		if _, ok := got(tm.C()); !ok {
			t.Errorf("NewTimer(%v) did not fire at once", d)
		}
	}
	if n := c.Pending(); n != 0 {
		t.Errorf("pending %d, want 0", n)
	}
}

func TestTicker(t *testing.T) {
	c := New(t0)
	tk := c.NewTicker(time.Second)
	for i := 1; i <= 3; i++ {
		c.Advance(500 * time.Millisecond)
		if _, ok := got(tk.C()); ok {
			t.Fatalf("tick %d half a period early", i)
		}
		c.Advance(500 * time.Millisecond)
		if v, ok := got(tk.C()); !ok || !v.Equal(t0.Add(time.Duration(i)*time.Second)) {
			t.Fatalf("tick %d: %v %v", i, v, ok)
		}
	}
	// A receiver behind by several periods finds one tick; the schedule
	// keeps its phase.
	c.Advance(3500 * time.Millisecond)
	if _, ok := got(tk.C()); !ok {
		t.Fatal("no tick after 3.5 periods")
	}
	if _, ok := got(tk.C()); ok {
		t.Fatal("a second tick held")
	}
	if next, _ := c.Next(); !next.Equal(t0.Add(7 * time.Second)) {
		t.Errorf("next tick at %v, want t0+7s", next)
	}
	c.Advance(500 * time.Millisecond)
	if _, ok := got(tk.C()); !ok {
		t.Fatal("no tick at t0+7s")
	}
	// Reset restarts the period from now and drops a tick not received.
	c.Advance(time.Second)
	tk.Reset(2 * time.Second)
	if _, ok := got(tk.C()); ok {
		t.Fatal("tick held across Reset")
	}
	c.Advance(time.Second)
	if _, ok := got(tk.C()); ok {
		t.Fatal("tick one second after a Reset to two")
	}
	c.Advance(time.Second)
	if _, ok := got(tk.C()); !ok {
		t.Fatal("no tick two seconds after the Reset")
	}
	if n := c.Pending(); n != 1 {
		t.Errorf("pending %d, want the ticker", n)
	}
	// Stop: no more ticks, and one not received is dropped.
	c.Advance(2 * time.Second)
	tk.Stop()
	if _, ok := got(tk.C()); ok {
		t.Fatal("tick received after Stop")
	}
	c.Advance(time.Hour)
	if _, ok := got(tk.C()); ok {
		t.Fatal("a stopped ticker ticked")
	}
	if n := c.Pending(); n != 0 {
		t.Errorf("pending %d after Stop", n)
	}
	// Reset starts a stopped ticker again.
	tk.Reset(time.Second)
	c.Advance(time.Second)
	if _, ok := got(tk.C()); !ok {
		t.Fatal("no tick after a Reset of a stopped ticker")
	}
	for _, f := range []func(){func() { c.NewTicker(0) }, func() { tk.Reset(-1) }} {
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic for a non-positive period")
				}
			}()
			f()
		}()
	}
}

func TestNextAndPending(t *testing.T) {
	c := New(t0)
	if _, ok := c.Next(); ok {
		t.Error("Next with nothing pending")
	}
	a := c.NewTimer(3 * time.Second)
	c.NewTimer(2 * time.Second)
	c.NewTicker(5 * time.Second)
	if next, ok := c.Next(); !ok || !next.Equal(t0.Add(2*time.Second)) || c.Pending() != 3 {
		t.Errorf("next %v %v, pending %d", next, ok, c.Pending())
	}
	c.Advance(2 * time.Second)
	a.Stop()
	if next, _ := c.Next(); !next.Equal(t0.Add(5*time.Second)) || c.Pending() != 1 {
		t.Errorf("next %v, pending %d; want the ticker alone", next, c.Pending())
	}
}

// WaitPending returns once another goroutine has armed its next timer:
// the handshake of a test that drives a loop.
func TestWaitPending(t *testing.T) {
	c := New(t0)
	if c.WaitPending(1, 10*time.Millisecond) {
		t.Fatal("WaitPending(1) true with nothing armed")
	}
	if !c.WaitPending(0, 0) {
		t.Fatal("WaitPending(0) false")
	}
	fires := make(chan time.Time)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { // a loop: wait a second, report, again
		defer close(done)
		tm := c.NewTimer(time.Second)
		for {
			select {
			case v := <-tm.C():
				fires <- v
				tm.Reset(time.Second)
			case <-stop:
				tm.Stop()
				return
			}
		}
	}()
	for i := 1; i <= 3; i++ {
		if !c.WaitPending(1, 5*time.Second) {
			t.Fatalf("round %d: the loop did not arm its timer", i)
		}
		c.Advance(time.Second)
		if v := <-fires; !v.Equal(t0.Add(time.Duration(i) * time.Second)) {
			t.Fatalf("round %d: fire at %v", i, v)
		}
	}
	close(stop)
	<-done
}

// Code that arms timers in a test that never reads Armed does not block.
func TestArmedNeverBlocks(t *testing.T) {
	c := New(t0)
	tm := c.NewTimer(time.Second)
	for range 1000 {
		tm.Reset(time.Second)
	}
	if n := len(c.Armed); n != cap(c.Armed) {
		t.Errorf("Armed holds %d, want %d", n, cap(c.Armed))
	}
}
