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
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	tickers []*ticker
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
	c.mu.Lock()
	c.arm(t, d)
	c.mu.Unlock()
	c.announce(d)
	return t
}

// NewTicker implements clock.Clock. The first tick is d from now.
func (c *Clock) NewTicker(d time.Duration) clock.Ticker {
	if d <= 0 {
		panic("clocktest: non-positive interval for NewTicker")
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &ticker{c: c, period: d, next: c.now.Add(d), ch: make(chan time.Time, 1)}
	c.tickers = append(c.tickers, t)
	c.signal()
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
	kept := c.timers[:0]
	fired := false
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.armed = false
			select {
			case t.ch <- c.now: // empty: drained when armed
			default:
			}
			fired = true
			continue
		}
		kept = append(kept, t)
	}
	clear(c.timers[len(kept):])
	c.timers = kept
	for _, t := range c.tickers {
		if t.next.After(c.now) {
			continue
		}
		select {
		case t.ch <- c.now:
		default:
		}
		for !t.next.After(c.now) {
			t.next = t.next.Add(t.period)
		}
	}
	if fired {
		c.signal()
	}
}

// Pending is the number of timers armed and not yet fired or stopped,
// plus the tickers running: a loop waiting on its next deadline counts
// one.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers) + len(c.tickers)
}

// Next is the earliest moment a pending timer or ticker fires; false when
// none is pending.
func (c *Clock) Next() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var next time.Time
	for _, t := range c.timers {
		if next.IsZero() || t.at.Before(next) {
			next = t.at
		}
	}
	for _, t := range c.tickers {
		if next.IsZero() || t.next.Before(next) {
			next = t.next
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
		ok, changed := len(c.timers)+len(c.tickers) >= n, c.changed
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

// arm (under mu) arms t for d from now, dropping a fire not yet received.
func (c *Clock) arm(t *timer, d time.Duration) {
	c.disarm(t)
	select {
	case <-t.ch:
	default:
	}
	if d <= 0 {
		t.ch <- c.now
		return
	}
	t.at, t.armed = c.now.Add(d), true
	c.timers = append(c.timers, t)
	c.signal()
}

// disarm (under mu) removes t from the pending timers; it reports whether
// t was pending.
func (c *Clock) disarm(t *timer) bool {
	if !t.armed {
		return false
	}
	t.armed = false
	for i, p := range c.timers {
		if p == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			break
		}
	}
	c.signal()
	return true
}

// signal (under mu) wakes WaitPending.
func (c *Clock) signal() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Clock) announce(d time.Duration) {
	select {
	case c.Armed <- d:
	default:
	}
}

type timer struct {
	c     *Clock
	at    time.Time
	ch    chan time.Time
	armed bool // pending in c.timers
}

func (t *timer) C() <-chan time.Time { return t.ch }

// Stop implements clock.Timer: a fire not yet received is dropped.
func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	select {
	case <-t.ch:
	default:
	}
	return t.c.disarm(t)
}

// Reset implements clock.Timer: a fire not yet received is dropped.
func (t *timer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	was := t.armed
	t.c.arm(t, d)
	t.c.mu.Unlock()
	t.c.announce(d)
	return was
}

type ticker struct {
	c      *Clock
	period time.Duration
	next   time.Time
	ch     chan time.Time
}

func (t *ticker) C() <-chan time.Time { return t.ch }

// Stop implements clock.Ticker: a tick not yet received is dropped.
func (t *ticker) Stop() {
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, p := range c.tickers {
		if p == t {
			c.tickers = append(c.tickers[:i], c.tickers[i+1:]...)
			c.signal()
			break
		}
	}
	select {
	case <-t.ch:
	default:
	}
}

// Reset implements clock.Ticker: the next tick is d from now; a tick not
// yet received is dropped. A stopped ticker starts again.
func (t *ticker) Reset(d time.Duration) {
	if d <= 0 {
		panic("clocktest: non-positive interval for Ticker.Reset")
	}
	c := t.c
	c.mu.Lock()
	defer c.mu.Unlock()
	t.period, t.next = d, c.now.Add(d)
	select {
	case <-t.ch:
	default:
	}
	for _, p := range c.tickers {
		if p == t {
			return
		}
	}
	c.tickers = append(c.tickers, t)
	c.signal()
}
