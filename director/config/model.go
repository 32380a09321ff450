package config

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"time"
)

// Format names a configuration file format.
type Format string

// The two formats Load reads.
const (
	// FormatNative is the native YAML file (/etc/tandem/director.yaml).
	FormatNative Format = "native"
	// FormatKeepalived is keepalived.conf syntax.
	FormatKeepalived Format = "keepalived"
)

// NativeVersion is the version of the native format this package reads and
// writes (the top-level `version:` key).
const NativeVersion = 1

// Defaults of the director-only settings. A keepalived.conf gets all of
// them; a native file gets those it leaves out.
const (
	DefaultHeartbeatPort        = 7480
	DefaultHeartbeatListen      = ":7480"
	DefaultHeartbeatKeyFile     = "/etc/tandem/heartbeat.key"
	DefaultHeartbeatInterval    = time.Second
	DefaultHeartbeatDeadAfter   = 3 // intervals
	DefaultHeartbeatWindow      = 30 * time.Second
	DefaultHeartbeatAgentKeys   = AgentKeysBoth
	DefaultDrainTimeout         = 5 * time.Minute
	DefaultControlSocket        = "/run/tandem-director/director.sock"
	DefaultMetricsListen        = "127.0.0.1:9480"
	DefaultConnReuseMode        = 3
	DefaultFastFailoverPort     = 7481
	DefaultFastFailoverInterval = 100 * time.Millisecond
	DefaultFastFailoverMult     = 3
	DefaultSMTPPort             = 25
	DefaultSMTPConnectTimeout   = 30 * time.Second
)

// Defaults of the witness rule (docs/ha.md, fast_failover): one agent
// vouching for the master vetoes a takeover, and a backup that lost the
// probe waits 100ms for the agents' word.
const (
	DefaultWitnessQuorum = 1
	DefaultWitnessWait   = 100 * time.Millisecond
	// DefaultWitnessMaxVeto bounds a witness veto: after it plain VRRP
	// decides (docs/ha.md).
	DefaultWitnessMaxVeto = 30 * time.Second
)

// Defaults of the keepalived keywords, as keepalived documents them.
const (
	DefaultPriority                = 100
	DefaultAdvertInt               = time.Second
	DefaultGARPMasterDelay         = 5 * time.Second
	DefaultGARPMasterRepeat        = 5
	DefaultGARPMasterRefreshRepeat = 1
	DefaultDelayLoop               = 60 * time.Second
	DefaultConnectTimeout          = 5 * time.Second
	DefaultRetry                   = 1
	// DefaultDelayBeforeRetryHTTP is delay_before_retry for HTTP_GET and
	// SSL_GET; DefaultDelayBeforeRetry for TCP_CHECK (keepalived 2.x).
	DefaultDelayBeforeRetryHTTP = 3 * time.Second
	DefaultDelayBeforeRetry     = time.Second
	DefaultWeight               = 1
	DefaultQuorum               = 1
	// DefaultPersistenceTimeout is used by keepalived's
	// `persistence_timeout` given without a value.
	DefaultPersistenceTimeout = 360 * time.Second
)

