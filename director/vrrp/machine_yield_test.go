package vrrp

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// yieldActs is what a master without routes does on Yield.
func yieldActs(reason string) []Action {
	return []Action{RemoveVIPs{}, HandOver{}, SendAdvert{0}, StateChanged{StateMaster, StateBackup, reason}, Notify{StateBackup}}
}

const yieldReason = "yield: mastership handed over on request (tandem-director failover)"

// TestMachineYield: `tandem-director failover` on the machine. After the
// release the instance stays BACKUP while the peer advertises, whatever
// the priorities, and still takes over when the peer goes silent.
func TestMachineYield(t *testing.T) {
	mdi := 3609375 * time.Microsecond    // prio 100, 1s
	mdi200 := 3218750 * time.Microsecond // prio 200, 1s
	ownerMDI := 3*time.Second + time.Second/256
	up := mdi // master from here
	// The peer (lowIP, priority 90) is heard once at start-up, preempted,
	// and takes over after its skew time when we yield.
	startAndTakeOver := []step{
		{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{StateInit, StateBackup, "startup"}, Notify{StateBackup}}, mdi, StateBackup},
		{cs(10), AdvertReceived{lowIP, 90, time.Second}, nil, mdi, StateBackup},
		{up, TimerFired{}, toMaster("master down timer expired"), 0, StateMaster},
	}
	// The peer (lowIP, priority 90) takes over after its skew time and
	// advertises.
	peerAt := up + cs(40)
	tests := []struct {
		name  string
		cfg   func(*InstanceConfig)
		steps []step
	}{
		{"yield: release, hand over, priority 0, BACKUP; the lower peer is followed, not preempted", nil, append(startAndTakeOver,
			step{up + cs(1), Yield{}, yieldActs(yieldReason), up + cs(1) + mdi, StateBackup},
			step{peerAt, AdvertReceived{lowIP, 90, time.Second}, nil, peerAt + mdi, StateBackup},
			step{peerAt + time.Second, AdvertReceived{lowIP, 90, time.Second}, nil, peerAt + time.Second + mdi, StateBackup},
		)},
		{"cancel: the lower peer's next advert is discarded again, Master_Down runs out, MASTER", nil, append(startAndTakeOver,
			step{up + cs(1), Yield{}, yieldActs(yieldReason), 0, StateBackup},
			step{peerAt, AdvertReceived{lowIP, 90, time.Second}, nil, peerAt + mdi, StateBackup},
			step{peerAt + cs(10), Unyield{}, nil, peerAt + mdi, StateBackup},
			step{peerAt + time.Second, AdvertReceived{lowIP, 90, time.Second}, nil, peerAt + mdi, StateBackup},
			step{peerAt + mdi, TimerFired{}, toMaster("master down timer expired"), 0, StateMaster},
		)},
		{"the peer dies while yielding: Master_Down_Interval, MASTER, the yield ends", nil, append(startAndTakeOver,
			step{up + cs(1), Yield{}, yieldActs(yieldReason), 0, StateBackup},
			step{peerAt, AdvertReceived{lowIP, 90, time.Second}, nil, peerAt + mdi, StateBackup},
			step{peerAt + mdi, TimerFired{}, append([]Action{Warn{"yield ended: master down timer expired"}}, toMaster("master down timer expired")...), 0, StateMaster},
		)},
		{"nobody takes over: the VIPs come back after Master_Down_Interval", nil, append(startAndTakeOver,
			step{up + cs(1), Yield{}, yieldActs(yieldReason), up + cs(1) + mdi, StateBackup},
			step{up + cs(1) + mdi, TimerFired{}, append([]Action{Warn{"yield ended: master down timer expired"}}, toMaster("")...), 0, StateMaster},
		)},
		{"a higher priority while yielding does not preempt the peer", nil, append(startAndTakeOver,
			step{up + cs(1), Yield{}, yieldActs(yieldReason), 0, StateBackup},
			step{peerAt, SetPriority{200}, []Action{PriorityChanged{100, 200}}, 0, StateBackup},
			step{peerAt + cs(10), AdvertReceived{lowIP, 90, time.Second}, nil, peerAt + cs(10) + mdi200, StateBackup},
		)},
		{"a reload keeps the yield: new priority, still following the peer", nil, append(startAndTakeOver,
			step{up + cs(1), Yield{}, yieldActs(yieldReason), 0, StateBackup},
			step{peerAt, Reconfigure{baseCfg(func(c *InstanceConfig) { c.Priority = 200 })}, []Action{Reconfigured{Fields: []string{"Priority"}}, PriorityChanged{100, 200}}, 0, StateBackup},
			step{peerAt + cs(10), AdvertReceived{lowIP, 90, time.Second}, nil, peerAt + cs(10) + mdi200, StateBackup},
		)},
		{"yield on a backup only marks it: it does not preempt a lower master", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, StateBackup},
			{cs(1), Yield{}, nil, mdi, StateBackup},
			{cs(50), AdvertReceived{lowIP, 90, time.Second}, nil, cs(50) + mdi, StateBackup},
		}},
		{"the address owner yields too, and takes the VIPs back at once on cancel", func(c *InstanceConfig) { c.Priority = PriorityOwner }, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, AddVIPs{}, SendAdvert{255}, SendGARP{5}, StateChanged{StateInit, StateMaster, "startup: address owner (priority 255)"}, Notify{StateMaster}}, time.Second, StateMaster},
			{cs(10), Yield{}, yieldActs(yieldReason), cs(10) + ownerMDI, StateBackup},
			{cs(50), AdvertReceived{lowIP, 90, time.Second}, nil, cs(50) + ownerMDI, StateBackup},
			{cs(60), Unyield{}, []Action{AddVIPs{}, SendAdvert{255}, SendGARP{5}, StateChanged{StateBackup, StateMaster, "yield cancelled: address owner (priority 255)"}, Notify{StateMaster}}, cs(60) + time.Second, StateMaster},
		}},
		{"an owner yielding before start-up comes up BACKUP", func(c *InstanceConfig) { c.Priority = PriorityOwner }, []step{
			{0, Yield{}, nil, noDeadline, StateInit},
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{StateInit, StateBackup, "startup"}, Notify{StateBackup}}, ownerMDI, StateBackup},
		}},
		{"Unyield without a yield does nothing", nil, append(startAndTakeOver,
			step{up + cs(1), Unyield{}, nil, 0, StateMaster},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(baseCfg(tt.cfg))
			run(t, m, tt.steps)
		})
	}
}

