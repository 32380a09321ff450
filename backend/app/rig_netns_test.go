package app_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mdlayher/arp"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The lab: one segment, a client, a "director" holding the VIP on its eth0
// (as a VRRP master would), and a real server running the agent. Addresses
// are TEST-NET-1 and exist only inside the lab's namespaces.
var (
	clientIP    = netip.MustParseAddr("192.0.2.1")
	directorIP  = netip.MustParseAddr("192.0.2.2")
	rsIP        = netip.MustParseAddr("192.0.2.11")
	vipAddr     = netip.MustParseAddr("192.0.2.100")
	director6IP = netip.MustParseAddr("2001:db8::2")
	rsIP6       = netip.MustParseAddr("2001:db8::11")
	testKey     = []byte("tandem-backend netns test key 0123456789")
)

const (
	healthInterval = 100 * time.Millisecond
	rise, fall     = 2, 3
)

type rig struct {
	t       *testing.T
	lab     *netlab.Lab
	bin     string
	dir     string
	cfgPath string
	keyPath string
	sock    string
	agent   *netlab.Process
	fd      *fakeDirector

	checkLine string
	interval  time.Duration // the health probe's interval

	appMu sync.Mutex
	appLn net.Listener
}

type rigOpts struct {
	extraConfig string        // appended to the config
	check       string        // the check: line; listen mode on :7481 when empty
	noDirector  bool          // no fake director socket
	interval    time.Duration // the health probe's interval; 0: healthInterval
	ipv6        bool          // IPv6 on, with director6IP and rsIP6 on eth0
}

