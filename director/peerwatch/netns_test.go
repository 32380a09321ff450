package peerwatch

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestNetnsProbe: two watchers on a bridge find each other by broadcast on
// eth0 (real sockets: SO_BINDTODEVICE, SO_BROADCAST), come up, and the
// backup gets PeerDead within the detection time when the master's cable
// is cut; a host that does not answer the probe (as keepalived) never
// brings a session up.
func TestNetnsProbe(t *testing.T) {
	testutil.Netns(t)
	lab, err := netlab.New(t, netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "d1", Addr: "10.97.0.1/24"},
		{Name: "d2", Addr: "10.97.0.2/24"},
		{Name: "ka", Addr: "10.97.0.3/24"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	start := func(host string, in *fakeInst, peer netip.Addr) *Watcher {
		ns, err := lab.NsHandle(host)
		if err != nil {
			t.Fatal(err)
		}
		w, err := New(Options{Name: host, Key: key, Interface: "eth0", NetNS: ns, Peer: peer,
			Session:   Config{TxInterval: 30 * time.Millisecond, DetectMult: 3, SlowInterval: 200 * time.Millisecond},
			Instances: []Binding{{VRRP: in}}, Logger: quiet()})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: Run: %v", host, err)
			}
		})
		return w
	}
	m, b := newInst(vrrp.StateMaster, 150, 150), newInst(vrrp.StateBackup, 100, 150)
	wm := start("d1", m, netip.Addr{})
	wb := start("d2", b, netip.Addr{})
	// The host that never answers: probed by unicast, nothing comes up.
	k := newInst(vrrp.StateBackup, 100, 150)
	wk := start("ka", k, netip.MustParseAddr("10.97.0.9"))

	deadline := time.Now().Add(5 * time.Second)
	for (wm.Status().Session != StateUp || wb.Status().Session != StateUp) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if wm.Status().Session != StateUp || wb.Status().Session != StateUp {
		t.Fatalf("sessions: d1 %+v, d2 %+v", wm.Status(), wb.Status())
	}
	if p := wb.Status().Peer; p.Name != "d1" || p.Addr.Addr() != netip.MustParseAddr("10.97.0.1") {
		t.Fatalf("d2's peer: %+v", p)
	}
	sw, err := lab.Netlink("sw")
	if err != nil {
		t.Fatal(err)
	}
	port, err := sw.LinkByName("d1-eth0")
	if err != nil {
		t.Fatal(err)
	}
	cut := time.Now()
	if err := sw.LinkSetDown(port); err != nil {
		t.Fatal(err)
	}
	ev := b.next(2 * time.Second)
	if _, ok := ev.(vrrp.PeerDead); !ok {
		t.Fatalf("d2 got %#v, want PeerDead", ev)
	}
	took := time.Since(cut)
	t.Logf("PeerDead %v after the cut (detection time 90ms)", took)
	if took > time.Second {
		t.Errorf("PeerDead after %v", took)
	}
	if st := wk.Status(); st.Session == StateUp || st.Received != 0 || k.next(0) != nil {
		t.Errorf("the silent peer's watcher: %+v", st)
	}
}
