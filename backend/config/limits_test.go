package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The configuration must be a regular file of at most MaxFileSize bytes:
// anything else is an error naming the file, and Load never blocks.
func TestLoadNotAConfigFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "backend.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.yaml")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding\n", MaxFileSize/10+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/dev/zero": "/dev/zero: cannot read: not a regular file (character device)",
		fifo:        fifo + ": cannot read: not a regular file (FIFO)",
		dir:         dir + ": cannot read: not a regular file (directory)",
		big:         big + ": cannot read: larger than 1 MiB",
	} {
		done := make(chan error, 1)
		go func() {
			_, err := Load(path)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || err.Error() != want {
				t.Errorf("Load(%s) = %v, want %q", path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Load(%s) still running after 10s", path)
		}
	}
}
