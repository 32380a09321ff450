package control

import "time"

// Status is the answer to the status op (status --json prints it).
type Status struct {
	Version string    `json:"version"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	// Config is the configuration file and its format.
	Config string `json:"config"`
	Format string `json:"format"`
	// Node is the name in heartbeat replies.
	Node string `json:"node"`
	// Role is the director's role as agents see it: master, backup, fault
	// or unknown.
	Role string `json:"role"`
	// VRRP are the instances.
	VRRP []VRRPStatus `json:"vrrp"`
	// IPVS says whether IPVS is in use.
	IPVS IPVSStatus `json:"ipvs"`
	// Services are the virtual services, in configuration order.
	Services []ServiceStatus `json:"services"`
	// Heartbeat is the agent listener.
	Heartbeat HeartbeatStatus `json:"heartbeat"`
	// Agents are the agents heard from, by real IP.
	Agents []AgentStatus `json:"agents"`
	// Reloads counts reloads; LastReloadError is the last failure.
	Reloads         int       `json:"reloads"`
	LastReload      time.Time `json:"last_reload,omitzero"`
	LastReloadError string    `json:"last_reload_error,omitempty"`
	// FastFailover is the peer probe and witness rule (docs/ha.md); nil
	// when fast_failover is off.
	FastFailover *FastFailoverStatus `json:"fast_failover,omitempty"`
	// Warnings are the host problems found at start (firewall, sysctls).
	Warnings []string `json:"warnings,omitempty"`
	// ConfigWarnings counts the configuration's warnings (Config.Warnings);
	// ConfigWarningsLine says so and how to list them.
	ConfigWarnings     int    `json:"config_warnings,omitempty"`
	ConfigWarningsLine string `json:"config_warnings_line,omitempty"`
	// Trackers are the vrrp_script, vrrp_track_process, vrrp_track_file
	// trackers and the weighted track_interface links, in configuration
	// order.
	Trackers []TrackerStatus `json:"trackers,omitempty"`
	// SyncGroups are the vrrp_sync_groups.
	SyncGroups []SyncGroupStatus `json:"sync_groups,omitempty"`
	// StatsAt is when the traffic counters were read from IPVS: set only
	// when StatusArgs.Stats asked for them and IPVS is in use.
	StatsAt time.Time `json:"stats_at,omitzero"`
	// Peers is the view of both directors, only when StatusArgs.Peers
	// asked for it.
	Peers *PeersStatus `json:"peers,omitempty"`
	// BGP is BGP mode (the VIPs announced to the routers); nil in VRRP
	// mode.
	BGP *BGPStatus `json:"bgp,omitempty"`
}

// BGPStatus is BGP mode: this director's speaker, each VIP's
// announcement and each BGP session.
type BGPStatus struct {
	LocalAS  uint32 `json:"local_as"`
	RouterID string `json:"router_id"`
	// Draining: `drain --self` is on.
	Draining bool `json:"draining"`
	// FingerprintGate says whether a VIP may be announced for the first
	// time as far as the directors' IPVS fingerprints go, and why.
	FingerprintGate string          `json:"fingerprint_gate"`
	VIPs            []BGPVIPStatus  `json:"vips"`
	Peers           []BGPPeerStatus `json:"peers"`
	// Agreement is the IPVS fingerprint agreement with the other
	// directors (bgp.directors); nil without them.
	Agreement *BGPAgreementStatus `json:"agreement,omitempty"`
}

// BGPAgreementStatus is the fingerprint agreement between the directors
// of a BGP tier: where it listens, each VIP's gate, each director heard.
type BGPAgreementStatus struct {
	// Listen is the UDP address the agreement is bound to.
	Listen string `json:"listen"`
	// Gates: per announced VIP, whether its first announcement may go out
	// as far as the other directors' fingerprints go, and why.
	Gates []BGPGateStatus `json:"gates"`
	// Directors are the other directors (bgp.directors).
	Directors []BGPDirectorStatus `json:"directors"`
	// Sent counts the datagrams sent; Dropped those received and dropped,
	// by reason (unknown, rate, self, mac, stale, replay, malformed, …).
	Sent    uint64            `json:"sent"`
	Dropped map[string]uint64 `json:"dropped,omitempty"`
}

// BGPGateStatus is one VIP's fingerprint gate.
type BGPGateStatus struct {
	VIP    string `json:"vip"`
	Open   bool   `json:"open"`
	Reason string `json:"reason"`
}

// BGPDirectorStatus is another director of the tier as the agreement
// knows it.
type BGPDirectorStatus struct {
	Address string `json:"address"`
	// Node is the name it reports (empty before it is heard).
	Node      string    `json:"node,omitempty"`
	LastHeard time.Time `json:"last_heard,omitzero"`
	// Fresh: heard within the staleness bound (3 intervals).
	Fresh bool `json:"fresh"`
	// Announcing are the VIPs it announces.
	Announcing []string `json:"announcing,omitempty"`
	// Agree: fresh and, for every VIP both serve, the same services with
	// the same fingerprints; Disagree says where not.
	Agree    bool   `json:"agree"`
	Disagree string `json:"disagree,omitempty"`
}

// BGPVIPStatus is one VIP's announcement.
type BGPVIPStatus struct {
	VIP string `json:"vip"`
	// State: announced, shutting-down (announced with GRACEFUL_SHUTDOWN
	// 65535:0, withdrawn at Until) or withdrawn.
	State string `json:"state"`
	// Why the VIP is not announced, or is being withdrawn (empty when it
	// is announced and should be).
	Why   string    `json:"why,omitempty"`
	Until time.Time `json:"until,omitzero"`
}

// BGPPeerStatus is one BGP session.
type BGPPeerStatus struct {
	Address string `json:"address"`
	AS      uint32 `json:"as"`
	// State: idle, connect, active, opensent, openconfirm, established.
	State       string    `json:"state"`
	Established bool      `json:"established"`
	Since       time.Time `json:"since,omitzero"`
}

// Stats are the kernel's traffic counters of one IPVS service or
// destination (ipvsadm -Ln --stats and --rate). Totals count since the
// entry was added to IPVS; rates are the kernel's estimates per second
// over about the last 2 seconds. In DR mode the director sees only the
// client-to-server direction: PktsOut, BytesOut, PPSOut and BPSOut stay 0.
// Conns, PktsIn and PktsOut are read 32 bits wide from the kernel and wrap
// at 2^32; the byte counters are 64-bit.
type Stats struct {
	// Conns counts connections scheduled; PktsIn, PktsOut, BytesIn and
	// BytesOut the packets and bytes in each direction.
	Conns    uint64 `json:"conns"`
	PktsIn   uint64 `json:"pkts_in"`
	PktsOut  uint64 `json:"pkts_out"`
	BytesIn  uint64 `json:"bytes_in"`
	BytesOut uint64 `json:"bytes_out"`
	// CPS is connections per second; PPSIn, PPSOut packets and BPSIn,
	// BPSOut bytes per second.
	CPS    uint64 `json:"cps"`
	PPSIn  uint64 `json:"pps_in"`
	PPSOut uint64 `json:"pps_out"`
	BPSIn  uint64 `json:"bps_in"`
	BPSOut uint64 `json:"bps_out"`
}

// PeersStatus is status --peers: this director's VRRP instances and what
// it knows of the other director, from VRRP adverts, the fast-failover
// probe and the agents' heartbeats. What it does not know is absent (or
// "unknown"), never guessed.
type PeersStatus struct {
	// Node and Role are this director's (as in Status).
	Node string `json:"node"`
	Role string `json:"role"`
	// Instances are this director's VRRP instances, each with the peer's
	// instance of the same VRID and family as the probe last reported it.
	Instances []PeerInstanceStatus `json:"instances"`
	// Probe is what the fast-failover probe knows of the peer; nil when
	// fast_failover is off (the peer is then known only from VRRP adverts,
	// in Instances' master fields).
	Probe *PeerProbeStatus `json:"probe,omitempty"`
	// Agents are the agents heard from, by real IP, with what each last
	// reported hearing from the directors.
	Agents []AgentViewStatus `json:"agents"`
}

// PeerInstanceStatus is one of this director's VRRP instances, side by
// side with the peer's.
type PeerInstanceStatus struct {
	Instance string `json:"instance"`
	VRID     int    `json:"vrid"`
	// Family is 4 or 6.
	Family int `json:"family"`
	// State and Priority are this director's (effective priority).
	State    string `json:"state"`
	Priority int    `json:"priority"`
	// Master and MasterPriority are the master this instance hears in VRRP
	// adverts (its own address while it is master); empty when none heard.
	Master         string `json:"master,omitempty"`
	MasterPriority int    `json:"master_priority,omitempty"`
	// PeerRole is the peer's instance as its last probe reported it:
	// master, backup, fault, or unknown (INIT or stopped, or no probe
	// carries this VRID and family: see PeerKnown).
	PeerRole string `json:"peer_role"`
	// PeerPriority is the priority the peer's probe reported for it.
	PeerPriority int `json:"peer_priority,omitempty"`
	// PeerKnown is true when the peer's last probe listed this instance.
	PeerKnown bool `json:"peer_known"`
}

// PeerProbeStatus is the fast-failover probe's view of the peer.
type PeerProbeStatus struct {
	// Session is down, init, up or admin-down.
	Session string `json:"session"`
	// Peer is the peer's director name, PeerAddr the source of its last
	// probe; empty when never heard.
	Peer     string `json:"peer,omitempty"`
	PeerAddr string `json:"peer_addr,omitempty"`
	// Pinned is the address probes are accepted from (configured, or
	// learnt from the first authenticated probe); empty when not pinned.
	Pinned string `json:"pinned,omitempty"`
	// LastHeard is when the peer's last probe arrived.
	LastHeard time.Time `json:"last_heard,omitzero"`
	// TxIntervalMS and DetectMult are the peer's advertised timing;
	// DetectTimeMS their product, how long it may stay silent.
	TxIntervalMS int64 `json:"tx_interval_ms,omitempty"`
	DetectMult   int   `json:"detect_mult,omitempty"`
	DetectTimeMS int64 `json:"detect_time_ms,omitempty"`
	// LastDown and LastDownReason say when and why the session last left
	// up.
	LastDown       time.Time `json:"last_down,omitzero"`
	LastDownReason string    `json:"last_down_reason,omitempty"`
	// Sent and Received count probes.
	Sent     uint64 `json:"sent"`
	Received uint64 `json:"received"`
	// Instances are the peer's VRRP instances as its last probe reported
	// them (empty when never heard).
	Instances []PeerVRRPStatus `json:"instances"`
}

// PeerVRRPStatus is one VRRP instance of the peer, from its probe.
type PeerVRRPStatus struct {
	VRID   int `json:"vrid"`
	Family int `json:"family"`
	// Role is master, backup, fault or unknown.
	Role     string `json:"role"`
	Priority int    `json:"priority"`
}

// AgentViewStatus is one agent and the directors it reports hearing.
type AgentViewStatus struct {
	RealIP string `json:"real_ip"`
	Node   string `json:"node"`
	// Fresh is false once the agent has been silent for dead_after;
	// LastSeen is its last report.
	Fresh    bool      `json:"fresh"`
	LastSeen time.Time `json:"last_seen"`
	// Directors are what its last report says it heard from each director
	// (the witness field); empty when it heard none or is too old to say.
	Directors []DirectorHeardStatus `json:"directors"`
}

// DirectorHeardStatus is what an agent last heard from one director.
type DirectorHeardStatus struct {
	Director string `json:"director"`
	// Role is the role of that director's last reply to the agent.
	Role string `json:"role"`
	// AgeMS is the reply's age when the agent reported; Heard is that
	// reply's time on this director's clock (LastSeen minus AgeMS).
	AgeMS int64     `json:"age_ms"`
	Heard time.Time `json:"heard"`
}

// TrackerStatus is one tracked object.
type TrackerStatus struct {
	// Kind is script, process, file or interface.
	Kind string `json:"kind"`
	Name string `json:"name"`
	// State is OK, failed or pending (no verdict yet); for a file, OK
	// once read (its effect is Value).
	State string `json:"state"`
	// Reason is the last run's or reading's explanation.
	Reason string `json:"reason,omitempty"`
	// Value is a file's number.
	Value int64 `json:"value,omitempty"`
	// Last is when it last reported.
	Last time.Time `json:"last,omitzero"`
}

// SyncGroupStatus is one vrrp_sync_group.
type SyncGroupStatus struct {
	Name    string    `json:"name"`
	State   string    `json:"state"`
	Since   time.Time `json:"since,omitzero"`
	Members []string  `json:"members"`
	// GlobalTracking: the members' tracking weights count (else every
	// failure is FAULT).
	GlobalTracking bool `json:"global_tracking,omitempty"`
}

// VRRPStatus is one VRRP instance.
type VRRPStatus struct {
	Instance  string `json:"instance"`
	Interface string `json:"interface"`
	VRID      int    `json:"vrid"`
	Version   int    `json:"version"`
	State     string `json:"state"`
	// Priority is the effective priority (what is advertised),
	// BasePriority the configured one.
	Priority     int `json:"priority"`
	BasePriority int `json:"base_priority"`
	// FaultSources are what holds the instance in FAULT: "script chk:
	// failed", "interface eth1" (the vrrp driver's own), "sync group G".
	FaultSources []string `json:"fault_sources,omitempty"`
	// SyncGroup is the instance's vrrp_sync_group.
	SyncGroup      string    `json:"sync_group,omitempty"`
	Master         string    `json:"master,omitempty"`
	MasterPriority int       `json:"master_priority,omitempty"`
	Since          time.Time `json:"since,omitzero"`
	Reason         string    `json:"reason,omitempty"`
	VIPs           []string  `json:"vips"`
	Received       uint64    `json:"received"`
	Sent           uint64    `json:"sent"`
	// Dropped counts refused adverts by reason.
	Dropped map[string]uint64 `json:"dropped,omitempty"`
	// Error is why the instance is not running, if it is not.
	Error string `json:"error,omitempty"`
	// Yielding: the instance handed its mastership over on purpose
	// (tandem-director failover) and stays BACKUP while the peer
	// advertises, until failover --cancel.
	Yielding bool `json:"yielding,omitempty"`
}

// IPVSStatus describes the director's use of IPVS.
type IPVSStatus struct {
	// Enabled is true when the director manages IPVS (it has services or
	// a sync daemon).
	Enabled bool `json:"enabled"`
	// Error is why IPVS could not be opened.
	Error string `json:"error,omitempty"`
	// SyncDaemons are the connection-sync daemon roles running
	// ("master on eth1 syncid 100").
	SyncDaemons []string `json:"sync_daemons,omitempty"`
}

// ServiceStatus is one virtual service.
type ServiceStatus struct {
	Key       string `json:"key"`
	Scheduler string `json:"scheduler"`
	// SchedulerFlags are the scheduler's flags by name: "mh-fallback",
	// "mh-port" (sh-* under sh, flag-N under the others).
	SchedulerFlags []string `json:"scheduler_flags,omitempty"`
	// Fingerprint identifies what picks the real server of a new flow:
	// the scheduler, the service flags and the destinations with their
	// weights as this director asks IPVS for them (lvs.Fingerprint, 16 hex
	// digits). Directors in BGP mode that show the same fingerprint for a
	// service with the mh scheduler send a flow to the same real server.
	Fingerprint string `json:"fingerprint,omitempty"`
	Forwarding  string `json:"forwarding"`
	Persistence string `json:"persistence,omitempty"`
	DelayLoop   string `json:"delay_loop"`
	// QuorumUp: the live weight is at least the quorum.
	QuorumUp   bool `json:"quorum_up"`
	LiveWeight int  `json:"live_weight"`
	Quorum     int  `json:"quorum"`
	// Sorry is the sorry server, SorryIn true while it is in IPVS.
	Sorry   string `json:"sorry,omitempty"`
	SorryIn bool   `json:"sorry_in"`
	// InKernel is false when the service is missing from IPVS.
	InKernel    bool               `json:"in_kernel"`
	RealServers []RealServerStatus `json:"real_servers"`
	// LastError is the last failed IPVS operation on this service.
	LastError string `json:"last_error,omitempty"`
	// Stats are the service's traffic counters, SorryStats the sorry
	// server's while it is in IPVS: only with StatusArgs.Stats, and only
	// for what IPVS has.
	Stats      *Stats `json:"stats,omitempty"`
	SorryStats *Stats `json:"sorry_stats,omitempty"`
}

// RealServerStatus is one real server of a service.
type RealServerStatus struct {
	Addr string `json:"addr"`
	// State is the pool state: up, down, draining, drained, maintenance.
	State  string    `json:"state"`
	Since  time.Time `json:"since,omitzero"`
	Reason string    `json:"reason,omitempty"`
	// Weight and Present are the desired IPVS entry; ConfiguredWeight is
	// the configuration's.
	Weight           int  `json:"weight"`
	ConfiguredWeight int  `json:"configured_weight"`
	Present          bool `json:"present"`
	// KernelWeight is the weight IPVS reports (-1 when absent).
	KernelWeight int `json:"kernel_weight"`
	Active       int `json:"active"`
	Inactive     int `json:"inactive"`
	// Drain is true while an operator drain is requested.
	Drain         bool      `json:"drain"`
	DrainReason   string    `json:"drain_reason,omitempty"`
	DrainDeadline time.Time `json:"drain_deadline,omitzero"`
	// Checks are the health checkers' last results.
	Checks []CheckStatus `json:"checks"`
	// Agent is the agent's last report about this server.
	Agent *AgentStatus `json:"agent,omitempty"`
	// Stats are its traffic counters: only with StatusArgs.Stats, and only
	// while it is in IPVS.
	Stats *Stats `json:"stats,omitempty"`
}

// CheckStatus is one health checker of a real server.
type CheckStatus struct {
	Name string `json:"name"`
	// Up is the checker's verdict; Last is the last attempt's outcome.
	Up       bool      `json:"up"`
	LastOK   bool      `json:"last_ok"`
	Last     time.Time `json:"last,omitzero"`
	Reason   string    `json:"reason,omitempty"`
	Failures int       `json:"failures"`
}

// AgentStatus is what the director knows of one agent.
type AgentStatus struct {
	RealIP string `json:"real_ip"`
	Node   string `json:"node"`
	// State is up, down or maintenance as last reported; Fresh is false
	// once the agent has been silent for dead_after.
	State    string    `json:"state"`
	Reason   string    `json:"reason,omitempty"`
	Fresh    bool      `json:"fresh"`
	LastSeen time.Time `json:"last_seen"`
	Peer     string    `json:"peer"`
	Reports  uint64    `json:"reports"`
	// Known is false for an agent whose real IP is no real server here.
	Known bool `json:"known"`
	// ClusterKey is set while the agent's last report came sealed with the
	// cluster secret itself rather than its own key (docs/heartbeat.md,
	// "Key scopes": a migration not finished).
	ClusterKey bool `json:"cluster_key,omitempty"`
}

// HeartbeatStatus describes the agent listener.
type HeartbeatStatus struct {
	Enabled  bool   `json:"enabled"`
	Listen   string `json:"listen,omitempty"`
	Insecure bool   `json:"insecure,omitempty"`
	// Disabled says why heartbeats are not served though enabled.
	Disabled    string            `json:"disabled,omitempty"`
	Accepted    uint64            `json:"accepted"`
	Replies     uint64            `json:"replies"`
	ReplyErrors uint64            `json:"reply_errors"`
	Dropped     map[string]uint64 `json:"dropped,omitempty"`
}

// FastFailoverStatus describes the peer probe.
type FastFailoverStatus struct {
	// Session is down, init, up or admin-down.
	Session string `json:"session"`
	// Peer and PeerAddr name the other director once heard.
	Peer     string `json:"peer,omitempty"`
	PeerAddr string `json:"peer_addr,omitempty"`
	Sent     uint64 `json:"sent"`
	Received uint64 `json:"received"`
	// Takeovers counts PeerDead given to VRRP; Vetoes the takeovers the
	// agents prevented, Witnesses those that vouched last.
	Takeovers uint64            `json:"takeovers"`
	Vetoes    uint64            `json:"vetoes"`
	Witnesses []string          `json:"witnesses,omitempty"`
	Dropped   map[string]uint64 `json:"dropped,omitempty"`
}
