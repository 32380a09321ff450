// Package clock is the injected time source of both daemons' timed loops:
// the director's main loop, VRRP drivers, peer watcher, health checkers
// and trackers; the agent's main loop, heartbeat sender and control-socket
// waits.
//
// A loop takes a [Clock] (nil means [Real], the system clock), reads the
// time with Now, waits with the [Timer]s and [Ticker]s it makes, and waits
// for "the next deadline" through an [Alarm], the one copy of the
// re-arm/stop/drain dance of a reused timer. Tests pass clocktest.Clock, a
// manual clock that moves only when the test advances it.
package clock

import "time"

// Clock is a time source.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once, d from now (at once when
	// d <= 0).
	NewTimer(d time.Duration) Timer
	// NewTicker returns a ticker of period d > 0 (it panics otherwise, as
	// time.NewTicker does). Like a time.Ticker it holds at most one tick
	// for a slow receiver and drops the others.
	NewTicker(d time.Duration) Ticker
}

// Timer is a one-shot timer with the semantics of a Go 1.23 time.Timer:
// once Stop or Reset returns, no value of the earlier arming is received.
type Timer interface {
	C() <-chan time.Time
	// Stop stops the timer; it reports whether that prevented a fire.
	Stop() bool
	// Reset re-arms the timer for d from now; it reports whether the
	// timer was armed.
	Reset(d time.Duration) bool
}

// Ticker delivers ticks at a period.
type Ticker interface {
	C() <-chan time.Time
	// Stop turns the ticker off; no tick is received after it returns.
	Stop()
	// Reset stops the ticker and restarts it with period d > 0: the next
	// tick is d from now.
	Reset(d time.Duration)
}

// Real is the system clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (Real) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

// NewTicker returns a time.Ticker.
func (Real) NewTicker(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time        { return r.t.C }
func (r realTimer) Stop() bool                 { return r.t.Stop() }
func (r realTimer) Reset(d time.Duration) bool { return r.t.Reset(d) }

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time   { return r.t.C }
func (r realTicker) Stop()                 { r.t.Stop() }
func (r realTicker) Reset(d time.Duration) { r.t.Reset(d) }

// Or returns c, or Real when c is nil: what a loop does with the Clock of
// its options.
func Or(c Clock) Clock {
	if c == nil {
		return Real{}
	}
	return c
}

// Alarm is the deadline of an event loop on a Clock: one Timer, re-armed
// for each new deadline. The loop asks for the channel of its next
// deadline at the top of every iteration and selects on it:
//
//	alarm := clock.NewAlarm(clk)
//	defer alarm.Stop()
//	for {
//		select {
//		case <-alarm.At(m.NextDeadline()):
//			m.Step(clk.Now(), TimerFired{})
//		case ev := <-events:
//			…
//		}
//	}
//
// At stops the timer and drains a fire of the earlier deadline that was
// not received before it re-arms, so a stale fire is never seen, whatever
// the timer semantics of the Go release or GODEBUG. An Alarm belongs to
// the one goroutine that calls At and receives from its channel.
type Alarm struct {
	clock Clock
	t     Timer
}

// NewAlarm returns an unarmed alarm on c (nil: Real).
func NewAlarm(c Clock) *Alarm { return &Alarm{clock: Or(c)} }

// At arms the alarm for deadline, replacing the earlier deadline, and
// returns the channel that receives once deadline has come (at once when
// it has passed). A zero deadline disarms the alarm and returns nil, a
// channel that never receives: the select case is off.
func (a *Alarm) At(deadline time.Time) <-chan time.Time {
	if deadline.IsZero() {
		a.Stop()
		return nil
	}
	d := max(deadline.Sub(a.clock.Now()), 0)
	if a.t == nil {
		a.t = a.clock.NewTimer(d)
		return a.t.C()
	}
	a.Stop()
	a.t.Reset(d)
	return a.t.C()
}

// Stop disarms the alarm; a fire not yet received is dropped.
func (a *Alarm) Stop() {
	if a.t == nil {
		return
	}
	if !a.t.Stop() {
		select {
		case <-a.t.C():
		default:
		}
	}
}
