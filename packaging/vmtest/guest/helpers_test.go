package guest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/testutil"
)

// inGuest skips unless running in the systemd guest of packaging/vmtest.
func inGuest(t *testing.T) {
	t.Helper()
	if os.Getenv("TANDEM_IN_VM") == "" {
		t.Skip("guest-only test: packaging/vmtest boots it with systemd as PID 1 (make test-vm)")
	}
	if _, err := os.Stat("/run/systemd/system"); err != nil {
		t.Fatalf("in the VM but systemd is not PID 1: %v", err)
	}
}

// pkgs locates the packages of one build.
type pkgs struct {
	dir     string
	version string // version-release
}

func buildFrom(t *testing.T, env string) pkgs {
	t.Helper()
	dir := os.Getenv(env)
	if dir == "" {
		t.Fatalf("%s is not set", env)
	}
	v, err := os.ReadFile(filepath.Join(dir, "VERSION"))
	if err != nil {
		t.Fatalf("%s: %v", env, err)
	}
	return pkgs{dir: dir, version: strings.TrimSpace(string(v))}
}

func (p pkgs) deb(name string) string {
	return filepath.Join(p.dir, name+"_"+p.version+"_amd64.deb")
}

// sh runs a shell command, logs it and its output, and fails the test if
// it fails.
func sh(t *testing.T, cmd string) string {
	t.Helper()
	out, err := try(t, cmd)
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	return out
}

// try runs a shell command and logs it; the caller judges the result.
func try(t *testing.T, cmd string) (string, error) {
	t.Helper()
	c := exec.Command("sh", "-c", cmd)
	c.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive", "SYSTEMD_PAGER=", "LC_ALL=C")
	out, err := c.CombinedOutput()
	t.Logf("$ %s\n%s", cmd, strings.TrimRight(string(out), "\n"))
	return string(out), err
}

// apt installs or purges with apt-get, keeping edited conffiles.
func apt(t *testing.T, args string) string {
	t.Helper()
	return sh(t, "apt-get -y -q --no-install-recommends -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "+args+" 2>&1")
}

// waitFor polls cond (testutil.Eventually) until it holds or the timeout
// passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, timeout, cond, "timed out waiting for %s", what)
}

// unitProps returns systemctl show properties of a unit.
func unitProps(t *testing.T, unit string, props ...string) map[string]string {
	t.Helper()
	out, err := exec.Command("systemctl", "show", "-p", strings.Join(props, ","), unit).Output()
	if err != nil {
		t.Fatalf("systemctl show %s: %v", unit, err)
	}
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

func mainPID(t *testing.T, unit string) int {
	t.Helper()
	pid, _ := strconv.Atoi(unitProps(t, unit, "MainPID")["MainPID"])
	return pid
}

// waitRunning waits for a Type=notify unit to be active (running), which
// systemd reports only after READY=1, and returns its main PID.
func waitRunning(t *testing.T, unit string) int {
	t.Helper()
	waitFor(t, unit+" active (running)", 60*time.Second, func() bool {
		p := unitProps(t, unit, "ActiveState", "SubState")
		if p["ActiveState"] == "failed" {
			try(t, "systemctl status --no-pager "+unit+"; journalctl -b --no-pager -n 60 -u "+unit)
			t.Fatalf("%s failed", unit)
		}
		return p["ActiveState"] == "active" && p["SubState"] == "running"
	})
	p := unitProps(t, unit, "Type", "MainPID", "StatusText", "WatchdogUSec", "NRestarts")
	t.Logf("%s: %v", unit, p)
	if p["Type"] != "notify" {
		t.Errorf("%s Type=%s, want notify", unit, p["Type"])
	}
	return mainPID(t, unit)
}

// checkSandbox verifies, from inside the service's mount namespace, that
// /proc/sys/net is writable (ReadWritePaths=) and the rest of /proc/sys is
// not (ProtectKernelTunables=), by writing back the current values.
func checkSandbox(t *testing.T, unit, netKey string) {
	t.Helper()
	pid := mainPID(t, unit)
	rw := fmt.Sprintf("nsenter -t %d -m sh -c 'cat /proc/sys/%[2]s > /proc/sys/%[2]s'", pid, netKey)
	sh(t, rw)
	ro := fmt.Sprintf("nsenter -t %d -m sh -c 'cat /proc/sys/vm/swappiness > /proc/sys/vm/swappiness'", pid)
	if out, err := try(t, ro); err == nil || !strings.Contains(out, "Read-only file system") {
		t.Errorf("%s can write /proc/sys/vm (ProtectKernelTunables= not in effect): %v %s", unit, err, out)
	}
}

// checkReload checks that `systemctl reload` works without a restart, and
// that a broken config makes it fail while the daemon keeps running.
func checkReload(t *testing.T, unit, conf string) {
	t.Helper()
	pid := mainPID(t, unit)
	sh(t, "systemctl reload "+unit)
	waitRunning(t, unit)
	if got := mainPID(t, unit); got != pid {
		t.Errorf("reload restarted %s (PID %d -> %d)", unit, pid, got)
	}
	orig, err := os.ReadFile(conf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(conf, append(append([]byte{}, orig...), []byte("\nthis is not valid {\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := try(t, "systemctl reload "+unit); err == nil {
		t.Errorf("systemctl reload %s succeeded with a broken config", unit)
	}
	if err := os.WriteFile(conf, orig, 0o644); err != nil {
		t.Fatal(err)
	}
	if p := unitProps(t, unit, "ActiveState", "MainPID"); p["ActiveState"] != "active" || p["MainPID"] != strconv.Itoa(pid) {
		t.Errorf("after a failed reload %s is %v, want active with PID %d", unit, p, pid)
	}
}

// checkWatchdog stops the main process with SIGSTOP and waits for systemd's
// watchdog (WatchdogSec=10s) to kill and restart it.
func checkWatchdog(t *testing.T, unit string) {
	t.Helper()
	before := unitProps(t, unit, "MainPID", "NRestarts")
	sh(t, "kill -STOP "+before["MainPID"])
	start := time.Now()
	waitFor(t, unit+" restarted by the watchdog", 90*time.Second, func() bool {
		p := unitProps(t, unit, "MainPID", "NRestarts", "ActiveState", "SubState")
		return p["NRestarts"] != before["NRestarts"] && p["MainPID"] != before["MainPID"] &&
			p["ActiveState"] == "active" && p["SubState"] == "running"
	})
	t.Logf("%s: watchdog restart after %v", unit, time.Since(start).Round(100*time.Millisecond))
	try(t, "journalctl -b --no-pager -u "+unit+" | grep -i -m3 watchdog")
}

// installedVersion is dpkg's version of an installed package, "" if none.
func installedVersion(t *testing.T, pkg string) string {
	t.Helper()
	out, err := exec.Command("dpkg-query", "-W", "-f", "${db:Status-Abbrev} ${Version}", pkg).Output()
	if err != nil {
		return ""
	}
	f := strings.Fields(string(out))
	if len(f) != 2 || f[0] != "ii" {
		return ""
	}
	return f[1]
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatal(err)
	}
}

func mustContain(t *testing.T, path, want string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), want) {
		t.Errorf("%s lost %q", path, want)
	}
}

// dummyNet gives the guest (no NIC) an interface with an address and a
// default route: tvm0, 192.0.2.11/24.
func dummyNet(t *testing.T) {
	t.Helper()
	if exists("/sys/class/net/tvm0") {
		return
	}
	sh(t, "ip link add tvm0 type dummy && ip addr add 192.0.2.11/24 dev tvm0 && ip link set tvm0 up && ip route add default via 192.0.2.1")
}
