// Package procgroup runs the programs the daemons start (director
// scripts and checks, the agent's command probes) so that none outlives
// its bound: each runs in its own process group (Setpgid), the whole
// group is SIGKILLed on timeout or cancel (kill(-pgid)), the output pipes
// are waited for at most WaitDelay, and output is kept up to a bound, the
// rest being read, counted and dropped. Text taken from the output for a
// reason or a log line is valid UTF-8 and bounded ([Result.FirstLine]).
package procgroup

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Defaults of [Cmd].
const (
	// DefaultOutputLimit is how much of a program's output is kept; the
	// rest is read, counted in [Result.Discarded] and dropped.
	DefaultOutputLimit = 64 << 10
	// DefaultWaitDelay is how long Run waits for the output pipes once
	// the program is gone.
	DefaultWaitDelay = time.Second
)

// Cmd is one run of a program.
type Cmd struct {
	// Args is the command line: Args[0] is the program, looked up in PATH
	// when it has no slash.
	Args []string
	// Env is the environment; nil inherits the director's.
	Env []string
	// Dir is the working directory; "" inherits the director's.
	Dir string
	// Credential runs the program as another user (see [Credential]);
	// nil keeps the director's identity.
	Credential *syscall.Credential
	// Timeout bounds the run; 0 means no bound but ctx.
	Timeout time.Duration
	// KillGrace is, on timeout, the wait between SIGTERM and SIGKILL to
	// the process group; 0 sends SIGKILL at once. A cancelled ctx always
	// means SIGKILL at once.
	KillGrace time.Duration
	// WaitDelay is how long Run waits for the output pipes to close once
	// the program is gone (a descendant that left the group may hold
	// them); 0 means [DefaultWaitDelay].
	WaitDelay time.Duration
	// OutputLimit is how many bytes of output are kept, the rest being
	// discarded; 0 means [DefaultOutputLimit].
	OutputLimit int
	// Stdout keeps standard output along with standard error; otherwise
	// standard output goes to /dev/null. Standard input is /dev/null.
	Stdout bool
	// KillLeftovers kills what is left in the process group when the
	// program exits by itself (MISC_CHECK: scripts never pile up,
	// keepalived PR #429); otherwise only a timeout or cancel kills the
	// group.
	KillLeftovers bool
}

// Result is the outcome of one run.
type Result struct {
	// ExitStatus is the exit code; -1 when the program did not exit by
	// itself (signalled, timed out, cancelled) or never started.
	ExitStatus int
	// Err says why the run has no exit code of its own: a *[StartError]
	// (the program cannot be executed), "killed by signal N (name)" for
	// a signal not sent by Run, or a wait error. It is nil for an exit,
	// a timeout and a cancel.
	Err error
	// TimedOut is set when Timeout expired and the group was killed.
	TimedOut bool
	// Canceled is set when ctx ended the run (group killed at once).
	Canceled bool
	// Output is the start of the program's output (standard error, and
	// standard output with Stdout), at most OutputLimit bytes, as the
	// program wrote it (see [Result.FirstLine] and [Result.Text]).
	Output []byte
	// Discarded counts the output bytes past OutputLimit.
	Discarded int64
	// Pid is the program's process id, which is also its process group
	// id; 0 when it never started. The group is gone when Run returns
	// after a timeout, a cancel or with KillLeftovers.
	Pid int
}

// MaxLine bounds [Result.FirstLine], in bytes.
const MaxLine = 256

// FirstLine is the first non-empty line of the output, trimmed, with
// invalid UTF-8 replaced and control characters escaped, at most
// [MaxLine] bytes ("…" marks a cut): fit for a reason or a log line.
func (r Result) FirstLine() string {
	for _, l := range bytes.Split(r.Output, []byte("\n")) {
		s := strings.TrimSpace(strings.ToValidUTF8(string(l), "\uFFFD"))
		if s != "" {
			q := strconv.Quote(s)
			return cut(q[1:len(q)-1], MaxLine)
		}
	}
	return ""
}

// Text is the whole kept output as valid UTF-8 (invalid bytes replaced
// by U+FFFD), with "[N bytes discarded]" appended when output was lost.
func (r Result) Text() string {
	s := strings.ToValidUTF8(string(r.Output), "\uFFFD")
	if r.Discarded > 0 {
		s += fmt.Sprintf("[%d bytes discarded]", r.Discarded)
	}
	return s
}

