package peerwatch

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/director/witness"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// hbListener is a director's heartbeat listener reduced to what the
// witness rule needs: it answers reports with the VRRP role, feeds the
// board, and pushes report_now to the agents it heard.
type hbListener struct {
	name   string
	drv    *vrrp.Driver
	conn   net.PacketConn
	opener *hbproto.Opener
	sealer *hbproto.Sealer
	board  *witness.Board

	mu     sync.Mutex
	agents map[netip.AddrPort]bool
	quiet  bool
}

func startListener(t *testing.T, lab *netlab.Lab, host, name string, session uint64, drv *vrrp.Driver, board *witness.Board) *hbListener {
	l := &hbListener{name: name, drv: drv, opener: hbproto.NewOpener(key, 0), sealer: hbproto.NewSealer(key, session),
		board: board, agents: map[netip.AddrPort]bool{}}
	err := lab.Do(host, func() error {
		var err error
		l.conn, err = net.ListenPacket("udp4", fmt.Sprintf("0.0.0.0:%d", hbproto.DefaultPort))
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
			n, from, err := l.conn.ReadFrom(buf)
			if err != nil {
				return
			}
			now := time.Now()
			peer := from.(*net.UDPAddr).AddrPort()
			m, err := l.opener.Open(peer.String(), buf[:n], now)
			if err != nil || m.Agent == nil {
				continue
			}
			l.board.Observe(now, m.Agent)
			l.mu.Lock()
			l.agents[peer] = true
			quiet := l.quiet
			l.mu.Unlock()
			if !quiet {
				l.send(peer, false)
			}
		}
	}()
	t.Cleanup(func() { l.conn.Close(); <-done })
	return l
}

func (l *hbListener) send(to netip.AddrPort, reportNow bool) {
	b, err := l.sealer.SealDirector(time.Now(), &hbproto.DirectorReply{Director: l.name, Role: role(l.drv.Status().State), ReportNow: reportNow})
	if err == nil {
		l.conn.WriteTo(b, net.UDPAddrFromAddrPort(to))
	}
}

// RequestReports is Options.RequestReports.
func (l *hbListener) RequestReports() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for a := range l.agents {
		go l.send(a, true)
	}
}

