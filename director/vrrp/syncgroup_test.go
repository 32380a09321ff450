package vrrp

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestSyncGroupUpdate(t *testing.T) {
	type upd struct {
		member string
		r      GroupReport
		want   []GroupOrder
		state  State
	}
	fm, fb := ForceMaster{"G"}, ForceBackup{"G"}
	gf := func(m string) GroupFault { return GroupFault{"G", m} }
	tests := []struct {
		name    string
		members []string
		steps   []upd
	}{
		{"MASTER only when every member wants it", []string{"A", "B"}, []upd{
			{"A", report(StateBackup, false, false), nil, StateInit},
			{"B", report(StateBackup, false, false), nil, StateBackup},
			{"A", report(StateBackup, true, false), nil, StateBackup},
			{"B", report(StateBackup, true, false), []GroupOrder{{"A", fm}, {"B", fm}}, StateMaster},
			{"A", report(StateMaster, true, false), nil, StateMaster},
			{"B", report(StateMaster, true, false), nil, StateMaster},
		}},
		{"a member that stops wanting holds the group back", []string{"A", "B"}, []upd{
			{"A", report(StateBackup, true, false), nil, StateInit},
			{"B", report(StateBackup, false, false), nil, StateBackup},
			{"A", report(StateBackup, false, false), nil, StateBackup},
			{"B", report(StateBackup, true, false), nil, StateBackup},
		}},
		{"MASTER → BACKUP takes the others along", []string{"A", "B", "C"}, []upd{
			{"A", report(StateMaster, true, false), nil, StateMaster},
			{"B", report(StateMaster, true, false), nil, StateMaster},
			{"C", report(StateMaster, true, false), nil, StateMaster},
			{"B", report(StateBackup, false, false), []GroupOrder{{"A", fb}, {"C", fb}}, StateBackup},
			{"A", report(StateBackup, false, false), nil, StateBackup},
			{"C", report(StateBackup, false, false), nil, StateBackup},
		}},
		{"a member that obeys a group fault after it cleared is brought back", []string{"A", "B"}, []upd{
			{"A", report(StateBackup, false, false), nil, StateInit},
			{"B", report(StateBackup, false, false), nil, StateBackup},
			{"A", report(StateFault, false, true), []GroupOrder{{"B", gf("A")}}, StateFault},
			// A's fault clears before B has acted on its GroupFault: B is
			// still BACKUP for the group, so only A is ordered up.
			{"A", report(StateFault, false, false), []GroupOrder{{"A", fb}}, StateBackup},
			{"A", report(StateBackup, false, false), nil, StateBackup},
			// B now obeys the stale GroupFault and reports FAULT.
			{"B", report(StateFault, false, false), []GroupOrder{{"B", fb}}, StateBackup},
			{"B", report(StateBackup, false, false), nil, StateBackup},
		}},
		{"own fault: all FAULT; cleared: all BACKUP", []string{"A", "B"}, []upd{
			{"A", report(StateMaster, true, false), nil, StateMaster},
			{"B", report(StateMaster, true, false), nil, StateMaster},
			{"A", report(StateFault, false, true), []GroupOrder{{"B", gf("A")}}, StateFault},
			{"B", report(StateFault, false, false), nil, StateFault},
			{"B", report(StateFault, false, true), nil, StateFault},
			{"A", report(StateFault, false, false), nil, StateFault},
			{"B", report(StateFault, false, false), []GroupOrder{{"A", fb}, {"B", fb}}, StateBackup},
			{"A", report(StateBackup, false, false), nil, StateBackup},
			{"B", report(StateBackup, false, false), nil, StateBackup},
		}},
		{"a member not started yet is flagged; a late starter is put in FAULT", []string{"A", "B", "C"}, []upd{
			{"A", report(StateFault, false, true), []GroupOrder{{"B", gf("A")}, {"C", gf("A")}}, StateFault},
			{"B", report(StateBackup, false, false), []GroupOrder{{"B", gf("A")}}, StateFault},
		}},
		{"stopped members are left out", []string{"A", "B"}, []upd{
			{"A", report(StateBackup, true, false), nil, StateInit},
			{"B", report(StateStop, false, false), nil, StateInit},
			{"A", report(StateBackup, true, false), []GroupOrder{{"A", fm}}, StateMaster},
		}},
		{"a backup wanting MASTER while the group is MASTER is let in", []string{"A", "B"}, []upd{
			{"A", report(StateMaster, true, false), nil, StateMaster},
			{"B", report(StateBackup, false, false), nil, StateMaster},
			{"B", report(StateBackup, true, false), []GroupOrder{{"B", fm}}, StateMaster},
		}},
		{"unknown member ignored", []string{"A", "B"}, []upd{
			{"Z", report(StateFault, false, true), nil, StateInit},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewSyncGroup("G", tt.members)
			for i, s := range tt.steps {
				got := g.Update(s.member, s.r)
				if diff := cmp.Diff(s.want, got, cmpActions); diff != "" {
					t.Fatalf("step %d (%s %+v): orders (-want +got)\n%s", i, s.member, s.r, diff)
				}
				if g.State() != s.state {
					t.Fatalf("step %d: group %s, want %s", i, g.State(), s.state)
				}
			}
		})
	}
}

