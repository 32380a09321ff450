package script

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/testutil"
)

// childRunning reads the pid a script wrote into pidFile and reports
// whether that process still runs (a zombie does not).
func childRunning(t *testing.T, pidFile string) (int, bool) {
	t.Helper()
	b, _ := os.ReadFile(pidFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file: %q, %v", b, err)
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	i := strings.LastIndexByte(string(stat), ')')
	return pid, err == nil && i > 0 && i+2 < len(stat) && stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// TestRunLeftovers: with KillLeftovers a background child dies with the
// script; without, it outlives it (a notify script may start a daemon).
func TestRunLeftovers(t *testing.T) {
	for _, kill := range []bool{true, false} {
		pidFile := filepath.Join(t.TempDir(), "child.pid")
		s := testutil.WriteScript(t, "sleep 30 >/dev/null 2>&1 &\necho $! > "+pidFile)
		r := Run(context.Background(), Cmd{Args: []string{s}, Timeout: 5 * time.Second, KillLeftovers: kill})
		if r.Err != nil || r.ExitStatus != 0 || r.TimedOut || r.Canceled {
			t.Fatalf("KillLeftovers %v: %+v", kill, r)
		}
		pid, alive := childRunning(t, pidFile)
		if kill && alive {
			testutil.WaitFor(3*time.Second, func() bool { _, alive = childRunning(t, pidFile); return !alive })
		}
		if alive == kill {
			t.Errorf("KillLeftovers %v: child running %v", kill, alive)
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// TestRunTimeoutGrace: on timeout a script that exits on SIGTERM is given
// the grace; one that ignores it is SIGKILLed after the grace.
func TestRunTimeoutGrace(t *testing.T) {
	soft := testutil.WriteScript(t, "trap 'exit 0' TERM\nwhile :; do sleep 0.05; done")
	r := Run(context.Background(), Cmd{Args: []string{soft}, Timeout: 100 * time.Millisecond, KillGrace: 5 * time.Second})
	if !r.TimedOut || r.ExitStatus != -1 {
		t.Fatalf("soft: %+v, want a timeout", r)
	}
	hard := testutil.WriteScript(t, "trap '' TERM\nwhile :; do sleep 0.05; done")
	start := time.Now()
	r = Run(context.Background(), Cmd{Args: []string{hard}, Timeout: 100 * time.Millisecond, KillGrace: 200 * time.Millisecond})
	if !r.TimedOut || r.ExitStatus != -1 {
		t.Fatalf("hard: %+v, want a timeout", r)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 5*time.Second {
		t.Errorf("hard: took %s, want timeout+grace", d)
	}
}

func TestRunOutput(t *testing.T) {
	s := testutil.WriteScript(t, "echo out; echo '  err \x01' >&2; exit 3")
	r := Run(context.Background(), Cmd{Args: []string{s}})
	if r.ExitStatus != 3 || r.Err != nil || r.FirstLine() != `err \x01` {
		t.Errorf("stderr only: %+v, first line %q", r, r.FirstLine())
	}
	r = Run(context.Background(), Cmd{Args: []string{s}, Stdout: true, OutputLimit: 2})
	if r.ExitStatus != 3 || string(r.Output) != "ou" {
		t.Errorf("bounded stdout: %+v", r)
	}
	var se *StartError
	if r := Run(context.Background(), Cmd{Args: []string{"/nonexistent/x"}}); !errors.As(r.Err, &se) || r.ExitStatus != -1 ||
		r.Err.Error() != "cannot execute /nonexistent/x: no such file or directory" {
		t.Errorf("missing: %+v", r)
	}
}

func TestRunShell(t *testing.T) {
	if out, err := RunShell("echo hi; exit 0", time.Second); err != nil || out != "hi\n" {
		t.Errorf("RunShell = %q, %v", out, err)
	}
	if _, err := RunShell("exit 4", time.Second); err == nil || err.Error() != "exit status 4" {
		t.Errorf("RunShell exit 4 = %v", err)
	}
	if _, err := RunShell("sleep 30", 100*time.Millisecond); err == nil || !strings.Contains(err.Error(), "timed out after 100ms") {
		t.Errorf("RunShell timeout = %v", err)
	}
	if q := ShellQuote("it's"); q != `'it'\''s'` {
		t.Errorf("ShellQuote = %s", q)
	}
}

func TestCredential(t *testing.T) {
	if c, err := Credential("", ""); c != nil || err != nil {
		t.Errorf("no user: %v, %v", c, err)
	}
	c, err := Credential("0", "")
	if err != nil || c.Uid != 0 || c.Gid != 0 || c.Groups == nil || len(c.Groups) != 0 {
		t.Errorf("uid 0: %+v, %v", c, err)
	}
	if c, err := Credential("", "0"); err != nil || c.Uid != uint32(os.Getuid()) || c.Gid != 0 {
		t.Errorf("group only: %+v, %v", c, err)
	}
	if _, err := Credential("tandem-no-such-user", ""); err == nil || !strings.HasPrefix(err.Error(), `user "tandem-no-such-user"`) {
		t.Errorf("unknown user: %v", err)
	}
	if _, err := Credential("0", "tandem-no-such-group"); err == nil || !strings.HasPrefix(err.Error(), `group "tandem-no-such-group"`) {
		t.Errorf("unknown group: %v", err)
	}
}
