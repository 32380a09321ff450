package metrics

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Namespace prefixes every metric name.
const Namespace = "tandem_director"

// Metrics are the director's metrics. The vectors are exported so that the
// application sets them directly; Forget* remove label sets that no longer
// exist after a reload. Handler serves them all.
type Metrics struct {
	// Registry holds the small families below (client_golang's vectors)
	// plus the Go and process collectors and the scrape-time VRRP and
	// fast-failover families. The large ones (the *Family fields, the IPVS
	// traffic) are not on it: Handler writes them itself, after it.
	Registry *prometheus.Registry

	// Up is 1 while the daemon runs; Info carries the version as a label.
	Info *prometheus.GaugeVec

	// VRRPState is the state of each instance: 0 init, 1 backup, 2 master,
	// 3 fault, 4 stop.
	VRRPState *prometheus.GaugeVec
	// VRRPTransitions counts state changes by instance and new state.
	VRRPTransitions *prometheus.CounterVec

	// Weight is the weight of each destination now (0 when absent).
	Weight *GaugeFamily
	// ConfiguredWeight is the weight from the configuration.
	ConfiguredWeight *GaugeFamily
	// Present is 1 while the destination is in the IPVS table.
	Present *GaugeFamily
	// PoolState is the pool state: 1 up, 2 down, 3 draining, 4 drained,
	// 5 maintenance (the heartbeat's numbering).
	PoolState *GaugeFamily
	// ActiveConns and InactiveConns are IPVS's counters, polled.
	ActiveConns   *GaugeFamily
	InactiveConns *GaugeFamily
	// CheckUp is each checker's verdict (1 up).
	CheckUp *GaugeFamily
	// CheckResults counts health-check attempts by result (success, failure).
	CheckResults *CounterFamily
	// QuorumUp is 1 while a service has its quorum; SorryActive 1 while its
	// sorry server is in.
	QuorumUp    *GaugeFamily
	SorryActive *GaugeFamily
	// ServiceFingerprint is 1 for each service's fingerprint (the label;
	// lvs.Fingerprint): one series a service, set by
	// SetServiceFingerprint.
	ServiceFingerprint *GaugeFamily

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

	// CheckDuration is the time of each health-check attempt, by service
	// and check type (HTTP_GET, TCP_CHECK…): not by real server, so that
	// its size is services × check types.
	CheckDuration *HistogramFamily
	// LastChange is when each destination entered its pool state (unix
	// seconds).
	LastChange *GaugeFamily

	// AgentLastSeen is when each agent's last accepted report arrived
	// (unix seconds), by the agent's real IP; AgentMaintenance is 1 while
	// that agent reports maintenance.
	AgentLastSeen    *GaugeFamily
	AgentMaintenance *GaugeFamily

	// ReloadLastSuccess is when the running configuration was loaded
	// (start or reload, unix seconds); ReloadSuccessful is 0 after a
	// failed reload, 1 after a successful one (and at start).
	ReloadLastSuccess prometheus.Gauge
	ReloadSuccessful  prometheus.Gauge
	// ConfigInfo is 1 for the hash of the running configuration's files.
	ConfigInfo *prometheus.GaugeVec
	// VirtualServersInfo is 1 for the hash of the running configuration's
	// virtual servers (what both directors of a pair must agree on).
	VirtualServersInfo *prometheus.GaugeVec

	// FastFailoverProbeInterval is the time between two probes received
	// from the peer director (fast_failover), within one session of it.
	FastFailoverProbeInterval prometheus.Histogram

	// BGPAnnouncements counts what BGP mode did on the speaker, by action:
	// announce, graceful_shutdown (announced again with 65535:0) or
	// withdraw.
	BGPAnnouncements *prometheus.CounterVec
	// BGPVIPAnnounced is 1 while a VIP's route is out (announced, or
	// shutting down with GRACEFUL_SHUTDOWN), 0 once withdrawn.
	BGPVIPAnnounced *prometheus.GaugeVec
	// BGPSessionUp is 1 while the BGP session with a peer is established.
	BGPSessionUp *prometheus.GaugeVec
	// BGPFingerprintAgree is a VIP's fingerprint gate (bgp.directors): 1
	// open, 0 while the directors announcing it have other fingerprints.
	BGPFingerprintAgree *prometheus.GaugeVec
	// BGPDraining is 1 while this director withdraws its VIPs on purpose
	// (drain --self, or a clean stop under way), 0 otherwise: no label,
	// its one series exists in BGP mode only (set at its start).
	BGPDraining *prometheus.GaugeVec

	// sources feed the families read at scrape time (scrapeCollector,
	// registered but not a field, and ipvsTraffic, the last of fast: see
	// SetVRRPSource).
	sources *sources
	// fast are the families Handler writes itself, in order: the tables
	// of the *Family fields, then the IPVS traffic (ipvsTraffic).
	fast []fastFamily
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
	fg := func(name, help string, labels ...string) *GaugeFamily {
		f := newGaugeFamily(prometheus.BuildFQName(Namespace, "", name), help, labels...)
		m.fast = append(m.fast, f.t)
		return f
	}
	fc := func(name, help string, labels ...string) *CounterFamily {
		f := newCounterFamily(prometheus.BuildFQName(Namespace, "", name), help, labels...)
		m.fast = append(m.fast, f.t)
		return f
	}
	m.Info = g("info", "Always 1; the version label is the daemon's version.", "version")
	m.VRRPState = g("vrrp_state", "VRRP instance state: 0 init, 1 backup, 2 master, 3 fault, 4 stop.", "vrrp_instance")
	m.VRRPTransitions = c("vrrp_transitions_total", "VRRP state changes, by instance and new state.", "vrrp_instance", "state")
	m.Weight = fg("destination_weight", "Weight of the destination in IPVS now (0 when absent).", "service", "rs")
	m.ConfiguredWeight = fg("destination_configured_weight", "Weight of the destination in the configuration.", "service", "rs")
	m.Present = fg("destination_present", "1 while the destination is in the IPVS table.", "service", "rs")
	m.PoolState = fg("destination_state", "Pool state: 1 up, 2 down, 3 draining, 4 drained, 5 maintenance.", "service", "rs")
	m.ActiveConns = fg("destination_active_connections", "Active connections to the destination (IPVS).", "service", "rs")
	m.InactiveConns = fg("destination_inactive_connections", "Inactive connections to the destination (IPVS).", "service", "rs")
	m.CheckUp = fg("check_up", "Verdict of each health checker: 1 up, 0 down.", "service", "rs", "check")
	m.CheckResults = fc("check_results_total", "Health-check attempts, by result (success, failure).", "service", "rs", "check", "result")
	m.QuorumUp = fg("service_quorum_up", "1 while the virtual service has its quorum.", "service")
	m.ServiceFingerprint = fg("ipvs_service_fingerprint_info", "Always 1; fingerprint identifies what picks the real server of a new flow of the service (scheduler, flags, destinations and weights): directors in BGP mode must agree.", "service", "fingerprint")
	m.SorryActive = fg("service_sorry_active", "1 while the sorry server of the service is in IPVS.", "service")
	m.Heartbeats = c("heartbeats_total", "Agent heartbeat datagrams, by result: accepted or the drop reason.", "result")
	m.HeartbeatReplies = c("heartbeat_replies_total", "Replies sent to agents, by result (ok, error).", "result")
	m.Agents = g("agents", "Agents heard from within the dead_after interval, by reported state.", "state")
	m.Reloads = c("reloads_total", "Configuration reloads, by result (ok, error).", "result")
	m.IPVSOps = c("ipvs_operations_total", "IPVS table operations, by kind and result (ok, error).", "op", "result")
	m.SyncDaemon = g("sync_daemon_running", "1 for each IPVS connection-sync daemon role running.", "role")
	m.BGPAnnouncements = c("bgp_announcements_total", "BGP mode: routes sent to the speaker, by action: announce, graceful_shutdown (65535:0 added) or withdraw.", "action")
	m.BGPVIPAnnounced = g("bgp_vip_announced", "BGP mode: 1 while the VIP's route is announced (with or without GRACEFUL_SHUTDOWN), 0 once withdrawn.", "vip")
	m.BGPSessionUp = g("bgp_session_up", "BGP mode: 1 while the BGP session with the peer is established.", "peer")
	m.BGPFingerprintAgree = g("bgp_fingerprint_agree", "BGP mode with bgp.directors: 1 while the VIP's fingerprint gate is open (this director's IPVS fingerprints of its services equal those of every director announcing it, or none is heard), 0 while they differ: a VIP not announced yet waits.", "vip")
	m.BGPDraining = g("bgp_draining", "BGP mode: 1 while this director withdraws its VIPs on purpose (drain --self, or a clean stop under way), 0 otherwise.")
	m.MailAlerts = c("mail_alerts_total", "E-mail alerts (smtp_alert), by result: sent, error or dropped.", "result")
	for _, res := range []string{"sent", "error", "dropped"} {
		m.MailAlerts.WithLabelValues(res)
	}
	for _, reason := range HeartbeatResults {
		m.Heartbeats.WithLabelValues(reason)
	}
	for _, res := range []string{"ok", "error"} {
		m.Reloads.WithLabelValues(res)
		m.HeartbeatReplies.WithLabelValues(res)
	}
	m.CheckDuration = newHistogramFamily(prometheus.BuildFQName(Namespace, "", "check_duration_seconds"),
		"Time of each health-check attempt, by virtual service and check type.", CheckBuckets, "service", "check")
	m.fast = append(m.fast, m.CheckDuration.t)
	m.LastChange = fg("destination_last_change_timestamp_seconds", "When the destination entered its pool state (unix seconds).", "service", "rs")
	m.AgentLastSeen = fg("agent_last_seen_timestamp_seconds", "When the agent's last accepted report arrived (unix seconds), by the agent's real IP.", "agent")
	m.AgentMaintenance = fg("agent_maintenance", "1 while the agent reports maintenance, by the agent's real IP.", "agent")
	m.ReloadLastSuccess = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "config_last_reload_success_timestamp_seconds",
		Help: "When the running configuration was loaded, at start or by a reload (unix seconds)."})
	m.ReloadSuccessful = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: Namespace, Name: "config_last_reload_successful",
		Help: "1 if the last configuration load (start or reload) succeeded, 0 if the last reload failed."})
	r.MustRegister(m.ReloadLastSuccess, m.ReloadSuccessful)
	m.ConfigInfo = g("config_info", "Always 1; hash is the first 12 hex digits of the SHA-256 of the running configuration's files.", "hash")
	m.VirtualServersInfo = g("config_virtual_servers_info", "Always 1; hash identifies the running configuration's virtual servers (not its per-director keys, format, comments or block order).", "hash")
	m.FastFailoverProbeInterval = prometheus.NewHistogram(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "fast_failover_probe_interval_seconds",
		Help:    "Time between two consecutive probes received from the peer director (fast_failover).",
		Buckets: ProbeIntervalBuckets,
	})
	r.MustRegister(m.FastFailoverProbeInterval)
	m.sources = &sources{}
	r.MustRegister(newScrapeCollector(m.sources))
	m.fast = append(m.fast, newIPVSTraffic(m.sources))
	return m
}

