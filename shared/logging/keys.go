package logging

import "log/slog"

// Log keys. Both daemons write the same key for the same thing, spelled
// as a string literal at the call site; the conventions are:
//
//	err        an error
//	rs         a real server, "addr:port"
//	service    a virtual service ("TCP 192.0.2.100:80") or an agent's service
//	vip, vrid  a virtual IP address; a VRRP virtual router id
//	interface  a network interface (never "iface")
//	state      a state (VRRP, agent, pool); from and to, a transition's
//	peer       a remote peer's address
//	director   a director's name; node, an agent's node name
//	addr       an address, "ip" or "ip:port"
//	weight     an IPVS weight; priority, a VRRP priority; role, a VRRP role
//	reason     why something happened
//	check      a health check's name or kind
//	path       a file or socket path
//	op         an operation (control socket, reload)
//
// The constants below are the keys this package's own code and other
// packages name through it; KeySuppressed (limiter.go) is the Limiter's.
const (
	KeyErr  = "err"  // an error
	KeyPath = "path" // a file or socket path
)

// Err returns the attribute for an error under KeyErr.
func Err(err error) slog.Attr { return slog.Any(KeyErr, err) }
