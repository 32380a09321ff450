package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The director's robustness list (the whole-system issue): each bad
// situation gives an error that names the thing, changes nothing and keeps
// the running state.

// breakStateDir makes the harness's state directory unwritable even for
// root: it becomes a regular file. It returns a function that puts the
// directory back with its content.
func breakStateDir(t *testing.T, h *harness) (restore func()) {
	t.Helper()
	dir := filepath.Join(h.dir, "state")
	if err := os.Rename(dir, dir+".saved"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	return func() {
		if err := os.Remove(dir); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(dir+".saved", dir); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDrainRefusedWhenStateCannotBeWritten: a drain (and an undrain) that
// cannot be persisted is refused with the state file's path and the OS's
// reason, and changes nothing: no IPVS operation, the pool state and the
// saved drains as they were. (The same with a real full tmpfs:
// TestNetnsDrainStateDiskFull.)
func TestDrainRefusedWhenStateCannotBeWritten(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), func(_ string, f *fakeIPVS) { f.Load(loaded(1)) })
	stateFile := filepath.Join(h.dir, "state", StateFile)
	h.ipvs.Reset()
	restore := breakStateDir(t, h)

	err := h.call(control.OpDrain, control.DrainArgs{Target: "192.0.2.11", Reason: "kernel update"}, nil)
	if err == nil {
		t.Fatal("drain with an unwritable state dir succeeded")
	}
	for _, want := range []string{"drain 192.0.2.11 refused, nothing changed", "cannot write the state file " + stateFile, "not a directory", "survives a restart"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("drain error lacks %q: %v", want, err)
		}
	}
	if calls := h.ipvs.CallStrings(); len(calls) != 0 {
		t.Errorf("a refused drain changed IPVS: %v", calls)
	}
	rs := h.status().Services[0].RealServers[0]
	if rs.Drain || rs.State != "up" || rs.Weight != 1 {
		t.Errorf("after a refused drain: %+v", rs)
	}
	if !strings.Contains(h.logs.String(), "operator drain refused: it cannot be persisted") {
		t.Errorf("refusal not logged:\n%s", h.logs.String())
	}

	// Writable again: the drain works and is in the state file.
	restore()
	if err := h.call(control.OpDrain, control.DrainArgs{Target: "192.0.2.11", Reason: "kernel update"}, nil); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(stateFile)
	if err != nil || !strings.Contains(string(saved), `"192.0.2.11:80": "kernel update"`) {
		t.Fatalf("state file after the drain: %v\n%s", err, saved)
	}
	if rs := h.status().Services[0].RealServers[0]; !rs.Drain {
		t.Fatalf("not draining: %+v", rs)
	}

	// Unwritable again: the undrain is refused and the drain stays.
	h.ipvs.Reset()
	restore = breakStateDir(t, h)
	err = h.call(control.OpUndrain, control.DrainArgs{Target: "192.0.2.11:80"}, nil)
	if err == nil || !strings.Contains(err.Error(), "undrain 192.0.2.11:80 refused, nothing changed") || !strings.Contains(err.Error(), stateFile) {
		t.Errorf("undrain with an unwritable state dir: %v", err)
	}
	if calls := h.ipvs.CallStrings(); len(calls) != 0 {
		t.Errorf("a refused undrain changed IPVS: %v", calls)
	}
	if rs := h.status().Services[0].RealServers[0]; !rs.Drain || rs.DrainReason != "kernel update" {
		t.Errorf("after a refused undrain: %+v", rs)
	}

	// A reload cannot save either: it is applied (the state file only
	// records owned services and drains) and the failure is logged with
	// the state file's path.
	h.write(testConfig("DIR", 2, ""))
	if err := h.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h.logs.String(), "cannot write the state file "+stateFile) {
		t.Errorf("the reload's save failure is not logged with the path:\n%s", h.logs.String())
	}
	restore()
	if b, _ := os.ReadFile(stateFile); string(b) != string(saved) {
		t.Errorf("state file changed while unwritable: %s, was %s", b, saved)
	}
}

