package config

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tandemlb/tandem/shared/strictyaml"
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
	return encodeNative(marshalRoot(c, nil), "")
}

// marshalRoot builds the YAML tree of c. at, if not nil, is told the node
// written for each element that has a position of its own (instances,
// services, real servers, checks, tracked objects, sync groups).
func marshalRoot(c *Config, at func(Pos, *yaml.Node)) *yaml.Node {
	if at == nil {
		at = func(Pos, *yaml.Node) {}
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
		m.strIf("previous_key_file", h.PreviousKeyFile, d.PreviousKeyFile)
		m.strIf("agent_keys", h.AgentKeys, d.AgentKeys)
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
	if c.Debug.PProf != "" {
		root.sub("debug").strIf("pprof", c.Debug.PProf, "")
	}
	if !equalIgnoringPos(c.IPVS, def.IPVS) {
		x, d := c.IPVS, def.IPVS
		m := root.sub("ipvs")
		m.boolIf("expire_nodest_conn", x.ExpireNodestConn, d.ExpireNodestConn)
		m.boolIf("expire_quiescent_template", x.ExpireQuiescentTemplate, d.ExpireQuiescentTemplate)
		m.intIf("conn_reuse_mode", x.ConnReuseMode, d.ConnReuseMode)
		m.boolIf("sloppy_tcp", x.SloppyTCP, d.SloppyTCP)
		m.boolIf("sloppy_sctp", x.SloppySCTP, d.SloppySCTP)
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
		m.durIf("witness_max_veto", f.WitnessMaxVeto, d.WitnessMaxVeto)
		if f.Peer.IsValid() {
			m.str("peer", f.Peer.String())
		}
	}
	if c.BGP != nil {
		marshalBGP(root.sub("bgp"), c.BGP)
	}
	root.strIf("script_user", c.ScriptUser, "")
	root.strIf("script_group", c.ScriptGroup, "")
	root.boolIf("script_security", c.ScriptSecurity, false)
	if len(c.Scripts) > 0 {
		s := root.seq("vrrp_scripts")
		for i := range c.Scripts {
			s.item(marshalScript(&c.Scripts[i]), c.Scripts[i].Pos, at)
		}
	}
	if len(c.TrackProcesses) > 0 {
		s := root.seq("track_processes")
		for i := range c.TrackProcesses {
			s.item(marshalTrackProcess(&c.TrackProcesses[i]), c.TrackProcesses[i].Pos, at)
		}
	}
	if len(c.TrackFiles) > 0 {
		s := root.seq("track_files")
		for i := range c.TrackFiles {
			s.item(marshalTrackFile(&c.TrackFiles[i]), c.TrackFiles[i].Pos, at)
		}
	}
	if len(c.VRRP) > 0 {
		s := root.seq("vrrp_instances")
		for i := range c.VRRP {
			s.item(marshalInstance(&c.VRRP[i]), c.VRRP[i].Pos, at)
		}
	}
	if len(c.SyncGroups) > 0 {
		s := root.seq("sync_groups")
		for i := range c.SyncGroups {
			s.item(marshalSyncGroup(&c.SyncGroups[i]), c.SyncGroups[i].Pos, at)
		}
	}
	if !c.Static.Empty() {
		m := root.sub("static")
		lines(m, "addresses", c.Static.Addresses)
		lines(m, "routes", c.Static.Routes)
		lines(m, "rules", c.Static.Rules)
	}
	if len(c.Services) > 0 {
		s := root.seq("virtual_servers")
		for i := range c.Services {
			s.item(marshalService(&c.Services[i], at), c.Services[i].Pos, at)
		}
	}
	return root.n
}

// encodeNative writes a tree as a YAML document, with head as its first
// comment ("" for none).
func encodeNative(root *yaml.Node, head string) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, HeadComment: head, Content: []*yaml.Node{root}}); err != nil {
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
	lines(m, "virtual_ipaddress_excluded", in.ExcludedVIPs)
	lines(m, "virtual_routes", in.VirtualRoutes)
	lines(m, "virtual_rules", in.VirtualRules)
	if in.SourceIP.IsValid() {
		m.str("unicast_src_ip", in.SourceIP.String())
	}
	if len(in.UnicastPeers) > 0 {
		s := m.seq("unicast_peer")
		for _, p := range in.UnicastPeers {
			s.n.Content = append(s.n.Content, strNode(p.Addr.String()))
		}
	}
	lines(m, "track_interface", in.TrackInterfaces)
	m.tracking(in.Track)
	m.notify(in.Notify)
	m.boolIf("smtp_alert", in.SMTPAlert, false)
	m.durIf("garp_master_delay", in.GARPMasterDelay, d.GARPMasterDelay)
	m.intIf("garp_master_repeat", in.GARPMasterRepeat, d.GARPMasterRepeat)
	m.durIf("garp_master_refresh", in.GARPMasterRefresh, d.GARPMasterRefresh)
	m.intIf("garp_master_refresh_repeat", in.GARPMasterRefreshRepeat, d.GARPMasterRefreshRepeat)
	return m
}

