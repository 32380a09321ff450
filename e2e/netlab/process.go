package netlab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a command started inside a host by Lab.Start. Its stdout and
// stderr are captured together.
type Process struct {
	host string
	argv []string
	cmd  *exec.Cmd
	out  *notifyBuffer
	done chan struct{}
	err  error // Wait's result, valid once done is closed
}

// Pid returns the process ID.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Output returns everything the process has written so far.
func (p *Process) Output() string { return p.out.String() }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns its exit error (nil for
// status 0).
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// Signal sends sig to the process, unless it has already exited.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("signal %v to %s on %s (pid %d): %w", sig, p.argv[0], p.host, p.Pid(), err)
	}
	return nil
}

// Stop sends SIGTERM to the process group, waits up to grace, then SIGKILLs
// it, and always waits for the process. It returns the exit error, except the one caused by the
// signals themselves.
func (p *Process) Stop(grace time.Duration) error {
	if err := p.killGroup(syscall.SIGTERM); err != nil {
		return err
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		_ = p.killGroup(syscall.SIGKILL)
		<-p.done
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return nil
		}
	}
	return p.err
}

// WaitOutput blocks until the output contains substr, the process exits or
// ctx ends.
func (p *Process) WaitOutput(ctx context.Context, substr string) error {
	for {
		s, changed := p.out.snapshot()
		if strings.Contains(s, substr) {
			return nil
		}
		select {
		case <-changed:
		case <-p.done:
			if strings.Contains(p.out.String(), substr) {
				return nil
			}
			return fmt.Errorf("%s on %s exited (%v) before printing %q; output:\n%s", p.argv[0], p.host, p.err, substr, p.out.String())
		case <-ctx.Done():
			return fmt.Errorf("%s on %s: waiting for %q: %w; output so far:\n%s", p.argv[0], p.host, substr, ctx.Err(), s)
		}
	}
}

// notifyBuffer is a goroutine-safe buffer that wakes waiters on every write.
type notifyBuffer struct {
	mu      sync.Mutex
	b       strings.Builder
	changed chan struct{}
}

func newNotifyBuffer() *notifyBuffer {
	return &notifyBuffer{changed: make(chan struct{})}
}

// Write implements io.Writer.
func (n *notifyBuffer) Write(p []byte) (int, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.b.Write(p)
	close(n.changed)
	n.changed = make(chan struct{})
	return len(p), nil
}

// String returns the contents.
func (n *notifyBuffer) String() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String()
}

// snapshot returns the contents and a channel closed on the next write.
func (n *notifyBuffer) snapshot() (string, <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.b.String(), n.changed
}
