package prodlab

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
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

// Addresses of the two-director lab (inside its namespaces only).
const (
	VIP      = "10.99.0.100"
	ClientIP = "10.99.0.10"
	SorryIP  = "10.99.0.99"
)

// Names and addresses of the directors and real servers.
var (
	Directors   = []string{"dir1", "dir2"}
	RealServers = []string{"rs1", "rs2"}
	DirIPs      = map[string]string{"dir1": "10.99.0.2", "dir2": "10.99.0.3"}
	// SyncIPs are the directors' eth1 addresses on the "sync" segment
	// (PairOptions.SyncLink).
	SyncIPs = map[string]string{"dir1": "10.99.1.2", "dir2": "10.99.1.3"}
	RSIPs   = map[string]string{"rs1": "10.99.0.11", "rs2": "10.99.0.12"}
)

// PairSecret is the lab's cluster secret (the directors' heartbeat key).
const PairSecret = "tandem demo key 0123456789abcdef0123"

// DefaultFastFailover is the fast_failover the directors get unless
// PairOptions says otherwise: 200 ms × 5, so that a starved TCG guest does
// not flap.
const DefaultFastFailover = "{enabled: true, interval: 200ms, multiplier: 5}"

// pairOverlay is appended to the native YAML that show-config made of the
// keepalived.conf: the keys the keepalived.conf reader has no place for.
const pairOverlay = `node: %[1]s
heartbeat:
  key_file: %[2]s/heartbeat.key
control_socket: %[2]s/%[1]s.sock
fast_failover: %[3]s
`

// PairOptions describe a two-director lab.
type PairOptions struct {
	// Bin is the directory holding tandem-director and tandem-backend.
	Bin string
	// Dir is the working directory (configs, key, state, sockets); it must
	// exist and is not removed.
	Dir string
	// SyncLink gives each director an eth1 on a segment of their own
	// ("sync", SyncIPs), as the seed's lvs_sync_daemon_interface eth1: the
	// connection-sync daemon and the fast failover probe run there. Without
	// it the directors have eth0 only and sync on it.
	SyncLink bool
	// TrackInterfaces go into the vrrp_instance's track_interface block.
	TrackInterfaces []string
	// FastFailover is the fast_failover YAML value; DefaultFastFailover
	// when empty.
	FastFailover string
	// LogLevel is the directors' --log-level; their default when empty.
	LogLevel string
	// ConfPrelude, ConfInstance and ConfExtra add to the keepalived.conf
	// (SeedConf's Prelude, InstanceLines and Extra): vrrp_script blocks
	// before the instance, a track_script block in it, more instances,
	// virtual_servers and a vrrp_sync_group after the virtual_server.
	// Nothing when empty.
	ConfPrelude, ConfInstance, ConfExtra string
	// ExtraVIPs are more VIPs the real servers' agents hold (on lo, with
	// the arp table), after VIP: a ConfExtra virtual_server's.
	ExtraVIPs []string
	// LegacyAgentKeys gives every agent the cluster secret itself, as
	// before scoped keys (docs/heartbeat.md, "Key scopes"): the start of
	// a migration.
	LegacyAgentKeys bool
	// ExtraHosts are more hosts of the lab (an attacker on the LAN); they
	// run nothing unless the test starts it.
	ExtraHosts []netlab.HostSpec
	// Family is the service's address families: FamilyIPv4 (the default)
	// is the seed's lab, unchanged. FamilyIPv6 and FamilyDual turn IPv6 on
	// in every namespace and give client, directors and real servers their
	// address of v6.go on eth0 (the IPv4 ones stay), the IPv6 instance and
	// virtual_server (SeedConf6; in a vrrp_sync_group with the IPv4 ones
	// for FamilyDual), and each agent VIP6 on lo, real_ip6, the key
	// derived for it (AgentKeyFile6) and the directors' IPv6 addresses
	// (Dir6Heartbeat; after the IPv4 ones for FamilyDual).
	Family Family
}

