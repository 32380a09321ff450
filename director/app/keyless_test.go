package app

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/sdnotify"
)

// keepalivedConf is a keepalived.conf of one instance and one service: it
// names no heartbeat key, port or control socket (it cannot).
const keepalivedConf = `global_defs {
    router_id lb1
}

vrrp_instance VI0 {
    state BACKUP
    interface eth0
    virtual_router_id 100
    priority 100
    advert_int 1
    virtual_ipaddress {
        192.0.2.100/24 dev eth0
    }
}

virtual_server 192.0.2.100 80 {
    delay_loop 6
    lb_algo lc
    lb_kind DR
    protocol TCP
    real_server 192.0.2.11 80 {
        weight 1
    }
}
`

// keyless points a keepalived.conf's heartbeat at DIR/hb.key (absent until
// a test writes it; DIR holds the harness's socket) and an ephemeral port,
// and turns metrics off.
func keyless(o *Options) {
	dir := filepath.Dir(o.Socket)
	o.adjust = func(c *config.Config) {
		c.Heartbeat.KeyFile = filepath.Join(dir, "hb.key")
		c.Heartbeat.Listen = "127.0.0.1:0"
		c.Metrics.Enabled = false
	}
}

// startKeyless starts a keepalived.conf without a heartbeat key.
func startKeyless(t *testing.T) *harness {
	t.Helper()
	return startWith(t, keepalivedConf, nil, keyless)
}

// TestKeepalivedStartsWithoutKey: a keepalived.conf and no key file: the
// director starts, the listener is off, one warning says how to turn it
// on, status says why it is off.
func TestKeepalivedStartsWithoutKey(t *testing.T) {
	h := startKeyless(t)
	if h.a.cfg.Format != config.FormatKeepalived {
		t.Fatalf("format %s", h.a.cfg.Format)
	}
	if addr := h.a.HeartbeatAddr(); addr != nil {
		t.Errorf("heartbeat listener on %s without a key", addr)
	}
	key := filepath.Join(h.dir, "hb.key")
	want := missingKeyWarning(key)
	logs := h.logs.String()
	if n := strings.Count(logs, "level=WARN"); n != 1 || !strings.Contains(logs, want[:40]) {
		t.Errorf("%d warnings, want 1 (the missing key):\n%s", n, logs)
	}
	for _, part := range []string{"OFF", "umask 077; openssl rand -hex 32 > " + key, "tandem-director reload"} {
		if !strings.Contains(want, part) {
			t.Errorf("warning %q lacks %q", want, part)
		}
	}
	st := h.status()
	if !st.Heartbeat.Enabled || st.Heartbeat.Listen != "" || !strings.Contains(st.Heartbeat.Disabled, "no heartbeat key: "+key+" does not exist") {
		t.Errorf("status heartbeat %+v", st.Heartbeat)
	}
	if len(st.Warnings) != 0 {
		t.Errorf("warnings %q", st.Warnings)
	}
	if line := h.a.statusLine(); !strings.HasSuffix(line, "; heartbeats off (no key)") {
		t.Errorf("status line %q", line)
	}
	// A reload that finds no key yet says so at info and changes nothing.
	if err := h.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	if h.a.HeartbeatAddr() != nil || strings.Count(h.logs.String(), "level=WARN") != 1 {
		t.Errorf("reload without a key: listener %v\n%s", h.a.HeartbeatAddr(), h.logs.String())
	}
}

