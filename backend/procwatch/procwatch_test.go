package procwatch

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/shared/testutil"
)

func TestReadPidfile(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content string
		mode          os.FileMode
		pid           int
		err           error
	}{
		{"newline", "1234\n", 0o644, 1234, nil},
		{"blanks and more lines", "  42 \nsomething else\n", 0o600, 42, nil},
		{"no newline", "7", 0o644, 7, nil},
		{"empty", "", 0o644, 0, ErrBadPidfile},
		{"not a number", "nginx\n", 0o644, 0, ErrBadPidfile},
		{"zero", "0\n", 0o644, 0, ErrBadPidfile},
		{"negative", "-1\n", 0o644, 0, ErrBadPidfile},
		{"beyond PID_MAX_LIMIT", "4194304\n", 0o644, 0, ErrBadPidfile},
		{"writable by others", "1234\n", 0o666, 0, ErrBadPidfile},
		{"too large", "1\n" + string(make([]byte, MaxPidfile)), 0o644, 0, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, tt.name+".pid")
			if err := os.WriteFile(path, []byte(tt.content), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			pid, err := ReadPidfile(path)
			switch {
			case tt.pid != 0:
				if err != nil || pid != tt.pid {
					t.Errorf("ReadPidfile = %d, %v; want %d", pid, err, tt.pid)
				}
			case err == nil:
				t.Errorf("ReadPidfile = %d, nil; want an error", pid)
			case tt.err != nil && !errors.Is(err, tt.err):
				t.Errorf("ReadPidfile error %v, want %v", err, tt.err)
			}
		})
	}
	if _, err := ReadPidfile(filepath.Join(dir, "missing.pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing pidfile: %v, want ErrNotExist", err)
	}
	if _, err := ReadPidfile(dir); err == nil {
		t.Error("a directory read as a pidfile")
	}
}

// startChild starts `sleep 30`, killed and reaped by the test's cleanup
// at the latest.
func startChild(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd
}

func openChild(t *testing.T, pid int) *Process {
	t.Helper()
	p, err := Open(pid)
	if errors.Is(err, unix.ENOSYS) {
		t.Skipf("no pidfd_open on this kernel: %v", err)
	}
	if err != nil {
		t.Fatalf("Open(%d): %v", pid, err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// TestWaitSeesExit: a real child killed; Wait returns within milliseconds
// of the kill, before the child is reaped (a zombie has exited).
func TestWaitSeesExit(t *testing.T) {
	cmd := startChild(t)
	p := openChild(t, cmd.Process.Pid)
	type waited struct {
		err error
		at  time.Time
	}
	done := make(chan waited, 1)
	go func() {
		err := p.Wait(context.Background())
		done <- waited{err, time.Now()}
	}()
	select {
	case w := <-done:
		t.Fatalf("Wait returned %v while the child runs", w.err)
	default:
	}
	killed := time.Now()
	if err := cmd.Process.Signal(os.Kill); err != nil {
		t.Fatal(err)
	}
	var w waited
	testutil.Eventually(t, 5*time.Second, func() bool {
		select {
		case w = <-done:
			return true
		default:
			return false
		}
	}, "Wait did not return after the child was killed")
	if w.err != nil {
		t.Fatalf("Wait = %v, want nil", w.err)
	}
	lat := w.at.Sub(killed)
	t.Logf("exit seen %v after the kill", lat)
	if lat > time.Second {
		t.Errorf("exit seen after %v, want milliseconds", lat)
	}
	// Exited but not reaped: Open refuses it.
	if _, err := Open(cmd.Process.Pid); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Open of the exited child = %v, want ErrNoProcess", err)
	}
	_ = cmd.Wait()
	if _, err := Open(cmd.Process.Pid); !errors.Is(err, ErrNoProcess) {
		t.Errorf("Open of the reaped child = %v, want ErrNoProcess", err)
	}
}

// TestWaitCancel: the context ends the wait; the process runs on and a
// later Wait still sees its exit.
func TestWaitCancel(t *testing.T) {
	cmd := startChild(t)
	p := openChild(t, cmd.Process.Pid)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Wait(ctx) }()
	cancel()
	var err error
	testutil.Eventually(t, 5*time.Second, func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	}, "Wait did not return on cancel")
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait after cancel = %v, want context.Canceled", err)
	}
	go func() { done <- p.Wait(context.Background()) }()
	_ = cmd.Process.Kill()
	testutil.Eventually(t, 5*time.Second, func() bool {
		select {
		case err = <-done:
			return true
		default:
			return false
		}
	}, "second Wait did not see the exit")
	if err != nil {
		t.Fatalf("second Wait = %v, want nil", err)
	}
}

func TestOpenNoProcess(t *testing.T) {
	// PID_MAX_LIMIT - 1 is beyond any default pid_max.
	if _, err := Open(maxPID - 1); !errors.Is(err, ErrNoProcess) && !errors.Is(err, unix.ENOSYS) {
		t.Errorf("Open of a free PID = %v, want ErrNoProcess", err)
	}
}
