package vrrp

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestDriverYieldHandsOverBetweenVIPsAndPriorityZero: the hand-over hook
// runs after the VIPs are off and before the priority-0 advert, on a
// Yield as on a clean stop.
func TestDriverYieldHandsOverBetweenVIPsAndPriorityZero(t *testing.T) {
	var rec *recorder
	d, f := newDriverOpts(t, fastCfg(nil), func(o *Options) {
		o.Routes = nil
		o.OnRelease = func(_ context.Context, instance string) { rec.add("hand over " + instance) }
	})
	rec = f.rec
	stop := runDriver(t, d)
	f.rec.waitFor(t, "notify BACKUP")
	f.advance(t, masterDown(cs(2), 100))
	f.rec.waitFor(t, "notify MASTER")
	if err := d.Inject(context.Background(), Yield{}); err != nil {
		t.Fatal(err)
	}
	f.rec.waitForN(t, "notify BACKUP", 2)
	waitState(t, d, StateBackup)
	if s := d.Status(); !s.Yielding || s.HandOvers != 1 {
		t.Errorf("after Yield: yielding %v, hand-overs %d; want true, 1", s.Yielding, s.HandOvers)
	}
	// The peer takes over and advertises: followed, not preempted.
	adv := &Packet{Version: 3, Type: 1, VRID: 100, Priority: 90, MaxAdverInt: 2, Addresses: d.vipAddrs()}
	b, _ := adv.Marshal(lowIP, MulticastGroup4)
	f.conn.in <- Received{Payload: b, Src: lowIP, Dst: MulticastGroup4, TTL: 255, IfIndex: 2}
	waitReceived(t, d, 1)
	if s := d.Status(); s.Master != lowIP || s.MasterSince.IsZero() || s.State != StateBackup {
		t.Errorf("peer master: %v since %v state %s", s.Master, s.MasterSince, s.State)
	}
	if !strings.Contains(d.Status().String(), "yielding") {
		t.Errorf("status text without the yield:\n%s", d.Status())
	}
	stop()
	notPeriodic := func(e string) bool { return e != "advert 100 to 224.0.0.18" }
	want := []string{
		"remove 1 VIPs", "notify BACKUP 100",
		"add 1 VIPs", "garp 1 x 5", "notify MASTER 100",
		"remove 1 VIPs", "hand over VI0", "advert 0 to 224.0.0.18", "notify BACKUP 100",
		"notify STOP 100",
	}
	if diff := cmp.Diff(want, only(f.rec.snapshot(), notPeriodic)); diff != "" {
		t.Errorf("effects (-want +got)\n%s", diff)
	}
}

// TestDriverHandOverBounded: a hook that never returns delays the release
// by ReleaseTimeout only; the priority-0 advert still goes out.
func TestDriverHandOverBounded(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	d, f := newDriverOpts(t, fastCfg(nil), func(o *Options) {
		o.Routes = nil
		o.ReleaseTimeout = 20 * time.Millisecond
		o.OnRelease = func(context.Context, string) { <-block } // ignores its context
	})
	stop := runDriver(t, d)
	f.rec.waitFor(t, "notify BACKUP")
	f.advance(t, masterDown(cs(2), 100))
	f.rec.waitFor(t, "notify MASTER")
	stop()
	f.rec.waitFor(t, "advert 0 ")
	if s := d.Status(); s.HandOvers != 1 || s.HandOverTimeouts != 1 || s.State != StateStop {
		t.Errorf("hand-overs %d, timeouts %d, state %s; want 1, 1, STOP", s.HandOvers, s.HandOverTimeouts, s.State)
	}
}
