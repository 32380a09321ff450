package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The lab: two directors and a real server on one segment; the VIP is
// 192.0.2.100. TEST-NET-1, only inside the lab's namespaces.
var netnsKey = []byte("tandem-director netns test key 0123456789")

// vrrpOnly is the seed's vrrp_instance without the virtual_server: VRRP
// only, which must run on this kernel without ip_vs (keepalived -P).
const vrrpOnly = `global_defs {
    router_id %s
}

vrrp_instance VI0 {
    state BACKUP
    interface eth0
    virtual_router_id 100
    priority 100
    nopreempt
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass password
    }
    virtual_ipaddress {
        192.0.2.100/24 dev eth0
    }
}
`

// nativeVRRP is the same instance in the native format, with the
// director-only settings a test needs (own socket, key, metrics port).
const nativeVRRP = `version: 1
node: %[1]s
heartbeat:
  key_file: %[2]s/heartbeat.key
control_socket: %[2]s/%[1]s.sock
metrics:
  listen: 127.0.0.1:9480
vrrp_instances:
  - name: VI0
    interface: eth0
    virtual_router_id: 100
    priority: 100
    nopreempt: true
    advert_int: 1s
    authentication: {auth_type: PASS, auth_pass: password}
    virtual_ipaddress: [192.0.2.100/24 dev eth0]
`

type drig struct {
	t   *testing.T
	lab *netlab.Lab
	bin string
	dir string
}

func newDRig(t *testing.T) *drig {
	t.Helper()
	testutil.Netns(t)
	bin := testutil.Bin(t, "tandem-director")
	lab, err := netlab.New(t, netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "lb1", Addr: "192.0.2.2/24"},
		{Name: "lb2", Addr: "192.0.2.3/24"},
		{Name: "rs", Addr: "192.0.2.11/24"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "heartbeat.key"), netnsKey, 0o600); err != nil {
		t.Fatal(err)
	}
	return &drig{t: t, lab: lab, bin: bin, dir: dir}
}

func (r *drig) write(name, content string) string {
	r.t.Helper()
	p := filepath.Join(r.dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// cli runs the binary (as root, in no particular namespace: the control
// socket is a file).
func (r *drig) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, r.bin, args...).CombinedOutput()
	return string(out), err
}

func (r *drig) status(sock string) control.Status {
	r.t.Helper()
	out, err := r.cli("status", "--json", "--socket", sock)
	if err != nil {
		r.t.Fatalf("status: %v\n%s", err, out)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		r.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// waitRole polls status (bounded) until the role is want and returns the
// last status read.
func (r *drig) waitRole(sock, want string, limit time.Duration) control.Status {
	r.t.Helper()
	var st control.Status
	testutil.WaitFor(limit, func() bool { st = r.status(sock); return st.Role == want })
	return st
}

// notifyListener is a fake $NOTIFY_SOCKET. It reads all the time (as
// systemd does: a full socket would block the daemon's watchdog pings).
type notifyListener struct {
	t    *testing.T
	path string
	msgs chan string
}

func newNotify(t *testing.T, dir string) *notifyListener {
	t.Helper()
	path := filepath.Join(dir, "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	n := &notifyListener{t: t, path: path, msgs: make(chan string, 10000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			select {
			case n.msgs <- string(buf[:k]):
			default: // nobody is waiting for that many
			}
		}
	}()
	t.Cleanup(func() { c.Close(); <-done })
	return n
}

// waitFor takes notifications until one contains want; it returns them.
func (n *notifyListener) waitFor(want string, limit time.Duration) []string {
	n.t.Helper()
	var msgs []string
	timeout := time.After(limit)
	for {
		select {
		case m := <-n.msgs:
			msgs = append(msgs, m)
			if strings.Contains(m, want) {
				return msgs
			}
		case <-timeout:
			n.t.Fatalf("no %q notification within %v; got %q", want, limit, msgs)
			return nil
		}
	}
}

func hasVIP(t *testing.T, lab *netlab.Lab, host string) bool {
	t.Helper()
	out, err := lab.Exec(host, "ip", "-o", "addr", "show", "dev", "eth0")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Contains(out, "192.0.2.100/")
}

