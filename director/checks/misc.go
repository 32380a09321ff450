package checks

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/tandemlb/tandem/director/script"
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
	// Args is the command line, split with [script.SplitCommand]: Args[0] is the
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
	// USERNAME [GROUPNAME]"; see [script.Credential]); nil keeps the
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

// run runs the program within the timeout and returns its exit status,
// or an error for a program that could not run, was killed or timed out.
func (m MiscCheck) run(ctx context.Context) (int, error) {
	to := m.timeout()
	r := script.Run(ctx, script.Cmd{
		Args: m.Args, Env: m.Env, Dir: m.Dir, Credential: m.Credential,
		Timeout: to, KillGrace: m.grace(), WaitDelay: time.Second,
		OutputLimit: DefaultMiscOutput, Stdout: true, KillLeftovers: true,
	})
	switch {
	case r.TimedOut:
		return 0, fmt.Errorf("timed out after %s (process group killed)", to)
	case r.Canceled:
		return 0, ctx.Err()
	case r.Err != nil:
		return 0, r.Err
	}
	if status := r.ExitStatus; status != 0 && !(m.Dynamic && status >= 2) {
		return 0, &ExitError{Status: status, Output: r.FirstLine()}
	}
	return r.ExitStatus, nil
}
