package track_test

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

	"github.com/tandemlb/tandem/director/track"
	"github.com/tandemlb/tandem/shared/procgroup/procgrouptest"
	"github.com/tandemlb/tandem/shared/testutil"
)

func writeScript(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestOSExecutor(t *testing.T) {
	tests := []struct {
		name      string
		args      func(t *testing.T) []string
		user      string
		status    int
		errSubstr string
	}{
		{"success", func(t *testing.T) []string { return []string{writeScript(t, "exit 0", 0o755)} }, "", 0, ""},
		{"failure", func(t *testing.T) []string { return []string{writeScript(t, "echo bad >&2; exit 4", 0o755)} }, "", 4, ""},
		{"arguments", func(t *testing.T) []string {
			return []string{writeScript(t, `[ "$1" = "a b" ] && exit 0; exit 9`, 0o755), "a b"}
		}, "", 0, ""},
		{"path lookup", func(t *testing.T) []string { return []string{"true"} }, "", 0, ""},
		{"not executable", func(t *testing.T) []string { return []string{writeScript(t, "exit 0", 0o644)} }, "", -1, "permission denied"},
		{"missing", func(t *testing.T) []string { return []string{filepath.Join(t.TempDir(), "nope")} }, "", -1, "no such file or directory"},
		{"not in PATH", func(t *testing.T) []string { return []string{"tandem-no-such-command"} }, "", -1, "not found in PATH"},
		{"unknown user", func(t *testing.T) []string { return []string{"true"} }, "tandem-no-such-user", -1, `script user "tandem-no-such-user"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := tt.args(t)
			r := track.OSExecutor{}.Exec(context.Background(), track.Command{Args: args, User: tt.user, Timeout: 5 * time.Second})
			if r.ExitStatus != tt.status || r.TimedOut {
				t.Fatalf("result %+v, want status %d", r, tt.status)
			}
			if tt.errSubstr == "" && r.Err != nil || tt.errSubstr != "" && (r.Err == nil || !strings.Contains(r.Err.Error(), tt.errSubstr)) {
				t.Fatalf("error %v, want one containing %q", r.Err, tt.errSubstr)
			}
			if tt.name == "failure" && r.Stderr != "bad" {
				t.Fatalf("stderr %q, want %q", r.Stderr, "bad")
			}
		})
	}
}

// TestOSExecutorTimeoutKillsGroup runs a script that forks a child and
// both sleep past the timeout: both must be gone when Exec returns.
func TestOSExecutorTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	s := writeScript(t, "sleep 30 &\necho $! > "+pidFile+"\nsleep 30", 0o755)
	start := time.Now()
	r := track.OSExecutor{}.Exec(context.Background(), track.Command{Args: []string{s}, Timeout: 300 * time.Millisecond})
	if !r.TimedOut || r.ExitStatus != -1 {
		t.Fatalf("result %+v, want a timeout", r)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("Exec took %v after a 300ms timeout", el)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The child was reparented (to init or a subreaper) and must be dead;
	// give its reaper a bounded moment.
	var killErr error
	gone := func() bool {
		killErr = syscall.Kill(pid, 0)
		return errors.Is(killErr, syscall.ESRCH) || !procgrouptest.Running(pid)
	}
	if !testutil.WaitFor(5*time.Second, gone) {
		t.Fatalf("child %d still alive after the timeout (kill 0: %v)", pid, killErr)
	}
}

func TestOSExecutorCancel(t *testing.T) {
	s := writeScript(t, "sleep 30", 0o755)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	r := track.OSExecutor{}.Exec(ctx, track.Command{Args: []string{s}, Timeout: time.Minute})
	if r.TimedOut || r.ExitStatus != -1 {
		t.Fatalf("result %+v, want killed, not timed out", r)
	}
}

// TestScriptRealNoOverlap runs a script slower than its interval on the
// real clock: runs are skipped, never overlapped.
func TestScriptRealNoOverlap(t *testing.T) {
	dir := t.TempDir()
	lock, log := filepath.Join(dir, "lock"), filepath.Join(dir, "log")
	s := writeScript(t, "[ -e "+lock+" ] && echo overlap >> "+log+"\n: > "+lock+"\nsleep 0.2\nrm -f "+lock+"\necho run >> "+log, 0o755)
	updates := make(chan track.Update, 64)
	sc := track.NewScript(track.ScriptConfig{Name: "slow", Command: s, Interval: 50 * time.Millisecond, Timeout: 2 * time.Second}, nil, nil, nil, func(u track.Update) {
		select {
		case updates <- u:
		default: // after the test stopped reading
		}
	})
	// Counted in runs, not in wall time: a loaded machine makes runs
	// slower, never overlapping.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- sc.Run(ctx) }()
	var last track.Update
	for n := 0; n < 3; n++ {
		select {
		case u := <-updates:
			last = u
			if !u.OK || u.ExitStatus != 0 {
				t.Errorf("update %+v, want success", u)
			}
		case <-ctx.Done():
			t.Fatalf("%d runs in 30 s, want 3", n)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v", err)
	}
	b, _ := os.ReadFile(log)
	if strings.Contains(string(b), "overlap") {
		t.Fatalf("two runs overlapped:\n%s", b)
	}
	// 200 ms runs on a 50 ms interval: the ticks in between were skipped.
	if last.Skipped == 0 {
		t.Fatalf("third run: skipped count %d, want the ticks during the runs skipped", last.Skipped)
	}
}
