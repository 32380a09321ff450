package scenarios

import (
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// Lab addresses (inside the guest's namespaces only).
const (
	vip        = "10.99.0.100"
	directorIP = "10.99.0.2"
	sorryIP    = "10.99.0.99"
	keyFile    = "/etc/tandem/heartbeat.key" // the keepalived.conf reader's default
	delayLoop  = 2 * time.Second
	retryDelay = 1 * time.Second // delay_before_retry, retry 1
	slowFor    = 1500 * time.Millisecond
)

var rsIPs = map[string]string{"rs1": "10.99.0.11", "rs2": "10.99.0.12", "rs3": "10.99.0.13"}

// backendConf is rs's tandem-backend configuration (files in dir): the
// check file the web app serves as /check.txt, a fast health probe of the
// app.
func backendConf(rs, dir string) string {
	return prodlab.BackendConf{Node: rs, RealIP: rsIPs[rs], Directors: []string{directorIP}, KeyFile: prodlab.AgentKeyFile(filepath.Dir(keyFile), rs), HeartbeatInterval: opsHBInterval,
		ProbeInterval: 300 * time.Millisecond, ProbeTimeout: 250 * time.Millisecond, ProbeRise: 2, ProbeFall: 2, Dir: dir, LogLevel: "debug"}.String()
}

// lab is one scenario's world: client, director, rs1-rs3, sorry.
type lab struct {
	t    *testing.T
	net  *netlab.Lab
	dir  string
	dbin string
	bbin string
	ipvs *ipvs.Handle

	conf     string
	sock     string
	director *netlab.Process

	mu     sync.Mutex
	apps   map[string]*prodlab.WebApp
	agents map[string]*netlab.Process
}

// labOpts choose the initial configuration.
type labOpts struct {
	weights map[string]int // real servers in the service and their weights; rs1, rs2 at 1 by default
}

func newLab(t *testing.T, o labOpts) *lab {
	t.Helper()
	testutil.InVM(t)
	if o.weights == nil {
		o.weights = map[string]int{"rs1": 1, "rs2": 1}
	}
	// The working directory first: cleanups run last-registered first, so
	// it is removed after the lab has stopped every process that writes in
	// it (an agent writing its state file made RemoveAll fail, "directory
	// not empty", in a fresh-clone CI run).
	dir := t.TempDir()
	rsSysctls := map[string]string{
		"net.ipv4.conf.all.rp_filter":  "0",
		"net.ipv4.conf.eth0.rp_filter": "0",
	}
	hosts := []netlab.HostSpec{
		{Name: "client", Addr: "10.99.0.10/24"},
		{Name: "director", Addr: directorIP + "/24"},
		{Name: "sorry", Addr: sorryIP + "/24", Sysctls: rsSysctls},
	}
	for _, rs := range []string{"rs1", "rs2", "rs3"} {
		hosts = append(hosts, netlab.HostSpec{Name: rs, Addr: rsIPs[rs] + "/24", Sysctls: rsSysctls})
	}
	nl, err := netlab.New(t, netlab.Spec{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, net: nl, dir: dir, dbin: testutil.Bin(t, "tandem-director"), bbin: testutil.Bin(t, "tandem-backend"),
		apps: map[string]*prodlab.WebApp{}, agents: map[string]*netlab.Process{}}
	if err := os.MkdirAll(filepath.Dir(keyFile), 0o755); err != nil {
		t.Fatal(err)
	}
	// The director's cluster secret; each agent its derived key.
	if err := prodlab.WriteKeys(keyFile, []byte("tandem scenario key 0123456789abcdef"), rsIPs, filepath.Dir(keyFile)); err != nil {
		t.Fatal(err)
	}
	h, err := ipvs.New(nl.NetnsPath("director"))
	if err != nil {
		t.Fatal(err)
	}
	l.ipvs = h
	t.Cleanup(h.Close)

	if err := prodlab.StartSorryServer(nl, "sorry", net.ParseIP(vip), net.ParseIP(sorryIP)); err != nil {
		t.Fatal(err)
	}
	for _, rs := range []string{"rs1", "rs2", "rs3"} {
		a, err := prodlab.NewWebApp(nl, rs, filepath.Join(l.dir, rs))
		if err != nil {
			t.Fatal(err)
		}
		a.SlowFor, a.Logf = slowFor, t.Logf
		l.apps[rs] = a
		if err := l.apps[rs].Start(); err != nil {
			t.Fatal(err)
		}
		l.startAgent(rs)
	}
	l.conf = filepath.Join(l.dir, "keepalived.conf")
	l.sock = filepath.Join(l.dir, "director.sock")
	l.writeConf(o.weights)
	l.startDirector()
	l.waitMaster(15 * time.Second)
	want := map[string]int{}
	for rs, w := range o.weights {
		want[rsIPs[rs]] = w
	}
	l.waitIPVS("every real server in at its weight", 20*time.Second, func(d map[string]ipvs.Destination) bool {
		if len(d) != len(want) {
			return false
		}
		for ip, w := range want {
			if x, ok := d[ip]; !ok || x.Weight != w {
				return false
			}
		}
		return true
	})
	return l
}

// writeConf writes the director's keepalived.conf: the seed's with the
// lab's addresses, lvs_sync_daemon on eth0 (the lab has one segment), a
// faster delay_loop and checks (delayLoop, opsConnectTimeout, retryDelay
// with retry 1), and the real servers in weights (rs name → weight), in
// name order; rs3 is added by scenario 6.
func (l *lab) writeConf(weights map[string]int) {
	l.t.Helper()
	c := prodlab.SeedConf{RouterID: "lb1", SyncInterface: "eth0", DelayLoop: int(delayLoop / time.Second), SorryServer: sorryIP,
		ConnectTimeout: int(opsConnectTimeout / time.Second), Retry: 1, DelayBeforeRetry: int(retryDelay / time.Second)}
	for _, rs := range []string{"rs1", "rs2", "rs3"} {
		if w, ok := weights[rs]; ok {
			c.RealServers = append(c.RealServers, prodlab.SeedRealServer{Addr: rsIPs[rs], Weight: w})
		}
	}
	if err := os.WriteFile(l.conf, []byte(c.String()), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// startDirector starts tandem-director in the director's namespace, with
// its state in the lab's directory, and waits for READY.
func (l *lab) startDirector() {
	l.t.Helper()
	p, err := l.net.Start("director", "/usr/bin/env", "STATE_DIRECTORY="+filepath.Join(l.dir, "director-state"),
		l.dbin, "run", "--config", l.conf, "--socket", l.sock, "--log-level", "debug")
	if err != nil {
		l.t.Fatal(err)
	}
	l.director = p
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitOutput(ctx, "msg=ready"); err != nil {
		l.t.Fatalf("director not ready: %v", err)
	}
	l.t.Cleanup(func() {
		if l.t.Failed() && l.director != nil {
			l.t.Logf("director log (tail):\n%s", prodlab.Tail(l.director.Output(), 80))
		}
	})
}

// startAgent starts tandem-backend on rs.
func (l *lab) startAgent(rs string) {
	l.t.Helper()
	dir := filepath.Join(l.dir, rs)
	cfg := filepath.Join(dir, "backend.yaml")
	if err := os.WriteFile(cfg, []byte(backendConf(rs, dir)), 0o644); err != nil {
		l.t.Fatal(err)
	}
	p, err := l.net.Start(rs, l.bbin, "run", "--config", cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.WaitOutput(ctx, "msg=ready"); err != nil {
		l.t.Fatalf("agent on %s not ready: %v", rs, err)
	}
	l.mu.Lock()
	l.agents[rs] = p
	l.mu.Unlock()
}

func (l *lab) stopAgent(rs string) {
	l.t.Helper()
	l.mu.Lock()
	p := l.agents[rs]
	l.mu.Unlock()
	if err := p.Stop(10 * time.Second); err != nil {
		l.t.Fatalf("stop agent %s: %v", rs, err)
	}
}

// backend runs the tandem-backend CLI for rs.
func (l *lab) backend(ctx context.Context, rs string, args ...string) (string, error) {
	return prodlab.BackendCLI(ctx, l.bbin, filepath.Join(l.dir, rs, "backend.yaml"), args...)
}

// cli runs the tandem-director CLI against the lab's daemon.
func (l *lab) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, l.dbin, append(args, "--socket", l.sock)...).CombinedOutput()
	return string(out), err
}

func (l *lab) status() control.Status {
	l.t.Helper()
	out, err := l.cli("status", "--json")
	if err != nil {
		l.t.Fatalf("status: %v\n%s", err, out)
	}
	var st control.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		l.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

func (l *lab) waitMaster(limit time.Duration) {
	l.t.Helper()
	testutil.Eventually(l.t, limit, func() bool { return l.status().Role == "master" }, "the director is not MASTER")
}

// dests reads the service's destinations by address (nil when the service
// is missing): the test's own view of the kernel, independent of the
// director's code.
func (l *lab) dests() map[string]ipvs.Destination { return prodlab.Dests(l.ipvs) }

// waitIPVS polls the kernel until cond holds and returns when; it fails
// the test after limit.
func (l *lab) waitIPVS(what string, limit time.Duration, cond func(map[string]ipvs.Destination) bool) time.Time {
	l.t.Helper()
	var at time.Time
	held := func() bool {
		if d := l.dests(); d != nil && cond(d) {
			at = time.Now()
			return true
		}
		return false
	}
	if !testutil.WaitFor(limit, held) {
		out, _ := l.net.Exec("director", "ipvsadm", "-Ln")
		l.t.Fatalf("%s: not within %v; ipvsadm -Ln:\n%s", what, limit, out)
	}
	return at
}

// load starts a bounded HTTP load from the client and returns a function
// that waits for its report.
func (l *lab) load(d time.Duration, rate, keepAlive float64, expected ...string) (*loadgen.Generator, func() *loadgen.Report) {
	return l.loadPath("/", 2*time.Second, d, rate, keepAlive, expected...)
}

// loadPath is load with another path and request timeout ("/slow" answers
// after slowFor).
func (l *lab) loadPath(path string, timeout, d time.Duration, rate, keepAlive float64, expected ...string) (*loadgen.Generator, func() *loadgen.Report) {
	l.t.Helper()
	g, err := loadgen.New(loadgen.Config{
		Target:         loadgen.Target{Addr: vip + ":80", Path: path, Dial: l.net.DialContext("client"), Timeout: timeout, Expected: expected},
		Rate:           rate,
		Duration:       d,
		MaxRequests:    int(rate*d.Seconds()) + 100,
		KeepAliveRatio: keepAlive,
		KeepAliveConns: 4,
		Interval:       2 * time.Second,
		OnSnapshot:     func(s loadgen.Snapshot) { l.t.Logf("load %s %s", path, s) },
	})
	if err != nil {
		l.t.Fatal(err)
	}
	return g, runLoad(l.t, g)
}

// runLoad runs g in the background and returns a function that waits for
// its report and logs it; an error from Run fails the test. A test that
// ends before its load (t.Fatal) stops the load in its cleanup: the load's
// snapshots log through t, which must not outlive the test.
func runLoad(t *testing.T, g *loadgen.Generator) (wait func() *loadgen.Report) {
	ctx, cancel := context.WithCancel(context.Background())
	done, exited := make(chan *loadgen.Report, 1), make(chan struct{})
	go func() {
		defer close(exited)
		rep, err := g.Run(ctx)
		if err != nil && ctx.Err() == nil {
			t.Errorf("load: %v", err)
		}
		done <- rep
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	return func() *loadgen.Report {
		rep := <-done
		if rep != nil {
			t.Logf("load report:\n%s", rep)
		}
		return rep
	}
}

// failedClasses returns the classes of rep.ByClass (or a window's) other
// than OK with a non-zero count, by name.
func failedClasses(m map[loadgen.Class]int) map[string]int {
	out := map[string]int{}
	for c, n := range m {
		if n != 0 && c != loadgen.OK {
			out[c.String()] = n
		}
	}
	return out
}

// startTcpdump starts tcpdump on host's eth0 (-n -e -l --immediate-mode:
// numbers, MAC addresses, a line per packet as it comes), args after
// those, and waits until it listens; the test's cleanup stops it.
func startTcpdump(t *testing.T, n *netlab.Lab, host string, args ...string) *netlab.Process {
	t.Helper()
	p, err := n.Start(host, append([]string{"tcpdump", "-i", "eth0", "-n", "-e", "-l", "--immediate-mode"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Stop(5 * time.Second) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := p.WaitOutput(ctx, "listening on"); err != nil {
		t.Fatal(err)
	}
	return p
}

// stopTcpdump stops a startTcpdump once the last packets have reached it.
func stopTcpdump(p *netlab.Process) {
	testutil.Settle(200 * time.Millisecond) // the last packets reach tcpdump
	_ = p.Stop(5 * time.Second)
}
