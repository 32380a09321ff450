package packaging_test

// Tests of the packages (make packages, dist/) and of the files they are
// made of: lintian and rpmlint clean, systemd-analyze verify and security on
// the units, the exact file lists and modes of the four packages, and the
// package scripts, both for syntax and for what they do on each dpkg and rpm
// action (run against a scratch tree with fake systemctl and friends).
//
// The package tests read TANDEM_DIST (make test-unit sets it and builds the
// packages first). A tool that is missing (lintian, rpmlint, rpm,
// systemd-analyze, dpkg-deb) skips its test with a message, and fails it
// under CI=true.

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"

	backendcli "github.com/tandemlb/tandem/backend/cli"
	directorcli "github.com/tandemlb/tandem/director/cli"
	"github.com/tandemlb/tandem/packaging/internal/pkggen"
	"github.com/tandemlb/tandem/shared/testutil"
)

var packages = []string{"tandem-director", "tandem-backend"}

// needTool returns the path of a tool, or skips the test (fails it under
// CI=true) when the tool is not installed.
func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not installed, and CI=true requires every packaging check (scripts/deps.sh installs it)", name)
		}
		t.Skipf("%s is not installed (scripts/deps.sh installs it); this test fails instead under CI=true", name)
	}
	return p
}

// dist locates the packages of the last `make packages`.
type dist struct {
	dir     string
	version string // version-release, e.g. 0.0.0+git42.gabc1234-1
}

func needDist(t *testing.T) dist {
	t.Helper()
	dir := os.Getenv("TANDEM_DIST")
	if dir == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("TANDEM_DIST is not set: run through make (make test-unit builds the packages first)")
		}
		t.Skip("packages not built: run `make test-unit`, or `make packages` and TANDEM_DIST=$PWD/dist go test ./packaging/")
	}
	v, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		t.Fatalf("TANDEM_DIST=%s: %v (run make packages)", dir, err)
	}
	return dist{dir: dir, version: strings.TrimSpace(string(v))}
}

func (d dist) deb(pkg string) string {
	return filepath.Join(d.dir, pkg+"_"+d.version+"_amd64.deb")
}

