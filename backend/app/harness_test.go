package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tandemlb/tandem/backend/arpguard/arpguardtest"
	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/backend/vip/viptest"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The unit-test harness: the whole daemon (Run) on in-memory kernel edges
// (netlink, nftables, sysctls, SIGHUP), with its unprivileged parts real
// and on loopback: the check and health TCP ports, the heartbeat UDP
// socket (the real IP is 127.0.0.1), the state dir and the config file.
// What the root-only netns tests check against the real kernel is the edges
// themselves; these check the wiring.

const waitLimit = 5 * time.Second

var (
	testVIP4  = netip.MustParseAddr("192.0.2.100")
	testVIP6  = netip.MustParseAddr("2001:db8::100")
	testVIP4b = netip.MustParseAddr("192.0.2.101")
	loIP      = netip.MustParseAddr("127.0.0.1")
	unitKey   = []byte("tandem-backend unit test key 0123456789ab")
	unitKey2  = []byte("tandem-backend unit test key, the new one!")
)

// notes is a Notifier whose events can be waited for.
type notes struct {
	mu  sync.Mutex
	all []string
	ch  chan string
}

func newNotes() *notes { return &notes{ch: make(chan string, 1000)} }

func (n *notes) add(s string) {
	n.mu.Lock()
	n.all = append(n.all, s)
	n.mu.Unlock()
	select {
	case n.ch <- s:
	default:
	}
}

func (n *notes) Ready(status string)  { n.add("READY=1 STATUS=" + status) }
func (n *notes) Status(status string) { n.add("STATUS=" + status) }
func (n *notes) Reloading()           { n.add("RELOADING=1") }
func (n *notes) Stopping()            { n.add("STOPPING=1") }
func (n *notes) Watchdog()            {}

// wait returns the next event that starts with prefix.
func (n *notes) wait(t *testing.T, prefix string) string {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case s := <-n.ch:
			if strings.HasPrefix(s, prefix) {
				return s
			}
		case <-deadline:
			t.Fatalf("no %q from the daemon; told so far: %q", prefix, n.events())
		}
	}
}

func (n *notes) events() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.all)
}

// fakeDirector opens the agent's reports on a loopback UDP socket and can
// answer them.
type fakeDirector struct {
	t      *testing.T
	conn   *net.UDPConn
	opener *hbproto.Opener
	sealer *hbproto.Sealer
	from   *net.UDPAddr
	// old opens what was sent before a rekey, still in the socket.
	old *hbproto.Opener
}

func newFakeDirector(t *testing.T, key []byte) *fakeDirector {
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(loIP, 0)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &fakeDirector{t: t, conn: c, opener: hbproto.NewOpener(key, 0), sealer: hbproto.NewSealer(key, 7)}
}

