// Package pool decides, for one virtual service, which real servers are in
// the IPVS table and at what weight: the per-real-server state machine
// (up, down, draining, drained, maintenance), keepalived's quorum,
// hysteresis, alpha and omega, the sorry server, and graceful drain.
//
// It is pure: a [Pool] takes events (health-check results, agent reports,
// operator drain/undrain, IPVS connection counters, clock ticks) with the
// time they happened and returns [Action]s; it does no I/O and never reads
// the clock. A driver feeds it, arms a timer for [Pool.NextDeadline], and
// turns [Pool.Status] into the lvs package's desired state.
//
// The semantics are written down in docs/pool.md.
package pool
