package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/lvs/lvstest"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/ctlsock"
	"github.com/tandemlb/tandem/shared/sdnotify"
	"github.com/tandemlb/tandem/shared/testutil"
)

// fakeIPVS is lvstest.Fake plus recorded sync-daemon calls.
type fakeIPVS struct {
	*lvstest.Fake
	mu      sync.Mutex
	daemons map[lvs.DaemonState]lvs.Daemon
	calls   []string
}

func newFakeIPVS() *fakeIPVS {
	return &fakeIPVS{Fake: &lvstest.Fake{}, daemons: map[lvs.DaemonState]lvs.Daemon{}}
}

func (f *fakeIPVS) StartDaemon(st lvs.DaemonState, iface string, id uint8) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("start %s %s %d", st, iface, id))
	f.daemons[st] = lvs.Daemon{State: st, Interface: iface, SyncID: uint32(id)}
	return nil
}

func (f *fakeIPVS) StopDaemon(st lvs.DaemonState) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("stop %s", st))
	delete(f.daemons, st)
	return nil
}

func (f *fakeIPVS) Daemons() ([]lvs.Daemon, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []lvs.Daemon
	for _, d := range f.daemons {
		out = append(out, d)
	}
	return out, nil
}

func (f *fakeIPVS) daemonCalls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeIPVS) Close() error { return nil }

// fakeDriver is a VRRP driver that enters BACKUP when run and whatever the
// test says after.
//
// It records the injected events (and whether Run had started) and plays
// the tracking ones as the machine would: a fault source set means FAULT,
// the last one cleared BACKUP; SetPriority changes the priority.
//
// Yield and Unyield act as the machine: a MASTER calls the release hook
// (Options.OnRelease, as the real driver at vrrp.HandOver) and goes
// BACKUP yielding; becomeMaster and peerAdvert play the rest. Run ending
// as MASTER calls the hook too (a clean stop).
type fakeDriver struct {
	cfg     vrrp.InstanceConfig
	opts    vrrp.Options
	started chan struct{} // closed once Run entered BACKUP
	mu      sync.Mutex
	st      vrrp.State
	running bool
	prio    uint8
	faults  []string
	events  []injected

	yielding    bool
	master      netip.Addr
	mprio       uint8
	masterSince time.Time
	lastT       time.Time
	reason      string
	received    uint64
	releases    int
}

// fakeSrc is the fake drivers' advert source.
var fakeSrc = netip.MustParseAddr("192.0.2.1")

// becomeMaster makes the instance MASTER, as its Master_Down_Timer would.
func (d *fakeDriver) becomeMaster(reason string) {
	d.mu.Lock()
	d.master, d.mprio, d.masterSince, d.yielding, d.lastT, d.reason = fakeSrc, d.cfg.Priority, time.Time{}, false, time.Now(), reason
	d.mu.Unlock()
	d.set(vrrp.StateMaster)
}

// peerAdvert is a valid advert from another router.
func (d *fakeDriver) peerAdvert(from string, prio uint8) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.received++
	addr := netip.MustParseAddr(from)
	if addr != d.master || d.mprio == 0 {
		d.masterSince = time.Now()
	}
	d.master, d.mprio = addr, prio
	if prio == 0 {
		d.masterSince = time.Time{}
	}
}

// release is the machine's HandOver: the hook, bounded as the driver
// bounds it.
func (d *fakeDriver) release() {
	d.mu.Lock()
	d.releases++
	d.mu.Unlock()
	if d.opts.OnRelease == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), vrrp.DefaultReleaseTimeout)
	defer cancel()
	d.opts.OnRelease(ctx, d.cfg.Name)
}

// injected is one event given to a fakeDriver.
type injected struct {
	ev        vrrp.Event
	beforeRun bool
}

func (d *fakeDriver) Run(ctx context.Context) error {
	d.mu.Lock()
	d.running = true
	fault := len(d.faults) > 0
	d.yielding = d.yielding || d.opts.Yield
	d.mu.Unlock()
	if fault {
		d.set(vrrp.StateFault)
	} else {
		d.set(vrrp.StateBackup)
	}
	close(d.started)
	<-ctx.Done()
	d.mu.Lock()
	master := d.st == vrrp.StateMaster
	d.mu.Unlock()
	if master {
		d.release()
	}
	d.set(vrrp.StateStop)
	return nil
}

