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
	m, b := newInst(vrrp.StateMaster, 150, 150), newInst(vrrp.StateBackup, 100, 150)
	wm := startNetnsWatcher(t, lab, "d1", m, Options{})
	wb := startNetnsWatcher(t, lab, "d2", b, Options{})
	// The host that never answers: probed by unicast, nothing comes up.
	k := newInst(vrrp.StateBackup, 100, 150)
	wk := startNetnsWatcher(t, lab, "ka", k, Options{Peer: netip.MustParseAddr("10.97.0.9")})

	waitSessionsUp(t, wm, wb, 5*time.Second)
	if p := wb.Status().Peer; p.Name != "d1" || p.Addr.Addr() != netip.MustParseAddr("10.97.0.1") {
		t.Fatalf("d2's peer: %+v", p)
	}
	cutAndWaitPeerDead(t, lab, "d1", b)
	if st := wk.Status(); st.Session == StateUp || st.Received != 0 || k.next(0) != nil {
		t.Errorf("the silent peer's watcher: %+v", st)
	}
}

// startNetnsWatcher starts a Watcher named host in host's namespace of lab,
// on eth0, with the netns tests' session timing (30 ms × 3, detection time
// 90 ms) and in as its one VRRP instance, and stops it when the test ends
// (an error from Run fails the test). o may set Peer and IPv6; the other
// fields are filled in here.
func startNetnsWatcher(t *testing.T, lab *netlab.Lab, host string, in *fakeInst, o Options) *Watcher {
	t.Helper()
	ns, err := lab.NsHandle(host)
	if err != nil {
		t.Fatal(err)
	}
	o.Name, o.Key, o.Interface, o.NetNS = host, key, "eth0", ns
	o.Session = Config{TxInterval: 30 * time.Millisecond, DetectMult: 3, SlowInterval: 200 * time.Millisecond}
	o.Instances, o.Logger = []Binding{{VRRP: in}}, quiet()
	w, err := New(o)
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

// waitSessionsUp waits up to limit for both d1's (wm) and d2's (wb)
// sessions to be up and fails the test if they are not.
func waitSessionsUp(t *testing.T, wm, wb *Watcher, limit time.Duration) {
	t.Helper()
	testutil.WaitFor(limit, func() bool { return wm.Status().Session == StateUp && wb.Status().Session == StateUp })
	if wm.Status().Session != StateUp || wb.Status().Session != StateUp {
		t.Fatalf("sessions: d1 %+v, d2 %+v", wm.Status(), wb.Status())
	}
}

// cutAndWaitPeerDead cuts host's cable (its port on the lab's switch) and
// wants d2's instance b (the backup) to get PeerDead within a second (the
// detection time is 90 ms).
func cutAndWaitPeerDead(t *testing.T, lab *netlab.Lab, host string, b *fakeInst) {
	t.Helper()
	sw, err := lab.Netlink("sw")
	if err != nil {
		t.Fatal(err)
	}
	port, err := sw.LinkByName(host + "-eth0")
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
}
