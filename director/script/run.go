// Package script runs keepalived's external programs the keepalived way:
// MISC_CHECK (director/checks), vrrp_script (director/track) and the notify
// scripts of VRRP instances and sync groups. [SplitCommand] turns a
// configured line into an argument vector; [Run] runs it directly (no
// shell) through shared/procgroup: in its own process group with bounded
// output, the whole group killed on timeout or cancel, and says why a
// program that cannot be executed failed; [Credential] resolves "user
// USERNAME [GROUPNAME]".
package script

import (
	"context"

	"github.com/tandemlb/tandem/shared/procgroup"
)

// Defaults of [Cmd].
const (
	// DefaultOutputLimit is how much of a program's output is kept by
	// default: keepalived's scripts report through their exit status,
	// the output only gives a reason its first line.
	DefaultOutputLimit = 512
	// DefaultWaitDelay is how long Run waits for the output pipes once
	// the program is gone.
	DefaultWaitDelay = procgroup.DefaultWaitDelay
)

// Cmd is one run of a program (see [procgroup.Cmd]).
type Cmd = procgroup.Cmd

// Result is the outcome of one run (see [procgroup.Result]).
type Result = procgroup.Result

// StartError is a program that cannot be executed (missing, not
// executable, not in PATH, bad identity): the run fails with this reason.
type StartError = procgroup.StartError

// Run is [procgroup.Run] with an OutputLimit of [DefaultOutputLimit]
// unless one is set.
func Run(ctx context.Context, c Cmd) Result {
	if c.OutputLimit <= 0 {
		c.OutputLimit = DefaultOutputLimit
	}
	return procgroup.Run(ctx, c)
}
