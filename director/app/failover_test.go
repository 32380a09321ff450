package app

import (
	"context"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/ctlsock"
	"github.com/tandemlb/tandem/shared/testutil"
)

func conn(proto, client, virtual, dest string) lvs.Conn {
	return lvs.Conn{Protocol: proto, Client: netip.MustParseAddrPort(client), Virtual: netip.MustParseAddrPort(virtual),
		Dest: netip.MustParseAddrPort(dest), State: "ESTABLISHED", Expires: 900}
}

// TestHandOverSnap: which connections an instance hands over, and the
// forwarding and mark each entry gets from its service.
func TestHandOverSnap(t *testing.T) {
	cfg := &config.Config{
		ConnSync: &config.ConnSync{Interface: "eth1", SyncID: 7},
		Services: []config.VirtualService{
			{Protocol: config.TCP, Addr: netip.MustParseAddrPort("192.0.2.100:80"), Forwarding: config.DR},
			{Protocol: config.TCP, Addr: netip.MustParseAddrPort("192.0.2.100:443"), Forwarding: config.TUN},
			{Protocol: config.UDP, Addr: netip.MustParseAddrPort("192.0.2.101:0"), Forwarding: config.NAT},
			{Protocol: config.TCP, FWMark: 5, Forwarding: config.DR,
				RealServers: []config.RealServer{{Addr: netip.MustParseAddrPort("10.0.0.21:8080")}}},
		},
	}
	s := newHandOverSnap(cfg, map[string][]netip.Addr{
		"VI_1": {netip.MustParseAddr("192.0.2.100"), netip.MustParseAddr("192.0.2.101")},
		"VI_2": {netip.MustParseAddr("198.51.100.1")},
	})
	if s.cs == nil || s.cs.Interface != "eth1" || s.cs.SyncID != 7 {
		t.Fatalf("sync daemon: %+v", s.cs)
	}
	tests := []struct {
		name     string
		c        lvs.Conn
		keep1    bool // VI_1 hands it over
		keep2    bool // VI_2 does
		wantInfo lvs.ConnInfo
	}{
		{"DR service", conn("TCP", "203.0.113.9:40000", "192.0.2.100:80", "10.0.0.11:80"), true, false, lvs.ConnInfo{Forward: lvs.ForwardRoute}},
		{"TUN service", conn("TCP", "203.0.113.9:40001", "192.0.2.100:443", "10.0.0.11:443"), true, false, lvs.ConnInfo{Forward: lvs.ForwardTunnel}},
		{"NAT all-ports service", conn("UDP", "203.0.113.9:5353", "192.0.2.101:53", "10.0.0.12:53"), true, false, lvs.ConnInfo{Forward: lvs.ForwardMasq}},
		{"firewall-mark service, by real server", conn("TCP", "203.0.113.9:40002", "198.51.100.1:8080", "10.0.0.21:8080"), false, true, lvs.ConnInfo{Forward: lvs.ForwardRoute, FWMark: 5}},
		{"firewall-mark template: every instance's", conn("IP", "203.0.113.9:0", "0.0.0.5:0", "10.0.0.21:8080"), true, true, lvs.ConnInfo{Forward: lvs.ForwardRoute, FWMark: 5}},
		{"no service: direct routing", conn("TCP", "203.0.113.9:40003", "192.0.2.200:80", "10.0.0.99:80"), false, false, lvs.ConnInfo{Forward: lvs.ForwardRoute}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.keep("VI_1", tt.c); got != tt.keep1 {
				t.Errorf("VI_1 keeps: %v, want %v", got, tt.keep1)
			}
			if got := s.keep("VI_2", tt.c); got != tt.keep2 {
				t.Errorf("VI_2 keeps: %v, want %v", got, tt.keep2)
			}
			if diff := cmp.Diff(tt.wantInfo, s.info(tt.c)); diff != "" {
				t.Errorf("info (-want +got)\n%s", diff)
			}
		})
	}
	if s := newHandOverSnap(&config.Config{}, nil); s.cs != nil {
		t.Errorf("no lvs_sync_daemon: snapshot has %+v", s.cs)
	}
}

// failoverCall runs the failover op in a goroutine of its own, as the
// control socket does; the result arrives on the channel.
type failoverReply struct {
	res control.FailoverResult
	err error
}

func (h *harness) failoverAsync(args control.FailoverArgs) <-chan failoverReply {
	ch := make(chan failoverReply, 1)
	b, err := json.Marshal(args)
	if err != nil {
		h.t.Fatal(err)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		data, err := h.a.handle(ctx, ctlsock.Request{Op: control.OpFailover, Args: b})
		var r failoverReply
		r.err = err
		if err == nil {
			b, _ := json.Marshal(data)
			r.err = json.Unmarshal(b, &r.res)
		}
		ch <- r
	}()
	return ch
}

func waitReply(t *testing.T, ch <-chan failoverReply) failoverReply {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("failover op did not return")
	}
	return failoverReply{}
}