// TestSaveStateErrorNamesTheFile: the record is written 0600; a save that
// cannot finish names the state file and leaves no temporary file (that
// the old record survives a full disk: shared/atomicfile, backend/app's
// TestNetnsRobustMaintenanceStateDir).
func TestSaveStateErrorNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	p := persisted{Owned: []string{"TCP 192.0.2.100:80"}, Drains: map[string]string{"192.0.2.11:80": "x"}}
	if err := saveState(dir, p); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, StateFile)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("state file mode: %v %v", fi, err)
	}
	// A directory where the rename must go (works as root too).
	os.Remove(path)
	os.MkdirAll(filepath.Join(path, "x"), 0o755)
	err := saveState(dir, persisted{})
	if err == nil || !strings.Contains(err.Error(), "cannot write the state file "+path) {
		t.Errorf("saveState over a directory: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "."+StateFile+".tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// TestStartWithoutIPVS: with services and no ip_vs the daemon refuses to
// start with lvs.ErrNoIPVS, saying what to do and why it needs it; the
// sockets it had bound are released.
func TestStartWithoutIPVS(t *testing.T) {
	dir := t.TempDir()
	port := freeUDPPort(t)
	text := strings.ReplaceAll(testConfig(dir, 1, ""), "HBPORT", fmt.Sprint(port))
	cfg := loadText(t, dir, text)
	noIPVS := fmt.Errorf("%w: kernel 6.1.0-test has ip_vs as a module (kernel/net/netfilter/ipvs/ip_vs.ko) but it is not loaded: load it with `modprobe ip_vs`, or list ip_vs in /etc/modules-load.d/ for boot", lvs.ErrNoIPVS)
	a := New(cfg, Options{
		Socket: filepath.Join(dir, "ctl.sock"), StateDir: filepath.Join(dir, "state"),
		OpenIPVS:   func(*slog.Logger) (IPVS, error) { return nil, noIPVS },
		HostChecks: new(bool),
		NewVRRP: func(c vrrp.InstanceConfig, o vrrp.Options) (VRRPDriver, error) {
			t.Error("a VRRP instance was started although the start failed")
			return &fakeDriver{cfg: c, opts: o, started: make(chan struct{})}, nil
		},
	})
	err := runBriefly(t, a)
	if !errors.Is(err, lvs.ErrNoIPVS) {
		t.Fatalf("Run = %v, want ErrNoIPVS", err)
	}
	for _, want := range []string{"modprobe ip_vs", "the configuration has 1 virtual_server(s), which need IPVS", "a VRRP-only configuration runs without it"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	t.Logf("start without ip_vs: %v", err)
	if c, err := net.ListenPacket("udp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Errorf("the failed start kept the heartbeat port: %v", err)
	} else {
		c.Close()
	}
}

func loadText(t *testing.T, dir, text string) *config.Config {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(strings.Repeat("k", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "director.yaml")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := (&config.Loader{}).Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func freeUDPPort(t *testing.T) int {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	return pc.LocalAddr().(*net.UDPAddr).Port
}

func freeTCPAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// runBriefly runs a that must fail to start, and returns its error.
func runBriefly(t *testing.T, a *App) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run returned nil")
		}
		return err
	case <-a.Ready():
		cancel()
		<-done
		t.Fatal("the daemon started")
	case <-time.After(10 * time.Second):
		t.Fatal("Run neither failed nor started within 10s")
	}
	return nil
}

// TestPortInUseAtStart: the heartbeat port and the metrics port, each held
// by another socket: the start fails with file:line, the key and
// address:port, before IPVS is touched.
func TestPortInUseAtStart(t *testing.T) {
	for _, tc := range []struct {
		name, key, proto string
		block            func(t *testing.T) (addr string, closeFn func())
	}{
		{"heartbeat", "heartbeat.listen", "UDP", func(t *testing.T) (string, func()) {
			c, err := net.ListenPacket("udp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return c.LocalAddr().String(), func() { c.Close() }
		}},
		{"metrics", "metrics.listen", "TCP", func(t *testing.T) (string, func()) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			return ln.Addr().String(), func() { ln.Close() }
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			addr, closeFn := tc.block(t)
			defer closeFn()
			hb, met := fmt.Sprintf("127.0.0.1:%d", freeUDPPort(t)), freeTCPAddr(t)
			if tc.name == "heartbeat" {
				hb = addr
			} else {
				met = addr
			}
			text := strings.Replace(testConfig(dir, 1, ""), "listen: 127.0.0.1:HBPORT", "listen: "+hb, 1)
			text = strings.Replace(text, "metrics:\n  enabled: false\n", "metrics:\n  listen: "+met+"\n", 1)
			cfg := loadText(t, dir, text)
			f := newFakeIPVS()
			f.Load(loaded(1))
			a := New(cfg, Options{
				Socket: filepath.Join(dir, "ctl.sock"), StateDir: filepath.Join(dir, "state"),
				OpenIPVS:   func(*slog.Logger) (IPVS, error) { return f, nil },
				SysctlRoot: filepath.Join(dir, "sys"), HostChecks: new(bool),
				NewVRRP: func(c vrrp.InstanceConfig, o vrrp.Options) (VRRPDriver, error) {
					return &fakeDriver{cfg: c, opts: o, started: make(chan struct{})}, nil
				},
			})
			err := runBriefly(t, a)
			line := lineOf(t, filepath.Join(dir, "director.yaml"), "listen: "+addr)
			want := fmt.Sprintf("director.yaml:%d: key %q: cannot listen on %s %s: bind: address already in use", line, tc.key, tc.proto, addr)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("start error:\n%v\nwant %q", err, want)
			}
			t.Logf("%s port in use: %v", tc.name, err)
			if calls := f.CallStrings(); len(calls) != 0 {
				t.Errorf("IPVS touched before the failure: %v", calls)
			}
		})
	}
}

func lineOf(t *testing.T, path, sub string) int {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	t.Fatalf("%q not in %s", sub, path)
	return 0
}

// TestReloadPortInUse: a reload to a heartbeat or metrics port another
// socket holds fails with the key and address:port; the old sockets keep
// answering and the configuration stays (a weight change in the same file
// is not applied).
func TestReloadPortInUse(t *testing.T) {
	metAddr := freeTCPAddr(t)
	base := strings.Replace(testConfig("DIR", 1, ""), "metrics:\n  enabled: false\n", "metrics:\n  listen: "+metAddr+"\n", 1)
	h := start(t, base, func(_ string, f *fakeIPVS) { f.Load(loaded(1)) })
	hbAddr := h.a.HeartbeatAddr().String()
	metricsOK := func(what string) {
		t.Helper()
		resp, err := (&http.Client{Timeout: time.Second}).Get("http://" + metAddr + "/metrics")
		if err != nil {
			t.Errorf("%s: the old metrics port: %v", what, err)
			return
		}
		resp.Body.Close()
	}
	metricsOK("before")

	blockUDP, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer blockUDP.Close()
	blockTCP, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer blockTCP.Close()

	for _, tc := range []struct{ name, from, to, key, proto string }{
		{"heartbeat", "listen: 127.0.0.1:HBPORT", "listen: " + blockUDP.LocalAddr().String(), "heartbeat.listen", "UDP"},
		{"metrics", "listen: " + metAddr, "listen: " + blockTCP.Addr().String(), "metrics.listen", "TCP"},
	} {
		text := strings.Replace(base, tc.from, tc.to, 1)
		text = strings.Replace(text, "- address: 192.0.2.11:80\n        weight: 1", "- address: 192.0.2.11:80\n        weight: 3", 1)
		h.write(text)
		h.ipvs.Reset()
		err := h.call(control.OpReload, nil, nil)
		addr := strings.TrimPrefix(tc.to, "listen: ")
		line := lineOf(t, h.path, tc.to)
		want := fmt.Sprintf("director.yaml:%d: key %q: cannot listen on %s %s: bind: address already in use", line, tc.key, tc.proto, addr)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "keeping the running configuration") {
			t.Errorf("%s: reload error:\n%v\nwant %q", tc.name, err, want)
		}
		if calls := h.ipvs.CallStrings(); len(calls) != 0 {
			t.Errorf("%s: the refused reload changed IPVS: %v", tc.name, calls)
		}
		st := h.status()
		if st.Heartbeat.Listen != hbAddr || st.LastReloadError == "" || st.Services[0].RealServers[0].ConfiguredWeight != 1 {
			t.Errorf("%s: after the refused reload: heartbeat %s (was %s), last error %q, weight %d", tc.name,
				st.Heartbeat.Listen, hbAddr, st.LastReloadError, st.Services[0].RealServers[0].ConfiguredWeight)
		}
		metricsOK(tc.name)
	}
	// The old heartbeat socket still answers an agent: the harness's
	// heartbeat test helper is not needed; a bound socket that is ours is
	// seen by binding it again.
	if c, err := net.ListenPacket("udp", hbAddr); err == nil {
		c.Close()
		t.Errorf("the old heartbeat socket %s is not bound any more", hbAddr)
	}
}