// Config is the whole director configuration. It is plain data: readers fill
// it, Validate checks it, the other director packages read it.
type Config struct {
	// Format is the format it was read from (empty for a model built in Go).
	Format Format
	// Files are the files read, the main file first, then every included
	// file in the order it was read.
	Files []string
	// FilesHash identifies the bytes of Files as the reader read them
	// (filesHash): two directors running the same files have the same
	// one, wherever the files are. Empty for a model built in Go.
	FilesHash string

	// Node names this director in heartbeat replies and notifications
	// (native `node`, keepalived global_defs `router_id`). Empty means the
	// host name; see NodeName.
	Node string
	// Notification is keepalived's e-mail notification setup (global_defs).
	Notification Notification
	// Logging configures the director's log.
	Logging Logging
	// Heartbeat configures the agent heartbeat listener.
	Heartbeat Heartbeat
	// Drain configures graceful drain of real servers in maintenance.
	Drain Drain
	// ControlSocket is the path of the root-only unix socket of the CLI.
	ControlSocket string
	// Metrics configures the Prometheus metrics listener.
	Metrics Metrics
	// Debug configures the debugging endpoints (native `debug`; none in
	// keepalived.conf).
	Debug Debug
	// IPVS holds the IPVS sysctls and stop behaviour the director manages.
	IPVS IPVS
	// ConnSync is the IPVS connection synchronisation daemon, nil if none
	// (keepalived lvs_sync_daemon_interface / lvs_sync_daemon).
	ConnSync *ConnSync
	// FastFailover is the optional director-to-director fast peer probe.
	FastFailover FastFailover
	// BGP is the BGP mode (native bgp), nil if none (model_bgp.go).
	BGP *BGP

	// VRRP are the VRRP instances (vrrp_instance), in file order.
	VRRP []VRRPInstance
	// Services are the IPVS virtual services (virtual_server), in file
	// order. A virtual_server group gives one service per address, range
	// element or fwmark of its virtual_server_group.
	Services []VirtualService

	// Scripts, TrackProcesses and TrackFiles are the tracked objects
	// (vrrp_script, vrrp_track_process, vrrp_track_file) that instances
	// and sync groups refer to by name.
	Scripts        []VRRPScript
	TrackProcesses []TrackProcess
	TrackFiles     []TrackFile
	// SyncGroups are the vrrp_sync_group blocks.
	SyncGroups []SyncGroup
	// Static are the addresses, routes and rules kept whatever the VRRP
	// state.
	Static Static
	// ScriptUser and ScriptGroup run scripts that name no user
	// (global_defs script_user); empty means root.
	ScriptUser, ScriptGroup string
	// ScriptSecurity refuses scripts that a non-root user could change
	// (global_defs enable_script_security).
	ScriptSecurity bool

	// Warnings are what the keepalived.conf reader accepted the way
	// keepalived does, with a message each ("file:line: keyword "x": what
	// keepalived does and what Tandem does"): unknown or ignored keywords,
	// extra arguments, values keepalived corrects. They are logged at start
	// and reload and printed by check-config; check-config --strict turns
	// them into errors. Not part of the configuration's value (Diff and
	// Equal ignore them).
	Warnings ErrorList
}

