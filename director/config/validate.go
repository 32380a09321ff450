package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tandemlb/tandem/shared/strictyaml"
)

// Validate checks the semantics of c and returns nil or an ErrorList whose
// entries cite the position of the offending element and name the keyword
// (keepalived.conf and native files use the same names for the same
// settings). The readers check each value where they read it, so for a file
// Validate reports what involves more than one value: address families,
// duplicates, the DR port rule, priority 255, and so on. A model built in Go
// is checked completely.
//
// Choices that differ from keepalived, which would warn and carry on:
// auth_pass longer than 8 characters (keepalived silently uses the first 8),
// nopreempt or preempt_delay with state MASTER (keepalived clears them),
// priority 255 with state BACKUP or nopreempt, and an explicit version 2
// with IPv6 addresses are errors.
func (c *Config) Validate() error {
	v := validator{}
	v.config(c)
	return v.errs.Err()
}

type validator struct {
	errs ErrorList
	top  Pos // for settings without a position of their own

	// trusted[i] says that service i passed the checks of one service
	// before, unchanged (a block the Loader took from its cache); the
	// checks across services still run.
	trusted []bool
}

func (v *validator) bad(pos Pos, format string, args ...any) {
	if !pos.IsValid() {
		pos = v.top // a default setting, or one from a file without a position
	}
	v.errs.add(pos, format, args...)
}

// Message helpers shared by the readers and Validate. Each returns "" when
// the value is fine, else the message without the keyword.

func msgRange(n, lo, hi int) string {
	if n < lo || n > hi {
		return fmt.Sprintf("%d is out of range %d..%d", n, lo, hi)
	}
	return ""
}

func msgDurRange(d, lo, hi time.Duration) string {
	if d < lo || d > hi {
		return fmt.Sprintf("%s is out of range %s..%s", strictyaml.FormatDuration(d), strictyaml.FormatDuration(lo), strictyaml.FormatDuration(hi))
	}
	return ""
}

// msgIfName checks a Linux interface name (dev_valid_name).
func msgIfName(s string) string {
	switch {
	case s == "":
		return "interface name is empty"
	case len(s) > 15:
		return fmt.Sprintf("interface name %q is longer than 15 bytes", s)
	case s == "." || s == "..":
		return fmt.Sprintf("%q is not an interface name", s)
	case strings.ContainsAny(s, "/: \t\n\r\v\f"):
		return fmt.Sprintf("interface name %q contains '/', ':' or white space", s)
	}
	return ""
}

func msgLabel(label, dev string) string {
	switch {
	case len(label) > 15:
		return fmt.Sprintf("label %q is longer than 15 bytes", label)
	case strings.ContainsAny(label, "/ \t\n\r\v\f"):
		return fmt.Sprintf("label %q contains '/' or white space", label)
	case label != dev && !strings.HasPrefix(label, dev+":"):
		return fmt.Sprintf("label %q must be %q or start with %q", label, dev, dev+":")
	}
	return ""
}

func msgScheduler(s string) string {
	if !slices.Contains(Schedulers, s) {
		return fmt.Sprintf("unknown scheduler %q (want one of %s)", s, strings.Join(Schedulers, " "))
	}
	return ""
}

func msgForwarding(f Forwarding) string {
	switch f {
	case DR, NAT, TUN:
		return ""
	}
	return fmt.Sprintf("unknown forwarding method %q (want DR, NAT or TUN)", f)
}

func msgProtocol(p Protocol) string {
	switch p {
	case TCP, UDP, SCTP:
		return ""
	}
	return fmt.Sprintf("unknown protocol %q (want TCP, UDP or SCTP)", p)
}

func msgState(s VRRPState) string {
	switch s {
	case StateMaster, StateBackup:
		return ""
	}
	return fmt.Sprintf("unknown state %q (want MASTER or BACKUP)", s)
}

// msgAuthPass enforces VRRPv2's 8-byte password field.
func msgAuthPass(p string) string {
	switch {
	case p == "":
		return "the password is empty"
	case len(p) > 8:
		return fmt.Sprintf("the password is %d bytes; VRRP sends at most 8 (keepalived would silently use %q): shorten it", len(p), p[:8])
	}
	return ""
}

