package app

import "github.com/tandemlb/tandem/director/control"

// The control socket's API is director/control; this package only
// executes it (control.go). These aliases keep the names for the code
// that still spells them unqualified (trackerStatus, this package's tests)
// and for e2e (prodlab, scenarios, bench); new code uses director/control.
type (
	Status             = control.Status
	VRRPStatus         = control.VRRPStatus
	IPVSStatus         = control.IPVSStatus
	ServiceStatus      = control.ServiceStatus
	RealServerStatus   = control.RealServerStatus
	CheckStatus        = control.CheckStatus
	AgentStatus        = control.AgentStatus
	HeartbeatStatus    = control.HeartbeatStatus
	FastFailoverStatus = control.FastFailoverStatus
	TrackerStatus      = control.TrackerStatus
	SyncGroupStatus    = control.SyncGroupStatus
	DrainArgs          = control.DrainArgs
	DrainResult        = control.DrainResult
	DrainedServer      = control.DrainedServer
	ReloadResult       = control.ReloadResult
)

// Control-socket operations: see director/control.
const (
	OpStatus     = control.OpStatus
	OpDrain      = control.OpDrain
	OpUndrain    = control.OpUndrain
	OpReload     = control.OpReload
	OpReloadPlan = control.OpReloadPlan
)