// NodeName returns Node, or the host name when Node is empty.
func (c *Config) NodeName() string {
	if c.Node != "" {
		return c.Node
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// Instance returns the VRRP instance with that name, or nil.
func (c *Config) Instance(name string) *VRRPInstance {
	for i := range c.VRRP {
		if c.VRRP[i].Name == name {
			return &c.VRRP[i]
		}
	}
	return nil
}

// serviceID identifies a virtual service as its Key does, without
// building a string: for maps over many services.
type serviceID struct {
	proto  Protocol
	addr   netip.AddrPort
	fwmark uint32
}

func (s *VirtualService) id() serviceID {
	if s.FWMark != 0 {
		return serviceID{fwmark: s.FWMark}
	}
	return serviceID{proto: s.Protocol, addr: s.Addr}
}

// serviceIDs maps every service's id to it.
func (c *Config) serviceIDs() map[serviceID]*VirtualService {
	m := make(map[serviceID]*VirtualService, len(c.Services))
	for i := range c.Services {
		m[c.Services[i].id()] = &c.Services[i]
	}
	return m
}

// ServiceIndex maps every virtual service's key (see VirtualService.Key)
// to it: one pass, for callers that look many keys up (Service is a scan).
func (c *Config) ServiceIndex() map[string]*VirtualService {
	m := make(map[string]*VirtualService, len(c.Services))
	for i := range c.Services {
		m[c.Services[i].Key()] = &c.Services[i]
	}
	return m
}

// Service returns the virtual service with that key (see
// VirtualService.Key), or nil.
func (c *Config) Service(key string) *VirtualService {
	for i := range c.Services {
		if c.Services[i].Key() == key {
			return &c.Services[i]
		}
	}
	return nil
}

// Notification is keepalived's e-mail notification setup: where alerts go.
// Which VRRP instances send them is VRRPInstance.SMTPAlert.
type Notification struct {
	// Email are the recipients (notification_email { }).
	Email []string
	// From is the sender (notification_email_from).
	From string
	// SMTPServer is "host:port" (smtp_server HOST [PORT]; port 25 by
	// default), empty if none.
	SMTPServer string
	// SMTPConnectTimeout bounds the SMTP connection (smtp_connect_timeout;
	// default 30s).
	SMTPConnectTimeout time.Duration
	// NoEmailFaults sends no e-mail for a transition to FAULT
	// (no_email_faults).
	NoEmailFaults bool
	Pos           Pos
}

// Logging configures the director's log.
type Logging struct {
	// Format is "text" (default) or "json".
	Format string
	// Level is "debug", "info" (default), "warn" or "error".
	Level string
	// Syslog sends the log to syslog instead of standard error (journald).
	Syslog bool
	// Facility is the syslog facility: "daemon" (default, as keepalived),
	// "local0".."local7", etc. keepalived's `-S 1` is "local1".
	Facility string
	Pos      Pos
}

// Heartbeat configures the UDP listener for backend agents (docs/heartbeat.md).
type Heartbeat struct {
	// Enabled turns the listener on (default true).
	Enabled bool
	// Listen is "host:port" as net.ListenPacket takes it; the default
	// ":7480" listens on every address.
	Listen string
	// KeyFile holds the cluster secret (default /etc/tandem/heartbeat.key):
	// directors only. Each agent holds the key derived from it for its real
	// IP (hbproto.DeriveAgentKey; docs/heartbeat.md "Key scopes").
	KeyFile string
	// PreviousKeyFile (optional) holds the secret being rotated out: agent
	// keys derived from it are accepted too, so that a new secret can be
	// rolled out agent by agent.
	PreviousKeyFile string
	// AgentKeys says which agent keys are accepted: AgentKeysScoped (only
	// keys derived per real IP), AgentKeysCluster or AgentKeysBoth (also
	// the cluster secret itself, as agents older than scoped keys hold it;
	// logged as a warning per agent). Default AgentKeysBoth, so that an
	// upgrade of the directors keeps hearing agents that still hold the
	// shared key; the packaged config sets AgentKeysScoped.
	AgentKeys string
	// Interval is how often agents are expected to report (default 1s).
	Interval time.Duration
	// DeadAfter is how long without a report before an agent is considered
	// gone (default 3 intervals).
	DeadAfter time.Duration
	// Window is the accepted clock difference of a datagram (default 30s).
	Window time.Duration
	Pos    Pos
}

// Values of Heartbeat.AgentKeys.
const (
	AgentKeysScoped  = "scoped"
	AgentKeysCluster = "cluster"
	AgentKeysBoth    = "both"
)

// Drain configures graceful drain of a real server in maintenance: weight 0
// first, removal once drained or when Timeout has passed.
type Drain struct {
	// Timeout bounds the drain (default 5m); 0 means remove at once.
	Timeout time.Duration
	// RemoveWhenDrained deletes the destination from IPVS once it has no
	// connections left (default true); false keeps it at weight 0 until
	// maintenance ends.
	RemoveWhenDrained bool
	Pos               Pos
}

// Debug configures the debugging endpoints, all off by default.
type Debug struct {
	// PProf is the loopback IP:port of net/http/pprof's handlers
	// (shared/debugserver), "" for none.
	PProf string
	Pos   Pos
}

// Metrics configures the HTTP listener for Prometheus metrics.
type Metrics struct {
	// Enabled turns the listener on (default true).
	Enabled bool
	// Listen is "host:port" (default 127.0.0.1:9480).
	Listen string
	Pos    Pos
}

// IPVS holds the per-netns IPVS sysctls the director sets at start, and what
// it does to its services when it stops.
type IPVS struct {
	// ExpireNodestConn sets net.ipv4.vs.expire_nodest_conn (default true).
	ExpireNodestConn bool
	// ExpireQuiescentTemplate sets net.ipv4.vs.expire_quiescent_template
	// (default true).
	ExpireQuiescentTemplate bool
	// ConnReuseMode sets net.ipv4.vs.conn_reuse_mode, 0..3 (default 3).
	ConnReuseMode int
	// SloppyTCP and SloppySCTP set net.ipv4.vs.sloppy_tcp and sloppy_sctp
	// to 1 when true (default false: left as they are): a connection
	// entry is made from any packet of a flow, not only its first (SYN,
	// INIT), so a director that receives the middle of a flow (an ECMP
	// change in BGP mode) forwards it.
	SloppyTCP  bool
	SloppySCTP bool
	// RemoveOnStop deletes the director's services from the kernel when it
	// stops (default false: a restart must not drop traffic).
	RemoveOnStop bool
	Pos          Pos
}

// ConnSync is the kernel's IPVS connection synchronisation daemon.
type ConnSync struct {
	// Interface carries the sync traffic.
	Interface string
	// Instance is the VRRP instance whose state selects the daemon's role
	// (master daemon while it is MASTER, backup daemon otherwise). Empty
	// means both daemons run all the time, as keepalived does.
	Instance string
	// SyncID is the sync id, 0..255; by default the instance's
	// virtual_router_id (0 without an instance).
	SyncID int
	Pos    Pos
}

// FastFailover reserves the settings of the BFD-like probe between two
// Tandem directors, which detects a dead peer faster than 3 × advert_int.
type FastFailover struct {
	// Enabled turns the probe on (default false).
	Enabled bool
	// Port is the UDP port of the probe (default 7481).
	Port int
	// Interval between probes (default 100ms).
	Interval time.Duration
	// Multiplier is the number of missed probes that declare the peer dead
	// (default 3).
	Multiplier int
	// WitnessQuorum is the number of backend agents that must vouch for
	// the master to veto a takeover (docs/ha.md, the witness rule); 0
	// turns the rule off (default 1).
	WitnessQuorum int
	// WitnessWait is how long a backup that lost the probe waits for the
	// agents' word before it takes over (default 100ms).
	WitnessWait time.Duration
	// WitnessMaxVeto bounds a veto (default 3s): after it the agents' word
	// is ignored until the master is heard again, and plain VRRP decides.
	WitnessMaxVeto time.Duration
	// Peer is the other director's address on the probe interface; when
	// unset, the one unicast_peer of the VRRP instances, else the source
	// of the first authenticated probe, pinned until restart. Probes from
	// any other address are dropped.
	Peer netip.Addr
	Pos  Pos
}

// VRRPState is the initial state of a VRRP instance.
type VRRPState string

// Initial states (keepalived `state`).
const (
	StateBackup VRRPState = "BACKUP"
	StateMaster VRRPState = "MASTER"
)

// AuthPass is the only VRRPv2 authentication type supported.
const AuthPass = "PASS"

// VRRPInstance is one VRRP virtual router (keepalived vrrp_instance).
type VRRPInstance struct {
	// Name is the instance name.
	Name string
	// State is the initial state (default BACKUP).
	State VRRPState
	// Interface sends and receives the adverts.
	Interface string
	// VirtualRouterID is the VRID, 1..255.
	VirtualRouterID int
	// Priority is 1..255 (default 100); 255 is the address owner.
	Priority int
	// NoPreempt: a higher-priority backup does not take over from a
	// working master (nopreempt).
	NoPreempt bool
	// PreemptDelay delays preemption (preempt_delay, 0..1000s).
	PreemptDelay time.Duration
	// AdvertInt is the advertisement interval (default 1s): whole seconds
	// in version 2, centiseconds in version 3.
	AdvertInt time.Duration
	// Version is the VRRP version, 2 or 3 (instance `version`, else
	// global_defs `vrrp_version`, else 2; 3 for IPv6 addresses).
	Version int
	// Auth is the VRRPv2 simple-password authentication, nil if none.
	Auth *Auth
	// VirtualIPs are the addresses the master holds (virtual_ipaddress),
	// all of one family.
	VirtualIPs []VirtualIP
	// SourceIP is the source address of adverts (unicast_src_ip or its
	// keepalived synonym mcast_src_ip); invalid means the interface's
	// primary address.
	SourceIP netip.Addr
	// UnicastPeers, when not empty, receive the adverts by unicast instead
	// of multicast (unicast_peer { }).
	UnicastPeers []UnicastPeer
	// TrackInterfaces are more interfaces whose failure sets the instance
	// to FAULT, or changes its priority by Weight (track_interface { }).
	TrackInterfaces []TrackInterface
	// Track are the scripts, processes and files the instance tracks
	// (track_script, track_process, track_file).
	Track Tracking
	// ExcludedVIPs are addresses the master holds that adverts do not
	// carry (virtual_ipaddress_excluded).
	ExcludedVIPs []VirtualIP
	// VirtualRoutes and VirtualRules are added on becoming master and
	// removed on leaving (virtual_routes, virtual_rules).
	VirtualRoutes []Route
	VirtualRules  []Rule
	// Notify holds the notify scripts.
	Notify Notify
	// SMTPAlert sends an e-mail (Config.Notification) on every state
	// change (smtp_alert). keepalived.conf: the instance's smtp_alert, else
	// global_defs smtp_alert_vrrp, else global_defs smtp_alert, else off.
	SMTPAlert bool
	// GARPMasterDelay is the delay of the second burst of gratuitous ARPs
	// after becoming master (default 5s; 0 means no second burst).
	GARPMasterDelay time.Duration
	// GARPMasterRepeat is the number of gratuitous ARPs per burst
	// (default 5).
	GARPMasterRepeat int
	// GARPMasterRefresh is the interval of gratuitous ARP refreshes while
	// master (default 0: none).
	GARPMasterRefresh time.Duration
	// GARPMasterRefreshRepeat is the number of gratuitous ARPs per refresh
	// (default 1).
	GARPMasterRefreshRepeat int
	Pos                     Pos
}

// Family returns 4 or 6, the address family of the instance's VIPs (4 when
// it has none).
func (v *VRRPInstance) Family() int {
	if len(v.VirtualIPs) > 0 && v.VirtualIPs[0].Prefix.Addr().Is6() {
		return 6
	}
	return 4
}

// Auth is VRRPv2 authentication (authentication { }).
type Auth struct {
	// Type is "PASS".
	Type string
	// Pass is the password, at most 8 bytes (keepalived would silently cut
	// a longer one; Tandem refuses it).
	Pass string
	Pos  Pos
}

// VirtualIP is one virtual_ipaddress line: ADDRESS[/LEN] [dev DEV] [label L].
type VirtualIP struct {
	// Prefix is the address with its prefix length; a bare address is /32
	// or /128. Prefix.Addr() is the VIP itself (not masked).
	Prefix netip.Prefix
	// Dev is the interface it is added to (default the instance's
	// Interface).
	Dev string
	// Label is the IPv4 address label, "" for none.
	Label string
	// Broadcast is the IPv4 broadcast address (brd), invalid for none:
	// keepalived, and Tandem, add a VIP without one unless told.
	Broadcast netip.Addr
	// Deprecated is preferred_lft 0: the address is added deprecated
	// (valid forever, preferred for 0 s), so that the kernel never picks
	// it as the source of a new connection. For an IPv6 VIP on the
	// real servers' prefix it keeps the director's own health checks
	// from leaving with the VIP as source (the real server, which has
	// the VIP on lo, would answer itself).
	Deprecated bool
	Pos        Pos
}

// String formats v as a virtual_ipaddress line.
func (v VirtualIP) String() string {
	s := v.Prefix.String()
	if v.Broadcast.IsValid() {
		s += " brd " + v.Broadcast.String()
	}
	if v.Dev != "" {
		s += " dev " + v.Dev
	}
	if v.Label != "" {
		s += " label " + v.Label
	}
	if v.Deprecated {
		s += " preferred_lft 0"
	}
	return s
}

// UnicastPeer is one unicast_peer address.
type UnicastPeer struct {
	Addr netip.Addr
	Pos  Pos
}

// TrackInterface is one track_interface line: NAME [weight W].
type TrackInterface struct {
	// Name is the interface.
	Name string
	// Weight, when not 0, is added to the priority while the interface is
	// up (W > 0) or subtracted while it is down (W < 0) instead of FAULT;
	// -253..253.
	Weight int
	Pos    Pos
}

// String formats t as a track_interface line.
func (t TrackInterface) String() string {
	if t.Weight == 0 {
		return t.Name
	}
	return t.Name + " weight " + strconv.Itoa(t.Weight)
}

// Notify holds the command lines run on state changes; empty means none.
type Notify struct {
	Master string // notify_master
	Backup string // notify_backup
	Fault  string // notify_fault
	Stop   string // notify_stop
	// Any is run on every change with "INSTANCE", the name, the state and
	// the priority appended, as keepalived does (notify).
	Any string
}

// Protocol is an IPVS service protocol.
type Protocol string

// Protocols (keepalived `protocol`).
const (
	TCP  Protocol = "TCP"
	UDP  Protocol = "UDP"
	SCTP Protocol = "SCTP"
)

// Forwarding is an IPVS packet-forwarding method.
type Forwarding string

// Forwarding methods (keepalived lb_kind / lvs_method).
const (
	// DR is direct routing: only the MAC address is rewritten; the port
	// cannot change.
	DR Forwarding = "DR"
	// NAT is masquerading.
	NAT Forwarding = "NAT"
	// TUN is IP-in-IP tunnelling; the port cannot change.
	TUN Forwarding = "TUN"
)

// Schedulers are the IPVS scheduler names accepted for lb_algo / lvs_sched.
var Schedulers = []string{"rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"}

// VirtualService is one IPVS virtual service (keepalived virtual_server):
// either an address and port, or a firewall mark.
type VirtualService struct {
	// Protocol is TCP (default), UDP or SCTP.
	Protocol Protocol
	// Addr is the virtual address and port; invalid for a fwmark service.
	// Port 0 is allowed only for a persistent service (all ports).
	Addr netip.AddrPort
	// FWMark is the firewall mark of a fwmark service, 0 otherwise.
	FWMark uint32
	// DelayLoop is the interval of the health checks (default 60s).
	DelayLoop time.Duration
	// Scheduler is the IPVS scheduler (lb_algo / lvs_sched; default wlc).
	Scheduler string
	// SchedFlags are the scheduler's flags (keepalived flag-1..flag-3,
	// sh-port/sh-fallback, mh-port/mh-fallback; native scheduler_flags).
	SchedFlags SchedFlags
	// OnePacket schedules each UDP datagram on its own (keepalived ops,
	// ipvsadm -O); a UDP or fwmark service only.
	OnePacket bool
	// Forwarding is DR, NAT or TUN (lb_kind / lvs_method). The default is
	// NAT in keepalived.conf, as in keepalived, and DR in the native file.
	Forwarding Forwarding
	// Persistence is the persistence timeout, 0 for none
	// (persistence_timeout).
	Persistence time.Duration
	// SorryServer takes the traffic while the quorum is not met; nil if
	// none.
	SorryServer *SorryServer
	// SorryServerInhibit applies inhibit_on_failure to the sorry server
	// (sorry_server_inhibit).
	SorryServerInhibit bool
	// Quorum is the minimum total weight of live real servers (default 1).
	Quorum int
	// Hysteresis dampens quorum changes (default 0; less than Quorum).
	Hysteresis int
	// QuorumUp and QuorumDown are scripts run when the quorum is gained or
	// lost; empty for none.
	QuorumUp   string
	QuorumDown string
	// Alpha starts every real server as down until its first successful
	// check.
	Alpha bool
	// Omega runs the quorum_down and notify_down scripts when the director
	// stops.
	Omega bool
	// RealServers are the destinations, in file order.
	RealServers []RealServer
	// Group is the virtual_server_group this service was expanded from,
	// "" for a plain virtual_server.
	Group string
	Pos   Pos
}

// Key identifies the service the way the heartbeat protocol names it:
// "TCP 192.0.2.100:80", "UDP [2001:db8::1]:53" or "FWM 1".
func (s *VirtualService) Key() string {
	if s.FWMark != 0 {
		return "FWM " + strconv.FormatUint(uint64(s.FWMark), 10)
	}
	return string(s.Protocol) + " " + s.Addr.String()
}

// Family returns 4 or 6: the family of Addr, or for a fwmark service that
// of its first real server (4 when it has none).
func (s *VirtualService) Family() int {
	a := s.Addr.Addr()
	if s.FWMark != 0 {
		a = netip.Addr{}
		if len(s.RealServers) > 0 {
			a = s.RealServers[0].Addr.Addr()
		}
	}
	if a.Is6() {
		return 6
	}
	return 4
}

// RealServer returns the real server with that key (see RealServer.Key), or
// nil.
func (s *VirtualService) RealServer(key string) *RealServer {
	for i := range s.RealServers {
		if s.RealServers[i].Key() == key {
			return &s.RealServers[i]
		}
	}
	return nil
}

// SorryServer is the destination used while the quorum is not met.
type SorryServer struct {
	// Addr is the sorry server; its port is the virtual port when not
	// given (0 for a fwmark service).
	Addr netip.AddrPort
	Pos  Pos
}

// RealServer is one IPVS destination (keepalived real_server).
type RealServer struct {
	// Addr is the real server. For an address service its port is the
	// virtual port when not given; for a fwmark service it may be 0.
	Addr netip.AddrPort
	// Weight is the IPVS weight, 0..65535 (default 1).
	Weight int
	// InhibitOnFailure sets the weight to 0 on a failed check instead of
	// removing the destination (inhibit_on_failure, on the real server or
	// as a default on its virtual server).
	InhibitOnFailure bool
	// NotifyUp and NotifyDown are scripts run when the checks turn the
	// server up or down; empty for none.
	NotifyUp   string
	NotifyDown string
	// Checks are the health checks; all must pass. None means always up.
	Checks []Check
	Pos    Pos
}

// Key identifies the real server within its service: "192.0.2.101:80",
// "[2001:db8::1]:80" (port 0 for a fwmark destination without port).
func (r *RealServer) Key() string { return r.Addr.String() }

// CheckType is a health-check kind.
type CheckType string

// Check kinds (keepalived checker blocks).
const (
	HTTPGet   CheckType = "HTTP_GET"
	SSLGet    CheckType = "SSL_GET"
	TCPCheck  CheckType = "TCP_CHECK"
	MiscCheck CheckType = "MISC_CHECK"
	PingCheck CheckType = "PING_CHECK"
	UDPCheck  CheckType = "UDP_CHECK"
	DNSCheck  CheckType = "DNS_CHECK"
	SMTPCheck CheckType = "SMTP_CHECK"
	FileCheck CheckType = "FILE_CHECK"
)

// Check is one health check of a real server.
type Check struct {
	// Type is HTTP_GET, SSL_GET (HTTPS without certificate verification,
	// as keepalived) or TCP_CHECK.
	Type CheckType
	// ConnectIP is the address to probe; invalid means the real server's.
	ConnectIP netip.Addr
	// ConnectPort is the port to probe; 0 means the real server's.
	ConnectPort int
	// BindTo is the source address of the probe; invalid means any.
	BindTo netip.Addr
	// ConnectTimeout bounds connect and response (default 5s).
	ConnectTimeout time.Duration
	// Retry is the number of retries before a server is declared down
	// (retry / nb_get_retry; default 1).
	Retry int
	// DelayBeforeRetry is the pause between retries (default 3s for
	// HTTP_GET and SSL_GET, 1s for TCP_CHECK).
	DelayBeforeRetry time.Duration
	// VirtualHost is the Host header of HTTP_GET / SSL_GET ("" for the
	// address); set on the check or inherited from its virtual server.
	VirtualHost string
	// URLs are the URLs an HTTP_GET or SSL_GET fetches; all must pass.
	URLs []URL

	// MISC_CHECK: the command (misc_path), its timeout (misc_timeout; 0
	// means delay_loop), misc_dynamic (exit status 2..255 sets the weight
	// to status - 2) and the user it runs as.
	MiscPath    string
	MiscTimeout time.Duration
	MiscDynamic bool
	User, Group string
	// UDP_CHECK: the datagram sent (payload, keepalived's free-form hex;
	// random when empty), whether a reply is required (require_reply
	// [hex]: the reply must match ReplyHex, where X is any nibble, when
	// set) and the bounds of its length (min_reply_length,
	// max_reply_length; default 0 and 255).
	Payload                        string
	RequireReply                   bool
	ReplyHex                       string
	MinReplyLength, MaxReplyLength int
	// DNS_CHECK: the query type (type; default SOA) and name (name;
	// default ".").
	DNSType, DNSName string
	// SMTP_CHECK: the HELO name (helo_name; default the host name).
	HeloName string
	// FILE_CHECK: the vrrp_track_file it follows (track_file), the weight
	// that multiplies its value (weight W [reverse]) and whether the value
	// changes the real server's weight (dynamic).
	TrackFile string
	Weight    int
	Reverse   bool
	Dynamic   bool
	Pos       Pos
}

// Target returns the address and port the check connects to, given its
// real server.
func (c *Check) Target(rs *RealServer) netip.AddrPort {
	a, p := rs.Addr.Addr(), rs.Addr.Port()
	if c.ConnectIP.IsValid() {
		a = c.ConnectIP
	}
	if c.ConnectPort != 0 {
		p = uint16(c.ConnectPort)
	}
	return netip.AddrPortFrom(a, p)
}

// URL is one url { } of an HTTP_GET or SSL_GET.
type URL struct {
	// Path is the request path.
	Path string
	// StatusCodes are the accepted status codes; empty means any 2xx
	// (keepalived's default 200-299).
	StatusCodes []StatusRange
	// Digest is the expected lower-case hex MD5 of the body (genhash), ""
	// for none.
	Digest string
	Pos    Pos
}

// Accepts reports whether an HTTP status code passes the check.
func (u *URL) Accepts(code int) bool {
	if len(u.StatusCodes) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range u.StatusCodes {
		if code >= r.Min && code <= r.Max {
			return true
		}
	}
	return false
}

// StatusRange is an inclusive range of HTTP status codes; a single code
// has Min == Max.
type StatusRange struct {
	Min, Max int
}

// String formats r as "200" or "200-299".
func (r StatusRange) String() string {
	if r.Min == r.Max {
		return strconv.Itoa(r.Min)
	}
	return strconv.Itoa(r.Min) + "-" + strconv.Itoa(r.Max)
}

// Default returns a Config with every default applied and no VRRP instance
// or service: what an empty native file or keepalived.conf yields.
func Default() *Config {
	return &Config{
		Notification: Notification{SMTPConnectTimeout: DefaultSMTPConnectTimeout},
		Logging:      Logging{Format: "text", Level: "info", Facility: "daemon"},
		Heartbeat: Heartbeat{
			Enabled:   true,
			Listen:    DefaultHeartbeatListen,
			KeyFile:   DefaultHeartbeatKeyFile,
			Interval:  DefaultHeartbeatInterval,
			DeadAfter: DefaultHeartbeatDeadAfter * DefaultHeartbeatInterval,
			Window:    DefaultHeartbeatWindow,
			AgentKeys: DefaultHeartbeatAgentKeys,
		},
		Drain:         Drain{Timeout: DefaultDrainTimeout, RemoveWhenDrained: true},
		ControlSocket: DefaultControlSocket,
		Metrics:       Metrics{Enabled: true, Listen: DefaultMetricsListen},
		IPVS: IPVS{
			ExpireNodestConn:        true,
			ExpireQuiescentTemplate: true,
			ConnReuseMode:           DefaultConnReuseMode,
		},
		FastFailover: FastFailover{
			Port:           DefaultFastFailoverPort,
			Interval:       DefaultFastFailoverInterval,
			Multiplier:     DefaultFastFailoverMult,
			WitnessQuorum:  DefaultWitnessQuorum,
			WitnessWait:    DefaultWitnessWait,
			WitnessMaxVeto: DefaultWitnessMaxVeto,
		},
	}
}

// newInstance returns a VRRP instance with keepalived's defaults. Version
// stays 0 until the reader resolves it (resolveVersion).
func newInstance(name string, pos Pos) VRRPInstance {
	return VRRPInstance{
		Name:                    name,
		State:                   StateBackup,
		Priority:                DefaultPriority,
		AdvertInt:               DefaultAdvertInt,
		GARPMasterDelay:         DefaultGARPMasterDelay,
		GARPMasterRepeat:        DefaultGARPMasterRepeat,
		GARPMasterRefreshRepeat: DefaultGARPMasterRefreshRepeat,
		Pos:                     pos,
	}
}

// defaultVersion is the version an instance gets when none is given: 3 for
// IPv6 addresses, else the global default (2 unless global_defs says 3).
func defaultVersion(v *VRRPInstance, global int) int {
	if v.Family() == 6 {
		return 3
	}
	if global == 0 {
		return 2
	}
	return global
}

// newService returns a virtual service with the defaults shared by both
// readers; the reader sets Forwarding.
func newService(pos Pos) VirtualService {
	return VirtualService{
		Protocol:  TCP,
		DelayLoop: DefaultDelayLoop,
		Scheduler: "wlc",
		Quorum:    DefaultQuorum,
		Pos:       pos,
	}
}

// newRealServer returns a real server with keepalived's defaults.
func newRealServer(addr netip.AddrPort, pos Pos) RealServer {
	return RealServer{Addr: addr, Weight: DefaultWeight, Pos: pos}
}

// newCheck returns a check of type t with keepalived's defaults.
func newCheck(t CheckType, pos Pos) Check {
	c := Check{
		Type:             t,
		ConnectTimeout:   DefaultConnectTimeout,
		Retry:            DefaultRetry,
		DelayBeforeRetry: DefaultDelayBeforeRetry,
		Pos:              pos,
	}
	switch t {
	case HTTPGet, SSLGet:
		c.DelayBeforeRetry = DefaultDelayBeforeRetryHTTP
	case MiscCheck:
		c.Retry = 0 // keepalived.conf(5): "The retry default is 0"
	case DNSCheck:
		c.Retry = 3 // "The retry default is 3"
	}
	return c
}

// splitListen checks a "host:port" listen address: host empty or an IP
// address, port 1..65535.
func splitListen(s string) (host string, port int, ok bool) {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, false
	}
	if h != "" {
		a, err := netip.ParseAddr(h)
		if err != nil || a.Zone() != "" {
			return "", 0, false
		}
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strconv.Itoa(n) != p {
		return "", 0, false
	}
	return h, n, true
}