// msgAddr refuses zones (link-local scopes) and the unspecified address.
func msgAddr(a netip.Addr) string {
	switch {
	case !a.IsValid():
		return "missing address"
	case a.Zone() != "":
		return fmt.Sprintf("address %s: zones are not supported", a)
	case a.IsUnspecified():
		return fmt.Sprintf("address %s is unspecified", a)
	}
	return ""
}

func msgDigest(d string) string {
	if len(d) != 32 || strings.Trim(d, "0123456789abcdef") != "" {
		return fmt.Sprintf("digest %q is not 32 lower-case hex digits (an MD5 sum, as genhash prints)", d)
	}
	return ""
}

func msgStatus(r StatusRange) string {
	if r.Min < 100 || r.Max > 599 || r.Min > r.Max {
		return fmt.Sprintf("status code %s is not within 100..599", r)
	}
	return ""
}

func msgString(what, s string) string {
	if !utf8.ValidString(s) {
		return what + " is not valid UTF-8"
	}
	return ""
}

func msgListen(s string) string {
	if _, _, ok := splitListen(s); !ok {
		return fmt.Sprintf("%q is not HOST:PORT with HOST empty or an IP address and PORT 1..65535", s)
	}
	return ""
}

func (v *validator) check(pos Pos, where, kw, msg string) {
	if msg == "" {
		return
	}
	if where != "" {
		v.bad(pos, "%s: keyword %q: %s", where, kw, msg)
		return
	}
	v.bad(pos, "keyword %q: %s", kw, msg)
}

func (v *validator) config(c *Config) {
	if len(c.Files) > 0 {
		v.top = Pos{File: c.Files[0]}
	}
	if len(c.VRRP) == 0 && len(c.Services) == 0 {
		v.bad(Pos{}, "the configuration has no vrrp_instance and no virtual_server: nothing to do")
	}
	v.notification(&c.Notification)
	v.director(c)
	v.bgp(c)
	names := map[string]Pos{}
	type vridKey struct {
		iface  string
		family int
		vrid   int
	}
	vrids := map[vridKey]string{}
	vips := map[netip.Addr]string{}
	for i := range c.VRRP {
		in := &c.VRRP[i]
		v.instance(in)
		if p, dup := names[in.Name]; dup && in.Name != "" {
			v.bad(in.Pos, "vrrp_instance %q is defined twice (first at %s)", in.Name, p)
		}
		names[in.Name] = in.Pos
		k := vridKey{in.Interface, in.Family(), in.VirtualRouterID}
		if other, dup := vrids[k]; dup {
			v.bad(in.Pos, "vrrp_instance %q: keyword \"virtual_router_id\": %d is already used by vrrp_instance %q on interface %s", in.Name, in.VirtualRouterID, other, in.Interface)
		} else {
			vrids[k] = in.Name
		}
		for _, ip := range in.VirtualIPs {
			a := ip.Prefix.Addr()
			if other, dup := vips[a]; dup && other != in.Name {
				v.bad(ip.Pos, "vrrp_instance %q: keyword \"virtual_ipaddress\": %s is also a VIP of vrrp_instance %q", in.Name, a, other)
			} else {
				vips[a] = in.Name
			}
		}
	}
	if s := c.ConnSync; s != nil {
		v.check(s.Pos, "", "lvs_sync_daemon", msgIfName(s.Interface))
		v.check(s.Pos, "", "lvs_sync_daemon", msgRange(s.SyncID, 0, 255))
		if s.Instance != "" && c.Instance(s.Instance) == nil {
			v.bad(s.Pos, "keyword \"lvs_sync_daemon\": no vrrp_instance %q", s.Instance)
		}
	}
	keys := make(map[serviceID]Pos, len(c.Services))
	for i := range c.Services {
		s := &c.Services[i]
		if i >= len(v.trusted) || !v.trusted[i] {
			v.service(s)
		}
		k := s.id()
		if p, dup := keys[k]; dup {
			v.bad(s.Pos, "virtual_server %s is defined twice (first at %s)", s.Key(), p)
		}
		keys[k] = s.Pos
	}
}

