package app

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/tandemlb/tandem/director/checks"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/pool"
	"github.com/tandemlb/tandem/director/script"
	"github.com/tandemlb/tandem/director/vrrp"
)

// This file maps the configuration model onto the packages that act on it:
// vrrp.InstanceConfig, lvs.Service/Destination, pool.Config and checks
// probes. The functions are pure; each mismatch between the model and a
// package is handled here, once.

// VRRPConfig maps one vrrp_instance onto the vrrp package's InstanceConfig.
//
// The mismatches it handles:
//   - garp_master_delay 0 means "no second burst" in the model, while
//     vrrp.InstanceConfig.WithDefaults turns 0 into 5s and wants a negative
//     value for none: 0 becomes -1.
//   - VRID and priority are int in the model (validated 1..255) and uint8
//     in vrrp.
//   - track_interface lines with a weight are the application's (it
//     watches the link and folds the weight into SetPriority, see
//     tracking.go): only the weight-0 lines go to vrrp, which puts the
//     instance in FAULT while such a link is down.
//   - auth_type PASS becomes AuthPass; the model has no other type.
//   - virtual_ipaddress_excluded, virtual_routes and virtual_rules map onto
//     vrrp.VIP, vrrp.Route and vrrp.Rule (RouteOf, RuleOf).
//
// It knows nothing of sync groups: VRRPConfigIn does.
func VRRPConfig(in *config.VRRPInstance) (vrrp.InstanceConfig, error) {
	return vrrpConfig(in, nil)
}

// VRRPConfigIn is VRRPConfig for an instance of cfg: a member of a
// vrrp_sync_group gets InstanceConfig.SyncGroup, the group's
// track_interface lines, and, unless the group has global_tracking
// (keepalived's sync_group_tracking_weight), every track_interface weight
// counted as 0: keepalived 2.2.7 (vrrp_complete_instance) zeroes the
// tracking weights of sync-group members, so a failure means FAULT for the
// whole group.
func VRRPConfigIn(cfg *config.Config, in *config.VRRPInstance) (vrrp.InstanceConfig, error) {
	return vrrpConfig(in, cfg.SyncGroupOf(in.Name))
}

