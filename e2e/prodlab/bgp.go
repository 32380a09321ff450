package prodlab

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/ipvs"
	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The BGP lab (issue 18, docs/scale-out.md): the client on a segment of
// its own ("up") behind an FRR router (zebra and bgpd of Debian's frr,
// scripts/frr.sh), three tandem-directors in BGP mode on the LAN, each
// announcing the VIP to the router over eBGP, two real servers with
// tandem-backend reporting to all three. The router installs the VIP's
// route with one next hop per director that announces it and spreads the
// flows over them by their 4-tuple (fib_multipath_hash_policy 1); every
// director schedules with mh (Maglev hashing, mh-fallback and mh-port)
// and sloppy_tcp, so a flow that moves to another director meets the same
// real server there.
const (
	// BGPVIP is the service's address: on lo of every director and real
	// server, outside every segment, reached through the router's route.
	BGPVIP = "10.97.0.100"
	// BGPClientIP is the client's address on "up"; BGPRouterUp the
	// router's there, BGPRouterIP the router's on the LAN.
	BGPClientIP = "10.98.0.10"
	BGPRouterUp = "10.98.0.1"
	BGPRouterIP = "10.99.0.1"
	// BGPRouterAS and BGPDirectorAS are the router's and the directors'
	// AS numbers (eBGP).
	BGPRouterAS   = 65000
	BGPDirectorAS = 65001
	// BGPHoldTime is each session's hold time: the longest a dead
	// director's routes stay (BGP's minimum; the lab has no BFD).
	BGPHoldTime = 3 * time.Second
	// BGPGracefulWait is the directors' graceful_shutdown_wait.
	BGPGracefulWait = 2 * time.Second
)

// BGPDirectors are the directors of the BGP lab and BGPDirIPs their
// addresses; the real servers are RealServers at RSIPs.
var (
	BGPDirectors = []string{"dir1", "dir2", "dir3"}
	BGPDirIPs    = map[string]string{"dir1": "10.99.0.2", "dir2": "10.99.0.3", "dir3": "10.99.0.4"}
)

// BGPOptions describe a BGP lab.
type BGPOptions struct {
	// Bin is the directory of tandem-director (tandem-bgp-speaker beside
	// it) and tandem-backend.
	Bin string
	// Dir is the working directory; it must exist and is not removed.
	Dir string
	// FRR is scripts/frr.sh.
	FRR string
}

// BGPLab is the BGP lab: NewBGPLab builds the namespaces, Setup starts
// the router, the real servers and the directors.
type BGPLab struct {
	Net *netlab.Lab
	Dir string
	// DirectorBin and BackendBin are the binaries.
	DirectorBin, BackendBin string
	// Apps are the real servers' web apps.
	Apps map[string]*WebApp

	opts BGPOptions
	ipvs map[string]*ipvs.Handle

	mu    sync.Mutex
	procs map[string]*netlab.Process
}

