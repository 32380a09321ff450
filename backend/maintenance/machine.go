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

// State is the switch's state.
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

// Event is an input of Step: On, Off or Probe.
type Event interface{ event() }

// On switches maintenance on (again: the reason is updated).
type On struct {
	Reason string
	At     time.Time
}

// Off switches maintenance off.
type Off struct {
	At time.Time
}

// Probe is a health probe result.
type Probe struct {
	OK bool
	At time.Time
}

func (On) event()    {}
func (Off) event()   {}
func (Probe) event() {}

// Action is an output of Step.
type Action int

// Actions, performed by the caller in this order.
const (
	// Persist: save Flag(state) in the state directory.
	Persist Action = iota + 1
	// Announce: update the check endpoint and send a heartbeat to every
	// director at once.
	Announce
	// ProbeNow: run the health probe now instead of at the next interval.
	ProbeNow
)

// String names the action.
func (a Action) String() string {
	switch a {
	case Persist:
		return "persist"
	case Announce:
		return "announce"
	case ProbeNow:
		return "probe-now"
	}
	return fmt.Sprintf("action(%d)", int(a))
}

// Step applies ev to s. rise is the number of consecutive passes needed to
// return to service.
func Step(s State, ev Event, rise int) (State, []Action) {
	rise = max(rise, 1)
	switch ev := ev.(type) {
	case On:
		if s.Mode == Maintenance && (ev.Reason == "" || s.Reason == ev.Reason) {
			// Already on; no reason given keeps the current one.
			return s, nil
		}
		since := ev.At
		if s.Mode == Maintenance {
			since = s.Since // a new reason does not restart the clock
		}
		return State{Mode: Maintenance, Reason: ev.Reason, Since: since}, []Action{Persist, Announce}
	case Off:
		if s.Mode != Maintenance {
			return s, nil
		}
		return State{Mode: Returning, Since: ev.At}, []Action{Persist, Announce, ProbeNow}
	case Probe:
		if s.Mode != Returning {
			return s, nil
		}
		if !ev.OK {
			if s.Passes == 0 {
				return s, nil
			}
			s.Passes = 0
			return s, []Action{Announce}
		}
		s.Passes++
		if s.Passes >= rise {
			return State{Mode: InService, Since: ev.At}, []Action{Announce}
		}
		return s, []Action{Announce}
	}
	return s, nil
}

// Flag is the persisted form of the switch.
type Flag struct {
	// On is true while maintenance is on.
	On bool `json:"on"`
	// Reason is the operator's reason.
	Reason string `json:"reason,omitempty"`
	// Since is when maintenance was switched on or off.
	Since time.Time `json:"since"`
}

// FlagOf returns the persisted form of s: Returning is stored as off (after
// a restart the probe decides anyway).
func FlagOf(s State) Flag {
	return Flag{On: s.Mode == Maintenance, Reason: s.Reason, Since: s.Since}
}

// FromFlag returns the state to start with.
func FromFlag(f Flag) State {
	if f.On {
		return State{Mode: Maintenance, Reason: f.Reason, Since: f.Since}
	}
	return State{Mode: InService, Since: f.Since}
}

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