func vrrpConfig(in *config.VRRPInstance, g *config.SyncGroup) (vrrp.InstanceConfig, error) {
	var errs config.ErrorList
	bad := func(pos config.Pos, format string, args ...any) {
		errs = append(errs, &config.Error{Pos: pos, Msg: fmt.Sprintf("vrrp_instance %s: ", in.Name) + fmt.Sprintf(format, args...)})
	}
	if in.VirtualRouterID < 1 || in.VirtualRouterID > 255 {
		bad(in.Pos, "keyword \"virtual_router_id\": %d out of range 1-255", in.VirtualRouterID)
	}
	if in.Priority < 1 || in.Priority > 255 {
		bad(in.Pos, "keyword \"priority\": %d out of range 1-255", in.Priority)
	}
	out := vrrp.InstanceConfig{
		Name:                    in.Name,
		Interface:               in.Interface,
		VRID:                    uint8(in.VirtualRouterID),
		Priority:                uint8(in.Priority),
		InitialState:            vrrp.StateBackup,
		Nopreempt:               in.NoPreempt,
		PreemptDelay:            in.PreemptDelay,
		AdvertInterval:          in.AdvertInt,
		Version:                 in.Version,
		UnicastSrc:              in.SourceIP,
		NotifyMaster:            in.Notify.Master,
		NotifyBackup:            in.Notify.Backup,
		NotifyFault:             in.Notify.Fault,
		NotifyStop:              in.Notify.Stop,
		Notify:                  in.Notify.Any,
		GARPMasterDelay:         in.GARPMasterDelay,
		GARPMasterRepeat:        in.GARPMasterRepeat,
		GARPMasterRefresh:       in.GARPMasterRefresh,
		GARPMasterRefreshRepeat: in.GARPMasterRefreshRepeat,
	}
	if in.State == config.StateMaster {
		out.InitialState = vrrp.StateMaster
	}
	if in.GARPMasterDelay == 0 {
		out.GARPMasterDelay = -1
	}
	if in.Auth != nil {
		if in.Auth.Type != config.AuthPass {
			bad(in.Auth.Pos, "keyword \"auth_type\": %s is not supported (PASS only)", in.Auth.Type)
		}
		out.AuthPass = in.Auth.Pass
	}
	for _, v := range in.VirtualIPs {
		out.VIPs = append(out.VIPs, vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label, Broadcast: v.Broadcast, Deprecated: v.Deprecated})
	}
	for _, p := range in.UnicastPeers {
		out.UnicastPeers = append(out.UnicastPeers, p.Addr)
	}
	for _, t := range trackedInterfaces(in, g) {
		if t.Weight == 0 && !slices.Contains(out.TrackInterfaces, t.Name) {
			out.TrackInterfaces = append(out.TrackInterfaces, t.Name)
		}
	}
	if g != nil {
		out.SyncGroup = g.Name
	}
	for _, v := range in.ExcludedVIPs {
		out.ExcludedVIPs = append(out.ExcludedVIPs, vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label, Broadcast: v.Broadcast, Deprecated: v.Deprecated})
	}
	for _, r := range in.VirtualRoutes {
		if m := routeProblem(r); m != "" {
			bad(r.Pos, "keyword \"virtual_routes\": %s", m)
		}
		out.VirtualRoutes = append(out.VirtualRoutes, RouteOf(r))
	}
	for _, r := range in.VirtualRules {
		out.VirtualRules = append(out.VirtualRules, RuleOf(r))
	}
	if len(errs) > 0 {
		return vrrp.InstanceConfig{}, errs
	}
	if err := out.WithDefaults().Validate(); err != nil {
		return vrrp.InstanceConfig{}, config.ErrorList{{Pos: in.Pos, Msg: err.Error()}}
	}
	return out, nil
}

// trackedInterfaces are the track_interface lines that apply to in: its
// own, then its sync group's, with the weights keepalived uses (0 for a
// member of a group without global_tracking).
func trackedInterfaces(in *config.VRRPInstance, g *config.SyncGroup) []config.TrackInterface {
	out := slices.Clone(in.TrackInterfaces)
	if g != nil {
		out = append(out, g.TrackInterfaces...)
		if !g.GlobalTracking {
			for i := range out {
				out[i].Weight = 0
			}
		}
	}
	return out
}

// RouteOf maps a static_routes / virtual_routes line onto vrrp.Route.
// "throw" has no vrrp.RouteType: Validate refuses it (routeProblem).
func RouteOf(r config.Route) vrrp.Route {
	out := vrrp.Route{Dst: r.Dst, Via: r.Via, Dev: r.Dev, Src: r.Src, Table: r.Table, Metric: r.Metric}
	switch r.Type {
	case "blackhole":
		out.Type = vrrp.RouteBlackhole
	case "unreachable":
		out.Type = vrrp.RouteUnreachable
	case "prohibit":
		out.Type = vrrp.RouteProhibit
	}
	switch r.Scope {
	case "global":
		out.Scope = vrrp.ScopeGlobal
	case "site":
		out.Scope = vrrp.ScopeSite
	case "link":
		out.Scope = vrrp.ScopeLink
	case "host":
		out.Scope = vrrp.ScopeHost
	case "nowhere":
		out.Scope = vrrp.ScopeNowhere
	}
	return out
}

// routeProblem says why a route line cannot be installed, "" if it can.
func routeProblem(r config.Route) string {
	if r.Type == "throw" {
		return "route type \"throw\" is not supported (unicast, blackhole, unreachable or prohibit)"
	}
	return ""
}

// RuleOf maps a static_rules / virtual_rules line onto vrrp.Rule; the
// family is the selectors' (IPv4 without any).
func RuleOf(r config.Rule) vrrp.Rule {
	return vrrp.Rule{From: r.From, To: r.To, IIF: r.IIF, OIF: r.OIF, FWMark: r.FWMark, Priority: r.Priority, Table: r.Table,
		IPv6: r.From.Addr().Is6() || r.To.Addr().Is6()}
}