// HeartbeatResults are the values of Heartbeats' result label: accepted
// (the report was acted on), then the reasons a datagram is dropped.
var HeartbeatResults = []string{"accepted", "truncated", "version", "mac", "stale", "replay", "malformed", "other",
	"busy", "real_ip", "queue_full", "stray_full"}

// CheckBuckets are CheckDuration's buckets: a check takes from a
// millisecond (TCP on the LAN) to its connect_timeout (seconds).
var CheckBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// ProbeIntervalBuckets are FastFailoverProbeInterval's buckets: around the
// probe's interval (fast_failover interval, 50 ms by default, at least
// 10 ms) up to its detection time and the 1 s of a session not up.
var ProbeIntervalBuckets = []float64{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5}

// SetConfigHash makes hash the one series of ConfigInfo.
func (m *Metrics) SetConfigHash(hash string) {
	m.ConfigInfo.Reset()
	m.ConfigInfo.WithLabelValues(hash).Set(1)
}

// SetVirtualServersHash makes hash the one series of VirtualServersInfo.
func (m *Metrics) SetVirtualServersHash(hash string) {
	m.VirtualServersInfo.Reset()
	m.VirtualServersInfo.WithLabelValues(hash).Set(1)
}

// SetServiceFingerprint makes fingerprint the one series of service in
// ServiceFingerprint (nothing is written when it already is).
func (m *Metrics) SetServiceFingerprint(service, fingerprint string) {
	if _, ok := m.ServiceFingerprint.Existing(service, fingerprint); ok {
		return
	}
	m.ServiceFingerprint.DeletePartialMatch(prometheus.Labels{"service": service})
	m.ServiceFingerprint.WithLabelValues(service, fingerprint).Set(1)
}

