package vrrp

import (
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var cmpNet = cmp.Options{
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
}

// masterAt returns a machine that became master at t0 (priority p, no
// warning about adverts: one was heard).
func masterAt(t *testing.T, cfg InstanceConfig) *Machine {
	t.Helper()
	m := NewMachine(cfg)
	m.Step(t0, Startup{self})
	m.Step(t0, AdvertReceived{From: lowIP, Priority: 1})
	m.Step(t0.Add(10*time.Second), TimerFired{})
	if m.State() != StateMaster {
		t.Fatalf("setup: state %s, want MASTER", m.State())
	}
	return m
}

func vip(s string) VIP { return VIP{Prefix: netip.MustParsePrefix(s), Dev: "eth0"} }

// noStop fails when any action is a priority-0 advert, a release of every
// VIP or a state change: what a reload must never do to a master.
func noStop(t *testing.T, acts []Action) {
	t.Helper()
	for _, a := range acts {
		switch a := a.(type) {
		case SendAdvert:
			if a.Priority == PriorityStop {
				t.Fatalf("priority-0 advert on reconfigure: %v", acts)
			}
		case RemoveVIPs, RemoveRoutes, StateChanged, Notify:
			t.Fatalf("%T on reconfigure: %v", a, acts)
		}
	}
}

func TestReconfigureMasterLiveFields(t *testing.T) {
	at := 10*time.Second + 300*time.Millisecond
	route := Route{Dst: netip.MustParsePrefix("198.51.100.0/24"), Dev: "eth0"}
	rule := Rule{From: netip.MustParsePrefix("192.0.2.100/32"), Table: 100}
	tests := []struct {
		name     string
		base     func(*InstanceConfig)
		edit     func(*InstanceConfig)
		want     []Action
		deadline time.Duration // NextDeadline after, from t0; 0: not checked
		prio     uint8
	}{
		{"priority lowered: the next advert carries it, at once", nil,
			func(c *InstanceConfig) { c.Priority = 90 },
			[]Action{Reconfigured{[]string{"Priority"}}, PriorityChanged{100, 90}, SendAdvert{90}}, at + time.Second, 90},
		{"priority raised", nil,
			func(c *InstanceConfig) { c.Priority = 140 },
			[]Action{Reconfigured{[]string{"Priority"}}, PriorityChanged{100, 140}, SendAdvert{140}}, 0, 140},
		{"advert_int: advert now, the timer at the new interval", nil,
			func(c *InstanceConfig) { c.AdvertInterval = 2 * time.Second },
			[]Action{Reconfigured{[]string{"AdvertInterval"}}, SendAdvert{100}}, at + 2*time.Second, 100},
		{"VIP added: added, advertised, announced alone", nil,
			func(c *InstanceConfig) { c.VIPs = append(c.VIPs, vip("192.0.2.101/32")) },
			[]Action{Reconfigured{[]string{"VIPs"}}, UpdateVIPs{Add: []VIP{vip("192.0.2.101/32")}}, SendAdvert{100},
				AnnounceVIPs{[]VIP{vip("192.0.2.101/32")}, 5}}, 0, 100},
		{"VIP removed: removed, advertised", func(c *InstanceConfig) { c.VIPs = append(c.VIPs, vip("192.0.2.101/32")) },
			func(c *InstanceConfig) { c.VIPs = c.VIPs[:1] },
			[]Action{Reconfigured{[]string{"VIPs"}}, UpdateVIPs{Remove: []VIP{vip("192.0.2.101/32")}}, SendAdvert{100}}, 0, 100},
		{"excluded VIP added: added and announced, the advert unchanged", nil,
			func(c *InstanceConfig) { c.ExcludedVIPs = []VIP{vip("203.0.113.7/32")} },
			[]Action{Reconfigured{[]string{"ExcludedVIPs"}}, UpdateVIPs{Add: []VIP{vip("203.0.113.7/32")}},
				AnnounceVIPs{[]VIP{vip("203.0.113.7/32")}, 5}}, 0, 100},
		{"virtual route and rule added", nil,
			func(c *InstanceConfig) { c.VirtualRoutes, c.VirtualRules = []Route{route}, []Rule{rule} },
			[]Action{Reconfigured{[]string{"VirtualRoutes", "VirtualRules"}}, UpdateRoutes{AddRoutes: []Route{route}, AddRules: []Rule{rule}}}, 0, 100},
		{"virtual route removed", func(c *InstanceConfig) { c.VirtualRoutes = []Route{route} },
			func(c *InstanceConfig) { c.VirtualRoutes = nil },
			[]Action{Reconfigured{[]string{"VirtualRoutes"}}, UpdateRoutes{RemoveRoutes: []Route{route}}}, 0, 100},
		{"nopreempt", nil, func(c *InstanceConfig) { c.Nopreempt = true }, []Action{Reconfigured{[]string{"Nopreempt"}}}, 0, 100},
		{"preempt_delay", nil, func(c *InstanceConfig) { c.PreemptDelay = 30 * time.Second }, []Action{Reconfigured{[]string{"PreemptDelay"}}}, 0, 100},
		{"auth_pass: advert now", func(c *InstanceConfig) { c.Version = 2 }, func(c *InstanceConfig) { c.AuthPass = "secret" },
			[]Action{Reconfigured{[]string{"AuthPass"}}, SendAdvert{100}}, 0, 100},
		{"notify scripts", nil, func(c *InstanceConfig) { c.NotifyMaster, c.Notify = "/bin/true", "/bin/echo" },
			[]Action{Reconfigured{[]string{"NotifyMaster", "Notify"}}}, 0, 100},
		{"garp_master_refresh: armed", nil, func(c *InstanceConfig) { c.GARPMasterRefresh = 60 * time.Second; c.GARPMasterRefreshRepeat = 2 },
			[]Action{Reconfigured{[]string{"GARPMasterRefresh", "GARPMasterRefreshRepeat"}}}, 0, 100},
		{"garp_master_repeat", nil, func(c *InstanceConfig) { c.GARPMasterRepeat = 3 },
			[]Action{Reconfigured{[]string{"GARPMasterRepeat"}}}, 0, 100},
		{"track_interface list (the driver watches them)", nil, func(c *InstanceConfig) { c.TrackInterfaces = []string{"eth9"} },
			[]Action{Reconfigured{[]string{"TrackInterfaces"}}}, 0, 100},
		{"nothing changed: nothing", nil, func(*InstanceConfig) {}, nil, 0, 100},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseCfg(func(c *InstanceConfig) {
				c.VIPs[0].Dev = "eth0"
				if tt.base != nil {
					tt.base(c)
				}
			})
			m := masterAt(t, cfg)
			n := cfg
			n.VIPs = slices.Clone(cfg.VIPs)
			tt.edit(&n)
			n = n.WithDefaults()
			got := m.Step(t0.Add(at), Reconfigure{Config: n})
			if diff := cmp.Diff(tt.want, got, cmpActions, cmpNet); diff != "" {
				t.Fatalf("actions (-want +got)\n%s", diff)
			}
			noStop(t, got)
			if m.State() != StateMaster {
				t.Fatalf("state %s, want MASTER", m.State())
			}
			if st := m.Status(); st.Priority != tt.prio || st.MasterPriority != tt.prio || st.BasePriority != n.Priority {
				t.Fatalf("priority %d master priority %d base %d, want %d %d %d", st.Priority, st.MasterPriority, st.BasePriority, tt.prio, tt.prio, n.Priority)
			}
			if tt.deadline != 0 {
				if got := m.NextDeadline(); !got.Equal(t0.Add(tt.deadline)) {
					t.Fatalf("NextDeadline %v, want %v", got.Sub(t0), tt.deadline)
				}
			}
			// The periodic advert carries the new priority.
			for i := 0; i < 3 && m.NextDeadline().Sub(t0) < 20*time.Second; i++ {
				for _, a := range m.Step(m.NextDeadline(), TimerFired{}) {
					if sa, ok := a.(SendAdvert); ok && sa.Priority != tt.prio {
						t.Fatalf("periodic advert priority %d, want %d", sa.Priority, tt.prio)
					}
				}
			}
		})
	}
}

