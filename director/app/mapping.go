package app

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/tandemlb/tandem/director/checks"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/pool"
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
//   - track_interface weights are not supported by vrrp (an interface down
//     is always FAULT): a weight is an error naming the line.
//   - auth_type PASS becomes AuthPass; the model has no other type.
func VRRPConfig(in *config.VRRPInstance) (vrrp.InstanceConfig, error) {
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
		out.VIPs = append(out.VIPs, vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev, Label: v.Label})
	}
	for _, p := range in.UnicastPeers {
		out.UnicastPeers = append(out.UnicastPeers, p.Addr)
	}
	for _, t := range in.TrackInterfaces {
		if t.Weight != 0 {
			bad(t.Pos, "keyword \"track_interface\": %s: weights are not supported (an interface that is down always means FAULT); remove \"weight %d\"", t.Name, t.Weight)
		}
		out.TrackInterfaces = append(out.TrackInterfaces, t.Name)
	}
	if len(errs) > 0 {
		return vrrp.InstanceConfig{}, errs
	}
	if err := out.WithDefaults().Validate(); err != nil {
		return vrrp.InstanceConfig{}, config.ErrorList{{Pos: in.Pos, Msg: err.Error()}}
	}
	return out, nil
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
	spec := lvs.ServiceSpec{Service: ServiceOf(s)}
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
	for i := range s.RealServers {
		rs := &s.RealServers[i]
		pc.Servers = append(pc.Servers, pool.ServerConfig{
			Addr: rs.Addr, Weight: rs.Weight, InhibitOnFailure: rs.InhibitOnFailure, Checkers: checkerNames(rs),
		})
	}
	return pc
}

// namedProbe renames a probe (a second checker of the same kind).
type namedProbe struct {
	p    checks.Probe
	name string
}

func (n namedProbe) Name() string                    { return n.name }
func (n namedProbe) Probe(ctx context.Context) error { return n.p.Probe(ctx) }

// ProbeOf builds the probe of check c of real server rs, named name.
func ProbeOf(c *config.Check, rs *config.RealServer, name string) checks.Probe {
	conn := checks.Conn{Addr: c.Target(rs), BindTo: c.BindTo, Timeout: c.ConnectTimeout}
	var p checks.Probe
	switch c.Type {
	case config.TCPCheck:
		p = checks.TCPCheck{Conn: conn}
	default:
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
	}
	if p.Name() != name {
		p = namedProbe{p, name}
	}
	return p
}

// SettingsOf maps the scheduling keywords of check c of service s.
func SettingsOf(s *config.VirtualService, c *config.Check) checks.Settings {
	st := checks.Settings{DelayLoop: s.DelayLoop, Retry: c.Retry, DelayBeforeRetry: c.DelayBeforeRetry, Alpha: s.Alpha}
	if c.Retry == 0 {
		st.Retry = checks.NoRetry
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
	if ch.Drain || ch.Heartbeat {
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
	add := func(err error) {
		var l config.ErrorList
		if errors.As(err, &l) {
			errs = append(errs, l...)
			return
		}
		errs = append(errs, &config.Error{Msg: err.Error()})
	}
	for i := range cfg.VRRP {
		if _, err := VRRPConfig(&cfg.VRRP[i]); err != nil {
			add(err)
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