// SetAgent records an accepted report of the agent at real IP agent.
func (m *Metrics) SetAgent(agent string, seen time.Time, maintenance bool) {
	m.AgentLastSeen.WithLabelValues(agent).Set(UnixSeconds(seen))
	m.AgentMaintenance.WithLabelValues(agent).Set(B2F(maintenance))
}

// ForgetAgent removes the series of an agent no longer in the table.
func (m *Metrics) ForgetAgent(agent string) {
	m.AgentLastSeen.DeleteLabelValues(agent)
	m.AgentMaintenance.DeleteLabelValues(agent)
}

// ForgetCheckType removes the check-duration series of one check type of
// a service (no real server of it has such a check any more).
func (m *Metrics) ForgetCheckType(service, check string) {
	m.CheckDuration.DeleteLabelValues(service, check)
}

// CheckObserver returns the function that records one attempt's duration
// of a check of type check in service. Take it when the checker starts:
// an attempt that ends after its service left records into a series no
// longer exposed, rather than bringing it back.
func (m *Metrics) CheckObserver(service, check string) func(time.Duration) {
	o := m.CheckDuration.WithLabelValues(service, check)
	return func(d time.Duration) { o.Observe(d.Seconds()) }
}

// ObserveProbeInterval records the time between two probes of the peer.
func (m *Metrics) ObserveProbeInterval(d time.Duration) {
	m.FastFailoverProbeInterval.Observe(d.Seconds())
}

