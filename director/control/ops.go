package control

// Control-socket operations (tandem-director status, drain, undrain,
// reload, reload --dry-run).
const (
	OpStatus  = "status"
	OpDrain   = "drain"
	OpUndrain = "undrain"
	OpReload  = "reload"
	// OpReloadPlan is `reload --dry-run`: the plan (director/reload.Plan)
	// of a reload of the file on disk, computed against the running
	// daemon; nothing is applied.
	OpReloadPlan = "reload-plan"
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

// ReloadResult says what a reload changed.
type ReloadResult struct {
	// Changes summarises the difference ("services +0 -0 ~1").
	Changes string `json:"changes"`
}
