package checks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Defaults of MISC_CHECK.
const (
	// DefaultMiscKillGrace is how long a timed-out MISC_CHECK process
	// group has between SIGTERM and SIGKILL (keepalived: 2 s).
	DefaultMiscKillGrace = 2 * time.Second
	// DefaultMiscOutput bounds the output of a MISC_CHECK kept for the
	// failure reason; the rest is discarded.
	DefaultMiscOutput = 512
	// MiscDefaultRetry is keepalived's retry default for MISC_CHECK (0,
	// not 1): map it to [NoRetry] when the config sets none.
	MiscDefaultRetry = 0
)

// MiscCheck is keepalived's MISC_CHECK: it runs a program and the server
// passes when it exits 0. With Dynamic (misc_dynamic) exit status 1
// fails, and 2..255 pass with weight status−2; exit 0 passes with the
// real server's configured weight.
//
// The program runs directly (no shell) in its own process group, with
// stdin on /dev/null and its output bounded (the first bytes are kept
// for the failure reason). When Timeout expires the whole group gets
// SIGTERM, then SIGKILL after KillGrace, and the attempt fails; when the
// probe's context ends (checker stopped, reload) the group gets SIGKILL at
// once. Any process left in the group when the program exits is killed
// too, so scripts never pile up (keepalived PR #429). Probe returns only
// when the program is reaped: one MiscCheck value never runs twice at
// once.
type MiscCheck struct {
	// Args is the command line, split with [SplitCommand]: Args[0] is the
	// program, looked up in PATH when it has no slash.
	Args []string
	// Timeout is misc_timeout. Zero means the default keepalived uses,
	// the delay_loop: pass the checker's delay_loop here; 0 with no
	// delay_loop given means 60 s.
	Timeout time.Duration
	// Dynamic is misc_dynamic.
	Dynamic bool
	// ConfiguredWeight is the real server's configured weight, the
	// weight a dynamic check asks for when the program exits 0.
	ConfiguredWeight int
	// Credential runs the program as another user (keepalived's "user
	// USERNAME [GROUPNAME]"; see [ScriptCredential]); nil keeps the
	// director's.
	Credential *syscall.Credential
	// KillGrace is the wait between SIGTERM and SIGKILL on timeout; 0
	// means 2 s.
	KillGrace time.Duration
	// Env is the program's environment; nil inherits the director's.
	Env []string
	// Dir is the working directory; "" inherits the director's.
	Dir string
}

// Name returns "MISC_CHECK".
func (MiscCheck) Name() string { return "MISC_CHECK" }

// Probe runs the program once.
func (m MiscCheck) Probe(ctx context.Context) error {
	_, _, err := m.ProbeWeight(ctx)
	return err
}

// ProbeWeight runs the program once and, with Dynamic, returns the
// weight its exit status asks for.
func (m MiscCheck) ProbeWeight(ctx context.Context) (int, bool, error) {
	if len(m.Args) == 0 || m.Args[0] == "" {
		return 0, false, errors.New("no misc_path configured")
	}
	status, err := m.run(ctx)
	if err != nil {
		return 0, false, err
	}
	switch {
	case status == 0 && m.Dynamic:
		return m.ConfiguredWeight, true, nil
	case status == 0:
		return 0, false, nil
	case m.Dynamic && status >= 2 && status <= 255:
		return status - 2, true, nil
	}
	return 0, false, &ExitError{Status: status}
}

// ExitError is a MISC_CHECK program that exited with a failing status.
type ExitError struct {
	Status int
	// Output is the first line of what the program printed, if any.
	Output string
}

func (e *ExitError) Error() string {
	if e.Output == "" {
		return fmt.Sprintf("exit status %d", e.Status)
	}
	return fmt.Sprintf("exit status %d: %s", e.Status, e.Output)
}

func (m MiscCheck) timeout() time.Duration {
	if m.Timeout <= 0 {
		return DefaultDelayLoop
	}
	return m.Timeout
}

func (m MiscCheck) grace() time.Duration {
	if m.KillGrace <= 0 {
		return DefaultMiscKillGrace
	}
	return m.KillGrace
}