// TestKeyReloadKeepalived: the key appears → a reload starts the listener;
// a bad key fails the reload and changes nothing; the key file goes away
// → the listener keeps the key it has and status warns until the file is
// back.
func TestKeyReloadKeepalived(t *testing.T) {
	h := startKeyless(t)
	key := filepath.Join(h.dir, "hb.key")

	// A key others may read: the reload fails, the listener stays off.
	if err := os.WriteFile(key, []byte(strings.Repeat("k", 32)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.call(control.OpReload, nil, nil); err == nil || !strings.Contains(err.Error(), "mode 0644") {
		t.Fatalf("reload with an open key: %v", err)
	}
	if h.a.HeartbeatAddr() != nil {
		t.Errorf("listener on after a failed reload")
	}

	os.Chmod(key, 0o600)
	if err := h.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	st := h.status()
	if h.a.HeartbeatAddr() == nil || st.Heartbeat.Listen == "" || st.Heartbeat.Disabled != "" {
		t.Fatalf("after the key appeared: heartbeat %+v\n%s", st.Heartbeat, h.logs.String())
	}
	if !strings.Contains(h.logs.String(), "heartbeat key found") {
		t.Errorf("no log of the key found:\n%s", h.logs.String())
	}
	if line := h.a.statusLine(); !strings.HasSuffix(line, "; 0 agents") {
		t.Errorf("status line %q", line)
	}
	addr := h.a.HeartbeatAddr().String()

	// The file goes away: the listener keeps running, status warns.
	os.Remove(key)
	if err := h.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	st = h.status()
	if got := h.a.HeartbeatAddr(); got == nil || got.String() != addr {
		t.Errorf("listener after the key went: %v, want %s", got, addr)
	}
	if diff := cmp.Diff([]string{keyGoneWarning(key)}, st.Warnings); diff != "" {
		t.Errorf("warnings (-want +got)\n%s", diff)
	}
	// Back: the warning goes.
	if err := os.WriteFile(key, []byte(strings.Repeat("k", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	if st := h.status(); len(st.Warnings) != 0 || st.Heartbeat.Listen != addr {
		t.Errorf("after the key came back: warnings %q, heartbeat %+v", st.Warnings, st.Heartbeat)
	}
}

// runErr runs an App on cfgText (in dir) with fakes and returns Run's
// error (runBriefly); it fails the test if the App starts.
func runErr(t *testing.T, dir, cfgText string, opts func(*Options)) error {
	t.Helper()
	path := filepath.Join(dir, "director.conf")
	if err := os.WriteFile(path, []byte(cfgText), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	off := false
	o := Options{
		Log: slog.New(slog.DiscardHandler), Notifier: &sdnotify.Recorder{},
		Socket: filepath.Join(dir, "ctl.sock"), StateDir: filepath.Join(dir, "state"), HostChecks: &off,
		OpenIPVS: func(*slog.Logger) (IPVS, error) { return nil, errors.New("IPVS opened") },
		NewVRRP: func(c vrrp.InstanceConfig, o vrrp.Options) (VRRPDriver, error) {
			return nil, errors.New("VRRP started")
		},
	}
	if opts != nil {
		opts(&o)
	}
	return runBriefly(t, New(cfg, o))
}

// TestKeyErrorsStayErrors: a keepalived.conf whose key file exists but is
// refused, and a native file without its key, fail the start as before.
func TestKeyErrorsStayErrors(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		mode       os.FileMode // of dir/hb.key; 0: absent
		want       string
	}{
		{"keepalived, key readable by others", keepalivedConf, 0o644, "mode 0644 lets group or others access it"},
		{"keepalived, key too short", keepalivedConf, 0o600, "need at least 32"},
		{"native, no key", "version: 1\nheartbeat:\n  key_file: DIR/hb.key\nmetrics:\n  enabled: false\n" +
			"vrrp_instances:\n  - {name: VI0, interface: eth0, virtual_router_id: 100, virtual_ipaddress: [192.0.2.100/24]}\n",
			0, "no such file or directory (fix the key file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "hb.key")
			if tc.mode != 0 {
				content := strings.Repeat("k", 32)
				if strings.Contains(tc.name, "short") {
					content = "short"
				}
				if err := os.WriteFile(key, []byte(content), tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			err := runErr(t, dir, strings.ReplaceAll(tc.text, "DIR", dir), func(o *Options) {
				o.adjust = func(c *config.Config) {
					c.Heartbeat.KeyFile, c.Heartbeat.Listen, c.Metrics.Enabled = key, "127.0.0.1:0", false
				}
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Run: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSocketPerNetns: the default control socket follows the
// network namespace; the host's keeps the documented path.
func TestSocketPerNetns(t *testing.T) {
	ino := func(n uint64) func() (uint64, error) { return func() (uint64, error) { return n, nil } }
	fail := func() (uint64, error) { return 0, os.ErrPermission }
	for _, tc := range []struct {
		name       string
		self, host func() (uint64, error)
		want       string
	}{
		{"host namespace", ino(4026531840), ino(4026531840), "/run/tandem-director/director.sock"},
		{"another namespace", ino(4026532301), ino(4026531840), "/run/tandem-director/director-netns-4026532301.sock"},
		{"pid 1 unreadable", ino(4026532301), fail, "/run/tandem-director/director.sock"},
		{"self unreadable", fail, ino(4026531840), "/run/tandem-director/director.sock"},
		{"Linux 6.15's init_net, host unreadable", ino(0xEFFFFFF9), fail, "/run/tandem-director/director.sock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := netnsSocket(tc.self, tc.host); got != tc.want {
				t.Errorf("netnsSocket = %q, want %q", got, tc.want)
			}
		})
	}
	// A configuration's own socket wins; the default path counts as none.
	named := config.Default()
	named.ControlSocket = "/run/lb1.sock"
	if got := ControlSocket(named); got != "/run/lb1.sock" {
		t.Errorf("named socket: %q", got)
	}
	if got, want := ControlSocket(config.Default()), DefaultControlSocket(); got != want {
		t.Errorf("default socket: %q, want %q", got, want)
	}
	if got, want := ControlSocket(nil), DefaultControlSocket(); got != want {
		t.Errorf("no configuration: %q, want %q", got, want)
	}
}

// TestSocketInUseRefused: a second director on the socket a live one
// answers on refuses to start before touching anything; a stale socket
// file is no obstacle.
func TestSocketInUseRefused(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)
	sock := h.a.socket
	err := runErr(t, t.TempDir(), keepalivedConf, func(o *Options) { o.Socket = sock })
	if err == nil || !strings.Contains(err.Error(), "control socket "+sock+": another tandem-director is running") || !strings.Contains(err.Error(), "--socket PATH") {
		t.Fatalf("second director: %v", err)
	}
	if st := h.status(); st.PID == 0 {
		t.Errorf("the first director lost its socket")
	}

	// A stale socket: a listener closed without removing its file.
	stale := filepath.Join(t.TempDir(), "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	if _, err := os.Stat(stale); err != nil {
		t.Fatal(err)
	}
	if err := socketFree(stale); err != nil {
		t.Errorf("stale socket: %v", err)
	}
	if err := socketFree(filepath.Join(t.TempDir(), "absent.sock")); err != nil {
		t.Errorf("absent socket: %v", err)
	}
}
