package maintenance

import "time"

// Step applies ev, which happened at now, to s and returns the next state
// and the actions, in order (none when nothing changed). rise is the
// number of consecutive probe passes needed to return to service.
//
// It is the switch's pure state machine, with the shape of the director's
// (typed events in, typed actions out, an injected now), on a value rather
// than a pointer: s is left as it was, so the caller can persist the new
// state ([Persist]) and keep the old one when that fails. Nothing in the
// switch depends on time passing, so there is no NextDeadline.
func (s State) Step(now time.Time, ev Event, rise int) (State, []Action) {
	rise = max(rise, 1)
	switch ev := ev.(type) {
	case On:
		if s.Mode == Maintenance && (ev.Reason == "" || s.Reason == ev.Reason) {
			// Already on; no reason given keeps the current one.
			return s, nil
		}
		since := now
		if s.Mode == Maintenance {
			since = s.Since // a new reason does not restart the clock
		}
		next := State{Mode: Maintenance, Reason: ev.Reason, Since: since}
		return next, []Action{Persist{Flag: FlagOf(next)}, Announce{}}
	case Off:
		if s.Mode != Maintenance {
			return s, nil
		}
		next := State{Mode: Returning, Since: now}
		return next, []Action{Persist{Flag: FlagOf(next)}, Announce{}, ProbeNow{}}
	case Probe:
		if s.Mode != Returning {
			return s, nil
		}
		if !ev.OK {
			if s.Passes == 0 {
				return s, nil
			}
			s.Passes = 0
			return s, []Action{Announce{}}
		}
		s.Passes++
		if s.Passes >= rise {
			return State{Mode: InService, Since: now}, []Action{Announce{}}
		}
		return s, []Action{Announce{}}
	}
	return s, nil
}
