package logging

import "log/slog"

// Stable log keys. Use these instead of string literals.
const (
	KeyVIP       = "vip"       // a virtual IP address
	KeyVRID      = "vrid"      // a VRRP virtual router id
	KeyState     = "state"     // a state (VRRP, agent, pool)
	KeyFrom      = "from"      // previous state of a transition
	KeyTo        = "to"        // next state of a transition
	KeyRS        = "rs"        // a real server, "addr:port"
	KeyErr       = "err"       // an error
	KeyPeer      = "peer"      // a remote peer address
	KeyService   = "service"   // a virtual service ("TCP 192.0.2.100:80") or an agent's service
	KeyNode      = "node"      // an agent's node name
	KeyDirector  = "director"  // a director's name
	KeyIface     = "iface"     // a network interface
	KeyAddr      = "addr"      // an address, "ip" or "ip:port"
	KeyWeight    = "weight"    // an IPVS weight
	KeyPriority  = "priority"  // a VRRP priority
	KeyRole      = "role"      // a VRRP role
	KeyPool      = "pool"      // a pool state
	KeyReason    = "reason"    // why something happened
	KeyCheck     = "check"     // a health check's name or kind
	KeyPath      = "path"      // a file or socket path
	KeyOp        = "op"        // an operation (control socket, reload)
	KeyDuration  = "duration"  // a time.Duration
	KeyCount     = "count"     // a count
	KeySession   = "session"   // a heartbeat session id
	KeySeq       = "seq"       // a sequence number
	KeyVersion   = "version"   // a version
	KeyComponent = "component" // the package or subsystem logging
)

// Err returns the attribute for an error under KeyErr.
func Err(err error) slog.Attr { return slog.Any(KeyErr, err) }
