package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/tandemlb/tandem/shared/testutil"
)

// docsFixture is a docs directory for run: the real gnuplot scripts, the
// given testdata files as its data, and a page with two figure blocks.
func docsFixture(t *testing.T, data ...string) string {
	t.Helper()
	root := testutil.ModuleRoot(t)
	dir := t.TempDir()
	for _, d := range []string{"data", "plots"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	scripts, err := filepath.Glob(filepath.Join(root, "docs", "plots", "*.gp"))
	if err != nil || len(scripts) == 0 {
		t.Fatalf("docs/plots/*.gp: %v %v", scripts, err)
	}
	copyFile := func(from, to string) {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(to, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range scripts {
		copyFile(s, filepath.Join(dir, "plots", filepath.Base(s)))
	}
	for _, d := range data {
		copyFile(filepath.Join("testdata", d), filepath.Join(dir, "data", d))
	}
	page := "# Page\n\n<!-- figure drain-connections -->\n<!-- /figure -->\n\n<!-- figure failover-bench-crash -->\n<!-- /figure -->\n"
	if err := os.WriteFile(filepath.Join(dir, "page.md"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRender draws every plot from the fixtures of testdata (placeholder
// PNGs in a temporary directory, never in docs/) with the real scripts.
func TestRender(t *testing.T) {
	if _, err := exec.LookPath("gnuplot"); err != nil {
		t.Skip("gnuplot not installed (scripts/deps.sh installs Debian's gnuplot-nox)")
	}
	dir := docsFixture(t, "drain-connections.json", "failover-rps.json", "failover-state.json", "failover-bench.json")
	var log bytes.Buffer
	if code := run(context.Background(), []string{"-docs", dir}, &log); code != 0 {
		t.Fatalf("exit %d:\n%s", code, log.String())
	}
	for name, size := range map[string][2]int{
		"drain-connections":    {900, 360},
		"failover-lab":         {900, 420},
		"failover-bench-crash": {900, 420},
	} {
		b, err := os.ReadFile(filepath.Join(dir, "img", name+".png"))
		if err != nil {
			t.Errorf("%s: %v\n%s", name, err, log.String())
			continue
		}
		if w, h, err := pngSize(b); err != nil || w != size[0] || h != size[1] {
			t.Errorf("%s: %d×%d %v, want %d×%d", name, w, h, err, size[0], size[1])
		}
	}
	// The fixture has no stop run of Tandem: that plot is skipped, saying why.
	if _, err := os.Stat(filepath.Join(dir, "img", "failover-bench-stop.png")); err == nil {
		t.Error("failover-bench-stop.png drawn without its runs")
	}
	if !strings.Contains(log.String(), `plot=failover-bench-stop why="failover-bench.json has no stop run`) {
		t.Errorf("no reason for the skipped plot:\n%s", log.String())
	}
	page, err := os.ReadFile(filepath.Join(dir, "page.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"](img/drain-connections.png)", "](img/failover-bench-crash.png)"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
}

// TestMissingData: without data, nothing is drawn, each missing file is
// named, the blocks stay empty and the run succeeds (gnuplot is not even
// looked for).
func TestMissingData(t *testing.T) {
	dir := docsFixture(t)
	var log bytes.Buffer
	if code := run(context.Background(), []string{"-docs", dir, "-gnuplot", "/nonexistent/gnuplot"}, &log); code != 0 {
		t.Fatalf("exit %d:\n%s", code, log.String())
	}
	for _, f := range []string{"drain-connections.json", "failover-rps.json", "failover-bench.json"} {
		if !strings.Contains(log.String(), "missing="+filepath.Join(dir, "data", f)) {
			t.Errorf("log does not name %s:\n%s", f, log.String())
		}
	}
	if pngs, _ := filepath.Glob(filepath.Join(dir, "img", "*.png")); len(pngs) > 0 {
		t.Errorf("drawn without data: %v", pngs)
	}
	page, _ := os.ReadFile(filepath.Join(dir, "page.md"))
	if strings.Contains(string(page), "img/") {
		t.Errorf("page shows a figure without its PNG:\n%s", page)
	}
}

// TestBadData: a malformed data file fails the run, naming the file.
func TestBadData(t *testing.T) {
	dir := docsFixture(t)
	if err := os.WriteFile(filepath.Join(dir, "data", "drain-connections.json"), []byte(`{"status":"success","data":{"resultType":"vector"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if code := run(context.Background(), []string{"-docs", dir}, &log); code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, log.String())
	}
	if !strings.Contains(log.String(), `drain-connections.json: data.resultType \"vector\"`) {
		t.Errorf("log:\n%s", log.String())
	}
}

var imgRef = regexp.MustCompile(`\]\((img/[^)\s]+\.png)\)`)

// TestDocsFigures checks the repository's docs: every img/*.png a page
// shows exists, every PNG of docs/img is shown by a page, and the figure
// blocks are as make docs leaves them.
func TestDocsFigures(t *testing.T) {
	docs := filepath.Join(testutil.ModuleRoot(t), "docs")
	pages, err := filepath.Glob(filepath.Join(docs, "*.md"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("docs/*.md: %v %v", pages, err)
	}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(docs, "img", name+".png"))
		return err == nil
	}
	shown := map[string]bool{}
	for _, p := range pages {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range imgRef.FindAllStringSubmatch(string(b), -1) {
			shown[m[1]] = true
			if _, err := os.Stat(filepath.Join(docs, m[1])); err != nil {
				t.Errorf("docs/%s shows %s: %v", filepath.Base(p), m[1], err)
			}
		}
		filled, _, err := fill(p, b, exists)
		if err != nil {
			t.Error(err)
		} else if !bytes.Equal(filled, b) {
			t.Errorf("docs/%s: its figure blocks are not what make docs writes (run make docs)", filepath.Base(p))
		}
	}
	pngs, _ := filepath.Glob(filepath.Join(docs, "img", "*.png"))
	for _, p := range pngs {
		if rel := "img/" + filepath.Base(p); !shown[rel] {
			t.Errorf("docs/%s is shown by no page", rel)
		}
	}
}
