package maintenance

// Event is an input to [State.Step]: [On], [Off] or [Probe]. The time it
// happened is Step's now.
type Event interface{ isEvent() }

// On switches maintenance on (again: the reason is updated).
type On struct{ Reason string }

// Off switches maintenance off.
type Off struct{}

// Probe is a health probe result; Step's now is the probe's time.
type Probe struct{ OK bool }

func (On) isEvent()    {}
func (Off) isEvent()   {}
func (Probe) isEvent() {}
