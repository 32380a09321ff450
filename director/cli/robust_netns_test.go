package cli_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The director's robustness list with the real binary (the whole-system
// issue): a missing interface, ports in use at start and at reload. The
// drain refused on a full state directory needs services, hence IPVS: it
// is proven through the app (director/app/robust_test.go,
// TestNetnsDrainStateDiskFull).

// robustConf is nativeVRRP with the heartbeat and metrics addresses and the
// VRRP interface as parameters.
const robustConf = `version: 1
node: lb1
heartbeat:
  key_file: %[1]s/heartbeat.key
  listen: "%[2]s"
control_socket: %[1]s/lb1.sock
metrics:
  listen: "%[3]s"
vrrp_instances:
  - name: VI0
    interface: %[4]s
    virtual_router_id: 100
    priority: 100
    advert_int: 1s
    virtual_ipaddress: [192.0.2.100/24 dev eth0]
`

func (r *drig) robustConfig(hb, met, iface string) string {
	return r.write("lb1.yaml", fmt.Sprintf(robustConf, r.dir, hb, met, iface))
}

// startFails runs the director on lb1 and returns its output; the test
// fails if it starts or exits 0.
func (r *drig) startFails(conf, what string) string {
	r.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := r.lab.ExecContext(ctx, "lb1", r.bin, "run", "--config", conf)
	if err == nil {
		r.t.Fatalf("%s: the director exited 0:\n%s", what, out)
	}
	if strings.Contains(err.Error(), "deadline exceeded") {
		r.t.Fatalf("%s: the director started:\n%s", what, out)
	}
	return out
}

func lineIn(t *testing.T, text, sub string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			return i + 1
		}
	}
	t.Fatalf("%q not found", sub)
	return 0
}

// TestNetnsRobustDirectorStartErrors: the heartbeat port and the metrics
// port, each held by another socket: exit 1 with file:line, the key and
// address:port; nothing happened (no VIP).
func TestNetnsRobustDirectorStartErrors(t *testing.T) {
	r := newDRig(t)
	conf := r.robustConfig(":7480", "127.0.0.1:9480", "eth0")
	text := fmt.Sprintf(robustConf, r.dir, ":7480", "127.0.0.1:9480", "eth0")

	var udp net.PacketConn
	if err := r.lab.Do("lb1", func() (err error) { udp, err = net.ListenPacket("udp", ":7480"); return err }); err != nil {
		t.Fatal(err)
	}
	out := r.startFails(conf, "heartbeat port in use")
	want := fmt.Sprintf(`%s:%d: key "heartbeat.listen": cannot listen on UDP :7480: bind: address already in use`, conf, lineIn(t, text, "key_file:"))
	if !strings.Contains(out, want) {
		t.Errorf("heartbeat port in use: output lacks %q:\n%s", want, out)
	}
	t.Logf("heartbeat port in use:\n%s", out)
	udp.Close()

	ln, err := r.lab.Listen("lb1", "tcp", "127.0.0.1:9480")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	out = r.startFails(conf, "metrics port in use")
	want = fmt.Sprintf(`%s:%d: key "metrics.listen": cannot listen on TCP 127.0.0.1:9480: bind: address already in use`, conf, lineIn(t, text, `listen: "127.0.0.1:9480"`))
	if !strings.Contains(out, want) {
		t.Errorf("metrics port in use: output lacks %q:\n%s", want, out)
	}
	if hasVIP(t, r.lab, "lb1") {
		t.Error("a refused start put the VIP on eth0")
	}
}