func (v *validator) notification(n *Notification) {
	for _, e := range n.Email {
		if e == "" || strings.ContainsAny(e, "\n\r") || !utf8.ValidString(e) {
			v.bad(n.Pos, "keyword \"notification_email\": %q is not an e-mail address", e)
		}
	}
	if n.SMTPServer != "" {
		if _, p, err := splitHostPort(n.SMTPServer); err != nil || p == 0 {
			v.bad(n.Pos, "keyword \"smtp_server\": %q is not HOST:PORT", n.SMTPServer)
		}
	}
	v.check(n.Pos, "", "smtp_connect_timeout", msgDurRange(n.SMTPConnectTimeout, time.Millisecond, time.Hour))
}

func (v *validator) director(c *Config) {
	if c.Node != "" {
		if strings.ContainsAny(c.Node, " \t\n\r") || len(c.Node) > 255 || !utf8.ValidString(c.Node) {
			v.bad(Pos{}, "keyword \"node\": %q must be 1..255 bytes of UTF-8 without white space", c.Node)
		}
	}
	l := &c.Logging
	if l.Format != "text" && l.Format != "json" {
		v.bad(l.Pos, "keyword \"format\": %q is not text or json", l.Format)
	}
	switch l.Level {
	case "debug", "info", "warn", "error":
	default:
		v.bad(l.Pos, "keyword \"level\": %q is not debug, info, warn or error", l.Level)
	}
	if !slices.Contains(facilities, l.Facility) {
		v.bad(l.Pos, "keyword \"facility\": unknown syslog facility %q", l.Facility)
	}
	h := &c.Heartbeat
	v.check(h.Pos, "heartbeat", "listen", msgListen(h.Listen))
	if h.KeyFile == "" {
		v.bad(h.Pos, "heartbeat: keyword \"key_file\": empty path")
	}
	v.check(h.Pos, "heartbeat", "interval", msgDurRange(h.Interval, 10*time.Millisecond, time.Hour))
	if h.DeadAfter < h.Interval {
		v.bad(h.Pos, "heartbeat: keyword \"dead_after\": %s is shorter than the interval %s", strictyaml.FormatDuration(h.DeadAfter), strictyaml.FormatDuration(h.Interval))
	}
	v.check(h.Pos, "heartbeat", "window", msgDurRange(h.Window, time.Second, time.Hour))
	if h.AgentKeys != "" { // "" (a Config built in code) means the default
		v.check(h.Pos, "heartbeat", "agent_keys", msgAgentKeys(h.AgentKeys))
	}
	v.check(c.Drain.Pos, "drain", "timeout", msgDurRange(c.Drain.Timeout, 0, 7*24*time.Hour))
	if c.ControlSocket == "" || !filepath.IsAbs(c.ControlSocket) {
		v.bad(Pos{}, "keyword \"control_socket\": %q is not an absolute path", c.ControlSocket)
	}
	if c.Metrics.Enabled {
		v.check(c.Metrics.Pos, "metrics", "listen", msgListen(c.Metrics.Listen))
	}
	v.check(c.IPVS.Pos, "ipvs", "conn_reuse_mode", msgRange(c.IPVS.ConnReuseMode, 0, 3))
	f := &c.FastFailover
	if f.Enabled {
		v.check(f.Pos, "fast_failover", "port", msgRange(f.Port, 1, 65535))
		v.check(f.Pos, "fast_failover", "interval", msgDurRange(f.Interval, time.Millisecond, time.Minute))
		v.check(f.Pos, "fast_failover", "multiplier", msgRange(f.Multiplier, 1, 255))
		v.check(f.Pos, "fast_failover", "witness_quorum", msgRange(f.WitnessQuorum, 0, maxWitnessQuorum))
		v.check(f.Pos, "fast_failover", "witness_wait", msgDurRange(f.WitnessWait, time.Millisecond, maxWitnessWait))
		v.check(f.Pos, "fast_failover", "witness_max_veto", msgDurRange(f.WitnessMaxVeto, time.Millisecond, maxWitnessMaxVeto))
	}
}