func newRig(t *testing.T, o rigOpts) *rig {
	t.Helper()
	testutil.Netns(t)
	bin := testutil.Bin(t, "tandem-backend")
	lab, err := netlab.New(t, netlab.Spec{EnableIPv6: o.ipv6, Hosts: []netlab.HostSpec{
		{Name: "client", Addr: "192.0.2.1/24"},
		{Name: "director", Addr: "192.0.2.2/24"},
		{Name: "rs", Addr: "192.0.2.11/24", Routes: []netlab.RouteSpec{{Dst: "default", Via: "192.0.2.2"}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lab.Exec("director", "ip", "addr", "add", "192.0.2.100/32", "dev", "eth0"); err != nil {
		t.Fatal(err)
	}
	if o.ipv6 {
		for host, a := range map[string]netip.Addr{"director": director6IP, "rs": rsIP6} {
			if out, err := lab.Exec(host, "ip", "-6", "addr", "add", a.String()+"/64", "dev", "eth0", "nodad"); err != nil {
				t.Fatalf("%s: %v\n%s", host, err, out)
			}
		}
	}
	dir := t.TempDir()
	if o.interval == 0 {
		o.interval = healthInterval
	}
	r := &rig{t: t, lab: lab, bin: bin, dir: dir, checkLine: o.check, interval: o.interval,
		cfgPath: filepath.Join(dir, "backend.yaml"), keyPath: filepath.Join(dir, "heartbeat.key"),
		sock: filepath.Join(dir, "run", "backend.sock")}
	if err := os.WriteFile(r.keyPath, testKey, 0o600); err != nil {
		t.Fatal(err)
	}
	r.writeConfig(o.extraConfig)
	if !o.noDirector {
		r.fd = newFakeDirector(t, lab)
	}
	return r
}

func (r *rig) writeConfig(extra string) {
	r.t.Helper()
	check := r.checkLine
	if check == "" {
		check = `check: {mode: listen, listen: ":7481"}`
	}
	cfg := fmt.Sprintf(`node: web1
vips: [%s]
directors: ["%s:%d"]
heartbeat: {key_file: %s, interval: 2s}
health:
  service: www
  type: http
  url: http://127.0.0.1:8080/
  interval: %s
  timeout: 80ms
  rise: %d
  fall: %d
%s
state_dir: %s/state
runtime_dir: %s/run
metrics: {listen: "127.0.0.1:9481"}
log: {level: debug}
%s`, vipAddr, directorIP, hbproto.DefaultPort, r.keyPath, r.interval, rise, fall, check, r.dir, r.dir, extra)
	if err := os.WriteFile(r.cfgPath, []byte(cfg), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// startAgent starts the daemon in the rs namespace and waits for READY.
func (r *rig) startAgent() {
	r.t.Helper()
	p, err := r.lab.Start("rs", r.bin, "run", "--config", r.cfgPath)
	if err != nil {
		r.t.Fatal(err)
	}
	r.agent = p
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.WaitOutput(ctx, "msg=ready"); err != nil {
		r.t.Fatalf("agent not ready: %v\n%s", err, p.Output())
	}
}

func (r *rig) stopAgent() {
	r.t.Helper()
	if err := r.agent.Stop(5 * time.Second); err != nil {
		r.t.Fatalf("agent stop: %v\n%s", err, r.agent.Output())
	}
	if !strings.Contains(r.agent.Output(), "stopping; VIPs, ARP table and check file stay in place") {
		r.t.Fatalf("agent did not stop cleanly:\n%s", r.agent.Output())
	}
}

// cli runs the binary from the test's own namespace: the control socket is a
// path, so the CLI needs no netns.
func (r *rig) cli(args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	full := append([]string{"--config", r.cfgPath, "--socket", r.sock}, args...)
	out, err := exec.CommandContext(ctx, r.bin, full...).CombinedOutput()
	return string(out), err
}

// startApp serves the "application" on 127.0.0.1:8080 in the rs namespace.
func (r *rig) startApp() {
	r.t.Helper()
	ln, err := r.lab.Listen("rs", "tcp", "127.0.0.1:8080")
	if err != nil {
		r.t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello\n") })}
	go srv.Serve(ln)
	r.appMu.Lock()
	r.appLn = ln
	r.appMu.Unlock()
	r.t.Cleanup(func() { srv.Close() })
}

func (r *rig) stopApp() {
	r.appMu.Lock()
	defer r.appMu.Unlock()
	if r.appLn != nil {
		r.appLn.Close()
		r.appLn = nil
	}
}

// check GETs /check.txt from the client, as a director would.
func (r *rig) check() (int, string) {
	r.t.Helper()
	c := r.lab.HTTPClient("client", time.Second)
	resp, err := c.Get("http://192.0.2.11:7481/check.txt")
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitCheck polls /check.txt every 10 ms until it returns code, and returns
// how long that took; it fails after limit.
func (r *rig) waitCheck(code int, limit time.Duration) time.Duration {
	r.t.Helper()
	start := time.Now()
	var got int
	var body string
	if testutil.WaitFor(limit, func() bool { got, body = r.check(); return got == code }) {
		return time.Since(start)
	}
	r.t.Fatalf("/check.txt: %d %q after %s, want %d", got, body, limit, code)
	return 0
}

func (r *rig) metrics() string {
	r.t.Helper()
	resp, err := r.lab.HTTPClient("rs", time.Second).Get("http://127.0.0.1:9481/metrics")
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// report is an agent report as the fake director received it.
type report struct {
	msg  *hbproto.Message
	from *net.UDPAddr
	at   time.Time
}

// fakeDirector is a UDP socket on the director's address, in its
// namespace, that opens agent reports and answers with a configurable reply.
type fakeDirector struct {
	t       *testing.T
	conn    *net.UDPConn
	opener  *hbproto.Opener
	sealer  *hbproto.Sealer
	reports chan report

	mu        sync.Mutex
	reply     *hbproto.DirectorReply
	lastReply []byte
	lastFrom  *net.UDPAddr
}

func newFakeDirector(t *testing.T, lab *netlab.Lab) *fakeDirector {
	t.Helper()
	return newFakeDirectorAt(t, lab, directorIP, testKey)
}

// newFakeDirectorAt is a fake director on ip (port 7480) in the director's
// namespace that opens reports and seals replies with key.
func newFakeDirectorAt(t *testing.T, lab *netlab.Lab, ip netip.Addr, key []byte) *fakeDirector {
	t.Helper()
	f := &fakeDirector{t: t, opener: hbproto.NewOpener(key, 0), sealer: hbproto.NewSealer(key, 77), reports: make(chan report, 4096)}
	err := lab.Do("director", func() error {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, hbproto.DefaultPort)))
		f.conn = c
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	go f.loop()
	t.Cleanup(func() { f.conn.Close() })
	return f
}

func (f *fakeDirector) loop() {
	buf := make([]byte, hbproto.MaxDatagram)
	for {
		n, from, err := f.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		now := time.Now()
		m, err := f.opener.Open(from.String(), buf[:n], now)
		if err != nil || m.Agent == nil {
			continue
		}
		select {
		case f.reports <- report{m, from, now}:
		default:
		}
		f.mu.Lock()
		rep := f.reply
		f.lastFrom = from
		f.mu.Unlock()
		if rep != nil {
			b, err := f.sealer.SealDirector(time.Now(), rep)
			if err == nil {
				f.conn.WriteToUDP(b, from)
				f.mu.Lock()
				f.lastReply = b
				f.mu.Unlock()
			}
		}
	}
}

func (f *fakeDirector) setReply(rep *hbproto.DirectorReply) {
	f.mu.Lock()
	f.reply = rep
	f.mu.Unlock()
}

// drain forgets the reports received so far.
func (f *fakeDirector) drain() {
	for {
		select {
		case <-f.reports:
		default:
			return
		}
	}
}

// waitState returns the first report with state st within limit.
func (f *fakeDirector) waitState(st hbproto.State, limit time.Duration) report {
	f.t.Helper()
	deadline := time.After(limit)
	for {
		select {
		case r := <-f.reports:
			if r.msg.Agent.State == st {
				return r
			}
		case <-deadline:
			f.t.Fatalf("no %s report within %s", st, limit)
		}
	}
}

// destReply is a MASTER reply with one destination for the real server.
func destReply(weight int32, active uint32) *hbproto.DirectorReply {
	return &hbproto.DirectorReply{Director: "lb1", Role: hbproto.RoleMaster, Destinations: []hbproto.DestinationStatus{{
		Service: "TCP 192.0.2.100:80", Addr: netip.AddrPortFrom(rsIP, 80), Weight: weight, ConfiguredWeight: 1,
		ActiveConns: active, InactiveConns: 7, Pool: hbproto.PoolDraining,
	}}}
}

// arpClient opens an ARP client on a host's eth0.
func arpClient(t *testing.T, lab *netlab.Lab, host string) *arp.Client {
	t.Helper()
	var c *arp.Client
	err := lab.Do(host, func() error {
		ifi, err := net.InterfaceByName("eth0")
		if err != nil {
			return err
		}
		c, err = arp.Dial(ifi)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// whoHas asks for ip and returns the MACs that answered within wait.
func whoHas(t *testing.T, c *arp.Client, ip netip.Addr, wait time.Duration) map[string]bool {
	t.Helper()
	if err := c.Request(ip); err != nil {
		t.Fatal(err)
	}
	macs := map[string]bool{}
	c.SetReadDeadline(time.Now().Add(wait))
	for i := 0; i < 100; i++ {
		p, _, err := c.Read()
		if err != nil {
			break
		}
		if p.Operation == arp.OperationReply && p.SenderIP == ip {
			macs[p.SenderHardwareAddr.String()] = true
		}
	}
	return macs
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}
