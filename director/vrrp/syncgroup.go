package vrrp

import (
	"log/slog"
	"slices"
	"sync"
)

// GroupOrder is an event a SyncGroup wants delivered to one member.
type GroupOrder struct {
	Member string
	Event  Event
}

// SyncGroup keeps the members of a vrrp_sync_group in one state, with
// keepalived 2.2.7's rules (vrrp_sync.c, the TSM table of
// vrrp_scheduler.c, down_instance and try_up_instance):
//
//   - MASTER only by agreement: a member whose Master_Down_Timer runs out
//     waits (GroupReport.WantMaster) until every member wants MASTER; then
//     all are ordered ForceMaster (vrrp_sync_can_goto_master,
//     vrrp_sync_master).
//   - A member leaving MASTER for BACKUP (a higher priority heard) takes
//     the others with it: ForceBackup, no priority-0 advert
//     (vrrp_sync_backup). One that leaves MASTER because it yields
//     (`tandem-director failover`) takes them with it by Yield instead:
//     each releases with a priority-0 advert, so that the peer's members
//     take over together after their Skew_Time, and each yields.
//   - A member with a fault of its own puts the others in FAULT
//     (GroupFault: a master releases the VIPs and sends priority 0;
//     vrrp_sync_fault). The group leaves FAULT only when no member has a
//     fault of its own; then every member comes up as BACKUP (ForceBackup),
//     including those that were only held by the group.
//
// It is pure: Update takes a member's report and returns the orders for
// the members, the reporter included. Orders are only given when the
// group's own state changes (or to bring a straggler in line), and a
// member that obeys reports a state the group already has, so an order
// never causes another: there is no A-forces-B-forces-A loop. Members in
// STOP are left out. Not safe for concurrent use.
type SyncGroup struct {
	name    string
	order   []string
	members map[string]*member
	state   State
}

type member struct {
	state  State
	want   bool
	faulty bool
	yield  bool
}

// NewSyncGroup returns a group of the named instances, all in INIT.
func NewSyncGroup(name string, members []string) *SyncGroup {
	g := &SyncGroup{name: name, members: map[string]*member{}, state: StateInit}
	for _, n := range members {
		if _, dup := g.members[n]; dup {
			continue
		}
		g.order = append(g.order, n)
		g.members[n] = &member{state: StateInit}
	}
	return g
}

// Name returns the group's name.
func (g *SyncGroup) Name() string { return g.name }

// Members returns the member names, in configuration order.
func (g *SyncGroup) Members() []string { return slices.Clone(g.order) }

// State returns the group's state: INIT until decided, then BACKUP, MASTER
// or FAULT.
func (g *SyncGroup) State() State { return g.state }

// MemberState returns the last state member reported.
func (g *SyncGroup) MemberState(name string) State {
	if m, ok := g.members[name]; ok {
		return m.state
	}
	return StateInit
}

// Update records member's report and returns the orders that keep the
// group in one state. Reports from unknown members are ignored.
func (g *SyncGroup) Update(name string, r GroupReport) []GroupOrder {
	m, ok := g.members[name]
	if !ok {
		return nil
	}
	prev := m.state
	m.state, m.want, m.faulty, m.yield = r.State, r.WantMaster || r.State == StateMaster, r.Faulty, r.Yielding
	if m.state == StateStop {
		m.want, m.faulty = false, false
		return nil
	}
	return g.decide(name, prev)
}

func (g *SyncGroup) live() []string {
	var out []string
	for _, n := range g.order {
		if g.members[n].state != StateStop {
			out = append(out, n)
		}
	}
	return out
}

