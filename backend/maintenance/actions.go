package maintenance

// Action is an output of [State.Step] for the caller to perform, in the
// order returned: [Persist], then [Announce], then [ProbeNow]. Every action
// has a String for logs and tests.
type Action interface {
	String() string
	isAction()
}

// Persist: save Flag (the new state's [FlagOf]) in the state directory
// before the new state takes effect: a switch that a restart would forget
// must not take effect.
type Persist struct{ Flag Flag }

// Announce: update the check endpoint and send a heartbeat to every
// director at once.
type Announce struct{}

// ProbeNow: run the health probe now instead of at the next interval.
type ProbeNow struct{}

func (Persist) isAction()  {}
func (Announce) isAction() {}
func (ProbeNow) isAction() {}

func (a Persist) String() string {
	if a.Flag.On {
		return "persist on"
	}
	return "persist off"
}

func (Announce) String() string { return "announce" }

func (ProbeNow) String() string { return "probe-now" }