// NewBGPLab builds the lab's namespaces, writes the keys and opens an IPVS
// handle in each director. It closes with tb.
func NewBGPLab(tb testing.TB, o BGPOptions) (*BGPLab, error) {
	l := &BGPLab{Dir: o.Dir, opts: o, Apps: map[string]*WebApp{}, ipvs: map[string]*ipvs.Handle{}, procs: map[string]*netlab.Process{},
		DirectorBin: filepath.Join(o.Bin, "tandem-director"), BackendBin: filepath.Join(o.Bin, "tandem-backend")}
	for _, b := range []string{l.DirectorBin, l.BackendBin, filepath.Join(o.Bin, "tandem-bgp-speaker"), o.FRR} {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("%w (run `make build` first)", err)
		}
	}
	rp := map[string]string{"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.eth0.rp_filter": "0"}
	hosts := []netlab.HostSpec{
		{Name: "client", Addr: BGPClientIP + "/24", Segment: "up", Routes: []netlab.RouteSpec{{Dst: "default", Via: BGPRouterUp}}},
		{Name: "router", Addr: BGPRouterUp + "/24", Segment: "up",
			Links: []netlab.LinkSpec{{Name: "eth1", Segment: netlab.DefaultSegment, Addrs: []string{BGPRouterIP + "/24"}}},
			Sysctls: map[string]string{"net.ipv4.ip_forward": "1", "net.ipv4.fib_multipath_hash_policy": "1",
				"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.eth0.rp_filter": "0", "net.ipv4.conf.eth1.rp_filter": "0"}},
	}
	for _, d := range BGPDirectors {
		hosts = append(hosts, netlab.HostSpec{Name: d, Addr: BGPDirIPs[d] + "/24", Routes: []netlab.RouteSpec{{Dst: "default", Via: BGPRouterIP}}, Sysctls: rp})
	}
	for _, rs := range RealServers {
		hosts = append(hosts, netlab.HostSpec{Name: rs, Addr: RSIPs[rs] + "/24", Routes: []netlab.RouteSpec{{Dst: "default", Via: BGPRouterIP}}, Sysctls: rp})
	}
	nl, err := netlab.New(tb, netlab.Spec{Hosts: hosts})
	if err != nil {
		return nil, err
	}
	l.Net = nl
	nl.OnClose(func() error {
		for _, h := range l.ipvs {
			h.Close()
		}
		return nil
	})
	if err := WriteKeys(filepath.Join(l.Dir, "heartbeat.key"), []byte(PairSecret), RSIPs, l.Dir); err != nil {
		return l, err
	}
	for _, d := range BGPDirectors {
		h, err := ipvs.New(nl.NetnsPath(d))
		if err != nil {
			return l, fmt.Errorf("ipvs in %s: %w", d, err)
		}
		l.ipvs[d] = h
	}
	return l, nil
}

// Setup starts the router, the real servers and the three directors, and
// waits until the router's route to the VIP has a next hop per director.
func (l *BGPLab) Setup(ctx context.Context) error {
	if err := l.StartRouter(ctx); err != nil {
		return err
	}
	for _, rs := range RealServers {
		a, err := NewWebApp(l.Net, rs, filepath.Join(l.Dir, rs))
		if err != nil {
			return err
		}
		l.Apps[rs] = a
		if err := a.Start(); err != nil {
			return err
		}
		if err := l.StartAgent(ctx, rs); err != nil {
			return err
		}
	}
	for _, d := range BGPDirectors {
		if err := l.WriteConfig(d, l.DirectorConf(d)); err != nil {
			return err
		}
		if err := l.StartDirector(ctx, d); err != nil {
			return err
		}
	}
	if _, err := l.WaitNextHops(60*time.Second, BGPDirectors...); err != nil {
		return err
	}
	return nil
}

// routerConf is bgpd's configuration: one eBGP neighbour per director,
// the hold time of BGPHoldTime, connect retry 1 s, multipath over every
// director (eBGP, same neighbour AS).
func routerConf() string {
	var b strings.Builder
	fmt.Fprintf(&b, "frr defaults traditional\nhostname router\nlog stdout warnings\nrouter bgp %d\n bgp router-id %s\n no bgp ebgp-requires-policy\n", BGPRouterAS, BGPRouterIP)
	hold := int(BGPHoldTime / time.Second)
	for _, d := range BGPDirectors {
		ip := BGPDirIPs[d]
		fmt.Fprintf(&b, " neighbor %s remote-as %d\n neighbor %s timers %d %d\n neighbor %s timers connect 1\n", ip, BGPDirectorAS, ip, max(hold/3, 1), hold, ip)
	}
	b.WriteString(" address-family ipv4 unicast\n  maximum-paths 8\n exit-address-family\n")
	return b.String()
}

