package ops

// The guest-side lab: one director, two real servers running the web app,
// a sorry server, a client, and "sim", the host the simulated agents send
// from. keepalived or Tandem on the director; the real servers prepared by
// hand (the seed) or by tandem-backend.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/e2e/drlab"
	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// Lab addresses (inside the guest's namespaces only): prodlab's VIP,
// ClientIP, SorryIP, RealServers and RSIPs, and these.
const (
	vip2    = "10.99.0.101" // the second service of the heartbeat load
	simIP   = "10.99.0.50"
	simNet  = "10.99.4.0/22" // the simulated agents' real IPs, routed to sim
	keyFile = "/etc/tandem/heartbeat.key"
	labKey  = "tandem ops benchmark key 0123456789abcdef\n"
)

// directorIP is the one director's address: prodlab's first director's.
var directorIP = prodlab.DirIPs["dir1"]

// Bounds.
const (
	outBound   = 60 * time.Second // event → rs1 out
	backBound  = 60 * time.Second // restore → rs1 in at weight 1
	startBound = 40 * time.Second // daemon ready, master, both real servers in
	pollEvery  = 5 * time.Millisecond
)

// simService is the second virtual service: one real server per simulated
// agent, no checkers (always up).
func simService(addrs []netip.Addr) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nvirtual_server %s 80 {\n    lb_algo wlc\n    lb_kind DR\n    protocol TCP\n", vip2)
	for _, a := range addrs {
		fmt.Fprintf(&b, "    real_server %s 80 {\n        weight 1\n    }\n", a)
	}
	b.WriteString("}\n")
	return b.String()
}

// simAddrs are n real-server-like addresses of simNet (no .0, no .255).
func simAddrs(n int) []netip.Addr {
	p := netip.MustParsePrefix(simNet)
	var out []netip.Addr
	for a := p.Addr(); p.Contains(a) && len(out) < n; a = a.Next() {
		if b := a.As4(); b[3] != 0 && b[3] != 255 {
			out = append(out, a)
		}
	}
	return out
}

type labOpts struct {
	tandem    bool
	delayLoop int           // keepalived.conf's delay_loop
	fastProbe bool          // tandem-backend's probe at 300ms, timeout 250ms, rise 2, fall 2 (else its defaults)
	phase     time.Duration // the checker's period: events at a random phase of it
}

// lab is one phase's world.
type lab struct {
	t    *testing.T
	o    labOpts
	net  *netlab.Lab
	dir  string
	ipvs *ipvs.Handle
	conf string
	sock string
	dbin string
	bbin string

	daemon *netlab.Process // keepalived or tandem-director
	apps   map[string]*prodlab.WebApp
	agents map[string]*netlab.Process
}

