package track_test

import (
	"context"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/track"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsScriptUser runs a script as user nobody (needs root to change
// identity): the script sees nobody's uid.
func TestNetnsScriptUser(t *testing.T) {
	testutil.Netns(t)
	u, err := user.Lookup("nobody")
	if err != nil {
		t.Fatalf("user nobody: %v", err)
	}
	dir := t.TempDir()
	// nobody must be able to reach the script: open both levels of the
	// test's temporary directory.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := filepath.Join(dir, "id.sh")
	if err := os.WriteFile(s, []byte("#!/bin/sh\n[ \"$(id -u)\" = \""+u.Uid+"\" ] || { echo \"uid $(id -u)\" >&2; exit 1; }\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := track.OSExecutor{}.Exec(context.Background(), track.Command{Args: []string{s}, User: "nobody", Timeout: 5 * time.Second})
	if r.Err != nil || r.ExitStatus != 0 {
		t.Fatalf("result %+v, want the script to run as nobody", r)
	}
	r = track.OSExecutor{}.Exec(context.Background(), track.Command{Args: []string{s}, User: "nobody", Group: "tandem-no-such-group", Timeout: 5 * time.Second})
	if r.Err == nil || !strings.Contains(r.Err.Error(), `script group "tandem-no-such-group"`) {
		t.Fatalf("result %+v, want an unknown group error", r)
	}
}
