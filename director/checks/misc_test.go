package checks

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/procgroup/procgrouptest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// scriptFile writes an executable shell script into dir and returns its path.
func scriptFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMiscCheck(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "not-exec.sh")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		check      MiscCheck
		want       string // error substring, "" for success
		weight     int
		weightSet  bool
		exitStatus int // for an *ExitError
	}{
		{name: "exit 0", check: MiscCheck{Args: []string{scriptFile(t, dir, "ok.sh", "exit 0")}}},
		{name: "exit 1", check: MiscCheck{Args: []string{scriptFile(t, dir, "fail.sh", "exit 1")}}, want: "exit status 1", exitStatus: 1},
		{name: "exit 3 without misc_dynamic fails", check: MiscCheck{Args: []string{scriptFile(t, dir, "three.sh", "exit 3")}}, want: "exit status 3", exitStatus: 3},
		{name: "arguments and output in the reason", check: MiscCheck{Args: []string{scriptFile(t, dir, "args.sh", `echo "got $1|$2" >&2; exit 1`), "a b", "c"}}, want: "exit status 1: got a b|c", exitStatus: 1},
		{name: "dynamic: exit 12 is weight 10", check: MiscCheck{Args: []string{scriptFile(t, dir, "w12.sh", "exit 12")}, Dynamic: true}, weight: 10, weightSet: true},
		{name: "dynamic: exit 2 is weight 0", check: MiscCheck{Args: []string{scriptFile(t, dir, "w2.sh", "exit 2")}, Dynamic: true}, weight: 0, weightSet: true},
		{name: "dynamic: exit 255 is weight 253", check: MiscCheck{Args: []string{scriptFile(t, dir, "w255.sh", "exit 255")}, Dynamic: true}, weight: 253, weightSet: true},
		{name: "dynamic: exit 0 is the configured weight", check: MiscCheck{Args: []string{dir + "/ok.sh"}, Dynamic: true, ConfiguredWeight: 7}, weight: 7, weightSet: true},
		{name: "dynamic: exit 1 fails", check: MiscCheck{Args: []string{dir + "/fail.sh"}, Dynamic: true}, want: "exit status 1", exitStatus: 1},
		{name: "killed by a signal", check: MiscCheck{Args: []string{scriptFile(t, dir, "sig.sh", "kill -9 $$")}}, want: "killed by signal 9"},
		{name: "not executable", check: MiscCheck{Args: []string{notExec}}, want: "cannot execute " + notExec + ": permission denied"},
		{name: "missing", check: MiscCheck{Args: []string{dir + "/missing.sh"}}, want: "no such file or directory"},
		{name: "not in PATH", check: MiscCheck{Args: []string{"tandem-no-such-program"}}, want: "cannot execute tandem-no-such-program: not found in PATH"},
		{name: "no misc_path", check: MiscCheck{}, want: "no misc_path configured"},
		{name: "program from PATH", check: MiscCheck{Args: []string{"true"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, set, err := tt.check.ProbeWeight(context.Background())
			if tt.want == "" && err != nil {
				t.Fatalf("ProbeWeight = %v, want success", err)
			}
			if tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("ProbeWeight = %v, want an error with %q", err, tt.want)
			}
			if w != tt.weight || set != tt.weightSet {
				t.Errorf("weight %d set %v, want %d %v", w, set, tt.weight, tt.weightSet)
			}
			var ee *ExitError
			if tt.exitStatus != 0 && (!errors.As(err, &ee) || ee.Status != tt.exitStatus) {
				t.Errorf("error %v is not an ExitError with status %d", err, tt.exitStatus)
			}
		})
	}
}