func newLab(t *testing.T, o labOpts) *lab {
	t.Helper()
	rsSysctls := map[string]string{"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.eth0.rp_filter": "0"}
	hosts := []netlab.HostSpec{
		{Name: "client", Addr: prodlab.ClientIP + "/24"},
		{Name: "director", Addr: directorIP + "/24", Routes: []netlab.RouteSpec{{Dst: simNet, Via: simIP}}},
		{Name: "sorry", Addr: prodlab.SorryIP + "/24", Sysctls: rsSysctls},
		{Name: "sim", Addr: simIP + "/24"},
	}
	for _, rs := range prodlab.RealServers {
		hosts = append(hosts, netlab.HostSpec{Name: rs, Addr: prodlab.RSIPs[rs] + "/24", Sysctls: rsSysctls})
	}
	nl, err := netlab.New(t, netlab.Spec{Hosts: hosts})
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{t: t, o: o, net: nl, dir: t.TempDir(), apps: map[string]*prodlab.WebApp{}, agents: map[string]*netlab.Process{}}
	// Every address of simNet is local on sim (one local route).
	if out, err := nl.Exec("sim", "ip", "route", "add", "local", simNet, "dev", "lo"); err != nil {
		t.Fatalf("sim route: %v\n%s", err, out)
	}
	if l.ipvs, err = ipvs.New(nl.NetnsPath("director")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.ipvs.Close)
	if err := prodlab.StartSorryServer(nl, "sorry", net.ParseIP(prodlab.VIP), net.ParseIP(prodlab.SorryIP)); err != nil {
		t.Fatal(err)
	}
	if o.tandem {
		l.dbin, l.bbin = testutil.Bin(t, "tandem-director"), testutil.Bin(t, "tandem-backend")
		if err := os.MkdirAll(filepath.Dir(keyFile), 0o755); err != nil {
			t.Fatal(err)
		}
		// The director's cluster secret; each agent its derived key.
		if err := prodlab.WriteKeys(keyFile, []byte(strings.TrimSpace(labKey)), prodlab.RSIPs, filepath.Dir(keyFile)); err != nil {
			t.Fatal(err)
		}
	}
	for _, rs := range prodlab.RealServers {
		a, err := prodlab.NewWebApp(nl, rs, filepath.Join(l.dir, rs))
		if err != nil {
			t.Fatal(err)
		}
		a.Logf = t.Logf
		l.apps[rs] = a
		if err := a.Start(); err != nil {
			t.Fatal(err)
		}
		if o.tandem {
			l.startAgent(rs)
		} else {
			l.seedRealServer(rs)
		}
	}
	l.conf = filepath.Join(l.dir, "keepalived.conf")
	l.sock = filepath.Join(l.dir, "director.sock")
	l.writeConf("")
	if o.tandem {
		l.startDirector()
	} else {
		l.startKeepalived()
	}
	// Stop the daemon and empty the table before the lab goes (IPVS
	// entries of a dying namespace linger in the kernel's tables).
	t.Cleanup(func() {
		if l.daemon != nil {
			if err := l.daemon.Stop(15 * time.Second); err != nil {
				t.Logf("stop %s: %v", l.name(), err)
			}
		}
		if out, err := nl.Exec("director", "ipvsadm", "-C"); err != nil {
			t.Logf("ipvsadm -C: %v\n%s", err, out)
		}
		if t.Failed() && l.daemon != nil {
			t.Logf("%s log (tail):\n%s", l.name(), prodlab.Tail(l.daemon.Output(), 60))
		}
	})
	l.waitVIP()
	l.waitIn("both real servers in", "rs1", "rs2")
	return l
}

func (l *lab) name() string {
	if l.o.tandem {
		return "tandem-director"
	}
	return "keepalived"
}

