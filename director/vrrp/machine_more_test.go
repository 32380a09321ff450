package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func backupStart() step {
	return step{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{StateInit, StateBackup, "startup"}, Notify{StateBackup}}, 0, StateBackup}
}

func toMasterP(p uint8) []Action {
	return []Action{AddVIPs{}, SendAdvert{p}, SendGARP{5}, StateChanged{StateBackup, StateMaster, ""}, Notify{StateMaster}}
}

// TestMachinePriority: keepalived 2.2.7's vrrp_set_effective_priority
// (vrrp_track.c): clamp to 1..254, owner unchanged, no advert of its own,
// the backup's running Master_Down_Timer moved by the change of Skew_Time.
func TestMachinePriority(t *testing.T) {
	mdi := 3609375 * time.Microsecond      // prio 100, 1s
	mdi150 := 3414062500 * time.Nanosecond // prio 150
	tests := []struct {
		name  string
		cfg   func(*InstanceConfig)
		steps []step
	}{
		{"master: new priority in the next periodic advert, none at once", nil, []step{
			backupStart(),
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), mdi + time.Second, StateMaster},
			{mdi + cs(10), SetPriority{90}, []Action{PriorityChanged{100, 90}}, mdi + time.Second, StateMaster},
			{mdi + time.Second, TimerFired{}, []Action{SendAdvert{90}}, mdi + 2*time.Second, StateMaster},
		}},
		{"master whose priority fell below the backup's yields on the backup's advert", nil, []step{
			backupStart(),
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, StateMaster},
			{mdi + cs(10), SetPriority{80}, []Action{PriorityChanged{100, 80}}, 0, StateMaster},
			{mdi + cs(20), AdvertReceived{lowIP, 90, time.Second}, []Action{RemoveVIPs{}, HandOver{},
				StateChanged{StateMaster, StateBackup, "higher priority advert from 10.0.0.1 (priority 90, ours 80)"}, Notify{StateBackup}}, 0, StateBackup},
		}},
		{"backup: timer moves by the change of Skew_Time", nil, []step{
			backupStart(),
			{cs(100), AdvertReceived{hiIP, 200, time.Second}, nil, cs(100) + mdi, 0},
			{cs(150), SetPriority{150}, []Action{PriorityChanged{100, 150}}, cs(100) + mdi150, 0},
			{cs(160), SetPriority{100}, []Action{PriorityChanged{150, 100}}, cs(100) + mdi, 0},
		}},
		{"backup now above its master: discards its adverts, takes over when the timer runs out (not at once)", nil, []step{
			backupStart(),
			{cs(100), AdvertReceived{hiIP, 120, time.Second}, nil, cs(100) + mdi, 0},
			{cs(150), SetPriority{150}, []Action{PriorityChanged{100, 150}}, cs(100) + mdi150, 0},
			{cs(200), AdvertReceived{hiIP, 120, time.Second}, nil, cs(100) + mdi150, StateBackup},
			{cs(300), AdvertReceived{hiIP, 120, time.Second}, nil, cs(100) + mdi150, StateBackup},
			{cs(100) + mdi150, TimerFired{}, toMasterP(150), 0, StateMaster},
		}},
		{"clamped to 1..254; unchanged is no action", nil, []step{
			{0, SetPriority{0}, []Action{PriorityChanged{100, 1}}, 0, StateInit},
			{0, SetPriority{255}, []Action{PriorityChanged{1, 254}}, 0, StateInit},
			{0, SetPriority{254}, nil, 0, StateInit},
		}},
		{"address owner ignores it", func(c *InstanceConfig) { c.Priority = 255 }, []step{
			{0, SetPriority{50}, nil, 0, StateInit},
		}},
		{"set before startup: Skew_Time and adverts use it", nil, []step{
			{0, SetPriority{150}, []Action{PriorityChanged{100, 150}}, 0, StateInit},
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi150, StateBackup},
			{mdi150, TimerFired{}, append([]Action{warnNoAdvert}, toMasterP(150)...), 0, StateMaster},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run(t, NewMachine(baseCfg(tt.cfg)), tt.steps) })
	}
}

