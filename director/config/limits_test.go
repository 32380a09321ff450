package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// loadWithin runs Load(path) and fails the test if it does not return
// within 10 s (a FIFO or /dev/zero read without care blocks forever).
func loadWithin(t *testing.T, path string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := Load(path)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("Load(%s) still running after 10s", path)
		return nil
	}
}

// An include of something that is not a configuration file is an error
// at the include's file:line naming the file, even for a plain include
// (which skips a missing file): nothing is read whole, nothing hangs.
func TestIncludeNotAConfigFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.conf")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.conf")
	if err := os.WriteFile(big, []byte(strings.Repeat("# padding\n", maxFileSize/10+1)), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "conf.d")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		kw, target, want string
	}{
		{"include", "/dev/zero", `keyword "include": cannot read /dev/zero: not a regular file (character device)`},
		{"include", fifo, `keyword "include": cannot read ` + fifo + `: not a regular file (FIFO)`},
		{"includea", sub, `keyword "includea": cannot read ` + sub + `: not a regular file (directory)`},
		{"include", big, `keyword "include": cannot read ` + big + `: larger than 4 MiB`},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.target), func(t *testing.T) {
			main := filepath.Join(dir, "keepalived.conf")
			src := fmt.Sprintf("global_defs {\n  router_id a\n}\n%s %s\n", tt.kw, tt.target)
			if err := os.WriteFile(main, []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			err := loadWithin(t, main)
			if err == nil {
				t.Fatal("Load succeeded")
			}
			want := main + ":4: " + tt.want
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n%v\nwant a line:\n%s", err, want)
			}
		})
	}
}

// The main configuration file itself: same rule, the error names it.
func TestLoadNotAConfigFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "director.yaml")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/dev/zero": "/dev/zero: cannot read the configuration: not a regular file (character device)",
		fifo:        fifo + ": cannot read the configuration: not a regular file (FIFO)",
		dir:         dir + ": cannot read the configuration: not a regular file (directory)",
	} {
		err := loadWithin(t, path)
		if err == nil || err.Error() != want {
			t.Errorf("Load(%s) = %v, want %q", path, err, want)
		}
		done := make(chan error, 1)
		go func() {
			_, err := new(Loader).Load(path)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || err.Error() != want {
				t.Errorf("Loader.Load(%s) = %v, want %q", path, err, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Loader.Load(%s) still running after 10s", path)
		}
	}
}