// TestNetnsDirectorVRRPOnly: the seed's keepalived.conf without its
// virtual_server runs on this kernel without ip_vs: READY=1, STATUS,
// WATCHDOG, MASTER with the VIP, status shows the role; a native file
// without its key is refused unless --insecure-heartbeat (a keepalived.conf
// starts without one: TestNetnsTwoKeepalivedDirectors); with
// --insecure-heartbeat the keepalived.conf's missing key is logged as
// INSECURE; SIGHUP and reload with a bad file
// keep it running on the old configuration.
func TestNetnsDirectorVRRPOnly(t *testing.T) {
	r := newDRig(t)
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Log("note: this kernel has ip_vs loaded; the test still checks that a VRRP-only config does not need it")
	}
	conf := r.write("keepalived.conf", fmt.Sprintf(vrrpOnly, "lb1"))
	sock := filepath.Join(r.dir, "lb1.sock")

	// A native file whose key file does not exist: refused, clearly.
	native := r.write("nokey.yaml", fmt.Sprintf(nativeVRRP, "lb1", filepath.Join(r.dir, "nokey")))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	out, err := r.lab.ExecContext(ctx, "lb1", r.bin, "run", "--config", native, "--socket", sock)
	cancel()
	if err == nil || !strings.Contains(out, "--insecure-heartbeat") {
		t.Fatalf("start without a key: %v\n%s", err, out)
	}

	n := newNotify(t, r.dir)
	p, err := r.lab.Start("lb1", "/usr/bin/env", "NOTIFY_SOCKET="+n.path, "WATCHDOG_USEC=400000",
		r.bin, "run", "--config", conf, "--socket", sock, "--insecure-heartbeat", "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	msgs := n.waitFor("READY=1", 10*time.Second)
	if !strings.Contains(strings.Join(msgs, "|"), "STATUS=") {
		t.Errorf("READY without STATUS: %q", msgs)
	}
	n.waitFor("WATCHDOG=1", 2*time.Second)
	for _, want := range []string{"running VRRP only", "INSECURE", "level=DEBUG"} {
		if !strings.Contains(p.Output(), want) {
			t.Errorf("log lacks %q:\n%s", want, p.Output())
		}
	}
	st := r.waitRole(sock, "master", 8*time.Second)
	if st.Role != "master" || len(st.VRRP) != 1 || st.VRRP[0].State != "MASTER" || st.IPVS.Enabled {
		t.Fatalf("status: role %s vrrp %+v ipvs %+v\n%s", st.Role, st.VRRP, st.IPVS, p.Output())
	}
	if !hasVIP(t, r.lab, "lb1") {
		t.Errorf("MASTER without the VIP on eth0")
	}
	text, err := r.cli("status", "--socket", sock)
	if err != nil || !strings.Contains(text, "director lb1: MASTER") || !strings.Contains(text, "vrrp:     VI0 vrid 100 on eth0: MASTER") {
		t.Errorf("status text: %v\n%s", err, text)
	}
	t.Logf("status:\n%s", text)

	// A bad file: `reload` fails with file:line, SIGHUP is refused too, the
	// daemon keeps running as MASTER.
	os.WriteFile(conf, []byte(fmt.Sprintf(vrrpOnly, "lb1")+"vrrp_instance VI1 {\n    colour red\n}\n"), 0o644)
	out, err = r.cli("reload", "--socket", sock)
	if err == nil || !strings.Contains(out, conf+":20:") {
		t.Fatalf("reload of a bad file: %v\n%s", err, out)
	}
	if err := p.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	n.waitFor("RELOADING=1", 3*time.Second)
	n.waitFor("READY=1", 3*time.Second)
	st = r.status(sock)
	if st.Role != "master" || st.LastReloadError == "" || !hasVIP(t, r.lab, "lb1") {
		t.Fatalf("after bad reloads: role %s, last error %q", st.Role, st.LastReloadError)
	}
	// The good file again: reload works.
	os.WriteFile(conf, []byte(fmt.Sprintf(vrrpOnly, "lb1")), 0o644)
	if out, err := r.cli("reload", "--socket", sock); err != nil || !strings.Contains(out, "configuration reloaded: no changes") {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	// A clean stop releases the VIP.
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.Output())
	}
	if hasVIP(t, r.lab, "lb1") {
		t.Errorf("VIP left on eth0 after a clean stop")
	}
}

