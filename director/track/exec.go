package track

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// StderrLimit bounds what OSExecutor keeps of a script's standard error.
const StderrLimit = 512

// WaitDelay is how long OSExecutor waits for a killed script's output
// pipes to close (a grandchild that left the process group may hold them).
const WaitDelay = 2 * time.Second

// OSExecutor runs scripts as child processes: directly (no shell), each in
// its own process group, with standard input and output on /dev/null and
// standard error kept up to StderrLimit bytes. On timeout or cancel the
// whole group gets SIGKILL. A script that cannot be started (missing, not
// executable, unknown user or group) is a failed run whose error says why
// — keepalived counts it as a success (its issue #2126); Tandem does not.
type OSExecutor struct{}

// Exec implements Executor.
func (OSExecutor) Exec(ctx context.Context, c Command) ExecResult {
	if len(c.Args) == 0 {
		return ExecResult{ExitStatus: -1, Err: errors.New("empty command")}
	}
	cred, err := credential(c.User, c.Group)
	if err != nil {
		return ExecResult{ExitStatus: -1, Err: err}
	}
	tctx := ctx
	var cancel context.CancelFunc = func() {}
	if c.Timeout > 0 {
		tctx, cancel = context.WithTimeout(ctx, c.Timeout)
	}
	defer cancel()

	cmd := exec.CommandContext(tctx, c.Args[0], c.Args[1:]...)
	if cmd.Err != nil {
		return ExecResult{ExitStatus: -1, Err: startError(c.Args[0], cmd.Err)}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	stderr := &boundedBuffer{limit: StderrLimit}
	cmd.Stderr = stderr
	cmd.Cancel = func() error {
		// The group id is the child's pid (Setpgid with Pgid 0).
		return killGroup(cmd.Process.Pid)
	}
	cmd.WaitDelay = WaitDelay
	if err := cmd.Start(); err != nil {
		return ExecResult{ExitStatus: -1, Err: startError(c.Args[0], err)}
	}
	pid := cmd.Process.Pid
	werr := cmd.Wait()
	timedOut := tctx.Err() != nil && ctx.Err() == nil
	if tctx.Err() != nil {
		// Children that outlived the leader are still in the group.
		_ = killGroup(pid)
	}
	res := ExecResult{ExitStatus: cmd.ProcessState.ExitCode(), TimedOut: timedOut, Stderr: firstLine(stderr.String())}
	if timedOut {
		res.ExitStatus = -1
	}
	var ee *exec.ExitError
	if werr != nil && !errors.As(werr, &ee) && !errors.Is(werr, exec.ErrWaitDelay) && !timedOut {
		res.Err = fmt.Errorf("wait for %s: %w", c.Args[0], werr)
	}
	if res.Err == nil && !timedOut && res.ExitStatus < 0 {
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Err = fmt.Errorf("killed by signal %s", ws.Signal())
		}
	}
	return res
}

func killGroup(pgid int) error {
	err := syscall.Kill(-pgid, syscall.SIGKILL)
	if errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// startError says why a script could not be started.
func startError(path string, err error) error {
	switch {
	case errors.Is(err, exec.ErrNotFound):
		return fmt.Errorf("script %s: not found in PATH", path)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("script %s: not found", path)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("script %s: not executable: permission denied", path)
	case errors.Is(err, syscall.ENOEXEC):
		return fmt.Errorf("script %s: not executable: exec format error (no #! line?)", path)
	}
	return fmt.Errorf("script %s: %w", path, err)
}

// credential resolves User/Group as keepalived does: the group defaults
// to the user's primary group. Both empty means no change of identity.
func credential(userName, groupName string) (*syscall.Credential, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(syscall.Getuid()), Gid: uint32(syscall.Getgid()), NoSetGroups: true}
	if userName != "" {
		u, err := user.Lookup(userName)
		if err != nil {
			return nil, fmt.Errorf("script user %q: %w", userName, err)
		}
		uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
		gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("script user %q: non-numeric uid %q or gid %q", userName, u.Uid, u.Gid)
		}
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			return nil, fmt.Errorf("script group %q: %w", groupName, err)
		}
		gid, err := strconv.ParseUint(g.Gid, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("script group %q: non-numeric gid %q", groupName, g.Gid)
		}
		cred.Gid = uint32(gid)
	}
	return cred, nil
}

// boundedBuffer keeps the first limit bytes written and drops the rest.
type boundedBuffer struct {
	b     []byte
	limit int
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	if room := w.limit - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (w *boundedBuffer) String() string { return string(w.b) }

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