// Bounds of the witness settings: a quorum beyond any real pool of agents
// is a typo, and a backup that waits 10s for the agents is slower than
// plain VRRP at any advert_int worth a fast probe.
const (
	maxWitnessQuorum = 1000
	maxWitnessWait   = 10 * time.Second
	// A veto longer than 10 minutes is a split brain held off by
	// unauthenticated word for longer than anyone waits.
	maxWitnessMaxVeto = 10 * time.Minute
)

var facilities = []string{
	"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
	"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
}

func (v *validator) instance(in *VRRPInstance) {
	w := fmt.Sprintf("vrrp_instance %q", in.Name)
	if in.Name == "" || strings.ContainsAny(in.Name, " \t\n\r") || !utf8.ValidString(in.Name) {
		v.bad(in.Pos, "vrrp_instance: %q is not a valid instance name", in.Name)
	}
	v.check(in.Pos, w, "state", msgState(in.State))
	v.check(in.Pos, w, "interface", msgIfName(in.Interface))
	v.check(in.Pos, w, "virtual_router_id", msgRange(in.VirtualRouterID, 1, 255))
	v.check(in.Pos, w, "priority", msgRange(in.Priority, 1, 255))
	if in.Priority == 255 {
		if in.State != StateMaster {
			v.bad(in.Pos, "%s: keyword \"priority\": 255 means address owner, which must have state MASTER", w)
		}
		if in.NoPreempt {
			v.bad(in.Pos, "%s: keyword \"nopreempt\": the address owner (priority 255) always preempts", w)
		}
	}
	if in.State == StateMaster {
		if in.NoPreempt {
			v.bad(in.Pos, "%s: keyword \"nopreempt\": has no effect with state MASTER (keepalived clears it); use state BACKUP", w)
		}
		if in.PreemptDelay != 0 {
			v.bad(in.Pos, "%s: keyword \"preempt_delay\": has no effect with state MASTER (keepalived clears it); use state BACKUP", w)
		}
	}
	v.check(in.Pos, w, "preempt_delay", msgDurRange(in.PreemptDelay, 0, 1000*time.Second))
	switch in.Version {
	case 2:
		if in.AdvertInt%time.Second != 0 || in.AdvertInt < time.Second || in.AdvertInt > 255*time.Second {
			v.bad(in.Pos, "%s: keyword \"advert_int\": %s: VRRP version 2 wants whole seconds 1..255", w, strictyaml.FormatDuration(in.AdvertInt))
		}
		if in.Family() == 6 {
			v.bad(in.Pos, "%s: keyword \"version\": VRRP version 2 cannot carry IPv6 addresses; use version 3", w)
		}
	case 3:
		if in.AdvertInt%(10*time.Millisecond) != 0 || in.AdvertInt < 10*time.Millisecond || in.AdvertInt > 40950*time.Millisecond {
			v.bad(in.Pos, "%s: keyword \"advert_int\": %s: VRRP version 3 wants centiseconds 0.01..40.95", w, strictyaml.FormatDuration(in.AdvertInt))
		}
		if in.Auth != nil {
			v.bad(in.Auth.Pos, "%s: keyword \"authentication\": VRRP version 3 has no authentication", w)
		}
	default:
		v.bad(in.Pos, "%s: keyword \"version\": %d is not 2 or 3", w, in.Version)
	}
	if a := in.Auth; a != nil {
		if a.Type != AuthPass {
			v.bad(a.Pos, "%s: keyword \"auth_type\": %q is not supported (only PASS)", w, a.Type)
		}
		v.check(a.Pos, w, "auth_pass", msgAuthPass(a.Pass))
	}
	if len(in.VirtualIPs) > 255 {
		v.bad(in.Pos, "%s: keyword \"virtual_ipaddress\": %d addresses; an advert carries at most 255", w, len(in.VirtualIPs))
	}
	fam := in.Family()
	seen := map[netip.Addr]bool{}
	for _, ip := range in.VirtualIPs {
		a := ip.Prefix.Addr()
		if !ip.Prefix.IsValid() {
			v.bad(ip.Pos, "%s: keyword \"virtual_ipaddress\": invalid address", w)
			continue
		}
		v.check(ip.Pos, w, "virtual_ipaddress", msgAddr(a))
		if family(a) != fam {
			v.bad(ip.Pos, "%s: keyword \"virtual_ipaddress\": %s: all addresses of an instance must be of one family", w, a)
		}
		if seen[a] {
			v.bad(ip.Pos, "%s: keyword \"virtual_ipaddress\": %s is listed twice", w, a)
		}
		seen[a] = true
		v.check(ip.Pos, w, "virtual_ipaddress", msgIfName(ip.Dev))
		if ip.Label != "" {
			if a.Is6() {
				v.bad(ip.Pos, "%s: keyword \"virtual_ipaddress\": %s: labels are for IPv4 addresses", w, a)
			}
			v.check(ip.Pos, w, "virtual_ipaddress", msgLabel(ip.Label, ip.Dev))
		}
	}
	if in.SourceIP.IsValid() {
		v.check(in.Pos, w, "unicast_src_ip", msgAddr(in.SourceIP))
		if family(in.SourceIP) != fam {
			v.bad(in.Pos, "%s: keyword \"unicast_src_ip\": %s is not of the VIPs' family", w, in.SourceIP)
		}
	}
	peers := map[netip.Addr]bool{}
	for _, p := range in.UnicastPeers {
		v.check(p.Pos, w, "unicast_peer", msgAddr(p.Addr))
		if p.Addr.IsValid() && family(p.Addr) != fam {
			v.bad(p.Pos, "%s: keyword \"unicast_peer\": %s is not of the VIPs' family", w, p.Addr)
		}
		if peers[p.Addr] {
			v.bad(p.Pos, "%s: keyword \"unicast_peer\": %s is listed twice", w, p.Addr)
		}
		peers[p.Addr] = true
	}
	tracked := map[string]bool{}
	for _, t := range in.TrackInterfaces {
		v.check(t.Pos, w, "track_interface", msgIfName(t.Name))
		v.check(t.Pos, w, "track_interface", msgRange(t.Weight, -253, 253))
		if tracked[t.Name] {
			v.bad(t.Pos, "%s: keyword \"track_interface\": %s is listed twice", w, t.Name)
		}
		tracked[t.Name] = true
	}
	for _, s := range []struct{ kw, script string }{
		{"notify_master", in.Notify.Master}, {"notify_backup", in.Notify.Backup},
		{"notify_fault", in.Notify.Fault}, {"notify_stop", in.Notify.Stop}, {"notify", in.Notify.Any},
	} {
		v.check(in.Pos, w, s.kw, msgString("the script", s.script))
	}
	v.check(in.Pos, w, "garp_master_delay", msgDurRange(in.GARPMasterDelay, 0, time.Hour))
	v.check(in.Pos, w, "garp_master_repeat", msgRange(in.GARPMasterRepeat, 1, 255))
	v.check(in.Pos, w, "garp_master_refresh", msgDurRange(in.GARPMasterRefresh, 0, 24*time.Hour))
	v.check(in.Pos, w, "garp_master_refresh_repeat", msgRange(in.GARPMasterRefreshRepeat, 1, 255))
}

