package packaging_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// renderScript renders packaging/scripts/NAME.sh for a package, as
// packaging/build.sh does.
func renderScript(t *testing.T, name, pkg string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("scripts", name+".sh"))
	if err != nil {
		t.Fatal(err)
	}
	conf, other := "director.yaml", "tandem-backend"
	if pkg == "tandem-backend" {
		conf, other = "backend.yaml", "tandem-director"
	}
	return strings.NewReplacer("@PKG@", pkg, "@OTHER@", other, "@CONF@", conf).Replace(string(src))
}

var scriptNames = []string{"postinstall", "preremove", "postremove"}

func TestScriptsSyntax(t *testing.T) {
	shells := []string{"sh"}
	for _, s := range []string{"dash", "bash"} {
		if _, err := exec.LookPath(s); err == nil {
			shells = append(shells, s)
		}
	}
	for _, pkg := range packages {
		for _, name := range scriptNames {
			p := filepath.Join(t.TempDir(), name)
			body := renderScript(t, name, pkg)
			if strings.Contains(body, "@") && regexp.MustCompile(`@[A-Z]+@`).MatchString(body) {
				t.Errorf("%s %s: placeholder left", pkg, name)
			}
			if err := os.WriteFile(p, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			for _, sh := range shells {
				args := []string{"-n", p}
				if sh == "bash" {
					args = []string{"--posix", "-n", p}
				}
				if out, err := exec.Command(sh, args...).CombinedOutput(); err != nil {
					t.Errorf("%s %s: %s -n: %v\n%s", pkg, name, sh, err, out)
				}
			}
		}
	}
}

// scene is a scratch tree (DPKG_ROOT) with fake systemctl,
// deb-systemd-helper, deb-systemd-invoke, systemd-modules-load,
// systemd-sysctl and tandem-X binaries that append their argv to a log.
type scene struct {
	t    *testing.T
	pkg  string
	root string
	bin  string
	log  string
	env  map[string]string
}

const fakeCommand = `#!/bin/sh
echo "NAME $*" >>"$FAKE_LOG"
case "NAME $*" in
"systemctl --quiet is-active tandem-"*) [ "$FAKE_ACTIVE" = 1 ] ;;
"systemctl --quiet is-enabled "*) [ "$FAKE_ENABLED" = 1 ] ;;
"systemctl --quiet is-active "*) exit 1 ;;
"deb-systemd-helper --quiet was-enabled "*) [ "$FAKE_WAS_DISABLED" != 1 ] ;;
"PKG check-config "*)
	if [ "$FAKE_CONFIG_RC" = 1 ]; then echo 'line 3: key "vips": required'; exit 1; fi ;;
esac
`

func newScene(t *testing.T, pkg string, live bool) *scene {
	t.Helper()
	s := &scene{t: t, pkg: pkg, root: t.TempDir(), bin: t.TempDir(), env: map[string]string{}}
	s.log = filepath.Join(t.TempDir(), "log")
	write := func(p, body string, mode os.FileMode) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	fake := func(p, name string) {
		write(p, strings.ReplaceAll(strings.ReplaceAll(fakeCommand, "NAME", name), "PKG", pkg), 0o755)
	}
	for _, c := range []string{"systemctl", "deb-systemd-helper", "deb-systemd-invoke", "modprobe"} {
		fake(filepath.Join(s.bin, c), c)
	}
	fake(filepath.Join(s.root, "usr/sbin", pkg), pkg)
	fake(filepath.Join(s.root, "lib/systemd/systemd-modules-load"), "systemd-modules-load")
	fake(filepath.Join(s.root, "lib/systemd/systemd-sysctl"), "systemd-sysctl")
	if pkg == "tandem-director" {
		write(filepath.Join(s.root, "usr/lib/modules-load.d/tandem-director.conf"), "# comment\nip_vs\nip_vs_lc # lc\n", 0o644)
		// Loaded, as systemd-modules-load would have done.
		for _, m := range []string{"ip_vs", "ip_vs_lc"} {
			if err := os.MkdirAll(filepath.Join(s.root, "sys/module", m), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		write(filepath.Join(s.root, "usr/lib/sysctl.d/60-tandem-director.conf"), "net.ipv4.vs.conn_reuse_mode = 3\n", 0o644)
	}
	if live {
		if err := os.MkdirAll(filepath.Join(s.root, "run/systemd/system"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// run runs one package script with args and returns its stderr and the
// commands it ran, with the scratch root shown as $ROOT.
func (s *scene) run(name string, args ...string) (string, []string) {
	s.t.Helper()
	p := filepath.Join(s.t.TempDir(), name)
	if err := os.WriteFile(p, []byte(renderScript(s.t, name, s.pkg)), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(s.log, nil, 0o644); err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command("sh", append([]string{p}, args...)...)
	cmd.Env = []string{
		"PATH=" + s.bin + ":/usr/sbin:/usr/bin:/sbin:/bin",
		"DPKG_ROOT=" + s.root,
		"FAKE_LOG=" + s.log,
	}
	for k, v := range s.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if out, err := cmd.Output(); err != nil || len(out) != 0 {
		s.t.Fatalf("%s %s: %v, stdout %q, stderr:\n%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	data, err := os.ReadFile(s.log)
	if err != nil {
		s.t.Fatal(err)
	}
	var calls []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l != "" {
			calls = append(calls, strings.ReplaceAll(l, s.root, "$ROOT"))
		}
	}
	return stderr.String(), calls
}

func (s *scene) exists(rel string) bool {
	_, err := os.Lstat(filepath.Join(s.root, rel))
	return err == nil
}

func (s *scene) mkfile(rel, body string) {
	s.t.Helper()
	p := filepath.Join(s.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		s.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		s.t.Fatal(err)
	}
}

func checkCalls(t *testing.T, got, want []string) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("commands run (-want +got)\n%s", diff)
	}
}

var debEnable = []string{
	"deb-systemd-helper unmask tandem-backend.service",
	"deb-systemd-helper --quiet was-enabled tandem-backend.service",
	"deb-systemd-helper enable tandem-backend.service",
}

func TestScriptDebInstallStartsWithValidConfig(t *testing.T) {
	s := newScene(t, "tandem-backend", true)
	stderr, calls := s.run("postinstall", "configure", "")
	checkCalls(t, calls, append(append([]string{}, debEnable...),
		"systemctl --system daemon-reload",
		"tandem-backend check-config /etc/tandem/backend.yaml",
		"deb-systemd-invoke start tandem-backend.service",
	))
	key, err := os.Stat(filepath.Join(s.root, "etc/tandem/heartbeat.key"))
	if err != nil {
		t.Fatalf("no heartbeat key: %v", err)
	}
	if key.Mode().Perm() != 0o600 || key.Size() != 65 {
		t.Errorf("heartbeat key: mode %v, %d bytes; want 0600 and 64 hex digits + newline", key.Mode(), key.Size())
	}
	data, _ := os.ReadFile(filepath.Join(s.root, "etc/tandem/heartbeat.key"))
	if !regexp.MustCompile(`^[0-9a-f]{64}\n$`).Match(data) {
		t.Errorf("heartbeat key %q: want 64 hex digits", data)
	}
	if !strings.Contains(stderr, "created") {
		t.Errorf("no note about the new key: %q", stderr)
	}
}

func TestScriptDebInstallInvalidConfigEnablesOnly(t *testing.T) {
	s := newScene(t, "tandem-backend", true)
	s.env["FAKE_CONFIG_RC"] = "1"
	s.mkfile("etc/tandem/heartbeat.key", "existing\n")
	stderr, calls := s.run("postinstall", "configure", "")
	checkCalls(t, calls, append(append([]string{}, debEnable...),
		"systemctl --system daemon-reload",
		"tandem-backend check-config /etc/tandem/backend.yaml",
	))
	for _, want := range []string{"enabled, but not started", `line 3: key "vips": required`, "systemctl start tandem-backend.service"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("explanation lacks %q:\n%s", want, stderr)
		}
	}
	if data, _ := os.ReadFile(filepath.Join(s.root, "etc/tandem/heartbeat.key")); string(data) != "existing\n" {
		t.Errorf("an existing key was replaced: %q", data)
	}
}

func TestScriptDebInstallOutsideSystemd(t *testing.T) {
	// A chroot or image build: enable (symlinks), never start.
	s := newScene(t, "tandem-backend", false)
	_, calls := s.run("postinstall", "configure", "")
	checkCalls(t, calls, debEnable)
}

func TestScriptDebUpgradeRestarts(t *testing.T) {
	s := newScene(t, "tandem-backend", true)
	s.mkfile("etc/default/tandem-backend", "TANDEM_OPTS=\"--log-level debug\"\nTANDEM_CONFIG=\"/srv/agent.yaml\"\n")
	_, calls := s.run("postinstall", "configure", "0.0.0+git1.gabc-1")
	checkCalls(t, calls, append(append([]string{}, debEnable...),
		"systemctl --system daemon-reload",
		"tandem-backend check-config /srv/agent.yaml",
		"deb-systemd-invoke restart tandem-backend.service",
	))
}

func TestScriptDebUpgradeInvalidConfigKeepsOldRunning(t *testing.T) {
	s := newScene(t, "tandem-backend", true)
	s.env["FAKE_CONFIG_RC"] = "1"
	s.env["FAKE_ACTIVE"] = "1"
	stderr, calls := s.run("postinstall", "configure", "0.0.0+git1.gabc-1")
	checkCalls(t, calls, append(append([]string{}, debEnable...),
		"systemctl --system daemon-reload",
		"tandem-backend check-config /etc/tandem/backend.yaml",
		"systemctl --quiet is-active tandem-backend.service",
	))
	for _, want := range []string{"NOT restarted", "previous version keeps running"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("explanation lacks %q:\n%s", want, stderr)
		}
	}
}

func TestScriptDebAdminDisabledStaysDisabled(t *testing.T) {
	s := newScene(t, "tandem-backend", true)
	s.env["FAKE_WAS_DISABLED"] = "1"
	_, calls := s.run("postinstall", "configure", "0.0.0+git1.gabc-1")
	checkCalls(t, calls, []string{
		"deb-systemd-helper unmask tandem-backend.service",
		"deb-systemd-helper --quiet was-enabled tandem-backend.service",
		"deb-systemd-helper update-state tandem-backend.service",
		"systemctl --system daemon-reload",
		"tandem-backend check-config /etc/tandem/backend.yaml",
		// deb-systemd-invoke itself skips a disabled, stopped unit.
		"deb-systemd-invoke restart tandem-backend.service",
	})
}

func TestScriptDebDirectorLoadsModulesAndSysctls(t *testing.T) {
	s := newScene(t, "tandem-director", true)
	s.mkfile("etc/sysctl.d/60-tandem-director.conf", "net.ipv4.vs.conn_reuse_mode = 1\n")
	_, calls := s.run("postinstall", "configure", "")
	checkCalls(t, calls, []string{
		"deb-systemd-helper unmask tandem-director.service",
		"deb-systemd-helper --quiet was-enabled tandem-director.service",
		"deb-systemd-helper enable tandem-director.service",
		"systemctl --system daemon-reload",
		"systemd-modules-load $ROOT/usr/lib/modules-load.d/tandem-director.conf",
		// The admin's copy in /etc replaces the packaged file.
		"systemd-sysctl $ROOT/etc/sysctl.d/60-tandem-director.conf",
		"systemctl --quiet is-active keepalived.service",
		"tandem-director check-config /etc/tandem/director.yaml",
		"deb-systemd-invoke start tandem-director.service",
	})
}

func TestScriptDebRemoveAndPurgeBackend(t *testing.T) {
	s := newScene(t, "tandem-backend", true)
	s.mkfile("etc/tandem/heartbeat.key", "k\n")
	s.mkfile("var/lib/tandem-backend/maintenance", "on\n")
	s.mkfile("run/tandem-backend/control.sock", "")

	_, calls := s.run("preremove", "upgrade", "0.2-1")
	checkCalls(t, calls, nil)

	_, calls = s.run("preremove", "remove")
	checkCalls(t, calls, []string{"deb-systemd-invoke stop tandem-backend.service"})
	if !s.exists("var/lib/tandem-backend/.purge-helper") {
		t.Fatal("remove did not keep the binary for the purge")
	}
	// dpkg now deletes the package's files.
	if err := os.Remove(filepath.Join(s.root, "usr/sbin/tandem-backend")); err != nil {
		t.Fatal(err)
	}
	_, calls = s.run("postremove", "remove")
	checkCalls(t, calls, []string{
		"systemctl --system daemon-reload",
		"deb-systemd-helper mask tandem-backend.service",
	})
	if !s.exists("etc/tandem/heartbeat.key") || !s.exists("var/lib/tandem-backend/maintenance") {
		t.Error("remove (not purge) deleted the key or the state")
	}

	_, calls = s.run("postremove", "purge")
	checkCalls(t, calls, []string{
		"deb-systemd-helper purge tandem-backend.service",
		"deb-systemd-helper unmask tandem-backend.service",
		"tandem-backend cleanup",
	})
	for _, p := range []string{"var/lib/tandem-backend", "run/tandem-backend", "etc/tandem/heartbeat.key", "etc/tandem"} {
		if s.exists(p) {
			t.Errorf("purge left %s", p)
		}
	}
}

func TestScriptDebPurgeKeepsKeyOfOtherPackage(t *testing.T) {
	s := newScene(t, "tandem-director", true)
	s.mkfile("etc/tandem/heartbeat.key", "k\n")
	s.mkfile("usr/sbin/tandem-backend", "")
	s.mkfile("var/lib/tandem-director/state", "x")
	_, _ = s.run("postremove", "purge")
	if !s.exists("etc/tandem/heartbeat.key") {
		t.Error("purge of the director deleted the key the installed agent uses")
	}
	if s.exists("var/lib/tandem-director") {
		t.Error("purge left the state directory")
	}
}

func TestScriptRPMInstallUpgradeErase(t *testing.T) {
	s := newScene(t, "tandem-backend", true)
	s.env["FAKE_ENABLED"] = "1"

	_, calls := s.run("postinstall", "1")
	checkCalls(t, calls, []string{
		"systemctl enable tandem-backend.service",
		"systemctl --system daemon-reload",
		"tandem-backend check-config /etc/tandem/backend.yaml",
		"systemctl --quiet is-enabled tandem-backend.service",
		"systemctl start tandem-backend.service",
	})

	s.mkfile("etc/sysconfig/tandem-backend", "TANDEM_CONFIG='/srv/agent.yaml'\n")
	_, calls = s.run("postinstall", "2")
	checkCalls(t, calls, []string{
		"systemctl --system daemon-reload",
		"tandem-backend check-config /srv/agent.yaml",
		"systemctl --quiet is-enabled tandem-backend.service",
		"systemctl restart tandem-backend.service",
	})

	// The old package's scripts during that upgrade.
	_, calls = s.run("preremove", "1")
	checkCalls(t, calls, nil)
	_, calls = s.run("postremove", "1")
	checkCalls(t, calls, []string{"systemctl --system daemon-reload"})

	// Erase: rpm has no purge, so it is the cleanup too.
	s.mkfile("etc/tandem/heartbeat.key", "k\n")
	s.mkfile("var/lib/tandem-backend/maintenance", "on\n")
	_, calls = s.run("preremove", "0")
	checkCalls(t, calls, []string{
		"systemctl --no-reload disable --now tandem-backend.service",
		"tandem-backend cleanup",
	})
	_, calls = s.run("postremove", "0")
	checkCalls(t, calls, []string{"systemctl --system daemon-reload"})
	if s.exists("var/lib/tandem-backend") {
		t.Error("erase left the state directory")
	}
	if !s.exists("etc/tandem/heartbeat.key") {
		t.Error("erase deleted the heartbeat key (kept on RPM systems, see postremove.sh)")
	}
}

func TestScriptRPMInstallDisabledNotStarted(t *testing.T) {
	// A preset or an admin disabled it: %post does not start it.
	s := newScene(t, "tandem-backend", true)
	_, calls := s.run("postinstall", "2")
	checkCalls(t, calls, []string{
		"systemctl --system daemon-reload",
		"tandem-backend check-config /etc/tandem/backend.yaml",
		"systemctl --quiet is-enabled tandem-backend.service",
		"systemctl --quiet is-active tandem-backend.service",
	})
}

func TestScriptDirectorModprobeFallback(t *testing.T) {
	// systemd-modules-load left ip_vs_lc out (no kmod index): modprobe it.
	s := newScene(t, "tandem-director", true)
	if err := os.Remove(filepath.Join(s.root, "sys/module/ip_vs_lc")); err != nil {
		t.Fatal(err)
	}
	_, calls := s.run("postinstall", "configure", "")
	want := []string{
		"systemd-modules-load $ROOT/usr/lib/modules-load.d/tandem-director.conf",
		"modprobe ip_vs_lc",
		"systemd-sysctl $ROOT/usr/lib/sysctl.d/60-tandem-director.conf",
	}
	i := slices.Index(calls, want[0])
	if i < 0 || len(calls) < i+3 {
		t.Fatalf("commands run: %q", calls)
	}
	checkCalls(t, calls[i:i+3], want)
}