// UnixSeconds is t as unix seconds with sub-second precision.
func UnixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// ForgetDestination removes every series of one destination (a real server
// or a sorry server that left the configuration).
func (m *Metrics) ForgetDestination(service, rs string) {
	l := prometheus.Labels{"service": service, "rs": rs}
	for _, v := range []*GaugeFamily{m.Weight, m.ConfiguredWeight, m.Present, m.PoolState, m.ActiveConns, m.InactiveConns, m.CheckUp, m.LastChange} {
		v.DeletePartialMatch(l)
	}
	m.CheckResults.DeletePartialMatch(l)
}

// ForgetService removes every series of a virtual service.
func (m *Metrics) ForgetService(service string) {
	l := prometheus.Labels{"service": service}
	for _, v := range []*GaugeFamily{m.Weight, m.ConfiguredWeight, m.Present, m.PoolState, m.ActiveConns, m.InactiveConns, m.CheckUp, m.QuorumUp, m.SorryActive, m.LastChange, m.ServiceFingerprint} {
		v.DeletePartialMatch(l)
	}
	m.CheckResults.DeletePartialMatch(l)
	m.CheckDuration.DeletePartialMatch(l)
}

// ForgetInstance removes the series of a VRRP instance.
func (m *Metrics) ForgetInstance(instance string) {
	m.VRRPState.DeletePartialMatch(prometheus.Labels{"vrrp_instance": instance})
}