// StartRouter starts zebra and bgpd in the router's namespace (their
// sockets, pid files and configuration in Dir/router).
func (l *BGPLab) StartRouter(ctx context.Context) error {
	dir := filepath.Join(l.Dir, "router")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, text := range map[string]string{"zebra.conf": "hostname router\nlog stdout warnings\n", "bgpd.conf": routerConf(), "vtysh.conf": "username root nopassword\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			return err
		}
	}
	zsock := filepath.Join(dir, "zserv.api")
	zebra, err := l.Net.Start("router", "/usr/bin/env", "TANDEM_FRR_TOOL=zebra", l.opts.FRR, "-f", filepath.Join(dir, "zebra.conf"),
		"-i", filepath.Join(dir, "zebra.pid"), "-z", zsock, "--vty_socket", dir, "-u", "root", "-g", "root", "-P", "0", "--log", "stdout")
	if err != nil {
		return err
	}
	l.setProc("zebra", zebra)
	if !testutil.WaitFor(20*time.Second, func() bool { _, err := os.Stat(zsock); return err == nil }) {
		return fmt.Errorf("zebra did not open %s:\n%s", zsock, Tail(zebra.Output(), 20))
	}
	bgpd, err := l.Net.Start("router", l.opts.FRR, "-f", filepath.Join(dir, "bgpd.conf"), "-i", filepath.Join(dir, "bgpd.pid"),
		"-z", zsock, "--vty_socket", dir, "-S", "-P", "0", "--log", "stdout")
	if err != nil {
		return err
	}
	l.setProc("bgpd", bgpd)
	c, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := bgpd.WaitOutput(c, "starting"); err != nil {
		return fmt.Errorf("bgpd did not start: %w\n%s", err, Tail(bgpd.Output(), 20))
	}
	return nil
}

