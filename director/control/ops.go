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
