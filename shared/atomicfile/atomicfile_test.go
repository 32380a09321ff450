package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	for _, want := range []string{"one\n", "two\n"} {
		if err := Write(path, []byte(want), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	if err := Write(path, []byte("three\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v, %v; want 0644", st.Mode(), err)
	}
	if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*.tmp*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A directory that cannot be written: the error comes back, the old file
// stays and no temporary file is left.
func TestWriteFailureKeepsOld(t *testing.T) {
	if os.Geteuid() == 0 {
		// root ignores directory permissions; the full-disk case is
		// covered by the callers' netns tests on a full tmpfs.
		t.Log("running as root: checking a missing parent that is a file instead")
		dir := t.TempDir()
		blocker := filepath.Join(dir, "file")
		os.WriteFile(blocker, nil, 0o600)
		if err := Write(filepath.Join(blocker, "state.json"), []byte("x"), 0o600); err == nil {
			t.Fatal("write under a regular file succeeded")
		}
		return
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	if err := Write(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o500)
	defer os.Chmod(dir, 0o700)
	if err := Write(path, []byte("new\n"), 0o644); err == nil {
		t.Fatal("write into a read-only directory succeeded")
	}
	if got, _ := os.ReadFile(path); string(got) != "old\n" {
		t.Errorf("after a failed write: %q", got)
	}
}