// Vtysh runs a vtysh command on the router's daemons.
func (l *BGPLab) Vtysh(ctx context.Context, command string) (string, error) {
	dir := filepath.Join(l.Dir, "router")
	cmd := exec.CommandContext(ctx, l.opts.FRR, "--config_dir", dir, "--vty_socket", dir, "-c", command)
	cmd.Env = append(os.Environ(), "TANDEM_FRR_TOOL=vtysh")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// DirectorConf is director name's native configuration: BGP mode with
// the router as its one peer, the two other directors for the
// fingerprint agreement, the VIP's service with mh (mh-fallback,
// mh-port) and HTTP_GET checks as the fallback of the agents' reports,
// sloppy_tcp on.
func (l *BGPLab) DirectorConf(name string) string { return l.DirectorConfWeights(name, nil) }

// DirectorConfWeights is DirectorConf with the weights of weights (real
// server name -> weight) instead of 1: a director whose table differs
// from the others'. Every director lists the two others in bgp.directors
// (the fingerprint agreement, on its own address).
func (l *BGPLab) DirectorConfWeights(name string, weights map[string]int) string {
	var others []string
	for _, d := range BGPDirectors {
		if d != name {
			others = append(others, BGPDirIPs[d])
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `version: 1
node: %[1]s
heartbeat:
  key_file: %[2]s/heartbeat.key
control_socket: %[2]s/%[1]s.sock
ipvs:
  sloppy_tcp: true
bgp:
  local_as: %[3]d
  router_id: %[4]s
  graceful_shutdown_wait: %[5]s
  peers:
    - address: %[6]s
      as: %[7]d
      hold_time: %[8]s
  directors: [%[10]s]
  agreement_address: %[4]s
virtual_servers:
  - address: %[9]s:80
    protocol: TCP
    lvs_sched: mh
    scheduler_flags: [mh-fallback, mh-port]
    lvs_method: DR
    delay_loop: 2s
    real_servers:
`, name, l.Dir, BGPDirectorAS, BGPDirIPs[name], BGPGracefulWait, BGPRouterIP, BGPRouterAS, BGPHoldTime, BGPVIP, strings.Join(others, ", "))
	for _, rs := range RealServers {
		w, ok := weights[rs]
		if !ok {
			w = 1
		}
		fmt.Fprintf(&b, `      - address: %s:80
        weight: %d
        checks:
          - type: HTTP_GET
            connect_timeout: 2s
            retry: 2
            delay_before_retry: 1s
            url:
              - path: /check.txt
`, RSIPs[rs], w)
	}
	return b.String()
}

// ConfigPath is director name's configuration file.
func (l *BGPLab) ConfigPath(name string) string { return filepath.Join(l.Dir, name+".yaml") }

// Socket is director name's control socket.
func (l *BGPLab) Socket(name string) string { return filepath.Join(l.Dir, name+".sock") }

// StartDirector starts tandem-director on name and waits for READY.
func (l *BGPLab) StartDirector(ctx context.Context, name string) error {
	proc, err := l.Net.Start(name, "/usr/bin/env", "STATE_DIRECTORY="+filepath.Join(l.Dir, name+"-state"),
		l.DirectorBin, "run", "--config", l.ConfigPath(name))
	if err != nil {
		return err
	}
	l.setProc(name, proc)
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := proc.WaitOutput(c, "msg=ready"); err != nil {
		return fmt.Errorf("%s not ready: %w\n%s", name, err, Tail(proc.Output(), 30))
	}
	return nil
}

// StartAgent starts tandem-backend on rs, reporting to the three
// directors, and waits for READY. Its probe allows 1 s and three misses:
// three directors, their speakers, FRR and the load share a TCG guest,
// and a real server taken out for a slow answer is not what the BGP
// scenarios measure.
func (l *BGPLab) StartAgent(ctx context.Context, rs string) error {
	dir := filepath.Join(l.Dir, rs)
	var dirs []string
	for _, d := range BGPDirectors {
		dirs = append(dirs, BGPDirIPs[d])
	}
	conf := BackendConf{Node: rs, RealIP: RSIPs[rs], VIPs: []string{BGPVIP}, Directors: dirs,
		KeyFile: AgentKeyFile(l.Dir, rs), HeartbeatInterval: time.Second,
		ProbeInterval: time.Second, ProbeTimeout: time.Second, ProbeRise: 2, ProbeFall: 3, Dir: dir}
	cfg := filepath.Join(dir, "backend.yaml")
	if err := os.WriteFile(cfg, []byte(conf.String()), 0o644); err != nil {
		return err
	}
	proc, err := l.Net.Start(rs, l.BackendBin, "run", "--config", cfg)
	if err != nil {
		return err
	}
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := proc.WaitOutput(c, "msg=ready"); err != nil {
		return fmt.Errorf("agent on %s not ready: %w\n%s", rs, err, Tail(proc.Output(), 30))
	}
	l.setProc(rs, proc)
	return nil
}

// Backend runs the tandem-backend CLI for rs.
func (l *BGPLab) Backend(ctx context.Context, rs string, args ...string) (string, error) {
	return BackendCLI(ctx, l.BackendBin, filepath.Join(l.Dir, rs, "backend.yaml"), args...)
}

func (l *BGPLab) setProc(name string, p *netlab.Process) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.procs[name] = p
}

// Process returns the process of a director, agent, "zebra" or "bgpd";
// a stopped director's is kept as "dirN (stopped)".
func (l *BGPLab) Process(name string) *netlab.Process {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.procs[name]
}

// StopDirector ends director name with sig (SIGTERM: a clean stop, waited
// for up to grace; SIGKILL: killed with its speaker, as a dead machine
// would be, its link taken down first when linkDown). Its process stays
// readable as "name (stopped)".
func (l *BGPLab) StopDirector(name string, sig syscall.Signal, grace time.Duration, linkDown bool) error {
	proc := l.Process(name)
	if proc == nil {
		return fmt.Errorf("%s is not running", name)
	}
	if linkDown {
		if err := l.LinkSet(name, "eth0", false); err != nil {
			return err
		}
	}
	var err error
	if sig == syscall.SIGKILL {
		err = proc.Signal(syscall.SIGKILL) // the whole group: the speaker too
		<-proc.Done()
	} else {
		err = proc.Stop(grace)
	}
	l.mu.Lock()
	l.procs[name+" (stopped)"] = proc
	delete(l.procs, name)
	l.mu.Unlock()
	return err
}

// LinkSet takes a host's interface down or up.
func (l *BGPLab) LinkSet(host, ifname string, up bool) error {
	h, err := l.Net.Netlink(host)
	if err != nil {
		return err
	}
	lk, err := h.LinkByName(ifname)
	if err != nil {
		return err
	}
	if up {
		return h.LinkSetUp(lk)
	}
	return h.LinkSetDown(lk)
}

// NextHops are the gateways of the router's kernel route to BGPVIP (the
// route zebra installed from bgpd's multipath best paths), sorted; none
// when there is no such route.
func (l *BGPLab) NextHops() []string {
	h, err := l.Net.Netlink("router")
	if err != nil {
		return nil
	}
	dst := &net.IPNet{IP: net.ParseIP(BGPVIP).To4(), Mask: net.CIDRMask(32, 32)}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Dst: dst, Table: syscall.RT_TABLE_MAIN}, netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil
	}
	var out []string
	for _, r := range routes {
		if r.Gw != nil {
			out = append(out, r.Gw.String())
		}
		for _, nh := range r.MultiPath {
			out = append(out, nh.Gw.String())
		}
	}
	slices.Sort(out)
	return out
}

