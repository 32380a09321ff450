package app_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/backend/app"
	"github.com/tandemlb/tandem/backend/vip"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// The agent's robustness list (the whole-system issue): each bad situation
// gives an error that names the thing, changes nothing and keeps the running
// state. The real binary, in a lab namespace.

// mountTmpfs mounts a small tmpfs on dir (inside the test's temporary
// directory) and unmounts it in t.Cleanup.
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size+",mode=0755", "tandem-test", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs on %s: %v\n%s", dir, err, out)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
}

// fill writes zeros into dir until the file system is full.
func fill(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "fill"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for i := 0; i < 1<<16; i++ {
		if _, err := f.Write(buf); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return
			}
			t.Fatal(err)
		}
	}
	t.Fatalf("%s never filled up", dir)
}

func (r *rig) statusJSON() app.Status {
	r.t.Helper()
	out, err := r.cli("status", "--json")
	if err != nil {
		r.t.Fatalf("status: %v\n%s", err, out)
	}
	var st app.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		r.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// noStateWithin fails if a report with state st arrives within d, and
// returns the last report seen (nil if none).
func (f *fakeDirector) noStateWithin(st hbproto.State, d time.Duration) *report {
	f.t.Helper()
	deadline := time.After(d)
	var last *report
	for {
		select {
		case r := <-f.reports:
			if r.msg.Agent.State == st {
				f.t.Fatalf("a %s report arrived: %+v", st, r.msg.Agent)
			}
			last = &r
		case <-deadline:
			return last
		}
	}
}

// TestNetnsRobustMaintenanceStateDir: `maintenance on` and `off` when the
// state directory cannot be written (a full tmpfs, then the same tmpfs
// read-only) fail with the flag file's path and the OS's reason, and the
// running agent does not switch: /check.txt, the heartbeat state and
// `maintenance status` stay as they were. Once the disk has room again the
// same commands work.
func TestNetnsRobustMaintenanceStateDir(t *testing.T) {
	r := newRig(t, rigOpts{})
	state := filepath.Join(r.dir, "state")
	mountTmpfs(t, state, "64k")
	flagFile := filepath.Join(state, "maintenance.json")
	r.startApp()
	r.startAgent()
	r.waitCheck(200, time.Second)
	r.fd.waitState(hbproto.StateUp, 3*time.Second)

	// Full disk: on is refused.
	fill(t, state)
	r.fd.drain()
	out, err := r.cli("maintenance", "on", "--reason", "disk test")
	if err == nil {
		t.Fatalf("maintenance on with a full state dir succeeded:\n%s", out)
	}
	for _, want := range []string{flagFile, "no space left on device", "nothing changed: maintenance is still in-service"} {
		if !strings.Contains(out, want) {
			t.Errorf("maintenance on: output lacks %q:\n%s", want, out)
		}
	}
	t.Logf("maintenance on, disk full: %s", strings.TrimSpace(out))
	if code, body := r.check(); code != 200 {
		t.Errorf("/check.txt after a refused on: %d %q", code, body)
	}
	// The heartbeat interval is 2 s: a switch would have been sent at once;
	// the periodic report that follows still says up.
	if last := r.fd.noStateWithin(hbproto.StateMaintenance, 2500*time.Millisecond); last == nil || last.msg.Agent.State != hbproto.StateUp {
		t.Errorf("heartbeat after a refused on: %+v", last)
	}
	if st := r.statusJSON(); st.Maintenance.Mode.String() != "in-service" || !st.Check.OK {
		t.Errorf("status after a refused on: maintenance %+v, check %+v", st.Maintenance, st.Check)
	}
	if out, err := r.cli("maintenance", "status"); err != nil || !strings.Contains(out, "maintenance: off") {
		t.Errorf("maintenance status after a refused on: %v\n%s", err, out)
	}
	if _, err := os.Stat(flagFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("flag file after a refused on: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(state, ".maintenance.json.tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if !strings.Contains(r.agent.Output(), "maintenance switch refused: it cannot be persisted") {
		t.Errorf("the agent did not log the refusal:\n%s", r.agent.Output())
	}

	// Room again: on works (the test's own sanity check).
	if err := os.Remove(filepath.Join(state, "fill")); err != nil {
		t.Fatal(err)
	}
	if out, err := r.cli("maintenance", "on", "--reason", "disk test"); err != nil {
		t.Fatalf("maintenance on with room: %v\n%s", err, out)
	}
	r.fd.waitState(hbproto.StateMaintenance, time.Second)
	r.waitCheck(503, time.Second)
	persisted, err := os.ReadFile(flagFile)
	if err != nil {
		t.Fatal(err)
	}

	// Full again: off is refused, maintenance stays on.
	fill(t, state)
	r.fd.drain()
	out, err = r.cli("maintenance", "off")
	if err == nil {
		t.Fatalf("maintenance off with a full state dir succeeded:\n%s", out)
	}
	for _, want := range []string{flagFile, "no space left on device", "nothing changed: maintenance is still maintenance"} {
		if !strings.Contains(out, want) {
			t.Errorf("maintenance off: output lacks %q:\n%s", want, out)
		}
	}
	if code, body := r.check(); code != 503 || body != "maintenance: disk test\n" {
		t.Errorf("/check.txt after a refused off: %d %q", code, body)
	}
	if last := r.fd.noStateWithin(hbproto.StateUp, 2500*time.Millisecond); last == nil || last.msg.Agent.State != hbproto.StateMaintenance {
		t.Errorf("heartbeat after a refused off: %+v", last)
	}
	if out, err := r.cli("maintenance", "status"); err != nil || !strings.Contains(out, "maintenance: maintenance since") || !strings.Contains(out, "disk test") {
		t.Errorf("maintenance status after a refused off: %v\n%s", err, out)
	}
	if b, _ := os.ReadFile(flagFile); string(b) != string(persisted) {
		t.Errorf("flag file changed by a refused off: %q, was %q", b, persisted)
	}

	// Read-only: room, but the file system refuses writes.
	if err := os.Remove(filepath.Join(state, "fill")); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("mount", "-o", "remount,ro", state).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v\n%s", err, out)
	}
	out, err = r.cli("maintenance", "off")
	if err == nil || !strings.Contains(out, flagFile) || !strings.Contains(out, "read-only file system") {
		t.Errorf("maintenance off on a read-only state dir: %v\n%s", err, out)
	}
	t.Logf("maintenance off, read-only: %s", strings.TrimSpace(out))
	if code, _ := r.check(); code != 503 {
		t.Errorf("/check.txt after a refused off (read-only): %d", code)
	}
	if out, err := exec.Command("mount", "-o", "remount,rw", state).CombinedOutput(); err != nil {
		t.Fatalf("remount rw: %v\n%s", err, out)
	}
	if out, err := r.cli("maintenance", "off"); err != nil {
		t.Fatalf("maintenance off once writable: %v\n%s", err, out)
	}
	r.waitCheck(200, rise*healthInterval+time.Second)
	r.stopAgent()
}

// startFails runs the agent and returns its output; it fails the test if
// the agent starts or exits 0.
func (r *rig) startFails(what string) string {
	r.t.Helper()
	p, err := r.lab.Start("rs", r.bin, "run", "--config", r.cfgPath)
	if err != nil {
		r.t.Fatal(err)
	}
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		p.Stop(time.Second)
		r.t.Fatalf("%s: the agent started:\n%s", what, p.Output())
	}
	if p.Wait() == nil {
		r.t.Fatalf("%s: exit status 0:\n%s", what, p.Output())
	}
	return p.Output()
}

// lineOf returns the 1-based line of the config file that contains sub.
func (r *rig) lineOf(sub string) int {
	r.t.Helper()
	b, err := os.ReadFile(r.cfgPath)
	if err != nil {
		r.t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	r.t.Fatalf("%q not in the config", sub)
	return 0
}

// editConfig replaces old by new in the config file.
func (r *rig) editConfig(old, new string) {
	r.t.Helper()
	b, err := os.ReadFile(r.cfgPath)
	if err != nil {
		r.t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		r.t.Fatalf("%q not in the config", old)
	}
	if err := os.WriteFile(r.cfgPath, []byte(strings.Replace(string(b), old, new, 1)), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) vipOnLo() bool {
	r.t.Helper()
	h, err := r.lab.Netlink("rs")
	if err != nil {
		r.t.Fatal(err)
	}
	have, err := vip.List(h, []netip.Addr{vipAddr})
	if err != nil {
		r.t.Fatal(err)
	}
	return have[vipAddr]
}

// metricsAt GETs /metrics on addr in the rs namespace.
func (r *rig) metricsAt(addr string) error {
	resp, err := r.lab.HTTPClient("rs", time.Second).Get("http://" + addr + "/metrics")
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// TestNetnsRobustStartErrors: an interface that does not exist, the check
// port and the metrics port each already bound by another socket: the agent
// exits non-zero at start with the file:line, the key and the interface or
// address:port, and has put nothing on the host (no VIP on lo).
func TestNetnsRobustStartErrors(t *testing.T) {
	r := newRig(t, rigOpts{noDirector: true})

	// No such interface.
	r.writeConfig("interface: eth9\n")
	line := r.lineOf("interface: eth9")
	out := r.startFails("missing interface")
	if want := fmt.Sprintf(`backend.yaml:%d: key "interface": there is no interface "eth9" on this host`, line); !strings.Contains(out, want) {
		t.Errorf("missing interface: output lacks %q:\n%s", want, out)
	}
	t.Logf("missing interface: %s", grepLines(out, "eth9"))
	if r.vipOnLo() {
		t.Fatal("a refused start put the VIP on lo")
	}

	// The check port in use.
	r.writeConfig("")
	block, err := r.lab.Listen("rs", "tcp", ":7481")
	if err != nil {
		t.Fatal(err)
	}
	line = r.lineOf(`listen: ":7481"`)
	out = r.startFails("check port in use")
	if want := fmt.Sprintf(`backend.yaml:%d: key "check.listen": cannot listen on TCP :7481: bind: address already in use`, line); !strings.Contains(out, want) {
		t.Errorf("check port in use: output lacks %q:\n%s", want, out)
	}
	t.Logf("check port in use: %s", grepLines(out, "7481"))
	if r.vipOnLo() {
		t.Fatal("a refused start put the VIP on lo")
	}
	block.Close()

	// The metrics port in use.
	block, err = r.lab.Listen("rs", "tcp", "127.0.0.1:9481")
	if err != nil {
		t.Fatal(err)
	}
	defer block.Close()
	line = r.lineOf(`127.0.0.1:9481`)
	out = r.startFails("metrics port in use")
	if want := fmt.Sprintf(`backend.yaml:%d: key "metrics.listen": cannot listen on TCP 127.0.0.1:9481: bind: address already in use`, line); !strings.Contains(out, want) {
		t.Errorf("metrics port in use: output lacks %q:\n%s", want, out)
	}
	t.Logf("metrics port in use: %s", grepLines(out, "9481"))
	if r.vipOnLo() {
		t.Fatal("a refused start put the VIP on lo")
	}
	// The check port the failed start had bound is free again.
	ln, err := r.lab.Listen("rs", "tcp", ":7481")
	if err != nil {
		t.Fatalf("the refused start left :7481 bound: %v", err)
	}
	ln.Close()
}

// TestNetnsRobustReloadPortInUse: a reload (the CLI and SIGHUP) to a check
// or metrics port that another socket holds fails with the key and
// address:port; the running listeners keep answering on the old ports and
// the running configuration stays. A reload to a free port then moves the
// listener, and a reload that only respells the same port (":7481" to
// "192.0.2.11:7481") works although our own socket holds it.
func TestNetnsRobustReloadPortInUse(t *testing.T) {
	r := newRig(t, rigOpts{})
	r.startApp()
	r.startAgent()
	r.waitCheck(200, time.Second)
	for _, addr := range []string{":7482", "127.0.0.1:9482"} {
		ln, err := r.lab.Listen("rs", "tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
	}
	stillServing := func(what string) {
		t.Helper()
		if code, body := r.check(); code != 200 {
			t.Errorf("%s: the old check port :7481 answers %d %q", what, code, body)
		}
		if err := r.metricsAt("127.0.0.1:9481"); err != nil {
			t.Errorf("%s: the old metrics port: %v", what, err)
		}
		if st := r.statusJSON(); st.Check.Where != "http://[::]:7481/check.txt" {
			t.Errorf("%s: status check endpoint %q", what, st.Check.Where)
		}
	}

	// The check port.
	r.editConfig(`listen: ":7481"`, `listen: ":7482"`)
	out, err := r.cli("reload")
	if err == nil || !strings.Contains(out, `key "check.listen": cannot listen on TCP :7482: bind: address already in use`) {
		t.Errorf("reload to a check port in use: %v\n%s", err, out)
	}
	t.Logf("reload, check port in use: %s", strings.TrimSpace(out))
	stillServing("check port in use (reload)")
	if err := r.agent.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := contextWithTimeout(3 * time.Second)
	err = r.agent.WaitOutput(ctx, "cannot listen on TCP :7482")
	cancel()
	if err != nil {
		t.Errorf("SIGHUP to a check port in use not logged: %v", err)
	}
	stillServing("check port in use (SIGHUP)")
	r.writeConfig("")

	// The metrics port, with a check change that would have worked: neither
	// is applied.
	r.editConfig(`listen: ":7481"`, `listen: ":7483"`)
	r.editConfig("127.0.0.1:9481", "127.0.0.1:9482")
	out, err = r.cli("reload")
	if err == nil || !strings.Contains(out, `key "metrics.listen": cannot listen on TCP 127.0.0.1:9482: bind: address already in use`) {
		t.Errorf("reload to a metrics port in use: %v\n%s", err, out)
	}
	stillServing("metrics port in use")
	if _, err := r.lab.HTTPClient("client", time.Second).Get("http://192.0.2.11:7483/check.txt"); err == nil {
		t.Error("the refused reload left the new check port :7483 answering")
	}

	// A free port: the listener moves.
	r.writeConfig("")
	r.editConfig(`listen: ":7481"`, `listen: ":7483"`)
	if out, err := r.cli("reload"); err != nil {
		t.Fatalf("reload to a free port: %v\n%s", err, out)
	}
	resp, err := r.lab.HTTPClient("client", time.Second).Get("http://192.0.2.11:7483/check.txt")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("new check port: %v %v", resp, err)
	}
	resp.Body.Close()
	if code, _ := r.check(); code != 0 {
		t.Errorf("the old check port still answers after the move: %d", code)
	}

	// The same port spelled differently, while our own socket holds it.
	r.writeConfig("")
	if out, err := r.cli("reload"); err != nil {
		t.Fatalf("reload back to :7481: %v\n%s", err, out)
	}
	r.waitCheck(200, time.Second)
	r.editConfig(`listen: ":7481"`, `listen: "192.0.2.11:7481"`)
	if out, err := r.cli("reload"); err != nil {
		t.Fatalf("reload to 192.0.2.11:7481: %v\n%s", err, out)
	}
	r.waitCheck(200, time.Second)
	if st := r.statusJSON(); st.Check.Where != "http://192.0.2.11:7481/check.txt" {
		t.Errorf("status check endpoint %q", st.Check.Where)
	}
	r.writeConfig("")
	r.stopAgent()
}

// TestNetnsRobustReloadMissingInterface: a reload to an interface that
// does not exist is refused with the file:line and the interface; the agent
// keeps serving with the old one.
func TestNetnsRobustReloadMissingInterface(t *testing.T) {
	r := newRig(t, rigOpts{noDirector: true})
	r.startApp()
	r.startAgent()
	r.waitCheck(200, time.Second)
	r.writeConfig("interface: eth9\n")
	line := r.lineOf("interface: eth9")
	out, err := r.cli("reload")
	if want := fmt.Sprintf(`backend.yaml:%d: key "interface": there is no interface "eth9" on this host`, line); err == nil || !strings.Contains(out, want) {
		t.Errorf("reload to a missing interface: %v\n%s\nwant %q", err, out, want)
	}
	if st := r.statusJSON(); st.Host.Interface != "eth0" {
		t.Errorf("interface after a refused reload: %q", st.Host.Interface)
	}
	if code, _ := r.check(); code != 200 {
		t.Errorf("check after a refused reload: %d", code)
	}
	r.writeConfig("")
	r.stopAgent()
}
