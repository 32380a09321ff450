package pkggen

import (
	"bytes"
	"compress/gzip"
	"io"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

func TestCommentOut(t *testing.T) {
	example := []byte("# heading\nnode: web1\n\nvips:\n  - 192.0.2.100\n  # - 2001:db8::100\n")
	got := CommentOut(example, "backend.yaml")
	if !AllCommented(got) {
		t.Fatalf("CommentOut left a live line:\n%s", got)
	}
	var v any
	if err := yaml.Unmarshal(got, &v); err != nil || v != nil {
		t.Fatalf("commented config parses as %v, %v; want an empty document", v, err)
	}
	// Uncommenting the block restores the example lines.
	for _, want := range []string{"# heading\n", "#node: web1\n", "#vips:\n", "#  - 192.0.2.100\n", "  # - 2001:db8::100\n"} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("CommentOut output lacks %q:\n%s", want, got)
		}
	}
}

func TestAllCommented(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"", true},
		{"# a\n\n   # b\n", true},
		{"# a\nversion: 1\n", false},
		{"  key: v # c\n", false},
	} {
		if got := AllCommented([]byte(tt.in)); got != tt.want {
			t.Errorf("AllCommented(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestWithSnapshot(t *testing.T) {
	date := time.Date(2025, 11, 26, 7, 0, 0, 0, time.UTC)
	release := ChangelogEntry{Semver: "0.1.0-1", Date: date, Packager: Packager}
	if got := WithSnapshot([]ChangelogEntry{release}, "0.1.0-1", date); len(got) != 1 {
		t.Errorf("a listed release got a snapshot entry: %+v", got)
	}
	got := WithSnapshot([]ChangelogEntry{release}, "0.1.0+git3.gabc1234-1", date)
	if len(got) != 2 || got[0].Semver != "0.1.0+git3.gabc1234-1" || !cmp.Equal(got[1], release) {
		t.Fatalf("WithSnapshot = %+v", got)
	}
	if got[0].Deb == nil || got[0].Deb.Urgency != "low" || !slices.Equal(got[0].Deb.Distributions, []string{"unstable"}) {
		t.Errorf("snapshot entry lacks the Debian heading fields: %+v", got[0].Deb)
	}
	if got := WithSnapshot(nil, "0.0.0+git1.gabc-1", date); len(got) != 1 {
		t.Errorf("empty history: %+v", got)
	}
}

func testTree() *cobra.Command {
	root := &cobra.Command{Use: "tandem-x", Short: "x"}
	run := &cobra.Command{Use: "run", Short: "run it", Run: func(*cobra.Command, []string) {}}
	hidden := &cobra.Command{Use: "secret", Hidden: true, Run: func(*cobra.Command, []string) {}}
	m := &cobra.Command{Use: "maintenance", Short: "m"}
	m.AddCommand(&cobra.Command{Use: "on", Short: "on", Run: func(*cobra.Command, []string) {}})
	root.AddCommand(run, hidden, m)
	return root
}

func TestManPages(t *testing.T) {
	date := time.Date(2025, 11, 26, 0, 0, 0, 0, time.UTC)
	pages, err := ManPages(testTree(), "Tandem 1.2.3-1", date)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for n := range pages {
		names = append(names, n)
	}
	slices.Sort(names)
	want := ManPageNames(testTree())
	slices.Sort(want)
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("ManPages vs ManPageNames (-want +got)\n%s", diff)
	}
	for _, n := range []string{"tandem-x.8.gz", "tandem-x-run.8.gz", "tandem-x-maintenance-on.8.gz", "tandem-x-completion-bash.8.gz"} {
		if _, ok := pages[n]; !ok {
			t.Errorf("no page %s in %v", n, names)
		}
	}
	if _, ok := pages["tandem-x-secret.8.gz"]; ok {
		t.Errorf("hidden command got a page")
	}
	gz := pages["tandem-x-run.8.gz"]
	// gzip -9n: XFL byte 2 (best compression), no mtime, no file name.
	if gz[8] != 2 || !bytes.Equal(gz[4:8], []byte{0, 0, 0, 0}) || gz[3]&0x08 != 0 {
		t.Errorf("gzip header % x: want best compression, no time, no name", gz[:10])
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		t.Fatal(err)
	}
	page, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`.TH "TANDEM-X-RUN" "8" "Nov 2025" "Tandem 1.2.3-1" "Tandem manual"`, "run it"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if bytes.Contains(page, []byte("Auto generated")) {
		t.Errorf("page carries cobra's generation date")
	}
}
