package limitfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small.conf")
	if err := os.WriteFile(small, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big.conf")
	if err := os.WriteFile(big, make([]byte, 1025), 0o644); err != nil {
		t.Fatal(err)
	}
	exact := filepath.Join(dir, "exact.conf")
	if err := os.WriteFile(exact, make([]byte, 1024), 0o644); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(small, link); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path    string
		want    string // content, or the error text
		wantErr error
	}{
		{small, "hello\n", nil},
		{link, "hello\n", nil},
		{exact, strings.Repeat("\x00", 1024), nil},
		{big, "read " + big + ": larger than 1 KiB", ErrTooLarge},
		{"/dev/zero", "read /dev/zero: not a regular file (character device)", ErrNotRegular},
		{fifo, "read " + fifo + ": not a regular file (FIFO)", ErrNotRegular},
		{dir, "read " + dir + ": not a regular file (directory)", ErrNotRegular},
		{filepath.Join(dir, "missing"), "stat " + filepath.Join(dir, "missing") + ": no such file or directory", fs.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			done := make(chan struct{})
			var got []byte
			var err error
			go func() {
				defer close(done)
				got, err = Read(tt.path, 1024)
			}()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatalf("Read(%s) still blocked after 10s", tt.path)
			}
			if tt.wantErr == nil {
				if err != nil || string(got) != tt.want {
					t.Fatalf("Read = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if err == nil || err.Error() != tt.want || !errors.Is(err, tt.wantErr) {
				t.Fatalf("Read error %v; want %q (is %v)", err, tt.want, tt.wantErr)
			}
			var pe *fs.PathError
			if !errors.As(err, &pe) || pe.Path != tt.path {
				t.Fatalf("error %v does not name %s as an *fs.PathError", err, tt.path)
			}
		})
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{16 << 20: "16 MiB", 64 << 10: "64 KiB", 1000: "1000 bytes", 1536: "1536 bytes"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}
