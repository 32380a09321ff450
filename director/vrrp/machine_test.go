package vrrp

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func cs(n int) time.Duration { return time.Duration(n) * 10 * time.Millisecond }

var (
	self  = netip.MustParseAddr("10.0.0.2")
	lowIP = netip.MustParseAddr("10.0.0.1")
	hiIP  = netip.MustParseAddr("10.0.0.3")
)

func baseCfg(edit func(*InstanceConfig)) InstanceConfig {
	c := InstanceConfig{
		Name: "VI0", Interface: "eth0", VRID: 100, Priority: 100, Version: 3,
		AdvertInterval: time.Second,
		VIPs:           []VIP{{Prefix: netip.MustParsePrefix("192.0.2.100/28")}},
	}
	if edit != nil {
		edit(&c)
	}
	return c.WithDefaults()
}

// step is one input at offset at and the actions it must produce; deadline,
// when set, is what NextDeadline must return afterwards (as an offset from
// t0; -1 for "no deadline").
type step struct {
	at       time.Duration
	ev       Event
	want     []Action
	deadline time.Duration
	state    State
}

const noDeadline = time.Duration(-1)

// cmpActions: a zero StateChanged or Warn in want matches any; an empty
// Reason matches any reason.
var cmpActions = cmp.Options{
	cmpopts.EquateEmpty(),
	cmp.Comparer(func(a, b StateChanged) bool {
		if a == (StateChanged{}) || b == (StateChanged{}) {
			return true // wildcard
		}
		return a.From == b.From && a.To == b.To && (a.Reason == "" || b.Reason == "" || a.Reason == b.Reason)
	}),
	cmp.Comparer(func(a, b Warn) bool { return a.Msg == "" || b.Msg == "" || a.Msg == b.Msg }),
}

func run(t *testing.T, m *Machine, steps []step) {
	t.Helper()
	for i, s := range steps {
		got := m.Step(t0.Add(s.at), s.ev)
		if diff := cmp.Diff(s.want, got, cmpActions); diff != "" {
			t.Fatalf("step %d (%T at %v): actions (-want +got)\n%s", i, s.ev, s.at, diff)
		}
		if s.deadline != 0 {
			want := time.Time{}
			if s.deadline != noDeadline {
				want = t0.Add(s.deadline)
			}
			if got := m.NextDeadline(); !got.Equal(want) {
				t.Fatalf("step %d (%T at %v): NextDeadline = %v, want %v", i, s.ev, s.at, got.Sub(t0), s.deadline)
			}
		}
		if s.state != 0 && m.State() != s.state {
			t.Fatalf("step %d: state %s, want %s", i, m.State(), s.state)
		}
	}
}

func toMaster(reason string) []Action {
	return []Action{AddVIPs{}, SendAdvert{100}, SendGARP{5}, StateChanged{StateBackup, StateMaster, reason}, Notify{StateMaster}}
}

var warnNoAdvert = Warn{}

func TestSkewAndMasterDown(t *testing.T) {
	tests := []struct {
		name           string
		version        int
		prio           uint8
		interval       time.Duration
		skew, downIntv time.Duration
	}{
		// v3: ((256-100)*100cs)/256 = 60.9375cs; 3*100cs + skew.
		{"v3 prio 100 1s", 3, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{"v3 prio 254 1s", 3, 254, time.Second, 7812500 * time.Nanosecond, 3007812500 * time.Nanosecond},
		{"v3 prio 1 50cs", 3, 1, cs(50), 498046875 * time.Nanosecond, 1998046875 * time.Nanosecond},
		{"v3 prio 200 1cs", 3, 200, cs(1), 2187500 * time.Nanosecond, 32187500 * time.Nanosecond},
		// v2: (256-priority)/256 seconds, whatever the interval.
		{"v2 prio 100 1s", 2, 100, time.Second, 609375 * time.Microsecond, 3609375 * time.Microsecond},
		{"v2 prio 100 3s", 2, 100, 3 * time.Second, 609375 * time.Microsecond, 9609375 * time.Microsecond},
		{"v2 prio 150 1s", 2, 150, time.Second, 414062500 * time.Nanosecond, 3414062500 * time.Nanosecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMachine(baseCfg(func(c *InstanceConfig) { c.Version, c.Priority, c.AdvertInterval = tt.version, tt.prio, tt.interval }))
			if got := m.SkewTime(); got != tt.skew {
				t.Errorf("SkewTime = %v, want %v", got, tt.skew)
			}
			if got := m.MasterDownInterval(); got != tt.downIntv {
				t.Errorf("MasterDownInterval = %v, want %v", got, tt.downIntv)
			}
		})
	}
}