// Pair is the production lab with two directors: client, dir1, dir2, rs1,
// rs2 and sorry on one bridge ("lan"), both directors running
// tandem-director with the seed's keepalived.conf (turned into native YAML
// by show-config, plus node, heartbeat key, control socket and
// fast_failover), both real servers running the WebApp and tandem-backend.
// NewPair builds the namespaces; StartSorry, StartRealServers,
// WriteDirectorConfigs and StartDirectors bring the rest up in that order
// (Setup does all four).
type Pair struct {
	// Net is the lab's namespaces.
	Net *netlab.Lab
	// Dir is the working directory.
	Dir string
	// DirectorBin and BackendBin are the binaries.
	DirectorBin, BackendBin string
	// Apps are the real servers' web apps.
	Apps map[string]*WebApp

	opts PairOptions
	ipvs map[string]*ipvs.Handle

	mu    sync.Mutex
	procs map[string]*netlab.Process // directors, agents, "dirN (killed)"
}

// NewPair builds the namespaces, writes the heartbeat key and opens an
// IPVS handle in each director. With a non-nil tb the lab closes with the
// test; else the caller calls Close.
func NewPair(tb testing.TB, o PairOptions) (*Pair, error) {
	p := &Pair{Dir: o.Dir, opts: o, Apps: map[string]*WebApp{}, ipvs: map[string]*ipvs.Handle{}, procs: map[string]*netlab.Process{},
		DirectorBin: filepath.Join(o.Bin, "tandem-director"), BackendBin: filepath.Join(o.Bin, "tandem-backend")}
	if p.opts.FastFailover == "" {
		p.opts.FastFailover = DefaultFastFailover
	}
	for _, b := range []string{p.DirectorBin, p.BackendBin} {
		if _, err := os.Stat(b); err != nil {
			return nil, fmt.Errorf("%w (run `make build` first)", err)
		}
	}
	rsSysctls := map[string]string{"net.ipv4.conf.all.rp_filter": "0", "net.ipv4.conf.eth0.rp_filter": "0"}
	hosts := []netlab.HostSpec{{Name: "client", Addr: ClientIP + "/24"}}
	for _, d := range Directors {
		h := netlab.HostSpec{Name: d, Addr: DirIPs[d] + "/24"}
		if o.SyncLink {
			h.Links = []netlab.LinkSpec{{Name: "eth1", Segment: "sync", Addrs: []string{SyncIPs[d] + "/24"}}}
		}
		hosts = append(hosts, h)
	}
	for _, rs := range RealServers {
		hosts = append(hosts, netlab.HostSpec{Name: rs, Addr: RSIPs[rs] + "/24", Sysctls: rsSysctls})
	}
	hosts = append(hosts, netlab.HostSpec{Name: "sorry", Addr: SorryIP + "/24", Sysctls: rsSysctls})
	hosts = append(hosts, o.ExtraHosts...)
	nl, err := netlab.New(tb, netlab.Spec{Hosts: hosts, EnableIPv6: o.Family != FamilyIPv4})
	if err != nil {
		return nil, err
	}
	p.Net = nl
	nl.OnClose(func() error {
		for _, h := range p.ipvs {
			h.Close()
		}
		return nil
	})
	if err := WriteKeys(filepath.Join(p.Dir, "heartbeat.key"), []byte(PairSecret), RSIPs, p.Dir); err != nil {
		return p, err
	}
	if o.Family != FamilyIPv4 {
		if err := p.setUp6(); err != nil {
			return p, err
		}
	}
	if o.LegacyAgentKeys {
		for _, rs := range RealServers {
			if err := os.WriteFile(AgentKeyFile(p.Dir, rs), []byte(PairSecret+"\n"), 0o600); err != nil {
				return p, err
			}
		}
	}
	for _, name := range Directors {
		h, err := ipvs.New(nl.NetnsPath(name))
		if err != nil {
			return p, fmt.Errorf("ipvs in %s: %w", name, err)
		}
		p.ipvs[name] = h
	}
	return p, nil
}

// Setup starts the sorry server, the real servers, then both directors.
func (p *Pair) Setup(ctx context.Context) error {
	if err := p.StartSorry(); err != nil {
		return err
	}
	if err := p.StartRealServers(ctx); err != nil {
		return err
	}
	if err := p.WriteDirectorConfigs(ctx); err != nil {
		return err
	}
	return p.StartDirectors(ctx)
}