func family(a netip.Addr) int {
	if a.Is6() {
		return 6
	}
	return 4
}

func (v *validator) service(s *VirtualService) {
	w := "virtual_server " + s.Key()
	v.check(s.Pos, w, "protocol", msgProtocol(s.Protocol))
	switch {
	case s.FWMark != 0 && s.Addr.IsValid():
		v.bad(s.Pos, "%s: a service has either an address or a fwmark, not both", w)
	case s.FWMark == 0 && !s.Addr.IsValid():
		v.bad(s.Pos, "virtual_server: needs an address and port, or a fwmark")
	case s.FWMark == 0:
		v.check(s.Pos, w, "virtual_server", msgAddr(s.Addr.Addr()))
		if s.Addr.Port() == 0 && s.Persistence == 0 {
			v.bad(s.Pos, "%s: port 0 (all ports) needs persistence_timeout", w)
		}
	}
	v.check(s.Pos, w, "delay_loop", msgDurRange(s.DelayLoop, 10*time.Millisecond, 24*time.Hour))
	v.check(s.Pos, w, "lvs_sched", msgScheduler(s.Scheduler))
	if s.OnePacket && s.FWMark == 0 && s.Protocol != UDP {
		v.bad(s.Pos, "%s: keyword \"ops\": one-packet scheduling is for UDP (or fwmark) services, not %s", w, s.Protocol)
	}
	if s.SchedFlags&^(SchedFlag1|SchedFlag2|SchedFlag3) != 0 {
		v.bad(s.Pos, "%s: keyword \"scheduler_flags\": unknown flags %#x", w, uint8(s.SchedFlags))
	}
	v.check(s.Pos, w, "lvs_method", msgForwarding(s.Forwarding))
	v.check(s.Pos, w, "persistence_timeout", msgDurRange(s.Persistence, 0, (1<<31-1)*time.Second))
	if s.Persistence%time.Second != 0 {
		v.bad(s.Pos, "%s: keyword \"persistence_timeout\": %s is not whole seconds", w, strictyaml.FormatDuration(s.Persistence))
	}
	v.check(s.Pos, w, "quorum", msgRange(s.Quorum, 1, 1<<31-1))
	v.check(s.Pos, w, "hysteresis", msgRange(s.Hysteresis, 0, 1<<31-1))
	if s.Hysteresis >= s.Quorum && s.Quorum >= 1 {
		v.bad(s.Pos, "%s: keyword \"hysteresis\": %d must be less than the quorum %d", w, s.Hysteresis, s.Quorum)
	}
	v.check(s.Pos, w, "quorum_up", msgString("the script", s.QuorumUp))
	v.check(s.Pos, w, "quorum_down", msgString("the script", s.QuorumDown))
	fam := s.Family()
	// dest checks one destination (real or sorry server) against the
	// service's family and, for DR and TUN, its port.
	dest := func(pos Pos, kw string, a netip.AddrPort) {
		v.check(pos, w, kw, msgAddr(a.Addr()))
		if s.Forwarding != TUN && family(a.Addr()) != fam {
			v.bad(pos, "%s: keyword %q: %s is not of the service's address family (only TUN can mix families)", w, kw, a.Addr())
		}
		if s.FWMark == 0 && a.Port() != s.Addr.Port() && (s.Forwarding == DR || s.Forwarding == TUN) {
			v.bad(pos, "%s: keyword %q: port %d differs from the virtual port %d, which %s forwarding cannot change", w, kw, a.Port(), s.Addr.Port(), s.Forwarding)
		}
	}
	if ss := s.SorryServer; ss != nil {
		dest(ss.Pos, "sorry_server", ss.Addr)
	}
	// By address: one key per real server (Key, its text, is the same
	// one to one) without making 10,000 strings at 1,000 × 10.
	seen := make(map[netip.AddrPort]Pos, len(s.RealServers))
	for i := range s.RealServers {
		rs := &s.RealServers[i]
		dest(rs.Pos, "real_server", rs.Addr)
		if p, dup := seen[rs.Addr]; dup {
			v.bad(rs.Pos, "%s: keyword \"real_server\": %s is defined twice (first at %s)", w, rs.Key(), p)
		}
		seen[rs.Addr] = rs.Pos
		v.realServer(w, rs)
	}
}