func TestMachine(t *testing.T) {
	mdi := 3609375 * time.Microsecond // prio 100, 1s
	skew := 609375 * time.Microsecond
	tests := []struct {
		name  string
		cfg   func(*InstanceConfig)
		steps []step
	}{
		{"startup backup, master down timer to the nanosecond", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{StateInit, StateBackup, "startup"}, Notify{StateBackup}}, mdi, StateBackup},
			{mdi - 1, TimerFired{}, nil, mdi, StateBackup},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("master down timer expired")...), mdi + time.Second, StateMaster},
			{mdi + time.Second, TimerFired{}, []Action{SendAdvert{100}}, mdi + 2*time.Second, 0},
		}},
		{"state MASTER below 255 starts as backup (keepalived 2.2.7)", func(c *InstanceConfig) { c.InitialState = StateMaster }, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{StateInit, StateBackup, ""}, Notify{StateBackup}}, mdi, StateBackup},
		}},
		{"address owner is master at once", func(c *InstanceConfig) { c.Priority = 255 }, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, AddVIPs{}, SendAdvert{255}, SendGARP{5}, StateChanged{StateInit, StateMaster, "startup: address owner (priority 255)"}, Notify{StateMaster}}, time.Second, StateMaster},
		}},
		{"adverts keep the backup; v3 learns the master's interval", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(300), AdvertReceived{hiIP, 150, cs(50)}, nil, cs(300) + 3*cs(50) + (156*cs(50))/256, 0},
			// 2.2s after the last advert (3*50cs + 30.47cs = 180.47cs), take over.
			{cs(300) + cs(180), TimerFired{}, nil, cs(300) + 1804687500*time.Nanosecond, StateBackup},
			{cs(300) + 1804687500*time.Nanosecond, TimerFired{}, toMaster(""), 0, StateMaster},
		}},
		{"v2 ignores the received interval", func(c *InstanceConfig) { c.Version = 2 }, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(10), AdvertReceived{hiIP, 150, cs(50)}, nil, cs(10) + mdi, 0},
		}},
		{"priority 0 from the master: take over in Skew_Time", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(100), AdvertReceived{hiIP, 150, time.Second}, nil, cs(100) + mdi, 0},
			{cs(150), AdvertReceived{hiIP, 0, time.Second}, nil, cs(150) + skew, 0},
			{cs(150) + skew, TimerFired{}, toMaster("master down timer expired"), cs(150) + skew + time.Second, StateMaster},
		}},
		{"preempt: a lower-priority master is ignored and replaced", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(100), AdvertReceived{lowIP, 50, time.Second}, nil, mdi, 0},
			{cs(200), AdvertReceived{lowIP, 50, time.Second}, nil, mdi, 0},
			{mdi, TimerFired{}, toMaster(""), 0, StateMaster},
		}},
		{"nopreempt: a lower-priority master is kept", func(c *InstanceConfig) { c.Nopreempt = true }, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(100), AdvertReceived{lowIP, 50, time.Second}, nil, cs(100) + mdi, 0},
			{cs(200), AdvertReceived{lowIP, 50, time.Second}, nil, cs(200) + mdi, 0},
			{cs(300), TimerFired{}, nil, cs(200) + mdi, StateBackup},
		}},
		{"nopreempt does not protect a master from a higher priority", func(c *InstanceConfig) { c.Nopreempt = true }, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, StateMaster},
			{mdi + cs(10), AdvertReceived{hiIP, 150, time.Second}, []Action{RemoveVIPs{}, HandOver{},
				StateChanged{StateMaster, StateBackup, "higher priority advert from 10.0.0.3 (priority 150, ours 100)"}, Notify{StateBackup}},
				mdi + cs(10) + mdi, StateBackup},
		}},
		{"preempt_delay: lower-priority master kept for the delay from its first advert", func(c *InstanceConfig) { c.PreemptDelay = 5 * time.Second }, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(100), AdvertReceived{lowIP, 50, time.Second}, nil, cs(100) + mdi, 0},
			{cs(500), AdvertReceived{lowIP, 50, time.Second}, nil, cs(500) + mdi, 0},
			// preempt at 6s: from then on its adverts are ignored
			{cs(600), AdvertReceived{lowIP, 50, time.Second}, nil, cs(500) + mdi, 0},
			{cs(500) + mdi, TimerFired{}, toMaster(""), 0, StateMaster},
		}},
		{"preempt_delay restarts after a higher-priority advert", func(c *InstanceConfig) { c.PreemptDelay = 2 * time.Second }, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(100), AdvertReceived{lowIP, 50, time.Second}, nil, cs(100) + mdi, 0},
			{cs(200), AdvertReceived{hiIP, 150, time.Second}, nil, cs(200) + mdi, 0},
			{cs(400), AdvertReceived{lowIP, 50, time.Second}, nil, cs(400) + mdi, 0},
			{cs(599), AdvertReceived{lowIP, 50, time.Second}, nil, cs(599) + mdi, 0},
			{cs(600), AdvertReceived{lowIP, 50, time.Second}, nil, cs(599) + mdi, 0},
		}},
		{"equal priority: higher address wins, lower address is asserted against", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, StateMaster},
			{mdi + cs(1), AdvertReceived{lowIP, 100, time.Second}, []Action{SendAdvert{100}, SendGARP{5}, Warn{}}, mdi + time.Second, StateMaster},
			{mdi + cs(2), AdvertReceived{hiIP, 100, time.Second}, []Action{RemoveVIPs{}, HandOver{},
				StateChanged{StateMaster, StateBackup, "advert from 10.0.0.3 with our priority 100 and a higher address"}, Notify{StateBackup}}, 0, StateBackup},
		}},
		{"split brain ended: lower-priority master seen → advert + GARP at once", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, StateMaster},
			{mdi + cs(50), AdvertReceived{hiIP, 90, time.Second}, []Action{SendAdvert{100}, SendGARP{5},
				Warn{"another master at 10.0.0.3 with lower priority 90: asserting mastership"}}, mdi + time.Second, StateMaster},
		}},
		{"master answers priority 0 with an advert, resets its timer and re-announces", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, 0},
			{mdi + cs(30), AdvertReceived{hiIP, 0, time.Second}, []Action{SendAdvert{100}, SendGARP{5}}, mdi + cs(130), StateMaster},
		}},
		{"re-announce bursts are rate limited to one per ReannounceInterval", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, 0},
			{mdi + cs(10), AdvertReceived{lowIP, 50, time.Second}, []Action{SendAdvert{100}, SendGARP{5}, Warn{}}, 0, StateMaster},
			{mdi + cs(110), AdvertReceived{lowIP, 50, time.Second}, []Action{SendAdvert{100}, Warn{}}, 0, StateMaster},
			{mdi + cs(120), AdvertReceived{lowIP, 0, time.Second}, []Action{SendAdvert{100}}, 0, StateMaster},
			{mdi + cs(509), AdvertReceived{lowIP, 50, time.Second}, []Action{SendAdvert{100}, Warn{}}, 0, StateMaster},
			{mdi + cs(510), AdvertReceived{lowIP, 50, time.Second}, []Action{SendAdvert{100}, SendGARP{5}, Warn{}}, 0, StateMaster},
		}},
		{"higher-priority master: v3 backup takes its interval", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, 0},
			{mdi + cs(30), AdvertReceived{hiIP, 200, cs(20)}, []Action{RemoveVIPs{}, HandOver{}, StateChanged{}, Notify{StateBackup}},
				mdi + cs(30) + 3*cs(20) + 156*cs(20)/256, StateBackup},
		}},
		{"own adverts looped back are ignored", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(10), AdvertReceived{self, 100, time.Second}, nil, mdi, 0},
		}},
		{"GARP: burst, second burst after garp_master_delay, refresh", func(c *InstanceConfig) {
			c.GARPMasterDelay, c.GARPMasterRepeat, c.GARPMasterRefresh, c.GARPMasterRefreshRepeat = 1500*time.Millisecond, 3, 10*time.Second, 2
		}, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{mdi, TimerFired{}, []Action{warnNoAdvert, AddVIPs{}, SendAdvert{100}, SendGARP{3}, StateChanged{}, Notify{StateMaster}}, mdi + time.Second, 0},
			{mdi + time.Second, TimerFired{}, []Action{SendAdvert{100}}, mdi + 1500*time.Millisecond, 0},
			{mdi + 1500*time.Millisecond, TimerFired{}, []Action{SendGARP{3}}, mdi + 2*time.Second, 0},
			{mdi + 2*time.Second, TimerFired{}, []Action{SendAdvert{100}}, mdi + 3*time.Second, 0},
			{mdi + 10*time.Second, TimerFired{}, []Action{SendAdvert{100}, SendGARP{2}}, mdi + 11*time.Second, 0},
			{mdi + 11*time.Second, TimerFired{}, []Action{SendAdvert{100}}, mdi + 12*time.Second, 0},
		}},
		{"garp_master_delay negative: no second burst", func(c *InstanceConfig) { c.GARPMasterDelay = -1 }, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), mdi + time.Second, 0},
			{mdi + time.Second, TimerFired{}, []Action{SendAdvert{100}}, mdi + 2*time.Second, 0},
		}},
		{"clean stop of a master: VIPs first, then priority 0", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, 0},
			{mdi + cs(1), Shutdown{}, []Action{RemoveVIPs{}, HandOver{}, SendAdvert{0}, StateChanged{StateMaster, StateStop, "shutdown"}, Notify{StateStop}}, noDeadline, StateStop},
			{mdi + cs(2), AdvertReceived{hiIP, 100, time.Second}, nil, noDeadline, StateStop},
			{mdi + cs(3), Shutdown{}, nil, noDeadline, StateStop},
		}},
		{"stop of a backup", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(1), Shutdown{}, []Action{StateChanged{StateBackup, StateStop, "shutdown"}, Notify{StateStop}}, noDeadline, StateStop},
		}},
		{"tracked interface down: master releases, sends priority 0, FAULT; back up → backup", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, 0},
			{mdi + cs(1), InterfaceDown{"eth1"}, []Action{RemoveVIPs{}, HandOver{}, SendAdvert{0}, StateChanged{StateMaster, StateFault, "interface eth1 down"}, Notify{StateFault}}, noDeadline, StateFault},
			{mdi + cs(2), AdvertReceived{lowIP, 50, time.Second}, nil, noDeadline, StateFault},
			{mdi + cs(3), InterfaceDown{"eth0"}, nil, noDeadline, StateFault},
			{mdi + cs(4), InterfaceUp{"eth1"}, nil, noDeadline, StateFault},
			{mdi + cs(5), InterfaceUp{"eth0"}, []Action{StateChanged{StateFault, StateBackup, "interface eth0 up"}, Notify{StateBackup}}, mdi + cs(5) + mdi, StateBackup},
		}},
		{"backup → FAULT; owner leaves FAULT as master", func(c *InstanceConfig) { c.Priority = 255 }, []step{
			{0, InterfaceDown{"eth0"}, nil, noDeadline, StateInit},
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{StateInit, StateFault, "startup with interface eth0 down"}, Notify{StateFault}}, noDeadline, StateFault},
			{cs(1), InterfaceUp{"eth0"}, []Action{AddVIPs{}, SendAdvert{255}, SendGARP{5}, StateChanged{StateFault, StateMaster, ""}, Notify{StateMaster}}, cs(101), StateMaster},
		}},
		{"backup interface down", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(1), InterfaceDown{"eth0"}, []Action{StateChanged{StateBackup, StateFault, "interface eth0 down"}, Notify{StateFault}}, noDeadline, StateFault},
			{cs(2), Shutdown{}, []Action{StateChanged{StateFault, StateStop, ""}, Notify{StateStop}}, noDeadline, StateStop},
		}},
		{"PeerDead: immediate takeover in backup, nothing elsewhere", nil, []step{
			{0, PeerDead{}, nil, noDeadline, StateInit},
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(100), AdvertReceived{hiIP, 150, time.Second}, nil, cs(100) + mdi, 0},
			{cs(120), PeerDead{}, []Action{AddVIPs{}, SendAdvert{100}, SendGARP{5}, StateChanged{StateBackup, StateMaster, "peer detector reports the master dead"}, Notify{StateMaster}}, cs(220), StateMaster},
			{cs(130), PeerDead{}, nil, cs(220), StateMaster},
		}},
		{"Witness veto holds a backup; priority 0 clears it", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(100), AdvertReceived{hiIP, 150, time.Second}, nil, cs(100) + mdi, 0},
			{cs(110), Witness{MasterAlive: true}, nil, cs(100) + mdi, 0},
			{cs(100) + mdi, TimerFired{}, []Action{Warn{"master down timer expired, but a witness reports the master alive: staying backup"}}, cs(100) + 2*mdi, StateBackup},
			{cs(100) + 2*mdi, PeerDead{}, []Action{Warn{}}, cs(100) + 3*mdi, StateBackup},
			{cs(900), AdvertReceived{hiIP, 0, time.Second}, nil, cs(900) + skew, 0},
			{cs(900) + skew, TimerFired{}, toMaster(""), 0, StateMaster},
		}},
		{"Witness false restores plain VRRP", nil, []step{
			{0, Startup{self}, []Action{RemoveVIPs{}, StateChanged{}, Notify{StateBackup}}, mdi, 0},
			{cs(10), Witness{MasterAlive: true}, nil, mdi, 0},
			{cs(20), Witness{MasterAlive: false}, nil, mdi, 0},
			{mdi, TimerFired{}, append([]Action{warnNoAdvert}, toMaster("")...), 0, StateMaster},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run(t, NewMachine(baseCfg(tt.cfg)), tt.steps)
		})
	}
}