// injectedEvents returns the events injected so far.
func (d *fakeDriver) injectedEvents() []injected {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]injected(nil), d.events...)
}

func (d *fakeDriver) set(s vrrp.State) {
	d.mu.Lock()
	d.st = s
	d.mu.Unlock()
	d.opts.Notifier.Notify(s, d.cfg.Priority)
}

func (d *fakeDriver) Inject(ctx context.Context, ev vrrp.Event) error {
	switch ev.(type) {
	case vrrp.Yield:
		d.mu.Lock()
		d.events = append(d.events, injected{ev, !d.running})
		master := d.st == vrrp.StateMaster
		d.yielding = true
		d.mu.Unlock()
		if master {
			d.release()
			d.mu.Lock()
			d.master, d.mprio, d.masterSince, d.lastT, d.reason = netip.Addr{}, 0, time.Time{}, time.Now(), "yield"
			d.mu.Unlock()
			d.set(vrrp.StateBackup)
		}
		return nil
	case vrrp.Unyield:
		d.mu.Lock()
		d.events = append(d.events, injected{ev, !d.running})
		d.yielding = false
		d.mu.Unlock()
		return nil
	}
	d.mu.Lock()
	d.events = append(d.events, injected{ev, !d.running})
	was := len(d.faults)
	switch e := ev.(type) {
	case vrrp.SetPriority:
		d.prio = e.Priority
	case vrrp.FaultSet:
		if !slices.Contains(d.faults, e.Source) {
			d.faults = append(d.faults, e.Source)
		}
	case vrrp.FaultCleared:
		d.faults = slices.DeleteFunc(d.faults, func(s string) bool { return s == e.Source })
	}
	now, running := len(d.faults), d.running
	d.mu.Unlock()
	switch {
	case !running:
	case was == 0 && now > 0:
		d.set(vrrp.StateFault)
	case was > 0 && now == 0:
		d.set(vrrp.StateBackup)
	}
	return nil
}

func (d *fakeDriver) Status() vrrp.Status {
	d.mu.Lock()
	defer d.mu.Unlock()
	prio := d.prio
	if prio == 0 {
		prio = d.cfg.Priority
	}
	faults := slices.Clone(d.faults)
	slices.Sort(faults)
	return vrrp.Status{Instance: d.cfg.Name, State: d.st, VRID: d.cfg.VRID, Priority: prio, BasePriority: d.cfg.Priority, FaultSources: faults,
		Src: fakeSrc, Master: d.master, MasterPriority: d.mprio, MasterSince: d.masterSince, Yielding: d.yielding,
		LastTransition: d.lastT, Reason: d.reason, Received: d.received}
}

// fakeHandOver is a ConnHandOver over a made-up connection table: it
// records each request and "sends" what Keep keeps, with Info's answer.
type fakeHandOver struct {
	mu    sync.Mutex
	table []lvs.Conn
	err   error
	calls []handOverCall
}

// handOverCall is one recorded hand-over: where to, and what was sent.
type handOverCall struct {
	Interface string
	SyncID    uint8
	Sent      []lvs.Conn
	Info      []lvs.ConnInfo
}

func (f *fakeHandOver) HandOver(_ context.Context, req HandOverRequest) (HandOverResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := handOverCall{Interface: req.Interface, SyncID: req.SyncID}
	for _, x := range f.table {
		if req.Keep(x) {
			c.Sent = append(c.Sent, x)
			c.Info = append(c.Info, req.Info(x))
		}
	}
	f.calls = append(f.calls, c)
	return HandOverResult{Read: len(f.table), Conns: len(c.Sent), Messages: (len(c.Sent) + 39) / 40}, f.err
}

func (f *fakeHandOver) recorded() []handOverCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// fakeInterfaces is Interfaces of a made-up host: the interfaces it
// names, with their addresses. OpenAddrs hands out recording managers.
type fakeInterfaces struct {
	mu     sync.Mutex
	addrs  map[string][]netip.Addr
	opened []*fakeAddrs
}

func newFakeInterfaces(names ...string) *fakeInterfaces {
	f := &fakeInterfaces{addrs: map[string][]netip.Addr{}}
	for _, n := range names {
		f.addrs[n] = nil
	}
	return f
}

// add puts addresses on name (creating the interface).
func (f *fakeInterfaces) add(name string, ips ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, ip := range ips {
		f.addrs[name] = append(f.addrs[name], netip.MustParseAddr(ip))
	}
	if f.addrs[name] == nil {
		f.addrs[name] = []netip.Addr{}
	}
}