func (v *validator) realServer(w string, rs *RealServer) {
	weight, up, down := msgRange(rs.Weight, 0, 65535), msgString("the script", rs.NotifyUp), msgString("the script", rs.NotifyDown)
	if weight == "" && up == "" && down == "" && len(rs.Checks) == 0 {
		return // the common case, without making the text below
	}
	w += " real_server " + rs.Key()
	v.check(rs.Pos, w, "weight", weight)
	v.check(rs.Pos, w, "notify_up", up)
	v.check(rs.Pos, w, "notify_down", down)
	for i := range rs.Checks {
		c := &rs.Checks[i]
		cw := w + " " + string(c.Type)
		switch c.Type {
		case HTTPGet, SSLGet:
			if len(c.URLs) == 0 {
				v.bad(c.Pos, "%s: keyword \"url\": at least one url { } is needed", cw)
			}
		case TCPCheck:
			if len(c.URLs) != 0 {
				v.bad(c.Pos, "%s: keyword \"url\": TCP_CHECK has no url", cw)
			}
			if c.VirtualHost != "" {
				v.bad(c.Pos, "%s: keyword \"virtualhost\": TCP_CHECK sends no Host header", cw)
			}
		case MiscCheck:
			if strings.TrimSpace(c.MiscPath) == "" {
				v.bad(c.Pos, "%s: keyword \"misc_path\": the command is missing", cw)
			}
		case UDPCheck:
			if c.MinReplyLength > c.MaxReplyLength {
				v.bad(c.Pos, "%s: keyword \"min_reply_length\": %d is above max_reply_length %d", cw, c.MinReplyLength, c.MaxReplyLength)
			}
		case DNSCheck:
			if !slices.Contains(dnsTypes, c.DNSType) {
				v.bad(c.Pos, "%s: keyword \"type\": %q is not one of %s", cw, c.DNSType, strings.Join(dnsTypes, ", "))
			}
			v.check(c.Pos, cw, "name", msgString("the name", c.DNSName))
		case PingCheck, SMTPCheck:
		case FileCheck:
			if c.TrackFile == "" {
				v.bad(c.Pos, "%s: keyword \"track_file\" is missing", cw)
			}
		default:
			v.bad(c.Pos, "%s: unknown check type %q (want HTTP_GET, SSL_GET, TCP_CHECK, MISC_CHECK, PING_CHECK, UDP_CHECK, DNS_CHECK, SMTP_CHECK or FILE_CHECK)", w, c.Type)
		}
		if c.Type == MiscCheck || c.Type == FileCheck || c.Type == PingCheck {
			// No port involved.
			continue
		}
		if c.ConnectIP.IsValid() {
			v.check(c.Pos, cw, "connect_ip", msgAddr(c.ConnectIP))
		}
		if c.BindTo.IsValid() {
			v.check(c.Pos, cw, "bindto", msgAddr(c.BindTo))
			if family(c.BindTo) != family(c.Target(rs).Addr()) {
				v.bad(c.Pos, "%s: keyword \"bindto\": %s is not of the family of %s", cw, c.BindTo, c.Target(rs).Addr())
			}
		}
		v.check(c.Pos, cw, "connect_port", msgRange(c.ConnectPort, 0, 65535))
		if c.Target(rs).Port() == 0 {
			v.bad(c.Pos, "%s: keyword \"connect_port\": the real server has no port; set connect_port", cw)
		}
		v.check(c.Pos, cw, "connect_timeout", msgDurRange(c.ConnectTimeout, time.Millisecond, time.Hour))
		v.check(c.Pos, cw, "retry", msgRange(c.Retry, 0, 1000))
		v.check(c.Pos, cw, "delay_before_retry", msgDurRange(c.DelayBeforeRetry, 0, time.Hour))
		v.check(c.Pos, cw, "virtualhost", msgString("the host name", c.VirtualHost))
		for _, u := range c.URLs {
			if u.Path == "" || !utf8.ValidString(u.Path) || strings.ContainsAny(u.Path, " \t\r\n") {
				v.bad(u.Pos, "%s: keyword \"path\": %q is not a request path", cw, u.Path)
			}
			for _, r := range u.StatusCodes {
				v.check(u.Pos, cw, "status_code", msgStatus(r))
			}
			if u.Digest != "" {
				v.check(u.Pos, cw, "digest", msgDigest(u.Digest))
			}
		}
	}
}
