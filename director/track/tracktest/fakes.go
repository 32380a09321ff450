// Package tracktest provides fakes for tests of code that uses package
// track: a scripted Executor and an in-memory ProcFS (the manual clock is
// shared/clock/clocktest).
package tracktest

import (
	"context"
	"sync"

	"github.com/tandemlb/tandem/director/track"
)

// Executor is a scripted track.Executor. Each Exec records its Command,
// sends it on Started, then returns the next result pushed with Push (or
// waits for one, or for ctx).
type Executor struct {
	mu      sync.Mutex
	calls   []track.Command
	results chan track.ExecResult
	// Started receives every Command as its run starts.
	Started chan track.Command
}

var _ track.Executor = (*Executor)(nil)

// NewExecutor returns an Executor with nothing queued.
func NewExecutor() *Executor {
	return &Executor{results: make(chan track.ExecResult, 64), Started: make(chan track.Command, 64)}
}

// Push queues the result of a future run.
func (e *Executor) Push(r track.ExecResult) { e.results <- r }

// Calls returns the commands run so far.
func (e *Executor) Calls() []track.Command {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]track.Command(nil), e.calls...)
}

// Exec implements track.Executor.
func (e *Executor) Exec(ctx context.Context, c track.Command) track.ExecResult {
	e.mu.Lock()
	e.calls = append(e.calls, c)
	e.mu.Unlock()
	e.Started <- c
	select {
	case r := <-e.results:
		return r
	case <-ctx.Done():
		return track.ExecResult{ExitStatus: -1, Err: ctx.Err()}
	}
}

// ProcFS is an in-memory track.ProcFS; Set replaces its processes.
type ProcFS struct {
	mu    sync.Mutex
	procs []track.Proc
	err   error
	// Scans counts the calls to Scan.
	Scans int
}

var _ track.ProcFS = (*ProcFS)(nil)

// Set replaces the process list and the error Scan returns.
func (f *ProcFS) Set(procs []track.Proc, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.procs, f.err = procs, err
}

// Scan implements track.ProcFS. Without withCmdline, Cmdline is cleared
// as the real one leaves it empty.
func (f *ProcFS) Scan(withCmdline bool) ([]track.Proc, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Scans++
	if f.err != nil {
		return nil, f.err
	}
	out := make([]track.Proc, len(f.procs))
	copy(out, f.procs)
	if !withCmdline {
		for i := range out {
			out[i].Cmdline = nil
		}
	}
	return out, nil
}
