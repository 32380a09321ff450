package testutil

import (
	"context"
	"testing"
	"time"
)

// Running is a Run(ctx) error (a daemon's, a loop's) running in its own
// goroutine for a test, until Stop cancels its context as SIGTERM does.
type Running struct {
	cancel context.CancelFunc
	done   chan struct{}
	err    error
}

// Start runs run in its own goroutine with a context that Stop cancels.
func Start(run func(context.Context) error) *Running {
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{cancel: cancel, done: make(chan struct{})}
	go func() {
		r.err = run(ctx)
		close(r.done)
	}()
	return r
}

// Done is closed once run has returned, by itself or after Stop.
func (r *Running) Done() <-chan struct{} { return r.done }

// Err is run's error, once Done is closed.
func (r *Running) Err() error { return r.err }

// Stop cancels run's context and waits up to timeout for run to return.
// It fails tb (Errorf) when run returns an error or does not return.
func (r *Running) Stop(tb testing.TB, timeout time.Duration) {
	tb.Helper()
	r.cancel()
	select {
	case <-r.done:
		if r.err != nil {
			tb.Errorf("Run returned %v", r.err)
		}
	case <-time.After(timeout):
		tb.Errorf("Run did not return %v after the stop", timeout)
	}
}
