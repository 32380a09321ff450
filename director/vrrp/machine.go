package vrrp

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"time"
)

// State is a VRRP instance state (RFC 5798 §6.4), plus keepalived's FAULT
// and the terminal STOP after Shutdown.
type State int

// Instance states. Their String values are keepalived's, as notify scripts
// receive them.
const (
	StateInit   State = iota // Initialize: not started
	StateBackup              // Backup
	StateMaster              // Master: holds the VIPs
	StateFault               // a tracked interface is down: VIPs released
	StateStop                // after Shutdown
)

func (s State) String() string {
	switch s {
	case StateInit:
		return "INIT"
	case StateBackup:
		return "BACKUP"
	case StateMaster:
		return "MASTER"
	case StateFault:
		return "FAULT"
	case StateStop:
		return "STOP"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Event is an input to Machine.Step.
type Event interface{ isEvent() }

// Startup starts the instance (RFC 5798 §6.4.1). Src is the address our
// adverts carry as source: it breaks ties between equal priorities. The
// first action is always RemoveVIPs: VIPs left behind by a killed previous
// run must not stay on a backup.
type Startup struct{ Src netip.Addr }

// Shutdown stops the instance: a master releases the VIPs first, then sends
// a priority-0 advert so a backup takes over after only Skew_Time.
type Shutdown struct{}

// AdvertReceived is a valid advert for our virtual router: the driver has
// decoded it and checked VRID, authentication, interval (v2) and VIP list.
type AdvertReceived struct {
	From     netip.Addr // IP source of the advert
	Priority uint8
	// MaxAdverInt is the sender's advert interval (v3); ignored in v2,
	// where it must equal ours.
	MaxAdverInt time.Duration
}

// TimerFired tells the machine that NextDeadline has been reached.
type TimerFired struct{}

// InterfaceDown reports a tracked interface (track_interface, or the VRRP
// interface itself) going down: the instance goes to FAULT.
type InterfaceDown struct{ Name string }

// InterfaceUp reports a tracked interface coming back. When none is down
// any more the instance leaves FAULT.
type InterfaceUp struct{ Name string }

// SetPriority sets the effective priority: the base priority (priority)
// with the weights of vrrp_script, track_process, track_file and
// track_interface applied, computed by the caller. As keepalived 2.2.7
// (vrrp_set_effective_priority in vrrp_track.c) it is clamped to 1–254,
// ignored for the address owner (priority 255), and takes effect without
// an advert or a state change of its own: a master advertises the new
// priority at its next Adver_Timer; a backup's running Master_Down_Timer
// moves by the change of Skew_Time, and from then on adverts are compared
// with the new priority (a backup now above its master discards the
// master's adverts and takes over when the timer runs out).
type SetPriority struct{ Priority uint8 }

// FaultSet reports a fault source (a track_script with weight 0 failing, a
// tracked process below its quorum, a tracked file at -254 …): the
// instance goes to FAULT as for a tracked interface down. Source names it
// in logs and status ("script chk_nginx").
type FaultSet struct{ Source string }

// FaultCleared clears one fault source. When none is left the instance
// leaves FAULT (in a sync group, only when the group says so).
type FaultCleared struct{ Source string }

// ForceMaster is a sync group's order (vrrp_sync_group): every member
// wants MASTER, so this one becomes master now. Ignored outside BACKUP.
type ForceMaster struct{ Group string }

// ForceBackup is a sync group's order: another member left MASTER for
// BACKUP, or the group leaves FAULT. A master releases the VIPs without a
// priority-0 advert (keepalived's vrrp_sync_backup); a member held in FAULT
// by the group comes up as backup; a backup stays as it is.
type ForceBackup struct{ Group string }

// GroupFault is a sync group's order: another member (Member) is in FAULT,
// so this one goes to FAULT too (a master releases the VIPs and sends
// priority 0) and stays there until ForceBackup, whatever its own sources.
type GroupFault struct{ Group, Member string }

// PeerDead is the hook for a detector faster than Master_Down_Interval
// (director/peerwatch, the BFD-like probe between two Tandem directors):
// in BACKUP it acts exactly as if Master_Down_Timer had expired.
type PeerDead struct{}

// Witness is the hook for witnesses (the backend agents, which talk to
// every director; director/witness, fed to the driver by
// director/peerwatch). While the last Witness said MasterAlive, a
// backup whose Master_Down_Timer expires (or that gets PeerDead) stays
// backup and re-arms the timer: the director-to-director path is broken,
// not the master. A priority-0 advert, the master's own word that it is
// leaving, clears the veto. With no Witness event the plain VRRP rules
// apply.
type Witness struct{ MasterAlive bool }

// Reconfigure gives the running instance a new configuration (a reload),
// after WithDefaults. Only the fields InstanceConfig.Compare calls live
// may differ; an event that changes another is refused with a Warn (the
// caller restarts the instance instead). As keepalived 2.2 on reload, the
// instance keeps its state: a master stays master and never sends a
// priority-0 advert. A new base priority moves the effective priority by
// the same amount (the caller's SetPriority then sets it exactly); a
// master announces it, and any change of what its adverts carry (VIPs,
// advert_int, auth_pass), in an advert at once. A master removes the
// dropped VIPs, routes and rules, adds the new ones and sends gratuitous
// ARPs for the added VIPs only. A backup restarts its Master_Down_Timer
// when advert_int changed, and shifts it by the change of Skew_Time when
// only the priority did. Priority lowered below a backup's while master:
// the master goes on advertising the lower priority, and the backup
// preempts it if it may (RFC 5798 §6.4.2), as it would for a tracker.
type Reconfigure struct{ Config InstanceConfig }

// Yield hands mastership to the peer on purpose (`tandem-director
// failover`). A master releases as on Shutdown (routes and VIPs off, then
// HandOver, then a priority-0 advert, so that the backup takes over after
// its Skew_Time) and becomes BACKUP; it then yields: it accepts the adverts
// of any master, whatever their priority, so it neither preempts back nor
// asks its sync group for MASTER while the peer advertises. It still takes
// over when the peer goes silent (Master_Down_Interval, PeerDead), so a
// failover never leaves the VIPs on nobody; becoming MASTER ends the
// yield. An instance in INIT, BACKUP or FAULT only starts yielding (an
// instance restarted while it yielded). The address owner yields too: it
// stays BACKUP like any other until Unyield. In a sync group the member
// that yields takes the other masters with it (SyncGroup orders them to
// Yield). Group is the sync group that ordered it, "" for the operator.
type Yield struct{ Group string }

// Unyield ends a Yield (`tandem-director failover --cancel`). A backup
// then preempts again if its priority says so (a lower-priority master's
// adverts are discarded again, and its Master_Down_Timer runs out; the
// address owner becomes MASTER at once); without preemption it stays
// BACKUP.
type Unyield struct{}

func (Startup) isEvent()        {}
func (Yield) isEvent()          {}
func (Unyield) isEvent()        {}
func (Reconfigure) isEvent()    {}
func (Shutdown) isEvent()       {}
func (AdvertReceived) isEvent() {}
func (TimerFired) isEvent()     {}
func (InterfaceDown) isEvent()  {}
func (InterfaceUp) isEvent()    {}
func (PeerDead) isEvent()       {}
func (Witness) isEvent()        {}
func (SetPriority) isEvent()    {}
func (FaultSet) isEvent()       {}
func (FaultCleared) isEvent()   {}
func (ForceMaster) isEvent()    {}
func (ForceBackup) isEvent()    {}
func (GroupFault) isEvent()     {}

// Action is an output of Machine.Step for the driver to perform, in order.
type Action interface{ isAction() }

// SendAdvert sends an advertisement with this priority (0 when leaving).
type SendAdvert struct{ Priority uint8 }

// AddVIPs puts the virtual addresses on their interfaces.
type AddVIPs struct{}

// RemoveVIPs takes the virtual addresses off their interfaces.
type RemoveVIPs struct{}

// AddRoutes installs the virtual_routes, then the virtual_rules. It comes
// right after AddVIPs (routes may use a VIP as src), only for an instance
// that has some.
type AddRoutes struct{}

// RemoveRoutes removes the virtual_rules, then the virtual_routes. It comes
// right before RemoveVIPs, only for an instance that has some.
type RemoveRoutes struct{}

// PriorityChanged reports a new effective priority (SetPriority).
type PriorityChanged struct{ From, To uint8 }

// GroupReport is what a sync group member tells its group (SyncGroup.Update)
// after a step that changed any of these; only instances with a SyncGroup
// emit it.
type GroupReport struct {
	Group string
	State State
	// WantMaster: the member is MASTER, or a backup whose
	// Master_Down_Timer ran out and that waits for the group to agree
	// (keepalived's wantstate MASTER).
	WantMaster bool
	// Faulty: the member has fault sources of its own (not only the
	// group's order).
	Faulty bool
	// Yielding: the member yields (Yield); one that leaves MASTER so
	// takes the group's other masters with it.
	Yielding bool
}

// SendGARP announces every VIP: Repeat gratuitous ARPs (IPv4) or
// unsolicited neighbour advertisements (IPv6) each.
type SendGARP struct{ Repeat int }

// Notify runs the notify scripts for entering State (keepalived's
// notify_master/notify_backup/notify_fault/notify_stop and notify).
type Notify struct{ State State }

// StateChanged reports a transition and why, for logs and status.
type StateChanged struct {
	From, To State
	Reason   string
}

// Warn is something the operator should hear about.
type Warn struct{ Msg string }

// UpdateVIPs is a master's part of a Reconfigure: remove Remove, then add
// Add (VIPs and excluded VIPs).
type UpdateVIPs struct{ Add, Remove []VIP }

// UpdateRoutes is a master's part of a Reconfigure: remove the rules, then
// the routes, of Remove*; add the routes, then the rules, of Add*.
type UpdateRoutes struct {
	AddRoutes, RemoveRoutes []Route
	AddRules, RemoveRules   []Rule
}

// AnnounceVIPs announces these VIPs only (the ones a Reconfigure added to
// a master), Repeat times each.
type AnnounceVIPs struct {
	VIPs   []VIP
	Repeat int
}

// Reconfigured reports the fields a Reconfigure changed, for the log.
type Reconfigured struct{ Fields []string }

// HandOver comes right after a MASTER released its VIPs (RemoveVIPs),
// before its priority-0 advert when it sends one: the moment to hand its
// IPVS connections to the peer's backup sync daemon (Options.OnRelease),
// so that the established connections survive the move. It is part of
// every release of a MASTER: shutdown, Yield, FAULT, a higher priority
// heard, a sync group's ForceBackup.
type HandOver struct{}

func (HandOver) isAction()        {}
func (UpdateVIPs) isAction()      {}
func (UpdateRoutes) isAction()    {}
func (AnnounceVIPs) isAction()    {}
func (Reconfigured) isAction()    {}
func (SendAdvert) isAction()      {}
func (AddVIPs) isAction()         {}
func (RemoveVIPs) isAction()      {}
func (SendGARP) isAction()        {}
func (Notify) isAction()          {}
func (StateChanged) isAction()    {}
func (Warn) isAction()            {}
func (AddRoutes) isAction()       {}
func (RemoveRoutes) isAction()    {}
func (PriorityChanged) isAction() {}
func (GroupReport) isAction()     {}

// MachineStatus is a snapshot of the machine.
type MachineStatus struct {
	State State
	// Master is the current master's address: ours when master, the last
	// advertiser's when backup, invalid when unknown.
	Master netip.Addr
	// MasterPriority is the priority the master advertises.
	MasterPriority uint8
	// Priority is our effective priority (SetPriority), the one we
	// advertise; BasePriority the configured one.
	Priority, BasePriority uint8
	// FaultSources are the fault sources in force, sorted ("interface
	// eth1", "script chk"); GroupFault is set while a sync group holds us
	// in FAULT.
	FaultSources []string
	GroupFault   bool
	// WantMaster: a sync group member waiting for the group to go MASTER.
	WantMaster bool
	// LastTransition and Reason describe the last state change.
	LastTransition time.Time
	Reason         string
	// MasterAdverInterval is the interval in force (learned from the master
	// in v3).
	MasterAdverInterval time.Duration
	// AdvertsHeard counts adverts from other routers since start.
	AdvertsHeard uint64
	// WitnessVeto is the last Witness input.
	WitnessVeto bool
	// Yielding: the instance yields (Yield) until Unyield or until it
	// becomes MASTER again.
	Yielding bool
	// MasterSince is when the current master (another router) was first
	// heard advertising a non-zero priority as master; zero while we are
	// master or no master is known. After a Yield it is when the peer was
	// first heard as master.
	MasterSince time.Time
}

// Machine is the VRRP state machine of one instance, per RFC 5798 §6.4 and
// RFC 3768 §6.4, with keepalived's choices where the RFCs leave room. It is
// pure: no clock, no I/O. The caller feeds it events with the current time
// and performs the returned actions; it calls Step(TimerFired) when
// NextDeadline is reached. Not safe for concurrent use.
type Machine struct {
	cfg   InstanceConfig
	state State
	src   netip.Addr

	masterAdverInt time.Duration // Master_Adver_Interval
	masterDown     time.Time     // Master_Down_Timer (backup)
	adver          time.Time     // Adver_Timer (master)
	garpDelay      time.Time     // second GARP burst (master)
	garpRefresh    time.Time     // GARP refresh (master)
	preemptAt      time.Time     // preempt_delay: lower-priority master tolerated until then
	reannounced    time.Time     // last GARP burst answering another master

	prio   uint8             // effective priority
	faults map[string]string // fault source → its reason ("interface eth1 down")
	gfault bool              // a sync group holds us in FAULT
	want   bool              // sync group: Master_Down_Timer ran out, waiting for the group
	last   GroupReport       // last GroupReport emitted
	veto   bool
	yield  bool
	heard  uint64
	master netip.Addr
	mprio  uint8
	mSince time.Time // MasterSince
	lastT  time.Time
	reason string
}

// NewMachine returns a machine in Initialize for cfg. cfg should have been
// through WithDefaults and Validate.
func NewMachine(cfg InstanceConfig) *Machine {
	m := &Machine{cfg: cfg, state: StateInit, masterAdverInt: cfg.AdvertInterval, prio: cfg.Priority, faults: map[string]string{}}
	m.last = GroupReport{Group: cfg.SyncGroup, State: StateInit}
	return m
}

// Priority returns the effective priority.
func (m *Machine) Priority() uint8 { return m.prio }

func (m *Machine) inGroup() bool { return m.cfg.SyncGroup != "" }

func (m *Machine) hasRoutes() bool { return len(m.cfg.VirtualRoutes)+len(m.cfg.VirtualRules) > 0 }

// acquire is what becoming master does to the kernel: VIPs, then routes.
func (m *Machine) acquire() []Action {
	if m.hasRoutes() {
		return []Action{AddVIPs{}, AddRoutes{}}
	}
	return []Action{AddVIPs{}}
}

// release is the reverse: routes and rules, then VIPs.
func (m *Machine) release() []Action {
	if m.hasRoutes() {
		return []Action{RemoveRoutes{}, RemoveVIPs{}}
	}
	return []Action{RemoveVIPs{}}
}

// releaseMaster is release from MASTER: then the connections' HandOver.
func (m *Machine) releaseMaster() []Action {
	return append(m.release(), HandOver{})
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Status returns a snapshot.
func (m *Machine) Status() MachineStatus {
	return MachineStatus{
		State: m.state, Master: m.master, MasterPriority: m.mprio, Priority: m.prio, BasePriority: m.cfg.Priority,
		FaultSources: slices.Sorted(maps.Keys(m.faults)), GroupFault: m.gfault, WantMaster: m.want,
		LastTransition: m.lastT, Reason: m.reason, MasterAdverInterval: m.masterAdverInt,
		AdvertsHeard: m.heard, WitnessVeto: m.veto, Yielding: m.yield, MasterSince: m.mSince,
	}
}

// NextDeadline returns when Step(TimerFired) is next due, or the zero time
// when no timer runs (INIT, FAULT, STOP).
func (m *Machine) NextDeadline() time.Time {
	var next time.Time
	for _, t := range []time.Time{m.masterDown, m.adver, m.garpDelay, m.garpRefresh} {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	return next
}

// SkewTime is Skew_Time for our priority: ((256 − Priority) ×
// Master_Adver_Interval) / 256 in version 3, (256 − Priority) / 256 seconds
// in version 2. It is computed in nanoseconds, not rounded to centiseconds.
func (m *Machine) SkewTime() time.Duration {
	unit := time.Second
	if m.cfg.Version == Version3 {
		unit = m.masterAdverInt
	}
	return time.Duration(256-int(m.prio)) * unit / 256
}

// MasterDownInterval is 3 × Master_Adver_Interval + Skew_Time.
func (m *Machine) MasterDownInterval() time.Duration {
	return 3*m.masterAdverInt + m.SkewTime()
}

// Step feeds one event at time now and returns the actions to perform, in
// order. A sync group member ends the list with a GroupReport when its
// state, wish or own faults changed.
func (m *Machine) Step(now time.Time, ev Event) []Action {
	acts := m.step(now, ev)
	if m.inGroup() {
		r := GroupReport{Group: m.cfg.SyncGroup, State: m.state, WantMaster: m.state == StateMaster || m.want, Faulty: len(m.faults) > 0, Yielding: m.yield}
		if r != m.last {
			m.last = r
			acts = append(acts, r)
		}
	}
	return acts
}

func (m *Machine) step(now time.Time, ev Event) []Action {
	switch ev := ev.(type) {
	case Startup:
		return m.startup(now, ev)
	case Shutdown:
		return m.shutdown(now)
	case AdvertReceived:
		return m.advert(now, ev)
	case TimerFired:
		return m.timers(now)
	case InterfaceDown:
		return m.faultSet(now, "interface "+ev.Name, "interface "+ev.Name+" down")
	case InterfaceUp:
		return m.faultCleared(now, "interface "+ev.Name, "interface "+ev.Name+" up")
	case FaultSet:
		return m.faultSet(now, ev.Source, "fault: "+ev.Source)
	case FaultCleared:
		return m.faultCleared(now, ev.Source, "fault cleared: "+ev.Source)
	case SetPriority:
		return m.setPriority(ev.Priority)
	case Reconfigure:
		return m.reconfigure(now, ev.Config)
	case ForceMaster:
		if m.state == StateBackup {
			return m.becomeMaster(now, "sync group "+ev.Group+": every member wants MASTER")
		}
	case ForceBackup:
		return m.forceBackup(now, ev.Group)
	case GroupFault:
		return m.groupFault(now, ev)
	case PeerDead:
		if m.state == StateBackup {
			return m.masterDownExpired(now, "peer detector reports the master dead")
		}
	case Witness:
		m.veto = ev.MasterAlive
	case Yield:
		return m.yieldTo(now, ev)
	case Unyield:
		return m.unyield(now)
	}
	return nil
}

// yieldTo is Yield: see there.
func (m *Machine) yieldTo(now time.Time, ev Yield) []Action {
	if m.state == StateStop {
		return nil
	}
	m.yield = true
	if m.state != StateMaster {
		m.want = false
		return nil
	}
	why := "yield: mastership handed over on request (tandem-director failover)"
	if ev.Group != "" {
		why = "yield: sync group " + ev.Group + ": another member yields"
	}
	m.clearTimers()
	acts := append(m.releaseMaster(), SendAdvert{PriorityStop})
	m.masterAdverInt = m.cfg.AdvertInterval
	m.masterDown = now.Add(m.MasterDownInterval())
	m.want = false
	m.master, m.mprio, m.mSince = netip.Addr{}, 0, time.Time{}
	return append(acts, m.transition(now, StateBackup, why), Notify{StateBackup})
}

// unyield is Unyield: see there.
func (m *Machine) unyield(now time.Time) []Action {
	if !m.yield {
		return nil
	}
	m.yield = false
	if m.state == StateBackup && m.cfg.Priority == PriorityOwner && !m.inGroup() {
		return m.becomeMaster(now, "yield cancelled: address owner (priority 255)")
	}
	// Otherwise the next advert of a lower-priority master is discarded
	// (backupAdvert) and Master_Down_Timer runs out: RFC preemption.
	return nil
}

func (m *Machine) transition(now time.Time, to State, reason string) Action {
	a := StateChanged{From: m.state, To: to, Reason: reason}
	m.state, m.lastT, m.reason = to, now, reason
	return a
}

func (m *Machine) clearTimers() {
	m.masterDown, m.adver, m.garpDelay, m.garpRefresh, m.preemptAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
}

func (m *Machine) startup(now time.Time, ev Startup) []Action {
	if m.state != StateInit {
		return nil
	}
	m.src = ev.Src
	// A previous run that was killed may have left the VIPs behind: clear
	// them before anything else (the owner adds them back at once).
	acts := m.release()
	if len(m.faults) > 0 {
		return append(acts, m.transition(now, StateFault, "startup with "+m.faultReason()), Notify{StateFault})
	}
	if m.gfault {
		return append(acts, m.transition(now, StateFault, "startup: sync group "+m.cfg.SyncGroup+" in FAULT"), Notify{StateFault})
	}
	return append(acts, m.comeUp(now, "startup")...)
}

// comeUp leaves Initialize or FAULT (RFC 5798 §6.4.1).
func (m *Machine) comeUp(now time.Time, why string) []Action {
	m.masterAdverInt = m.cfg.AdvertInterval
	m.want = false
	m.master, m.mprio = netip.Addr{}, 0
	if m.cfg.Priority == PriorityOwner && !m.yield {
		if m.inGroup() {
			// The group decides: wait Master_Adver_Interval + Skew_Time
			// (keepalived's try_up_instance for the owner), then ask.
			m.masterDown = now.Add(m.masterAdverInt + m.SkewTime())
			return []Action{m.transition(now, StateBackup, why+": address owner in sync group "+m.cfg.SyncGroup), Notify{StateBackup}}
		}
		return m.becomeMaster(now, why+": address owner (priority 255)")
	}
	m.masterDown = now.Add(m.MasterDownInterval())
	return []Action{m.transition(now, StateBackup, why), Notify{StateBackup}}
}

func (m *Machine) becomeMaster(now time.Time, why string) []Action {
	m.clearTimers()
	m.adver = now.Add(m.cfg.AdvertInterval)
	if m.cfg.GARPMasterDelay > 0 {
		m.garpDelay = now.Add(m.cfg.GARPMasterDelay)
	}
	if m.cfg.GARPMasterRefresh > 0 {
		m.garpRefresh = now.Add(m.cfg.GARPMasterRefresh)
	}
	m.masterAdverInt = m.cfg.AdvertInterval
	m.master, m.mprio, m.mSince = m.src, m.prio, time.Time{}
	m.reannounced = time.Time{}
	m.want = false
	var acts []Action
	if m.yield {
		m.yield = false
		acts = append(acts, Warn{"yield ended: " + why})
	}
	if m.heard == 0 && m.cfg.Priority != PriorityOwner {
		acts = append(acts, Warn{"becoming master without having heard any advertisement since start: " +
			"if a peer is running, VRRP (IP protocol 112) is probably filtered and both are master"})
	}
	acts = append(acts, m.acquire()...)
	return append(acts,
		SendAdvert{m.prio},
		SendGARP{m.cfg.GARPMasterRepeat},
		m.transition(now, StateMaster, why),
		Notify{StateMaster},
	)
}

func (m *Machine) becomeBackup(now time.Time, why string, learned time.Duration) []Action {
	m.clearTimers()
	if m.cfg.Version == Version3 && learned > 0 {
		m.masterAdverInt = learned
	} else {
		m.masterAdverInt = m.cfg.AdvertInterval
	}
	m.masterDown = now.Add(m.MasterDownInterval())
	m.want = false
	m.mSince = time.Time{}
	return append(m.releaseMaster(), m.transition(now, StateBackup, why), Notify{StateBackup})
}

func (m *Machine) shutdown(now time.Time) []Action {
	switch m.state {
	case StateStop:
		return nil
	case StateMaster:
		m.clearTimers()
		// VIPs first: nothing may answer for them once the peer takes over.
		return append(m.releaseMaster(), SendAdvert{PriorityStop}, m.transition(now, StateStop, "shutdown"), Notify{StateStop})
	}
	m.clearTimers()
	return []Action{m.transition(now, StateStop, "shutdown"), Notify{StateStop}}
}

func (m *Machine) advert(now time.Time, ev AdvertReceived) []Action {
	if ev.From == m.src && m.src.IsValid() {
		return nil // our own advert looped back
	}
	m.heard++
	switch m.state {
	case StateBackup:
		return m.backupAdvert(now, ev)
	case StateMaster:
		return m.masterAdvert(now, ev)
	}
	return nil
}

func (m *Machine) backupAdvert(now time.Time, ev AdvertReceived) []Action {
	switch {
	case ev.Priority == PriorityStop:
		m.mSince = time.Time{}
	case ev.From != m.master || m.mprio == PriorityStop || m.mSince.IsZero():
		m.mSince = now
	}
	m.master = ev.From
	m.mprio = ev.Priority
	if ev.Priority == PriorityStop {
		// The master is leaving: take over after Skew_Time only.
		m.masterDown = now.Add(m.SkewTime())
		m.veto = false
		return nil
	}
	lower := ev.Priority < m.prio
	// A yielding backup tolerates any master: it does not preempt back.
	tolerate := !lower || m.cfg.Nopreempt || m.yield
	if lower && !tolerate && m.cfg.PreemptDelay > 0 {
		if m.preemptAt.IsZero() {
			m.preemptAt = now.Add(m.cfg.PreemptDelay)
		}
		tolerate = now.Before(m.preemptAt)
	}
	if !lower {
		m.preemptAt = time.Time{}
	}
	if !tolerate {
		// Preempt: ignore the lower-priority master; Master_Down_Timer
		// runs out and we take over. keepalived 2.2.7 does the same
		// (vrrp_state_backup: "received lower priority advert -
		// discarding"); it does not take over at once.
		return nil
	}
	// An advert we accept: this master is fine with us (keepalived sets
	// wantstate BACKUP here), so a sync group member stops asking.
	m.want = false
	if m.cfg.Version == Version3 && ev.MaxAdverInt > 0 {
		m.masterAdverInt = ev.MaxAdverInt
	}
	m.masterDown = now.Add(m.MasterDownInterval())
	return nil
}

// higher reports whether an advert of priority p from addr beats us.
func (m *Machine) higher(p uint8, addr netip.Addr) bool {
	return p > m.prio || p == m.prio && addr.Compare(m.src) > 0
}

func (m *Machine) masterAdvert(now time.Time, ev AdvertReceived) []Action {
	if ev.Priority == PriorityStop {
		// Another router leaving MASTER: it held the VIPs too, so hosts
		// may point at it. Answer at once (RFC) and re-announce.
		m.adver = now.Add(m.cfg.AdvertInterval)
		return append([]Action{SendAdvert{m.prio}}, m.reannounce(now)...)
	}
	if m.higher(ev.Priority, ev.From) {
		why := fmt.Sprintf("higher priority advert from %s (priority %d, ours %d)", ev.From, ev.Priority, m.prio)
		if ev.Priority == m.prio {
			why = fmt.Sprintf("advert from %s with our priority %d and a higher address", ev.From, ev.Priority)
		}
		acts := m.becomeBackup(now, why, ev.MaxAdverInt)
		m.master, m.mprio = ev.From, ev.Priority
		return acts
	}
	// Another master with a lower priority (a split brain that just ended,
	// or one-way filtering of VRRP): assert ourselves at once, as keepalived
	// does, and re-announce the VIPs so that hosts point at us again.
	acts := []Action{SendAdvert{m.prio}}
	acts = append(acts, m.reannounce(now)...)
	return append(acts, Warn{fmt.Sprintf("another master at %s with lower priority %d: asserting mastership", ev.From, ev.Priority)})
}

// ReannounceInterval is the shortest time between two GARP bursts sent
// because another master was seen: garp_master_delay, but at least five
// advert intervals, so that a peer that keeps advertising (VRRP filtered one
// way) does not turn into a gratuitous ARP storm.
func (m *Machine) ReannounceInterval() time.Duration {
	return max(m.cfg.GARPMasterDelay, 5*m.cfg.AdvertInterval)
}

func (m *Machine) reannounce(now time.Time) []Action {
	if !m.reannounced.IsZero() && now.Sub(m.reannounced) < m.ReannounceInterval() {
		return nil
	}
	m.reannounced = now
	return []Action{SendGARP{m.cfg.GARPMasterRepeat}}
}

func (m *Machine) timers(now time.Time) []Action {
	var acts []Action
	due := func(t time.Time) bool { return !t.IsZero() && !now.Before(t) }
	switch m.state {
	case StateBackup:
		if due(m.masterDown) {
			acts = append(acts, m.masterDownExpired(now, "master down timer expired")...)
		}
	case StateMaster:
		if due(m.adver) {
			acts = append(acts, SendAdvert{m.prio})
			m.adver = now.Add(m.cfg.AdvertInterval)
		}
		if due(m.garpDelay) {
			acts = append(acts, SendGARP{m.cfg.GARPMasterRepeat})
			m.garpDelay = time.Time{}
		}
		if due(m.garpRefresh) {
			acts = append(acts, SendGARP{m.cfg.GARPMasterRefreshRepeat})
			m.garpRefresh = now.Add(m.cfg.GARPMasterRefresh)
		}
	}
	return acts
}

func (m *Machine) masterDownExpired(now time.Time, why string) []Action {
	if m.veto {
		m.masterDown = now.Add(m.MasterDownInterval())
		return []Action{Warn{why + ", but a witness reports the master alive: staying backup"}}
	}
	if m.inGroup() {
		// keepalived's vrrp_sync_can_goto_master: a member goes MASTER
		// only when every member wants to (the group's ForceMaster);
		// meanwhile it stays backup with the timer re-armed.
		m.want = true
		m.masterDown = now.Add(m.MasterDownInterval())
		return nil
	}
	return m.becomeMaster(now, why)
}

// faultReason is the reason of the first fault source, by name.
func (m *Machine) faultReason() string {
	for _, k := range slices.Sorted(maps.Keys(m.faults)) {
		return m.faults[k]
	}
	return ""
}

// faultSet: a master releases the VIPs and sends priority 0 (as
// keepalived's down_instance), then FAULT; a backup goes to FAULT.
func (m *Machine) faultSet(now time.Time, src, why string) []Action {
	m.faults[src] = why
	return m.enterFault(now, why)
}

func (m *Machine) enterFault(now time.Time, why string) []Action {
	switch m.state {
	case StateMaster:
		m.clearTimers()
		m.want = false
		return append(m.releaseMaster(), SendAdvert{PriorityStop}, m.transition(now, StateFault, why), Notify{StateFault})
	case StateBackup:
		m.clearTimers()
		m.want = false
		return []Action{m.transition(now, StateFault, why), Notify{StateFault}}
	}
	return nil
}

// faultCleared: with no source left (and no group holding us), the
// instance restarts as from Startup. A sync group member waits for the
// group's ForceBackup instead (keepalived's try_up_instance).
func (m *Machine) faultCleared(now time.Time, src, why string) []Action {
	if _, ok := m.faults[src]; !ok {
		return nil
	}
	delete(m.faults, src)
	if m.state != StateFault || len(m.faults) > 0 || m.gfault || m.inGroup() {
		return nil
	}
	return m.comeUp(now, why)
}

func (m *Machine) setPriority(p uint8) []Action {
	if m.cfg.Priority == PriorityOwner {
		return nil // keepalived never changes the owner's priority
	}
	p = min(max(p, 1), PriorityOwner-1)
	if p == m.prio {
		return nil
	}
	old, oldSkew := m.prio, m.SkewTime()
	m.prio = p
	if m.state == StateBackup && !m.masterDown.IsZero() {
		// keepalived recomputes ms_down_timer and moves the running
		// timer by the difference, i.e. by the change of Skew_Time.
		m.masterDown = m.masterDown.Add(m.SkewTime() - oldSkew)
	}
	if m.state == StateMaster {
		m.mprio = p
	}
	return []Action{PriorityChanged{From: old, To: p}}
}

func (m *Machine) forceBackup(now time.Time, group string) []Action {
	why := "sync group " + group + ": another member is BACKUP"
	switch m.state {
	case StateMaster:
		return m.becomeBackup(now, why, 0)
	case StateFault:
		m.gfault = false
		if len(m.faults) > 0 {
			return nil
		}
		return m.comeUp(now, "sync group "+group+" leaves FAULT")
	case StateInit:
		m.gfault = false
	}
	return nil
}

func (m *Machine) groupFault(now time.Time, ev GroupFault) []Action {
	if m.state == StateStop {
		return nil
	}
	m.gfault = true
	why := "sync group " + ev.Group + ": member " + ev.Member + " in FAULT"
	if ev.Member == "" {
		why = "sync group " + ev.Group + " in FAULT"
	}
	return m.enterFault(now, why)
}

// minus returns the elements of a not in b, in a's order.
func minus[T comparable](a, b []T) []T {
	var out []T
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

// reconfigure is Reconfigure: see there.
func (m *Machine) reconfigure(now time.Time, n InstanceConfig) []Action {
	old := m.cfg
	live, restart := old.Compare(n)
	if len(restart) > 0 {
		return []Action{Warn{fmt.Sprintf("reconfigure refused: %v cannot change while the instance runs; it must restart", restart)}}
	}
	if len(live) == 0 {
		return nil
	}
	m.cfg = n
	acts := []Action{Reconfigured{Fields: live}}
	changed := func(f string) bool { return slices.Contains(live, f) }

	if changed("AdvertInterval") {
		switch m.state {
		case StateMaster:
			m.masterAdverInt = n.AdvertInterval
			m.adver = now.Add(n.AdvertInterval)
		case StateBackup:
			if n.Version == Version2 || m.master == (netip.Addr{}) {
				m.masterAdverInt = n.AdvertInterval
			}
			m.masterDown = now.Add(m.MasterDownInterval())
		}
	}
	prioSent := false
	if changed("Priority") {
		from, oldSkew := m.prio, m.SkewTime()
		switch {
		case n.Priority == PriorityOwner:
			m.prio = PriorityOwner
		case old.Priority == PriorityOwner:
			m.prio = n.Priority
		default:
			m.prio = uint8(min(max(int(m.prio)+int(n.Priority)-int(old.Priority), 1), PriorityOwner-1))
		}
		if m.state == StateBackup && !m.masterDown.IsZero() && !changed("AdvertInterval") {
			m.masterDown = m.masterDown.Add(m.SkewTime() - oldSkew)
		}
		if m.state == StateMaster {
			m.mprio = m.prio
		}
		if from != m.prio {
			acts = append(acts, PriorityChanged{From: from, To: m.prio})
			prioSent = true
		}
	}
	if changed("Nopreempt") || changed("PreemptDelay") {
		m.preemptAt = time.Time{}
	}
	if m.state != StateMaster {
		if m.state == StateBackup && n.Priority == PriorityOwner && !m.inGroup() && !m.yield {
			return append(acts, m.becomeMaster(now, "reload: address owner (priority 255)")...)
		}
		return acts
	}

	// MASTER: the timers, the kernel, then the advert and the new VIPs'
	// announcement.
	if changed("GARPMasterRefresh") {
		m.garpRefresh = time.Time{}
		if n.GARPMasterRefresh > 0 {
			m.garpRefresh = now.Add(n.GARPMasterRefresh)
		}
	}
	if changed("GARPMasterDelay") && n.GARPMasterDelay == 0 {
		m.garpDelay = time.Time{}
	}
	rmRoutes, addRoutes := minus(old.VirtualRoutes, n.VirtualRoutes), minus(n.VirtualRoutes, old.VirtualRoutes)
	rmRules, addRules := minus(old.VirtualRules, n.VirtualRules), minus(n.VirtualRules, old.VirtualRules)
	rmVIPs, addVIPs := minus(old.allVIPs(), n.allVIPs()), minus(n.allVIPs(), old.allVIPs())
	if len(rmRoutes)+len(rmRules) > 0 {
		acts = append(acts, UpdateRoutes{RemoveRoutes: rmRoutes, RemoveRules: rmRules})
	}
	if len(rmVIPs)+len(addVIPs) > 0 {
		acts = append(acts, UpdateVIPs{Add: addVIPs, Remove: rmVIPs})
	}
	if len(addRoutes)+len(addRules) > 0 {
		acts = append(acts, UpdateRoutes{AddRoutes: addRoutes, AddRules: addRules})
	}
	if prioSent || changed("VIPs") || changed("AdvertInterval") || changed("AuthPass") {
		acts = append(acts, SendAdvert{m.prio})
		m.adver = now.Add(n.AdvertInterval)
	}
	if len(addVIPs) > 0 {
		acts = append(acts, AnnounceVIPs{VIPs: addVIPs, Repeat: n.GARPMasterRepeat})
	}
	return acts
}
