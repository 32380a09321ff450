package script

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// RunShell runs a notify command line (VRRP instance or sync group) with
// /bin/sh -c, as [Run] does: its own process group, SIGKILLed with
// everything in it after timeout, standard output and error kept up to
// [DefaultOutputLimit] bytes. It returns that output as valid UTF-8, and
// why the script failed (nil for exit status 0).
func RunShell(line string, timeout time.Duration) (string, error) {
	r := Run(context.Background(), Cmd{Args: []string{"/bin/sh", "-c", line}, Timeout: timeout, Stdout: true})
	var err error
	switch {
	case r.TimedOut:
		err = fmt.Errorf("timed out after %s (process group killed)", timeout)
	case r.Err != nil:
		err = r.Err
	case r.ExitStatus != 0:
		err = fmt.Errorf("exit status %d", r.ExitStatus)
	}
	return r.Text(), err
}

// ShellQuote quotes s as one word for /bin/sh.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