// ServiceOf maps a virtual_server onto the lvs package's Service.
func ServiceOf(s *config.VirtualService) lvs.Service {
	out := lvs.Service{Scheduler: s.Scheduler}
	if s.FWMark != 0 {
		out.FWMark = s.FWMark
		if s.Family() == 6 {
			out.Addr = netip.IPv6Unspecified()
		}
	} else {
		out.Addr, out.Port = s.Addr.Addr(), s.Addr.Port()
		switch s.Protocol {
		case config.UDP:
			out.Protocol = lvs.UDP
		case config.SCTP:
			out.Protocol = lvs.SCTP
		default:
			out.Protocol = lvs.TCP
		}
	}
	for _, f := range [...]struct {
		set  bool
		flag lvs.ServiceFlags
	}{
		{s.OnePacket, lvs.FlagOnePacket},
		{s.SchedFlags&config.SchedFlag1 != 0, lvs.FlagSched1},
		{s.SchedFlags&config.SchedFlag2 != 0, lvs.FlagSched2},
		{s.SchedFlags&config.SchedFlag3 != 0, lvs.FlagSched3},
	} {
		if f.set {
			out.Flags |= f.flag
		}
	}
	if s.Persistence > 0 {
		out.Flags |= lvs.FlagPersistent
		out.Timeout = uint32((s.Persistence + time.Second - 1) / time.Second)
	}
	return out
}

// forwardOf maps lb_kind onto lvs.Forward.
func forwardOf(f config.Forwarding) lvs.Forward {
	switch f {
	case config.NAT:
		return lvs.NAT
	case config.TUN:
		return lvs.Tunnel
	}
	return lvs.DR
}

// SpecOf builds the desired IPVS state of service s from its pool's status:
// every present server at its weight, plus the sorry server while it is in.
func SpecOf(s *config.VirtualService, st pool.Status) lvs.ServiceSpec {
	spec := lvs.ServiceSpec{Service: ServiceOf(s), Destinations: make([]lvs.Destination, 0, len(st.Servers)+1)}
	fwd := forwardOf(s.Forwarding)
	for _, ss := range st.Servers {
		if !ss.Present {
			continue
		}
		spec.Destinations = append(spec.Destinations, lvs.Destination{Addr: ss.Addr.Addr(), Port: ss.Addr.Port(), Weight: ss.Weight, Forward: fwd})
	}
	if st.SorryIn && st.Sorry.IsValid() {
		spec.Destinations = append(spec.Destinations, lvs.Destination{Addr: st.Sorry.Addr(), Port: st.Sorry.Port(), Weight: st.SorryWeight, Forward: fwd})
	}
	return spec
}

// checkerNames names the checkers of a real server for the pool: the
// keepalived checker name, with "#2", "#3"... for a second checker of the
// same kind.
func checkerNames(rs *config.RealServer) []string {
	seen := map[config.CheckType]int{}
	names := make([]string, len(rs.Checks))
	for i, c := range rs.Checks {
		seen[c.Type]++
		names[i] = string(c.Type)
		if n := seen[c.Type]; n > 1 {
			names[i] = fmt.Sprintf("%s#%d", c.Type, n)
		}
	}
	return names
}

