// Package app wires one running tandem-director together: the
// configuration, one VRRP driver per vrrp_instance, the IPVS reconciler and
// its connection-sync daemon, a pool and health checkers per virtual
// service, the agent heartbeat listener, the control socket, metrics and
// systemd notifications.
//
// The pure machines decide; the app performs. Checkers, VRRP drivers and
// the heartbeat listener run in goroutines of their own and send events to
// one main loop, which alone owns the pools and the IPVS table: it feeds
// them the events (health-check verdicts, agent reports, operator drains,
// IPVS connection counters polled every 200 ms, clock ticks), performs
// their actions (a dirty service is reconciled with one ApplyService that
// reads and writes only that service), answers the control socket, and
// pings the systemd watchdog, so a stuck loop gets the service restarted.
//
// Never disruptive:
//   - at start the IPVS table is adopted (matching entries are left alone),
//     READY=1 is sent after that first reconciliation;
//   - on stop the entries stay unless ipvs.remove_on_stop;
//   - a reload (SIGHUP or the reload op) is parse → validate → diff →
//     apply the difference; an invalid file keeps the running
//     configuration and the reload op reports the error; IPVS is never
//     flushed and a VRRP instance is restarted only when its own keywords
//     changed;
//   - a drain sets weight 0 before any delete.
package app
