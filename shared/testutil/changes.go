package testutil

import "sync"

// Changes is how a fake tells the tests waiting on it that something
// changed: Next returns a channel that the next Notify closes. The zero
// value is ready; it is safe for concurrent use.
type Changes struct {
	mu sync.Mutex
	ch chan struct{}
}

// Next returns a channel that is closed at the next Notify.
func (c *Changes) Next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

// Notify closes the channel Next has handed out, if any.
func (c *Changes) Notify() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}