// groupSim runs real Machines of one sync group and the SyncGroup
// synchronously: every step is propagated until no order is left, then
// the invariant is checked.
type groupSim struct {
	t     *testing.T
	g     *SyncGroup
	names []string
	ms    map[string]*Machine
	vips  map[string]bool // VIPs on, per member, from Add/RemoveVIPs
	now   time.Time
	log   []string
	// started: every member has had Startup; the invariant holds from then.
	started bool
}

func newGroupSim(t *testing.T, n int, r *rand.Rand) *groupSim {
	s := &groupSim{t: t, ms: map[string]*Machine{}, vips: map[string]bool{}, now: t0}
	for i := range n {
		name := fmt.Sprintf("VI_%d", i+1)
		s.names = append(s.names, name)
		prio := uint8(50 + r.IntN(150))
		if r.IntN(8) == 0 {
			prio = 255
		}
		s.ms[name] = NewMachine(baseCfg(func(c *InstanceConfig) {
			c.Name, c.SyncGroup, c.Priority, c.VRID = name, "G", prio, uint8(i+1)
			c.Nopreempt = r.IntN(3) == 0
		}))
	}
	s.g = NewSyncGroup("G", s.names)
	return s
}

// apply feeds ev to member and then every order that follows, bounded: an
// endless exchange of orders fails the test.
func (s *groupSim) apply(member string, ev Event) {
	type item struct {
		m  string
		ev Event
	}
	queue := []item{{member, ev}}
	for n := 0; len(queue) > 0; n++ {
		if n > 10*len(s.names) {
			s.t.Fatalf("orders do not settle (loop?): %v\nhistory:\n%s", queue, s.history())
		}
		it := queue[0]
		queue = queue[1:]
		acts := s.ms[it.m].Step(s.now, it.ev)
		s.log = append(s.log, fmt.Sprintf("%v %s %T%+v → %v", s.now.Sub(t0), it.m, it.ev, it.ev, acts))
		for _, a := range acts {
			switch a := a.(type) {
			case AddVIPs:
				s.vips[it.m] = true
			case RemoveVIPs:
				s.vips[it.m] = false
			case GroupReport:
				for _, o := range s.g.Update(it.m, a) {
					queue = append(queue, item{o.Member, o.Event})
				}
			}
		}
	}
	if s.started {
		s.check()
	}
}

func (s *groupSim) startAll() {
	for _, n := range s.names {
		s.apply(n, Startup{self})
	}
	s.started = true
	s.check()
}

