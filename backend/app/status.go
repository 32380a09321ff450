package app

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/health"
	"github.com/tandemlb/tandem/backend/heartbeat"
	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/backend/vip"
	"github.com/tandemlb/tandem/shared/hbproto"
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
	Directors DirectorViews `json:"directors"`
}

// DirectorViews are the directors' last replies. Their JSON has every
// field in snake_case, the destinations' included:
//
//	{"addr": "192.0.2.2:7480", "name": "lb1", "role_code": 2, "role": "master",
//	 "last_reply": "...", "destinations": [{"service": "TCP 192.0.2.100:80",
//	 "addr": "192.0.2.11:80", "weight": 1, "configured_weight": 1,
//	 "active_conns": 3, "inactive_conns": 7, "pool": "up", "pool_code": 1}]}
//
// pool is up, down, draining, drained or maintenance; pool_code its
// number in the heartbeat (1 to 5). Reading, the destinations' names of
// agents before 2026 (Service, Addr, Weight, ConfiguredWeight,
// ActiveConns, InactiveConns, Pool as a number) are accepted too, so
// that a new CLI reads an old daemon's answer.
type DirectorViews []maintenance.DirectorView

// directorJSON is a DirectorView on the wire: its own fields as they are,
// its destinations in snake_case.
type directorJSON struct {
	maintenance.DirectorView
	Destinations []destinationJSON `json:"destinations"` // hides DirectorView's
}

// destinationJSON is an hbproto.DestinationStatus on the wire.
type destinationJSON struct {
	Service          string            `json:"service"`
	Addr             netip.AddrPort    `json:"addr"`
	Weight           int32             `json:"weight"`
	ConfiguredWeight int32             `json:"configured_weight"`
	ActiveConns      uint32            `json:"active_conns"`
	InactiveConns    uint32            `json:"inactive_conns"`
	Pool             string            `json:"pool"`
	PoolCode         hbproto.PoolState `json:"pool_code"`
}

// destinationIn reads destinationJSON and the names before it.
type destinationIn struct {
	Service          string             `json:"service"`
	Addr             netip.AddrPort     `json:"addr"`
	Weight           int32              `json:"weight"`
	ConfiguredWeight *int32             `json:"configured_weight"`
	ActiveConns      *uint32            `json:"active_conns"`
	InactiveConns    *uint32            `json:"inactive_conns"`
	Pool             json.RawMessage    `json:"pool"` // a name, or before: the number ("Pool")
	PoolCode         *hbproto.PoolState `json:"pool_code"`
	// Before: the names of hbproto.DestinationStatus (Service, Addr and
	// Weight match the fields above, case aside).
	OldConfiguredWeight int32  `json:"ConfiguredWeight"`
	OldActiveConns      uint32 `json:"ActiveConns"`
	OldInactiveConns    uint32 `json:"InactiveConns"`
}

// MarshalJSON writes the views with snake_case names.
func (v DirectorViews) MarshalJSON() ([]byte, error) {
	if v == nil {
		return []byte("null"), nil
	}
	out := make([]directorJSON, 0, len(v))
	for _, d := range v {
		dj := directorJSON{DirectorView: d, Destinations: make([]destinationJSON, 0, len(d.Destinations))}
		for _, ds := range d.Destinations {
			dj.Destinations = append(dj.Destinations, destinationJSON{Service: ds.Service, Addr: ds.Addr, Weight: ds.Weight,
				ConfiguredWeight: ds.ConfiguredWeight, ActiveConns: ds.ActiveConns, InactiveConns: ds.InactiveConns,
				Pool: ds.Pool.String(), PoolCode: ds.Pool})
		}
		out = append(out, dj)
	}
	return json.Marshal(out)
}

// UnmarshalJSON reads what MarshalJSON writes, and the destinations'
// names before it.
func (v *DirectorViews) UnmarshalJSON(b []byte) error {
	var in []struct {
		maintenance.DirectorView
		Destinations []destinationIn `json:"destinations"` // hides DirectorView's
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	if in == nil {
		*v = nil
		return nil
	}
	out := make(DirectorViews, 0, len(in))
	for _, d := range in {
		dv := d.DirectorView
		for _, ds := range d.Destinations {
			st := hbproto.DestinationStatus{Service: ds.Service, Addr: ds.Addr, Weight: ds.Weight,
				ConfiguredWeight: ds.OldConfiguredWeight, ActiveConns: ds.OldActiveConns, InactiveConns: ds.OldInactiveConns}
			if ds.ConfiguredWeight != nil {
				st.ConfiguredWeight = *ds.ConfiguredWeight
			}
			if ds.ActiveConns != nil {
				st.ActiveConns = *ds.ActiveConns
			}
			if ds.InactiveConns != nil {
				st.InactiveConns = *ds.InactiveConns
			}
			pool, err := poolOf(ds.PoolCode, ds.Pool)
			if err != nil {
				return fmt.Errorf("director %s: destination %s: %w", d.Addr, ds.Addr, err)
			}
			st.Pool = pool
			dv.Destinations = append(dv.Destinations, st)
		}
		out = append(out, dv)
	}
	*v = out
	return nil
}

// poolOf is the pool state from pool_code, else from pool: a name, or
// (before) the number.
func poolOf(code *hbproto.PoolState, raw json.RawMessage) (hbproto.PoolState, error) {
	if code != nil {
		return *code, nil
	}
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var n uint8
	if err := json.Unmarshal(raw, &n); err == nil {
		return hbproto.PoolState(n), nil
	}
	var name string
	if err := json.Unmarshal(raw, &name); err != nil {
		return 0, fmt.Errorf("pool %s: want a name or a number", raw)
	}
	for p := hbproto.PoolUp; p <= hbproto.PoolMaintenance; p++ {
		if p.String() == name {
			return p, nil
		}
	}
	return 0, fmt.Errorf("pool %q: want up, down, draining, drained or maintenance", name)
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
