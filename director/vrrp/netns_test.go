package vrrp

// Netns-level tests: real sockets, netlink and keepalived 2.2.7 in network
// namespaces this file creates (a bridge in a namespace of its own, one
// namespace per host). Gated by testutil.Netns: root and TANDEM_TEST_NETNS=1.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/tandemlb/tandem/shared/testutil"
)

// helperEnv, when set, makes the test binary a Tandem VRRP instance (see
// TestMain): the netns tests start it with `ip netns exec` so that it can be
// stopped with SIGTERM and killed with SIGKILL like keepalived.
const helperEnv = "TANDEM_VRRP_HELPER_CONFIG"

func TestMain(m *testing.M) {
	if cfg := os.Getenv(helperEnv); cfg != "" {
		os.Exit(helperMain(cfg))
	}
	os.Exit(m.Run())
}

func helperMain(js string) int {
	var cfg InstanceConfig
	if err := json.Unmarshal([]byte(js), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "helper config:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	d, err := NewDriver(cfg, Options{Logger: log, NotifyTimeout: 5 * time.Second})
	if err != nil {
		log.Error("config", "err", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := d.Run(ctx); err != nil {
		log.Error("run", "err", err)
		return 1
	}
	fmt.Fprint(os.Stderr, d.Status())
	return 0
}

func sh(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

var vip4 = netip.MustParsePrefix("10.9.0.100/24")

// host is one namespace on the lab's bridge, with eth0.
type host struct {
	ns    string
	h     *netlink.Handle
	nsh   netns.NsHandle
	addr  netip.Addr
	mac   net.HardwareAddr
	index int
}

type lab struct {
	t     *testing.T
	dir   string
	br    string
	hosts []*host
}

// newLab makes a bridge namespace and n host namespaces 10.9.0.1.. on it.
func newLab(t *testing.T, n int) *lab {
	t.Helper()
	id := fmt.Sprintf("tv%d%03d", os.Getpid()%10000, rand.IntN(1000))
	l := &lab{t: t, dir: t.TempDir(), br: id + "br"}
	sh(t, "ip", "netns", "add", l.br)
	t.Cleanup(func() { exec.Command("ip", "netns", "del", l.br).Run() })
	sh(t, "ip", "-n", l.br, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
	sh(t, "ip", "-n", l.br, "link", "set", "br0", "up")
	for i := 1; i <= n; i++ {
		h := &host{ns: fmt.Sprintf("%sh%d", id, i), addr: netip.AddrFrom4([4]byte{10, 9, 0, byte(i)})}
		sh(t, "ip", "netns", "add", h.ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", h.ns).Run() })
		sh(t, "ip", "netns", "exec", h.ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0")
		port := fmt.Sprintf("p%d", i)
		sh(t, "ip", "-n", l.br, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", h.ns)
		sh(t, "ip", "-n", l.br, "link", "set", port, "master", "br0", "up")
		sh(t, "ip", "-n", h.ns, "addr", "add", netip.PrefixFrom(h.addr, 24).String(), "dev", "eth0")
		sh(t, "ip", "-n", h.ns, "link", "set", "eth0", "up")
		sh(t, "ip", "-n", h.ns, "link", "set", "lo", "up")
		nsh, err := netns.GetFromName(h.ns)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nsh.Close() })
		h.nsh = nsh
		if h.h, err = netlink.NewHandleAt(nsh); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(h.h.Close)
		link, err := h.h.LinkByName("eth0")
		if err != nil {
			t.Fatal(err)
		}
		h.mac, h.index = link.Attrs().HardwareAddr, link.Attrs().Index
		l.hosts = append(l.hosts, h)
	}
	return l
}

// holds reports whether h has addr on eth0.
func (h *host) holds(addr netip.Addr) bool {
	link, err := h.h.LinkByName("eth0")
	if err != nil {
		return false
	}
	addrs, err := h.h.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok && ip.Unmap() == addr {
			return true
		}
	}
	return false
}

// node is a VRRP speaker in a host namespace: Tandem or keepalived.
type node interface {
	start(t *testing.T)
	stop(t *testing.T) // clean: SIGTERM, wait
	kill(t *testing.T) // crash: SIGKILL, wait
	host() *host
	String() string
}

type proc struct {
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
}

func startProc(t *testing.T, h *host, logPath string, env []string, args ...string) *proc {
	t.Helper()
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("ip", append([]string{"netns", "exec", h.ns}, args...)...)
	cmd.Stdout, cmd.Stderr, cmd.Env = f, f, append(os.Environ(), env...)
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() { cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(func() { p.signal(syscall.SIGKILL); p.wait(t) })
	return p
}

func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

func (p *proc) wait(t *testing.T) {
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("pid %d did not exit in 10s", p.cmd.Process.Pid)
	}
}

func (p *proc) log() string { b, _ := os.ReadFile(p.logPath); return string(b) }

// tandemNode runs this test binary as a Tandem VRRP instance.
type tandemNode struct {
	h    *host
	cfg  InstanceConfig
	dir  string
	p    *proc
	runs int
}

func (n *tandemNode) host() *host { return n.h }
func (n *tandemNode) String() string {
	return fmt.Sprintf("tandem(%s, prio %d)", n.h.addr, n.cfg.Priority)
}

func (n *tandemNode) start(t *testing.T) {
	t.Helper()
	js, err := json.Marshal(n.cfg)
	if err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	n.runs++
	n.p = startProc(t, n.h, filepath.Join(n.dir, fmt.Sprintf("tandem-%s.log", n.h.addr)), []string{helperEnv + "=" + string(js)}, exe, "-test.run=^$")
}

func (n *tandemNode) stop(t *testing.T) { n.p.signal(syscall.SIGTERM); n.p.wait(t) }
func (n *tandemNode) kill(t *testing.T) { n.p.signal(syscall.SIGKILL); n.p.wait(t) }

// keepalivedNode runs /usr/sbin/keepalived 2.2.7, VRRP only, in the
// foreground, with its own pid files.
type keepalivedNode struct {
	h    *host
	conf string
	dir  string
	prio int
	p    *proc
	runs int
}

func (n *keepalivedNode) host() *host { return n.h }
func (n *keepalivedNode) String() string {
	return fmt.Sprintf("keepalived(%s, prio %d)", n.h.addr, n.prio)
}

func (n *keepalivedNode) files() (conf, pid, vrrpPid, chkPid string) {
	b := filepath.Join(n.dir, "keepalived-"+n.h.addr.String())
	return b + ".conf", b + ".pid", b + ".vrrp.pid", b + ".chk.pid"
}

func (n *keepalivedNode) start(t *testing.T) {
	t.Helper()
	conf, pid, vpid, cpid := n.files()
	if err := os.WriteFile(conf, []byte(n.conf), 0o644); err != nil {
		t.Fatal(err)
	}
	n.runs++
	n.p = startProc(t, n.h, conf+".log", nil, "/usr/sbin/keepalived", "-n", "-l", "-P", "-D",
		"-f", conf, "-p", pid, "-r", vpid, "-c", cpid)
}

func (n *keepalivedNode) stop(t *testing.T) { n.p.signal(syscall.SIGTERM); n.p.wait(t) }

// kill freezes keepalived's parent and VRRP child, then SIGKILLs both: the
// child can neither be told to stop cleanly nor be respawned.
func (n *keepalivedNode) kill(t *testing.T) {
	_, _, vpid, _ := n.files()
	child := 0
	if b, err := os.ReadFile(vpid); err == nil {
		child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	n.p.signal(syscall.SIGSTOP)
	if child > 0 {
		syscall.Kill(child, syscall.SIGSTOP)
		syscall.Kill(child, syscall.SIGKILL)
	}
	n.p.signal(syscall.SIGKILL)
	n.p.wait(t)
	if child > 0 { // bounded: the child is being reaped
		testutil.WaitFor(time.Second, func() bool { return syscall.Kill(child, 0) != nil })
	}
}

// spec describes one VRRP instance for both implementations.
type spec struct {
	version   int
	prio      uint8
	nopreempt bool
	notify    string
	vip       netip.Prefix // default vip4
	peer      netip.Addr   // unicast to this peer when set
	track     []string     // track_interface
	garpDelay time.Duration
}

func (s spec) theVIP() netip.Prefix {
	if s.vip.IsValid() {
		return s.vip
	}
	return vip4
}

func keepalivedConf(h *host, s spec) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "global_defs {\n    router_id ka-%s\n}\n", h.addr)
	fmt.Fprintf(&b, "vrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority %d\n", s.prio)
	if s.nopreempt {
		b.WriteString("    nopreempt\n")
	}
	fmt.Fprintf(&b, "    advert_int 1\n    version %d\n", s.version)
	if s.version == 2 {
		b.WriteString("    authentication {\n        auth_type PASS\n        auth_pass password\n    }\n")
	}
	if s.peer.IsValid() {
		fmt.Fprintf(&b, "    unicast_src_ip %s\n    unicast_peer {\n        %s\n    }\n", h.addr, s.peer)
	}
	fmt.Fprintf(&b, "    virtual_ipaddress {\n        %s dev eth0\n    }\n}\n", s.theVIP())
	return b.String()
}

func tandemConf(h *host, s spec) InstanceConfig {
	c := InstanceConfig{Name: "VI_1", Interface: "eth0", VRID: 51, Priority: s.prio, Nopreempt: s.nopreempt,
		AdvertInterval: time.Second, Version: s.version, VIPs: []VIP{{Prefix: s.theVIP()}}, Notify: s.notify,
		TrackInterfaces: s.track, GARPMasterDelay: s.garpDelay}
	if s.peer.IsValid() {
		c.UnicastSrc, c.UnicastPeers = h.addr, []netip.Addr{s.peer}
	}
	if s.version == 2 {
		c.AuthPass = "password"
	}
	return c
}

func (l *lab) tandem(i int, s spec) *tandemNode {
	if s.notify == "" {
		s.notify = "echo >>" + filepath.Join(l.dir, fmt.Sprintf("notify-%d.txt", i))
	}
	return &tandemNode{h: l.hosts[i], cfg: tandemConf(l.hosts[i], s), dir: l.dir}
}

func (l *lab) keepalived(i int, s spec) *keepalivedNode {
	return &keepalivedNode{h: l.hosts[i], conf: keepalivedConf(l.hosts[i], s), dir: l.dir, prio: int(s.prio)}
}

// monitor polls every host's eth0 for the VIP every 10 ms and records
// every sample where more than one live host holds it.
type sample struct {
	at  time.Time
	all []*host // every host holding the VIP, live or not
}

type monitor struct {
	t       *testing.T
	hosts   []*host
	vip     netip.Addr
	mu      sync.Mutex
	alive   map[*host]bool
	holders []*host // last sample, live hosts only
	seen    time.Time
	history []sample
	phase   string
	bad     []string
	overlap struct {
		start time.Time // of the current run of samples with two live holders
		phase string
		runs  []string // preemption overlaps seen, for the log
	}
	samples int
	stop    chan struct{}
	done    chan struct{}
}

func newMonitor(t *testing.T, hosts []*host, vip netip.Addr) *monitor {
	m := &monitor{t: t, hosts: hosts, vip: vip, alive: map[*host]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	go m.loop()
	t.Cleanup(m.close)
	return m
}

func (m *monitor) close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

func (m *monitor) loop() {
	defer close(m.done)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-tick.C:
		}
		var hs, all []*host
		var names []string
		m.mu.Lock()
		alive := make(map[*host]bool, len(m.alive))
		for k, v := range m.alive {
			alive[k] = v
		}
		m.mu.Unlock()
		for _, h := range m.hosts {
			if h.holds(m.vip) {
				all = append(all, h)
				if alive[h] {
					hs = append(hs, h)
					names = append(names, h.addr.String())
				}
			}
		}
		now := time.Now()
		m.mu.Lock()
		m.holders, m.seen = hs, now
		m.history = append(m.history, sample{now, all})
		m.samples++
		m.account(now, hs, names)
		m.mu.Unlock()
	}
}

// preemptOverlap is how long two live hosts may hold the VIP while a
// higher-priority router preempts: RFC 5798 has the new master add the VIP
// and then advertise, and the old one release it when the advert arrives.
// keepalived also sends its GARP burst before the advert. Anywhere else, one
// sample with two holders fails the test.
const preemptOverlap = 100 * time.Millisecond

// account records overlaps (called with m.mu held).
func (m *monitor) account(now time.Time, hs []*host, names []string) {
	o := &m.overlap
	switch {
	case len(hs) > 1 && o.start.IsZero():
		o.start, o.phase = now, m.phase
	case len(hs) > 1:
	case !o.start.IsZero():
		d := now.Sub(o.start)
		line := fmt.Sprintf("%s (%s): two holders for %v", o.start.Format("15:04:05.000"), o.phase, d.Round(time.Millisecond))
		if strings.Contains(o.phase, "preempt") && d <= preemptOverlap {
			o.runs = append(o.runs, line)
		} else {
			m.bad = append(m.bad, line)
		}
		o.start = time.Time{}
	}
	if len(hs) > 1 && !strings.Contains(m.phase, "preempt") {
		m.bad = append(m.bad, fmt.Sprintf("%s (%s): VIP on %v", now.Format("15:04:05.000"), m.phase, names))
	}
}

// mark names the phase that the next samples belong to.
func (m *monitor) mark(phase string) {
	m.mu.Lock()
	m.phase = phase
	m.mu.Unlock()
}

// firstHeld returns the time of the first sample at or after since in which
// h held the VIP.
func (m *monitor) firstHeld(h *host, since time.Time) time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, s := range m.history {
		if s.at.Before(since) {
			continue
		}
		for _, x := range s.all {
			if x == h {
				return s.at
			}
		}
	}
	return time.Time{}
}

// waitGone waits (bounded) until h no longer holds the VIP: a restarted
// node must clear what its crashed predecessor left.
func (m *monitor) waitGone(t *testing.T, h *host, timeout time.Duration, why string) {
	t.Helper()
	testutil.Eventually(t, timeout, func() bool { return !h.holds(m.vip) }, "%s: %s still holds the VIP", why, h.addr)
}

func (m *monitor) setAlive(h *host, alive bool) {
	m.mu.Lock()
	m.alive[h] = alive
	m.mu.Unlock()
}

// waitHolder waits until h is the only live holder (bounded by timeout) and
// returns when that was first seen.
func (m *monitor) waitHolder(t *testing.T, h *host, timeout time.Duration, why string) time.Time {
	t.Helper()
	var at time.Time
	testutil.Eventually(t, timeout, func() bool {
		m.mu.Lock()
		hs, seen := m.holders, m.seen
		m.mu.Unlock()
		at = seen
		return len(hs) == 1 && hs[0] == h
	}, "%s: %s never became the only VIP holder", why, h.addr)
	return at
}

// holdFor checks that h stays the only live holder for d.
func (m *monitor) holdFor(t *testing.T, h *host, d time.Duration, why string) {
	t.Helper()
	// The condition never holds: it is checked until d has passed and
	// fails the test at the first sample with another holder.
	testutil.WaitFor(d, func() bool {
		m.mu.Lock()
		hs := m.holders
		m.mu.Unlock()
		if len(hs) != 1 || hs[0] != h {
			var names []string
			for _, x := range hs {
				names = append(names, x.addr.String())
			}
			t.Fatalf("%s: VIP holders %v, want only %s", why, names, h.addr)
		}
		return false
	})
}

func (m *monitor) check(t *testing.T) {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.overlap.start.IsZero() {
		m.bad = append(m.bad, fmt.Sprintf("%s (%s): two holders until the end", m.overlap.start.Format("15:04:05.000"), m.overlap.phase))
	}
	if len(m.bad) > 0 {
		t.Errorf("the VIP was on more than one live host (%d samples taken): %v", m.samples, m.bad)
	}
	for _, r := range m.overlap.runs {
		t.Logf("preemption overlap (allowed up to %v): %s", preemptOverlap, r)
	}
}

// takeovers collects measured takeover times for the summary log.
var takeovers = struct {
	sync.Mutex
	lines []string
}{}

func record(t *testing.T, what string, d time.Duration) {
	t.Logf("takeover %s: %v", what, d.Round(time.Millisecond))
	takeovers.Lock()
	takeovers.lines = append(takeovers.lines, fmt.Sprintf("%-60s %v", t.Name()+" "+what, d.Round(time.Millisecond)))
	takeovers.Unlock()
}

// failover runs the standard sequence with hi (higher priority) and lo:
// hi becomes master, lo stays backup, clean stop of hi → lo, hi back →
// preempts, SIGKILL of hi → lo, hi back after the crash → preempts again.
func failover(t *testing.T, vip netip.Addr, hi, lo node, logs ...func() string) {
	m := newMonitor(t, []*host{hi.host(), lo.host()}, vip)
	defer func() {
		if t.Failed() {
			for _, l := range logs {
				t.Log(l())
			}
		}
	}()
	m.mark("hi alone")
	m.setAlive(hi.host(), true)
	hi.start(t)
	m.waitHolder(t, hi.host(), 10*time.Second, hi.String()+" alone")
	m.mark("lo joins")
	m.setAlive(lo.host(), true)
	lo.start(t)
	m.holdFor(t, hi.host(), 4500*time.Millisecond, lo.String()+" joined: "+hi.String()+" must stay master")

	m.mark("clean stop of hi")
	t0 := time.Now()
	hi.stop(t)
	m.setAlive(hi.host(), false)
	m.waitHolder(t, lo.host(), 5*time.Second, "clean stop of "+hi.String())
	record(t, fmt.Sprintf("clean stop %s -> %s", hi, lo), m.firstHeld(lo.host(), t0).Sub(t0))
	if hi.host().holds(vip) {
		t.Errorf("%s kept the VIP after a clean stop", hi)
	}

	m.mark("hi back, preempts")
	m.setAlive(hi.host(), true)
	t0 = time.Now()
	hi.start(t)
	m.waitHolder(t, hi.host(), 8*time.Second, hi.String()+" back: preempts")
	t.Logf("%s preempted after %v", hi, m.firstHeld(hi.host(), t0).Sub(t0).Round(time.Millisecond))

	m.mark("SIGKILL of hi")
	t0 = time.Now()
	m.setAlive(hi.host(), false) // a dead host's leftover VIP does not count
	hi.kill(t)
	m.waitHolder(t, lo.host(), 8*time.Second, "SIGKILL of "+hi.String())
	record(t, fmt.Sprintf("SIGKILL %s -> %s", hi, lo), m.firstHeld(lo.host(), t0).Sub(t0))

	m.mark("hi back after crash, preempts")
	hi.start(t)
	m.waitGone(t, hi.host(), 2*time.Second, hi.String()+" restarted after a crash")
	m.setAlive(hi.host(), true)
	m.waitHolder(t, hi.host(), 8*time.Second, hi.String()+" back after a crash")
	m.holdFor(t, hi.host(), 500*time.Millisecond, hi.String()+" master again")
	m.mark("end")
	lo.stop(t)
	hi.stop(t)
	m.close()
	m.check(t)
	checkLogs(t, hi, lo)
}

// checkLogs fails on a Tandem node that dropped a packet or logged an error:
// between compatible peers nothing may be refused.
func checkLogs(t *testing.T, nodes ...node) {
	t.Helper()
	for _, n := range nodes {
		switch n := n.(type) {
		case *tandemNode:
			for _, line := range strings.Split(n.p.log(), "\n") {
				if strings.Contains(line, "vrrp packet dropped") || strings.Contains(line, "level=ERROR") || strings.Contains(line, "DATA RACE") {
					t.Errorf("%s: %s", n, line)
				}
			}
		case *keepalivedNode:
			// keepalived's words for an advert it refused (vrrp.c).
			for _, line := range strings.Split(n.p.log(), "\n") {
				l := strings.ToLower(line)
				for _, bad := range []string{"invalid", "mismatch", "not present", "too short", "wrong"} {
					if strings.Contains(l, bad) {
						t.Errorf("%s refused our advert: %s", n, line)
						break
					}
				}
			}
		}
	}
}

// nopreempt: lo is master, hi (nopreempt) joins and must not take over;
// only a clean stop of lo hands the VIP over.
func nopreempt(t *testing.T, vip netip.Addr, lo, hi node, logs ...func() string) {
	m := newMonitor(t, []*host{hi.host(), lo.host()}, vip)
	defer func() {
		if t.Failed() {
			for _, l := range logs {
				t.Log(l())
			}
		}
	}()
	m.setAlive(lo.host(), true)
	lo.start(t)
	m.waitHolder(t, lo.host(), 10*time.Second, lo.String()+" alone")
	m.setAlive(hi.host(), true)
	hi.start(t)
	m.holdFor(t, lo.host(), 5*time.Second, hi.String()+" (nopreempt) joined: "+lo.String()+" must stay master")
	t0 := time.Now()
	lo.stop(t)
	m.setAlive(lo.host(), false)
	m.waitHolder(t, hi.host(), 5*time.Second, "clean stop of "+lo.String())
	record(t, fmt.Sprintf("clean stop %s -> %s (nopreempt)", lo, hi), m.firstHeld(hi.host(), t0).Sub(t0))
	hi.stop(t)
	m.close()
	m.check(t)
	checkLogs(t, hi, lo)
}

func logOf(n node) func() string {
	return func() string {
		switch n := n.(type) {
		case *tandemNode:
			if n.p != nil {
				return n.String() + " log:\n" + n.p.log()
			}
		case *keepalivedNode:
			if n.p != nil {
				return n.String() + " log:\n" + n.p.log()
			}
		}
		return ""
	}
}

func TestNetnsTandemPair(t *testing.T) {
	testutil.Netns(t)
	for _, v := range []int{2, 3} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			l := newLab(t, 2)
			hi, lo := l.tandem(0, spec{version: v, prio: 150}), l.tandem(1, spec{version: v, prio: 100})
			failover(t, vip4.Addr(), hi, lo, logOf(hi), logOf(lo))
			// notify got keepalived's four arguments for each transition.
			b, err := os.ReadFile(filepath.Join(l.dir, "notify-0.txt"))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"INSTANCE VI_1 BACKUP 150", "INSTANCE VI_1 MASTER 150", "INSTANCE VI_1 STOP 150"} {
				if !strings.Contains(string(b), want) {
					t.Errorf("notify output lacks %q:\n%s", want, b)
				}
			}
		})
	}
}