func (f *fakeInterfaces) Exists(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.addrs[name]
	return ok
}

func (f *fakeInterfaces) Addrs(name string, v6 bool) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	all, ok := f.addrs[name]
	if !ok {
		return nil, fmt.Errorf("link %s not found", name)
	}
	var out []netip.Addr
	for _, ip := range all {
		if ip.Is6() == v6 {
			out = append(out, ip)
		}
	}
	return out, nil
}

func (f *fakeInterfaces) OpenAddrs() (AddrCloser, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := &fakeAddrs{}
	f.opened = append(f.opened, m)
	return m, nil
}

// fakeAddrs records what an AddrCloser was asked to do.
type fakeAddrs struct {
	mu     sync.Mutex
	calls  []string
	closed bool
}

func (f *fakeAddrs) rec(s string) error {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
	return nil
}

func (f *fakeAddrs) AddVIPs(v []vrrp.VIP) error    { return f.rec(fmt.Sprintf("add %v", v)) }
func (f *fakeAddrs) RemoveVIPs(v []vrrp.VIP) error { return f.rec(fmt.Sprintf("del %v", v)) }
func (f *fakeAddrs) Close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

// fakeFirewall is a Firewall holding a fixed ruleset (or failing to read
// it); reads counts the reads.
type fakeFirewall struct {
	mu     sync.Mutex
	chains []FirewallChain
	err    error
	reads  int
}

func (f *fakeFirewall) Chains() ([]FirewallChain, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	return slices.Clone(f.chains), f.err
}

// fakeHost is a HostInfo whose scheduler modules are all there but the
// missing ones, and whose processes are procs (name → PIDs).
type fakeHost struct {
	mu      sync.Mutex
	missing map[string]bool
	procs   map[string][]string
}

func (f *fakeHost) CheckScheduler(name string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.missing[name] {
		return fmt.Errorf("ipvs: scheduler %q is not available on kernel fake: ip_vs_%s not found", name, name)
	}
	return nil
}

func (f *fakeHost) ProcessesNamed(name string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.procs[name])
}

type harness struct {
	t       testing.TB
	dir     string
	path    string
	a       *App
	ipvs    *fakeIPVS
	notify  *sdnotify.Recorder
	logs    *testutil.SyncBuffer
	mu      sync.Mutex
	drivers map[string]*fakeDriver
	port    int
	run     *testutil.Running
	// The host edges (edges.go): interfaces eth0, eth1 and lo without
	// addresses, an empty ruleset, every scheduler module, no process.
	ifaces *fakeInterfaces
	fw     *fakeFirewall
	host   *fakeHost
	// handOver is the connection hand-over of a release (an empty table).
	handOver *fakeHandOver
}

// testConfig is a native configuration with one instance and one service
// of two real servers without checks; extra is appended to the service.
func testConfig(dir string, weight1 int, extraRS string) string {
	return fmt.Sprintf(`version: 1
node: lb1
heartbeat:
  listen: 127.0.0.1:HBPORT
  key_file: %s/key
  interval: 1s
metrics:
  enabled: false
lvs_sync_daemon:
  interface: eth1
  instance: VI0
vrrp_instances:
  - name: VI0
    interface: eth0
    virtual_router_id: 100
    virtual_ipaddress:
      - 192.0.2.100/24
virtual_servers:
  - address: 192.0.2.100:80
    lvs_sched: lc
    sorry_server: 192.0.2.99:80
    real_servers:
      - address: 192.0.2.11:80
        weight: %d
      - address: 192.0.2.12:80
        weight: 1
%s`, dir, weight1, extraRS)
}

// start runs an App on cfgText with fakes; prep may load the fake kernel.
func start(t testing.TB, cfgText string, prep func(dir string, f *fakeIPVS)) *harness {
	t.Helper()
	return startWith(t, cfgText, prep, nil)
}