// TestNetnsRobustDirectorReloadPortInUse: `reload` and SIGHUP to a
// heartbeat or metrics port in use fail with the key and address:port; the
// running listeners keep answering on the old ports.
func TestNetnsRobustDirectorReloadPortInUse(t *testing.T) {
	r := newDRig(t)
	conf := r.robustConfig(":7480", "127.0.0.1:9480", "eth0")
	sock := filepath.Join(r.dir, "lb1.sock")
	p, err := r.lab.Start("lb1", r.bin, "run", "--config", conf)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = p.WaitOutput(ctx, "msg=ready")
	cancel()
	if err != nil {
		t.Fatalf("not ready: %v\n%s", err, p.Output())
	}
	var udp net.PacketConn
	if err := r.lab.Do("lb1", func() (err error) { udp, err = net.ListenPacket("udp", ":7490"); return err }); err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	tcp, err := r.lab.Listen("lb1", "tcp", "127.0.0.1:9490")
	if err != nil {
		t.Fatal(err)
	}
	defer tcp.Close()
	oldServe := func(what string) {
		t.Helper()
		st := r.status(sock)
		if st.Heartbeat.Listen != "[::]:7480" || st.LastReloadError == "" {
			t.Errorf("%s: heartbeat %q, last reload error %q", what, st.Heartbeat.Listen, st.LastReloadError)
		}
		resp, err := r.lab.HTTPClient("lb1", time.Second).Get("http://127.0.0.1:9480/metrics")
		if err != nil {
			t.Errorf("%s: the old metrics port: %v", what, err)
			return
		}
		resp.Body.Close()
		// The old heartbeat socket is still ours: binding it fails.
		if err := r.lab.Do("lb1", func() error {
			c, err := net.ListenPacket("udp", ":7480")
			if err == nil {
				c.Close()
				return fmt.Errorf("port 7480 is free")
			}
			return nil
		}); err != nil {
			t.Errorf("%s: the old heartbeat socket: %v", what, err)
		}
	}

	r.robustConfig(":7490", "127.0.0.1:9480", "eth0")
	out, err := r.cli("reload", "--socket", sock)
	if err == nil || !strings.Contains(out, `key "heartbeat.listen": cannot listen on UDP :7490: bind: address already in use`) {
		t.Errorf("reload to a heartbeat port in use: %v\n%s", err, out)
	}
	t.Logf("reload, heartbeat port in use: %s", strings.TrimSpace(out))
	oldServe("heartbeat port in use")

	r.robustConfig(":7480", "127.0.0.1:9490", "eth0")
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 3*time.Second)
	err = p.WaitOutput(ctx, "cannot listen on TCP 127.0.0.1:9490: bind: address already in use")
	cancel()
	if err != nil {
		t.Errorf("SIGHUP to a metrics port in use not logged: %v\n%s", err, p.Output())
	}
	oldServe("metrics port in use")

	// A free port: the metrics listener moves.
	r.robustConfig(":7480", "127.0.0.1:9491", "eth0")
	if out, err := r.cli("reload", "--socket", sock); err != nil {
		t.Fatalf("reload to a free metrics port: %v\n%s", err, out)
	}
	resp, err := r.lab.HTTPClient("lb1", time.Second).Get("http://127.0.0.1:9491/metrics")
	if err != nil {
		t.Fatalf("new metrics port: %v", err)
	}
	resp.Body.Close()
}

// TestNetnsRobustDirectorMissingInterface: a vrrp_instance whose interface
// does not exist: the director runs (as keepalived, retrying every 5 s),
// the instance stays in INIT, and the log and `status` name the interface,
// the instance and the file:line.
func TestNetnsRobustDirectorMissingInterface(t *testing.T) {
	r := newDRig(t)
	conf := r.robustConfig(":7480", "127.0.0.1:9480", "eth9")
	text := fmt.Sprintf(robustConf, r.dir, ":7480", "127.0.0.1:9480", "eth9")
	sock := filepath.Join(r.dir, "lb1.sock")
	p, err := r.lab.Start("lb1", r.bin, "run", "--config", conf)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	want := fmt.Sprintf(`%s:%d: vrrp_instance VI0: interface "eth9" does not exist on this host; the instance stays in INIT (no VIPs, no adverts) and is retried every 5s`,
		conf, lineIn(t, text, "- name: VI0"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	err = p.WaitOutput(ctx, "interface=eth9")
	cancel()
	if err != nil {
		t.Fatalf("no log line naming eth9: %v\n%s", err, p.Output())
	}
	if !strings.Contains(p.Output(), "vrrp instance failed; retrying in 5s") || !strings.Contains(p.Output(), `interface \"eth9\" does not exist on this host`) {
		t.Errorf("log:\n%s", p.Output())
	}
	st := r.status(sock)
	if len(st.VRRP) != 1 || st.VRRP[0].State != "INIT" || !strings.Contains(st.VRRP[0].Error, want) {
		t.Errorf("status: %+v\nwant %q", st.VRRP, want)
	}
	text2, err := r.cli("status", "--socket", sock)
	if err != nil || !strings.Contains(text2, want) {
		t.Errorf("status text: %v\n%s", err, text2)
	}
	t.Logf("status:\n%s", text2)
	select {
	case <-p.Done():
		t.Fatalf("the director exited:\n%s", p.Output())
	default:
	}
}
