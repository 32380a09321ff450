package health

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Processes is the kernel's view of the application's process
// (backend/procwatch in production, a fake in tests).
type Processes interface {
	// ReadPID returns the process ID the pidfile at path names.
	ReadPID(path string) (int, error)
	// Open watches the process pid. It fails when there is no such
	// process or it has already exited.
	Open(pid int) (Process, error)
}

// Process is one watched process of Processes.Open.
type Process interface {
	// Wait returns nil when the process has exited, ctx's error when ctx
	// ends first, or another error when the watch broke.
	Wait(ctx context.Context) error
	Close() error
}

// ProcessWatch sees the application die without waiting for a probe:
// the moment the process its pidfile names exits, it reports a failed
// Result marked Gone (Watch "process"), which the Tracker takes as
// decisive, exactly as the ListenWatch's. It never reports a pass: the
// probe stays the judge of "healthy again".
//
// When the watched process exits and the pidfile already names another
// live process (a binary upgrade, a restart that wrote its pidfile
// before the old process left), that one is watched on and nothing is
// reported. When there is nothing to watch (no pidfile yet, a PID of no
// live process, or after an exit), the pidfile is read again at the
// probe's next pass (ProbePassed), so a restarted application is watched
// again once it is healthy.
type ProcessWatch struct {
	pidfile string
	kernel  Processes
	now     func() time.Time
	log     *slog.Logger
	passed  chan struct{}
}

// NewProcessWatch returns the watch of the process pidfile names. now
// stamps the results (time.Now when nil); log may be nil. It does no I/O.
func NewProcessWatch(pidfile string, k Processes, now func() time.Time, log *slog.Logger) *ProcessWatch {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &ProcessWatch{pidfile: pidfile, kernel: k, now: now, log: log, passed: make(chan struct{}, 1)}
}

// ProbePassed tells the watch that a probe passed: if it watches
// nothing, it reads the pidfile again. It never blocks.
func (w *ProcessWatch) ProbePassed() {
	select {
	case w.passed <- struct{}{}:
	default:
	}
}

// open reads the pidfile and opens the process it names.
func (w *ProcessWatch) open() (Process, int, error) {
	pid, err := w.kernel.ReadPID(w.pidfile)
	if err != nil {
		return nil, 0, err
	}
	p, err := w.kernel.Open(pid)
	if err != nil {
		return nil, 0, err
	}
	return p, pid, nil
}

// waitPass returns true at the next ProbePassed, false when ctx ends.
func (w *ProcessWatch) waitPass(ctx context.Context) bool {
	select {
	case <-w.passed:
		return true
	case <-ctx.Done():
		return false
	}
}

// Run watches until ctx ends. It returns an error only when a wait on the
// process breaks; the probe goes on without it.
func (w *ProcessWatch) Run(ctx context.Context, report func(Result)) error {
	var lastErr string
	for {
		p, pid, err := w.open()
		if err != nil {
			// Said once per distinct cause, not at every probe.
			if s := err.Error(); s != lastErr {
				w.log.Warn("process watch: nothing to watch; the pidfile is read again when the probe passes", "pidfile", w.pidfile, "err", err)
				lastErr = s
			}
			if !w.waitPass(ctx) {
				return nil
			}
			continue
		}
		lastErr = ""
		w.log.Info("watching the application's process", "pidfile", w.pidfile, "pid", pid)
		for p != nil {
			err := p.Wait(ctx)
			p.Close()
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
			next, npid, err := w.open()
			if err == nil {
				w.log.Info("application's process handed over", "pidfile", w.pidfile, "pid", npid, "exited", pid)
				p, pid = next, npid
				continue
			}
			p = nil
			// A pass from before the exit does not re-arm the watch.
			select {
			case <-w.passed:
			default:
			}
			report(Result{
				Reason: fmt.Sprintf("process %d of pidfile %s exited", pid, w.pidfile),
				At:     w.now(),
				Gone:   true,
				Watch:  WatchProcess,
			})
			lastErr = err.Error() // the pidfile names the dead process: expected, not worth a warning
		}
		if !w.waitPass(ctx) {
			return nil
		}
	}
}