func TestMachineYieldStatus(t *testing.T) {
	m := NewMachine(baseCfg(nil))
	m.Step(t0, Startup{self})
	m.Step(t0.Add(cs(10)), AdvertReceived{lowIP, 90, time.Second})
	m.Step(t0.Add(4*time.Second), TimerFired{})
	if s := m.Status(); s.State != StateMaster || s.Yielding || !s.MasterSince.IsZero() {
		t.Fatalf("master: %+v", s)
	}
	m.Step(t0.Add(5*time.Second), Yield{})
	if s := m.Status(); !s.Yielding || s.Master.IsValid() || s.Reason != yieldReason {
		t.Errorf("after Yield: yielding %v, master %v, reason %q; want yielding, no master, %q", s.Yielding, s.Master, s.Reason, yieldReason)
	}
	peerAt := t0.Add(5*time.Second + cs(40))
	m.Step(peerAt, AdvertReceived{lowIP, 90, time.Second})
	m.Step(peerAt.Add(time.Second), AdvertReceived{lowIP, 90, time.Second})
	if s := m.Status(); s.Master != lowIP || s.MasterPriority != 90 || !s.MasterSince.Equal(peerAt) {
		t.Errorf("peer master: %v priority %d since %v; want %v 90 since %v", s.Master, s.MasterPriority, s.MasterSince, lowIP, peerAt)
	}
	m.Step(peerAt.Add(2*time.Second), AdvertReceived{lowIP, 0, time.Second})
	if s := m.Status(); !s.MasterSince.IsZero() || !s.Yielding {
		t.Errorf("peer leaving: since %v, yielding %v; want zero, yielding", s.MasterSince, s.Yielding)
	}
}

// TestMachineYieldSyncMember: a member that yields reports it, so that its
// group takes the other masters along by Yield (TestSyncGroupYield).
func TestMachineYieldSyncMember(t *testing.T) {
	mdi := 3609375 * time.Microsecond
	yr := func(s State, want bool) GroupReport { r := report(s, want, false); r.Yielding = true; return r }
	m := NewMachine(baseCfg(func(c *InstanceConfig) { c.SyncGroup = "G" }))
	run(t, m, []step{
		{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}, report(StateBackup, false, false)}, mdi, StateBackup},
		{cs(1), AdvertReceived{lowIP, 90, time.Second}, nil, mdi, StateBackup},
		{cs(2), ForceMaster{"G"}, append(toMaster("sync group G: every member wants MASTER"), report(StateMaster, true, false)), 0, StateMaster},
		{cs(3), Yield{"G"}, append(yieldActs("yield: sync group G: another member yields"), yr(StateBackup, false)), cs(3) + mdi, StateBackup},
		// The peer's member follows: it is not preempted, and the member
		// does not ask the group for MASTER.
		{cs(50), AdvertReceived{lowIP, 90, time.Second}, nil, cs(50) + mdi, StateBackup},
		// The peer goes silent: the member wants MASTER again.
		{cs(50) + mdi, TimerFired{}, []Action{yr(StateBackup, true)}, cs(50) + 2*mdi, StateBackup},
	})
}

func TestSyncGroupYield(t *testing.T) {
	g := NewSyncGroup("G", []string{"A", "B", "C"})
	for _, n := range []string{"A", "B", "C"} {
		g.Update(n, report(StateMaster, true, false))
	}
	r := report(StateBackup, false, false)
	r.Yielding = true
	got := g.Update("B", r)
	want := []GroupOrder{{"A", Yield{"G"}}, {"C", Yield{"G"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("orders (-want +got)\n%s", diff)
	}
	if g.State() != StateBackup {
		t.Errorf("group state %s, want BACKUP", g.State())
	}
	// The others obey: no more orders.
	for _, n := range []string{"A", "C"} {
		if o := g.Update(n, r); o != nil {
			t.Errorf("%s obeying: orders %v", n, o)
		}
	}
}
