// Package clocktest provides a manual clock for tests of code that takes a
// clock.Clock.
//
// Time moves only with Advance, which fires, before it returns, every
// timer and ticker that has come due. The code under test receives the
// fires in its own goroutine; the test waits for it to be waiting again
// with WaitPending (or reads Armed), then advances again. A test of a loop
// thus goes: start the loop, WaitPending(1), Advance, wait for the effect.
package clocktest

import (
	"sync"
	"time"

	"github.com/tandemlb/tandem/shared/clock"
)

// Clock is a manual clock.Clock. Time moves only with Advance. Every timer
// armed is announced on Armed, so a test can wait for the code under test
// to reach its next wait without sleeping.
type Clock struct {
	mu  sync.Mutex
	now time.Time
	// pending are the timers armed and the tickers running.
	pending []*timer
	// changed is closed and replaced whenever Pending may have changed.
	changed chan struct{}
	// Armed receives the duration of every timer armed (NewTimer and
	// Reset), in order; tickers are not announced. It holds the last 256:
	// an announcement that finds it full is dropped, so that code arming
	// timers in a test that does not read Armed never blocks.
	Armed chan time.Duration
}

var _ clock.Clock = (*Clock)(nil)

// New returns a clock at start.
func New(start time.Time) *Clock {
	return &Clock{now: start, Armed: make(chan time.Duration, 256), changed: make(chan struct{})}
}

// Now implements clock.Clock.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer implements clock.Clock. A timer of zero or negative duration
// fires at once.
func (c *Clock) NewTimer(d time.Duration) clock.Timer {
	t := &timer{c: c, ch: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// NewTicker implements clock.Clock. The first tick is d from now.
func (c *Clock) NewTicker(d time.Duration) clock.Ticker {
	t := ticker{&timer{c: c, ch: make(chan time.Time, 1)}}
	t.Reset(d)
	return t
}

// Advance moves time forward by d and fires the timers and tickers that
// are due, before it returns. A fire is a send on a channel of one
// element: a ticker whose receiver is behind keeps one tick and drops the
// others, as a time.Ticker does; a ticker passed over by several periods
// ticks once.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.pending[:0]
	for _, t := range c.pending {
		if !t.at.After(c.now) {
			select {
			case t.ch <- c.now:
			default:
			}
			if t.period == 0 {
				continue // a timer fires once
			}
			for !t.at.After(c.now) {
				t.at = t.at.Add(t.period)
			}
		}
		kept = append(kept, t)
	}
	if len(kept) < len(c.pending) {
		clear(c.pending[len(kept):])
		c.signal()
	}
	c.pending = kept
}

// Pending is the number of timers armed and not yet fired or stopped,
// plus the tickers running: a loop waiting on its next deadline counts
// one.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.pending)
}

// Next is the earliest moment a pending timer or ticker fires; false when
// none is pending.
func (c *Clock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	for _, t := range c.pending {
		if next.IsZero() || t.at.Before(next) {
			next = t.at
		}
	}
	return next, !next.IsZero()
}

// WaitPending waits until at least n timers and tickers are pending, or
// timeout passes (real time: it bounds how long the goroutines under test
// may take to get back to their wait), and reports whether they are.
// After Advance, the timers it fired are no longer pending: WaitPending
// then returns once the code under test has handled them and armed its
// next deadlines.
func (c *Clock) WaitPending(n int, timeout time.Duration) bool {
	expired := time.NewTimer(timeout)
	defer expired.Stop()
	for {
		c.mu.Lock()
		ok, changed := len(c.pending) >= n, c.changed
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-changed:
		case <-expired.C:
			return false
		}
	}
}

// stop (under mu) takes t off the pending list and drops a fire not yet
// received; it reports whether t was pending.
func (c *Clock) stop(t *timer) bool {
	select {
	case <-t.ch:
	default:
	}
	for i, p := range c.pending {
		if p == t {
			c.pending = append(c.pending[:i], c.pending[i+1:]...)
			c.signal()
			return true
		}
	}
	return false
}

// signal (under mu) wakes WaitPending.
func (c *Clock) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// timer is a Timer, and the state of a ticker (period > 0).
type timer struct {
	c      *Clock
	at     time.Time     // the next fire, while pending
	period time.Duration // 0 for a timer
	ch     chan time.Time
}

func (t *timer) C() <-chan time.Time { return t.ch }

// Stop implements clock.Timer: a fire not yet received is dropped.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	return t.c.stop(t)
}

// Reset implements clock.Timer: a fire not yet received is dropped.
func (t *timer) Reset(d time.Duration) bool {
	c := t.c
	c.mu.Lock()
	was := c.stop(t)
	if d <= 0 {
		t.ch <- c.now
	} else {
		t.at = c.now.Add(d)
		c.pending = append(c.pending, t)
		c.signal()
	}
	c.mu.Unlock()
	select {
	case c.Armed <- d:
	default:
	}
	return was
}

type ticker struct{ t *timer }

func (t ticker) C() <-chan time.Time { return t.t.ch }

// Stop implements clock.Ticker: a tick not yet received is dropped.
func (t ticker) Stop() { t.t.Stop() }

// Reset implements clock.Ticker: the next tick is d from now; a tick not
// yet received is dropped. A stopped ticker starts again.
func (t ticker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clocktest: non-positive interval for a ticker")
	}
	c := t.t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stop(t.t)
	t.t.period, t.t.at = d, c.now.Add(d)
	c.pending = append(c.pending, t.t)
	c.signal()
}
