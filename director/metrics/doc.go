// Package metrics holds tandem-director's Prometheus metrics and serves
// them (Handler), with no global state. Every name starts with tandem_director_
// (Namespace). Label names are the log keys of shared/logging: service
// ("TCP 192.0.2.100:80", "FWM 1"), rs ("192.0.2.101:80": a real or sorry
// server), vrrp_instance (a vrrp_instance name; not "instance",
// which Prometheus gives the scraped target), agent (an agent's real IP).
//
// Most families are vectors the application sets when something happens.
// Those that mirror a counter kept elsewhere are read at scrape time
// (scrapeCollector, ipvsTraffic), from the sources the application sets
// (SetVRRPSource, SetIPVSSource, SetFastFailoverSource): nothing polls for
// them, and a scrape without a source simply lacks them (SetExampleSources
// gives each one made-up series, for what lists the families).
//
// # Exposition
//
// Handler serves /metrics. The small families are client_golang's, on
// Registry (with the Go and process collectors): gathered and encoded by
// client_golang. The large ones (GaugeFamily, CounterFamily,
// HistogramFamily: per destination, per check, per agent; and the IPVS
// traffic) are not on Registry: Handler writes them itself, after the
// registry's, from each series' text built once per change of the
// family, at about 70 ns a series instead of client_golang's 3 µs. At
// the design size below (105,000 series, 10 MiB of text) a scrape costs
// about 10 ms, 25 ms gzipped (BenchmarkScrape1000x10 in director/app).
// The answer is the text format 0.0.4 whatever the Accept header,
// gzipped at gzip's fastest level when the request accepts gzip (the
// text compresses 25-fold at any level, in a quarter of the default
// level's time). A scrape takes what it writes first (the registry
// gathered, each family's list of series copied under its read lock, the
// kernel's counters read), then writes holding no lock: the heartbeat
// path and the main loop, which set these families, never wait for a
// slow scraper. The large families' series come in the order they were
// created (memory order), not sorted: the format asks for no order. Each
// family is also a prometheus.Collector, for what lists or compares the
// families through client_golang (the tests, e2e/monitoring).
//
// # Cardinality
//
// The design size is S = 1,000 virtual services × D = 10 destinations (so
// 10,000 destinations), I VRRP instances, C check types per service (at
// most 9, usually 1), A agents (the configured real servers' IPs, plus at
// most 4,096 others: the agent table's cap). Bounds per family:
//
//	family                                          labels                      series
//	info                                            version                     1
//	config_info                                     hash                        1
//	config_virtual_servers_info                     hash                        1
//	config_last_reload_success_timestamp_seconds    -                           1
//	config_last_reload_successful                   -                           1
//	reloads_total                                   result (ok, error)          2
//	vrrp_state                                      vrrp_instance                    I
//	vrrp_transitions_total                          vrrp_instance, state             5 I
//	vrrp_priority                                   vrrp_instance                    I
//	vrrp_last_transition_timestamp_seconds          vrrp_instance                    I
//	vrrp_adverts_sent_total                         vrrp_instance                    I
//	vrrp_adverts_received_total                     vrrp_instance                    I
//	vrrp_advert_send_errors_total                   vrrp_instance                    I
//	vrrp_adverts_dropped_total                      vrrp_instance, reason            12 I (VRRPDropReasons)
//	vrrp_become_master_total                        vrrp_instance                    I
//	vrrp_release_master_total                       vrrp_instance                    I
//	vrrp_priority_zero_sent_total                   vrrp_instance                    I
//	vrrp_priority_zero_received_total               vrrp_instance                    I
//	destination_weight                              service, rs                 S × D
//	destination_configured_weight                   service, rs                 S × D
//	destination_present                             service, rs                 S × D
//	destination_state                               service, rs                 S × D
//	destination_last_change_timestamp_seconds       service, rs                 S × D
//	destination_active_connections                  service, rs                 S × D
//	destination_inactive_connections                service, rs                 S × D
//	service_quorum_up                               service                     S
//	service_sorry_active                            service                     S
//	ipvs_service_fingerprint_info                   service, fingerprint        S (one a service)
//	ipvs_service_connections_total                  service                     S
//	ipvs_service_packets_total                      service, direction          S (2 S with NAT)
//	ipvs_service_bytes_total                        service, direction          S (2 S with NAT)
//	ipvs_destination_connections_total              service, rs                 S × D
//	ipvs_destination_packets_total                  service, rs, direction      S × D (2 S × D with NAT)
//	ipvs_destination_bytes_total                    service, rs, direction      S × D (2 S × D with NAT)
//	ipvs_stats_read_success                         -                           1
//	ipvs_stats_read_duration_seconds                -                           1
//	ipvs_operations_total                           op, result                  2 × the op kinds
//	sync_daemon_running                             role                        2
//	check_up                                        service, rs, check          the configured checks
//	check_results_total                             service, rs, check, result  2 × the configured checks
//	check_duration_seconds (histogram)              service, check              S × C × 16 (13 buckets)
//	heartbeats_total                                result                      12 (HeartbeatResults)
//	heartbeat_replies_total                         result                      2
//	agents                                          state                       4
//	agent_last_seen_timestamp_seconds               agent                       A
//	agent_maintenance                               agent                       A
//	fast_failover_session_up                        -                           1
//	fast_failover_probes_sent_total                 -                           1
//	fast_failover_probes_received_total             -                           1
//	fast_failover_probes_lost_total                 -                           1
//	fast_failover_probe_send_errors_total           -                           1
//	fast_failover_probes_dropped_total              reason                      10 (ProbeDropReasons)
//	fast_failover_takeovers_total                   -                           1
//	fast_failover_vetoes_total                      -                           1
//	fast_failover_vetoes_expired_total              -                           1
//	fast_failover_probe_interval_seconds (histogram) -                          15 (12 buckets)
//	mail_alerts_total                               result                      3
//
// # What each family means
//
// VRRP (per instance). vrrp_state is 0 init, 1 backup, 2 master, 3
// fault, 4 stop. The counters below are the running driver's (vrrp.Status)
// and start again from 0 when the instance restarts (a reload that
// restarts it, a failed instance started again): rate() and increase()
// handle that. vrrp_adverts_sent_total counts one advert per destination
// (unicast peers); vrrp_adverts_received_total the valid adverts for the
// instance's virtual router; vrrp_adverts_dropped_total the packets its
// socket refused, by reason: ttl, authentication (the VRRPv2 password or
// auth type), version, interval (VRRPv2 advert_int), addresses (another
// VIP list), malformed, interface, own_advert, other_vrid (another router
// on the link: normal, every instance's socket sees every advert),
// unicast_source (not a unicast_peer), queue_full, other. become_master and
// release_master count the transitions to and from MASTER (keepalived's
// become_master and release_master); priority_zero_* the adverts of
// priority 0 (a master leaving). vrrp_priority is the effective priority
// (after vrrp_script, track_interface, track_file weights).
//
// Destinations (per service and real or sorry server). The weight, state
// (1 up, 2 down, 3 draining, 4 drained, 5 maintenance), its last change
// (unix seconds) and the connection gauges; the connection gauges are the
// main loop's last poll of IPVS.
//
// IPVS traffic. The kernel's counters (ipvsadm -Ln --stats) of the
// configuration's services and their destinations in the kernel, read from
// the kernel at each scrape on a handle of its own: connections scheduled,
// packets and bytes. direction="in" is client to server; direction="out"
// (server to client) exists only where the kernel sees it, for NAT
// destinations (and their services): in direct routing and tunnelling
// the replies bypass the director. A counter starts again from 0 when the
// kernel entry is re-created. Every counter is read 64 bits wide (the
// kernel's IPVS_*_ATTR_STATS64, lvs.ReadTraffic). ipvs_stats_read_success is 0 when the read
// failed (the traffic families are then absent from that scrape);
// ipvs_stats_read_duration_seconds is what the read took (a dump of 10,000
// destinations is not free).
//
// Checks. check_up and check_results_total per checker (rs and check, the
// checker's name: HTTP_GET, HTTP_GET#2); check_duration_seconds is the
// time of each attempt by service and check type (not per real server, so
// that it stays S × C).
//
// Agents. heartbeats_total counts every datagram on the heartbeat socket
// once, by what became of it: accepted (the report was acted on), or the
// reason it was dropped: truncated, version, mac, stale, replay,
// malformed, other, real_ip (a report for another address), busy (the
// listener's workers are behind), queue_full (the main loop is behind),
// stray_full (the table of agents that are no real server is full). agents
// counts the agents heard within dead_after by the state they report (and
// silent ones); agent_last_seen_timestamp_seconds and agent_maintenance are
// per agent, kept while the agent is in the table (10 minutes after its
// last report).
//
// Fast failover (fast_failover). Read from the running watcher
// (peerwatch.Status), absent without one; its counters start again from 0
// when a reload replaces the watcher. probes_lost_total counts the gaps in
// the peer's sequence numbers; probe_interval_seconds is the time between
// two probes received (compare it with the detection time, interval ×
// multiplier). The probe has no echo, so a round-trip time cannot be
// measured.
//
// Configuration. config_info's hash is the first 12 hex digits of the
// SHA-256 of the configuration's files (the main file then its includes,
// in the order read, each with its length): two directors running the same
// files have the same hash. config_last_reload_* follow Prometheus'
// own: the time of the last successful load (start or reload) and whether
// the last reload succeeded. config_virtual_servers_info's hash covers the
// virtual servers only (director/app's virtualServersHash), not what is
// each director's own (priority, state, unicast_src_ip, router_id), the
// format, comments or the order of the blocks: the two directors of a
// pair have the same one when their virtual servers agree.
//
// Maglev (BGP mode). ipvs_service_fingerprint_info has one series a
// service, its fingerprint label the 16 hex digits of lvs.Fingerprint of
// what the director asks IPVS for (scheduler, flags, destinations with
// their weights): it changes with a weight. Directors announcing the same
// VIP must show the same fingerprint for a service with the mh scheduler,
// or a flow that ECMP moves between them may land on another real server:
// count(count by (service, fingerprint) (...)) by (service) > 1 finds the
// services where they differ.
package metrics