// startWith is start with a last say on the App's options.
func startWith(t testing.TB, cfgText string, prep func(dir string, f *fakeIPVS), opts func(*Options)) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{t: t, dir: dir, path: filepath.Join(dir, "director.yaml"), ipvs: newFakeIPVS(),
		notify: &sdnotify.Recorder{}, logs: &testutil.SyncBuffer{}, drivers: map[string]*fakeDriver{},
		ifaces: newFakeInterfaces("lo", "eth0", "eth1"), fw: &fakeFirewall{}, host: &fakeHost{}, handOver: &fakeHandOver{}}
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(strings.Repeat("k", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vs := filepath.Join(dir, "sys", "net", "ipv4", "vs")
	os.MkdirAll(vs, 0o755)
	for _, n := range []string{"expire_nodest_conn", "expire_quiescent_template", "conn_reuse_mode"} {
		os.WriteFile(filepath.Join(vs, n), []byte("0\n"), 0o644)
	}
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.port = pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	h.write(cfgText)
	if prep != nil {
		prep(dir, h.ipvs)
	}
	loader := &config.Loader{}
	cfg, err := loader.Load(h.path)
	if err != nil {
		t.Fatal(err)
	}
	off := false
	o := Options{
		Loader:     loader,
		Log:        slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Notifier:   h.notify,
		Socket:     filepath.Join(dir, "ctl.sock"),
		StateDir:   filepath.Join(dir, "state"),
		OpenIPVS:   func(*slog.Logger) (IPVS, error) { return h.ipvs, nil },
		SysctlRoot: filepath.Join(dir, "sys"),
		HostChecks: &off,
		Interfaces: h.ifaces,
		Firewall:   h.fw,
		Host:       h.host,
		HandOver:   h.handOver,
		NewVRRP: func(c vrrp.InstanceConfig, o vrrp.Options) (VRRPDriver, error) {
			d := &fakeDriver{cfg: c, opts: o, started: make(chan struct{})}
			h.mu.Lock()
			h.drivers[c.Name] = d
			h.mu.Unlock()
			return d, nil
		},
	}
	if opts != nil {
		opts(&o)
	}
	h.a = New(cfg, o)
	h.run = testutil.Start(h.a.Run)
	select {
	case <-h.a.Ready():
	case <-h.run.Done():
		t.Fatalf("Run: %v\n%s", h.run.Err(), h.logs.String())
	case <-time.After(10 * time.Second):
		t.Fatalf("not ready after 10s\n%s", h.logs.String())
	}
	t.Cleanup(h.stop)
	return h
}

func (h *harness) stop() {
	if h.run == nil {
		return
	}
	h.run.Stop(h.t, 10*time.Second)
	h.run = nil
	if h.t.Failed() {
		h.t.Logf("daemon log:\n%s", h.logs.String())
	}
}

func (h *harness) write(text string) {
	h.t.Helper()
	text = strings.ReplaceAll(text, "HBPORT", fmt.Sprint(h.port))
	text = strings.ReplaceAll(text, "DIR", h.dir)
	if err := os.WriteFile(h.path, []byte(text), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// call runs a control operation as the socket would.
func (h *harness) call(op string, args, out any) error {
	h.t.Helper()
	req := ctlsock.Request{Op: op}
	if args != nil {
		b, err := json.Marshal(args)
		if err != nil {
			h.t.Fatal(err)
		}
		req.Args = b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	data, err := h.a.handle(ctx, req)
	if err != nil {
		return err
	}
	if out != nil {
		b, _ := json.Marshal(data)
		return json.Unmarshal(b, out)
	}
	return nil
}

func (h *harness) status() control.Status {
	h.t.Helper()
	var st control.Status
	if err := h.call(control.OpStatus, nil, &st); err != nil {
		h.t.Fatal(err)
	}
	return st
}

// driver returns the instance's driver once it runs.
func (h *harness) driver(name string) *fakeDriver {
	h.t.Helper()
	h.mu.Lock()
	d := h.drivers[name]
	h.mu.Unlock()
	if d == nil {
		return nil
	}
	select {
	case <-d.started:
	case <-time.After(5 * time.Second):
		h.t.Fatalf("driver %s not running", name)
	}
	return d
}

// loaded is the kernel state a previous run left for testConfig.
func loaded(weight1 int) lvs.ServiceState {
	return lvs.ServiceState{
		Service: lvs.Service{Protocol: lvs.TCP, Addr: netip.MustParseAddr("192.0.2.100"), Port: 80, Scheduler: "lc"},
		Destinations: []lvs.DestinationState{
			{Destination: lvs.Destination{Addr: netip.MustParseAddr("192.0.2.11"), Port: 80, Weight: weight1}},
			{Destination: lvs.Destination{Addr: netip.MustParseAddr("192.0.2.12"), Port: 80, Weight: 1}},
		},
	}
}