func TestMachineFaultSources(t *testing.T) {
	mdi := 3609375 * time.Microsecond
	tests := []struct {
		name  string
		cfg   func(*InstanceConfig)
		steps []step
	}{
		{"script fault on a master: release, priority 0, FAULT; leaves when the last source clears", nil, []step{
			backupStart(),
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, StateMaster},
			{mdi + cs(1), FaultSet{"script chk"}, []Action{RemoveVIPs{}, HandOver{}, SendAdvert{0}, StateChanged{StateMaster, StateFault, "fault: script chk"}, Notify{StateFault}}, noDeadline, StateFault},
			{mdi + cs(2), InterfaceDown{"eth1"}, nil, noDeadline, StateFault},
			{mdi + cs(3), FaultSet{"script chk"}, nil, noDeadline, StateFault},
			{mdi + cs(4), FaultCleared{"script chk"}, nil, noDeadline, StateFault},
			{mdi + cs(5), FaultCleared{"process nginx"}, nil, noDeadline, StateFault},
			{mdi + cs(6), InterfaceUp{"eth1"}, []Action{StateChanged{StateFault, StateBackup, "interface eth1 up"}, Notify{StateBackup}}, mdi + cs(6) + mdi, StateBackup},
		}},
		{"fault before startup: start in FAULT", nil, []step{
			{0, FaultSet{"process haproxy"}, nil, noDeadline, StateInit},
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{StateInit, StateFault, "startup with fault: process haproxy"}, Notify{StateFault}}, noDeadline, StateFault},
			{cs(5), FaultCleared{"process haproxy"}, []Action{StateChanged{StateFault, StateBackup, "fault cleared: process haproxy"}, Notify{StateBackup}}, cs(5) + mdi, StateBackup},
		}},
		{"virtual routes: added after the VIPs, removed before them", func(c *InstanceConfig) {
			c.VirtualRoutes = []Route{{Dst: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("192.0.2.1")}}
		}, []step{
			{0, Startup{self}, []Action{RemoveRoutes{}, RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, StateBackup},
			{mdi, TimerFired{}, []Action{warnNoAdvert, AddVIPs{}, AddRoutes{}, SendAdvert{100}, SendGARP{5}, StateChanged{}, Notify{StateMaster}}, 0, StateMaster},
			{mdi + cs(1), AdvertReceived{hiIP, 200, time.Second}, []Action{RemoveRoutes{}, RemoveVIPs{}, HandOver{}, StateChanged{}, Notify{StateBackup}}, 0, StateBackup},
			{mdi + cs(1) + mdi, TimerFired{}, toMasterWithRoutes(), 0, StateMaster},
			{mdi + cs(1) + mdi + cs(1), FaultSet{"x"}, []Action{RemoveRoutes{}, RemoveVIPs{}, HandOver{}, SendAdvert{0}, StateChanged{}, Notify{StateFault}}, 0, StateFault},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run(t, NewMachine(baseCfg(tt.cfg)), tt.steps) })
	}
}

func toMasterWithRoutes() []Action {
	return []Action{AddVIPs{}, AddRoutes{}, SendAdvert{100}, SendGARP{5}, StateChanged{}, Notify{StateMaster}}
}

func report(s State, want, faulty bool) GroupReport {
	return GroupReport{Group: "G", State: s, WantMaster: want, Faulty: faulty}
}

