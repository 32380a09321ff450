package app

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsMiscCheckKillsHungScript: a MISC_CHECK run by the daemon as
// user nobody hangs, ignoring SIGTERM, after starting a background child.
// At misc_timeout the daemon kills the whole process group (SIGTERM, then
// SIGKILL after the grace): the script and its child are gone, the check
// failed and the server left IPVS. Root for the user switch.
func TestNetnsMiscCheckKillsHungScript(t *testing.T) {
	testutil.Netns(t)
	// nobody must reach the script: not under t.TempDir (0700).
	out, err := os.MkdirTemp("", "tandem-misc-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(out) })
	if err := os.Chmod(out, 0o777); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(out, "hang.sh")
	if err := os.WriteFile(script, []byte(fmt.Sprintf(`id -u > %[1]s/uid
sleep 1000 &
echo $! > %[1]s/child
echo $$ > %[1]s/self
trap '' TERM
while :; do sleep 1; done
`, out)), 0o644); err != nil {
		t.Fatal(err)
	}
	text := checkConf(`    real_server 192.0.2.11 80 {
        weight 1
        MISC_CHECK {
            misc_path "/bin/sh ` + script + `"
            misc_timeout 0.3
            user nobody
        }
    }
    real_server 192.0.2.12 80 {
        weight 1
    }
`)
	// delay_loop 5: one attempt within the test.
	text = strings.Replace(text, "delay_loop 0.05", "delay_loop 5", 1)
	h := startChecks(t, text, nil, 0)
	began := time.Now()
	h.waitWeights("hung script timed out", map[string]int{rs12: 1})
	t.Logf("server removed %s after start", time.Since(began).Round(time.Millisecond))

	b, err := os.ReadFile(filepath.Join(out, "uid"))
	if err != nil || strings.TrimSpace(string(b)) != "65534" {
		t.Errorf("script ran as uid %q (%v), want nobody's 65534", b, err)
	}
	for _, name := range []string{"self", "child"} {
		b, err := os.ReadFile(filepath.Join(out, name))
		if err != nil {
			t.Fatalf("%s pid: %v", name, err)
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		if alive(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("%s (pid %d) still runs after the timeout", name, pid)
		}
	}
	st := h.status()
	if c := st.Services[0].RealServers[0].Checks; len(c) != 1 || c[0].Up || !strings.Contains(c[0].Reason, "MISC_CHECK") {
		t.Errorf("check status %+v, want MISC_CHECK down", c)
	}
}

// alive reports whether pid runs (a zombie waiting for init counts as
// gone), waiting up to a second for init to reap it.
func alive(pid int) bool {
	gone := func() bool {
		err := syscall.Kill(pid, 0)
		if errors.Is(err, syscall.ESRCH) {
			return true
		}
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
			if f := strings.Fields(string(b)); len(f) > 2 && f[2] == "Z" {
				return true
			}
		}
		return false
	}
	return !testutil.WaitFor(time.Second, gone)
}