// masterWithPeer starts the harness with the instance MASTER and its peer
// heard once (it was preempted at start), and the given connections in
// the table.
func masterWithPeer(t *testing.T, table []lvs.Conn) (*harness, *fakeDriver) {
	t.Helper()
	h := start(t, testConfig("DIR", 1, ""), nil)
	h.handOver.table = table
	d := h.driver("VI0")
	d.peerAdvert("192.0.2.2", 90)
	d.becomeMaster("master down timer expired")
	testutil.Eventually(t, 5*time.Second, func() bool { return h.status().VRRP[0].State == "MASTER" }, "instance not MASTER")
	return h, d
}

// TestFailoverHandsOverAndWaitsForThePeer: the op yields the instance,
// the release hands the instance's connections to the peer's backup sync
// daemon, and the op returns once the peer advertises as master.
func TestFailoverHandsOverAndWaitsForThePeer(t *testing.T) {
	table := []lvs.Conn{
		conn("TCP", "203.0.113.9:40000", "192.0.2.100:80", "192.0.2.11:80"),
		conn("TCP", "203.0.113.9:40001", "192.0.2.100:80", "192.0.2.12:80"),
		conn("TCP", "203.0.113.9:40002", "198.51.100.7:80", "192.0.2.12:80"), // not this instance's
	}
	h, d := masterWithPeer(t, table)
	reply := h.failoverAsync(control.FailoverArgs{TimeoutMS: 5000})
	testutil.Eventually(t, 5*time.Second, func() bool { return d.Status().Yielding && d.Status().State == vrrp.StateBackup }, "instance not yielding")
	released := d.Status().LastTransition
	d.peerAdvert("192.0.2.2", 90)
	r := waitReply(t, reply)
	if r.err != nil {
		t.Fatal(r.err)
	}
	want := control.FailoverResult{TimeoutMS: 5000, Instances: []control.FailoverInstance{{
		Instance: "VI0", VRID: 100, FromState: "MASTER", State: "BACKUP", Yielding: true, Peer: "192.0.2.2", PeerPriority: 90,
		ReleasedAt: released, MasterAfterMS: -1, ConnectionsHandedOver: 2, HandOverMessages: 1,
	}}}
	ignore := cmpopts.IgnoreFields(control.FailoverInstance{}, "PeerMasterAfterMS", "HandOverMS")
	if diff := cmp.Diff(want, r.res, ignore); diff != "" {
		t.Errorf("result (-want +got)\n%s", diff)
	}
	if got := r.res.Instances[0].PeerMasterAfterMS; got < 0 {
		t.Errorf("peer_master_after_ms %d, want >= 0", got)
	}
	calls := h.handOver.recorded()
	wantCalls := []handOverCall{{Interface: "eth1", SyncID: 100, Sent: table[:2],
		Info: []lvs.ConnInfo{{Forward: lvs.ForwardRoute}, {Forward: lvs.ForwardRoute}}}}
	if diff := cmp.Diff(wantCalls, calls, cmpopts.EquateComparable(netip.AddrPort{})); diff != "" {
		t.Errorf("hand-overs (-want +got)\n%s", diff)
	}
	if st := h.status(); !st.VRRP[0].Yielding {
		t.Errorf("status: instance not shown yielding: %+v", st.VRRP[0])
	}
	if !strings.Contains(h.logs.String(), "connections handed over to the peer") {
		t.Errorf("no hand-over log line:\n%s", h.logs.String())
	}

	// --cancel: the instance stops yielding and, its priority above the
	// peer's, becomes MASTER again.
	reply = h.failoverAsync(control.FailoverArgs{Cancel: true, TimeoutMS: 5000})
	testutil.Eventually(t, 5*time.Second, func() bool { return !d.Status().Yielding }, "yield not cancelled")
	d.becomeMaster("master down timer expired")
	r = waitReply(t, reply)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if in := r.res.Instances[0]; !r.res.OK() || in.State != "MASTER" || in.Yielding || in.MasterAfterMS < 0 || !r.res.Cancel {
		t.Errorf("cancel: %+v", r.res)
	}
}

// TestFailoverRefusals: what the op refuses, changing nothing.
func TestFailoverRefusals(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)
	d := h.driver("VI0")
	call := func(args control.FailoverArgs) error {
		return h.call(control.OpFailover, args, nil)
	}
	tests := []struct {
		name string
		prep func()
		args control.FailoverArgs
		want string
	}{
		{"nothing MASTER", nil, control.FailoverArgs{}, "MASTER of no VRRP instance"},
		{"a BACKUP instance", nil, control.FailoverArgs{Instance: "VI0"}, "is BACKUP, not MASTER"},
		{"unknown instance", nil, control.FailoverArgs{Instance: "VI9"}, `no vrrp_instance "VI9" in the configuration (instances: VI0)`},
		{"nothing to cancel", nil, control.FailoverArgs{Cancel: true}, "nothing to cancel"},
		{"timeout out of bounds", nil, control.FailoverArgs{TimeoutMS: 10 * 60 * 1000}, "timeout 600000ms"},
		{"no peer heard", func() { d.becomeMaster("timer") }, control.FailoverArgs{}, "--force hands over anyway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.prep != nil {
				tt.prep()
			}
			err := call(tt.args)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	for _, ev := range d.injectedEvents() {
		if _, ok := ev.ev.(vrrp.Yield); ok {
			t.Errorf("a refused request yielded the instance: %v", d.injectedEvents())
		}
	}
}

