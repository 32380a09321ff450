package config

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MarshalNative writes c as a native YAML file (what `tandem-director
// show-config` prints; the migration path from keepalived.conf). Settings
// equal to their native default are left out, except the ones that identify
// an element or that an operator always wants to see (name, interface,
// virtual_router_id, state, priority, advert_int, addresses, protocol,
// lvs_sched, lvs_method, delay_loop, weight, check type). Reading the output
// with ParseNative gives back a model equal to c, positions aside.
//
// c is not validated; MarshalNative only fails on a nil Config.
func MarshalNative(c *Config) ([]byte, error) {
	if c == nil {
		return nil, errors.New("config: MarshalNative of a nil Config")
	}
	root := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	root.int("version", NativeVersion)
	if c.Node != "" {
		root.str("node", c.Node)
	}
	def := Default()
	if !equalIgnoringPos(c.Notification, def.Notification) {
		n, d := c.Notification, def.Notification
		m := root.sub("notification")
		if len(n.Email) > 0 {
			s := m.seq("email")
			for _, e := range n.Email {
				s.n.Content = append(s.n.Content, strNode(e))
			}
		}
		m.strIf("from", n.From, d.From)
		m.strIf("smtp_server", n.SMTPServer, d.SMTPServer)
		m.durIf("smtp_connect_timeout", n.SMTPConnectTimeout, d.SMTPConnectTimeout)
		m.boolIf("no_email_faults", n.NoEmailFaults, d.NoEmailFaults)
	}
	if !equalIgnoringPos(c.Logging, def.Logging) {
		l, d := c.Logging, def.Logging
		m := root.sub("logging")
		m.strIf("format", l.Format, d.Format)
		m.strIf("level", l.Level, d.Level)
		m.boolIf("syslog", l.Syslog, d.Syslog)
		m.strIf("facility", l.Facility, d.Facility)
	}
	if !equalIgnoringPos(c.Heartbeat, def.Heartbeat) {
		h, d := c.Heartbeat, def.Heartbeat
		m := root.sub("heartbeat")
		m.boolIf("enabled", h.Enabled, d.Enabled)
		m.strIf("listen", h.Listen, d.Listen)
		m.strIf("key_file", h.KeyFile, d.KeyFile)
		m.durIf("interval", h.Interval, d.Interval)
		m.durIf("dead_after", h.DeadAfter, DefaultHeartbeatDeadAfter*h.Interval)
		m.durIf("window", h.Window, d.Window)
	}
	if !equalIgnoringPos(c.Drain, def.Drain) {
		m := root.sub("drain")
		m.durIf("timeout", c.Drain.Timeout, def.Drain.Timeout)
		m.boolIf("remove_when_drained", c.Drain.RemoveWhenDrained, def.Drain.RemoveWhenDrained)
	}
	root.strIf("control_socket", c.ControlSocket, def.ControlSocket)
	if !equalIgnoringPos(c.Metrics, def.Metrics) {
		m := root.sub("metrics")
		m.boolIf("enabled", c.Metrics.Enabled, def.Metrics.Enabled)
		m.strIf("listen", c.Metrics.Listen, def.Metrics.Listen)
	}
	if !equalIgnoringPos(c.IPVS, def.IPVS) {
		x, d := c.IPVS, def.IPVS
		m := root.sub("ipvs")
		m.boolIf("expire_nodest_conn", x.ExpireNodestConn, d.ExpireNodestConn)
		m.boolIf("expire_quiescent_template", x.ExpireQuiescentTemplate, d.ExpireQuiescentTemplate)
		m.intIf("conn_reuse_mode", x.ConnReuseMode, d.ConnReuseMode)
		m.boolIf("remove_on_stop", x.RemoveOnStop, d.RemoveOnStop)
	}
	if s := c.ConnSync; s != nil {
		m := root.sub("lvs_sync_daemon")
		m.str("interface", s.Interface)
		m.strIf("instance", s.Instance, "")
		defID := 0
		if in := c.Instance(s.Instance); in != nil && s.Instance != "" {
			defID = in.VirtualRouterID
		}
		m.intIf("sync_id", s.SyncID, defID)
	}
	if !equalIgnoringPos(c.FastFailover, def.FastFailover) {
		f, d := c.FastFailover, def.FastFailover
		m := root.sub("fast_failover")
		m.boolIf("enabled", f.Enabled, d.Enabled)
		m.intIf("port", f.Port, d.Port)
		m.durIf("interval", f.Interval, d.Interval)
		m.intIf("multiplier", f.Multiplier, d.Multiplier)
		m.intIf("witness_quorum", f.WitnessQuorum, d.WitnessQuorum)
		m.durIf("witness_wait", f.WitnessWait, d.WitnessWait)
	}
	if len(c.VRRP) > 0 {
		s := root.seq("vrrp_instances")
		for i := range c.VRRP {
			s.n.Content = append(s.n.Content, marshalInstance(&c.VRRP[i]).n)
		}
	}
	if len(c.Services) > 0 {
		s := root.seq("virtual_servers")
		for i := range c.Services {
			s.n.Content = append(s.n.Content, marshalService(&c.Services[i]).n)
		}
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root.n}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func marshalInstance(in *VRRPInstance) *mnode {
	d := newInstance(in.Name, Pos{})
	m := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	m.str("name", in.Name)
	m.str("state", string(in.State))
	m.str("interface", in.Interface)
	m.int("virtual_router_id", in.VirtualRouterID)
	m.int("priority", in.Priority)
	m.boolIf("nopreempt", in.NoPreempt, false)
	m.durIf("preempt_delay", in.PreemptDelay, d.PreemptDelay)
	m.dur("advert_int", in.AdvertInt)
	m.intIf("version", in.Version, defaultVersion(in, 0))
	if a := in.Auth; a != nil {
		am := m.sub("authentication")
		am.str("auth_type", a.Type)
		am.str("auth_pass", a.Pass)
	}
	s := m.seq("virtual_ipaddress")
	for _, v := range in.VirtualIPs {
		s.n.Content = append(s.n.Content, strNode(v.String()))
	}
	if in.SourceIP.IsValid() {
		m.str("unicast_src_ip", in.SourceIP.String())
	}
	if len(in.UnicastPeers) > 0 {
		s := m.seq("unicast_peer")
		for _, p := range in.UnicastPeers {
			s.n.Content = append(s.n.Content, strNode(p.Addr.String()))
		}
	}
	if len(in.TrackInterfaces) > 0 {
		s := m.seq("track_interface")
		for _, t := range in.TrackInterfaces {
			s.n.Content = append(s.n.Content, strNode(t.String()))
		}
	}
	m.strIf("notify_master", in.Notify.Master, "")
	m.strIf("notify_backup", in.Notify.Backup, "")
	m.strIf("notify_fault", in.Notify.Fault, "")
	m.strIf("notify_stop", in.Notify.Stop, "")
	m.strIf("notify", in.Notify.Any, "")
	m.boolIf("smtp_alert", in.SMTPAlert, false)
	m.durIf("garp_master_delay", in.GARPMasterDelay, d.GARPMasterDelay)
	m.intIf("garp_master_repeat", in.GARPMasterRepeat, d.GARPMasterRepeat)
	m.durIf("garp_master_refresh", in.GARPMasterRefresh, d.GARPMasterRefresh)
	m.intIf("garp_master_refresh_repeat", in.GARPMasterRefreshRepeat, d.GARPMasterRefreshRepeat)
	return m
}

func marshalService(s *VirtualService) *mnode {
	d := newService(Pos{})
	m := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	if s.FWMark != 0 {
		m.int("fwmark", int(s.FWMark))
	} else {
		m.str("address", s.Addr.String())
	}
	m.str("protocol", string(s.Protocol))
	m.str("lvs_sched", s.Scheduler)
	m.str("lvs_method", string(s.Forwarding))
	m.dur("delay_loop", s.DelayLoop)
	m.durIf("persistence_timeout", s.Persistence, 0)
	if ss := s.SorryServer; ss != nil {
		m.str("sorry_server", addrPortString(ss.Addr))
	}
	m.boolIf("sorry_server_inhibit", s.SorryServerInhibit, false)
	m.intIf("quorum", s.Quorum, d.Quorum)
	m.intIf("hysteresis", s.Hysteresis, d.Hysteresis)
	m.strIf("quorum_up", s.QuorumUp, "")
	m.strIf("quorum_down", s.QuorumDown, "")
	m.boolIf("alpha", s.Alpha, false)
	m.boolIf("omega", s.Omega, false)
	if len(s.RealServers) > 0 {
		rq := m.seq("real_servers")
		for i := range s.RealServers {
			rq.n.Content = append(rq.n.Content, marshalRealServer(&s.RealServers[i]).n)
		}
	}
	return m
}

func marshalRealServer(rs *RealServer) *mnode {
	m := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	m.str("address", addrPortString(rs.Addr))
	m.int("weight", rs.Weight)
	m.boolIf("inhibit_on_failure", rs.InhibitOnFailure, false)
	m.strIf("notify_up", rs.NotifyUp, "")
	m.strIf("notify_down", rs.NotifyDown, "")
	if len(rs.Checks) > 0 {
		cq := m.seq("checks")
		for i := range rs.Checks {
			c := &rs.Checks[i]
			d := newCheck(c.Type, Pos{})
			cm := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
			cm.str("type", string(c.Type))
			if c.ConnectIP.IsValid() {
				cm.str("connect_ip", c.ConnectIP.String())
			}
			cm.intIf("connect_port", c.ConnectPort, 0)
			if c.BindTo.IsValid() {
				cm.str("bindto", c.BindTo.String())
			}
			cm.durIf("connect_timeout", c.ConnectTimeout, d.ConnectTimeout)
			cm.intIf("retry", c.Retry, d.Retry)
			cm.durIf("delay_before_retry", c.DelayBeforeRetry, d.DelayBeforeRetry)
			cm.strIf("virtualhost", c.VirtualHost, "")
			if len(c.URLs) > 0 {
				uq := cm.seq("url")
				for _, u := range c.URLs {
					um := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
					um.str("path", u.Path)
					switch {
					case len(u.StatusCodes) == 1 && u.StatusCodes[0].Min == u.StatusCodes[0].Max:
						um.int("status_code", u.StatusCodes[0].Min)
					case len(u.StatusCodes) > 0:
						var parts []string
						for _, r := range u.StatusCodes {
							parts = append(parts, r.String())
						}
						um.str("status_code", strings.Join(parts, " "))
					}
					um.strIf("digest", u.Digest, "")
					uq.n.Content = append(uq.n.Content, um.n)
				}
			}
			cq.n.Content = append(cq.n.Content, cm.n)
		}
	}
	return m
}

// mnode builds a YAML mapping or sequence.
type mnode struct{ n *yaml.Node }

func strNode(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	// Keep what a plain or block scalar would change: control characters,
	// surrounding white space.
	if s != strings.TrimSpace(s) || strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

func (m *mnode) add(key string, v *yaml.Node) {
	m.n.Content = append(m.n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

func (m *mnode) str(key, v string) { m.add(key, strNode(v)) }

func (m *mnode) strIf(key, v, def string) {
	if v != def {
		m.str(key, v)
	}
}

func (m *mnode) int(key string, v int) {
	m.add(key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(v)})
}

func (m *mnode) intIf(key string, v, def int) {
	if v != def {
		m.int(key, v)
	}
}

func (m *mnode) boolIf(key string, v, def bool) {
	if v != def {
		m.add(key, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v)})
	}
}

func (m *mnode) dur(key string, v time.Duration) { m.str(key, fmtDur(v)) }

func (m *mnode) durIf(key string, v, def time.Duration) {
	if v != def {
		m.dur(key, v)
	}
}

func (m *mnode) sub(key string) *mnode {
	s := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	m.add(key, s.n)
	return s
}

func (m *mnode) seq(key string) *mnode {
	s := &mnode{n: &yaml.Node{Kind: yaml.SequenceNode}}
	m.add(key, s.n)
	return s
}

// addrPortString formats a destination: "IP:PORT", or the bare IP for port 0
// (a fwmark destination without port).
func addrPortString(a netip.AddrPort) string {
	if a.Port() == 0 {
		return a.Addr().String()
	}
	return a.String()
}
