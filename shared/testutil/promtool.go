package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// FindModuleRoot returns the directory of go.mod, searched upwards from
// the working directory (a test's is its package's folder).
func FindModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("module root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// ModuleRoot is FindModuleRoot for a test: an error fails it.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	root, err := FindModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	return root
}

// Promtool returns the path of scripts/promtool.sh once it has run
// promtool (the script fetches it from Debian's prometheus package on first
// use, without installing the package): FetchedTool.
func Promtool(tb testing.TB) string {
	tb.Helper()
	return FetchedTool(tb, FindModuleRoot, "promtool.sh")
}

// FetchedTool returns the path of scripts/NAME below the module root that
// root finds, a wrapper that fetches a tool on first use (promtool.sh,
// prometheus.sh), once it has run
// `NAME --version`; the check runs once per test binary and tool. When the
// tool cannot be had, every caller is skipped with the reason, or fails
// under CI=true and inside the guest (TANDEM_IN_VM: its tests must run).
func FetchedTool(tb testing.TB, root func() (string, error), name string) string {
	tb.Helper()
	toolsMu.Lock()
	t, ok := tools[name]
	if !ok {
		t = &fetchedTool{}
		tools[name] = t
	}
	toolsMu.Unlock()
	t.once.Do(func() {
		dir, err := root()
		if err != nil {
			t.err = err.Error()
			return
		}
		t.path = filepath.Join(dir, "scripts", name)
		if out, err := exec.Command(t.path, "--version").CombinedOutput(); err != nil {
			t.err = fmt.Sprintf("%s is not available: scripts/%s --version: %v\n%s", strings.TrimSuffix(name, ".sh"), name, err, out)
		}
	})
	if t.err != "" {
		if os.Getenv("CI") == "true" || os.Getenv("TANDEM_IN_VM") != "" {
			tb.Fatalf("%s\nCI=true and the guest require it (scripts/deps.sh fetches it as root, on the host)", t.err)
		}
		tb.Skipf("%s\nthis test fails instead under CI=true; scripts/deps.sh (root) fetches it", t.err)
	}
	return t.path
}

type fetchedTool struct {
	once      sync.Once
	path, err string
}

var (
	toolsMu sync.Mutex
	tools   = map[string]*fetchedTool{}
)

// PromtoolCheckMetrics runs `promtool check metrics` on an exposition.
func PromtoolCheckMetrics(tb testing.TB, text []byte) {
	tb.Helper()
	cmd := exec.Command(Promtool(tb), "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