// TestFailoverForceAndTimeout: with --force the instance yields although
// no peer was heard; nobody takes over, and the op says so at its timeout.
func TestFailoverForceAndTimeout(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)
	d := h.driver("VI0")
	d.becomeMaster("timer")
	testutil.Eventually(t, 5*time.Second, func() bool { return h.status().VRRP[0].State == "MASTER" }, "instance not MASTER")
	r := waitReply(t, h.failoverAsync(control.FailoverArgs{Force: true, TimeoutMS: 50}))
	if r.err != nil {
		t.Fatal(r.err)
	}
	in := r.res.Instances[0]
	if r.res.OK() || !strings.Contains(in.Error, "the peer was not heard as master within 50ms: state BACKUP, no advert from another router since the release") {
		t.Errorf("result %+v, want the timeout explained", in)
	}
	if in.PeerMasterAfterMS != -1 || !in.Yielding {
		t.Errorf("peer_master_after_ms %d, yielding %v; want -1, true", in.PeerMasterAfterMS, in.Yielding)
	}
}

// TestFailoverNoSyncDaemon: without lvs_sync_daemon nothing is handed
// over, and the result says why.
func TestFailoverNoSyncDaemon(t *testing.T) {
	cfg := strings.Replace(testConfig("DIR", 1, ""), "lvs_sync_daemon:\n  interface: eth1\n  instance: VI0\n", "", 1)
	h := start(t, cfg, nil)
	h.handOver.table = []lvs.Conn{conn("TCP", "203.0.113.9:40000", "192.0.2.100:80", "192.0.2.11:80")}
	d := h.driver("VI0")
	d.peerAdvert("192.0.2.2", 90)
	d.becomeMaster("timer")
	testutil.Eventually(t, 5*time.Second, func() bool { return h.status().VRRP[0].State == "MASTER" }, "instance not MASTER")
	reply := h.failoverAsync(control.FailoverArgs{Instance: "VI0"})
	testutil.Eventually(t, 5*time.Second, func() bool { return d.Status().Yielding }, "instance not yielding")
	d.peerAdvert("192.0.2.2", 90)
	r := waitReply(t, reply)
	if r.err != nil || !r.res.OK() {
		t.Fatalf("%v %+v", r.err, r.res)
	}
	if in := r.res.Instances[0]; in.ConnectionsHandedOver != 0 || !strings.Contains(in.Note, "no lvs_sync_daemon") {
		t.Errorf("result %+v, want no hand-over and the note", in)
	}
	if calls := h.handOver.recorded(); len(calls) != 0 {
		t.Errorf("hand-overs without a sync daemon: %+v", calls)
	}
}

// TestFailoverYieldSurvivesRestartAndHandOverOnStop: a reload that
// restarts a yielding instance starts the new driver yielding; a clean
// stop of a MASTER hands its connections over.
func TestFailoverYieldSurvivesRestartAndHandOverOnStop(t *testing.T) {
	h, d := masterWithPeer(t, []lvs.Conn{conn("TCP", "203.0.113.9:40000", "192.0.2.100:80", "192.0.2.11:80")})
	reply := h.failoverAsync(control.FailoverArgs{})
	testutil.Eventually(t, 5*time.Second, func() bool { return d.Status().Yielding }, "instance not yielding")
	d.peerAdvert("192.0.2.2", 90)
	if r := waitReply(t, reply); r.err != nil || !r.res.OK() {
		t.Fatalf("%v %+v", r.err, r.res)
	}
	// virtual_router_id changes: the instance restarts.
	h.write(strings.Replace(testConfig("DIR", 1, ""), "virtual_router_id: 100", "virtual_router_id: 101", 1))
	if err := h.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	var d2 *fakeDriver
	testutil.Eventually(t, 5*time.Second, func() bool { d2 = h.driver("VI0"); return d2 != d }, "instance not restarted")
	if !d2.opts.Yield || !d2.Status().Yielding {
		t.Errorf("restarted instance: Options.Yield %v, yielding %v; want both", d2.opts.Yield, d2.Status().Yielding)
	}
	// The peer fails, this one takes over (which ends the yield), then
	// the director stops: its release hands the connections over.
	d2.becomeMaster("master down timer expired")
	testutil.Eventually(t, 5*time.Second, func() bool { return h.status().VRRP[0].State == "MASTER" }, "instance not MASTER")
	before := len(h.handOver.recorded())
	h.stop()
	calls := h.handOver.recorded()
	if len(calls) != before+1 || len(calls[len(calls)-1].Sent) != 1 {
		t.Errorf("hand-overs on stop: %d new, want 1 of 1 connection: %+v", len(calls)-before, calls)
	}
}
