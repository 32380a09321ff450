package vrrp

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/clock/clocktest"
)

type fakeRoutes struct{ rec *recorder }

func (f fakeRoutes) AddRoutes(r []Route, ru []Rule) error {
	f.rec.add(fmt.Sprintf("add %d routes %d rules", len(r), len(ru)))
	return nil
}

func (f fakeRoutes) RemoveRoutes(r []Route, ru []Rule) error {
	f.rec.add(fmt.Sprintf("remove %d rules %d routes", len(ru), len(r)))
	return nil
}

func newDriverOpts(t *testing.T, cfg InstanceConfig, edit func(*Options)) (*Driver, *fakes) {
	t.Helper()
	rec := newRecorder()
	f := &fakes{rec: rec, conn: &fakeConn{rec: rec, in: make(chan Received, 8), closed: make(chan struct{})},
		links: fakeLinks{initial: map[string]bool{"eth0": true, "eth1": true}, ch: make(chan LinkState, 4)}}
	o := Options{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Src: self, IfIndex: 2,
		Conn: f.conn, Addrs: fakeAddrs{rec}, Announcer: fakeAnnouncer{rec}, Notifier: fakeNotifier{rec}, Links: f.links,
		Routes: fakeRoutes{rec}, Clock: clocktest.New(t0),
	}
	if edit != nil {
		edit(&o)
	}
	f.clk = o.Clock.(*clocktest.Clock)
	d, err := NewDriver(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	return d, f
}

func TestDriverRoutesExcludedPriorityFaults(t *testing.T) {
	cfg := fastCfg(func(c *InstanceConfig) {
		c.ExcludedVIPs = []VIP{{Prefix: netip.MustParsePrefix("198.51.100.7/32")}}
		c.VirtualRoutes = []Route{{Dst: netip.MustParsePrefix("203.0.113.0/24"), Via: netip.MustParseAddr("192.0.2.1")}}
		c.VirtualRules = []Rule{{From: netip.MustParsePrefix("192.0.2.100/32"), Table: 10}}
	})
	d, f := newDriverOpts(t, cfg, nil)
	// Injected before Run: applies before Startup.
	if err := d.Inject(context.Background(), SetPriority{150}); err != nil {
		t.Fatal(err)
	}
	stop := runDriver(t, d)
	f.rec.waitFor(t, "notify BACKUP")
	f.advance(t, masterDown(cs(2), 150))
	f.rec.waitFor(t, "notify MASTER")
	// An advert listing only the VIPs (not the excluded one) is accepted.
	adv := &Packet{Version: 3, Type: 1, VRID: 100, Priority: 50, MaxAdverInt: 2, Addresses: []netip.Addr{netip.MustParseAddr("192.0.2.100")}}
	b, _ := adv.Marshal(lowIP, MulticastGroup4)
	f.conn.in <- Received{Payload: b, Src: lowIP, Dst: MulticastGroup4, TTL: 255, IfIndex: 2}
	waitReceived(t, d, 1)
	if err := d.Inject(context.Background(), FaultSet{"script chk"}); err != nil {
		t.Fatal(err)
	}
	f.rec.waitFor(t, "notify FAULT")
	waitState(t, d, StateFault)
	s := d.Status()
	if s.Received != 1 || len(s.Dropped) != 0 {
		t.Errorf("advert without the excluded VIP: received %d, dropped %v", s.Received, s.Dropped)
	}
	if !strings.Contains(s.String(), "our priority 150 (base 100)") || !strings.Contains(s.String(), "  faults: script chk\n") {
		t.Errorf("status text:\n%s", s)
	}
	if diff := cmp.Diff([]string{"script chk"}, s.FaultSources); diff != "" {
		t.Errorf("FaultSources (-want +got)\n%s", diff)
	}
	if err := d.Inject(context.Background(), FaultCleared{"script chk"}); err != nil {
		t.Fatal(err)
	}
	f.rec.waitForN(t, "notify BACKUP", 2)
	stop()
	keep := func(e string) bool { return !strings.HasPrefix(e, "advert 150 ") }
	want := []string{
		"remove 1 rules 1 routes", "remove 2 VIPs", "notify BACKUP 150",
		"add 2 VIPs", "add 1 routes 1 rules", "garp 2 x 5", "notify MASTER 150",
		"garp 2 x 5", // the lower-priority advert: re-announce
		"remove 1 rules 1 routes", "remove 2 VIPs", "advert 0 to 224.0.0.18", "notify FAULT 150",
		"notify BACKUP 150", "notify STOP 150",
	}
	if diff := cmp.Diff(want, only(f.rec.snapshot(), keep)); diff != "" {
		t.Errorf("effects (-want +got)\n%s", diff)
	}
	for _, p := range f.rec.sent {
		if len(p.Addresses) != 1 {
			t.Errorf("advert carries %v, want only the VIP", p.Addresses)
		}
	}
}

func TestDriverSyncGroupWithoutHubRunsAlone(t *testing.T) {
	d, _ := newDriverOpts(t, fastCfg(func(c *InstanceConfig) { c.SyncGroup = "G" }), nil)
	if d.cfg.SyncGroup != "" || len(d.warn) != 1 {
		t.Errorf("SyncGroup %q, warnings %q", d.cfg.SyncGroup, d.warn)
	}
}

// TestDriverSyncHub: two drivers of one sync group go MASTER together, and
// a fault of one puts both in FAULT and back.
func TestDriverSyncHub(t *testing.T) {
	hub := NewSyncHub(NewSyncGroup("G", []string{"VI_1", "VI_2"}), slog.New(slog.NewTextHandler(io.Discard, nil)))
	clk := clocktest.New(t0) // one clock: the two Master_Down timers expire together
	mk := func(name string, vrid uint8) (*Driver, *fakes) {
		return newDriverOpts(t, fastCfg(func(c *InstanceConfig) { c.Name, c.VRID = name, vrid }), func(o *Options) { o.Sync, o.Clock = hub, clk })
	}
	d1, f1 := mk("VI_1", 1)
	d2, f2 := mk("VI_2", 2)
	stop1, stop2 := runDriver(t, d1), runDriver(t, d2)
	// Both backups wait on Master_Down; it expires.
	takeover := func(n int) {
		t.Helper()
		f1.rec.waitForN(t, "notify BACKUP", n)
		f2.rec.waitForN(t, "notify BACKUP", n)
		waitArmed(t, clk, 2)
		clk.Advance(masterDown(cs(2), 100))
		f1.rec.waitForN(t, "notify MASTER", n)
		f2.rec.waitForN(t, "notify MASTER", n)
	}
	takeover(1)
	if hub.State() != StateMaster {
		t.Errorf("group %s", hub.State())
	}
	if err := d1.Inject(context.Background(), FaultSet{"script chk"}); err != nil {
		t.Fatal(err)
	}
	// Both in FAULT, and both have told the hub so (the status follows
	// the report): the fault may clear.
	waitState(t, d1, StateFault)
	waitState(t, d2, StateFault)
	if s := d2.Status(); !s.GroupFault || !strings.Contains(s.String(), "faults: sync group G") {
		t.Errorf("VI_2 status:\n%s", s)
	}
	if err := d1.Inject(context.Background(), FaultCleared{"script chk"}); err != nil {
		t.Fatal(err)
	}
	takeover(2)
	stop1()
	stop2()
	keep := func(e string) bool { return strings.HasPrefix(e, "notify") }
	want := []string{"notify BACKUP 100", "notify MASTER 100", "notify FAULT 100", "notify BACKUP 100", "notify MASTER 100", "notify STOP 100"}
	for i, f := range []*fakes{f1, f2} {
		if diff := cmp.Diff(want, only(f.rec.snapshot(), keep)); diff != "" {
			t.Errorf("VI_%d notifications (-want +got)\n%s", i+1, diff)
		}
	}
}