// run starts the program, waits for it within the timeout and returns
// its exit status, or an error for a program that could not run, was
// killed or timed out.
func (m MiscCheck) run(ctx context.Context) (int, error) {
	out := &boundedBuffer{max: DefaultMiscOutput}
	cmd := exec.Command(m.Args[0], m.Args[1:]...)
	cmd.Env = m.Env
	cmd.Dir = m.Dir
	cmd.Stdout = out
	cmd.Stderr = out
	// A descendant that leaves the group and keeps the output pipe open
	// must not hold the probe: Wait gives up on the pipe after this.
	cmd.WaitDelay = time.Second
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: m.Credential}
	if err := cmd.Start(); err != nil {
		return 0, describeExecErr(m.Args[0], err)
	}
	pid := cmd.Process.Pid

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

	to := m.timeout()
	timer := time.NewTimer(to)
	defer timer.Stop()
	var why error
	select {
	case <-exited:
	case <-timer.C:
		why = fmt.Errorf("timed out after %s (process group killed)", to)
		_ = unix.Kill(-pid, unix.SIGTERM)
		grace := time.NewTimer(m.grace())
		select {
		case <-exited:
		case <-ctx.Done():
		case <-grace.C:
		}
		grace.Stop()
	case <-ctx.Done():
		why = ctx.Err()
	}
	// Whatever is left of the group goes: the leader (if still running)
	// and anything it forked.
	_ = unix.Kill(-pid, unix.SIGKILL)
	<-exited
	werr := cmd.Wait()
	if why != nil {
		return 0, why
	}
	var ee *exec.ExitError
	switch {
	case werr == nil:
		return 0, nil
	case errors.As(werr, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 0, fmt.Errorf("killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
		}
		status := ee.ExitCode()
		if status != 0 && !(m.Dynamic && status >= 2) {
			return 0, &ExitError{Status: status, Output: out.firstLine()}
		}
		return status, nil
	case errors.Is(werr, exec.ErrWaitDelay):
		return 0, nil // exited 0; a descendant outside the group kept the output open
	}
	return 0, fmt.Errorf("wait: %w", werr)
}

// describeExecErr says why a program could not be started.
func describeExecErr(prog string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("cannot execute %s: %w", prog, pe.Err)
	}
	if errors.Is(err, exec.ErrNotFound) {
		return fmt.Errorf("cannot execute %s: not found in PATH", prog)
	}
	return fmt.Errorf("cannot execute %s: %w", prog, err)
}

// boundedBuffer keeps the first max bytes written and discards the rest.
type boundedBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// firstLine is the first non-empty line of the output, printable.
func (w *boundedBuffer) firstLine() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, l := range bytes.Split(w.b, []byte("\n")) {
		s := strings.TrimSpace(strings.ToValidUTF8(string(l), "?"))
		if s != "" {
			q := strconv.Quote(s)
			return q[1 : len(q)-1]
		}
	}
	return ""
}

// ScriptCredential resolves keepalived's "user USERNAME [GROUPNAME]":
// names or numeric ids; without a group, the user's primary group. The
// supplementary groups are dropped.
func ScriptCredential(userName, groupName string) (*syscall.Credential, error) {
	u, err := user.Lookup(userName)
	if err != nil {
		if _, nerr := strconv.ParseUint(userName, 10, 32); nerr != nil {
			return nil, fmt.Errorf("user %q: %w", userName, err)
		}
		if u, err = user.LookupId(userName); err != nil {
			return nil, fmt.Errorf("user %q: %w", userName, err)
		}
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("user %q: uid %q: %w", userName, u.Uid, err)
	}
	gidText := u.Gid
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			if _, nerr := strconv.ParseUint(groupName, 10, 32); nerr != nil {
				return nil, fmt.Errorf("group %q: %w", groupName, err)
			}
			gidText = groupName
		} else {
			gidText = g.Gid
		}
	}
	gid, err := strconv.ParseUint(gidText, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("group %q: gid %q: %w", groupName, gidText, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}, nil
}