// TestNetnsDirectorElection: two tandem-directors with the seed's identical
// configuration elect exactly one master; stopping it hands over.
func TestNetnsDirectorElection(t *testing.T) {
	r := newDRig(t)
	var procs = map[string]*netlab.Process{}
	for _, lb := range []string{"lb1", "lb2"} {
		conf := r.write(lb+".yaml", fmt.Sprintf(nativeVRRP, lb, r.dir))
		p, err := r.lab.Start(lb, r.bin, "run", "--config", conf)
		if err != nil {
			t.Fatal(err)
		}
		procs[lb] = p
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = p.WaitOutput(ctx, "msg=ready")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	defer func() {
		for _, p := range procs {
			p.Stop(5 * time.Second)
		}
	}()
	sock := func(lb string) string { return filepath.Join(r.dir, lb+".sock") }
	// Both start BACKUP with priority 100: after Master_Down_Interval
	// (3.6 s) exactly one is master (equal priorities: the higher address
	// wins if both claimed it at once).
	var master, backup string
	testutil.WaitFor(10*time.Second, func() bool {
		r1, r2 := r.status(sock("lb1")).Role, r.status(sock("lb2")).Role
		if r1 == "master" && r2 == "backup" {
			master, backup = "lb1", "lb2"
		}
		if r2 == "master" && r1 == "backup" {
			master, backup = "lb2", "lb1"
		}
		return master != ""
	})
	if master == "" {
		t.Fatalf("no single master within 10s\n%s\n%s", procs["lb1"].Output(), procs["lb2"].Output())
	}
	masterIP := map[string]string{"lb1": "192.0.2.2", "lb2": "192.0.2.3"}[master]
	// Stable for a few adverts: still one master, and the backup knows it.
	testutil.Settle(2500 * time.Millisecond)
	stm, stb := r.status(sock(master)), r.status(sock(backup))
	if stm.Role != "master" || stb.Role != "backup" || stb.VRRP[0].Master != masterIP {
		t.Fatalf("not stable: %s %s, %s %s (sees master %q)", master, stm.Role, backup, stb.Role, stb.VRRP[0].Master)
	}
	if !hasVIP(t, r.lab, master) || hasVIP(t, r.lab, backup) {
		t.Errorf("VIP on %s %v, on %s %v", master, hasVIP(t, r.lab, master), backup, hasVIP(t, r.lab, backup))
	}
	// Stop the master: the backup takes over within its skew time.
	start := time.Now()
	procs[master].Stop(5 * time.Second)
	if st := r.waitRole(sock(backup), "master", 5*time.Second); st.Role != "master" {
		t.Fatalf("%s did not take over:\n%s", backup, procs[backup].Output())
	}
	t.Logf("takeover after a clean stop: %v", time.Since(start).Round(10*time.Millisecond))
}

// TestNetnsDirectorHeartbeats: an agent's report is answered with the
// director's role; forged and replayed datagrams get nothing and are
// counted by reason.
func TestNetnsDirectorHeartbeats(t *testing.T) {
	r := newDRig(t)
	conf := r.write("lb1.yaml", fmt.Sprintf(nativeVRRP, "lb1", r.dir))
	p, err := r.lab.Start("lb1", r.bin, "run", "--config", conf)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitOutput(ctx, "msg=ready"); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(r.dir, "lb1.sock")
	if st := r.waitRole(sock, "backup", 5*time.Second); st.Role != "backup" {
		t.Fatalf("role %s, want backup (just started, nopreempt, no peer yet)", st.Role)
	}
	dial := r.lab.DialContext("rs")
	c, err := dial(ctx, "udp", fmt.Sprintf("192.0.2.2:%d", hbproto.DefaultPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	exchange := func(b []byte) *hbproto.Message {
		c.Write(b)
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		buf := make([]byte, hbproto.MaxDatagram)
		n, err := c.Read(buf)
		if err != nil {
			return nil
		}
		m, err := hbproto.NewOpener(netnsKey, 0).Open("lb1", buf[:n], time.Now())
		if err != nil {
			t.Fatalf("reply does not authenticate: %v", err)
		}
		return m
	}
	report := &hbproto.AgentReport{Node: "web1", RealIP: netip.MustParseAddr("192.0.2.11"), State: hbproto.StateUp}
	sealer := hbproto.NewSealer(netnsKey, 99)
	good, _ := sealer.SealAgent(time.Now(), report)
	m := exchange(good)
	if m == nil || m.Director.Director != "lb1" || m.Director.Role != hbproto.RoleBackup {
		t.Fatalf("reply %+v", m)
	}
	forged, _ := hbproto.NewSealer([]byte(strings.Repeat("f", 40)), 100).SealAgent(time.Now(), report)
	for name, b := range map[string][]byte{"replay": good, "forged": forged} {
		if m := exchange(b); m != nil {
			t.Errorf("%s datagram answered: %+v", name, m)
		}
	}
	st := r.status(sock)
	if st.Heartbeat.Accepted != 1 || st.Heartbeat.Dropped["mac"] != 1 || st.Heartbeat.Dropped["replay"] != 1 {
		t.Errorf("heartbeat status %+v", st.Heartbeat)
	}
	if len(st.Agents) != 1 || st.Agents[0].Node != "web1" || st.Agents[0].Known {
		t.Errorf("agents %+v", st.Agents)
	}
	if !strings.Contains(p.Output(), `msg="heartbeat dropped" reason=mac`) {
		t.Errorf("forged datagram not logged:\n%s", p.Output())
	}
}

// TestNetnsDirectorRefusals: services without ip_vs, no daemon, not root.
func TestNetnsDirectorRefusals(t *testing.T) {
	r := newDRig(t)
	if _, err := os.Stat("/proc/net/ip_vs"); err != nil {
		withService := fmt.Sprintf(nativeVRRP, "lb1", r.dir) + `virtual_servers:
  - address: 192.0.2.100:80
    real_servers:
      - address: 192.0.2.11:80
`
		conf := r.write("svc.yaml", withService)
		out, err := r.lab.ExecContext(context.Background(), "lb1", r.bin, "run", "--config", conf)
		if err == nil || !strings.Contains(out, "ip_vs") || !strings.Contains(out, "virtual_server") {
			t.Errorf("services without ip_vs: %v\n%s", err, out)
		}
	} else {
		t.Log("ip_vs is loaded on this kernel: the refusal without it is not checked here")
	}
	sock := filepath.Join(r.dir, "none.sock")
	out, err := r.cli("status", "--socket", sock)
	if err == nil || !strings.Contains(out, "daemon is not running (nothing listens on "+sock) {
		t.Errorf("no daemon: %v %s", err, out)
	}
	cmd := exec.Command(r.bin, "status", "--socket", sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	b, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(b), "must be run as root") {
		t.Errorf("non-root: %v %s", err, b)
	}
}

// watchVIP polls (every 10 ms) whether host holds the VIP, until stop is
// closed; it returns the longest time the VIP was absent.
func watchVIP(t *testing.T, lab *netlab.Lab, host string, stop <-chan struct{}) <-chan time.Duration {
	out := make(chan time.Duration, 1)
	nl, err := lab.Netlink(host)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		var longest time.Duration
		var goneAt time.Time
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				if !goneAt.IsZero() {
					longest = max(longest, time.Since(goneAt))
				}
				out <- longest
				return
			case <-tick.C:
			}
			link, err := nl.LinkByName("eth0")
			has := false
			if err == nil {
				addrs, _ := nl.AddrList(link, 2) // AF_INET
				for _, a := range addrs {
					has = has || a.IP.String() == "192.0.2.100"
				}
			}
			switch {
			case !has && goneAt.IsZero():
				goneAt = time.Now()
			case has && !goneAt.IsZero():
				longest = max(longest, time.Since(goneAt))
				goneAt = time.Time{}
			}
		}
	}()
	return out
}