// TestNetnsWitnessPartition: two directors (director/vrrp and this
// package, in-process, each in its namespace) and one real tandem-backend
// agent. The link between the directors breaks (each drops the other's
// packets: VRRP and probes); the agent still hears both. The backup loses
// the probe, asks the agent, and stays backup through Master_Down_Interval
// and beyond: no second master. Then the master dies while the link is
// still broken: the agent stops vouching and the backup takes over.
func TestNetnsWitnessPartition(t *testing.T) {
	testutil.Netns(t)
	bin := testutil.Bin(t, "tandem-backend")
	lab, err := netlab.New(t, netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "d1", Addr: "10.95.0.1/24"},
		{Name: "d2", Addr: "10.95.0.2/24"},
		{Name: "rs", Addr: "10.95.0.11/24"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	vip := netip.MustParsePrefix("10.95.0.100/24")
	type director struct {
		drv    *vrrp.Driver
		w      *Watcher
		hb     *hbListener
		cancel context.CancelFunc
		done   chan struct{}
	}
	start := func(host, name string, prio uint8, session uint64) *director {
		ns, err := lab.NsHandle(host)
		if err != nil {
			t.Fatal(err)
		}
		drv, err := vrrp.NewDriver(vrrp.InstanceConfig{Name: "VI_1", Interface: "eth0", VRID: 51, Priority: prio, AdvertInterval: time.Second,
			Version: 2, AuthPass: "pw", VIPs: []vrrp.VIP{{Prefix: vip}}}, vrrp.Options{NetNS: ns, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		board := witness.NewBoard(witness.Config{Quorum: 1})
		board.SetServers([]netip.Addr{netip.MustParseAddr("10.95.0.11")})
		d := &director{drv: drv, done: make(chan struct{})}
		d.hb = startListener(t, lab, host, name, session, drv, board)
		d.w, err = New(Options{Name: name, Key: key, Interface: "eth0", NetNS: ns,
			Session:   Config{TxInterval: 50 * time.Millisecond, DetectMult: 3, SlowInterval: 200 * time.Millisecond},
			Instances: []Binding{{VRRP: drv}}, Witness: board, WitnessWait: 200 * time.Millisecond,
			// The veto's bound (witness_max_veto) is tested on its own
			// (TestWatcherVetoBounded); here it outlasts the partition.
			MaxVeto:        30 * time.Second,
			RequestReports: d.hb.RequestReports, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		d.cancel = cancel
		var wg sync.WaitGroup
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := drv.Run(ctx); err != nil {
				t.Errorf("%s vrrp: %v", name, err)
			}
		}()
		go func() {
			defer wg.Done()
			if err := d.w.Run(ctx); err != nil {
				t.Errorf("%s peerwatch: %v", name, err)
			}
		}()
		go func() { wg.Wait(); close(d.done) }()
		t.Cleanup(func() { cancel(); <-d.done })
		return d
	}
	d1 := start("d1", "lb1", 150, 1)
	d2 := start("d2", "lb2", 100, 2)

	dir := t.TempDir()
	keyPath := filepath.Join(dir, "heartbeat.key")
	if err := os.WriteFile(keyPath, key, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`node: web1
vips: [10.95.0.100]
interface: eth0
real_ip: 10.95.0.11
directors: ["10.95.0.1", "10.95.0.2"]
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

	wait := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		if !testutil.WaitFor(d, ok) {
			t.Fatalf("%s: not within %v\nd1: %s\nd2: %s\nd2 watcher: %+v\nagent:\n%s", what, d, d1.drv.Status(), d2.drv.Status(), d2.w.Status(), agent.Output())
		}
	}
	wait("d1 master, d2 backup, probe up", 10*time.Second, func() bool {
		return d1.drv.Status().State == vrrp.StateMaster && d2.drv.Status().State == vrrp.StateBackup &&
			d2.w.Status().Session == StateUp && d2.drv.Status().Received > 0 &&
			len(d2.w.Status().Peer.Instances) == 1 && d2.w.Status().Peer.Instances[0].Role == hbproto.RoleMaster
	})
	// The agent has reported to d2 (with lb1 as master) at least once.
	wait("agent heard by d2", 5*time.Second, func() bool { return d2.hb.board.Agents(time.Now()) > 0 })

	partition := func(on bool) {
		t.Helper()
		for _, p := range [][2]string{{"d1", "10.95.0.2"}, {"d2", "10.95.0.1"}} {
			var err error
			if on {
				_, err = lab.Exec(p[0], "nft", "add table inet part; add chain inet part in { type filter hook input priority 0; }; add rule inet part in ip saddr "+p[1]+" drop")
			} else {
				_, err = lab.Exec(p[0], "nft", "delete table inet part")
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	cut := time.Now()
	partition(true)
	wait("d2's veto", 2*time.Second, func() bool { return d2.w.Status().Vetoes > 0 })
	t.Logf("veto %v after the cut; witnesses %v", time.Since(cut).Round(time.Millisecond), d2.w.Status().Witnesses)
	if d := time.Since(cut); d > time.Second {
		t.Errorf("veto only %v after the cut: the probe path should have asked the agents", d)
	}
	// Through Master_Down_Interval (3.61 s) and beyond: d2 stays backup.
	// The condition never holds: it is checked until the window ends and
	// fails the test at the first sample with two masters.
	testutil.WaitFor(time.Until(cut.Add(6*time.Second)), func() bool {
		if s := d2.drv.Status().State; s != vrrp.StateBackup {
			t.Fatalf("%v after the cut d2 is %v: two masters\nd2 watcher: %+v", time.Since(cut).Round(time.Millisecond), s, d2.w.Status())
		}
		if d1.drv.Status().State != vrrp.StateMaster {
			t.Fatalf("d1 is %v", d1.drv.Status().State)
		}
		return false
	})
	if st := d2.w.Status(); st.Takeovers != 0 {
		t.Fatalf("d2 watcher: %+v", st)
	}

	// The master dies while the link is still broken: it stops answering
	// the agent, and its VIP goes (as on a dead machine).
	d1.hb.mu.Lock()
	d1.hb.quiet = true
	d1.hb.mu.Unlock()
	death := time.Now()
	d1.cancel()
	<-d1.done
	wait("d2 taking over from the dead master", 12*time.Second, func() bool { return d2.drv.Status().State == vrrp.StateMaster })
	t.Logf("d2 master %v after d1 died during the partition", time.Since(death).Round(time.Millisecond))
	partition(false)
}