func TestReconfigureRefusesRestartFields(t *testing.T) {
	for _, edit := range []func(*InstanceConfig){
		func(c *InstanceConfig) { c.Interface = "eth1" },
		func(c *InstanceConfig) { c.VRID = 7 },
		func(c *InstanceConfig) { c.Version = 2 },
		func(c *InstanceConfig) { c.UnicastSrc = hiIP },
		func(c *InstanceConfig) { c.UnicastPeers = []netip.Addr{hiIP} },
		func(c *InstanceConfig) { c.SyncGroup = "G" },
		func(c *InstanceConfig) { c.VIPs = []VIP{vip("2001:db8::1/128")} },
	} {
		cfg := baseCfg(nil)
		m := masterAt(t, cfg)
		n := cfg
		n.VIPs = slices.Clone(cfg.VIPs)
		edit(&n)
		_, restart := cfg.Compare(n.WithDefaults())
		if len(restart) == 0 {
			t.Fatalf("Compare: no restart field for %+v", n)
		}
		got := m.Step(t0.Add(11*time.Second), Reconfigure{Config: n.WithDefaults()})
		if len(got) != 1 {
			t.Fatalf("%v: actions %v, want one Warn", restart, got)
		}
		if _, ok := got[0].(Warn); !ok {
			t.Fatalf("%v: actions %v, want one Warn", restart, got)
		}
		if m.Status().BasePriority != 100 || m.cfg.Interface != "eth0" {
			t.Fatalf("%v: config taken", restart)
		}
	}
}

