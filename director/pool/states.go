package pool

import (
	"fmt"

	"github.com/tandemlb/tandem/shared/hbproto"
)

// State is a real server's pool state. The numbers are those of the
// heartbeat protocol's pool field (hbproto.PoolState).
type State uint8

// Pool states. See docs/pool.md for the full semantics.
const (
	// Initial: not evaluated yet. It is only ever the From of a server's
	// first [Transition] (at New, or when a reload adds it).
	Initial State = 0
	// Up: healthy and in service at its configured weight.
	Up State = 1
	// Down: failed its health checks (after retries) or its agent reports
	// it down. Removed from IPVS, or kept at weight 0 with
	// InhibitOnFailure.
	Down State = 2
	// Draining: taken out of rotation (agent maintenance or operator
	// drain): weight 0, established connections finish, new ones go
	// elsewhere. Ends when IPVS counts no connection or at DrainTimeout.
	Draining State = 3
	// Drained: an operator drain has completed. Weight 0, or removed with
	// RemoveDrained.
	Drained State = 4
	// Maintenance: a drain its agent asked for has completed (or the
	// server carried no traffic when maintenance began). Weight 0, or
	// removed with RemoveDrained. Safe to work on.
	Maintenance State = 5
)

// String returns the state's lower-case name: the heartbeat's
// (hbproto.PoolState), and "new" for Initial.
func (s State) String() string {
	switch {
	case s == Initial:
		return "new"
	case s <= Maintenance:
		return hbproto.PoolState(s).String()
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// AgentState is what a real server's agent reports.
type AgentState uint8

// Agent states. The zero value means no agent information: never heard, or
// silent for AgentMissed intervals.
const (
	AgentNone        AgentState = 0
	AgentUp          AgentState = 1
	AgentDown        AgentState = 2
	AgentMaintenance AgentState = 3
)

// String returns "none", "up", "down" or "maintenance".
func (a AgentState) String() string {
	switch a {
	case AgentNone:
		return "none"
	case AgentUp:
		return "up"
	case AgentDown:
		return "down"
	case AgentMaintenance:
		return "maintenance"
	}
	return fmt.Sprintf("agent(%d)", uint8(a))
}