// writeConf writes the director's keepalived.conf: the seed's
// (../shared/seed/README.md) with the lab's addresses and
// delay_loop, the sync daemon on eth0 (the lab has one segment); extra
// holds more virtual_server blocks.
func (l *lab) writeConf(extra string) {
	l.t.Helper()
	c := prodlab.SeedConf{RouterID: "lb1", SyncInterface: "eth0", DelayLoop: l.o.delayLoop, SorryServer: prodlab.SorryIP, ConnectTimeout: 3, Extra: extra}
	for _, rs := range prodlab.RealServers {
		c.RealServers = append(c.RealServers, prodlab.SeedRealServer{Addr: prodlab.RSIPs[rs], Weight: 1})
	}
	if err := os.WriteFile(l.conf, []byte(c.String()), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// seedRealServer prepares rs as the seed does by hand: the VIP on lo, the
// arp table, and a /check.txt in the web server's docroot.
func (l *lab) seedRealServer(rs string) {
	l.t.Helper()
	if out, err := l.net.Exec(rs, "ip", "addr", "add", prodlab.VIP+"/32", "dev", "lo"); err != nil {
		l.t.Fatalf("%s: VIP on lo: %v\n%s", rs, err, out)
	}
	ns, err := l.net.NsHandle(rs)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := drlab.ApplyArpTable(ns, net.ParseIP(prodlab.VIP), net.ParseIP(prodlab.RSIPs[rs])); err != nil {
		l.t.Fatal(err)
	}
	l.writeCheck(rs)
}

func (l *lab) checkFile(rs string) string { return filepath.Join(l.apps[rs].Dir(), "check.txt") }

func (l *lab) writeCheck(rs string) {
	l.t.Helper()
	if err := os.WriteFile(l.checkFile(rs), []byte("OK\n"), 0o644); err != nil {
		l.t.Fatal(err)
	}
}

func (l *lab) startKeepalived() {
	l.t.Helper()
	ka, err := exec.LookPath("keepalived")
	if err != nil {
		l.t.Fatalf("keepalived is needed (scripts/deps.sh installs it): %v", err)
	}
	p, err := l.net.Start("director", ka, "-n", "-l", "-D", "-f", l.conf,
		"-p", filepath.Join(l.dir, "keepalived.pid"), "-c", filepath.Join(l.dir, "checkers.pid"), "-r", filepath.Join(l.dir, "vrrp.pid"))
	if err != nil {
		l.t.Fatal(err)
	}
	l.daemon = p
}

func (l *lab) startDirector() {
	l.t.Helper()
	p, err := l.net.Start("director", "/usr/bin/env", "STATE_DIRECTORY="+filepath.Join(l.dir, "director-state"),
		l.dbin, "run", "--config", l.conf, "--socket", l.sock)
	if err != nil {
		l.t.Fatal(err)
	}
	l.daemon = p
	ctx, cancel := context.WithTimeout(context.Background(), startBound)
	defer cancel()
	if err := p.WaitOutput(ctx, "msg=ready"); err != nil {
		l.t.Fatalf("tandem-director not ready: %v", err)
	}
}

func (l *lab) backendConfig(rs string) string { return filepath.Join(l.apps[rs].Dir(), "backend.yaml") }

func (l *lab) startAgent(rs string) {
	l.t.Helper()
	cfg := l.backendConfig(rs)
	// The agent's documented defaults but for the addresses, the key, the
	// check file (file mode: the web app serves it) and the paths.
	c := prodlab.BackendConf{Node: rs, RealIP: prodlab.RSIPs[rs], Directors: []string{directorIP}, KeyFile: prodlab.AgentKeyFile(filepath.Dir(keyFile), rs), Dir: l.apps[rs].Dir()}
	if l.o.fastProbe {
		c.ProbeInterval, c.ProbeTimeout, c.ProbeRise, c.ProbeFall = 300*time.Millisecond, 250*time.Millisecond, 2, 2
	}
	if err := os.WriteFile(cfg, []byte(c.String()), 0o644); err != nil {
		l.t.Fatal(err)
	}
	p, err := l.net.Start(rs, l.bbin, "run", "--config", cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), startBound)
	defer cancel()
	if err := p.WaitOutput(ctx, "msg=ready"); err != nil {
		l.t.Fatalf("agent on %s not ready: %v", rs, err)
	}
	l.agents[rs] = p
	l.t.Cleanup(func() {
		if l.t.Failed() {
			l.t.Logf("agent %s log (tail):\n%s", rs, prodlab.Tail(p.Output(), 30))
		}
	})
}

// backendCLI runs the tandem-backend CLI of rs.
func (l *lab) backendCLI(rs string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return prodlab.BackendCLI(ctx, l.bbin, l.backendConfig(rs), args...)
}

// directorCLI runs the tandem-director CLI against the lab's daemon.
func (l *lab) directorCLI(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, l.dbin, append(args, "--socket", l.sock)...).CombinedOutput()
	return string(out), err
}

func (l *lab) status() (control.Status, error) {
	var st control.Status
	out, err := l.directorCLI("status", "--json")
	if err != nil {
		return st, fmt.Errorf("status: %v\n%s", err, out)
	}
	return st, json.Unmarshal([]byte(out), &st)
}