// waitDead waits (bounded) for pid to die: a SIGKILLed process takes a
// moment to go (a zombie is dead: in a container nobody may reap it).
func waitDead(t *testing.T, pid int) {
	t.Helper()
	testutil.Eventually(t, 3*time.Second, func() bool { return !procgrouptest.Running(pid) }, "process %d still alive", pid)
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// TestMiscCheckTimeoutKillsGroup: a script that forks a child and hangs
// (ignoring SIGTERM) times out; its whole process group, the forked child
// included, is gone when the probe returns (keepalived PR #429).
func TestMiscCheckTimeoutKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	p := scriptFile(t, dir, "hang.sh", `trap '' TERM
sleep 300 &
echo $! > `+pidFile+`
while :; do sleep 1; done`)
	m := MiscCheck{Args: []string{p}, Timeout: 300 * time.Millisecond, KillGrace: 200 * time.Millisecond}
	start := time.Now()
	err := m.Probe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "timed out after 300ms") {
		t.Fatalf("Probe = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("probe took %s", d)
	}
	waitDead(t, readPid(t, pidFile))
}

// TestMiscCheckLeftoverChildKilled: a script that exits 0 leaving a
// background child behind passes, and the child does not outlive it.
func TestMiscCheckLeftoverChildKilled(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	p := scriptFile(t, dir, "bg.sh", "sleep 300 >/dev/null 2>&1 &\necho $! > "+pidFile+"\nexit 0")
	if err := (MiscCheck{Args: []string{p}, Timeout: 5 * time.Second}).Probe(context.Background()); err != nil {
		t.Fatalf("Probe = %v", err)
	}
	waitDead(t, readPid(t, pidFile))
}

// TestMiscCheckCancelKills: the checker stopping (reload) kills the
// running program at once, without waiting for misc_timeout.
func TestMiscCheckCancelKills(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "self.pid")
	p := scriptFile(t, dir, "slow.sh", "echo $$ > "+pidFile+"\nexec sleep 300")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- (MiscCheck{Args: []string{p}, Timeout: time.Hour}).Probe(ctx) }()
	testutil.Eventually(t, 3*time.Second, func() bool {
		b, err := os.ReadFile(pidFile)
		return err == nil && len(b) > 0 && b[len(b)-1] == '\n'
	}, "script did not start")
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Probe = %v, want context.Canceled", err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Probe did not return after cancel")
	}
	waitDead(t, readPid(t, pidFile))
}

// TestMiscCheckOutputBounded: a script printing megabytes is not kept.
func TestMiscCheckOutputBounded(t *testing.T) {
	dir := t.TempDir()
	p := scriptFile(t, dir, "loud.sh", "head -c 4000000 /dev/zero | tr '\\0' 'a'; exit 1")
	err := (MiscCheck{Args: []string{p}, Timeout: 10 * time.Second}).Probe(context.Background())
	var ee *ExitError
	if !errors.As(err, &ee) {
		t.Fatalf("Probe = %v", err)
	}
	if len(ee.Output) > DefaultMiscOutput {
		t.Errorf("kept %d bytes of output", len(ee.Output))
	}
}

func TestParseHex(t *testing.T) {
	tests := []struct {
		in         string
		wild       bool
		data, mask []byte
		err        bool
	}{
		// The example of keepalived.conf(5).
		{in: "Ab12f 3 456 546443123", data: []byte{0xAB, 0x12, 0x0F, 0x03, 0x45, 0x06, 0x54, 0x64, 0x43, 0x12, 0x03}},
		{in: "00ff\t10", data: []byte{0x00, 0xff, 0x10}},
		{in: "1x X2", wild: true, data: []byte{0x10, 0x02}, mask: []byte{0x0f, 0xf0}},
		{in: "1x", err: true}, // no wildcards in a payload
		{in: "", err: true},
		{in: "zz", err: true},
	}
	for _, tt := range tests {
		data, mask, err := ParseHex(tt.in, tt.wild)
		if tt.err {
			if err == nil {
				t.Errorf("ParseHex(%q) = %x, want an error", tt.in, data)
			}
			continue
		}
		if err != nil || string(data) != string(tt.data) || string(mask) != string(tt.mask) {
			t.Errorf("ParseHex(%q) = %x/%x, %v; want %x/%x", tt.in, data, mask, err, tt.data, tt.mask)
		}
	}
}