// TestNetnsDirectorRestartKeepsVIP: a MASTER killed with SIGKILL leaves its
// VIP (the kernel keeps serving it); the restarted director keeps it
// instead of removing it for Master_Down_Interval, and is MASTER again. With
// a peer that took over meanwhile, the restarted one gives the VIP up as
// soon as it hears the master.
func TestNetnsDirectorRestartKeepsVIP(t *testing.T) {
	r := newDRig(t)
	start := func(lb string) *netlab.Process {
		t.Helper()
		conf := r.write(lb+".yaml", fmt.Sprintf(nativeVRRP, lb, r.dir))
		p, err := r.lab.Start(lb, r.bin, "run", "--config", conf)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.WaitOutput(ctx, "msg=ready"); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sock := func(lb string) string { return filepath.Join(r.dir, lb+".sock") }
	p := start("lb1")
	if st := r.waitRole(sock("lb1"), "master", 8*time.Second); st.Role != "master" {
		t.Fatalf("lb1 not master:\n%s", p.Output())
	}
	stop := make(chan struct{})
	gap := watchVIP(t, r.lab, "lb1", stop)
	p.Signal(syscall.SIGKILL)
	p.Wait()
	if !hasVIP(t, r.lab, "lb1") {
		t.Fatal("the killed master took its VIP with it (expected it to stay)")
	}
	p = start("lb1")
	if st := r.waitRole(sock("lb1"), "master", 8*time.Second); st.Role != "master" {
		t.Fatalf("restarted lb1 not master again:\n%s", p.Output())
	}
	close(stop)
	if g := <-gap; g > 0 {
		t.Errorf("the VIP was absent for %v across the restart", g)
	}
	if !strings.Contains(p.Output(), "VIPs left by a previous run stay") {
		t.Errorf("no log of the kept VIPs:\n%s", p.Output())
	}

	// With a peer: kill lb1, lb2 takes over, restart lb1: it releases the
	// VIP once it hears lb2.
	p2 := start("lb2")
	defer p2.Stop(5 * time.Second)
	p.Signal(syscall.SIGKILL)
	p.Wait()
	if st := r.waitRole(sock("lb2"), "master", 8*time.Second); st.Role != "master" {
		t.Fatalf("lb2 did not take over:\n%s", p2.Output())
	}
	p = start("lb1")
	defer p.Stop(5 * time.Second)
	begin := time.Now()
	testutil.WaitFor(5*time.Second, func() bool { return !hasVIP(t, r.lab, "lb1") })
	overlap := time.Since(begin)
	if hasVIP(t, r.lab, "lb1") || overlap > 2*time.Second {
		t.Errorf("restarted lb1 kept the VIP for %v beside the master lb2:\n%s", overlap, p.Output())
	}
	t.Logf("restarted backup released the kept VIP after %v", overlap.Round(10*time.Millisecond))
	if st := r.status(sock("lb1")); st.Role != "backup" {
		t.Errorf("lb1 role %s, want backup", st.Role)
	}
}

// TestNetnsDirectorFastFailover: with fast_failover on, the peer probe
// (docs/ha.md) comes up between two tandem-directors, and a MASTER killed
// with SIGKILL is replaced in a few probe intervals instead of
// Master_Down_Interval (3.6 s).
func TestNetnsDirectorFastFailover(t *testing.T) {
	r := newDRig(t)
	procs := map[string]*netlab.Process{}
	for _, lb := range []string{"lb1", "lb2"} {
		conf := r.write(lb+".yaml", fmt.Sprintf(nativeVRRP, lb, r.dir)+"fast_failover: {enabled: true, interval: 50ms, multiplier: 3}\n")
		p, err := r.lab.Start(lb, r.bin, "run", "--config", conf)
		if err != nil {
			t.Fatal(err)
		}
		procs[lb] = p
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = p.WaitOutput(ctx, "msg=ready")
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		defer p.Stop(5 * time.Second)
	}
	sock := func(lb string) string { return filepath.Join(r.dir, lb+".sock") }
	var master, backup string
	testutil.WaitFor(10*time.Second, func() bool {
		s1, s2 := r.status(sock("lb1")), r.status(sock("lb2"))
		up := s1.FastFailover != nil && s1.FastFailover.Session == "up" && s2.FastFailover != nil && s2.FastFailover.Session == "up"
		switch {
		case up && s1.Role == "master" && s2.Role == "backup":
			master, backup = "lb1", "lb2"
		case up && s2.Role == "master" && s1.Role == "backup":
			master, backup = "lb2", "lb1"
		}
		return master != ""
	})
	if master == "" {
		t.Fatalf("no master/backup pair with the probe up\n%s\n%s", procs["lb1"].Output(), procs["lb2"].Output())
	}
	text, _ := r.cli("status", "--socket", sock(backup))
	if !strings.Contains(text, "fast failover: session up with "+master) {
		t.Errorf("status of %s:\n%s", backup, text)
	}
	// status --peers: the backup sees the master in its probes (name,
	// address, the instance's role) and in its VRRP adverts.
	var peers *control.PeersStatus
	testutil.WaitFor(5*time.Second, func() bool {
		out, err := r.cli("status", "--peers", "--json", "--socket", sock(backup))
		var st control.Status
		if err != nil || json.Unmarshal([]byte(out), &st) != nil || st.Peers == nil {
			return false
		}
		peers = st.Peers
		return len(peers.Instances) == 1 && peers.Instances[0].PeerRole == "master"
	})
	masterAddr := map[string]string{"lb1": "192.0.2.2", "lb2": "192.0.2.3"}[master]
	if peers == nil || peers.Probe == nil {
		t.Fatalf("status --peers --json of %s: %+v", backup, peers)
	}
	if p := peers; p.Node != backup || p.Role != "backup" || p.Probe == nil || p.Probe.Peer != master ||
		!strings.HasPrefix(p.Probe.PeerAddr, masterAddr+":") || p.Probe.Session != "up" || time.Since(p.Probe.LastHeard) > 2*time.Second ||
		p.Probe.DetectMult != 3 || p.Probe.TxIntervalMS != 50 || len(p.Probe.Instances) != 1 ||
		len(p.Instances) != 1 || !p.Instances[0].PeerKnown || p.Instances[0].PeerRole != "master" || p.Instances[0].State != "BACKUP" ||
		p.Instances[0].Master != masterAddr || p.Instances[0].VRID != 100 || p.Instances[0].Family != 4 {
		t.Errorf("status --peers --json of %s: %+v (probe %+v)", backup, p, p.Probe)
	}
	text, _ = r.cli("status", "--peers", "--socket", sock(backup))
	if !strings.Contains(text, "peer director: "+master+" at "+masterAddr+":") || !strings.Contains(text, "MASTER HEARD") {
		t.Errorf("status --peers of %s:\n%s", backup, text)
	}
	// The pair is seen as soon as the election ends; the backup learns the
	// peer's new role from its next probes. A master killed before one of
	// them went out is a plain-VRRP takeover (docs/ha.md), so let a few
	// probe intervals pass first.
	testutil.Settle(300 * time.Millisecond)
	killed := time.Now()
	procs[master].Signal(syscall.SIGKILL)
	testutil.WaitFor(5*time.Second, func() bool { return hasVIP(t, r.lab, backup) })
	took := time.Since(killed)
	if !hasVIP(t, r.lab, backup) {
		t.Fatalf("%s did not take over:\n%s", backup, procs[backup].Output())
	}
	t.Logf("MEASURED takeover after SIGKILL of the master with fast_failover (50ms x 3): %v (plain VRRP: 3.6s)", took.Round(time.Millisecond))
	if took > 1500*time.Millisecond {
		t.Errorf("takeover took %v, want well under Master_Down_Interval; %s's log:\n%s", took, backup, procs[backup].Output())
	}
	if st := r.status(sock(backup)); st.FastFailover == nil || st.FastFailover.Takeovers != 1 {
		t.Errorf("fast failover status after the takeover: %+v", st.FastFailover)
	}
}
