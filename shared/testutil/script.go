package testutil

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteScript writes a /bin/sh script with body into a temporary directory
// of t and returns its path (mode 0755).
func WriteScript(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.sh")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}
