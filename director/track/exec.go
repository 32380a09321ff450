package track

import (
	"context"
	"fmt"
	"time"

	"github.com/tandemlb/tandem/director/script"
)

// StderrLimit bounds what OSExecutor keeps of a script's standard error.
const StderrLimit = script.DefaultOutputLimit

// WaitDelay is how long OSExecutor waits for a killed script's output
// pipes to close (a grandchild that left the process group may hold them).
const WaitDelay = 2 * time.Second

// OSExecutor runs scripts as child processes with [script.Run]: directly
// (no shell), each in its own process group, with standard input and
// output on /dev/null and standard error kept up to StderrLimit bytes. On
// timeout or cancel the whole group gets SIGKILL. A script that cannot be
// started (missing, not executable, unknown user or group) is a failed
// run whose error says why — keepalived counts it as a success (its issue
// #2126); Tandem does not.
type OSExecutor struct{}

// Exec implements Executor.
func (OSExecutor) Exec(ctx context.Context, c Command) ExecResult {
	cred, err := script.Credential(c.User, c.Group)
	if err != nil {
		return ExecResult{ExitStatus: -1, Err: fmt.Errorf("script %w", err)}
	}
	r := script.Run(ctx, script.Cmd{Args: c.Args, Credential: cred, Timeout: c.Timeout, WaitDelay: WaitDelay, OutputLimit: StderrLimit})
	return ExecResult{ExitStatus: r.ExitStatus, Err: r.Err, TimedOut: r.TimedOut, Stderr: r.FirstLine()}
}
