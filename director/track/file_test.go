package track_test

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/track"
)

func TestParseFileValue(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"", 0, true},
		{"12\n", 12, true},
		{"  -7 trailing", -7, true},
		{"+5", 5, true},
		{"0x1f", 31, true},
		{"-0X10", -16, true},
		{"010", 8, true},
		{"08", 0, true},
		{"0x", 0, true},
		{"abc", 0, true},
		{"2147483647", 2147483647, true},
		{"-2147483648", -2147483648, true},
		{"2147483648", 0, false},
		{"99999999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := track.ParseFileValue([]byte(tt.in))
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseFileValue(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseFileValue(f *testing.F) {
	for _, s := range []string{"", "12", "-0x10", "010", " +7x", "99999999999999999999"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := track.ParseFileValue(b)
		if !ok {
			return
		}
		if v < -1<<31 || v > 1<<31-1 {
			t.Fatalf("value %d out of int32 with ok", v)
		}
		// A decimal rendering reads back the same.
		if w, ok := track.ParseFileValue([]byte(strconv.FormatInt(v, 10))); !ok || w != v {
			t.Fatalf("round trip of %d gave %d, %v", v, w, ok)
		}
	})
}

func TestFileInit(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "v")
	five := 5
	if err := track.NewFile(track.FileConfig{Name: "f", Path: p, InitFile: &five}, nil, nil, nil).Init(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "5\n" {
		t.Fatalf("created %q", b)
	}
	seven := 7
	if err := track.NewFile(track.FileConfig{Name: "f", Path: p, InitFile: &seven}, nil, nil, nil).Init(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "5\n" {
		t.Fatalf("existing file changed without overwrite: %q", b)
	}
	if err := track.NewFile(track.FileConfig{Name: "f", Path: p, InitFile: &seven, Overwrite: true}, nil, nil, nil).Init(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(p); string(b) != "7\n" {
		t.Fatalf("overwrite wrote %q", b)
	}
	if err := track.NewFile(track.FileConfig{Name: "f", Path: dir, InitFile: &seven, Overwrite: true}, nil, nil, nil).Init(); err == nil {
		t.Fatal("overwriting a directory did not fail")
	}
}

// TestFileRun follows a real file through inotify; the interval is long
// so that only inotify can deliver the changes within the test's bound.
func TestFileRun(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "prio")
	updates := make(chan track.Update, 16)
	f := track.NewFile(track.FileConfig{Name: "f", Path: p, Interval: time.Hour}, nil, nil, func(u track.Update) { updates <- u })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()
	next := func(want int64) {
		t.Helper()
		u := recv(t, updates)
		if u.Kind != track.KindFile || u.Name != "f" || u.Value != want || !u.Changed {
			t.Fatalf("update %+v, want value %d", u, want)
		}
	}
	next(0) // absent
	// Wait for the watch: write until the change arrives (bounded).
	write := func(s string) {
		tmp := filepath.Join(dir, "tmp")
		if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, p); err != nil {
			t.Fatal(err)
		}
	}
	write("12\n")
	next(12)
	if err := os.WriteFile(p, []byte("-3"), 0o644); err != nil {
		t.Fatal(err)
	}
	next(-3)
	if err := os.WriteFile(p, []byte("99999999999"), 0o644); err != nil {
		t.Fatal(err)
	}
	write("-3") // out of range ignored, same value: no update
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	next(0)
	cancel()
	if err := recv(t, done); err != context.Canceled {
		t.Fatalf("Run returned %v", err)
	}
}