// A master whose priority a reload sets below the backup's: no goodbye,
// it goes on advertising the lower priority; the backup (preempt) discards
// those adverts, takes over when its Master_Down_Timer runs out, and its
// advert sends the old master to BACKUP (RFC 5798 §6.4.2, §6.4.3).
func TestReconfigurePriorityBelowBackup(t *testing.T) {
	cfg := baseCfg(func(c *InstanceConfig) { c.Priority = 150 })
	old := masterAt(t, cfg)
	n := cfg
	n.Priority = 90
	acts := old.Step(t0.Add(11*time.Second), Reconfigure{Config: n})
	noStop(t, acts)
	if diff := cmp.Diff([]Action{Reconfigured{[]string{"Priority"}}, PriorityChanged{150, 90}, SendAdvert{90}}, acts, cmpActions); diff != "" {
		t.Fatalf("master (-want +got)\n%s", diff)
	}

	// The backup at 100 heard the master at 150 until now.
	b := NewMachine(baseCfg(nil))
	b.Step(t0, Startup{lowIP})
	b.Step(t0.Add(10*time.Second), AdvertReceived{From: self, Priority: 150})
	deadline := b.NextDeadline()
	// The adverts at 90 are discarded: the timer keeps running.
	for i := 1; i <= 3; i++ {
		now := t0.Add(11*time.Second + time.Duration(i-1)*time.Second)
		if got := b.Step(now, AdvertReceived{From: self, Priority: 90}); len(got) != 0 {
			t.Fatalf("backup: advert at 90: %v", got)
		}
		if !b.NextDeadline().Equal(deadline) {
			t.Fatalf("backup: the lower advert re-armed the timer")
		}
	}
	got := b.Step(deadline, TimerFired{})
	if b.State() != StateMaster || !slices.ContainsFunc(got, func(a Action) bool { return a == SendAdvert{100} }) {
		t.Fatalf("backup did not preempt: %s %v", b.State(), got)
	}
	// The old master hears 100 > 90: BACKUP, VIPs released, no priority 0.
	got = old.Step(deadline, AdvertReceived{From: lowIP, Priority: 100})
	if old.State() != StateBackup {
		t.Fatalf("old master: %s", old.State())
	}
	for _, a := range got {
		if a == (SendAdvert{PriorityStop}) {
			t.Fatalf("old master sent priority 0: %v", got)
		}
	}

	// With nopreempt the backup keeps the lower master.
	np := NewMachine(baseCfg(func(c *InstanceConfig) { c.Nopreempt = true }))
	np.Step(t0, Startup{lowIP})
	for i := 0; i < 10; i++ {
		np.Step(t0.Add(time.Duration(i)*time.Second), AdvertReceived{From: self, Priority: 90})
		np.Step(t0.Add(time.Duration(i)*time.Second), TimerFired{})
	}
	if np.State() != StateBackup {
		t.Fatalf("nopreempt backup: %s", np.State())
	}
}

func TestReconfigureBackup(t *testing.T) {
	cfg := baseCfg(nil)
	m := NewMachine(cfg)
	m.Step(t0, Startup{self})
	m.Step(t0.Add(time.Second), AdvertReceived{From: hiIP, Priority: 200})
	before := m.NextDeadline()
	oldSkew := m.SkewTime()

	// Priority: the timer moves by the change of Skew_Time; no advert.
	n := cfg
	n.Priority = 50
	got := m.Step(t0.Add(1500*time.Millisecond), Reconfigure{Config: n})
	if diff := cmp.Diff([]Action{Reconfigured{[]string{"Priority"}}, PriorityChanged{100, 50}}, got, cmpActions); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
	if want := before.Add(m.SkewTime() - oldSkew); !m.NextDeadline().Equal(want) {
		t.Fatalf("deadline %v, want %v", m.NextDeadline().Sub(t0), want.Sub(t0))
	}
	// VIPs as backup: nothing on the kernel.
	n2 := n
	n2.VIPs = append(slices.Clone(n.VIPs), vip("192.0.2.101/32"))
	got = m.Step(t0.Add(1600*time.Millisecond), Reconfigure{Config: n2})
	if diff := cmp.Diff([]Action{Reconfigured{[]string{"VIPs"}}}, got, cmpActions); diff != "" {
		t.Fatalf("(-want +got)\n%s", diff)
	}
	// advert_int: the timer restarts at the new interval.
	n3 := n2
	n3.AdvertInterval = 2 * time.Second
	now := t0.Add(1700 * time.Millisecond)
	m.Step(now, Reconfigure{Config: n3})
	if m.State() != StateBackup {
		t.Fatalf("state %s", m.State())
	}
	if want := now.Add(m.MasterDownInterval()); !m.NextDeadline().Equal(want) {
		t.Fatalf("deadline %v, want %v", m.NextDeadline().Sub(t0), want.Sub(t0))
	}
}