// Close stops everything and removes the namespaces (idempotent).
func (p *Pair) Close() error {
	if p.Net == nil {
		return nil
	}
	return p.Net.Close() // the web apps stop with it (NewWebApp)
}

// StartSorry puts the sorry server up.
func (p *Pair) StartSorry() error {
	return StartSorryServer(p.Net, "sorry", net.ParseIP(VIP), net.ParseIP(SorryIP))
}

// StartRealServers starts each real server's web app and tandem-backend.
func (p *Pair) StartRealServers(ctx context.Context) error {
	for _, rs := range RealServers {
		a, err := NewWebApp(p.Net, rs, filepath.Join(p.Dir, rs))
		if err != nil {
			return err
		}
		p.Apps[rs] = a
		a.IPv6 = p.opts.Family != FamilyIPv4
		if err := a.Start(); err != nil {
			return err
		}
		if err := p.StartAgent(ctx, rs); err != nil {
			return err
		}
	}
	return nil
}

// KeepalivedConf is the directors' keepalived.conf: the seed's
// (docs/examples/keepalived.conf) with the lab's addresses, the sync
// interface and the track_interface block of the options, delay_loop 2 and
// connect_timeout 1 instead of 10 and 3 (the checks are the fallback: the
// agents report first), and the options' ConfPrelude, ConfInstance and
// ConfExtra text.
func (p *Pair) KeepalivedConf() string {
	if p.opts.Family != FamilyIPv4 {
		return p.keepalivedConf6()
	}
	c := SeedConf{SyncInterface: "eth0", TrackInterfaces: p.opts.TrackInterfaces, DelayLoop: 2, SorryServer: SorryIP, ConnectTimeout: 1,
		Prelude: p.opts.ConfPrelude, InstanceLines: p.opts.ConfInstance, Extra: p.opts.ConfExtra}
	if p.opts.SyncLink {
		c.SyncInterface = "eth1"
	}
	for _, rs := range RealServers {
		c.RealServers = append(c.RealServers, SeedRealServer{Addr: RSIPs[rs], Weight: 1})
	}
	return c.String()
}