// B2F is 1 for true, 0 for false.
func B2F(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// sources are the readers the scrape-time collector calls, set by the
// application once it runs (nil: the families are absent).
type sources struct {
	vrrp atomic.Pointer[func() []VRRPSample]
	ipvs atomic.Pointer[func() ([]IPVSServiceSample, error)]
	ff   atomic.Pointer[func() (FastFailoverSample, bool)]
	// ipvsMu makes concurrent scrapes read the kernel one at a time.
	ipvsMu sync.Mutex
}

// SetVRRPSource sets what the VRRP families are read from at each scrape:
// one sample per running instance. nil removes them.
func (m *Metrics) SetVRRPSource(f func() []VRRPSample) {
	if f == nil {
		m.sources.vrrp.Store(nil)
		return
	}
	m.sources.vrrp.Store(&f)
}

// SetIPVSSource sets what the IPVS traffic families are read from at each
// scrape (f reads the kernel; concurrent scrapes call it one at a time).
// nil removes them. An error is exposed as ipvs_stats_read_success 0,
// never as a failed scrape.
func (m *Metrics) SetIPVSSource(f func() ([]IPVSServiceSample, error)) {
	if f == nil {
		m.sources.ipvs.Store(nil)
		return
	}
	m.sources.ipvs.Store(&f)
}

// SetFastFailoverSource sets what the fast-failover families are read from
// at each scrape; f returns false while no watcher runs. nil removes them.
func (m *Metrics) SetFastFailoverSource(f func() (FastFailoverSample, bool)) {
	if f == nil {
		m.sources.ff.Store(nil)
		return
	}
	m.sources.ff.Store(&f)
}

// scrapeCollector exposes the small families read at scrape time: each
// VRRP instance's counters (vrrp.Status), the fast-failover watcher's
// counters. Nothing is polled for them: a scrape reads the sources, once.
// The IPVS traffic, also read at scrape time, is ipvsTraffic's.
type scrapeCollector struct {
	src *sources

	vrrpSent, vrrpReceived, vrrpSendErrors, vrrpDropped  *prometheus.Desc
	vrrpBecomeMaster, vrrpReleaseMaster                  *prometheus.Desc
	vrrpPrioZeroSent, vrrpPrioZeroReceived               *prometheus.Desc
	vrrpPriority, vrrpLastTransition                     *prometheus.Desc
	ffUp, ffSent, ffReceived, ffLost, ffDropped          *prometheus.Desc
	ffTakeovers, ffVetoes, ffVetoesExpired, ffSendErrors *prometheus.Desc
}

func newScrapeCollector(src *sources) *scrapeCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, "", name), help, labels, nil)
	}
	return &scrapeCollector{
		src:                  src,
		vrrpSent:             d("vrrp_adverts_sent_total", "VRRP adverts sent by the instance (one per destination).", "vrrp_instance"),
		vrrpReceived:         d("vrrp_adverts_received_total", "Valid VRRP adverts received for the instance's virtual router.", "vrrp_instance"),
		vrrpSendErrors:       d("vrrp_advert_send_errors_total", "VRRP adverts the instance failed to send.", "vrrp_instance"),
		vrrpDropped:          d("vrrp_adverts_dropped_total", "VRRP packets the instance's socket refused, by reason.", "vrrp_instance", "reason"),
		vrrpBecomeMaster:     d("vrrp_become_master_total", "Transitions of the instance to MASTER.", "vrrp_instance"),
		vrrpReleaseMaster:    d("vrrp_release_master_total", "Transitions of the instance from MASTER to another state.", "vrrp_instance"),
		vrrpPrioZeroSent:     d("vrrp_priority_zero_sent_total", "VRRP adverts with priority 0 (master leaving) the instance sent.", "vrrp_instance"),
		vrrpPrioZeroReceived: d("vrrp_priority_zero_received_total", "Valid VRRP adverts with priority 0 (master leaving) the instance received.", "vrrp_instance"),
		vrrpPriority:         d("vrrp_priority", "Effective VRRP priority the instance advertises (after tracking).", "vrrp_instance"),
		vrrpLastTransition:   d("vrrp_last_transition_timestamp_seconds", "When the instance last changed state (unix seconds).", "vrrp_instance"),
		ffUp:                 d("fast_failover_session_up", "1 while the fast-failover probe session with the peer director is up."),
		ffSent:               d("fast_failover_probes_sent_total", "Fast-failover probes sent to the peer director."),
		ffReceived:           d("fast_failover_probes_received_total", "Authenticated fast-failover probes received from the peer director."),
		ffLost:               d("fast_failover_probes_lost_total", "Probes the peer director sent that never reached the session (gaps in its sequence numbers)."),
		ffSendErrors:         d("fast_failover_probe_send_errors_total", "Fast-failover probes that could not be sent."),
		ffDropped:            d("fast_failover_probes_dropped_total", "Datagrams the fast-failover probe socket refused, by reason.", "reason"),
		ffTakeovers:          d("fast_failover_takeovers_total", "Takeovers the fast-failover probe triggered (PeerDead injected into a VRRP instance)."),
		ffVetoes:             d("fast_failover_vetoes_total", "Takeovers the agents vetoed (witnesses saw the master alive)."),
		ffVetoesExpired:      d("fast_failover_vetoes_expired_total", "Witness vetoes lifted after witness_max_veto."),
	}
}