func (s *groupSim) history() string {
	h := s.log
	if len(h) > 40 {
		h = h[len(h)-40:]
	}
	out := ""
	for _, l := range h {
		out += l + "\n"
	}
	return out
}

func (s *groupSim) check() {
	s.t.Helper()
	first := s.ms[s.names[0]].State()
	anyOwnFault := false
	for _, n := range s.names {
		m := s.ms[n]
		if m.State() != first {
			s.t.Fatalf("members in different states: %s is %s, %s is %s\nhistory:\n%s", s.names[0], first, n, m.State(), s.history())
		}
		if s.vips[n] != (m.State() == StateMaster) {
			s.t.Fatalf("%s: VIPs on %v in %s\nhistory:\n%s", n, s.vips[n], m.State(), s.history())
		}
		if len(m.Status().FaultSources) > 0 {
			anyOwnFault = true
		}
	}
	if anyOwnFault && first != StateFault {
		s.t.Fatalf("a member has a fault but the group is %s\nhistory:\n%s", first, s.history())
	}
	if (first == StateMaster || first == StateBackup || first == StateFault) && s.g.State() != first {
		s.t.Fatalf("group state %s, members %s\nhistory:\n%s", s.g.State(), first, s.history())
	}
}

// TestSyncGroupProperty drives 2–4 members with random adverts, timers,
// faults, priorities and peer-detector hooks; after every step (orders
// propagated) all members are in one state, the VIPs are on exactly the
// masters, a fault anywhere means FAULT everywhere, and orders settle.
func TestSyncGroupProperty(t *testing.T) {
	peers := []netip.Addr{lowIP, hiIP}
	sources := []string{"interface eth1", "script chk", "process haproxy"}
	for seed := range uint64(300) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			s := newGroupSim(t, 2+r.IntN(3), r)
			// Start everyone (some with a fault or a priority first).
			for _, n := range s.names {
				if r.IntN(5) == 0 {
					s.ms[n].Step(s.now, FaultSet{sources[r.IntN(len(sources))]})
				}
			}
			s.startAll()
			for range 200 {
				s.now = s.now.Add(time.Duration(r.IntN(1500)) * time.Millisecond)
				for _, n := range s.names {
					if d := s.ms[n].NextDeadline(); !d.IsZero() && !s.now.Before(d) {
						s.apply(n, TimerFired{})
					}
				}
				n := s.names[r.IntN(len(s.names))]
				var ev Event
				switch k := r.IntN(10); {
				case k < 4:
					prio := uint8(r.IntN(256))
					if r.IntN(4) == 0 {
						prio = 0
					}
					ev = AdvertReceived{From: peers[r.IntN(2)], Priority: prio, MaxAdverInt: time.Second}
				case k < 5:
					ev = FaultSet{sources[r.IntN(len(sources))]}
				case k < 7:
					ev = FaultCleared{sources[r.IntN(len(sources))]}
				case k < 8:
					ev = SetPriority{uint8(r.IntN(256))}
				case k < 9:
					ev = PeerDead{}
				default:
					ev = Witness{MasterAlive: r.IntN(2) == 0}
				}
				s.apply(n, ev)
			}
		})
	}
}

// TestSyncGroupPropertyReachesMaster: with nobody else on the links, every
// member's timer runs out and the whole group goes MASTER together.
func TestSyncGroupPropertyReachesMaster(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	s := newGroupSim(t, 3, r)
	s.startAll()
	for range 20 {
		s.now = s.now.Add(500 * time.Millisecond)
		for _, n := range s.names {
			if d := s.ms[n].NextDeadline(); !d.IsZero() && !s.now.Before(d) {
				s.apply(n, TimerFired{})
			}
		}
	}
	got := []State{}
	for _, n := range s.names {
		got = append(got, s.ms[n].State())
	}
	if !slices.Equal(got, []State{StateMaster, StateMaster, StateMaster}) {
		t.Fatalf("states %v\n%s", got, s.history())
	}
}
