package app

import (
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tandemlb/tandem/backend/arpguard"
	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/backend/vip"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// Metrics are the daemon's Prometheus metrics, on a registry of their own.
type Metrics struct {
	Registry *prometheus.Registry

	healthy        prometheus.Gauge
	serving        prometheus.Gauge
	maintenance    prometheus.Gauge
	probes         *prometheus.CounterVec
	vipPresent     *prometheus.GaugeVec
	vipRepairs     *prometheus.CounterVec
	arpPresent     prometheus.Gauge
	arpOK          prometheus.Gauge
	arpRepairs     prometheus.Counter
	arpPackets     *prometheus.GaugeVec
	hbSent         *prometheus.CounterVec
	hbSendErrors   *prometheus.CounterVec
	hbReceived     *prometheus.CounterVec
	hbRejected     *prometheus.CounterVec
	dirRole        *prometheus.GaugeVec
	dirLastReply   *prometheus.GaugeVec
	dirWeight      *prometheus.GaugeVec
	dirActive      *prometheus.GaugeVec
	dirInactive    *prometheus.GaugeVec
	maintenanceEnd prometheus.Gauge
}

// NewMetrics registers every metric.
func NewMetrics() *Metrics {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	const ns = "tandem_backend"
	m := &Metrics{Registry: r}
	m.healthy = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "healthy", Help: "1 while the health probe says the application is healthy."})
	m.serving = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "serving", Help: "1 while the check endpoint says OK (healthy and not in maintenance)."})
	m.maintenance = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "maintenance", Help: "1 in maintenance (including while returning to service)."})
	m.maintenanceEnd = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "maintenance_since_seconds", Help: "Unix time of the last maintenance switch."})
	m.probes = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "health_probes_total", Help: "Health probes run, by result."}, []string{"result"})
	m.vipPresent = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "vip_present", Help: "1 when the VIP is on lo."}, []string{"vip"})
	m.vipRepairs = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "vip_repairs_total", Help: "Times a VIP removed by someone else was put back."}, []string{"vip"})
	m.arpPresent = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "arp_table_present", Help: "1 when the agent's nftables arp table exists."})
	m.arpOK = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "arp_guard_ok", Help: "1 when ARP suppression is exactly as configured (table and/or sysctls)."})
	m.arpRepairs = prometheus.NewCounter(prometheus.CounterOpts{Namespace: ns, Name: "arp_table_repairs_total", Help: "Times the arp table was put back after a flush, deletion or edit."})
	m.arpPackets = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "arp_rule_packets", Help: "Packets matched by each rule of the arp table (in: dropped requests for a VIP; out: rewritten senders)."}, []string{"chain", "vip"})
	m.hbSent = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "heartbeats_sent_total", Help: "Heartbeat reports sent, by director."}, []string{"director"})
	m.hbSendErrors = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "heartbeat_send_errors_total", Help: "Heartbeat reports that could not be sent, by director."}, []string{"director"})
	m.hbReceived = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "heartbeat_replies_total", Help: "Director replies accepted, by director."}, []string{"director"})
	m.hbRejected = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "heartbeat_replies_rejected_total", Help: "Datagrams dropped, by reason (mac, replay, stale, truncated, version, malformed, unknown_peer, ...)."}, []string{"reason"})
	m.dirRole = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "director_role", Help: "Director's VRRP role from its last reply: 0 unknown, 1 backup, 2 master, 3 fault."}, []string{"director"})
	m.dirLastReply = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "director_last_reply_seconds", Help: "Unix time of the director's last accepted reply."}, []string{"director"})
	m.dirWeight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "director_destination_weight", Help: "Weight of this server's destination in the director's IPVS."}, []string{"director", "service", "destination"})
	m.dirActive = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "director_destination_active_connections", Help: "Active connections to this server as the director's IPVS counts them."}, []string{"director", "service", "destination"})
	m.dirInactive = prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: ns, Name: "director_destination_inactive_connections", Help: "Inactive connections to this server as the director's IPVS counts them."}, []string{"director", "service", "destination"})
	for _, c := range m.Collectors() {
		r.MustRegister(c)
	}
	for _, reason := range []string{"truncated", "version", "mac", "stale", "replay", "malformed", "other", "unknown_peer"} {
		m.hbRejected.WithLabelValues(reason)
	}
	return m
}

// Collectors returns the agent's own collectors, by the name of their
// field (not the Go runtime's and the process's): every one is on
// Registry. A test that lists the agent's metric families gives each
// vector a child through them.
func (m *Metrics) Collectors() map[string]prometheus.Collector {
	return map[string]prometheus.Collector{
		"healthy": m.healthy, "serving": m.serving, "maintenance": m.maintenance, "maintenanceEnd": m.maintenanceEnd,
		"probes": m.probes, "vipPresent": m.vipPresent, "vipRepairs": m.vipRepairs,
		"arpPresent": m.arpPresent, "arpOK": m.arpOK, "arpRepairs": m.arpRepairs, "arpPackets": m.arpPackets,
		"hbSent": m.hbSent, "hbSendErrors": m.hbSendErrors, "hbReceived": m.hbReceived, "hbRejected": m.hbRejected,
		"dirRole": m.dirRole, "dirLastReply": m.dirLastReply, "dirWeight": m.dirWeight, "dirActive": m.dirActive, "dirInactive": m.dirInactive,
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *Metrics) vipCheck(st []vip.Status) {
	for _, s := range st {
		m.vipPresent.WithLabelValues(s.Addr.String()).Set(b2f(s.Present))
	}
}

func (m *Metrics) vipRepair(v netip.Addr) { m.vipRepairs.WithLabelValues(v.String()).Inc() }

func (m *Metrics) arpCheck(st arpguard.Status) {
	m.arpPresent.Set(b2f(st.TablePresent))
	ok := st.LastError == ""
	if st.Mode == "nftables" || st.Mode == "both" {
		ok = ok && st.TableOK
	}
	if st.Mode == "sysctl" || st.Mode == "both" {
		ok = ok && st.SysctlOK
	}
	m.arpOK.Set(b2f(ok))
	for _, c := range st.Counters {
		m.arpPackets.WithLabelValues(c.Chain, c.VIP.String()).Set(float64(c.Packets))
	}
}

func (m *Metrics) hbSentHook(t netip.AddrPort, _ hbproto.State, err error) {
	if err != nil {
		m.hbSendErrors.WithLabelValues(t.String()).Inc()
		return
	}
	m.hbSent.WithLabelValues(t.String()).Inc()
}

func (m *Metrics) hbReply(t netip.AddrPort, v maintenance.DirectorView) {
	d := t.String()
	m.hbReceived.WithLabelValues(d).Inc()
	m.dirRole.WithLabelValues(d).Set(float64(v.Role))
	m.dirLastReply.WithLabelValues(d).Set(float64(v.LastReply.UnixNano()) / 1e9)
	for _, ds := range v.Destinations {
		m.dirWeight.WithLabelValues(d, ds.Service, ds.Addr.String()).Set(float64(ds.Weight))
		m.dirActive.WithLabelValues(d, ds.Service, ds.Addr.String()).Set(float64(ds.ActiveConns))
		m.dirInactive.WithLabelValues(d, ds.Service, ds.Addr.String()).Set(float64(ds.InactiveConns))
	}
}

func (m *Metrics) hbReject(_ string, reason string) { m.hbRejected.WithLabelValues(reason).Inc() }
