package maintenance

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStoreSaveFailureKeepsOldFlag: a flag that cannot be written leaves
// the old file as it was, no temporary file behind, and an error that
// names the flag file and the OS's reason. (A full disk and a read-only
// state directory are exercised with the real binary in
// backend/app/robust_netns_test.go.)
func TestStoreSaveFailureKeepsOldFlag(t *testing.T) {
	dir := t.TempDir()
	s := Store{Dir: dir}
	on := Flag{On: true, Reason: "kernel upgrade", Since: time.Unix(1700000000, 0).UTC()}
	if err := s.Save(on); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	// The rename cannot replace a file that became a non-empty directory
	// (this works as root too, unlike a read-only mode).
	if err := os.Rename(s.Path(), s.Path()+".keep"); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(s.Path(), "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	err = s.Save(Flag{})
	if err == nil {
		t.Fatal("Save over a directory succeeded")
	}
	if msg := err.Error(); !strings.Contains(msg, "cannot save the switch in "+s.Path()) || !strings.Contains(msg, "rename") {
		t.Errorf("error does not name the file and the refused operation: %v", err)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".maintenance.json.tmp*"))
	if len(left) != 0 {
		t.Errorf("temporary files left behind: %v", left)
	}
	os.RemoveAll(s.Path())
	if err := os.Rename(s.Path()+".keep", s.Path()); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(s.Path()); string(after) != string(before) {
		t.Errorf("flag file changed: %q, was %q", after, before)
	}
	if got, err := s.Load(); err != nil || got != on {
		t.Errorf("Load = %+v, %v; want %+v", got, err, on)
	}

	// A state directory that cannot be created: the error names the file.
	file := filepath.Join(dir, "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	bad := Store{Dir: filepath.Join(file, "state")}
	if err := bad.Save(on); err == nil || !strings.Contains(err.Error(), bad.Path()) || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Save under a file: %v", err)
	}
}

// The state file is read by every later version of the agent: its format
// is pinned here, byte for byte.
func TestStoreFileFormat(t *testing.T) {
	s := Store{Dir: t.TempDir()}
	since := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	const onFile = "{\n  \"on\": true,\n  \"reason\": \"deploy v2\",\n  \"since\": \"2024-01-02T03:04:05Z\"\n}\n"
	const offFile = "{\n  \"on\": false,\n  \"since\": \"2024-01-02T03:04:05Z\"\n}\n"
	for _, tt := range []struct {
		state State
		file  string
	}{
		{State{Mode: Maintenance, Reason: "deploy v2", Since: since}, onFile},
		{State{Mode: Returning, Since: since, Passes: 1}, offFile},
		{State{Mode: InService, Since: since}, offFile},
	} {
		if err := s.Save(FlagOf(tt.state)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(s.Path()); string(b) != tt.file {
			t.Errorf("%v saved as %q, want %q", tt.state.Mode, b, tt.file)
		}
	}
	if err := os.WriteFile(s.Path(), []byte(onFile), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := s.Load()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := FromFlag(f), (State{Mode: Maintenance, Reason: "deploy v2", Since: since}); got != want {
		t.Errorf("FromFlag(Load) = %+v, want %+v", got, want)
	}
}
