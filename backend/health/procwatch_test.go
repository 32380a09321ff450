package health

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeProcesses is a pidfile and the processes it may name: the test
// writes the pidfile, starts and kills processes; every successful Open
// is announced on opened.
type fakeProcesses struct {
	mu      sync.Mutex
	pidfile int                   // 0: no pidfile
	alive   map[int]chan struct{} // closed when the process exits
	opened  chan int
}

func newFakeProcesses() *fakeProcesses {
	return &fakeProcesses{alive: map[int]chan struct{}{}, opened: make(chan int, 8)}
}

func (f *fakeProcesses) start(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.alive[pid] = make(chan struct{})
}

func (f *fakeProcesses) kill(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	close(f.alive[pid])
	delete(f.alive, pid)
}

func (f *fakeProcesses) writePidfile(pid int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pidfile = pid
}

func (f *fakeProcesses) ReadPID(path string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.pidfile == 0 {
		return 0, fmt.Errorf("open %s: no such file or directory", path)
	}
	return f.pidfile, nil
}

func (f *fakeProcesses) Open(pid int) (Process, error) {
	f.mu.Lock()
	exit, ok := f.alive[pid]
	f.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("process %d: no such process", pid)
	}
	f.opened <- pid
	return fakeProcess{exit}, nil
}

type fakeProcess struct{ exit chan struct{} }

func (p fakeProcess) Wait(ctx context.Context) error {
	select {
	case <-p.exit:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (fakeProcess) Close() error { return nil }

// TestProcessWatch: an exit is a decisive failure; a successor named by
// the pidfile is watched on without one; after an exit only a probe pass
// makes the watch read the pidfile again.
func TestProcessWatch(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	k := newFakeProcesses()
	w := NewProcessWatch("/run/app.pid", k, func() time.Time { return at }, nil)
	got := make(chan Result, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// No pidfile yet: nothing to watch, nothing reported.
	go func() { done <- w.Run(ctx, func(r Result) { got <- r }) }()

	k.start(10)
	k.writePidfile(10)
	w.ProbePassed() // the application is up: the pidfile is read again
	if pid := <-k.opened; pid != 10 {
		t.Fatalf("opened %d, want 10", pid)
	}
	k.kill(10)
	want := Result{Reason: "process 10 of pidfile /run/app.pid exited", At: at, Gone: true, Watch: WatchProcess}
	if diff := cmp.Diff(want, <-got); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}

	// Restarted: not watched before the probe says it is healthy.
	k.start(11)
	k.writePidfile(11)
	select {
	case pid := <-k.opened:
		t.Fatalf("opened %d before a probe passed", pid)
	default:
	}
	w.ProbePassed()
	if pid := <-k.opened; pid != 11 {
		t.Fatalf("opened %d, want 11", pid)
	}

	// Hand-over: 12 writes the pidfile, then 11 exits: no report.
	k.start(12)
	k.writePidfile(12)
	k.kill(11)
	if pid := <-k.opened; pid != 12 {
		t.Fatalf("opened %d, want the successor 12", pid)
	}
	k.kill(12)
	r := <-got
	if r.Reason != "process 12 of pidfile /run/app.pid exited" || !r.Gone {
		t.Errorf("after the successor's exit: %+v, want process 12 gone (and nothing for 11)", r)
	}
	select {
	case r := <-got:
		t.Errorf("extra result %+v", r)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

type brokenProcesses struct{}

func (brokenProcesses) ReadPID(string) (int, error) { return 1, nil }
func (brokenProcesses) Open(int) (Process, error)   { return brokenProcess{}, nil }

type brokenProcess struct{}

func (brokenProcess) Wait(context.Context) error {
	return errors.New("poll pidfd: bad file descriptor")
}
func (brokenProcess) Close() error { return nil }

func TestProcessWatchBroken(t *testing.T) {
	err := NewProcessWatch("/run/app.pid", brokenProcesses{}, nil, nil).Run(context.Background(), func(r Result) { t.Errorf("report %+v", r) })
	if err == nil {
		t.Fatal("Run = nil, want the wait's error")
	}
}
