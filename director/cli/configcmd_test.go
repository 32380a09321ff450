package cli

import (
	"errors"
	"flag"
	"github.com/tandemlb/tandem/shared/testutil"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/config"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/<name>.golden, or rewrites it with
// -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, name, got, *update)
}

func exitCode(err error) int {
	var exit ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.Code
	}
	return -1
}

// migrateConf gives 7 warnings (testdata/migrate.conf).
const migrateConf = "testdata/migrate.conf"

func TestCheckConfigWarnings(t *testing.T) {
	c, err := config.Load(migrateConf)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, w := range c.Warnings {
		want = append(want, w.Error())
	}
	if len(want) != 7 {
		t.Fatalf("%d warnings, the test expects 7:\n%s", len(want), strings.Join(want, "\n"))
	}

	out, errOut, err := run(t, "check-config", migrateConf)
	if code := exitCode(err); code != 0 {
		t.Fatalf("exit %d (%v), want 0 with warnings", code, err)
	}
	if diff := cmp.Diff(want, lines(errOut)); diff != "" {
		t.Errorf("stderr (-want +got):\n%s", diff)
	}
	if w := migrateConf + ": OK (keepalived; 1 vrrp_instance, 1 virtual_server, 2 real_server, 7 warnings)\n"; out != w {
		t.Errorf("stdout %q, want %q", out, w)
	}

	out, errOut, err = run(t, "check-config", "--strict", migrateConf)
	if code := exitCode(err); code != 1 {
		t.Fatalf("--strict: exit %d (%v), want 1", code, err)
	}
	if diff := cmp.Diff(append(want, "7 warnings; --strict makes them errors"), lines(errOut)); diff != "" {
		t.Errorf("--strict stderr (-want +got):\n%s", diff)
	}
	if out != "" {
		t.Errorf("--strict stdout %q, want nothing", out)
	}

	// Without warnings --strict changes nothing; a native file has none.
	dir := t.TempDir()
	clean := filepath.Join(dir, "keepalived.conf")
	os.WriteFile(clean, []byte(seed), 0o644)
	if _, errOut, err := run(t, "check-config", "--strict", clean); err != nil || errOut != "" {
		t.Errorf("--strict on a clean file: %v %q", err, errOut)
	}

	// Errors first, then the warnings (when the file loads and the daemon
	// refuses it: an unknown user).
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte(strings.Replace(seed, "    lb_algo lc\n", "    lb_algo lc\n    bogus_keyword 1\n", 1)+
		"virtual_server 192.0.2.100 81 {\n protocol TCP\n lb_kind DR\n real_server 192.0.2.101 81 {\n  MISC_CHECK {\n   misc_path /bin/true\n   user no-such-user-tandem\n  }\n }\n}\n"), 0o644)
	_, errOut, err = run(t, "check-config", bad)
	got := lines(errOut)
	if exitCode(err) != 1 || len(got) < 2 || strings.Contains(got[0], "bogus_keyword") || !strings.Contains(got[len(got)-1], `keyword "bogus_keyword"`) {
		t.Errorf("errors and warnings: %v\n%s", err, errOut)
	}
}

func lines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// TestMigrate: the keepalived.conf with warnings as native YAML, each
// warning a comment at its element; the output loads with check-config
// and means the same.
func TestMigrate(t *testing.T) {
	out, errOut, err := run(t, "migrate", migrateConf)
	if err != nil {
		t.Fatalf("%v\n%s", err, errOut)
	}
	golden(t, t.Name(), []byte(out))
	if errOut != "" {
		t.Errorf("stderr %q", errOut)
	}

	dir := t.TempDir()
	native := filepath.Join(dir, "director.yaml")
	_, errOut, err = run(t, "migrate", "--output", native, migrateConf)
	if err != nil {
		t.Fatalf("--output: %v\n%s", err, errOut)
	}
	if w := native + ": written from " + migrateConf + " (7 warnings)\n"; errOut != w {
		t.Errorf("--output stderr %q, want %q", errOut, w)
	}
	written, err := os.ReadFile(native)
	if err != nil || string(written) != out {
		t.Fatalf("--output wrote something else than stdout (%v)", err)
	}
	chk, errOut, err := run(t, "check-config", "--strict", native)
	if err != nil || !strings.Contains(chk, ": OK (native; 1 vrrp_instance, 1 virtual_server, 2 real_server)") {
		t.Fatalf("check-config of the migrated file: %v %q %q", err, chk, errOut)
	}
	a, err := config.Load(migrateConf)
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Load(native)
	if err != nil {
		t.Fatal(err)
	}
	if !config.Equal(a, b) {
		t.Errorf("migrated file differs: %s", config.Diff(a, b))
	}
}

func TestMigrateRefuses(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(bad, []byte(strings.Replace(seed, "    lb_algo lc\n", "    lb_algo lc\n    delay_loop soon\n", 1)), 0o644)
	native := filepath.Join(dir, "director.yaml")
	seedCfg, err := config.Parse("seed.conf", []byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	yml, _ := config.MarshalNative(seedCfg)
	os.WriteFile(native, yml, 0o644)
	target := filepath.Join(dir, "out.yaml")
	for _, tt := range []struct {
		name, file string
		stderr     []string
		writes     bool
	}{
		{"does not load", bad, []string{bad + " does not load; nothing migrated:", bad + `:28: keyword "delay_loop": "soon" is not a number of seconds`}, false},
		{"native", native, []string{native + " is already native YAML: nothing to migrate (show-config prints it normalised)"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			os.Remove(target)
			out, errOut, err := run(t, "migrate", "-o", target, tt.file)
			if exitCode(err) != 1 || out != "" {
				t.Errorf("exit %v, stdout %q; want 1 and nothing", err, out)
			}
			if diff := cmp.Diff(tt.stderr, lines(errOut)); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
			if _, err := os.Stat(target); (err == nil) != tt.writes {
				t.Errorf("output written: %v, want %v", err == nil, tt.writes)
			}
		})
	}
}