func (g *SyncGroup) decide(reporter string, prev State) []GroupOrder {
	var orders []GroupOrder
	to := func(n string, ev Event) { orders = append(orders, GroupOrder{Member: n, Event: ev}) }
	live := g.live()

	faulty := ""
	for _, n := range live {
		if g.members[n].faulty {
			faulty = n
			break
		}
	}
	if faulty != "" {
		entering := g.state != StateFault
		g.state = StateFault
		for _, n := range live {
			s := g.members[n].state
			if s == StateBackup || s == StateMaster || entering && s == StateInit {
				to(n, GroupFault{Group: g.name, Member: faulty})
			}
		}
		return orders
	}

	if g.state == StateFault {
		// The last fault of its own is gone: everyone comes up as backup
		// (keepalived's try_up_instance, then vrrp_sync_backup).
		g.state = StateBackup
		for _, n := range live {
			if s := g.members[n].state; s == StateFault || s == StateInit {
				to(n, ForceBackup{Group: g.name})
			}
		}
		return orders
	}
	r := g.members[reporter]
	if r.state == StateFault {
		// A straggler: it obeys a GroupFault after the group has left
		// FAULT (the order crossed the last member's recovery), with no
		// fault of its own. It comes up as the others did.
		to(reporter, ForceBackup{Group: g.name})
		return orders
	}
	switch {
	case prev == StateMaster && r.state == StateBackup && g.state == StateMaster:
		g.state = StateBackup
		for _, n := range live {
			if n != reporter && g.members[n].state == StateMaster {
				if r.yield {
					to(n, Yield{Group: g.name})
				} else {
					to(n, ForceBackup{Group: g.name})
				}
			}
		}
		return orders
	case r.state == StateMaster && g.state != StateMaster:
		g.state = StateMaster
		for _, n := range live {
			if n != reporter && g.members[n].state == StateBackup {
				to(n, ForceMaster{Group: g.name})
			}
		}
		return orders
	case r.state == StateBackup && r.want && g.state == StateMaster:
		// The group is MASTER (vrrp_sync_can_goto_master says yes at once).
		to(reporter, ForceMaster{Group: g.name})
		return orders
	}

	all, started := true, len(live) > 0
	for _, n := range live {
		m := g.members[n]
		if m.state != StateBackup && m.state != StateMaster {
			started = false
		}
		if !m.want {
			all = false
		}
	}
	if started && all && g.state != StateMaster {
		g.state = StateMaster
		for _, n := range live {
			if g.members[n].state == StateBackup {
				to(n, ForceMaster{Group: g.name})
			}
		}
		return orders
	}
	if started && g.state == StateInit {
		g.state = StateBackup
	}
	return orders
}

// SyncHub connects the drivers of one sync group: each driver created with
// Options.Sync set to the hub reports to it after every step that changed
// its state, and the hub delivers the group's orders to the members'
// drivers. Delivery never blocks (each driver queues them), so two members
// ordering each other cannot deadlock. Safe for concurrent use.
type SyncHub struct {
	mu      sync.Mutex
	g       *SyncGroup
	log     *slog.Logger
	drivers map[string]*Driver
}

// NewSyncHub returns a hub for g; log may be nil (slog.Default()).
func NewSyncHub(g *SyncGroup, log *slog.Logger) *SyncHub {
	if log == nil {
		log = slog.Default()
	}
	return &SyncHub{g: g, log: log.With("sync_group", g.Name()), drivers: map[string]*Driver{}}
}

// State returns the group's state.
func (h *SyncHub) State() State {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.g.State()
}

func (h *SyncHub) attach(name string, d *Driver) {
	h.mu.Lock()
	h.drivers[name] = d
	h.mu.Unlock()
}

func (h *SyncHub) report(name string, r GroupReport) {
	h.mu.Lock()
	before := h.g.State()
	orders := h.g.Update(name, r)
	after := h.g.State()
	targets := make([]*Driver, len(orders))
	for i, o := range orders {
		targets[i] = h.drivers[o.Member]
	}
	h.mu.Unlock()
	if before != after {
		h.log.Info("vrrp sync group state changed", "state", after.String(), "from", before.String(), "member", name)
	}
	for i, o := range orders {
		if targets[i] == nil {
			h.log.Warn("vrrp sync group: no running instance for member", "member", o.Member)
			continue
		}
		targets[i].deliver(o.Event)
	}
}