// queueFullLine starts the director's queue_full counter line.
const queueFullLine = `tandem_director_heartbeats_total{result="queue_full"} `

// queueFull reads the director's queue_full counter from its metrics,
// line by line: at 1,000 x 10 destinations the page is over 10 MiB, and a
// page cut short would read as 0.
func (l *lab) queueFull() (int, error) {
	resp, err := l.net.HTTPClient("director", 10*time.Second).Get("http://127.0.0.1:9480/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), queueFullLine); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no %q line in the director's metrics", strings.TrimSpace(queueFullLine))
}

// waitVIP waits until the director holds the VIP (VRRP master).
func (l *lab) waitVIP() {
	l.t.Helper()
	h, err := l.net.Netlink("director")
	if err != nil {
		l.t.Fatal(err)
	}
	holds := func() bool {
		addrs, err := h.AddrList(nil, syscall.AF_INET)
		if err == nil {
			for _, a := range addrs {
				if a.IP.String() == prodlab.VIP {
					return true
				}
			}
		}
		return false
	}
	if !testutil.WaitFor(startBound, holds) {
		l.t.Fatalf("%s: the director does not hold the VIP after %v", l.name(), startBound)
	}
}

// simDests counts the destinations of the second service (vip2).
func (l *lab) simDests() int {
	sim := prodlab.Service()
	sim.Address = net.ParseIP(vip2).To4()
	ds, err := l.ipvs.GetDestinations(sim)
	if err != nil {
		return 0
	}
	return len(ds)
}

// waitOut polls every pollEvery until rs is out (weight 0 or absent) and
// returns when; ok is false after outBound. It is the benchmark's clock:
// its own loop keeps the poll interval the report states (Meta.Poll),
// finer than testutil.WaitFor's.
func (l *lab) waitOut(rs string) (time.Time, bool) {
	deadline := time.Now().Add(outBound)
	for {
		now := time.Now()
		if w := prodlab.Dests(l.ipvs); w != nil && prodlab.Weight(w, prodlab.RSIPs[rs]) <= 0 {
			return now, true
		}
		if now.After(deadline) {
			return time.Time{}, false
		}
		testutil.Settle(pollEvery) // the measurement's resolution
	}
}

// waitIn waits until every named real server is in at weight 1.
func (l *lab) waitIn(what string, rss ...string) {
	l.t.Helper()
	in := func() bool {
		w := prodlab.Dests(l.ipvs)
		ok := w != nil
		for _, rs := range rss {
			ok = ok && prodlab.Weight(w, prodlab.RSIPs[rs]) == 1
		}
		return ok
	}
	if !testutil.WaitFor(backBound, in) {
		out, _ := l.net.Exec("director", "ipvsadm", "-Ln")
		l.t.Fatalf("%s: %s: not within %v; ipvsadm -Ln:\n%s", l.name(), what, backBound, out)
	}
}

// Client load.
const (
	loadRate      = 40
	loadKeepAlive = 0.25
	loadBound     = 3 * time.Minute
)

// startLoad starts the bounded client load; stop cancels it and returns
// the report (requests cut off by the stop are Aborted, not failures).
func (l *lab) startLoad() (stop func() *loadgen.Report) {
	l.t.Helper()
	g, err := loadgen.New(loadgen.Config{
		Target:         loadgen.Target{Addr: prodlab.VIP + ":80", Dial: l.net.DialContext("client"), Timeout: loadTimeout, Expected: prodlab.RealServers},
		Rate:           loadRate,
		Duration:       loadBound,
		MaxRequests:    int(loadRate*loadBound.Seconds()) + 100,
		KeepAliveRatio: loadKeepAlive,
		KeepAliveConns: 4,
	})
	if err != nil {
		l.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *loadgen.Report, 1)
	go func() {
		rep, _ := g.Run(ctx) // the error is the cancellation
		done <- rep
	}()
	return func() *loadgen.Report {
		cancel()
		return <-done
	}
}
