package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := NewRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("vips: [192.0.2.100]\nhealth: {type: tcp, address: \"127.0.0.1:80\"}\n"), 0o644)
	out, err := run(t, "check-config", good)
	if err != nil || !strings.Contains(out, "good.yaml: OK") {
		t.Fatalf("good file: %v %q", err, out)
	}
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("vips: [192.0.2.100]\nhealth: {type: tcp, address: \"127.0.0.1:80\"}\ncolour: red\n"), 0o644)
	_, err = run(t, "check-config", bad)
	if err == nil || !strings.Contains(err.Error(), `bad.yaml:3: key "colour": unknown key`) {
		t.Fatalf("bad file: %v", err)
	}
	_, err = run(t, "check-config", filepath.Join(dir, "missing.yaml"))
	if err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing file: %v", err)
	}
}

// TestNoDaemon: without a daemon the verbs say so (or, as non-root, that
// root is needed).
func TestNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "backend.sock")
	for _, args := range [][]string{{"status"}, {"maintenance", "on"}, {"maintenance", "off"}, {"reload"}} {
		_, err := run(t, append([]string{"--config", "/nonexistent", "--socket", sock}, args...)...)
		want := "daemon is not running (nothing listens on " + sock
		if os.Geteuid() != 0 {
			want = "must be run as root"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v: %v, want %q", args, err, want)
		}
	}
}

// TestRunLogFlags: run takes the director's log flags (TANDEM_OPTS in the
// packages' /etc/default file); a bad value is refused before anything
// starts.
func TestRunLogFlags(t *testing.T) {
	good := filepath.Join(t.TempDir(), "good.yaml")
	os.WriteFile(good, []byte("vips: [192.0.2.100]\nhealth: {type: tcp, address: \"127.0.0.1:80\"}\n"), 0o644)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--log-level", "chatty"}, "chatty"},
		{[]string{"--syslog-facility", "local9"}, "local9"},
	} {
		_, err := run(t, append([]string{"run", "-c", good}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run %v: %v, want an error naming %q", tt.args, err, tt.want)
		}
	}
}