func TestMachineStatus(t *testing.T) {
	m := NewMachine(baseCfg(nil))
	m.Step(t0, Startup{self})
	m.Step(t0.Add(time.Second), AdvertReceived{hiIP, 150, cs(50)})
	got := m.Status()
	want := MachineStatus{State: StateBackup, Master: hiIP, MasterPriority: 150, Priority: 100, BasePriority: 100,
		LastTransition: t0, Reason: "startup", MasterAdverInterval: cs(50), AdvertsHeard: 1, MasterSince: t0.Add(time.Second)}
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("Status (-want +got)\n%s", diff)
	}
	m.Step(t0.Add(10*time.Second), TimerFired{})
	if s := m.Status(); s.State != StateMaster || s.Master != self || s.Reason != "master down timer expired" || !s.LastTransition.Equal(t0.Add(10*time.Second)) {
		t.Errorf("after takeover: %+v", s)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := baseCfg(nil)
	if err := ok.Validate(); err != nil {
		t.Fatalf("base config: %v", err)
	}
	tests := []struct {
		name string
		edit func(*InstanceConfig)
		want string
	}{
		{"vrid", func(c *InstanceConfig) { c.VRID = 0 }, `keyword "virtual_router_id"`},
		{"v2 interval", func(c *InstanceConfig) { c.Version = 2; c.AdvertInterval = 1500 * time.Millisecond }, `keyword "advert_int"`},
		{"v3 interval", func(c *InstanceConfig) { c.AdvertInterval = 5 * time.Millisecond }, `keyword "advert_int"`},
		{"v3 auth", func(c *InstanceConfig) { c.AuthPass = "x" }, `keyword "authentication"`},
		{"long pass", func(c *InstanceConfig) { c.Version = 2; c.AuthPass = "123456789" }, `keyword "auth_pass"`},
		{"mixed family", func(c *InstanceConfig) {
			c.VIPs = append(c.VIPs, VIP{Prefix: netip.MustParsePrefix("2001:db8::1/64")})
		}, `keyword "virtual_ipaddress"`},
		{"peer family", func(c *InstanceConfig) { c.UnicastPeers = []netip.Addr{netip.MustParseAddr("::1")} }, `keyword "unicast_peer"`},
		{"v2 ipv6", func(c *InstanceConfig) {
			c.Version = 2
			c.VIPs = []VIP{{Prefix: netip.MustParsePrefix("2001:db8::1/64")}}
		}, `keyword "version"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := ok
			c.VIPs = append([]VIP(nil), ok.VIPs...)
			tt.edit(&c)
			err := c.Validate()
			if err == nil || !contains(err.Error(), tt.want) {
				t.Errorf("Validate = %v, want an error with %s", err, tt.want)
			}
		})
	}
	// No VIP is valid: keepalived runs such an instance ("No VIP specified").
	none := ok
	none.VIPs = nil
	if err := none.Validate(); err != nil {
		t.Errorf("no VIP: Validate = %v, want nil (keepalived runs it)", err)
	}
	d := InstanceConfig{Name: "x", Interface: "eth0", InitialState: StateMaster, Nopreempt: true, PreemptDelay: time.Second,
		VIPs: []VIP{{Prefix: netip.MustParsePrefix("2001:db8::1/64")}}}.WithDefaults()
	if d.Version != 3 || d.Priority != 100 || d.Nopreempt || d.PreemptDelay != 0 || d.VIPs[0].Dev != "eth0" || d.GARPMasterDelay != 5*time.Second {
		t.Errorf("WithDefaults = %+v", d)
	}
}

func contains(s, sub string) bool {
	return len(sub) == 0 || len(s) >= len(sub) && (s[:len(sub)] == sub || contains(s[1:], sub))
}
