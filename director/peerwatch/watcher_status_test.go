package peerwatch

import (
	"slices"
	"sync"
	"testing"
	"time"
)

// The backup measures the time between the master's probes and counts the
// ones that never arrived (gaps in their sequence numbers).
func TestWatcherProbeIntervalAndLost(t *testing.T) {
	var mu sync.Mutex
	var gaps []time.Duration
	taken := func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		out := gaps
		gaps = nil
		return out
	}
	a, b := clockPair(t, func(o *Options) {
		o.ProbeInterval = func(d time.Duration) { mu.Lock(); gaps = append(gaps, d); mu.Unlock() }
	})
	settle(t, a, b)
	// lb1 sends, lb2 takes the probe, then lb2's clock moves: each probe
	// arrives one interval after the one before on lb2's clock.
	tick := func() {
		a.step(t, 20*time.Millisecond)
		settle(t, a, b)
		b.step(t, 20*time.Millisecond)
		settle(t, a, b)
	}
	tick()
	taken()
	for range 3 {
		tick()
	}
	if got, want := taken(), []time.Duration{20 * time.Millisecond, 20 * time.Millisecond, 20 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("intervals %v, want %v", got, want)
	}
	if st := b.w.Status(); st.Lost != 0 {
		t.Fatalf("lost %d before any loss", st.Lost)
	}
	// Two probes of lb1 are lost on the way; the session stays up (5 × 20 ms).
	a.conn.muted.Store(true)
	tick()
	tick()
	a.conn.muted.Store(false)
	tick()
	st := b.w.Status()
	if st.Lost != 2 || st.Session != StateUp {
		t.Errorf("lost %d (session %v), want 2 (up)", st.Lost, st.Session)
	}
	if got, want := taken(), []time.Duration{60 * time.Millisecond}; !slices.Equal(got, want) {
		t.Errorf("intervals %v, want %v", got, want)
	}
	if st := a.w.Status(); st.Lost != 0 {
		t.Errorf("lb1 lost %d of lb2's probes", st.Lost)
	}
}
