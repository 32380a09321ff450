// Package clocktest provides a manual clock for tests of code that takes a
// clock.Clock.
package clocktest

import (
	"sync"
	"time"

	"github.com/tandemlb/tandem/shared/clock"
)

// Clock is a manual clock.Clock. Time moves only with Advance. Every timer
// armed is announced on Armed (buffered), so a test can wait for the code
// under test to reach its next wait without sleeping.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	// Armed receives the duration of every timer created, in order.
	Armed chan time.Duration
}

var _ clock.Clock = (*Clock)(nil)

// New returns a clock at start.
func New(start time.Time) *Clock {
	return &Clock{now: start, Armed: make(chan time.Duration, 256)}
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
	c.mu.Lock()
	t := &timer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.fired = true
		t.ch <- c.now
	} else {
		c.timers = append(c.timers, t)
	}
	c.mu.Unlock()
	c.Armed <- d
	return t
}

// Advance moves time forward by d and fires the timers that are due.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.fired {
			continue
		}
		if !t.at.After(c.now) {
			t.fired = true
			t.ch <- c.now
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

type timer struct {
	c     *Clock
	at    time.Time
	ch    chan time.Time
	fired bool
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.fired {
		return false
	}
	t.fired = true
	return true
}