func TestNetnsTandemNopreempt(t *testing.T) {
	testutil.Netns(t)
	l := newLab(t, 2)
	lo, hi := l.tandem(0, spec{version: 3, prio: 100}), l.tandem(1, spec{version: 3, prio: 150, nopreempt: true})
	nopreempt(t, vip4.Addr(), lo, hi, logOf(lo), logOf(hi))
}

func TestNetnsKeepalivedInterop(t *testing.T) {
	testutil.Netns(t)
	if _, err := os.Stat("/usr/sbin/keepalived"); err != nil {
		t.Fatalf("keepalived is needed for the interop tests (apt-get install keepalived): %v", err)
	}
	for _, v := range []int{2, 3} {
		t.Run(fmt.Sprintf("v%d/keepalived-master", v), func(t *testing.T) {
			l := newLab(t, 2)
			hi, lo := l.keepalived(0, spec{version: v, prio: 150}), l.tandem(1, spec{version: v, prio: 100})
			failover(t, vip4.Addr(), hi, lo, logOf(hi), logOf(lo))
		})
		t.Run(fmt.Sprintf("v%d/tandem-master", v), func(t *testing.T) {
			l := newLab(t, 2)
			hi, lo := l.tandem(0, spec{version: v, prio: 150}), l.keepalived(1, spec{version: v, prio: 100})
			failover(t, vip4.Addr(), hi, lo, logOf(hi), logOf(lo))
		})
		t.Run(fmt.Sprintf("v%d/tandem-nopreempt", v), func(t *testing.T) {
			l := newLab(t, 2)
			lo, hi := l.keepalived(0, spec{version: v, prio: 100}), l.tandem(1, spec{version: v, prio: 150, nopreempt: true})
			nopreempt(t, vip4.Addr(), lo, hi, logOf(lo), logOf(hi))
		})
		t.Run(fmt.Sprintf("v%d/keepalived-nopreempt", v), func(t *testing.T) {
			l := newLab(t, 2)
			lo, hi := l.tandem(0, spec{version: v, prio: 100}), l.keepalived(1, spec{version: v, prio: 150, nopreempt: true})
			nopreempt(t, vip4.Addr(), lo, hi, logOf(lo), logOf(hi))
		})
	}
	takeovers.Lock()
	defer takeovers.Unlock()
	t.Log("takeover times measured (poll resolution 10 ms):\n" + strings.Join(takeovers.lines, "\n"))
}
