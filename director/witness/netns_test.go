package witness

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

// fakeDirector answers the agent's reports with a role, as the director's
// heartbeat listener does; the backup one also feeds a Board and can push
// report_now.
type fakeDirector struct {
	t      *testing.T
	name   string
	role   hbproto.Role
	conn   net.PacketConn
	opener *hbproto.Opener
	sealer *hbproto.Sealer
	board  *Board

	mu    sync.Mutex
	agent netip.AddrPort
	quiet bool // stop answering: the master died
}

func startFake(t *testing.T, lab *netlab.Lab, host, name string, role hbproto.Role, board *Board) *fakeDirector {
	d := &fakeDirector{t: t, name: name, role: role, opener: hbproto.NewOpener(testKey, 0),
		sealer: hbproto.NewSealer(testKey, uint64(name[len(name)-1])), board: board}
	err := lab.Do(host, func() error {
		var err error
		d.conn, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", hbproto.DefaultPort))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, hbproto.MaxDatagram)
		for {
			n, from, err := d.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			now := time.Now()
			peer := from.(*net.UDPAddr).AddrPort()
			m, err := d.opener.Open(peer.String(), buf[:n], now)
			if err != nil || m.Agent == nil {
				continue
			}
			d.mu.Lock()
			d.agent = peer
			quiet := d.quiet
			d.mu.Unlock()
			if d.board != nil {
				d.board.Observe(now, m.Agent)
			}
			if !quiet {
				d.send(peer, false)
			}
		}
	}()
	t.Cleanup(func() { d.conn.Close(); <-done })
	return d
}

func (d *fakeDirector) send(to netip.AddrPort, reportNow bool) {
	b, err := d.sealer.SealDirector(time.Now(), &hbproto.DirectorReply{Director: d.name, Role: d.role, ReportNow: reportNow})
	if err != nil {
		d.t.Error(err)
		return
	}
	d.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
}

// requestReports is what the backup's listener does on PeerDown.
func (d *fakeDirector) requestReports() {
	d.mu.Lock()
	to := d.agent
	d.mu.Unlock()
	d.send(to, true)
}

// TestNetnsWitnessAgent: the real tandem-backend as a witness. The backup
// director lb2 asks (report_now) and learns within a round trip that the
// master lb1 still answers the agent; once lb1 is silent, the same
// question gets no vouching answer.
func TestNetnsWitnessAgent(t *testing.T) {
	testutil.Netns(t)
	bin := testutil.Bin(t, "tandem-backend")
	lab, err := netlab.New(t, netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "d1", Addr: "10.96.0.1/24"},
		{Name: "d2", Addr: "10.96.0.2/24"},
		{Name: "rs", Addr: "10.96.0.11/24"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	board := NewBoard(Config{Quorum: 1})
	board.SetServers([]netip.Addr{netip.MustParseAddr("10.96.0.11")})
	d1 := startFake(t, lab, "d1", "lb1", hbproto.RoleMaster, nil)
	d2 := startFake(t, lab, "d2", "lb2", hbproto.RoleBackup, board)

	dir := t.TempDir()
	keyPath := filepath.Join(dir, "heartbeat.key")
	if err := os.WriteFile(keyPath, testKey, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`node: web1
vips: [10.96.0.100]
interface: eth0
real_ip: 10.96.0.11
directors: ["10.96.0.1", "10.96.0.2"]
heartbeat: {key_file: %s, interval: 1s}
health: {service: www, type: tcp, address: "127.0.0.1:9", interval: 1s, timeout: 100ms, rise: 1, fall: 1}
check: {mode: none}
state_dir: %s/state
runtime_dir: %s/run
metrics: {listen: "off"}
`, keyPath, dir, dir)
	cfgPath := filepath.Join(dir, "backend.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	agent, err := lab.Start("rs", bin, "run", "--config", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { agent.Stop(5 * time.Second) })

	// The agent's periodic reports carry lb1 as MASTER.
	wait := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		if !testutil.WaitFor(d, ok) {
			t.Fatalf("%s: not within %v\nagent output:\n%s", what, d, agent.Output())
		}
	}
	wait("a report with witness data", 10*time.Second, func() bool {
		return board.Verdict(time.Now(), Query{Self: "lb2"}).Alive
	})

	// lb2 loses lb1 now, between two periodic reports: evidence must
	// postdate this moment, after the report just seen.
	testutil.Settle(100 * time.Millisecond)
	lost := time.Now()
	q := Query{Self: "lb2", Master: "lb1", After: lost}
	if v := board.Verdict(time.Now(), q); v.Alive {
		t.Fatalf("verdict before asking: %+v", v)
	}
	d2.requestReports()
	wait("the agent vouching for lb1 after report_now", time.Second, func() bool { return board.Verdict(time.Now(), q).Alive })
	t.Logf("alive verdict %v after report_now (agent round trip + relay)", time.Since(lost).Round(time.Microsecond))

	// lb1 dies (stops answering). 200 ms later lb2 asks again: the agent
	// answers at once, but nothing it says postdates the loss.
	d1.mu.Lock()
	d1.quiet = true
	d1.mu.Unlock()
	testutil.Settle(200 * time.Millisecond) // lb1 silent for a while
	lost = time.Now()
	q.After = lost
	d2.requestReports()
	ch := board.Changed()
	select {
	case <-ch:
	case <-time.After(time.Second):
		t.Fatal("no report after the second report_now")
	}
	testutil.Settle(100 * time.Millisecond) // any other answer lands: none may vouch for lb1
	if v := board.Verdict(time.Now(), q); v.Alive || v.Agents != 1 {
		t.Fatalf("verdict with lb1 silent: %+v", v)
	}
}
