package app

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsDrainStateDiskFull: the director's state directory on a real
// tmpfs (mounted in the test's temporary directory, unmounted at the end)
// filled up: `drain` is refused with state.json's path and "no space left
// on device", and nothing changes; with room again it works. Root for the
// mount; IPVS is the fake (a drain needs services, and this kernel has no
// ip_vs).
func TestNetnsDrainStateDiskFull(t *testing.T) {
	testutil.Netns(t)
	var state string
	h := start(t, testConfig("DIR", 1, ""), func(dir string, f *fakeIPVS) {
		f.Load(loaded(1))
		state = filepath.Join(dir, "state")
		if err := os.MkdirAll(state, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k,mode=0755", "tandem-test", state).CombinedOutput(); err != nil {
			t.Fatalf("mount tmpfs: %v\n%s", err, out)
		}
		t.Cleanup(func() {
			if err := syscall.Unmount(state, syscall.MNT_DETACH); err != nil {
				t.Errorf("unmount %s: %v", state, err)
			}
		})
	})
	stateFile := filepath.Join(state, StateFile)
	fill, err := os.Create(filepath.Join(state, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	for {
		if _, err := fill.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	fill.Close()
	h.ipvs.Reset()
	err = h.call(control.OpDrain, control.DrainArgs{Target: "192.0.2.11:80", Reason: "disk test"}, nil)
	if err == nil || !strings.Contains(err.Error(), "cannot write the state file "+stateFile) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("drain on a full state dir: %v", err)
	}
	t.Logf("drain, disk full: %v", err)
	if calls := h.ipvs.CallStrings(); len(calls) != 0 {
		t.Errorf("a refused drain changed IPVS: %v", calls)
	}
	if rs := h.status().Services[0].RealServers[0]; rs.Drain || rs.State != "up" {
		t.Errorf("after a refused drain: %+v", rs)
	}
	if left, _ := filepath.Glob(filepath.Join(state, "."+StateFile+".tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	os.Remove(filepath.Join(state, "fill"))
	if err := h.call(control.OpDrain, control.DrainArgs{Target: "192.0.2.11:80", Reason: "disk test"}, nil); err != nil {
		t.Fatalf("drain with room: %v", err)
	}
	if b, err := os.ReadFile(stateFile); err != nil || !strings.Contains(string(b), "disk test") {
		t.Errorf("state file: %v %s", err, b)
	}
	h.stop() // before the unmount
}