// PoolConfig maps a virtual_server and the director-wide drain and
// heartbeat settings onto the pool package's Config.
//
// The mismatch it handles: drain.timeout 0 means "remove at once" in the
// model, while the pool's DrainTimeout 0 means "wait for the connections
// only": 0 becomes 1ns, a drain that ends at the next tick.
func PoolConfig(cfg *config.Config, s *config.VirtualService) pool.Config {
	pc := pool.Config{
		Quorum:        s.Quorum,
		Hysteresis:    s.Hysteresis,
		Alpha:         s.Alpha,
		Omega:         s.Omega,
		DrainTimeout:  cfg.Drain.Timeout,
		RemoveDrained: cfg.Drain.RemoveWhenDrained,
		AgentInterval: cfg.Heartbeat.Interval,
	}
	if pc.DrainTimeout == 0 {
		pc.DrainTimeout = time.Nanosecond
	}
	if cfg.Heartbeat.Interval > 0 && cfg.Heartbeat.DeadAfter > 0 {
		pc.AgentMissed = max(1, int((cfg.Heartbeat.DeadAfter+cfg.Heartbeat.Interval-1)/cfg.Heartbeat.Interval))
	}
	if s.SorryServer != nil {
		pc.Sorry = s.SorryServer.Addr
		pc.SorryWeight = 1
	}
	// BGP mode: every director must build the same Maglev table, and the
	// kernel's mh table changes when a destination is deleted but not
	// when it goes to weight 0 (ip_vs_mh.c keeps its last weight): a
	// down or drained server of an announced VIP stays at weight 0.
	announced := cfg.Announces(s)
	if announced {
		pc.RemoveDrained = false
	}
	pc.Servers = make([]pool.ServerConfig, 0, len(s.RealServers))
	for i := range s.RealServers {
		rs := &s.RealServers[i]
		names := checkerNames(rs)
		pc.Servers = append(pc.Servers, pool.ServerConfig{
			Addr: rs.Addr, Weight: rs.Weight, InhibitOnFailure: rs.InhibitOnFailure || announced, Checkers: names,
			Weighted: weightedCheckers(rs, names),
		})
	}
	return pc
}

