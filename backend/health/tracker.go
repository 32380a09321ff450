package health

import (
	"fmt"
	"time"
)

// State is the tracked state of a service.
type State int

// States. Unknown lasts until the first result.
const (
	Unknown State = iota
	Healthy
	Unhealthy
)

// String returns "unknown", "healthy" or "unhealthy".
func (s State) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Unhealthy:
		return "unhealthy"
	}
	return "unknown"
}

// MarshalText makes State print as its name in JSON.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Result is the outcome of one probe.
type Result struct {
	// OK is true when the probe passed.
	OK bool
	// Reason says why it failed (or a short note when it passed).
	Reason string
	// At is when the probe finished.
	At time.Time
	// Took is how long the probe took.
	Took time.Duration
	// Gone marks a failure seen by the ListenWatch (the application's
	// listener was destroyed) or the ProcessWatch (its process exited):
	// decisive, the state turns Unhealthy at once instead of after `fall`
	// failures.
	Gone bool
	// Watch says which watch saw a Gone: WatchListener or WatchProcess.
	Watch string
}

// The watches of a Gone result.
const (
	WatchListener = "listener"
	WatchProcess  = "process"
)

// Tracker applies rise and fall to probe results. The zero value is not
// usable; use NewTracker.
type Tracker struct {
	rise, fall int
	state      State
	passes     int // consecutive passes
	fails      int // consecutive failures
	reason     string
	since      time.Time
	last       Result
}

// NewTracker returns a tracker in state Unknown.
func NewTracker(rise, fall int) *Tracker {
	return &Tracker{rise: max(rise, 1), fall: max(fall, 1)}
}

// Observe records a result and reports whether the state changed.
func (t *Tracker) Observe(r Result) bool {
	t.last = r
	if r.OK {
		t.passes++
		t.fails = 0
	} else {
		t.fails++
		t.passes = 0
	}
	prev := t.state
	switch {
	case t.state == Unknown && r.OK, t.state == Unhealthy && t.passes >= t.rise:
		t.state = Healthy
		t.reason = ""
	case t.state == Unknown && !r.OK, t.state == Healthy && (t.fails >= t.fall || r.Gone):
		t.state = Unhealthy
		t.reason = r.Reason
	case t.state == Unhealthy && !r.OK:
		t.reason = r.Reason // keep the reason current
	}
	if t.state != prev {
		t.since = r.At
		return true
	}
	return false
}

// Reset forgets the counts (used when the probe definition changes).
func (t *Tracker) Reset(rise, fall int) {
	t.rise, t.fall = max(rise, 1), max(fall, 1)
	t.passes, t.fails = 0, 0
}

// State returns the current state.
func (t *Tracker) State() State { return t.state }

// Healthy reports whether the state is Healthy.
func (t *Tracker) Healthy() bool { return t.state == Healthy }

// Passes returns the number of consecutive passes.
func (t *Tracker) Passes() int { return t.passes }

// Since returns when the state last changed.
func (t *Tracker) Since() time.Time { return t.since }

// Last returns the last result.
func (t *Tracker) Last() Result { return t.last }

// Reason says why the service is not healthy, including progress towards
// a change, e.g. "connection refused" or "1/2 passes to rise".
func (t *Tracker) Reason() string {
	switch t.state {
	case Unknown:
		return "not probed yet"
	case Unhealthy:
		if t.passes > 0 {
			return fmt.Sprintf("%s (%d/%d passes to rise)", t.reason, t.passes, t.rise)
		}
		return t.reason
	}
	if t.fails > 0 {
		return fmt.Sprintf("failing %d/%d: %s", t.fails, t.fall, t.last.Reason)
	}
	return ""
}

// UnmarshalText parses the name MarshalText writes.
func (s *State) UnmarshalText(b []byte) error {
	switch string(b) {
	case "healthy":
		*s = Healthy
	case "unhealthy":
		*s = Unhealthy
	case "unknown":
		*s = Unknown
	default:
		return fmt.Errorf("health: unknown state %q", b)
	}
	return nil
}
