// Package pool decides, for one virtual service, which real servers are in
// the IPVS table and at what weight: the per-real-server state machine
// (up, down, draining, drained, maintenance), keepalived's quorum,
// hysteresis, alpha and omega, the sorry server, and graceful drain.
//
// It is pure and has the shape of the other state machines (vrrp.Machine,
// peerwatch.Session): a [Pool] takes typed [Event]s ([CheckResult],
// [AgentReport], [Drain], [Undrain], [Conns], [TimerFired]) with the time
// they happened and returns typed [Action]s ([Transition], [QuorumLost],
// [QuorumGained], [SorryIn], [SetDest], [SorryOut], [Recheck]) for the
// driver to perform in order; it does no I/O and never reads the clock. A
// driver feeds it, sends [TimerFired] at [Pool.NextDeadline] (agent
// expiry, drain timeouts), and turns [Pool.Status] into the lvs package's
// desired state.
//
// The files follow the concerns: states.go (State, AgentState),
// config.go (Config, Validate), events.go, actions.go, machine.go (Pool,
// Step, NextDeadline, the evaluation), server.go (one server's rules),
// reconfigure.go (a reload), status.go.
//
// The semantics are written down in docs/pool.md.
package pool
