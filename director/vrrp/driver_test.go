package vrrp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/clock/clocktest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// recorder is the shared log of every fake: the order of effects matters
// (VIPs off before the priority-0 advert).
type recorder struct {
	mu     sync.Mutex
	events []string
	sent   []*Packet
	cond   chan struct{}
}

func newRecorder() *recorder { return &recorder{cond: make(chan struct{}, 1)} }

func (r *recorder) add(e string) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	select {
	case r.cond <- struct{}{}:
	default:
	}
}

func (r *recorder) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

// waitFor waits (bounded) until an event with this prefix was recorded.
func (r *recorder) waitFor(t *testing.T, prefix string) { t.Helper(); r.waitForN(t, prefix, 1) }

// waitForN waits (bounded) until n events with this prefix were recorded.
func (r *recorder) waitForN(t *testing.T, prefix string, n int) {
	t.Helper()
	deadline := time.After(patience)
	for {
		c := 0
		for _, e := range r.snapshot() {
			if strings.HasPrefix(e, prefix) {
				c++
			}
		}
		if c >= n {
			return
		}
		select {
		case <-r.cond:
		case <-deadline:
			t.Fatalf("no %q in %q", prefix, r.snapshot())
		}
	}
}

type fakeConn struct {
	rec    *recorder
	in     chan Received
	closed chan struct{}
	once   sync.Once
}

func (c *fakeConn) Read() (Received, error) {
	select {
	case r := <-c.in:
		return r, nil
	case <-c.closed:
		return Received{}, net.ErrClosed
	}
}

func (c *fakeConn) Write(b []byte, src, dst netip.Addr) error {
	p, err := Decode(b, src, dst)
	if err != nil {
		return err
	}
	c.rec.mu.Lock()
	c.rec.sent = append(c.rec.sent, p)
	c.rec.mu.Unlock()
	c.rec.add(fmt.Sprintf("advert %d to %s", p.Priority, dst))
	return nil
}

func (c *fakeConn) Close() error { c.once.Do(func() { close(c.closed) }); return nil }

type fakeAddrs struct{ rec *recorder }

func (f fakeAddrs) AddVIPs(v []VIP) error { f.rec.add(fmt.Sprintf("add %d VIPs", len(v))); return nil }
func (f fakeAddrs) RemoveVIPs(v []VIP) error {
	f.rec.add(fmt.Sprintf("remove %d VIPs", len(v)))
	return nil
}

type fakeAnnouncer struct{ rec *recorder }

func (f fakeAnnouncer) Announce(v []VIP, n int) error {
	f.rec.add(fmt.Sprintf("garp %d x %d", len(v), n))
	return nil
}

type fakeNotifier struct{ rec *recorder }

func (f fakeNotifier) Notify(s State, p uint8) { f.rec.add(fmt.Sprintf("notify %s %d", s, p)) }

type fakeLinks struct {
	initial map[string]bool
	ch      chan LinkState
}

func (f fakeLinks) Watch(context.Context, []string) (map[string]bool, <-chan LinkState, error) {
	return f.initial, f.ch, nil
}

type fakes struct {
	rec   *recorder
	conn  *fakeConn
	links fakeLinks
	// clk is the driver's clock: time moves only when the test says.
	clk *clocktest.Clock
}

// patience bounds every wait for the driver's goroutine (real time).
const patience = 5 * time.Second

// advance lets d pass on the driver's clock, once the driver waits on its
// next deadline (it must have one).
func (f *fakes) advance(t *testing.T, d time.Duration) {
	t.Helper()
	waitArmed(t, f.clk, 1)
	f.clk.Advance(d)
}

// waitArmed waits until n timers are armed on clk: the drivers on it have
// handled what was due and wait on their next deadlines.
func waitArmed(t *testing.T, clk *clocktest.Clock, n int) {
	t.Helper()
	if !clk.WaitPending(n, patience) {
		t.Fatalf("%d timers armed, want %d", clk.Pending(), n)
	}
}

// masterDown is RFC 5798's Master_Down_Interval of a VRRPv3 backup of
// priority prio whose master advertises every adv.
func masterDown(adv time.Duration, prio int) time.Duration {
	return 3*adv + time.Duration(256-prio)*adv/256
}

// waitReceived waits until d has taken n valid adverts (the fake socket's
// queue is read by the driver's goroutine).
func waitReceived(t *testing.T, d *Driver, n uint64) {
	t.Helper()
	testutil.Eventually(t, patience, func() bool { return d.Status().Received >= n }, "adverts received: %d, want %d", d.Status().Received, n)
}

// waitState waits until d's status says st: the status is updated once
// the step that notified the change has ended.
func waitState(t *testing.T, d *Driver, st State) {
	t.Helper()
	testutil.Eventually(t, patience, func() bool { return d.Status().State == st }, "state %s, want %s", d.Status().State, st)
}