// TestMachineSyncMember: a member never goes MASTER nor leaves FAULT on its
// own; it reports and obeys the group.
func TestMachineSyncMember(t *testing.T) {
	mdi := 3609375 * time.Microsecond
	skew := 609375 * time.Microsecond
	member := func(c *InstanceConfig) { c.SyncGroup = "G" }
	tests := []struct {
		name  string
		cfg   func(*InstanceConfig)
		steps []step
	}{
		{"timer out: wants MASTER, stays backup with the timer re-armed; ForceMaster makes it master", member, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}, report(StateBackup, false, false)}, mdi, StateBackup},
			{mdi, TimerFired{}, []Action{report(StateBackup, true, false)}, 2 * mdi, StateBackup},
			{2 * mdi, TimerFired{}, nil, 3 * mdi, StateBackup},
			{2*mdi + cs(1), ForceMaster{"G"}, append(append([]Action{warnNoAdvert}, toMaster("sync group G: every member wants MASTER")...), report(StateMaster, true, false)), 0, StateMaster},
			{2*mdi + cs(2), ForceMaster{"G"}, nil, 0, StateMaster},
		}},
		{"an accepted advert withdraws the wish", member, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}, report(StateBackup, false, false)}, mdi, 0},
			{mdi, TimerFired{}, []Action{report(StateBackup, true, false)}, 2 * mdi, 0},
			{mdi + cs(1), AdvertReceived{hiIP, 150, time.Second}, []Action{report(StateBackup, false, false)}, mdi + cs(1) + mdi, StateBackup},
			{mdi + cs(2), AdvertReceived{hiIP, 0, time.Second}, nil, mdi + cs(2) + skew, StateBackup},
		}},
		{"ForceBackup: master releases without a priority-0 advert", member, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}, report(StateBackup, false, false)}, mdi, 0},
			{cs(1), ForceMaster{"G"}, append(append([]Action{warnNoAdvert}, toMaster("")...), report(StateMaster, true, false)), 0, StateMaster},
			{cs(2), ForceBackup{"G"}, []Action{RemoveVIPs{}, HandOver{}, StateChanged{StateMaster, StateBackup, "sync group G: another member is BACKUP"}, Notify{StateBackup}, report(StateBackup, false, false)}, cs(2) + mdi, StateBackup},
			{cs(3), ForceBackup{"G"}, nil, cs(2) + mdi, StateBackup},
		}},
		{"own fault cleared: stays in FAULT until the group's ForceBackup", member, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}, report(StateBackup, false, false)}, mdi, 0},
			{cs(1), FaultSet{"script a"}, []Action{StateChanged{StateBackup, StateFault, "fault: script a"}, Notify{StateFault}, report(StateFault, false, true)}, noDeadline, StateFault},
			{cs(2), FaultCleared{"script a"}, []Action{report(StateFault, false, false)}, noDeadline, StateFault},
			{cs(3), ForceBackup{"G"}, []Action{StateChanged{StateFault, StateBackup, "sync group G leaves FAULT"}, Notify{StateBackup}, report(StateBackup, false, false)}, cs(3) + mdi, StateBackup},
		}},
		{"GroupFault: master releases and sends priority 0; own faults keep it in FAULT past ForceBackup", member, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}, report(StateBackup, false, false)}, mdi, 0},
			{cs(1), ForceMaster{"G"}, append(append([]Action{warnNoAdvert}, toMaster("")...), report(StateMaster, true, false)), 0, StateMaster},
			{cs(2), GroupFault{"G", "VI_2"}, []Action{RemoveVIPs{}, HandOver{}, SendAdvert{0}, StateChanged{StateMaster, StateFault, "sync group G: member VI_2 in FAULT"}, Notify{StateFault}, report(StateFault, false, false)}, noDeadline, StateFault},
			{cs(3), InterfaceDown{"eth1"}, []Action{report(StateFault, false, true)}, noDeadline, StateFault},
			{cs(4), ForceBackup{"G"}, nil, noDeadline, StateFault},
			{cs(5), InterfaceUp{"eth1"}, []Action{report(StateFault, false, false)}, noDeadline, StateFault},
		}},
		{"GroupFault before startup: starts in FAULT", member, []step{
			{0, GroupFault{"G", "VI_2"}, nil, noDeadline, StateInit},
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{StateInit, StateFault, "startup: sync group G in FAULT"}, Notify{StateFault}, report(StateFault, false, false)}, noDeadline, StateFault},
		}},
		{"address owner in a group asks after Master_Adver_Interval + Skew_Time", func(c *InstanceConfig) { c.SyncGroup, c.Priority = "G", 255 }, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}, report(StateBackup, false, false)}, time.Second + time.Second/256, StateBackup},
			{time.Second + time.Second/256, TimerFired{}, []Action{report(StateBackup, true, false)}, 0, StateBackup},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { run(t, NewMachine(baseCfg(tt.cfg)), tt.steps) })
	}
}

