package app

import (
	"time"

	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/health"
	"github.com/tandemlb/tandem/backend/heartbeat"
	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/backend/vip"
)

// Control-socket operations.
const (
	OpStatus          = "status"
	OpMaintenanceOn   = "maintenance.on"
	OpMaintenanceOff  = "maintenance.off"
	OpMaintenance     = "maintenance.status"
	OpMaintenanceWait = "maintenance.wait"
	OpReload          = "reload"
)

// Status is the answer to the status op (status --json prints it).
type Status struct {
	// Version is the daemon's version.
	Version string `json:"version"`
	// PID is the daemon's process id.
	PID int `json:"pid"`
	// Started is when the daemon started.
	Started time.Time `json:"started"`
	// Config is the configuration file in use.
	Config string `json:"config"`
	// Host is the resolved node, interface and real IP.
	Host Host `json:"host"`
	// Check is the verdict the check endpoint gives.
	Check CheckStatus `json:"check"`
	// Health is the probe's state.
	Health HealthStatus `json:"health"`
	// Maintenance is the switch's state.
	Maintenance MaintenanceStatus `json:"maintenance"`
	// VIPs are the VIPs and whether each is on lo.
	VIPs []vip.Status `json:"vips"`
	// ARP is the ARP guard's state.
	ARP arpguard.Status `json:"arp"`
	// Heartbeat holds the heartbeat totals.
	Heartbeat HeartbeatStatus `json:"heartbeat"`
	// Directors are the directors' last replies.
	Directors []maintenance.DirectorView `json:"directors"`
}

// CheckStatus describes the check endpoint.
type CheckStatus struct {
	health.Verdict
	// Mode is listen, file or none.
	Mode string `json:"mode"`
	// Where is the URL (listen) or file path (file).
	Where string `json:"where,omitempty"`
	// FilePresent tells whether the check file exists (file mode).
	FilePresent bool `json:"file_present,omitempty"`
}

// HealthStatus describes the probe.
type HealthStatus struct {
	// Service is the service name in heartbeats.
	Service string `json:"service"`
	// Probe describes the probe.
	Probe string `json:"probe"`
	// State is healthy, unhealthy or unknown.
	State health.State `json:"state"`
	// Reason says why not healthy.
	Reason string `json:"reason,omitempty"`
	// Since is when the state last changed.
	Since time.Time `json:"since"`
	// LastProbe is when the last probe finished.
	LastProbe time.Time `json:"last_probe"`
	// LastOK is the last probe's result.
	LastOK bool `json:"last_ok"`
	// LastTook is how long the last probe took.
	LastTook time.Duration `json:"last_took_ns"`
}

// MaintenanceStatus describes the switch.
type MaintenanceStatus struct {
	maintenance.State
	// Description is the one-line reason the check endpoint gives.
	Description string `json:"description,omitempty"`
}

// HeartbeatStatus describes the heartbeat.
type HeartbeatStatus struct {
	heartbeat.Stats
	// Interval is the report interval.
	Interval time.Duration `json:"interval_ns"`
	// Insecure is true when started with heartbeat.insecure.
	Insecure bool `json:"insecure,omitempty"`
}

// MaintenanceOnArgs are the arguments of maintenance.on.
type MaintenanceOnArgs struct {
	// Reason is the operator's reason.
	Reason string `json:"reason,omitempty"`
}

// WaitArgs are the arguments of maintenance.wait.
type WaitArgs struct {
	// Timeout bounds the wait.
	Timeout time.Duration `json:"timeout"`
}

// WaitLine is one progress line of maintenance.wait.
type WaitLine = maintenance.DrainStatus
