package metrics

import (
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

	// CheckDuration is the time of each health-check attempt, by service
	// and check type (HTTP_GET, TCP_CHECK…): not by real server, so that
	// its size is services × check types.
	CheckDuration *prometheus.HistogramVec
	// LastChange is when each destination entered its pool state (unix
	// seconds).
	LastChange *prometheus.GaugeVec

	// AgentLastSeen is when each agent's last accepted report arrived
	// (unix seconds), by the agent's real IP; AgentMaintenance is 1 while
	// that agent reports maintenance.
	AgentLastSeen    *prometheus.GaugeVec
	AgentMaintenance *prometheus.GaugeVec

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

	// sources feed the families read at scrape time (scrapeCollector,
	// registered but not a field: see SetVRRPSource).
	sources *sources
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
	m.VRRPState = g("vrrp_state", "VRRP instance state: 0 init, 1 backup, 2 master, 3 fault, 4 stop.", "vrrp_instance")
	m.VRRPTransitions = c("vrrp_transitions_total", "VRRP state changes, by instance and new state.", "vrrp_instance", "state")
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
	for _, reason := range HeartbeatResults {
		m.Heartbeats.WithLabelValues(reason)
	}
	for _, res := range []string{"ok", "error"} {
		m.Reloads.WithLabelValues(res)
		m.HeartbeatReplies.WithLabelValues(res)
	}
	m.CheckDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Name: "check_duration_seconds",
		Help:    "Time of each health-check attempt, by virtual service and check type.",
		Buckets: CheckBuckets,
	}, []string{"service", "check"})
	r.MustRegister(m.CheckDuration)
	m.LastChange = g("destination_last_change_timestamp_seconds", "When the destination entered its pool state (unix seconds).", "service", "rs")
	m.AgentLastSeen = g("agent_last_seen_timestamp_seconds", "When the agent's last accepted report arrived (unix seconds), by the agent's real IP.", "agent")
	m.AgentMaintenance = g("agent_maintenance", "1 while the agent reports maintenance, by the agent's real IP.", "agent")
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
	for _, v := range []*prometheus.GaugeVec{m.Weight, m.ConfiguredWeight, m.Present, m.PoolState, m.ActiveConns, m.InactiveConns, m.CheckUp, m.LastChange} {
		v.DeletePartialMatch(l)
	}
	m.CheckResults.DeletePartialMatch(l)
}

// ForgetService removes every series of a virtual service.
func (m *Metrics) ForgetService(service string) {
	l := prometheus.Labels{"service": service}
	for _, v := range []*prometheus.GaugeVec{m.Weight, m.ConfiguredWeight, m.Present, m.PoolState, m.ActiveConns, m.InactiveConns, m.CheckUp, m.QuorumUp, m.SorryActive, m.LastChange} {
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

// scrapeCollector exposes the families read at scrape time: each VRRP
// instance's counters (vrrp.Status), the kernel's IPVS traffic counters,
// the fast-failover watcher's counters. Nothing is polled for them: a
// scrape reads the sources, once.
type scrapeCollector struct {
	src *sources

	vrrpSent, vrrpReceived, vrrpSendErrors, vrrpDropped  *prometheus.Desc
	vrrpBecomeMaster, vrrpReleaseMaster                  *prometheus.Desc
	vrrpPrioZeroSent, vrrpPrioZeroReceived               *prometheus.Desc
	vrrpPriority, vrrpLastTransition                     *prometheus.Desc
	svcConns, svcPackets, svcBytes                       *prometheus.Desc
	dstConns, dstPackets, dstBytes                       *prometheus.Desc
	ipvsReadOK, ipvsReadSeconds                          *prometheus.Desc
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
		svcConns:             d("ipvs_service_connections_total", "Connections IPVS scheduled for the virtual service.", "service"),
		svcPackets:           d("ipvs_service_packets_total", "Packets IPVS forwarded for the virtual service, by direction (out: NAT only).", "service", "direction"),
		svcBytes:             d("ipvs_service_bytes_total", "Bytes IPVS forwarded for the virtual service, by direction (out: NAT only).", "service", "direction"),
		dstConns:             d("ipvs_destination_connections_total", "Connections IPVS scheduled to the destination.", "service", "rs"),
		dstPackets:           d("ipvs_destination_packets_total", "Packets IPVS forwarded to and from the destination, by direction (out: NAT only).", "service", "rs", "direction"),
		dstBytes:             d("ipvs_destination_bytes_total", "Bytes IPVS forwarded to and from the destination, by direction (out: NAT only).", "service", "rs", "direction"),
		ipvsReadOK:           d("ipvs_stats_read_success", "1 if this scrape's read of the IPVS counters succeeded."),
		ipvsReadSeconds:      d("ipvs_stats_read_duration_seconds", "Time this scrape's read of the IPVS counters took."),
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
		c.svcConns, c.svcPackets, c.svcBytes, c.dstConns, c.dstPackets, c.dstBytes, c.ipvsReadOK, c.ipvsReadSeconds,
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
	if f := c.src.ipvs.Load(); f != nil {
		c.src.ipvsMu.Lock()
		start := time.Now()
		svcs, err := (*f)()
		took := time.Since(start)
		c.src.ipvsMu.Unlock()
		ch <- prometheus.MustNewConstMetric(c.ipvsReadOK, prometheus.GaugeValue, B2F(err == nil))
		ch <- prometheus.MustNewConstMetric(c.ipvsReadSeconds, prometheus.GaugeValue, took.Seconds())
		if err == nil {
			c.collectIPVS(ch, svcs)
		}
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

func (c *scrapeCollector) collectIPVS(ch chan<- prometheus.Metric, svcs []IPVSServiceSample) {
	for i := range svcs {
		s := &svcs[i]
		t := &s.Traffic
		counter(ch, c.svcConns, t.Conns, s.Service)
		counter(ch, c.svcPackets, t.PktsIn, s.Service, "in")
		counter(ch, c.svcBytes, t.BytesIn, s.Service, "in")
		if t.Out {
			counter(ch, c.svcPackets, t.PktsOut, s.Service, "out")
			counter(ch, c.svcBytes, t.BytesOut, s.Service, "out")
		}
		for j := range s.Dests {
			d := &s.Dests[j]
			t := &d.Traffic
			counter(ch, c.dstConns, t.Conns, s.Service, d.RS)
			counter(ch, c.dstPackets, t.PktsIn, s.Service, d.RS, "in")
			counter(ch, c.dstBytes, t.BytesIn, s.Service, d.RS, "in")
			if t.Out {
				counter(ch, c.dstPackets, t.PktsOut, s.Service, d.RS, "out")
				counter(ch, c.dstBytes, t.BytesOut, s.Service, d.RS, "out")
			}
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