func marshalService(s *VirtualService, at func(Pos, *yaml.Node)) *mnode {
	d := newService(Pos{})
	m := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	if s.FWMark != 0 {
		m.int("fwmark", int(s.FWMark))
	} else {
		m.str("address", s.Addr.String())
	}
	m.str("protocol", string(s.Protocol))
	m.str("lvs_sched", s.Scheduler)
	if names := SchedFlagNames(s.Scheduler, s.SchedFlags); len(names) > 0 {
		fq := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, n := range names {
			fq.Content = append(fq.Content, strNode(n))
		}
		m.add("scheduler_flags", fq)
	}
	m.boolIf("ops", s.OnePacket, false)
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
	m.strIf("group", s.Group, "")
	if len(s.RealServers) > 0 {
		rq := m.seq("real_servers")
		for i := range s.RealServers {
			rq.item(marshalRealServer(&s.RealServers[i], at), s.RealServers[i].Pos, at)
		}
	}
	return m
}

func marshalRealServer(rs *RealServer, at func(Pos, *yaml.Node)) *mnode {
	m := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	m.str("address", addrPortString(rs.Addr))
	m.int("weight", rs.Weight)
	m.boolIf("inhibit_on_failure", rs.InhibitOnFailure, false)
	m.strIf("notify_up", rs.NotifyUp, "")
	m.strIf("notify_down", rs.NotifyDown, "")
	if len(rs.Checks) > 0 {
		cq := m.seq("checks")
		for i := range rs.Checks {
			cq.item(marshalCheck(&rs.Checks[i]), rs.Checks[i].Pos, at)
		}
	}
	return m
}

func marshalCheck(c *Check) *mnode {
	d := newNativeCheck(c.Type, Pos{})
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
	cm.strIf("misc_path", c.MiscPath, d.MiscPath)
	cm.durIf("misc_timeout", c.MiscTimeout, d.MiscTimeout)
	cm.boolIf("misc_dynamic", c.MiscDynamic, d.MiscDynamic)
	cm.strIf("user", c.User, d.User)
	cm.strIf("group", c.Group, d.Group)
	cm.strIf("payload", c.Payload, d.Payload)
	cm.boolIf("require_reply", c.RequireReply, d.RequireReply)
	cm.strIf("reply", c.ReplyHex, d.ReplyHex)
	cm.intIf("min_reply_length", c.MinReplyLength, d.MinReplyLength)
	cm.intIf("max_reply_length", c.MaxReplyLength, d.MaxReplyLength)
	cm.strIf("dns_type", c.DNSType, d.DNSType)
	cm.strIf("dns_name", c.DNSName, d.DNSName)
	cm.strIf("helo_name", c.HeloName, d.HeloName)
	cm.strIf("track_file", c.TrackFile, d.TrackFile)
	cm.intIf("weight", c.Weight, d.Weight)
	cm.boolIf("reverse", c.Reverse, d.Reverse)
	cm.boolIf("dynamic", c.Dynamic, d.Dynamic)
	return cm
}