// ProbeOf builds the probe of check c of real server rs of service s,
// named name (checkerNames). cfg gives what a check takes from outside
// its block: the script user (global_defs script_user) and the
// vrrp_track_file blocks. files gives the value source of a track_file,
// shared director-wide; nil gives a new source.
//
// The mismatches it handles:
//   - misc_path is one string in the model; checks.MiscCheck wants the
//     argument vector keepalived would exec (script.SplitCommand).
//   - misc_timeout 0 means the delay_loop (keepalived).
//   - user/group fall back to script_user, then to the director's own
//     user (root).
//   - payload and require_reply are keepalived's free-form hex strings;
//     the probe wants bytes and a mask (checks.ParseHex).
//   - a FILE_CHECK's weight is its own, else its track_file's, else 1.
//   - a second checker of the same kind keeps its weights under its name
//     (checks.Named).
//
// Its error is a config.ErrorList at the check's line: a misc_path that
// does not split, an unknown user or group, a bad hex string, DNS type or
// name, an undefined track_file.
func ProbeOf(cfg *config.Config, s *config.VirtualService, rs *config.RealServer, c *config.Check, name string, files func(*config.TrackFile) checks.ValueSource) (checks.Probe, error) {
	var errs config.ErrorList
	bad := func(kw string, err error) {
		errs = append(errs, &config.Error{Pos: c.Pos, Msg: fmt.Sprintf("real_server %s: %s: keyword %q: %v", rs.Addr, name, kw, err), Err: err})
	}
	conn := checks.Conn{Addr: c.Target(rs), BindTo: c.BindTo, Timeout: c.ConnectTimeout}
	var p checks.Probe
	switch c.Type {
	case config.TCPCheck:
		p = checks.TCPCheck{Conn: conn}
	case config.HTTPGet, config.SSLGet:
		h := checks.HTTPGet{Conn: conn, VirtualHost: c.VirtualHost, TLS: c.Type == config.SSLGet}
		for _, u := range c.URLs {
			cu := checks.URL{Path: u.Path, Digest: u.Digest}
			for _, r := range u.StatusCodes {
				for code := r.Min; code <= r.Max; code++ {
					cu.StatusCodes = append(cu.StatusCodes, code)
				}
			}
			h.URLs = append(h.URLs, cu)
		}
		p = h
	case config.MiscCheck:
		m := checks.MiscCheck{Timeout: c.MiscTimeout, Dynamic: c.MiscDynamic, ConfiguredWeight: rs.Weight}
		if m.Timeout == 0 {
			m.Timeout = s.DelayLoop
		}
		args, err := script.SplitCommand(c.MiscPath)
		if err == nil && len(args) == 0 {
			err = errors.New("no program")
		}
		if err != nil {
			bad("misc_path", err)
		}
		m.Args = args
		user, group, kw := c.User, c.Group, "user"
		if user == "" {
			user, group, kw = cfg.ScriptUser, cfg.ScriptGroup, "script_user"
		}
		if user != "" {
			cred, err := script.Credential(user, group)
			if err != nil {
				bad(kw, err)
			}
			m.Credential = cred
		}
		p = m
	case config.PingCheck:
		p = checks.PingCheck{Conn: conn}
	case config.UDPCheck:
		u := checks.UDPCheck{Conn: conn, RequireReply: c.RequireReply, MinReplyLength: c.MinReplyLength, MaxReplyLength: c.MaxReplyLength}
		if c.Payload != "" {
			data, _, err := checks.ParseHex(c.Payload, false)
			if err != nil {
				bad("payload", err)
			}
			u.Payload = data
		}
		if c.ReplyHex != "" {
			data, mask, err := checks.ParseHex(c.ReplyHex, true)
			if err != nil {
				bad("require_reply", err)
			}
			u.Reply, u.ReplyMask = data, mask
		}
		p = u
	case config.DNSCheck:
		d := checks.DNSCheck{Conn: conn, Query: c.DNSName}
		if c.DNSType != "" {
			t, err := checks.ParseDNSType(c.DNSType)
			if err != nil {
				bad("type", err)
			}
			d.Type = t
		}
		if c.DNSName != "" {
			if err := checks.ValidateDNSName(c.DNSName); err != nil {
				bad("name", err)
			}
		}
		p = d
	case config.SMTPCheck:
		p = checks.SMTPCheck{Conn: conn, HeloName: c.HeloName}
	case config.FileCheck:
		f := checks.FileCheck{File: c.TrackFile, Weight: c.Weight, Reverse: c.Reverse, ConfiguredWeight: rs.Weight}
		tf := cfg.TrackedFile(c.TrackFile)
		if tf == nil {
			bad("track_file", fmt.Errorf("%q is not defined by a vrrp_track_file", c.TrackFile))
		} else {
			f.Weight, f.Reverse = fileCheckWeight(c, tf)
			if files != nil {
				f.Source = files(tf)
			} else {
				f.Source = checks.NewTrackFile(tf.File)
			}
		}
		p = f
	default:
		errs = append(errs, &config.Error{Pos: c.Pos, Msg: fmt.Sprintf("real_server %s: checker %s is not supported", rs.Addr, c.Type)})
	}
	if len(errs) > 0 {
		return nil, errs
	}
	if p.Name() != name {
		p = checks.Named(p, name)
	}
	return p, nil
}

// fileCheckWeight is the weight of a FILE_CHECK as keepalived reads it
// (check_file.c): its own weight, or when it gives none (or 0) its
// track_file's, with that one's reverse flag; 1 when neither gives one.
func fileCheckWeight(c *config.Check, tf *config.TrackFile) (int, bool) {
	switch {
	case c.Weight != 0:
		return c.Weight, c.Reverse
	case tf.Weight != 0:
		return tf.Weight, tf.Reverse
	}
	return 1, tf.Reverse
}

// fileCheckPoll is how often a FILE_CHECK reads its track_file:
// keepalived reacts to the file at once (inotify), the probe reads it at
// each attempt.
const fileCheckPoll = time.Second