func newDriver(t *testing.T, cfg InstanceConfig) (*Driver, *fakes) {
	t.Helper()
	return newDriverOpts(t, cfg, func(o *Options) { o.Routes = nil })
}

func fastCfg(edit func(*InstanceConfig)) InstanceConfig {
	return baseCfg(func(c *InstanceConfig) {
		c.AdvertInterval = cs(2)
		c.TrackInterfaces = []string{"eth1"}
		if edit != nil {
			edit(c)
		}
	})
}

func runDriver(t *testing.T, d *Driver) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	return func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(patience):
			t.Fatal("Run did not return")
		}
	}
}

// only keeps the events of interest, dropping periodic adverts.
func only(events []string, keep func(string) bool) []string {
	var out []string
	for _, e := range events {
		if keep(e) {
			out = append(out, e)
		}
	}
	return out
}

func TestDriverTakeoverAndCleanStop(t *testing.T) {
	d, f := newDriver(t, fastCfg(nil))
	stop := runDriver(t, d)
	f.rec.waitFor(t, "notify BACKUP")
	f.advance(t, masterDown(cs(2), 100))
	f.rec.waitFor(t, "notify MASTER")
	f.advance(t, cs(2)) // one periodic advert
	f.rec.waitForN(t, "advert 100 ", 2)
	stop()
	notPeriodic := func(e string) bool { return e != "advert 100 to 224.0.0.18" }
	want := []string{
		"remove 1 VIPs", "notify BACKUP 100",
		"add 1 VIPs", "garp 1 x 5", "notify MASTER 100",
		"remove 1 VIPs", "advert 0 to 224.0.0.18", "notify STOP 100",
	}
	if diff := cmp.Diff(want, only(f.rec.snapshot(), notPeriodic)); diff != "" {
		t.Errorf("effects (-want +got)\n%s", diff)
	}
	// The first advert comes right after the VIPs, before the GARP burst.
	ev := f.rec.snapshot()
	for i, e := range ev {
		if e == "add 1 VIPs" && (i+1 >= len(ev) || ev[i+1] != "advert 100 to 224.0.0.18") {
			t.Errorf("no advert right after the VIPs: %q", ev)
		}
	}
	want0 := &Packet{Version: 3, Type: 1, VRID: 100, Priority: 100, CountIPAddrs: 1, MaxAdverInt: 2,
		Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	got := f.rec.sent[0]
	got.Checksum = 0
	if diff := cmp.Diff(want0, got, cmpOptsPacket...); diff != "" {
		t.Errorf("advert (-want +got)\n%s", diff)
	}
	s := d.Status()
	if s.State != StateStop || s.Sent != 3 || s.Src != self {
		t.Errorf("status after stop: %+v", s)
	}
}

func TestDriverBackupFollowsMasterThenFault(t *testing.T) {
	d, f := newDriver(t, fastCfg(func(c *InstanceConfig) { c.AdvertInterval = time.Second }))
	stop := runDriver(t, d)
	f.rec.waitFor(t, "notify BACKUP")
	f.advance(t, 2*time.Second) // Master_Down is 3.39 s away
	adv := &Packet{Version: 3, Type: 1, VRID: 100, Priority: 200, MaxAdverInt: 100, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	b, _ := adv.Marshal(hiIP, MulticastGroup4)
	f.conn.in <- Received{Payload: b, Src: hiIP, Dst: MulticastGroup4, TTL: 255, IfIndex: 2}
	waitReceived(t, d, 1)
	// The master's advert pushed Master_Down back to a full interval from
	// now.
	downAt := f.clk.Now().Add(masterDown(time.Second, 100))
	testutil.Eventually(t, patience, func() bool { next, _ := f.clk.Next(); return next.Equal(downAt) }, "Master_Down not re-armed for %v", downAt)
	if s := d.Status(); s.Master != hiIP || s.MasterPriority != 200 || s.State != StateBackup {
		t.Errorf("status: %+v", s)
	}
	if !strings.Contains(d.Status().String(), "master: 10.0.0.3 (priority 200)") {
		t.Errorf("status text:\n%s", d.Status())
	}
	f.links.ch <- LinkState{Name: "eth1", Up: false}
	f.rec.waitFor(t, "notify FAULT")
	f.links.ch <- LinkState{Name: "eth1", Up: true}
	f.rec.waitForN(t, "notify BACKUP 100", 2)
	stop()
	want := []string{"remove 1 VIPs", "notify BACKUP 100", "notify FAULT 100", "notify BACKUP 100", "notify STOP 100"}
	if diff := cmp.Diff(want, f.rec.snapshot()); diff != "" {
		t.Errorf("effects (-want +got)\n%s", diff)
	}
}

func TestDriverMasterFaultReleasesFirst(t *testing.T) {
	d, f := newDriver(t, fastCfg(nil))
	stop := runDriver(t, d)
	f.rec.waitFor(t, "notify BACKUP")
	f.advance(t, masterDown(cs(2), 100))
	f.rec.waitFor(t, "notify MASTER")
	f.links.ch <- LinkState{Name: "eth1", Up: false}
	f.rec.waitFor(t, "notify FAULT")
	stop()
	got := only(f.rec.snapshot(), func(e string) bool { return e != "advert 100 to 224.0.0.18" })
	want := []string{"remove 1 VIPs", "notify BACKUP 100", "add 1 VIPs", "garp 1 x 5", "notify MASTER 100",
		"remove 1 VIPs", "advert 0 to 224.0.0.18", "notify FAULT 100", "notify STOP 100"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("effects (-want +got)\n%s", diff)
	}
}

func TestDriverStartsInFaultWhenLinkDown(t *testing.T) {
	d, f := newDriver(t, fastCfg(nil))
	f.links.initial["eth1"] = false
	stop := runDriver(t, d)
	f.rec.waitFor(t, "notify FAULT")
	stop()
	if diff := cmp.Diff([]string{"remove 1 VIPs", "notify FAULT 100", "notify STOP 100"}, f.rec.snapshot()); diff != "" {
		t.Errorf("effects (-want +got)\n%s", diff)
	}
}

func TestDriverInjectHooks(t *testing.T) {
	d, f := newDriver(t, fastCfg(func(c *InstanceConfig) { c.AdvertInterval = 10 * time.Second }))
	stop := runDriver(t, d)
	defer stop()
	f.rec.waitFor(t, "notify BACKUP")
	if err := d.Inject(context.Background(), PeerDead{}); err != nil {
		t.Fatal(err)
	}
	f.rec.waitFor(t, "notify MASTER")
	waitState(t, d, StateMaster)
	if s := d.Status(); s.Reason != "peer detector reports the master dead" {
		t.Errorf("reason %q", s.Reason)
	}
}

// The driver waits on its clock: a backup takes over exactly at
// Master_Down_Interval, and a master advertises exactly every
// advert_int, nothing in between.
func TestDriverTiming(t *testing.T) {
	d, f := newDriver(t, fastCfg(nil))
	stop := runDriver(t, d)
	defer stop()
	f.rec.waitFor(t, "notify BACKUP")
	waitArmed(t, f.clk, 1)
	if next, _ := f.clk.Next(); !next.Equal(t0.Add(masterDown(cs(2), 100))) {
		t.Fatalf("backup waits until %v, want t0 + %v", next.Sub(t0), masterDown(cs(2), 100))
	}
	f.advance(t, masterDown(cs(2), 100)-time.Nanosecond)
	f.advance(t, 0)
	if s := d.Status(); s.State != StateBackup {
		t.Fatalf("%s a nanosecond before Master_Down", s.State)
	}
	f.advance(t, time.Nanosecond)
	f.rec.waitFor(t, "notify MASTER")
	adverts := func() int {
		return len(only(f.rec.snapshot(), func(e string) bool { return e == "advert 100 to 224.0.0.18" }))
	}
	for i := 1; i <= 5; i++ {
		f.advance(t, cs(2)-time.Millisecond)
		f.advance(t, 0)
		if n := adverts(); n != i {
			t.Fatalf("%d adverts a millisecond before advert %d", n, i+1)
		}
		f.advance(t, time.Millisecond)
		f.rec.waitForN(t, "advert 100 ", i+1)
	}
	waitArmed(t, f.clk, 1)
	if n := adverts(); n != 6 {
		t.Errorf("%d adverts in 5 intervals after the takeover, want 1 + 5", n)
	}
}

func TestDriverCheck(t *testing.T) {
	vip := netip.MustParseAddr("192.0.2.100")
	v2 := func(edit func(*Packet)) []byte {
		p := &Packet{Version: 2, Type: 1, VRID: 100, Priority: 150, AdverInt: 1, AuthType: AuthPassword, AuthData: pw("password"), Addresses: []netip.Addr{vip}}
		if edit != nil {
			edit(p)
		}
		b, err := p.Marshal(hiIP, MulticastGroup4)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cfg := fastCfg(func(c *InstanceConfig) { c.Version, c.AdvertInterval, c.AuthPass = 2, time.Second, "password" })
	ok := Received{Payload: v2(nil), Src: hiIP, Dst: MulticastGroup4, TTL: 255, IfIndex: 2}
	with := func(f func(*Received)) Received { r := ok; f(&r); return r }
	tests := []struct {
		name   string
		cfg    func(*InstanceConfig)
		r      Received
		reason string
	}{
		{"valid", nil, ok, ""},
		{"ttl", nil, with(func(r *Received) { r.TTL = 254 }), DropTTL},
		{"interface", nil, with(func(r *Received) { r.IfIndex = 3 }), DropInterface},
		{"looped", nil, with(func(r *Received) { r.Src = self }), DropLooped},
		{"checksum", nil, with(func(r *Received) { r.Payload = append([]byte(nil), r.Payload...); r.Payload[2]++ }), "checksum"},
		{"other vrid", nil, with(func(r *Received) { r.Payload = v2(func(p *Packet) { p.VRID = 7 }) }), DropOtherVRID},
		{"version", nil, with(func(r *Received) {
			p := &Packet{Version: 3, Type: 1, VRID: 100, Priority: 1, MaxAdverInt: 100, Addresses: []netip.Addr{vip}}
			r.Payload, _ = p.Marshal(hiIP, MulticastGroup4)
		}), DropVersion},
		{"password", nil, with(func(r *Received) { r.Payload = v2(func(p *Packet) { p.AuthData = pw("wrong") }) }), DropAuth},
		{"no auth", nil, with(func(r *Received) {
			r.Payload = v2(func(p *Packet) { p.AuthType, p.AuthData = AuthNone, [8]byte{} })
		}), DropAuth},
		{"interval", nil, with(func(r *Received) { r.Payload = v2(func(p *Packet) { p.AdverInt = 2 }) }), DropInterval},
		{"addresses", nil, with(func(r *Received) {
			r.Payload = v2(func(p *Packet) { p.Addresses = []netip.Addr{netip.MustParseAddr("192.0.2.99")} })
		}), DropAddresses},
		{"unicast stranger", func(c *InstanceConfig) { c.UnicastPeers = []netip.Addr{lowIP} }, ok, DropPeer},
		{"unicast peer", func(c *InstanceConfig) { c.UnicastPeers = []netip.Addr{hiIP} }, ok, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cfg
			if tt.cfg != nil {
				tt.cfg(&c)
			}
			d, _ := newDriver(t, c)
			d.src = self
			ev, accepted := d.check(tt.r)
			if tt.reason == "" {
				if !accepted || ev.Priority != 150 || ev.From != hiIP {
					t.Fatalf("check = %+v, %v; want accepted; dropped %v", ev, accepted, d.Status().Dropped)
				}
				return
			}
			if accepted {
				t.Fatalf("accepted %+v, want dropped for %q", ev, tt.reason)
			}
			if diff := cmp.Diff(map[string]uint64{tt.reason: 1}, d.Status().Dropped); diff != "" {
				t.Errorf("Dropped (-want +got)\n%s", diff)
			}
		})
	}
}

func TestNotifyCommands(t *testing.T) {
	c := baseCfg(func(c *InstanceConfig) {
		c.Name = "VI 0"
		c.NotifyMaster, c.Notify = "/etc/m.sh arg", "/etc/n.sh"
	})
	if diff := cmp.Diff([]string{"/etc/m.sh arg", "/etc/n.sh INSTANCE 'VI 0' MASTER 100"}, c.NotifyCommands(StateMaster, 100)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]string{"/etc/n.sh INSTANCE 'VI 0' STOP 100"}, c.NotifyCommands(StateStop, 100)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestScriptNotifier(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	script := filepath.Join(dir, "notify.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" >>"+out+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := baseCfg(func(c *InstanceConfig) {
		c.Notify = script
		c.NotifyBackup = script + " backup-only"
		c.NotifyFault = "sleep 10" // killed by the timeout
	})
	n := NewScriptNotifier(c, slog.New(slog.NewTextHandler(io.Discard, nil)), 200*time.Millisecond)
	n.Start()
	start := time.Now()
	n.Notify(StateBackup, 100)
	n.Notify(StateFault, 100)
	n.Notify(StateMaster, 100)
	n.Close()
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("scripts took %v: timeout not enforced", el)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "backup-only\nINSTANCE VI0 BACKUP 100\nINSTANCE VI0 FAULT 100\nINSTANCE VI0 MASTER 100\n"
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("script output (-want +got)\n%s", diff)
	}
}

func TestStatusString(t *testing.T) {
	s := Status{Instance: "VI0", VRID: 100, Version: 2, Interface: "eth0", State: StateMaster, Src: self, Master: self,
		MasterPriority: 100, Priority: 100, LastTransition: t0, Reason: "master down timer expired", Received: 3, Sent: 9,
		Dropped: map[string]uint64{"ttl": 1, "checksum": 2}}
	want := `instance VI0 vrid 100 (VRRPv2) on eth0: MASTER
  master: 10.0.0.2 (priority 100); our priority 100, source 10.0.0.2
  last transition: 2026-01-02T03:04:05Z: master down timer expired
  adverts: 3 received, 9 sent, 0 send errors
  dropped (checksum): 2
  dropped (ttl): 1
`
	if diff := cmp.Diff(want, s.String()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
