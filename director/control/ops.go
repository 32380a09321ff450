package control

import "time"

// Control-socket operations (tandem-director status, drain, undrain,
// reload, reload --dry-run, failover).
const (
	OpStatus  = "status"
	OpDrain   = "drain"
	OpUndrain = "undrain"
	OpReload  = "reload"
	// OpReloadPlan is `reload --dry-run`: the plan (director/reload.Plan)
	// of a reload of the file on disk, computed against the running
	// daemon; nothing is applied.
	OpReloadPlan = "reload-plan"
	// OpFailover is `tandem-director failover`: hand the VIPs of MASTER
	// instances to the peer on purpose (FailoverArgs, FailoverResult).
	OpFailover = "failover"
	// OpDrainSelf is `tandem-director drain --self` and `undrain --self`
	// (DrainSelfArgs, DrainSelfResult): in BGP mode, this director's VIPs
	// withdrawn gracefully, or announced again.
	OpDrainSelf = "drain-self"
)

// StatusArgs are the optional arguments of status. Without them (all
// false) the request carries no arguments and the answer is the plain
// status, byte for byte what daemons before these flags answered. A
// daemon older than a flag ignores it: the field it would fill stays
// absent.
type StatusArgs struct {
	// Stats asks for the kernel's traffic counters of every service, real
	// server and sorry server (ServiceStatus.Stats, RealServerStatus.Stats,
	// ServiceStatus.SorryStats), read from IPVS once for this request.
	Stats bool `json:"stats,omitempty"`
	// Peers asks for the view of both directors (Status.Peers).
	Peers bool `json:"peers,omitempty"`
}

// MaxReason bounds an operator's drain reason, in bytes: the daemon
// refuses a longer one.
const MaxReason = 200

// DrainArgs are the arguments of drain and undrain.
type DrainArgs struct {
	// Target is "RIP" (every real server with that address, in every
	// service) or "RIP:PORT" ("[v6]:PORT").
	Target string `json:"target"`
	// Reason is the operator's reason (drain only).
	Reason string `json:"reason,omitempty"`
}

// DrainResult lists the real servers a drain or undrain applied to, with
// their state afterwards.
type DrainResult struct {
	Servers []DrainedServer `json:"servers"`
}

// DrainedServer is one real server a drain or undrain applied to.
type DrainedServer struct {
	Service string `json:"service"`
	RS      string `json:"rs"`
	State   string `json:"state"`
	Weight  int    `json:"weight"`
	Active  int    `json:"active"`
}

// DrainSelfArgs are the arguments of drain-self: On for `drain --self`,
// false for `undrain --self`.
type DrainSelfArgs struct {
	On bool `json:"on"`
}

// DrainSelfResult is what drain-self left: whether the director is
// drained, and each VIP's state afterwards (a graceful withdrawal shows as
// shutting-down until its withdrawal).
type DrainSelfResult struct {
	Draining bool           `json:"draining"`
	VIPs     []BGPVIPStatus `json:"vips"`
}

// ReloadResult says what a reload changed.
type ReloadResult struct {
	// Changes summarises the difference ("services +0 -0 ~1").
	Changes string `json:"changes"`
}

// Bounds of FailoverArgs.TimeoutMS: the daemon refuses a timeout outside
// them; 0 means DefaultFailoverTimeout.
const (
	DefaultFailoverTimeout = 10 * time.Second
	MaxFailoverTimeout     = 5 * time.Minute
)

// MaxInstanceName bounds FailoverArgs.Instance, in bytes.
const MaxInstanceName = 200

// FailoverArgs are the arguments of failover.
type FailoverArgs struct {
	// Instance is the vrrp_instance to hand over; empty means every
	// instance this director is MASTER of (with --cancel: every yielding
	// one). An instance in a vrrp_sync_group brings its whole group.
	Instance string `json:"instance,omitempty"`
	// Cancel ends a yield instead: the instances preempt back if their
	// priority says so.
	Cancel bool `json:"cancel,omitempty"`
	// Force yields even when no peer has been heard (nobody may take
	// over: the instance then takes its VIPs back after
	// Master_Down_Interval).
	Force bool `json:"force,omitempty"`
	// TimeoutMS bounds the wait for the peer (for the instance's return
	// to MASTER with Cancel), in milliseconds; 0: DefaultFailoverTimeout.
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// FailoverResult is the outcome of failover, one entry per instance
// moved. The op succeeds (no error) once every instance was asked; an
// instance that did not get where it should says so in its Error.
type FailoverResult struct {
	// Cancel echoes the request: these instances stopped yielding.
	Cancel bool `json:"cancel"`
	// TimeoutMS is the wait that applied.
	TimeoutMS int64              `json:"timeout_ms"`
	Instances []FailoverInstance `json:"instances"`
}

// OK reports whether every instance got where it should.
func (r FailoverResult) OK() bool {
	for _, in := range r.Instances {
		if in.Error != "" {
			return false
		}
	}
	return len(r.Instances) > 0
}

// FailoverInstance is what failover did to one VRRP instance.
type FailoverInstance struct {
	Instance  string `json:"instance"`
	VRID      int    `json:"vrid"`
	SyncGroup string `json:"sync_group,omitempty"`
	// FromState is the state before the request, State the one at the
	// end (BACKUP after a hand-over, MASTER after a cancel that
	// preempted back).
	FromState string `json:"from_state"`
	State     string `json:"state"`
	// Yielding: the instance yields at the end.
	Yielding bool `json:"yielding"`
	// Peer is the address the master's adverts came from at the end (the
	// peer after a hand-over), PeerPriority their priority.
	Peer         string `json:"peer,omitempty"`
	PeerPriority int    `json:"peer_priority,omitempty"`
	// ReleasedAt is when the instance released its VIPs and sent its
	// priority-0 advert; PeerMasterAfterMS the time from then to the
	// peer's first advert as master (-1: not seen before the timeout).
	ReleasedAt        time.Time `json:"released_at,omitzero"`
	PeerMasterAfterMS int64     `json:"peer_master_after_ms"`
	// MasterAfterMS is, after a cancel, the time from the request to this
	// instance being MASTER again (-1: it did not preempt, or not within
	// the timeout).
	MasterAfterMS int64 `json:"master_after_ms"`
	// ConnectionsHandedOver and HandOverMessages are what the release
	// sent to the peer's backup sync daemon (0 without lvs_sync_daemon),
	// HandOverMS how long it took, HandOverError why it failed.
	ConnectionsHandedOver int    `json:"connections_handed_over"`
	HandOverMessages      int    `json:"hand_over_messages"`
	HandOverMS            int64  `json:"hand_over_ms"`
	HandOverError         string `json:"hand_over_error,omitempty"`
	// Note says something the operator should know that is not an
	// error: an instance that stays BACKUP after a cancel (nopreempt, a
	// master of higher priority), no hand-over without lvs_sync_daemon.
	Note string `json:"note,omitempty"`
	// Error says why the instance did not get where it should (the peer
	// not heard as master within the timeout, and what was seen).
	Error string `json:"error,omitempty"`
}