// WaitNextHops waits until the router's route to the VIP has exactly the
// addresses of dirs as next hops and returns when.
func (l *BGPLab) WaitNextHops(limit time.Duration, dirs ...string) (time.Time, error) {
	var want []string
	for _, d := range dirs {
		want = append(want, BGPDirIPs[d])
	}
	slices.Sort(want)
	var at time.Time
	if testutil.WaitFor(limit, func() bool {
		if slices.Equal(l.NextHops(), want) {
			at = time.Now()
			return true
		}
		return false
	}) {
		return at, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sum, _ := l.Vtysh(ctx, "show bgp ipv4 unicast summary")
	rt, _ := l.Vtysh(ctx, "show ip route "+BGPVIP)
	return time.Time{}, fmt.Errorf("router's next hops for %s: %v, want %v within %v\n%s\n%s", BGPVIP, l.NextHops(), want, limit, sum, rt)
}

// Service is the lab's IPVS service.
func (l *BGPLab) Service() *ipvs.Service { return ServiceOf(BGPVIP) }

// Dests reads director name's destinations of the service by address.
func (l *BGPLab) Dests(name string) map[string]ipvs.Destination {
	return DestsOf(l.ipvs[name], l.Service())
}

// Connections is the service's connection counter in director name's
// IPVS (every connection it scheduled since the service was made).
func (l *BGPLab) Connections(name string) (uint32, error) {
	s, err := l.ipvs[name].GetService(l.Service())
	if err != nil {
		return 0, err
	}
	return s.Stats.Connections, nil
}

// Status is `tandem-director status --json` of director name.
func (l *BGPLab) Status(name string) (control.Status, error) {
	return StatusOf(l.DirectorBin, l.Socket(name))
}

// Logs returns the tail (n lines) of every process's log.
func (l *BGPLab) Logs(n int) string {
	var b strings.Builder
	names := []string{"zebra", "bgpd"}
	for _, d := range BGPDirectors {
		names = append(names, d, d+" (stopped)")
	}
	names = append(names, RealServers...)
	for _, name := range names {
		if proc := l.Process(name); proc != nil {
			fmt.Fprintf(&b, "--- %s log (tail) ---\n%s\n", name, Tail(proc.Output(), n))
		}
	}
	return b.String()
}

// WriteConfig writes director name's configuration file.
func (l *BGPLab) WriteConfig(name, text string) error {
	return os.WriteFile(l.ConfigPath(name), []byte(text), 0o644)
}

// Reload is `tandem-director reload` of director name.
func (l *BGPLab) Reload(ctx context.Context, name string) (string, error) {
	out, err := exec.CommandContext(ctx, l.DirectorBin, "reload", "--socket", l.Socket(name)).CombinedOutput()
	return string(out), err
}
