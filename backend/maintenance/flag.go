package maintenance

import "time"

// Flag is the persisted form of the switch (the state file's JSON: see
// [Store]).
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
