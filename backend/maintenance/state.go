package maintenance

import (
	"fmt"
	"time"
)

// Mode is the maintenance mode.
type Mode int

// Modes.
const (
	InService Mode = iota
	Maintenance
	Returning
)

// String returns "in-service", "maintenance" or "returning".
func (m Mode) String() string {
	switch m {
	case Maintenance:
		return "maintenance"
	case Returning:
		return "returning"
	}
	return "in-service"
}

// MarshalText makes Mode print as its name in JSON.
func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

// UnmarshalText parses the name MarshalText writes.
func (m *Mode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "in-service":
		*m = InService
	case "maintenance":
		*m = Maintenance
	case "returning":
		*m = Returning
	default:
		return fmt.Errorf("maintenance: unknown mode %q", b)
	}
	return nil
}

// State is the switch's state: the value [State.Step] moves.
type State struct {
	// Mode is the current mode.
	Mode Mode `json:"mode"`
	// Reason is the operator's reason for maintenance.
	Reason string `json:"reason,omitempty"`
	// Since is when the mode began.
	Since time.Time `json:"since"`
	// Passes counts probe passes in a row since maintenance was switched off.
	Passes int `json:"passes,omitempty"`
}

// InMaintenance reports whether the server must not take new traffic
// because of the switch (Maintenance or Returning).
func (s State) InMaintenance() bool { return s.Mode != InService }

// Describe is a one-line reason for the check endpoint and heartbeats.
func (s State) Describe(rise int) string {
	switch s.Mode {
	case Maintenance:
		if s.Reason != "" {
			return "maintenance: " + s.Reason
		}
		return "maintenance"
	case Returning:
		return fmt.Sprintf("leaving maintenance: waiting for the health probe (%d/%d passes)", s.Passes, rise)
	}
	return ""
}
