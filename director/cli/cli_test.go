package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
)

func run(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	root := NewRoot()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

const seed = `global_defs {
    notification_email {
        admin@example.com
    }
    notification_email_from keepalived@example.com
}

vrrp_instance VI0 {
    state BACKUP
    interface eth0
    virtual_router_id 100
    priority 100
    nopreempt
    advert_int 1
    lvs_sync_daemon_interface eth1
    authentication {
        auth_type PASS
        auth_pass password
    }
    virtual_ipaddress {
        192.0.2.100/28 dev eth0
    }
}

virtual_server 192.0.2.100 80 {
    delay_loop 10
    lb_algo lc
    lb_kind DR
    protocol TCP

    sorry_server 192.0.2.99 80

    real_server 192.0.2.101 80 {
        weight 1
        HTTP_GET {
            url {
              path /check.txt
              status_code 200
            }
            connect_timeout 3
        }
    }
}
`

func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("keepalived.conf", seed)
	out, _, err := run(t, "check-config", good)
	if err != nil || !strings.Contains(out, "keepalived.conf: OK (keepalived; 1 vrrp_instance, 1 virtual_server, 1 real_server)") {
		t.Fatalf("seed: %v %q", err, out)
	}
	bad := write("bad.conf", strings.Replace(seed, "    lb_algo lc\n", "    lb_algo lc\n    delay_loop soon\n", 1))
	_, errOut, err := run(t, "check-config", bad)
	var exit ExitError
	if !errors.As(err, &exit) || exit.Code != 1 || !strings.HasPrefix(errOut, bad+":28: ") || !strings.Contains(errOut, `"delay_loop"`) {
		t.Fatalf("bad file: %v %q", err, errOut)
	}
	comments := write("comments.conf", "# nothing here\n! nor here\n")
	_, errOut, err = run(t, "check-config", comments)
	if !errors.As(err, &exit) || !strings.Contains(errOut, "nothing to do") {
		t.Fatalf("comments only: %v %q", err, errOut)
	}
	track := write("track.conf", strings.Replace(seed, "    advert_int 1\n", "    advert_int 1\n    track_interface {\n        eth2 weight 10\n    }\n", 1))
	// A weighted track_interface is supported (the app folds the weight
	// into the priority, as keepalived).
	if _, errOut, err = run(t, "check-config", track); err != nil {
		t.Fatalf("track weight: %v %q", err, errOut)
	}
}

// TestShowConfig: the native YAML printed for the seed reads back as the
// same model.
func TestShowConfig(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "keepalived.conf")
	os.WriteFile(p, []byte(seed), 0o644)
	out, _, err := run(t, "show-config", p)
	if err != nil {
		t.Fatal(err)
	}
	native := filepath.Join(dir, "director.yaml")
	os.WriteFile(native, []byte(out), 0o644)
	a, err := config.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := config.Load(native)
	if err != nil {
		t.Fatalf("show-config output does not load: %v\n%s", err, out)
	}
	if !config.Equal(a, b) {
		t.Errorf("round trip differs: %s", config.Diff(a, b))
	}
}

// TestNoDaemon: without a daemon the verbs say so (or, as non-root, that
// root is needed).
func TestNoDaemon(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "director.sock")
	for _, args := range [][]string{{"status"}, {"drain", "192.0.2.101"}, {"undrain", "192.0.2.101"}, {"reload"}} {
		_, _, err := run(t, append([]string{"--config", "/nonexistent", "--socket", sock}, args...)...)
		want := "daemon is not running (nothing listens on " + sock
		if os.Geteuid() != 0 {
			want = "must be run as root"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("%v: %v, want %q", args, err, want)
		}
	}
}

func TestPrintStatus(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := control.Status{
		Node: "lb1", Role: "master", PID: 42, Version: "1.0", Started: now.Add(-time.Minute), Config: "/etc/keepalived/keepalived.conf", Format: "keepalived",
		VRRP: []control.VRRPStatus{{Instance: "VI0", VRID: 100, Interface: "eth0", State: "MASTER", Priority: 100, Since: now.Add(-30 * time.Second), VIPs: []string{"192.0.2.100/28"}}},
		IPVS: control.IPVSStatus{Enabled: true, SyncDaemons: []string{"master on eth1 syncid 100"}},
		Services: []control.ServiceStatus{{Key: "TCP 192.0.2.100:80", Scheduler: "lc", Forwarding: "DR", QuorumUp: true, LiveWeight: 1, Quorum: 1, Sorry: "192.0.2.99:80", InKernel: true,
			RealServers: []control.RealServerStatus{
				{Addr: "192.0.2.101:80", State: "up", Weight: 1, ConfiguredWeight: 1, Present: true, Active: 12, Inactive: 40,
					Checks: []control.CheckStatus{{Name: "HTTP_GET", Up: true, LastOK: true, Last: now.Add(-2 * time.Second)}},
					Agent:  &control.AgentStatus{State: "up", Node: "rs1", Fresh: true, LastSeen: now.Add(-300 * time.Millisecond)}},
				{Addr: "192.0.2.102:80", State: "draining", Reason: "agent reports maintenance: deploy", Weight: 0, ConfiguredWeight: 1, Present: true, Active: 3,
					Checks: []control.CheckStatus{{Name: "HTTP_GET", Up: true, LastOK: false, Failures: 1, Last: now.Add(-time.Second), Reason: "HTTP_GET failed: status 503, want 200"}},
					Agent:  &control.AgentStatus{State: "maintenance", Reason: "deploy", Node: "rs2", Fresh: true, LastSeen: now.Add(-100 * time.Millisecond)}},
			}}},
		Heartbeat: control.HeartbeatStatus{Enabled: true, Listen: "[::]:7480", Accepted: 120, Replies: 120, Dropped: map[string]uint64{"mac": 3}},
	}
	var b bytes.Buffer
	printStatus(&b, st, now)
	out := b.String()
	for _, want := range []string{
		"director lb1: MASTER (pid 42",
		"vrrp:     VI0 vrid 100 on eth0: MASTER since 30s ago",
		"ipvs:     sync daemon master on eth1 syncid 100",
		"TCP 192.0.2.100:80  lc DR  quorum up (live weight 1, quorum 1)  sorry 192.0.2.99:80 (out)",
		"192.0.2.101:80  up",
		"HTTP_GET ok 2s ago",
		"maintenance: deploy (rs2, 100ms ago)",
		"dropped: mac 3",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}
