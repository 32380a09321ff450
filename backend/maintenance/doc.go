// Package maintenance holds the real server's maintenance switch.
//
// The switch has three modes. In service: the check endpoint follows the
// health probe. Maintenance: the endpoint says 503 (or the check file is
// gone) and heartbeats say "maintenance", whatever the probe says, so the
// directors drain the server (weight 0, established connections finish).
// Returning: the operator switched maintenance off, but the server goes back
// into service only after `rise` consecutive probe passes observed since then
// (a deploy may have left the application still starting).
//
// [State.Step] is the pure state machine, with the shape of the director's
// (vrrp.Machine, pool.Pool): typed events in ([On], [Off], [Probe]) with
// the time they happened, the next state and typed actions out
// ([Persist], [Announce], [ProbeNow]); no I/O and no clock. [Store]
// persists the [Flag] in the state directory (atomic rename), so
// maintenance survives agent restarts and reboots.
// [EvaluateDrain] decides, from the directors' replies, whether `maintenance
// on --wait` is done.
package maintenance
