package vrrp

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/shared/testutil"
)

// A running master reconfigured by a reload (priority lowered, a VIP
// added): it keeps MASTER, adds the new VIP and announces it alone, sends
// the new priority at once and never a priority 0 nor a release.
func TestDriverReconfigureMaster(t *testing.T) {
	cfg := fastCfg(func(c *InstanceConfig) { c.Priority = 150 })
	d, f := newDriver(t, cfg)
	stop := runDriver(t, d)
	defer stop()
	f.rec.waitFor(t, "notify BACKUP")
	f.advance(t, masterDown(cs(2), 150))
	f.rec.waitFor(t, "notify MASTER")
	n := cfg
	n.Priority = 140
	n.VIPs = append(slices.Clone(cfg.VIPs), VIP{Prefix: vip("192.0.2.101/32").Prefix})
	if err := d.Inject(context.Background(), Reconfigure{Config: n}); err != nil {
		t.Fatal(err)
	}
	f.rec.waitForN(t, "garp 1 x 5", 2) // the takeover's, the new VIP's
	f.rec.waitFor(t, "advert 140 to 224.0.0.18")
	testutil.Eventually(t, patience, func() bool { return d.Status().BasePriority == 140 }, "status not updated: %+v", d.Status())
	ev := f.rec.snapshot()
	i := slices.Index(ev, "notify MASTER 150")
	after := only(ev[i+1:], func(e string) bool { return !strings.HasPrefix(e, "advert 150 ") })
	want := []string{"add 1 VIPs", "advert 140 to 224.0.0.18", "garp 1 x 5"}
	if diff := cmp.Diff(want, after[:3]); diff != "" {
		t.Fatalf("after the reconfigure (-want +got)\n%s\nall: %q", diff, ev)
	}
	for _, e := range ev[i+1:] {
		if e == "advert 0 to 224.0.0.18" || strings.HasPrefix(e, "remove") || strings.HasPrefix(e, "notify") {
			t.Fatalf("%q after the reconfigure: %q", e, ev)
		}
	}
	st := d.Status()
	if st.State != StateMaster || st.Priority != 140 || st.BasePriority != 140 {
		t.Fatalf("status %s priority %d base %d", st.State, st.Priority, st.BasePriority)
	}
	// The next periodic advert carries both VIPs.
	f.advance(t, cs(2))
	f.rec.waitForN(t, "advert 140 ", 2)
	f.rec.mu.Lock()
	last := f.rec.sent[len(f.rec.sent)-1]
	f.rec.mu.Unlock()
	if len(last.Addresses) != 2 || last.Priority != 140 {
		t.Fatalf("periodic advert after the reconfigure: priority %d, %v; want 140 and the two VIPs", last.Priority, last.Addresses)
	}
}
