package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDetectFormat(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Format
	}{
		{"version: 1\n", FormatNative},
		{"# comment\n\n  version: 1\n", FormatNative},
		{"---\nversion: 1\n", FormatNative},
		{"{version: 1}\n", FormatNative},
		{"node:\n", FormatNative},
		{"OS: CentOS 7\nglobal_defs {\n}\n", FormatKeepalived},
		{"global_defs {\n", FormatKeepalived},
		{"! keepalived\n# more\nvrrp_instance VI {\n", FormatKeepalived},
		{"include /etc/keepalived/a.conf\n", FormatKeepalived},
		{"virtual_server 2001:db8::1 80 {\n", FormatKeepalived},
		{"", FormatKeepalived},
	} {
		if got := DetectFormat([]byte(tt.in)); got != tt.want {
			t.Errorf("DetectFormat(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// TestLoadByContent loads both examples under names that say nothing (or
// the wrong thing) about their format.
func TestLoadByContent(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ src, name string }{
		{"../../docs/examples/keepalived.conf", "director.yaml"},
		{"../../docs/examples/director.yaml", "keepalived.conf"},
	} {
		p := filepath.Join(dir, tt.name)
		if err := os.WriteFile(p, readFile(t, tt.src), 0o644); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p)
		if err != nil {
			t.Fatal(err)
		}
		want := seedModel(p)
		if c.Format == FormatNative {
			want.Node = "lb1"
		}
		if diff := cmp.Diff(want, c, cmpNoPos...); diff != "" {
			t.Errorf("%s as %s (-want +got):\n%s", tt.src, tt.name, diff)
		}
	}
}

// TestFilesHash: FilesHash is the hash of the bytes the reader read, the
// main file then its includes, whatever their paths (two directors with
// the same files in other places agree), through Load, a Loader and
// ParseNative alike; the split between files counts.
func TestFilesHash(t *testing.T) {
	main := []byte("include inc.conf\n")
	inc := readFile(t, "../../docs/examples/keepalived.conf")
	var hashes []string
	for _, dir := range []string{t.TempDir(), t.TempDir()} {
		for name, data := range map[string][]byte{"keepalived.conf": main, "inc.conf": inc} {
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		path := filepath.Join(dir, "keepalived.conf")
		c, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		lc, err := (&Loader{}).Load(path)
		if err != nil {
			t.Fatal(err)
		}
		if c.FilesHash != lc.FilesHash {
			t.Errorf("Load hash %q, Loader hash %q", c.FilesHash, lc.FilesHash)
		}
		hashes = append(hashes, c.FilesHash)
	}
	if want := filesHash(main, inc); hashes[0] != want || hashes[1] != want || len(want) != 12 {
		t.Errorf("hashes %q of the same bytes in two places, want %q", hashes, want)
	}
	native := readFile(t, "../../docs/examples/director.yaml")
	if c, err := ParseNative("director.yaml", native); err != nil {
		t.Error(err)
	} else if c.FilesHash != filesHash(native) {
		t.Errorf("native hash %q, want %q", c.FilesHash, filesHash(native))
	}
	if filesHash([]byte("ab"), []byte("c")) == filesHash([]byte("a"), []byte("bc")) {
		t.Error("moving a byte from one file to the next keeps the hash")
	}
}

func TestLoadMissing(t *testing.T) {
	_, err := Load("/nonexistent/director.yaml")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) is false for %v", err)
	}
	want := []string{"/nonexistent/director.yaml: cannot read the configuration: no such file or directory"}
	if diff := cmp.Diff(want, errLines(err)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestRoundTrip: keepalived.conf → model → native YAML → model, equal but
// for positions.
func TestRoundTrip(t *testing.T) {
	for _, path := range []string{"../../docs/examples/keepalived.conf", "testdata/full.conf", "testdata/seed-original.conf", "../../docs/examples/director.yaml"} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			a, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			out, err := MarshalNative(a)
			if err != nil {
				t.Fatal(err)
			}
			b, err := ParseNative("show-config.yaml", out)
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if diff := cmp.Diff(a, b, cmpNoPos...); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if !Equal(a, b) {
				t.Error("Equal is false")
			}
			if d := Diff(a, b); !d.Empty() {
				t.Errorf("Diff not empty: %s", d)
			}
		})
	}
}

func TestMarshalSeedGolden(t *testing.T) {
	c, err := Load("../../docs/examples/keepalived.conf")
	if err != nil {
		t.Fatal(err)
	}
	out, err := MarshalNative(c)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, t.Name(), out)
}