func TestMachineStatusFaults(t *testing.T) {
	m := NewMachine(baseCfg(func(c *InstanceConfig) { c.SyncGroup = "G" }))
	m.Step(t0, SetPriority{90})
	m.Step(t0, InterfaceDown{"eth1"})
	m.Step(t0, FaultSet{"script chk"})
	m.Step(t0, GroupFault{"G", "VI_2"})
	m.Step(t0, Startup{self})
	s := m.Status()
	got := struct {
		P, B   uint8
		F      []string
		G      bool
		S      State
		Reason string
	}{s.Priority, s.BasePriority, s.FaultSources, s.GroupFault, s.State, s.Reason}
	want := got
	want.P, want.B, want.F, want.G, want.S, want.Reason = 90, 100, []string{"interface eth1", "script chk"}, true, StateFault, "startup with interface eth1 down"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("status (-want +got)\n%s", diff)
	}
}

func TestConfigRoutesAndWarnings(t *testing.T) {
	ok := baseCfg(func(c *InstanceConfig) {
		c.ExcludedVIPs = []VIP{{Prefix: netip.MustParsePrefix("2001:db8::5/64")}}
		c.VirtualRoutes = []Route{
			{Dst: netip.MustParsePrefix("198.51.100.0/24"), Via: netip.MustParseAddr("192.0.2.1"), Table: 100},
			{Dst: netip.MustParsePrefix("203.0.113.0/24"), Type: RouteBlackhole},
		}
		c.VirtualRules = []Rule{{From: netip.MustParsePrefix("192.0.2.100/32"), Table: 100}, {FWMark: 1, Table: 100}}
	})
	if err := ok.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if ok.ExcludedVIPs[0].Dev != "eth0" || ok.VirtualRules[1].IPv6 {
		t.Errorf("WithDefaults: %+v %+v", ok.ExcludedVIPs, ok.VirtualRules)
	}
	bad := []struct {
		name string
		edit func(*InstanceConfig)
		want string
	}{
		{"excluded dup", func(c *InstanceConfig) { c.ExcludedVIPs = []VIP{{Prefix: c.VIPs[0].Prefix}} }, `keyword "virtual_ipaddress_excluded"`},
		{"route family", func(c *InstanceConfig) {
			c.VirtualRoutes = []Route{{Dst: netip.MustParsePrefix("10.0.0.0/8"), Via: netip.MustParseAddr("::1")}}
		}, `keyword "virtual_routes"`},
		{"blackhole via", func(c *InstanceConfig) {
			c.VirtualRoutes = []Route{{Dst: netip.MustParsePrefix("10.0.0.0/8"), Dev: "eth0", Type: RouteBlackhole}}
		}, `keyword "virtual_routes"`},
		{"unicast nowhere", func(c *InstanceConfig) { c.VirtualRoutes = []Route{{Dst: netip.MustParsePrefix("10.0.0.0/8")}} }, `keyword "virtual_routes"`},
		{"rule table", func(c *InstanceConfig) { c.VirtualRules = []Rule{{FWMark: 1}} }, `keyword "virtual_rules"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			c := baseCfg(tt.edit)
			if err := c.Validate(); err == nil || !contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want %s", err, tt.want)
			}
		})
	}
	w := InstanceConfig{Name: "VI_1", InitialState: StateMaster, Nopreempt: true, PreemptDelay: time.Second}.Warnings()
	if diff := cmp.Diff([]string{
		"vrrp_instance VI_1: nopreempt will not work with initial state MASTER - clearing",
		"vrrp_instance VI_1: preempt delay will not work with initial state MASTER - clearing",
	}, w); diff != "" {
		t.Errorf("Warnings (-want +got)\n%s", diff)
	}
}