// Describe implements prometheus.Collector.
func (c *scrapeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.vrrpSent, c.vrrpReceived, c.vrrpSendErrors, c.vrrpDropped, c.vrrpBecomeMaster, c.vrrpReleaseMaster,
		c.vrrpPrioZeroSent, c.vrrpPrioZeroReceived, c.vrrpPriority, c.vrrpLastTransition,
		c.ffUp, c.ffSent, c.ffReceived, c.ffLost, c.ffSendErrors, c.ffDropped, c.ffTakeovers, c.ffVetoes, c.ffVetoesExpired,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *scrapeCollector) Collect(ch chan<- prometheus.Metric) {
	if f := c.src.vrrp.Load(); f != nil {
		c.collectVRRP(ch, (*f)())
	}
	if f := c.src.ff.Load(); f != nil {
		if s, ok := (*f)(); ok {
			c.collectFastFailover(ch, s)
		}
	}
}

func counter(ch chan<- prometheus.Metric, d *prometheus.Desc, v uint64, labels ...string) {
	ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
}

func (c *scrapeCollector) collectVRRP(ch chan<- prometheus.Metric, samples []VRRPSample) {
	for i := range samples {
		s := &samples[i]
		in := s.Instance
		counter(ch, c.vrrpSent, s.AdvertsSent, in)
		counter(ch, c.vrrpReceived, s.AdvertsReceived, in)
		counter(ch, c.vrrpSendErrors, s.SendErrors, in)
		for _, r := range VRRPDropReasons {
			counter(ch, c.vrrpDropped, s.Dropped[r], in, r)
		}
		counter(ch, c.vrrpBecomeMaster, s.BecomeMaster, in)
		counter(ch, c.vrrpReleaseMaster, s.ReleaseMaster, in)
		counter(ch, c.vrrpPrioZeroSent, s.PriorityZeroSent, in)
		counter(ch, c.vrrpPrioZeroReceived, s.PriorityZeroReceived, in)
		ch <- prometheus.MustNewConstMetric(c.vrrpPriority, prometheus.GaugeValue, float64(s.Priority), in)
		if !s.LastTransition.IsZero() {
			ch <- prometheus.MustNewConstMetric(c.vrrpLastTransition, prometheus.GaugeValue, UnixSeconds(s.LastTransition), in)
		}
	}
}

func (c *scrapeCollector) collectFastFailover(ch chan<- prometheus.Metric, s FastFailoverSample) {
	ch <- prometheus.MustNewConstMetric(c.ffUp, prometheus.GaugeValue, B2F(s.SessionUp))
	counter(ch, c.ffSent, s.Sent)
	counter(ch, c.ffReceived, s.Received)
	counter(ch, c.ffLost, s.Lost)
	counter(ch, c.ffSendErrors, s.SendErrors)
	for _, r := range ProbeDropReasons {
		counter(ch, c.ffDropped, s.Dropped[r], r)
	}
	counter(ch, c.ffTakeovers, s.Takeovers)
	counter(ch, c.ffVetoes, s.Vetoes)
	counter(ch, c.ffVetoesExpired, s.VetoesExpired)
}

// ipvsTraffic is the IPVS traffic families: the kernel's counters of the
// configuration's services and their destinations, read once per scrape
// (SetIPVSSource), and whether and how fast that read went. Handler
// writes them itself (up to 3 series per destination: 30,000 at the
// design size); Collect gives the same through client_golang.
type ipvsTraffic struct {
	src                            *sources
	readOK, readSeconds            family
	svcConns, svcPackets, svcBytes family
	dstConns, dstPackets, dstBytes family
}

// family is a family's definition and its client_golang descriptor
// (whose labels are in the exposition's order, meta.labels).
type family struct {
	meta
	desc *prometheus.Desc
}

func newIPVSTraffic(src *sources) *ipvsTraffic {
	d := func(name, help string, k kind, labels ...string) family {
		m := newMeta(prometheus.BuildFQName(Namespace, "", name), help, k, labels)
		return family{m, prometheus.NewDesc(m.name, help, m.labels, nil)}
	}
	g, c := kindGauge, kindCounter
	return &ipvsTraffic{
		src:         src,
		readOK:      d("ipvs_stats_read_success", "1 if this scrape's read of the IPVS counters succeeded.", g),
		readSeconds: d("ipvs_stats_read_duration_seconds", "Time this scrape's read of the IPVS counters took.", g),
		svcConns:    d("ipvs_service_connections_total", "Connections IPVS scheduled for the virtual service.", c, "service"),
		svcPackets:  d("ipvs_service_packets_total", "Packets IPVS forwarded for the virtual service, by direction (out: NAT only).", c, "service", "direction"),
		svcBytes:    d("ipvs_service_bytes_total", "Bytes IPVS forwarded for the virtual service, by direction (out: NAT only).", c, "service", "direction"),
		dstConns:    d("ipvs_destination_connections_total", "Connections IPVS scheduled to the destination.", c, "service", "rs"),
		dstPackets:  d("ipvs_destination_packets_total", "Packets IPVS forwarded to and from the destination, by direction (out: NAT only).", c, "service", "rs", "direction"),
		dstBytes:    d("ipvs_destination_bytes_total", "Bytes IPVS forwarded to and from the destination, by direction (out: NAT only).", c, "service", "rs", "direction"),
	}
}