// TestVRRPInterfaceMissing: an instance whose interface does not exist
// keeps the director running; the log and status name the interface, the
// instance and the file:line, and say it is retried.
func TestVRRPInterfaceMissing(t *testing.T) {
	const iface = "tandemnosuch0"
	text := strings.Replace(testConfig("DIR", 1, ""), "    interface: eth0\n", "    interface: "+iface+"\n", 1)
	h := startWith(t, text, func(_ string, f *fakeIPVS) { f.Load(loaded(1)) }, func(o *Options) {
		o.NewVRRP = func(c vrrp.InstanceConfig, o vrrp.Options) (VRRPDriver, error) {
			return failingDriver{err: fmt.Errorf("vrrp: interface %s: route ip+net: no such network interface", c.Interface)}, nil
		}
	})
	var st control.Status
	testutil.WaitFor(5*time.Second, func() bool {
		st = h.status()
		return len(st.VRRP) == 1 && st.VRRP[0].Error != ""
	})
	line := lineOf(t, h.path, "- name: VI0")
	want := fmt.Sprintf("director.yaml:%d: vrrp_instance VI0: interface %q does not exist on this host; the instance stays in INIT (no VIPs, no adverts) and is retried every 5s", line, iface)
	if len(st.VRRP) != 1 || !strings.Contains(st.VRRP[0].Error, want) {
		t.Fatalf("status: %+v\nwant %q", st.VRRP, want)
	}
	if !strings.Contains(h.logs.String(), "interface="+iface) || !strings.Contains(h.logs.String(), "does not exist on this host") {
		t.Errorf("log does not name the interface:\n%s", h.logs.String())
	}
}

