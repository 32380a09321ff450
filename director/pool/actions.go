package pool

import (
	"fmt"
	"net/netip"
)

// Action is an output of [Pool.Step] (and of New, Reconfigure and
// Shutdown) for the driver to perform, in order: [Transition]s, then
// [QuorumLost] or [QuorumGained], [SorryIn], [SetDest]s, [SorryOut]. A
// [Recheck] comes first, before the actions of the evaluation it
// triggers. Every action has a String for logs and tests.
type Action interface {
	fmt.Stringer
	isAction()
}

// Transition: Server went From -> To, for Reason. Log it, notify. From is
// [Initial] for a server's first state.
type Transition struct {
	Server   netip.AddrPort
	From, To State
	Reason   string
}

// QuorumLost: the live weight (Weight) fell below the quorum (keepalived
// quorum_down).
type QuorumLost struct {
	Weight int
	Reason string
}

// QuorumGained: the live weight (Weight) reached the quorum (keepalived
// quorum_up).
type QuorumGained struct {
	Weight int
	Reason string
}

// SorryIn: put the sorry server (Server) in IPVS at Weight.
type SorryIn struct {
	Server netip.AddrPort
	Weight int
	Reason string
}

// SetDest: Server's IPVS entry must become present at Weight (or absent
// when !Present).
type SetDest struct {
	Server  netip.AddrPort
	Weight  int
	Present bool
	// Removed (with !Present): the server has left the pool for good.
	Removed bool
	Reason  string
}

// SorryOut: remove the sorry server (Server).
type SorryOut struct {
	Server netip.AddrPort
	Reason string
}

// Recheck: ask Server's checkers to probe now instead of at their next
// delay_loop (its agent just cleared it, or went silent, while checks say
// down).
type Recheck struct {
	Server netip.AddrPort
	Reason string
}

func (Transition) isAction()   {}
func (QuorumLost) isAction()   {}
func (QuorumGained) isAction() {}
func (SorryIn) isAction()      {}
func (SetDest) isAction()      {}
func (SorryOut) isAction()     {}
func (Recheck) isAction()      {}

func (a Transition) String() string {
	return fmt.Sprintf("transition %s: %s -> %s (%s)", a.Server, a.From, a.To, a.Reason)
}

func (a QuorumLost) String() string { return fmt.Sprintf("quorum-lost (%s)", a.Reason) }

func (a QuorumGained) String() string { return fmt.Sprintf("quorum-gained (%s)", a.Reason) }

func (a SorryIn) String() string {
	return fmt.Sprintf("sorry-in %s weight %d (%s)", a.Server, a.Weight, a.Reason)
}

func (a SetDest) String() string {
	if !a.Present {
		return fmt.Sprintf("set-dest %s absent", a.Server)
	}
	return fmt.Sprintf("set-dest %s weight %d", a.Server, a.Weight)
}

func (a SorryOut) String() string { return fmt.Sprintf("sorry-out %s (%s)", a.Server, a.Reason) }

func (a Recheck) String() string { return fmt.Sprintf("recheck %s (%s)", a.Server, a.Reason) }
