package testutil

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// ModuleRoot returns the directory of go.mod, searched upwards from the
// test's working directory (its package's folder).
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// Promtool returns the path of scripts/promtool.sh once it has run
// promtool (the script fetches it from Debian's prometheus package on first
// use, without installing the package). When promtool cannot be had, the
// test is skipped with the reason, or fails under CI=true.
func Promtool(tb testing.TB) string {
	tb.Helper()
	script := filepath.Join(ModuleRoot(tb), "scripts", "promtool.sh")
	out, err := exec.Command(script, "--version").CombinedOutput()
	if err != nil {
		msg := fmt.Sprintf("promtool is not available: scripts/promtool.sh --version: %v\n%s", err, out)
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%s\nCI=true requires promtool (scripts/deps.sh fetches it as root)", msg)
		}
		tb.Skipf("%s\nthis test fails instead under CI=true; scripts/deps.sh (root) fetches promtool", msg)
	}
	return script
}

// PromtoolCheckMetrics runs `promtool check metrics` on an exposition.
func PromtoolCheckMetrics(tb testing.TB, text []byte) {
	tb.Helper()
	cmd := exec.Command(Promtool(tb), "check", "metrics")
	cmd.Stdin = bytes.NewReader(text)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