// SettingsOf maps the scheduling keywords of check c of service s.
//
// The mismatches it handles:
//   - retry 0 is checks.NoRetry (the zero value there means the
//     default). The reader already gives each checker keepalived's own
//     retry default (MISC_CHECK 0, DNS_CHECK 3, others 1).
//   - DNS_CHECK's delay_before_retry defaults to the delay_loop; the
//     model cannot tell an unset delay_before_retry from one set to the
//     general default (1 s), which is taken as unset.
//   - FILE_CHECK has no retry and is polled every fileCheckPoll (or
//     delay_loop when shorter), in place of keepalived's inotify.
func SettingsOf(s *config.VirtualService, c *config.Check) checks.Settings {
	st := checks.Settings{DelayLoop: s.DelayLoop, Retry: c.Retry, DelayBeforeRetry: c.DelayBeforeRetry, Alpha: s.Alpha}
	if c.Retry == 0 {
		st.Retry = checks.NoRetry
	}
	switch c.Type {
	case config.DNSCheck:
		if c.DelayBeforeRetry == config.DefaultDelayBeforeRetry && s.DelayLoop > 0 {
			st.DelayBeforeRetry = s.DelayLoop
		}
	case config.FileCheck:
		st.Retry = checks.NoRetry
		st.DelayLoop = fileCheckPoll
		if s.DelayLoop > 0 && s.DelayLoop < fileCheckPoll {
			st.DelayLoop = s.DelayLoop
		}
	}
	return st
}

// Validate checks what config.Load does not: that every part of cfg maps
// onto the packages that run it (VRRP instances, pools, IPVS services).
// Its errors are a config.ErrorList ("file:line: message"), as
// check-config prints them.
func Validate(cfg *config.Config) error {
	return validate(cfg, nil, nil)
}

// validateChanged is Validate for a reload: a service that ch does not
// name as added or changed passed these checks in the running
// configuration and is not checked again, unless the settings every pool
// takes (drain, heartbeat) changed.
func validateChanged(cfg *config.Config, ch config.Changes, unchanged []bool) error {
	if ch.Drain || ch.Heartbeat || ch.Tracking {
		return validate(cfg, nil, nil)
	}
	check := make(map[string]bool, len(ch.ServicesAdded)+len(ch.ServicesChanged))
	for _, k := range ch.ServicesAdded {
		check[k] = true
	}
	for _, sc := range ch.ServicesChanged {
		check[sc.Key] = true
	}
	return validate(cfg, check, unchanged)
}

// validate checks every service, or with only, those whose keys it holds
// (skipping at once those marked unchanged: see config.Loader.Unchanged).
func validate(cfg *config.Config, only map[string]bool, unchanged []bool) error {
	var errs config.ErrorList
	seenCheck := map[string]bool{}
	add := func(err error) {
		var l config.ErrorList
		if errors.As(err, &l) {
			errs = append(errs, l...)
			return
		}
		errs = append(errs, &config.Error{Msg: err.Error()})
	}
	for i := range cfg.VRRP {
		if _, err := VRRPConfigIn(cfg, &cfg.VRRP[i]); err != nil {
			add(err)
		}
	}
	for _, r := range cfg.Static.Routes {
		if m := routeProblem(r); m != "" {
			errs = append(errs, &config.Error{Pos: r.Pos, Msg: "keyword \"static_routes\": " + m})
		}
	}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if only != nil && (i < len(unchanged) && unchanged[i] || !only[s.Key()]) {
			continue
		}
		if err := PoolConfig(cfg, s).Validate(); err != nil {
			errs = append(errs, &config.Error{Pos: s.Pos, Msg: fmt.Sprintf("virtual_server %s: %v", s.Key(), err)})
		}
		if err := configuredSpec(s).Validate(); err != nil {
			errs = append(errs, &config.Error{Pos: s.Pos, Msg: fmt.Sprintf("virtual_server %s: %v", s.Key(), err)})
		}
		errs = append(errs, checkErrors(cfg, s, seenCheck)...)
	}
	if len(cfg.VRRP) == 0 && len(cfg.Services) == 0 {
		file := ""
		if len(cfg.Files) > 0 {
			file = cfg.Files[0]
		}
		errs = append(errs, &config.Error{Pos: config.Pos{File: file}, Msg: "no vrrp_instance and no virtual_server: nothing to run"})
	}
	return errs.Err()
}
