package hbproto

import (
	"fmt"
	"net/netip"
	"time"
)

// Version is the wire version this package speaks.
const Version = 1

// DefaultPort is the UDP port a director listens on. Agents send from any
// port; the director replies to the source address and port.
const DefaultPort = 7480

// Wire limits. Decoding never allocates more than the datagram size allows.
const (
	// MaxDatagram is the largest datagram accepted or produced.
	MaxDatagram = 8192
	// HeaderSize is the size of the fixed header.
	HeaderSize = 32
	// TagSize is the size of the HMAC-SHA256 tag that ends every datagram.
	TagSize = 32
	// MaxBody is the largest body that fits in MaxDatagram.
	MaxBody = MaxDatagram - HeaderSize - TagSize
	// MaxString is the longest string field, in bytes.
	MaxString = 255
	// MaxServices is the longest list of services in an agent report.
	MaxServices = 64
	// MaxDestinations is the longest list of destinations in a director reply.
	MaxDestinations = 128
	// MaxSeen is the longest list of directors in an agent report's witness
	// field (AgentReport.Seen).
	MaxSeen = 16
	// MaxSeenAge is the largest age the witness field can carry (the u32
	// millisecond counter); older ages are sent as MaxSeenAge.
	MaxSeenAge = time.Duration(1<<32-1) * time.Millisecond
	// MinKeySize is the shortest key LoadKey accepts, in bytes.
	MinKeySize = 32
	// MaxKeyFileSize is the largest key file LoadKey reads, in bytes.
	MaxKeyFileSize = 4096
	// DefaultWindow is the timestamp window used when NewOpener gets 0.
	DefaultWindow = 30 * time.Second
	// MaxSessions is the number of sender sessions an Opener remembers.
	MaxSessions = 4096
)

// magic opens every datagram: "TH".
var magic = [2]byte{'T', 'H'}

// State is an agent's overall state.
type State uint8

// Agent states.
const (
	StateUp          State = 1
	StateDown        State = 2
	StateMaintenance State = 3
)

// String returns "up", "down" or "maintenance".
func (s State) String() string {
	switch s {
	case StateUp:
		return "up"
	case StateDown:
		return "down"
	case StateMaintenance:
		return "maintenance"
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

func (s State) valid() bool { return s >= StateUp && s <= StateMaintenance }

// Role is a director's VRRP role.
type Role uint8

// Director roles.
const (
	RoleUnknown Role = 0
	RoleBackup  Role = 1
	RoleMaster  Role = 2
	RoleFault   Role = 3
)

// String returns "unknown", "backup", "master" or "fault".
func (r Role) String() string {
	switch r {
	case RoleUnknown:
		return "unknown"
	case RoleBackup:
		return "backup"
	case RoleMaster:
		return "master"
	case RoleFault:
		return "fault"
	}
	return fmt.Sprintf("role(%d)", uint8(r))
}

func (r Role) valid() bool { return r <= RoleFault }

// PoolState is the director's view of one destination.
type PoolState uint8

// Pool states of a destination.
const (
	PoolUp          PoolState = 1
	PoolDown        PoolState = 2
	PoolDraining    PoolState = 3
	PoolDrained     PoolState = 4
	PoolMaintenance PoolState = 5
)

// String returns "up", "down", "draining", "drained" or "maintenance".
func (p PoolState) String() string {
	switch p {
	case PoolUp:
		return "up"
	case PoolDown:
		return "down"
	case PoolDraining:
		return "draining"
	case PoolDrained:
		return "drained"
	case PoolMaintenance:
		return "maintenance"
	}
	return fmt.Sprintf("pool(%d)", uint8(p))
}

func (p PoolState) valid() bool { return p >= PoolUp && p <= PoolMaintenance }

// MsgType is the message type in the header.
type MsgType uint8

// Message types.
const (
	TypeAgentReport   MsgType = 1
	TypeDirectorReply MsgType = 2
)

// String returns "agent-report" or "director-reply".
func (t MsgType) String() string {
	switch t {
	case TypeAgentReport:
		return "agent-report"
	case TypeDirectorReply:
		return "director-reply"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// ServiceHealth is the health of one service on an agent.
type ServiceHealth struct {
	// Service is the service name as the agent's config names it.
	Service string
	// Healthy is true while the service's probe passes.
	Healthy bool
	// Reason says why the service is unhealthy; may be empty.
	Reason string
}

// AgentReport is what an agent tells each director.
type AgentReport struct {
	// Node is the agent's node name; not empty.
	Node string
	// RealIP is the real server's own address.
	RealIP netip.Addr
	// State is the agent's overall state.
	State State
	// Reason says why the agent is down or in maintenance.
	Reason string
	// Services lists per-service health, at most MaxServices.
	Services []ServiceHealth
	// Seen is the witness field (a version-1 extension, docs/ha.md): what
	// the agent last heard from each director, at most MaxSeen entries.
	// Empty when the agent has heard no director, or is older than the
	// extension.
	Seen []DirectorSeen
}

// DirectorSeen is what an agent last heard from one director: the witness
// data a backup director uses to tell a dead master from a broken
// director-to-director link.
type DirectorSeen struct {
	// Director is the name the director gives in its replies; not empty.
	Director string
	// Role is the role of its last accepted reply.
	Role Role
	// Age is the time from that reply to the sending of this report, at
	// millisecond resolution (truncated), at most MaxSeenAge.
	Age time.Duration
}

// DestinationStatus is a director's view of one IPVS destination of the agent.
type DestinationStatus struct {
	// Service names the virtual service: "TCP 192.0.2.100:80" or "FWM 1".
	Service string
	// Addr is the destination's address and port.
	Addr netip.AddrPort
	// Weight is the weight now in the kernel.
	Weight int32
	// ConfiguredWeight is the weight from the configuration.
	ConfiguredWeight int32
	// ActiveConns is IPVS's active connection count.
	ActiveConns uint32
	// InactiveConns is IPVS's inactive connection count.
	InactiveConns uint32
	// Pool is the pool state of the destination.
	Pool PoolState
}

// DirectorReply is what a director answers to an agent report.
type DirectorReply struct {
	// Director is the director's name; not empty.
	Director string
	// Role is the director's VRRP role.
	Role Role
	// Destinations lists the agent's destinations, at most MaxDestinations.
	Destinations []DestinationStatus
	// ReportNow (a version-1 extension, docs/ha.md) asks the agent for a
	// report at once, and for one more to this director as soon as another
	// director has answered it: a backup that lost its peer asks the agents
	// whether the master is still alive.
	ReportNow bool
	// Echo (extension 2, docs/heartbeat.md "Key scopes") names the agent
	// report this reply answers; {0, 0} in an unsolicited reply. nil: the
	// extension is absent (an older director).
	Echo *ReplyEcho
}

// ReplyEcho is the header session id and sequence number of the agent
// report a director reply answers.
type ReplyEcho struct {
	Session, Seq uint64
}

// Header is the fixed header of a datagram.
type Header struct {
	// Version is the wire version (Version).
	Version uint8
	// Type is the message type.
	Type MsgType
	// SessionID identifies the sending process.
	SessionID uint64
	// Seq is the sequence number within the session, from 1.
	Seq uint64
	// Time is the sender's wall clock, nanosecond precision.
	Time time.Time
}

// Message is a decoded datagram. Exactly one of Agent and Director is non-nil,
// matching Header.Type.
type Message struct {
	Header
	// Agent is set for TypeAgentReport.
	Agent *AgentReport
	// Director is set for TypeDirectorReply.
	Director *DirectorReply
}
