package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// use, without installing the package); the check runs once per test
// binary. When promtool cannot be had, every caller is skipped with the
// reason, or fails under CI=true.
func Promtool(tb testing.TB) string {
	tb.Helper()
	promtoolOnce.Do(func() {
		root, err := FindModuleRoot()
		if err != nil {
			promtoolErr = err.Error()
			return
		}
		promtoolPath = filepath.Join(root, "scripts", "promtool.sh")
		if out, err := exec.Command(promtoolPath, "--version").CombinedOutput(); err != nil {
			promtoolErr = fmt.Sprintf("promtool is not available: scripts/promtool.sh --version: %v\n%s", err, out)
		}
	})
	if promtoolErr != "" {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s\nCI=true requires promtool (scripts/deps.sh fetches it as root)", promtoolErr)
		}
		tb.Skipf("%s\nthis test fails instead under CI=true; scripts/deps.sh (root) fetches promtool", promtoolErr)
	}
	return promtoolPath
}

var (
	promtoolOnce              sync.Once
	promtoolPath, promtoolErr string
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