// ipvsRead is one scrape's read of the kernel's counters.
type ipvsRead struct {
	c    *ipvsTraffic
	svcs []IPVSServiceSample
	err  error
	took time.Duration
	// none: no source, the families are absent.
	none bool
}

// read reads the source, one scrape at a time.
func (c *ipvsTraffic) read() *ipvsRead {
	f := c.src.ipvs.Load()
	if f == nil {
		return &ipvsRead{c: c, none: true}
	}
	c.src.ipvsMu.Lock()
	defer c.src.ipvsMu.Unlock()
	start := time.Now()
	svcs, err := (*f)()
	return &ipvsRead{c: c, svcs: svcs, err: err, took: time.Since(start)}
}

func (c *ipvsTraffic) snapshot() textSnapshot { return c.read() }

// Describe implements prometheus.Collector.
func (c *ipvsTraffic) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range []*family{&c.readOK, &c.readSeconds, &c.svcConns, &c.svcPackets, &c.svcBytes, &c.dstConns, &c.dstPackets, &c.dstBytes} {
		ch <- f.desc
	}
}

// Collect implements prometheus.Collector: a read of its own, the same
// series as writeText. The label values go in the exposition's order
// (direction, rs, service).
func (c *ipvsTraffic) Collect(ch chan<- prometheus.Metric) {
	r := c.read()
	if r.none {
		return
	}
	ch <- prometheus.MustNewConstMetric(c.readOK.desc, prometheus.GaugeValue, B2F(r.err == nil))
	ch <- prometheus.MustNewConstMetric(c.readSeconds.desc, prometheus.GaugeValue, r.took.Seconds())
	if r.err != nil {
		return
	}
	valid := func(s string) string { return strings.ToValidUTF8(s, "\uFFFD") } // as writeText writes them
	for i := range r.svcs {
		s := r.svcs[i]
		s.Service = valid(s.Service)
		t := &s.Traffic
		counter(ch, c.svcConns.desc, t.Conns, s.Service)
		counter(ch, c.svcPackets.desc, t.PktsIn, "in", s.Service)
		counter(ch, c.svcBytes.desc, t.BytesIn, "in", s.Service)
		if t.Out {
			counter(ch, c.svcPackets.desc, t.PktsOut, "out", s.Service)
			counter(ch, c.svcBytes.desc, t.BytesOut, "out", s.Service)
		}
		for j := range s.Dests {
			d := s.Dests[j]
			d.RS = valid(d.RS)
			t := &d.Traffic
			counter(ch, c.dstConns.desc, t.Conns, d.RS, s.Service)
			counter(ch, c.dstPackets.desc, t.PktsIn, "in", d.RS, s.Service)
			counter(ch, c.dstBytes.desc, t.BytesIn, "in", d.RS, s.Service)
			if t.Out {
				counter(ch, c.dstPackets.desc, t.PktsOut, "out", d.RS, s.Service)
				counter(ch, c.dstBytes.desc, t.BytesOut, "out", d.RS, s.Service)
			}
		}
	}
}