type failingDriver struct{ err error }

func (d failingDriver) Run(context.Context) error                { return d.err }
func (d failingDriver) Status() vrrp.Status                      { return vrrp.Status{} }
func (d failingDriver) Inject(context.Context, vrrp.Event) error { return nil }

// enodevIPVS starts no sync daemon on an interface that does not exist,
// as the kernel does.
type enodevIPVS struct{ *fakeIPVS }

func (f enodevIPVS) StartDaemon(st lvs.DaemonState, iface string, id uint8) error {
	if _, err := net.InterfaceByName(iface); err != nil {
		return fmt.Errorf("ipvs: start %s sync daemon on %s syncid %d: %w", st, iface, id, syscall.ENODEV)
	}
	return f.fakeIPVS.StartDaemon(st, iface, id)
}

// TestSyncDaemonInterfaceMissing: an lvs_sync_daemon interface that does
// not exist: the director runs, and the log and status name the interface
// and the file:line.
func TestSyncDaemonInterfaceMissing(t *testing.T) {
	const iface = "tandemnosuch1"
	text := strings.Replace(testConfig("DIR", 1, ""), "  interface: eth1\n", "  interface: "+iface+"\n", 1)
	h := startWith(t, text, func(_ string, f *fakeIPVS) { f.Load(loaded(1)) }, func(o *Options) {
		o.OpenIPVS = func(*slog.Logger) (IPVS, error) { return enodevIPVS{newFakeIPVS()}, nil }
	})
	line := lineOf(t, h.path, "interface: "+iface)
	want := fmt.Sprintf("director.yaml:%d: lvs_sync_daemon: interface %q does not exist on this host; no connection sync, retried every 5s", line, iface)
	st := h.status()
	if got := strings.Join(st.IPVS.SyncDaemons, "\n"); !strings.Contains(got, want) {
		t.Fatalf("status sync daemons:\n%s\nwant %q", got, want)
	}
	if !strings.Contains(h.logs.String(), "does not exist on this host") {
		t.Errorf("not logged:\n%s", h.logs.String())
	}
}
