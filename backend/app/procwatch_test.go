package app

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// TestProcessWatchReportsDown: health.process names a real child (its
// pidfile written as an application would); killed, the agent reports
// down at once, long before its probe (every 10 minutes) could. Real
// pidfd, no root needed for one's own child.
func TestProcessWatchReportsDown(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	pidfile := filepath.Join(t.TempDir(), "app.pid")
	if err := os.WriteFile(pidfile, fmt.Appendf(nil, "%d\n", cmd.Process.Pid), 0o644); err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, hconf{directors: true, pidfile: pidfile})
	h.start()
	h.dir1.until(hbproto.StateUp)
	if !strings.Contains(h.logs.String(), "watching the application's process") {
		t.Fatalf("the process is not watched:\n%s", h.logs)
	}
	killed := time.Now()
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	r := h.dir1.until(hbproto.StateDown)
	t.Logf("child killed: down report at the director after %v (the probe alone: 10 minutes)", time.Since(killed))
	if want := fmt.Sprintf("process %d of pidfile %s exited", cmd.Process.Pid, pidfile); !strings.Contains(r.Reason, want) {
		t.Errorf("down reason %q, want %q", r.Reason, want)
	}
	if !strings.Contains(h.logs.String(), "application's process gone") {
		t.Errorf("no log line for the process:\n%s", h.logs)
	}
}