// cut returns s cut to at most max bytes on a rune boundary, "…"
// included.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const ell = "…"
	i := max - len(ell)
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + ell
}

// StartError is a program that cannot be executed (missing, not
// executable, not in PATH, bad identity): the run fails with this reason.
type StartError struct {
	Prog string
	Err  error
}

func (e *StartError) Error() string {
	err := e.Err
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Sprintf("cannot execute %s: not found in PATH", e.Prog)
	case errors.Is(err, syscall.ENOEXEC):
		return fmt.Sprintf("cannot execute %s: %v (no #! line?)", e.Prog, err)
	}
	return fmt.Sprintf("cannot execute %s: %v", e.Prog, err)
}

func (e *StartError) Unwrap() error { return e.Err }

// Run runs c.Args to completion, timeout or cancel, and returns only
// when the program is reaped. The program runs in its own process group;
// on timeout the group gets SIGTERM and, KillGrace later, SIGKILL (or
// SIGKILL at once), on cancel SIGKILL at once. The group is signalled
// only while its leader is unreaped (it is waited for with WNOWAIT
// first), so a reused process id is never signalled.
func Run(ctx context.Context, c Cmd) Result {
	if len(c.Args) == 0 || c.Args[0] == "" {
		return Result{ExitStatus: -1, Err: errors.New("empty command")}
	}
	limit := c.OutputLimit
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	out := &boundedBuffer{max: limit}
	cmd := exec.Command(c.Args[0], c.Args[1:]...)
	cmd.Env = c.Env
	cmd.Dir = c.Dir
	if c.Stdout {
		cmd.Stdout = out
	}
	cmd.Stderr = out
	cmd.WaitDelay = c.WaitDelay
	if cmd.WaitDelay <= 0 {
		cmd.WaitDelay = DefaultWaitDelay
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.Credential}
	if err := cmd.Start(); err != nil {
		return Result{ExitStatus: -1, Err: &StartError{Prog: c.Args[0], Err: err}}
	}
	pid := cmd.Process.Pid
	res := Result{Pid: pid}

	// Wait for the exit without reaping: while the leader is a zombie its
	// pid, and so the group id, cannot be reused, so killing the group is
	// safe until cmd.Wait below.
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		var info unix.Siginfo
		for {
			err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
			if !errors.Is(err, unix.EINTR) {
				return
			}
		}
	}()

	var timeout <-chan time.Time
	if c.Timeout > 0 {
		timer := time.NewTimer(c.Timeout)
		defer timer.Stop()
		timeout = timer.C
	}
	select {
	case <-exited:
	case <-timeout:
		res.TimedOut = true
		if c.KillGrace > 0 {
			_ = unix.Kill(-pid, unix.SIGTERM)
			grace := time.NewTimer(c.KillGrace)
			select {
			case <-exited:
			case <-ctx.Done():
			case <-grace.C:
			}
			grace.Stop()
		}
	case <-ctx.Done():
		res.Canceled = true
	}
	if res.TimedOut || res.Canceled || c.KillLeftovers {
		// Whatever is left of the group goes: the leader (if still
		// running) and anything it forked.
		_ = unix.Kill(-pid, unix.SIGKILL)
	}
	<-exited
	werr := cmd.Wait()
	res.Output, res.Discarded = out.bytes()
	res.ExitStatus = cmd.ProcessState.ExitCode()
	if res.TimedOut || res.Canceled {
		res.ExitStatus = -1
		return res
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
	case errors.As(werr, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Err = fmt.Errorf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
	case errors.Is(werr, exec.ErrWaitDelay):
		// Exited 0; a descendant outside the group kept the output open.
	default:
		res.Err = fmt.Errorf("wait for %s: %w", c.Args[0], werr)
	}
	return res
}

// boundedBuffer keeps the first max bytes written and counts the rest.
type boundedBuffer struct {
	mu      sync.Mutex
	max     int
	b       []byte
	dropped int64
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	keep := min(max(w.max-len(w.b), 0), len(p))
	w.b = append(w.b, p[:keep]...)
	w.dropped += int64(len(p) - keep)
	return len(p), nil
}

func (w *boundedBuffer) bytes() ([]byte, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b, w.dropped
}
