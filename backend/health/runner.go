package health

import (
	"context"
	"time"
)

// Runner runs a probe every interval, each bounded by timeout, and hands the
// results to a callback.
type Runner struct {
	probe    Probe
	interval time.Duration
	timeout  time.Duration
	now      chan struct{}
}

// NewRunner returns a runner. It does no I/O.
func NewRunner(p Probe, interval, timeout time.Duration) *Runner {
	return &Runner{probe: p, interval: interval, timeout: timeout, now: make(chan struct{}, 1)}
}

// ProbeNow asks for a probe at once (e.g. when maintenance ends).
func (r *Runner) ProbeNow() {
	select {
	case r.now <- struct{}{}:
	default:
	}
}

// Once runs the probe once.
func (r *Runner) Once(ctx context.Context) Result {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	start := time.Now()
	err := r.probe.Probe(ctx)
	res := Result{OK: err == nil, At: time.Now(), Took: time.Since(start)}
	if err != nil {
		res.Reason = err.Error()
		if ctx.Err() == context.DeadlineExceeded {
			res.Reason = "timed out after " + r.timeout.String() + ": " + res.Reason
		}
	}
	return res
}

// Run probes now and then every interval until ctx ends, calling report
// with each result. A probe is never started while the previous one runs.
func (r *Runner) Run(ctx context.Context, report func(Result)) error {
	return r.RunAfter(ctx, 0, report)
}

// RunAfter is Run with the first probe after first instead of at once (the
// caller has just probed synchronously).
func (r *Runner) RunAfter(ctx context.Context, first time.Duration, report func(Result)) error {
	t := time.NewTimer(first)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-r.now:
			t.Stop()
		}
		res := r.Once(ctx)
		if ctx.Err() != nil {
			return nil
		}
		report(res)
		t.Reset(r.interval)
	}
}