// WriteDirectorConfigs writes the keepalived.conf, turns it into native
// YAML with `tandem-director show-config` and writes each director's
// config: that YAML plus the overlay.
func (p *Pair) WriteDirectorConfigs(ctx context.Context) error {
	seed := filepath.Join(p.Dir, "keepalived.conf")
	if err := os.WriteFile(seed, []byte(p.KeepalivedConf()), 0o644); err != nil {
		return err
	}
	native, err := exec.CommandContext(ctx, p.DirectorBin, "show-config", seed).Output()
	if err != nil {
		return fmt.Errorf("show-config: %w", err)
	}
	for _, name := range Directors {
		text := string(native) + fmt.Sprintf(pairOverlay, name, p.Dir, p.opts.FastFailover)
		if err := os.WriteFile(p.ConfigPath(name), []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// ConfigPath is a director's native YAML config.
func (p *Pair) ConfigPath(name string) string { return filepath.Join(p.Dir, name+".yaml") }

// StartDirectors starts dir1, waits until it is MASTER, starts dir2, then
// waits for the fast failover session and both directors' IPVS tables.
func (p *Pair) StartDirectors(ctx context.Context) error {
	for _, name := range Directors {
		if err := p.StartDirector(ctx, name); err != nil {
			return err
		}
		if name == "dir1" {
			if _, err := p.WaitMaster(15 * time.Second); err != nil {
				return err
			}
		}
	}
	if err := p.WaitProbeUp(15 * time.Second); err != nil {
		return err
	}
	for _, name := range Directors {
		for _, s := range p.opts.Family.Services() {
			if _, err := p.WaitIPVSOf(name, s.VIP, "both real servers in", 20*time.Second, func(m map[string]ipvs.Destination) bool {
				return Weight(m, s.RIPs["rs1"]) == 1 && Weight(m, s.RIPs["rs2"]) == 1 && len(m) == 2
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// StartDirector starts tandem-director on host name and waits for READY.
func (p *Pair) StartDirector(ctx context.Context, name string) error {
	argv := []string{"/usr/bin/env", "STATE_DIRECTORY=" + filepath.Join(p.Dir, name+"-state"),
		p.DirectorBin, "run", "--config", p.ConfigPath(name)}
	if p.opts.LogLevel != "" {
		argv = append(argv, "--log-level", p.opts.LogLevel)
	}
	proc, err := p.Net.Start(name, argv...)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.procs[name] = proc
	p.mu.Unlock()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := proc.WaitOutput(c, "msg=ready"); err != nil {
		return fmt.Errorf("%s not ready: %w\n%s", name, err, Tail(proc.Output(), 30))
	}
	return nil
}

// backendConf is tandem-backend's configuration on real server rs:
// heartbeats to both directors, a fast health probe of the web app.
func (p *Pair) backendConf(rs string) string {
	if p.opts.Family != FamilyIPv4 {
		return p.backendConf6(rs)
	}
	return BackendConf{Node: rs, RealIP: RSIPs[rs], Directors: []string{DirIPs["dir1"], DirIPs["dir2"]},
		KeyFile: AgentKeyFile(p.Dir, rs), HeartbeatInterval: time.Second,
		ProbeInterval: 300 * time.Millisecond, ProbeTimeout: 300 * time.Millisecond, ProbeRise: 2, ProbeFall: 2,
		Dir: filepath.Join(p.Dir, rs), ExtraVIPs: p.opts.ExtraVIPs}.String()
}

// StartAgent starts tandem-backend on rs and waits for READY.
func (p *Pair) StartAgent(ctx context.Context, rs string) error {
	dir := filepath.Join(p.Dir, rs)
	cfg := filepath.Join(dir, "backend.yaml")
	if err := os.WriteFile(cfg, []byte(p.backendConf(rs)), 0o644); err != nil {
		return err
	}
	proc, err := p.Net.Start(rs, p.BackendBin, "run", "--config", cfg)
	if err != nil {
		return err
	}
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := proc.WaitOutput(c, "msg=ready"); err != nil {
		return fmt.Errorf("agent on %s not ready: %w\n%s", rs, err, Tail(proc.Output(), 30))
	}
	p.mu.Lock()
	p.procs[rs] = proc
	p.mu.Unlock()
	return nil
}

// Process returns the process of a director or agent by host name, or a
// killed director's as "dirN (killed)"; nil if there is none.
func (p *Pair) Process(name string) *netlab.Process {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.procs[name]
}

// Forget marks director name as gone (killed or stopped): its process is
// kept as "name (killed)" for its log, and Roles no longer asks it.
func (p *Pair) Forget(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if proc := p.procs[name]; proc != nil {
		p.procs[name+" (killed)"] = proc
		delete(p.procs, name)
	}
}

// Logs returns the tail (n lines) of every director's and agent's log,
// killed directors included, each under a "--- name log (tail) ---" line.
func (p *Pair) Logs(n int) string {
	var b strings.Builder
	for _, name := range []string{"dir1", "dir2", "dir1 (killed)", "dir2 (killed)", "rs1", "rs2"} {
		if proc := p.Process(name); proc != nil {
			fmt.Fprintf(&b, "--- %s log (tail) ---\n%s\n", name, Tail(proc.Output(), n))
		}
	}
	return b.String()
}

// Backend runs the tandem-backend CLI for rs.
func (p *Pair) Backend(ctx context.Context, rs string, args ...string) (string, error) {
	return BackendCLI(ctx, p.BackendBin, filepath.Join(p.Dir, rs, "backend.yaml"), args...)
}

// BackendCLI runs the tandem-backend CLI bin with configuration config.
func BackendCLI(ctx context.Context, bin, config string, args ...string) (string, error) {
	out, err := exec.CommandContext(ctx, bin, append([]string{"--config", config}, args...)...).CombinedOutput()
	return string(out), err
}

// Status is `tandem-director status --json` of director name.
func (p *Pair) Status(name string) (control.Status, error) {
	return StatusOf(p.DirectorBin, filepath.Join(p.Dir, name+".sock"))
}

// StatusOf is `bin status --json --socket socket`, decoded.
func StatusOf(bin, socket string) (control.Status, error) {
	var st control.Status
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "status", "--json", "--socket", socket).Output()
	if err != nil {
		return st, err
	}
	err = json.Unmarshal(out, &st)
	return st, err
}

// Roles returns the master and the backup among the running directors
// ("" when unknown).
func (p *Pair) Roles() (master, backup string) {
	for _, n := range Directors {
		if p.Process(n) == nil {
			continue
		}
		st, err := p.Status(n)
		if err != nil {
			continue
		}
		switch st.Role {
		case "master":
			master = n
		case "backup":
			backup = n
		}
	}
	return master, backup
}

// WaitMaster waits until a director says it is MASTER and returns it.
func (p *Pair) WaitMaster(limit time.Duration) (string, error) {
	var m string
	if testutil.WaitFor(limit, func() bool { m, _ = p.Roles(); return m != "" }) {
		return m, nil
	}
	return "", fmt.Errorf("no MASTER director after %v", limit)
}

// WaitProbeUp waits for a MASTER/BACKUP pair whose fast failover session
// is up on both sides.
func (p *Pair) WaitProbeUp(limit time.Duration) error {
	up := func() bool {
		m, b := p.Roles()
		if m == "" || b == "" {
			return false
		}
		s1, e1 := p.Status(m)
		s2, e2 := p.Status(b)
		return e1 == nil && e2 == nil && s1.FastFailover != nil && s2.FastFailover != nil &&
			s1.FastFailover.Session == "up" && s2.FastFailover.Session == "up"
	}
	if testutil.WaitFor(limit, up) {
		return nil
	}
	return fmt.Errorf("no MASTER/BACKUP pair with the fast failover session up after %v", limit)
}

// Dests reads the VIP service's destinations in director name's IPVS by
// address (nil when the service is missing).
func (p *Pair) Dests(name string) map[string]ipvs.Destination { return Dests(p.ipvs[name]) }

// DestsOf reads the destinations of the service vip:80 (VIP6, say) in
// director name's IPVS by address (nil when the service is missing).
func (p *Pair) DestsOf(name, vip string) map[string]ipvs.Destination {
	return DestsOf(p.ipvs[name], ServiceOf(vip))
}

// Service is the labs' IPVS service, VIP:80 over TCP, for moby/ipvs.
func Service() *ipvs.Service {
	return &ipvs.Service{AddressFamily: syscall.AF_INET, Protocol: syscall.IPPROTO_TCP, Address: net.ParseIP(VIP).To4(), Port: 80, Netmask: 0xffffffff}
}

// Dests reads Service's destinations through h by address (nil when the
// service is missing): the kernel's view, independent of the director's
// code.
func Dests(h *ipvs.Handle) map[string]ipvs.Destination {
	ds, err := h.GetDestinations(Service())
	if err != nil {
		return nil
	}
	out := map[string]ipvs.Destination{}
	for _, x := range ds {
		out[x.Address.String()] = *x
	}
	return out
}

// Weight is the destination's weight, -1 when absent.
func Weight(m map[string]ipvs.Destination, ip string) int {
	if x, ok := m[ip]; ok {
		return x.Weight
	}
	return -1
}

// WaitIPVS polls a director's IPVS table (testutil.WaitFor) until cond
// holds and returns when.
func (p *Pair) WaitIPVS(name, what string, limit time.Duration, cond func(map[string]ipvs.Destination) bool) (time.Time, error) {
	return p.WaitIPVSOf(name, VIP, what, limit, cond)
}

// WaitIPVSOf is WaitIPVS on the service vip:80 (VIP6, say).
func (p *Pair) WaitIPVSOf(name, vip, what string, limit time.Duration, cond func(map[string]ipvs.Destination) bool) (time.Time, error) {
	var at time.Time
	held := func() bool {
		if m := p.DestsOf(name, vip); m != nil && cond(m) {
			at = time.Now()
			return true
		}
		return false
	}
	if testutil.WaitFor(limit, held) {
		return at, nil
	}
	o, _ := p.Net.Exec(name, "ipvsadm", "-Ln")
	return time.Time{}, fmt.Errorf("%s on %s: not within %v; ipvsadm -Ln:\n%s", what, name, limit, o)
}

// HasVIP reports whether host holds the lab's VIP on eth0: VIP, VIP6 in
// an IPv6 lab, both in a dual-stack one.
func (p *Pair) HasVIP(host string) bool {
	h, err := p.Net.Netlink(host)
	if err != nil {
		return false
	}
	for _, v := range p.opts.Family.VIPs() {
		if !HasVIPOn(h, v) {
			return false
		}
	}
	return true
}

// HasVIPOn reports whether the namespace of h holds vip (either family)
// on eth0.
func HasVIPOn(h *netlink.Handle, vip string) bool {
	l, err := h.LinkByName("eth0")
	if err != nil {
		return false
	}
	family := netlink.FAMILY_V4
	if ip := net.ParseIP(vip); ip != nil && ip.To4() == nil {
		family = netlink.FAMILY_V6
	}
	addrs, err := h.AddrList(l, family)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if a.IP.String() == vip {
			return true
		}
	}
	return false
}

// VIPHolders returns the directors holding the VIP, in order.
func (p *Pair) VIPHolders() []string {
	var out []string
	for _, d := range Directors {
		if p.HasVIP(d) {
			out = append(out, d)
		}
	}
	return out
}

// LinkSet takes a host's interface down or up (the "machine" or its cable
// leaves or returns). The kernel flushes an interface's IPv6 addresses
// when it goes down (keep_addr_on_down 0): in an IPv6 or dual-stack lab,
// eth0 coming up gets the host's IPv6 address back, as the machine's
// network configuration would put it.
func (p *Pair) LinkSet(host, ifname string, up bool) error {
	h, err := p.Net.Netlink(host)
	if err != nil {
		return err
	}
	l, err := h.LinkByName(ifname)
	if err != nil {
		return err
	}
	if !up {
		return h.LinkSetDown(l)
	}
	if err := h.LinkSetUp(l); err != nil {
		return err
	}
	if p.opts.Family != FamilyIPv4 && ifname == "eth0" {
		if ip := p.addr6(host); ip != "" {
			return AddAddr6(p.Net, host, ip)
		}
	}
	return nil
}

// Links are a director's interfaces: eth0, and eth1 with SyncLink.
func (p *Pair) Links() []string {
	if p.opts.SyncLink {
		return []string{"eth0", "eth1"}
	}
	return []string{"eth0"}
}

// DelVIP removes the VIP (each VIP of the lab's family) a killed director
// left on eth0 (a rebooted machine would not have it).
func (p *Pair) DelVIP(host string) error {
	h, err := p.Net.Netlink(host)
	if err != nil {
		return err
	}
	l, err := h.LinkByName("eth0")
	if err != nil {
		return err
	}
	for _, v := range p.opts.Family.VIPs() {
		cidr := v + "/24"
		if v == VIP6 {
			cidr = fmt.Sprintf("%s/%d", v, Prefix6Len)
		}
		a, _ := netlink.ParseAddr(cidr)
		if err := h.AddrDel(l, a); err != nil && !errors.Is(err, syscall.EADDRNOTAVAIL) {
			return fmt.Errorf("remove the VIP %s from %s: %w", v, host, err)
		}
	}
	return nil
}

// Conn is one entry of a director's IPVS connection table.
type Conn struct {
	Proto, State                 string
	Client, Virtual, Destination string
}

// Conns reads director name's IPVS connection table (`ipvsadm -Lnc`).
func (p *Pair) Conns(name string) ([]Conn, error) {
	out, err := p.Net.Exec(name, "ipvsadm", "-Lnc")
	if err != nil {
		return nil, err
	}
	return ParseConns(out), nil
}

// ParseConns parses `ipvsadm -Lnc`: "pro expire state source virtual
// destination" lines after the two header lines.
func ParseConns(out string) []Conn {
	var cs []Conn
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) != 6 || f[0] == "pro" {
			continue
		}
		cs = append(cs, Conn{Proto: f[0], State: f[2], Client: f[3], Virtual: f[4], Destination: f[5]})
	}
	return cs
}