// writeText writes the families of the read: a family without a series
// is left out, as client_golang leaves it out.
func (r *ipvsRead) writeText(w *textWriter) {
	if r.none {
		return
	}
	c := r.c
	w.b = append(w.b, c.readOK.head...)
	w.b = append(w.b, c.readOK.name...)
	w.b = append(w.b, ' ')
	w.b = appendFloat(w.b, B2F(r.err == nil))
	w.b = append(w.b, '\n')
	w.b = append(w.b, c.readSeconds.head...)
	w.b = append(w.b, c.readSeconds.name...)
	w.b = append(w.b, ' ')
	w.b = appendFloat(w.b, r.took.Seconds())
	w.b = append(w.b, '\n')
	if r.err != nil || len(r.svcs) == 0 {
		return
	}
	// Each service's and destination's labels, escaped once for the
	// three families that carry them: `service="…"} ` and
	// `rs="…",service="…"} `.
	nSvc, nDst := 0, 0
	for i := range r.svcs {
		s := &r.svcs[i]
		nSvc += len(s.Service) + 16
		for j := range s.Dests {
			nDst += len(s.Dests[j].RS) + len(s.Service) + 24
		}
	}
	svcText, dstText := make([]byte, 0, nSvc), make([]byte, 0, nDst)
	svcEnds := make([]int, len(r.svcs))
	dstEnds := make([]int, 0, nDst/24)
	for i := range r.svcs {
		s := &r.svcs[i]
		start := len(svcText)
		svcText = append(svcText, `service="`...)
		svcText = appendLabelValue(svcText, s.Service)
		svcText = append(svcText, `"} `...)
		svcEnds[i] = len(svcText)
		for j := range s.Dests {
			dstText = append(dstText, `rs="`...)
			dstText = appendLabelValue(dstText, s.Dests[j].RS)
			dstText = append(dstText, `",`...)
			dstText = append(dstText, svcText[start:]...)
			dstEnds = append(dstEnds, len(dstText))
		}
	}
	svcs := labelTexts{svcText, svcEnds}
	dsts := labelTexts{dstText, dstEnds}
	traffic := func(sel func(*Traffic) uint64) func(int, int) uint64 {
		return func(i, j int) uint64 {
			if j < 0 {
				return sel(&r.svcs[i].Traffic)
			}
			return sel(&r.svcs[i].Dests[j].Traffic)
		}
	}
	conns := traffic(func(t *Traffic) uint64 { return t.Conns })
	pktsIn, pktsOut := traffic(func(t *Traffic) uint64 { return t.PktsIn }), traffic(func(t *Traffic) uint64 { return t.PktsOut })
	bytesIn, bytesOut := traffic(func(t *Traffic) uint64 { return t.BytesIn }), traffic(func(t *Traffic) uint64 { return t.BytesOut })
	r.write(w, &c.svcConns, svcs, false, conns, nil)
	r.write(w, &c.svcPackets, svcs, false, pktsIn, pktsOut)
	r.write(w, &c.svcBytes, svcs, false, bytesIn, bytesOut)
	if len(dstEnds) == 0 {
		return
	}
	r.write(w, &c.dstConns, dsts, true, conns, nil)
	r.write(w, &c.dstPackets, dsts, true, pktsIn, pktsOut)
	r.write(w, &c.dstBytes, dsts, true, bytesIn, bytesOut)
}

// labelTexts are label texts one after another, text k up to ends[k].
type labelTexts struct {
	text []byte
	ends []int
}

// write writes one family: per service (dests false) or per destination,
// in's value, and out's where the kernel sees that direction (Traffic.Out);
// with out nil, the family has no direction label.
func (r *ipvsRead) write(w *textWriter, f *family, lt labelTexts, dests bool, in, out func(i, j int) uint64) {
	w.b = append(w.b, f.head...)
	k, start := 0, 0
	one := func(i, j int, t *Traffic) {
		text := lt.text[start:lt.ends[k]]
		start = lt.ends[k]
		k++
		if out == nil {
			w.b = appendSample(w.b, f.name, "", text, in(i, j))
		} else {
			w.b = appendSample(w.b, f.name, "in", text, in(i, j))
			if t.Out {
				w.b = appendSample(w.b, f.name, "out", text, out(i, j))
			}
		}
		w.maybeFlush()
	}
	for i := range r.svcs {
		if w.failed() {
			return
		}
		s := &r.svcs[i]
		if !dests {
			one(i, -1, &s.Traffic)
			continue
		}
		for j := range s.Dests {
			one(i, j, &s.Dests[j].Traffic)
		}
	}
}

// appendSample appends `name{direction="…",labels v`, the direction label
// unless empty (labels is the rest of them, and the closing brace).
func appendSample(b []byte, name, direction string, labels []byte, v uint64) []byte {
	b = append(b, name...)
	b = append(b, '{')
	if direction != "" {
		b = append(b, `direction="`...)
		b = append(b, direction...)
		b = append(b, `",`...)
	}
	b = append(b, labels...)
	b = appendUint(b, v)
	return append(b, '\n')
}