func marshalScript(s *VRRPScript) *mnode {
	m := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	m.str("name", s.Name)
	m.str("script", s.Script)
	m.durIf("interval", s.Interval, DefaultScriptInterval)
	m.durIf("timeout", s.Timeout, 0)
	m.intIf("weight", s.Weight, 0)
	m.boolIf("reverse", s.Reverse, false)
	m.intIf("rise", s.Rise, DefaultScriptRise)
	m.intIf("fall", s.Fall, DefaultScriptFall)
	m.strIf("user", s.User, "")
	m.strIf("group", s.Group, "")
	m.boolIf("init_fail", s.InitFail, false)
	return m
}

func marshalTrackProcess(t *TrackProcess) *mnode {
	m := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	m.str("name", t.Name)
	m.str("process", t.Process)
	m.strIf("param", t.Param, "")
	m.strIf("param_match", t.ParamMatch, "exact")
	m.boolIf("full_command", t.FullCommand, false)
	m.intIf("quorum", t.Quorum, DefaultProcessQuorum)
	m.intIf("quorum_max", t.QuorumMax, 0)
	m.intIf("weight", t.Weight, 0)
	m.boolIf("reverse", t.Reverse, false)
	m.durIf("delay", t.Delay, 0)
	m.durIf("fork_delay", t.ForkDelay, t.Delay)
	m.durIf("terminate_delay", t.TermDelay, t.Delay)
	return m
}

func marshalTrackFile(t *TrackFile) *mnode {
	m := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	m.str("name", t.Name)
	m.str("file", t.File)
	m.intIf("weight", t.Weight, DefaultTrackFileWeight)
	m.boolIf("reverse", t.Reverse, false)
	if t.InitFile != nil {
		m.int("init_file", *t.InitFile)
	}
	m.boolIf("overwrite", t.Overwrite, false)
	return m
}

func marshalSyncGroup(g *SyncGroup) *mnode {
	m := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
	m.str("name", g.Name)
	s := m.seq("members")
	for _, x := range g.Members {
		s.n.Content = append(s.n.Content, strNode(x))
	}
	m.notify(g.Notify)
	m.boolIf("smtp_alert", g.SMTPAlert, false)
	lines(m, "track_interface", g.TrackInterfaces)
	m.tracking(g.Track)
	m.boolIf("global_tracking", g.GlobalTracking, false)
	return m
}

func (m *mnode) notify(n Notify) {
	m.strIf("notify_master", n.Master, "")
	m.strIf("notify_backup", n.Backup, "")
	m.strIf("notify_fault", n.Fault, "")
	m.strIf("notify_stop", n.Stop, "")
	m.strIf("notify", n.Any, "")
}

// tracking writes the track_* lists: "NAME [weight W [reverse]]", or a
// mapping when the name would not read back as one word.
func (m *mnode) tracking(t Tracking) {
	for _, l := range []struct {
		key  string
		refs []TrackRef
	}{{"track_script", t.Scripts}, {"track_process", t.Processes}, {"track_file", t.Files}} {
		if len(l.refs) == 0 {
			continue
		}
		s := m.seq(l.key)
		for _, r := range l.refs {
			if f := strings.Fields(r.Name); len(f) == 1 && f[0] == r.Name {
				s.n.Content = append(s.n.Content, strNode(r.String()))
				continue
			}
			rm := &mnode{n: &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}}
			rm.str("name", r.Name)
			if r.WeightSet {
				rm.int("weight", r.Weight)
			}
			rm.boolIf("reverse", r.Reverse, false)
			s.n.Content = append(s.n.Content, rm.n)
		}
	}
}

// lines writes a list of elements as one string each, nothing when it is
// empty.
func lines[T fmt.Stringer](m *mnode, key string, list []T) {
	if len(list) == 0 {
		return
	}
	s := m.seq(key)
	for _, x := range list {
		s.n.Content = append(s.n.Content, strNode(x.String()))
	}
}

// item appends an element's mapping to a sequence and tells at.
func (m *mnode) item(e *mnode, pos Pos, at func(Pos, *yaml.Node)) {
	m.n.Content = append(m.n.Content, e.n)
	if at != nil {
		at(pos, e.n)
	}
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

func (m *mnode) dur(key string, v time.Duration) { m.str(key, strictyaml.FormatDuration(v)) }

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