func (d dist) rpm(pkg string) string {
	return filepath.Join(d.dir, pkg+"-"+d.version+".x86_64.rpm")
}

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func TestLintian(t *testing.T) {
	lintian := needTool(t, "lintian")
	d := needDist(t)
	args := []string{"--fail-on", "error,warning", "--display-info"}
	for _, p := range packages {
		args = append(args, d.deb(p))
	}
	out, err := exec.Command(lintian, args...).CombinedOutput()
	t.Logf("lintian:\n%s", out)
	if err != nil {
		t.Errorf("lintian failed: %v", err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		// E: error, W: warning; I: (info) and O: (overridden) are allowed;
		// every override in packaging/lintian/ carries its reason.
		if strings.HasPrefix(line, "E: ") || strings.HasPrefix(line, "W: ") {
			t.Errorf("lintian: %s", line)
		}
	}
}

// cpioShim puts a cpio first on PATH that never extracts absolute names.
// nfpm writes absolute paths into the RPM payload, and rpmlint extracts
// packages with `rpm2cpio | cpio -id`: as root, without the shim, that would
// write the package's files over the host's /.
func cpioShim(t *testing.T) []string {
	t.Helper()
	cpio := needTool(t, "cpio")
	dir := t.TempDir()
	shim := filepath.Join(dir, "cpio")
	script := "#!/bin/sh\nexec " + cpio + " --no-absolute-filenames \"$@\"\n"
	if err := os.WriteFile(shim, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	// Refuse to go on unless the shim is what a shell finds.
	cmd := exec.Command("sh", "-c", "command -v cpio")
	cmd.Env = env
	got, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(got)) != shim {
		t.Fatalf("cpio shim not first on PATH (%q, %v): refusing to run rpmlint", got, err)
	}
	return env
}

func TestRpmlint(t *testing.T) {
	rpmlint := needTool(t, "rpmlint")
	needTool(t, "rpm2cpio")
	d := needDist(t)
	env := cpioShim(t)
	args := []string{"-c", "rpmlint.toml"}
	for _, p := range packages {
		args = append(args, d.rpm(p))
	}
	cmd := exec.Command(rpmlint, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	t.Logf("rpmlint:\n%s", out)
	if err != nil {
		t.Errorf("rpmlint failed: %v", err)
	}
	if !strings.Contains(string(out), "2 packages and 0 specfiles checked; 0 errors, 0 warnings") {
		t.Errorf("rpmlint is not clean (every accepted finding is a filter with its reason in packaging/rpmlint.toml)")
	}
}

// unitWithStub copies a unit into a temporary directory with its
// /usr/sbin/tandem-X replaced by an executable stub: systemd-analyze verify
// wants ExecStart's binary to exist.
func unitWithStub(t *testing.T, pkg string) string {
	t.Helper()
	unit, err := os.ReadFile(filepath.Join("..", "systemd", pkg+".service"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	stub := filepath.Join(dir, pkg)
	if err := os.WriteFile(stub, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(unit, []byte("/usr/sbin/"+pkg)) {
		t.Fatalf("%s.service does not run /usr/sbin/%s", pkg, pkg)
	}
	unit = bytes.ReplaceAll(unit, []byte("/usr/sbin/"+pkg), []byte(stub))
	p := filepath.Join(dir, pkg+".service")
	if err := os.WriteFile(p, unit, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSystemdVerify(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	for _, pkg := range packages {
		t.Run(pkg, func(t *testing.T) {
			out, err := exec.Command(sa, "verify", "--man=no", unitWithStub(t, pkg)).CombinedOutput()
			if err != nil || len(out) != 0 {
				t.Errorf("systemd-analyze verify: %v, output:\n%s", err, out)
			}
		})
	}
}

// maxExposure is the highest accepted `systemd-analyze security` exposure,
// in tenths (systemd's --threshold scale): 2.5. Both units are at 2.1; see
// docs/packaging.md for what is left and why.
const maxExposure = "25"

var exposureRe = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

func TestSystemdSecurity(t *testing.T) {
	sa := needTool(t, "systemd-analyze")
	for _, pkg := range packages {
		t.Run(pkg, func(t *testing.T) {
			unit := filepath.Join("..", "systemd", pkg+".service")
			out, err := exec.Command(sa, "security", "--offline=true", "--no-pager", "--threshold="+maxExposure, unit).CombinedOutput()
			m := exposureRe.FindSubmatch(out)
			if m == nil {
				t.Fatalf("no exposure level in systemd-analyze security output (%v):\n%s", err, out)
			}
			t.Logf("%s: exposure %s", pkg, m[1])
			if err != nil {
				t.Errorf("exposure %s is above %s/10:\n%s", m[1], maxExposure, out)
			}
		})
	}
}

// entry is one file of a package as the package lists it.
type entry struct {
	Mode  string // "-rw-r--r--"
	Owner string // "root/root"
	Flags string // RPM file flags ("cn" config noreplace, "d" doc, "l" license); "" for deb
}

func roots() map[string]*cobra.Command {
	return map[string]*cobra.Command{
		"tandem-director": directorcli.NewRoot(),
		"tandem-backend":  backendcli.NewRoot(),
	}
}

// wantFiles lists every regular file of a package with its mode and owner.
func wantFiles(pkg, format string) map[string]entry {
	rw := entry{Mode: "-rw-r--r--", Owner: "root/root"}
	conf := rw
	doc := rw
	lic := rw
	if format == "rpm" {
		conf.Flags, doc.Flags, lic.Flags = "cn", "d", "l"
	}
	short := strings.TrimPrefix(pkg, "tandem-")
	files := map[string]entry{
		"/usr/sbin/" + pkg:                              {Mode: "-rwxr-xr-x", Owner: "root/root"},
		"/etc/tandem/" + short + ".yaml":                conf,
		"/usr/share/bash-completion/completions/" + pkg: rw,
	}
	for _, name := range pkggen.ManPageNames(roots()[pkg]) {
		files["/usr/share/man/man8/"+name] = doc
	}
	switch format {
	case "deb":
		files["/lib/systemd/system/"+pkg+".service"] = rw
		files["/etc/default/"+pkg] = conf
		files["/usr/share/zsh/vendor-completions/_"+pkg] = rw
		files["/usr/share/doc/"+pkg+"/copyright"] = rw
		files["/usr/share/doc/"+pkg+"/changelog.Debian.gz"] = rw
		files["/usr/share/lintian/overrides/"+pkg] = rw
	case "rpm":
		files["/usr/lib/systemd/system/"+pkg+".service"] = rw
		files["/etc/sysconfig/"+pkg] = conf
		files["/usr/share/zsh/site-functions/_"+pkg] = rw
		files["/usr/share/licenses/"+pkg+"/LICENSE"] = lic
	}
	switch pkg {
	case "tandem-director":
		files["/usr/lib/tandem/tandem-bgp-speaker"] = entry{Mode: "-rwxr-xr-x", Owner: "root/root"}
		files["/usr/lib/modules-load.d/tandem-director.conf"] = rw
		files["/usr/lib/sysctl.d/60-tandem-director.conf"] = rw
		files["/usr/share/tandem/tandem-alerts.yml"] = rw
		files["/usr/share/tandem/tandem-dashboard.json"] = rw
	case "tandem-backend":
		files["/etc/sysctl.d/60-tandem-backend-arp.conf"] = conf
	}
	return files
}

func TestDebContents(t *testing.T) {
	dpkgDeb := needTool(t, "dpkg-deb")
	d := needDist(t)
	for _, pkg := range packages {
		t.Run(pkg, func(t *testing.T) {
			deb := d.deb(pkg)
			got := map[string]entry{}
			dirs := map[string]string{}
			for _, line := range strings.Split(run(t, dpkgDeb, "-c", deb), "\n") {
				f := strings.Fields(line)
				if len(f) < 6 {
					continue
				}
				name := strings.TrimSuffix(strings.TrimPrefix(f[5], "."), "/")
				owner := f[1]
				if owner == "0/0" {
					owner = "root/root" // nfpm writes the changelog with numeric ids
				}
				if strings.HasPrefix(f[0], "d") {
					dirs[name] = f[0]
					continue
				}
				got[name] = entry{Mode: f[0], Owner: owner}
			}
			if diff := cmp.Diff(wantFiles(pkg, "deb"), got); diff != "" {
				t.Errorf("%s files (-want +got)\n%s", filepath.Base(deb), diff)
			}
			if dirs["/etc/tandem"] != "drwxr-xr-x" {
				t.Errorf("/etc/tandem: %q, want drwxr-xr-x", dirs["/etc/tandem"])
			}

			ctl := t.TempDir()
			run(t, dpkgDeb, "-e", deb, ctl)
			conffiles, err := os.ReadFile(filepath.Join(ctl, "conffiles"))
			if err != nil {
				t.Fatal(err)
			}
			var wantConf []string
			for name, e := range wantFiles(pkg, "rpm") {
				if e.Flags == "cn" {
					wantConf = append(wantConf, strings.Replace(name, "/etc/sysconfig/", "/etc/default/", 1))
				}
			}
			slices.Sort(wantConf)
			gotConf := strings.Fields(string(conffiles))
			slices.Sort(gotConf)
			if diff := cmp.Diff(wantConf, gotConf); diff != "" {
				t.Errorf("conffiles (-want +got)\n%s", diff)
			}
			for _, s := range []string{"postinst", "prerm", "postrm"} {
				script, err := os.ReadFile(filepath.Join(ctl, s))
				if err != nil {
					t.Fatal(err)
				}
				if want := renderScript(t, debScriptSource[s], pkg); string(script) != want {
					t.Errorf("%s of %s differs from packaging/scripts/%s.sh: stale package?", s, pkg, debScriptSource[s])
				}
			}
			fields := run(t, dpkgDeb, "-f", deb, "Package", "Version", "Architecture")
			want := "Package: " + pkg + "\nVersion: " + d.version + "\nArchitecture: amd64\n"
			if fields != want {
				t.Errorf("control fields:\n%s\nwant:\n%s", fields, want)
			}
			unit, err := exec.Command("sh", "-c", dpkgDeb+" --fsys-tarfile "+deb+" | tar -xO ./lib/systemd/system/"+pkg+".service").Output()
			if err != nil {
				t.Fatal(err)
			}
			repoUnit, err := os.ReadFile(filepath.Join("..", "systemd", pkg+".service"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(unit, repoUnit) {
				t.Errorf("packaged %s.service differs from systemd/%s.service: stale package?", pkg, pkg)
			}
		})
	}
}

var debScriptSource = map[string]string{"postinst": "postinstall", "prerm": "preremove", "postrm": "postremove"}

func TestRPMContents(t *testing.T) {
	rpm := needTool(t, "rpm")
	d := needDist(t)
	for _, pkg := range packages {
		t.Run(pkg, func(t *testing.T) {
			f := d.rpm(pkg)
			out := run(t, rpm, "-qp", "--qf", `[%{FILEMODES:perms} %{FILEUSERNAME}/%{FILEGROUPNAME} <%{FILEFLAGS:fflags}> %{FILENAMES}\n]`, f)
			got := map[string]entry{}
			dirs := map[string]string{}
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				var e entry
				var flags, name string
				fields := strings.Fields(sc.Text())
				if len(fields) != 4 {
					t.Fatalf("rpm -qp line %q", sc.Text())
				}
				e.Mode, e.Owner, flags, name = fields[0], fields[1], fields[2], fields[3]
				e.Flags = strings.Trim(flags, "<>")
				if strings.HasPrefix(e.Mode, "d") {
					dirs[name] = e.Mode
					continue
				}
				got[name] = e
			}
			if diff := cmp.Diff(wantFiles(pkg, "rpm"), got); diff != "" {
				t.Errorf("%s files (-want +got)\n%s", filepath.Base(f), diff)
			}
			if dirs["/etc/tandem"] != "drwxr-xr-x" {
				t.Errorf("/etc/tandem: %q, want drwxr-xr-x", dirs["/etc/tandem"])
			}
			nvr := run(t, rpm, "-qp", "--qf", "%{NAME} %{VERSION}-%{RELEASE} %{ARCH} %{LICENSE}", f)
			if want := pkg + " " + d.version + " x86_64 Apache-2.0"; nvr != want {
				t.Errorf("rpm header %q, want %q", nvr, want)
			}
			scripts := run(t, rpm, "-qp", "--scripts", f)
			for _, s := range []string{"postinstall", "preuninstall", "postuninstall"} {
				if !strings.Contains(scripts, s+" scriptlet (using /bin/sh)") {
					t.Errorf("no %s scriptlet:\n%s", s, scripts)
				}
			}
			if !strings.Contains(scripts, strings.TrimSpace(renderScript(t, "postinstall", pkg))) {
				t.Errorf("%%post of %s differs from packaging/scripts/postinstall.sh: stale package?", pkg)
			}
		})
	}
}

// TestNetnsRPMRootInstall installs each RPM into an empty root with
// `rpm -i --root` and checks the files and modes that land there, then
// `rpm -V` and `rpm -e`. It needs root (file owners), hence the netns level;
// nothing outside the temporary root is touched.
func TestNetnsRPMRootInstall(t *testing.T) {
	testutil.Netns(t)
	rpm := needTool(t, "rpm")
	d := needDist(t)
	for _, pkg := range packages {
		t.Run(pkg, func(t *testing.T) {
			root := t.TempDir()
			// --noscripts: the empty root has no /bin/sh to run them in;
			// --nodeps: nor any package to satisfy rpmlib's dependencies.
			// --dbpath: Debian's rpm keeps its database in $HOME/.rpmdb.
			db := []string{"--root", root, "--dbpath", "/var/lib/rpm"}
			run(t, rpm, append([]string{"-i", "--nodeps", "--noscripts", d.rpm(pkg)}, db...)...)
			got := map[string]entry{}
			err := filepath.WalkDir(root, func(p string, de os.DirEntry, err error) error {
				if err != nil {
					return err
				}
				rel := strings.TrimPrefix(p, root)
				if rel == "/var" || strings.HasPrefix(rel, "/var/") || strings.HasPrefix(rel, "/usr/lib/sysimage") {
					return filepath.SkipDir // the rpm database
				}
				if de.IsDir() {
					return nil
				}
				fi, err := os.Lstat(p)
				if err != nil {
					return err
				}
				st := fi.Sys().(*syscall.Stat_t)
				owner := "root/root"
				if st.Uid != 0 || st.Gid != 0 {
					owner = fmt.Sprintf("%d/%d", st.Uid, st.Gid)
				}
				got[rel] = entry{Mode: fi.Mode().String(), Owner: owner}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want := wantFiles(pkg, "rpm")
			for name, e := range want {
				e.Flags = ""
				want[name] = e
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("files installed by rpm -i --root (-want +got)\n%s", diff)
			}
			if fi, err := os.Stat(filepath.Join(root, "etc/tandem")); err != nil || fi.Mode().String() != "drwxr-xr-x" {
				t.Errorf("/etc/tandem: %v %v", fi, err)
			}
			if out := run(t, rpm, append([]string{"-q", pkg}, db...)...); strings.TrimSpace(out) != pkg+"-"+d.version+".x86_64" {
				t.Errorf("rpm -q: %q", out)
			}
			run(t, rpm, append([]string{"-V", "--nodeps", pkg}, db...)...)
			run(t, rpm, append([]string{"-e", "--noscripts", "--nodeps", pkg}, db...)...)
			if _, err := os.Stat(filepath.Join(root, "usr/sbin", pkg)); err == nil {
				t.Errorf("rpm -e left /usr/sbin/%s", pkg)
			}
		})
	}
}
