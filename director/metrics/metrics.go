// Package metrics holds tandem-director's Prometheus metrics, on a registry
// of their own (no global state): per virtual service and real server the
// weight, pool state, connections and health-check results; heartbeats by
// result; reloads; VRRP state and transitions; IPVS operations; e-mail
// alerts by result.
//
// Label names are the log keys of shared/logging: service ("TCP
// 192.0.2.100:80"), rs ("192.0.2.101:80"), instance (a vrrp_instance name).
package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric name.
const Namespace = "tandem_director"

// Metrics are the director's metrics. The vectors are exported so that the
// application sets them directly; Forget* remove label sets that no longer
// exist after a reload.
type Metrics struct {
	// Registry holds every metric below plus the Go and process collectors.
	Registry *prometheus.Registry

	// Up is 1 while the daemon runs; Info carries the version as a label.
	Info *prometheus.GaugeVec

	// VRRPState is the state of each instance: 0 init, 1 backup, 2 master,
	// 3 fault, 4 stop.
	VRRPState *prometheus.GaugeVec
	// VRRPTransitions counts state changes by instance and new state.
	VRRPTransitions *prometheus.CounterVec

	// Weight is the weight of each destination now (0 when absent).
	Weight *prometheus.GaugeVec
	// ConfiguredWeight is the weight from the configuration.
	ConfiguredWeight *prometheus.GaugeVec
	// Present is 1 while the destination is in the IPVS table.
	Present *prometheus.GaugeVec
	// PoolState is the pool state: 1 up, 2 down, 3 draining, 4 drained,
	// 5 maintenance (the heartbeat's numbering).
	PoolState *prometheus.GaugeVec
	// ActiveConns and InactiveConns are IPVS's counters, polled.
	ActiveConns   *prometheus.GaugeVec
	InactiveConns *prometheus.GaugeVec
	// CheckUp is each checker's verdict (1 up).
	CheckUp *prometheus.GaugeVec
	// CheckResults counts health-check attempts by result (success, failure).
	CheckResults *prometheus.CounterVec
	// QuorumUp is 1 while a service has its quorum; SorryActive 1 while its
	// sorry server is in.
	QuorumUp    *prometheus.GaugeVec
	SorryActive *prometheus.GaugeVec

	// Heartbeats counts agent datagrams by result: "accepted" or a drop
	// reason (mac, replay, stale, truncated, version, malformed, other,
	// queue_full).
	Heartbeats *prometheus.CounterVec
	// HeartbeatReplies counts replies sent (result ok or error).
	HeartbeatReplies *prometheus.CounterVec
	// Agents is the number of agents heard from recently, by agent state.
	Agents *prometheus.GaugeVec

	// Reloads counts configuration reloads by result (ok, error).
	Reloads *prometheus.CounterVec
	// IPVSOps counts IPVS operations by kind and result (ok, error).
	IPVSOps *prometheus.CounterVec
	// SyncDaemon is 1 for each running IPVS sync daemon role.
	SyncDaemon *prometheus.GaugeVec
	// MailAlerts counts e-mail alerts (smtp_alert) by result: sent, error
	// (the SMTP session failed) or dropped (queue full, or still queued
	// when the daemon stopped).
	MailAlerts *prometheus.CounterVec
}

// New registers every metric on a fresh registry.
func New() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	g := func(name, help string, labels ...string) *prometheus.GaugeVec {
		v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		r.MustRegister(v)
		return v
	}
	c := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: Namespace, Name: name, Help: help}, labels)
		r.MustRegister(v)
		return v
	}
	m := &Metrics{Registry: r}
	m.Info = g("info", "Always 1; the version label is the daemon's version.", "version")
	m.VRRPState = g("vrrp_state", "VRRP instance state: 0 init, 1 backup, 2 master, 3 fault, 4 stop.", "instance")
	m.VRRPTransitions = c("vrrp_transitions_total", "VRRP state changes, by instance and new state.", "instance", "state")
	m.Weight = g("destination_weight", "Weight of the destination in IPVS now (0 when absent).", "service", "rs")
	m.ConfiguredWeight = g("destination_configured_weight", "Weight of the destination in the configuration.", "service", "rs")
	m.Present = g("destination_present", "1 while the destination is in the IPVS table.", "service", "rs")
	m.PoolState = g("destination_state", "Pool state: 1 up, 2 down, 3 draining, 4 drained, 5 maintenance.", "service", "rs")
	m.ActiveConns = g("destination_active_connections", "Active connections to the destination (IPVS).", "service", "rs")
	m.InactiveConns = g("destination_inactive_connections", "Inactive connections to the destination (IPVS).", "service", "rs")
	m.CheckUp = g("check_up", "Verdict of each health checker: 1 up, 0 down.", "service", "rs", "check")
	m.CheckResults = c("check_results_total", "Health-check attempts, by result (success, failure).", "service", "rs", "check", "result")
	m.QuorumUp = g("service_quorum_up", "1 while the virtual service has its quorum.", "service")
	m.SorryActive = g("service_sorry_active", "1 while the sorry server of the service is in IPVS.", "service")
	m.Heartbeats = c("heartbeats_total", "Agent heartbeat datagrams, by result: accepted or the drop reason.", "result")
	m.HeartbeatReplies = c("heartbeat_replies_total", "Replies sent to agents, by result (ok, error).", "result")
	m.Agents = g("agents", "Agents heard from within the dead_after interval, by reported state.", "state")
	m.Reloads = c("reloads_total", "Configuration reloads, by result (ok, error).", "result")
	m.IPVSOps = c("ipvs_operations_total", "IPVS table operations, by kind and result (ok, error).", "op", "result")
	m.SyncDaemon = g("sync_daemon_running", "1 for each IPVS connection-sync daemon role running.", "role")
	m.MailAlerts = c("mail_alerts_total", "E-mail alerts (smtp_alert), by result: sent, error or dropped.", "result")
	for _, res := range []string{"sent", "error", "dropped"} {
		m.MailAlerts.WithLabelValues(res)
	}
	for _, reason := range []string{"accepted", "truncated", "version", "mac", "stale", "replay", "malformed", "other", "queue_full"} {
		m.Heartbeats.WithLabelValues(reason)
	}
	for _, res := range []string{"ok", "error"} {
		m.Reloads.WithLabelValues(res)
		m.HeartbeatReplies.WithLabelValues(res)
	}
	return m
}

// ForgetDestination removes every series of one destination (a real server
// or a sorry server that left the configuration).
func (m *Metrics) ForgetDestination(service, rs string) {
	l := prometheus.Labels{"service": service, "rs": rs}
	for _, v := range []*prometheus.GaugeVec{m.Weight, m.ConfiguredWeight, m.Present, m.PoolState, m.ActiveConns, m.InactiveConns, m.CheckUp} {
		v.DeletePartialMatch(l)
	}
	m.CheckResults.DeletePartialMatch(l)
}

// ForgetService removes every series of a virtual service.
func (m *Metrics) ForgetService(service string) {
	l := prometheus.Labels{"service": service}
	for _, v := range []*prometheus.GaugeVec{m.Weight, m.ConfiguredWeight, m.Present, m.PoolState, m.ActiveConns, m.InactiveConns, m.CheckUp, m.QuorumUp, m.SorryActive} {
		v.DeletePartialMatch(l)
	}
	m.CheckResults.DeletePartialMatch(l)
}

// ForgetInstance removes the series of a VRRP instance.
func (m *Metrics) ForgetInstance(instance string) {
	m.VRRPState.DeletePartialMatch(prometheus.Labels{"instance": instance})
}

// B2F is 1 for true, 0 for false.
func B2F(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