func (d *fakeDirector) addr() netip.AddrPort { return d.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// rekey makes the director use key from now on; reports sealed with the
// old key before are still read, and skipped.
func (d *fakeDirector) rekey(key []byte) {
	d.old = d.opener
	d.opener, d.sealer = hbproto.NewOpener(key, 0), hbproto.NewSealer(key, 8)
}

// until returns the first report in state st; it fails on a datagram it
// cannot open and after waitLimit.
func (d *fakeDirector) until(st hbproto.State) *hbproto.AgentReport {
	d.t.Helper()
	buf := make([]byte, hbproto.MaxDatagram)
	d.conn.SetReadDeadline(time.Now().Add(waitLimit))
	for {
		n, from, err := d.conn.ReadFromUDP(buf)
		if err != nil {
			d.t.Fatalf("fake director: no report in state %s: %v", st, err)
		}
		m, err := d.opener.Open(from.String(), buf[:n], time.Now())
		if err != nil && d.old != nil {
			if _, oerr := d.old.Open(from.String(), buf[:n], time.Now()); oerr == nil {
				continue // sent before the rekey
			}
		}
		if err != nil {
			d.t.Fatalf("fake director: open: %v", err)
		}
		d.from = from
		if m.Agent != nil && m.Agent.State == st {
			return m.Agent
		}
	}
}

// reply answers the last report as a director in role with dests.
func (d *fakeDirector) reply(role hbproto.Role, dests ...hbproto.DestinationStatus) {
	d.t.Helper()
	b, err := d.sealer.SealDirector(time.Now(), &hbproto.DirectorReply{Director: "lb1", Role: role, Destinations: dests})
	if err != nil {
		d.t.Fatal(err)
	}
	if _, err := d.conn.WriteToUDP(b, d.from); err != nil {
		d.t.Fatal(err)
	}
}

// freePort returns a loopback address that was free a moment ago (the
// configuration refuses port 0).
func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// hconf is what a test varies in the configuration.
type hconf struct {
	vips      []netip.Addr
	keyFile   string
	arpMode   string // "" means the default
	iface     string // "" means derived from the default route
	check     string // the check: line; "" means listen on a free port
	directors bool   // false: no directors, no heartbeats
	garbage   bool   // an invalid file
	pidfile   string // health.process; "" means none
}

type harness struct {
	t     *testing.T
	dir   string
	path  string
	app   net.Listener // the application the health probe connects to
	dir1  *fakeDirector
	nl    *viptest.Fake
	nft   *arpguardtest.Kernel
	sys   *arpguardtest.Sysctl
	hup   chan os.Signal
	notes *notes
	logs  *testutil.SyncBuffer
	conf  hconf

	a   *App
	run *testutil.Running // nil: not running
}

// newHarness writes the configuration; the host has lo and eth0 with
// 127.0.0.1, and the IPv4 default route through eth0 from 127.0.0.1.
func newHarness(t *testing.T, c hconf) *harness {
	t.Helper()
	dir := t.TempDir()
	h := &harness{
		t: t, dir: dir, path: filepath.Join(dir, "backend.yaml"),
		app: testutil.TCPAcceptor(t), dir1: newFakeDirector(t, unitKey),
		nl: viptest.New(), nft: arpguardtest.NewKernel(), sys: arpguardtest.NewSysctl("lo", "eth0"),
		hup: make(chan os.Signal, 1), notes: newNotes(), logs: &testutil.SyncBuffer{},
	}
	h.nl.AddLink("eth0")
	h.nl.AddAddr("eth0", "127.0.0.1/8")
	h.nl.AddDefaultRoute("eth0", loIP)
	if c.keyFile == "" {
		c.keyFile = h.writeKey("heartbeat.key", unitKey)
	}
	h.writeConfig(c)
	return h
}

func (h *harness) writeKey(name string, key []byte) string {
	h.t.Helper()
	p := filepath.Join(h.dir, name)
	if err := os.WriteFile(p, append(slices.Clone(key), '\n'), 0o600); err != nil {
		h.t.Fatal(err)
	}
	return p
}

func (h *harness) writeConfig(c hconf) {
	h.t.Helper()
	if c.vips == nil {
		c.vips = []netip.Addr{testVIP4, testVIP6}
	}
	if c.check == "" {
		c.check = fmt.Sprintf("check: {mode: listen, listen: %q}", freePort(h.t))
	}
	h.conf = c
	var b strings.Builder
	fmt.Fprintf(&b, "node: web1\nvips: [")
	for i, v := range c.vips {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", v.String())
	}
	b.WriteString("]\n")
	if c.iface != "" {
		fmt.Fprintf(&b, "interface: %s\n", c.iface)
	}
	if c.arpMode != "" {
		fmt.Fprintf(&b, "arp_mode: %s\n", c.arpMode)
	}
	if c.directors {
		fmt.Fprintf(&b, "directors: [%q]\n", h.dir1.addr().String())
	}
	fmt.Fprintf(&b, "heartbeat: {key_file: %s, interval: 1m}\n", c.keyFile)
	process := ""
	if c.pidfile != "" {
		process = ", process: " + c.pidfile
	}
	fmt.Fprintf(&b, "health: {service: www, type: tcp, address: %q, interval: 10m, timeout: 2s, rise: 1, fall: 1%s}\n", h.app.Addr(), process)
	fmt.Fprintf(&b, "%s\nstate_dir: %s/state\nruntime_dir: %s/run\nmetrics: {listen: \"off\"}\nlog: {level: debug}\n", c.check, h.dir, h.dir)
	if c.garbage {
		b.WriteString("vips: [not an address]\n")
	}
	if err := os.WriteFile(h.path, []byte(b.String()), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

func (h *harness) edges() Edges {
	return Edges{
		OpenNetlink: func() (NetlinkHandle, error) { return h.nl, nil },
		WatchVIPs:   h.nl.Subscribe,
		NFT:         h.nft,
		WatchNFT:    h.nft.Events,
		Sysctl:      h.sys,
		Hangup:      func() (<-chan os.Signal, func()) { return h.hup, func() {} },
	}
}

// start runs the daemon and returns once it said READY (or fails the test
// with what it returned).
func (h *harness) start() {
	h.t.Helper()
	if err := h.startErr(); err != nil {
		h.t.Fatalf("start: %v\n%s", err, h.logs)
	}
}

// startErr runs the daemon and returns the error of a failed start, nil
// once it is READY.
func (h *harness) startErr() error {
	h.t.Helper()
	cfg, err := config.Load(h.path)
	if err != nil {
		h.t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h.a = New(cfg, Options{Log: log, Notifier: h.notes, Socket: filepath.Join(h.dir, "run", "backend.sock"), Edges: h.edges()})
	h.run = testutil.Start(h.a.Run)
	h.t.Cleanup(h.stop)
	deadline := time.After(waitLimit)
	for {
		select {
		case s := <-h.notes.ch:
			if strings.HasPrefix(s, "READY=1") {
				return nil
			}
		case <-h.run.Done():
			if h.run.Err() == nil {
				h.t.Fatal("Run returned nil before READY")
			}
			return h.run.Err()
		case <-deadline:
			h.t.Fatalf("not READY: %q\n%s", h.notes.events(), h.logs)
		}
	}
}

// stop ends Run as SIGTERM does; an error or no return fails the test.
func (h *harness) stop() {
	if h.run == nil {
		return
	}
	h.run.Stop(h.t, waitLimit)
	h.run = nil
}

// reload sends SIGHUP and waits for the reload's READY.
func (h *harness) reload() string {
	h.t.Helper()
	h.hup <- syscall.SIGHUP
	h.notes.wait(h.t, "RELOADING=1")
	return h.notes.wait(h.t, "READY=1")
}

// call runs a control-socket operation as the CLI would (without the
// socket, whose server serves only root).
func (h *harness) call(op string, args any) (any, error) {
	h.t.Helper()
	req := ctlRequest(h.t, op, args)
	return h.a.handle(context.Background(), req)
}

// get fetches the check endpoint.
func (h *harness) get() (int, string) {
	h.t.Helper()
	url := h.a.Status().Check.Where
	c := &http.Client{Timeout: waitLimit}
	resp, err := c.Get(url)
	if err != nil {
		h.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b))
}

// waitFor waits until cond holds, re-evaluated at each close of changed().
func waitFor(t *testing.T, what string, changed func() <-chan struct{}, cond func() bool) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		ch := changed()
		if cond() {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
