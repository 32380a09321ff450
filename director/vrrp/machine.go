package vrrp

import (
	"fmt"
	"net/netip"
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

func (Startup) isEvent()        {}
func (Shutdown) isEvent()       {}
func (AdvertReceived) isEvent() {}
func (TimerFired) isEvent()     {}
func (InterfaceDown) isEvent()  {}
func (InterfaceUp) isEvent()    {}
func (PeerDead) isEvent()       {}
func (Witness) isEvent()        {}

// Action is an output of Machine.Step for the driver to perform, in order.
type Action interface{ isAction() }

// SendAdvert sends an advertisement with this priority (0 when leaving).
type SendAdvert struct{ Priority uint8 }

// AddVIPs puts the virtual addresses on their interfaces.
type AddVIPs struct{}

// RemoveVIPs takes the virtual addresses off their interfaces.
type RemoveVIPs struct{}

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

func (SendAdvert) isAction()   {}
func (AddVIPs) isAction()      {}
func (RemoveVIPs) isAction()   {}
func (SendGARP) isAction()     {}
func (Notify) isAction()       {}
func (StateChanged) isAction() {}
func (Warn) isAction()         {}

// MachineStatus is a snapshot of the machine.
type MachineStatus struct {
	State State
	// Master is the current master's address: ours when master, the last
	// advertiser's when backup, invalid when unknown.
	Master netip.Addr
	// MasterPriority is the priority the master advertises.
	MasterPriority uint8
	// Priority is our own priority.
	Priority uint8
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

	down   map[string]bool // tracked interfaces that are down
	veto   bool
	heard  uint64
	master netip.Addr
	mprio  uint8
	lastT  time.Time
	reason string
}

// NewMachine returns a machine in Initialize for cfg. cfg should have been
// through WithDefaults and Validate.
func NewMachine(cfg InstanceConfig) *Machine {
	return &Machine{cfg: cfg, state: StateInit, masterAdverInt: cfg.AdvertInterval, down: map[string]bool{}}
}

// State returns the current state.
func (m *Machine) State() State { return m.state }

// Status returns a snapshot.
func (m *Machine) Status() MachineStatus {
	return MachineStatus{
		State: m.state, Master: m.master, MasterPriority: m.mprio, Priority: m.cfg.Priority,
		LastTransition: m.lastT, Reason: m.reason, MasterAdverInterval: m.masterAdverInt,
		AdvertsHeard: m.heard, WitnessVeto: m.veto,
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
	return time.Duration(256-int(m.cfg.Priority)) * unit / 256
}

// MasterDownInterval is 3 × Master_Adver_Interval + Skew_Time.
func (m *Machine) MasterDownInterval() time.Duration {
	return 3*m.masterAdverInt + m.SkewTime()
}

// Step feeds one event at time now and returns the actions to perform, in
// order.
func (m *Machine) Step(now time.Time, ev Event) []Action {
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
		return m.ifDown(now, ev.Name)
	case InterfaceUp:
		return m.ifUp(now, ev.Name)
	case PeerDead:
		if m.state == StateBackup {
			return m.masterDownExpired(now, "peer detector reports the master dead")
		}
	case Witness:
		m.veto = ev.MasterAlive
	}
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
	acts := []Action{RemoveVIPs{}}
	if len(m.down) > 0 {
		return append(acts, m.transition(now, StateFault, "startup with interface "+m.downName()+" down"), Notify{StateFault})
	}
	return append(acts, m.comeUp(now, "startup")...)
}

// comeUp leaves Initialize or FAULT (RFC 5798 §6.4.1).
func (m *Machine) comeUp(now time.Time, why string) []Action {
	m.masterAdverInt = m.cfg.AdvertInterval
	if m.cfg.Priority == PriorityOwner {
		return m.becomeMaster(now, why+": address owner (priority 255)")
	}
	m.masterDown = now.Add(m.MasterDownInterval())
	m.master, m.mprio = netip.Addr{}, 0
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
	m.master, m.mprio = m.src, m.cfg.Priority
	m.reannounced = time.Time{}
	var acts []Action
	if m.heard == 0 && m.cfg.Priority != PriorityOwner {
		acts = append(acts, Warn{"becoming master without having heard any advertisement since start: " +
			"if a peer is running, VRRP (IP protocol 112) is probably filtered and both are master"})
	}
	return append(acts,
		AddVIPs{},
		SendAdvert{m.cfg.Priority},
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
	return []Action{RemoveVIPs{}, m.transition(now, StateBackup, why), Notify{StateBackup}}
}

func (m *Machine) shutdown(now time.Time) []Action {
	switch m.state {
	case StateStop:
		return nil
	case StateMaster:
		m.clearTimers()
		// VIPs first: nothing may answer for them once the peer takes over.
		return []Action{RemoveVIPs{}, SendAdvert{PriorityStop}, m.transition(now, StateStop, "shutdown"), Notify{StateStop}}
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
	m.master = ev.From
	m.mprio = ev.Priority
	if ev.Priority == PriorityStop {
		// The master is leaving: take over after Skew_Time only.
		m.masterDown = now.Add(m.SkewTime())
		m.veto = false
		return nil
	}
	lower := ev.Priority < m.cfg.Priority
	tolerate := !lower || m.cfg.Nopreempt
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
		// runs out and we take over.
		return nil
	}
	if m.cfg.Version == Version3 && ev.MaxAdverInt > 0 {
		m.masterAdverInt = ev.MaxAdverInt
	}
	m.masterDown = now.Add(m.MasterDownInterval())
	return nil
}

// higher reports whether an advert of priority p from addr beats us.
func (m *Machine) higher(p uint8, addr netip.Addr) bool {
	return p > m.cfg.Priority || p == m.cfg.Priority && addr.Compare(m.src) > 0
}

func (m *Machine) masterAdvert(now time.Time, ev AdvertReceived) []Action {
	if ev.Priority == PriorityStop {
		// Another router leaving MASTER: it held the VIPs too, so hosts
		// may point at it. Answer at once (RFC) and re-announce.
		m.adver = now.Add(m.cfg.AdvertInterval)
		return append([]Action{SendAdvert{m.cfg.Priority}}, m.reannounce(now)...)
	}
	if m.higher(ev.Priority, ev.From) {
		why := fmt.Sprintf("higher priority advert from %s (priority %d, ours %d)", ev.From, ev.Priority, m.cfg.Priority)
		if ev.Priority == m.cfg.Priority {
			why = fmt.Sprintf("advert from %s with our priority %d and a higher address", ev.From, ev.Priority)
		}
		acts := m.becomeBackup(now, why, ev.MaxAdverInt)
		m.master, m.mprio = ev.From, ev.Priority
		return acts
	}
	// Another master with a lower priority (a split brain that just ended,
	// or one-way filtering of VRRP): assert ourselves at once, as keepalived
	// does, and re-announce the VIPs so that hosts point at us again.
	acts := []Action{SendAdvert{m.cfg.Priority}}
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
			acts = append(acts, SendAdvert{m.cfg.Priority})
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
	return m.becomeMaster(now, why)
}

func (m *Machine) downName() string {
	for n := range m.down {
		return n
	}
	return ""
}

func (m *Machine) ifDown(now time.Time, name string) []Action {
	m.down[name] = true
	why := "interface " + name + " down"
	switch m.state {
	case StateMaster:
		m.clearTimers()
		return []Action{RemoveVIPs{}, SendAdvert{PriorityStop}, m.transition(now, StateFault, why), Notify{StateFault}}
	case StateBackup:
		m.clearTimers()
		return []Action{m.transition(now, StateFault, why), Notify{StateFault}}
	}
	return nil
}

func (m *Machine) ifUp(now time.Time, name string) []Action {
	delete(m.down, name)
	if m.state != StateFault || len(m.down) > 0 {
		return nil
	}
	return m.comeUp(now, "interface "+name+" up")
}
