package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/tandemlb/tandem/shared/debugserver"
	"github.com/tandemlb/tandem/shared/strictyaml"
)

// ParseNative reads the native YAML format with shared/strictyaml, the
// strict reader the agent's backend.yaml uses too: an unknown key, a
// duplicate key, a value of the wrong type, an anchor, alias or custom
// tag, or more than one document is an error naming the line and the
// dotted key path (`key "vrrp_instances[0].priority": ...`), and every
// such error is reported, sorted by line. Durations are Go duration
// strings with a unit ("10s", "1.5s", "5m"). The result has every default
// applied and is validated; the error, if any, is an ErrorList whose
// entries wrap the *strictyaml.Error.
func ParseNative(name string, data []byte) (*Config, error) {
	return parseNative(name, data, new(time.Duration))
}

// parseNative is ParseNative that adds the time the validation took to
// *validate.
func parseNative(name string, data []byte, validate *time.Duration) (*Config, error) {
	r := strictyaml.NewReader(name)
	if len(data) > maxFileSize {
		r.Errorf(0, "", "file is larger than %d bytes", maxFileSize)
		return nil, errorList(r.Errors())
	}
	root, ok := r.Read(data)
	if !ok {
		return nil, errorList(r.Errors())
	}
	if root.IsNull() {
		r.Errorf(1, "", "the file is empty; it needs at least \"version: %d\"", NativeVersion)
		return nil, errorList(r.Errors())
	}
	c := Default()
	c.Format = FormatNative
	c.Files, c.FilesHash = []string{name}, filesHash(data)
	d := &ndec{file: name}
	d.config(root, c)
	if errs := r.Errors(); len(errs) > 0 {
		return nil, errorList(errs)
	}
	t0 := time.Now()
	err := c.Validate()
	*validate += time.Since(t0)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// errorList turns the reader's errors into the model's, each wrapping its
// *strictyaml.Error.
func errorList(errs strictyaml.Errors) ErrorList {
	l := make(ErrorList, len(errs))
	for i, e := range errs {
		l[i] = &Error{Pos: Pos{e.File, e.Line}, Msg: e.Message(), Err: e}
	}
	return l
}

// ndec decodes a strictyaml tree into the model.
type ndec struct {
	file string
	// refs are the references by name, checked by resolve.
	refs []nref
	// named are the tracked objects by name, checked for duplicates by
	// resolve.
	named []nnamed
	// groups are the sync groups' member lists, checked by resolve.
	groups []ngroup
	// rs is the real server being read, rsFields its keys
	// (realServerFields).
	rs       RealServer
	rsFields strictyaml.Fields
	// svc is the virtual server being read, svcFields its keys
	// (serviceFields).
	svc       nsvc
	svcFields strictyaml.Fields
}

func (d *ndec) pos(v strictyaml.Value) Pos { return Pos{d.file, v.Line()} }

func addrTo(dst *netip.Addr) func(strictyaml.Value) {
	return func(v strictyaml.Value) {
		s, ok := v.Str()
		if !ok {
			return
		}
		a, m := parseAddr(s)
		if m != "" {
			v.Errorf("%s", m)
			return
		}
		*dst = a
	}
}

// addrPort parses "IP:PORT", "[IPv6]:PORT" or a bare "IP" (port 0).
func addrPort(v strictyaml.Value) (netip.AddrPort, bool) {
	s, ok := v.Str()
	if !ok {
		return netip.AddrPort{}, false
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if m := msgAddr(ap.Addr()); m != "" {
			v.Errorf("%s", m)
			return netip.AddrPort{}, false
		}
		return ap, true
	}
	a, m := parseAddr(s)
	if m != "" {
		v.Errorf("%q is not IP:PORT, [IPv6]:PORT or an IP address", s)
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, 0), true
}

func (d *ndec) config(root strictyaml.Value, c *Config) {
	var version int
	deadAfterSet := false
	syncIDSet := false
	present := root.Mapping(strictyaml.Fields{
		"version": strictyaml.Int(&version, NativeVersion, NativeVersion),
		"node": strictyaml.Checked(&c.Node, func(s string) string {
			if s == "" || strings.ContainsAny(s, " \t\n\r") || len(s) > 255 {
				return fmt.Sprintf("%q must be 1..255 bytes without white space", s)
			}
			return ""
		}),
		"notification": func(v strictyaml.Value) {
			n := &c.Notification
			n.Pos = d.pos(v)
			v.Mapping(strictyaml.Fields{
				"email": func(v strictyaml.Value) {
					v.List(func(e strictyaml.Value) {
						if s, ok := e.Str(); ok {
							n.Email = append(n.Email, s)
						}
					})
				},
				"from": strictyaml.Str(&n.From),
				"smtp_server": func(v strictyaml.Value) {
					s, ok := v.Str()
					if !ok {
						return
					}
					if h, p, err := splitHostPort(s); err == nil {
						n.SMTPServer = joinHostPort(h, p)
					} else if msgHost(s) == "" {
						n.SMTPServer = joinHostPort(s, DefaultSMTPPort)
					} else {
						v.Errorf("%q is not HOST or HOST:PORT", s)
					}
				},
				"smtp_connect_timeout": strictyaml.Duration(&n.SMTPConnectTimeout, time.Millisecond, time.Hour),
				"no_email_faults":      strictyaml.Bool(&n.NoEmailFaults),
			})
		},
		"logging": func(v strictyaml.Value) {
			l := &c.Logging
			l.Pos = d.pos(v)
			v.Mapping(strictyaml.Fields{
				"format": strictyaml.Checked(&l.Format, func(s string) string {
					if s != "text" && s != "json" {
						return fmt.Sprintf("%q is not text or json", s)
					}
					return ""
				}),
				"level": strictyaml.Checked(&l.Level, func(s string) string {
					if !slices.Contains([]string{"debug", "info", "warn", "error"}, s) {
						return fmt.Sprintf("%q is not debug, info, warn or error", s)
					}
					return ""
				}),
				"syslog": strictyaml.Bool(&l.Syslog),
				"facility": strictyaml.Checked(&l.Facility, func(s string) string {
					if !slices.Contains(facilities, s) {
						return fmt.Sprintf("unknown syslog facility %q", s)
					}
					return ""
				}),
			})
		},
		"heartbeat": func(v strictyaml.Value) {
			h := &c.Heartbeat
			h.Pos = d.pos(v)
			p := v.Mapping(strictyaml.Fields{
				"enabled":           strictyaml.Bool(&h.Enabled),
				"listen":            strictyaml.Checked(&h.Listen, msgListen),
				"key_file":          strictyaml.Checked(&h.KeyFile, func(s string) string { return msgNonEmpty("path", s) }),
				"interval":          strictyaml.Duration(&h.Interval, 10*time.Millisecond, time.Hour),
				"dead_after":        strictyaml.Duration(&h.DeadAfter, 10*time.Millisecond, 24*time.Hour),
				"window":            strictyaml.Duration(&h.Window, time.Second, time.Hour),
				"previous_key_file": strictyaml.Checked(&h.PreviousKeyFile, func(s string) string { return msgNonEmpty("path", s) }),
				"agent_keys":        strictyaml.Checked(&h.AgentKeys, msgAgentKeys),
			})
			deadAfterSet = p.Has("dead_after")
		},
		"drain": func(v strictyaml.Value) {
			c.Drain.Pos = d.pos(v)
			v.Mapping(strictyaml.Fields{
				"timeout":             strictyaml.Duration(&c.Drain.Timeout, 0, 7*24*time.Hour),
				"remove_when_drained": strictyaml.Bool(&c.Drain.RemoveWhenDrained),
			})
		},
		"control_socket": strictyaml.Checked(&c.ControlSocket, func(s string) string {
			if !strings.HasPrefix(s, "/") {
				return fmt.Sprintf("%q is not an absolute path", s)
			}
			return ""
		}),
		"metrics": func(v strictyaml.Value) {
			c.Metrics.Pos = d.pos(v)
			v.Mapping(strictyaml.Fields{
				"enabled": strictyaml.Bool(&c.Metrics.Enabled),
				"listen":  strictyaml.Checked(&c.Metrics.Listen, msgListen),
			})
		},
		"debug": func(v strictyaml.Value) {
			c.Debug.Pos = d.pos(v)
			v.Mapping(strictyaml.Fields{
				"pprof": strictyaml.Checked(&c.Debug.PProf, debugserver.CheckAddr),
			})
		},
		"ipvs": func(v strictyaml.Value) {
			x := &c.IPVS
			x.Pos = d.pos(v)
			v.Mapping(strictyaml.Fields{
				"expire_nodest_conn":        strictyaml.Bool(&x.ExpireNodestConn),
				"expire_quiescent_template": strictyaml.Bool(&x.ExpireQuiescentTemplate),
				"conn_reuse_mode":           strictyaml.Int(&x.ConnReuseMode, 0, 3),
				"sloppy_tcp":                strictyaml.Bool(&x.SloppyTCP),
				"sloppy_sctp":               strictyaml.Bool(&x.SloppySCTP),
				"remove_on_stop":            strictyaml.Bool(&x.RemoveOnStop),
			})
		},
		"lvs_sync_daemon": func(v strictyaml.Value) {
			s := &ConnSync{Pos: d.pos(v)}
			p := v.Mapping(strictyaml.Fields{
				"interface": strictyaml.Checked(&s.Interface, msgIfName),
				"instance":  strictyaml.Str(&s.Instance),
				"sync_id":   strictyaml.Int(&s.SyncID, 0, 255),
			})
			v.Require(p, "interface")
			syncIDSet = p.Has("sync_id")
			c.ConnSync = s
		},
		"fast_failover": func(v strictyaml.Value) {
			f := &c.FastFailover
			f.Pos = d.pos(v)
			v.Mapping(strictyaml.Fields{
				"enabled":          strictyaml.Bool(&f.Enabled),
				"port":             strictyaml.Int(&f.Port, 1, 65535),
				"interval":         strictyaml.Duration(&f.Interval, time.Millisecond, time.Minute),
				"multiplier":       strictyaml.Int(&f.Multiplier, 1, 255),
				"witness_quorum":   strictyaml.Int(&f.WitnessQuorum, 0, maxWitnessQuorum),
				"witness_wait":     strictyaml.Duration(&f.WitnessWait, time.Millisecond, maxWitnessWait),
				"witness_max_veto": strictyaml.Duration(&f.WitnessMaxVeto, time.Millisecond, maxWitnessMaxVeto),
				"peer":             addrTo(&f.Peer),
			})
		},
		"script_user":     strictyaml.Checked(&c.ScriptUser, msgUser),
		"script_group":    strictyaml.Checked(&c.ScriptGroup, msgUser),
		"script_security": strictyaml.Bool(&c.ScriptSecurity),
		"vrrp_scripts": func(v strictyaml.Value) {
			v.List(func(e strictyaml.Value) {
				if s, ok := d.script(e); ok {
					c.Scripts = append(c.Scripts, s)
					d.named = append(d.named, nnamed{"vrrp script", s.Name, e})
				}
			})
		},
		"track_processes": func(v strictyaml.Value) {
			v.List(func(e strictyaml.Value) {
				if t, ok := d.trackProcess(e); ok {
					c.TrackProcesses = append(c.TrackProcesses, t)
					d.named = append(d.named, nnamed{"track process", t.Name, e})
				}
			})
		},
		"track_files": func(v strictyaml.Value) {
			v.List(func(e strictyaml.Value) {
				if t, ok := d.trackFile(e); ok {
					c.TrackFiles = append(c.TrackFiles, t)
					d.named = append(d.named, nnamed{"track file", t.Name, e})
				}
			})
		},
		"vrrp_instances": func(v strictyaml.Value) {
			v.List(func(e strictyaml.Value) { c.VRRP = append(c.VRRP, d.instance(e)) })
		},
		"sync_groups": func(v strictyaml.Value) {
			v.List(func(e strictyaml.Value) {
				if g, ok := d.syncGroup(e); ok {
					c.SyncGroups = append(c.SyncGroups, g)
				}
			})
		},
		"static": func(v strictyaml.Value) { d.static(v, &c.Static) },
		"bgp":    func(v strictyaml.Value) { d.bgp(v, c) },
		"virtual_servers": func(v strictyaml.Value) {
			v.List(func(e strictyaml.Value) {
				if s, ok := d.service(e); ok {
					c.Services = append(c.Services, s)
				}
			})
		},
	})
	needUser(present, "script_user", "script_group")
	d.resolve(c)
	if (root.IsMapping() || root.IsNull()) && !present.Has("version") {
		root.KeyErrorf("version", "missing required key (this format is version %d: add \"version: %d\")", NativeVersion, NativeVersion)
	}
	if !deadAfterSet {
		c.Heartbeat.DeadAfter = DefaultHeartbeatDeadAfter * c.Heartbeat.Interval
	}
	if s := c.ConnSync; s != nil && !syncIDSet && s.Instance != "" {
		if in := c.Instance(s.Instance); in != nil {
			s.SyncID = in.VirtualRouterID
		}
	}
}

func msgNonEmpty(what, s string) string {
	if s == "" {
		return what + " is empty"
	}
	return ""
}

func (d *ndec) instance(n strictyaml.Value) VRRPInstance {
	in := newInstance("", d.pos(n))
	state := string(in.State)
	fields := strictyaml.Fields{
		"name": strictyaml.Checked(&in.Name, func(s string) string {
			if s == "" || strings.ContainsAny(s, " \t\n\r") {
				return fmt.Sprintf("%q is not a valid instance name", s)
			}
			return ""
		}),
		"state":             strictyaml.Checked(&state, func(s string) string { return msgState(VRRPState(s)) }),
		"interface":         strictyaml.Checked(&in.Interface, msgIfName),
		"virtual_router_id": strictyaml.Int(&in.VirtualRouterID, 1, 255),
		"priority":          strictyaml.Int(&in.Priority, 1, 255),
		"nopreempt":         strictyaml.Bool(&in.NoPreempt),
		"preempt_delay":     strictyaml.Duration(&in.PreemptDelay, 0, 1000*time.Second),
		"advert_int":        strictyaml.Duration(&in.AdvertInt, time.Millisecond, 255*time.Second),
		"version":           strictyaml.Int(&in.Version, 2, 3),
		"authentication": func(v strictyaml.Value) {
			a := &Auth{Type: AuthPass, Pos: d.pos(v)}
			p := v.Mapping(strictyaml.Fields{
				"auth_type": strictyaml.Checked(&a.Type, func(s string) string {
					if s != AuthPass {
						return fmt.Sprintf("%q is not supported (only PASS)", s)
					}
					return ""
				}),
				"auth_pass": strictyaml.Checked(&a.Pass, msgAuthPass),
			})
			v.Require(p, "auth_pass")
			in.Auth = a
		},
		"virtual_ipaddress":          d.addresses(&in.VirtualIPs),
		"virtual_ipaddress_excluded": d.addresses(&in.ExcludedVIPs),
		"virtual_routes":             d.routes(&in.VirtualRoutes),
		"virtual_rules":              d.rules(&in.VirtualRules),
		"unicast_src_ip":             addrTo(&in.SourceIP),
		"unicast_peer": func(v strictyaml.Value) {
			v.List(func(e strictyaml.Value) {
				var a netip.Addr
				addrTo(&a)(e)
				if a.IsValid() {
					in.UnicastPeers = append(in.UnicastPeers, UnicastPeer{Addr: a, Pos: d.pos(e)})
				}
			})
		},
		"track_interface":            d.trackInterfaces(&in.TrackInterfaces),
		"smtp_alert":                 strictyaml.Bool(&in.SMTPAlert),
		"garp_master_delay":          strictyaml.Duration(&in.GARPMasterDelay, 0, time.Hour),
		"garp_master_repeat":         strictyaml.Int(&in.GARPMasterRepeat, 1, 255),
		"garp_master_refresh":        strictyaml.Duration(&in.GARPMasterRefresh, 0, 24*time.Hour),
		"garp_master_refresh_repeat": strictyaml.Int(&in.GARPMasterRefreshRepeat, 1, 255),
	}
	d.trackFields(fields, &in.Track)
	notifyFields(fields, &in.Notify)
	p := n.Mapping(fields)
	n.Require(p, "name", "interface", "virtual_router_id", "virtual_ipaddress")
	in.State = VRRPState(state)
	for _, vips := range [][]VirtualIP{in.VirtualIPs, in.ExcludedVIPs} {
		for i := range vips {
			if vips[i].Dev == "" {
				vips[i].Dev = in.Interface
			}
		}
	}
	if in.Version == 0 {
		in.Version = defaultVersion(&in, 0)
	}
	return in
}

func msgScript(s string) string {
	if strings.TrimSpace(s) == "" {
		return "the script is empty"
	}
	return ""
}

func (d *ndec) service(n strictyaml.Value) (VirtualService, bool) {
	d.svc = nsvc{s: newService(d.pos(n))}
	d.svc.s.Forwarding = DR // the native default: Tandem is an LVS-DR director
	d.svc.proto, d.svc.sched, d.svc.method = string(d.svc.s.Protocol), d.svc.s.Scheduler, string(d.svc.s.Forwarding)
	p := n.Mapping(d.serviceFields())
	s, proto, sched, method, inhibit, virtualHost := d.svc.s, d.svc.proto, d.svc.sched, d.svc.method, d.svc.inhibit, d.svc.virtualHost
	d.svc = nsvc{}
	s.Protocol, s.Scheduler, s.Forwarding = Protocol(proto), sched, Forwarding(method)
	switch {
	case p.Has("address") && p.Has("fwmark"):
		n.Errorf("give either key \"address\" or key \"fwmark\", not both")
		return s, false
	case !p.Has("address") && !p.Has("fwmark"):
		n.KeyErrorf("address", "missing required key (or \"fwmark\")")
		return s, false
	}
	if flags, ok := p["scheduler_flags"]; ok {
		s.SchedFlags = schedFlagsOf(flags, sched)
	}
	if sorry, ok := p["sorry_server"]; ok {
		if ap, ok := addrPort(sorry); ok {
			if ap.Port() == 0 && s.FWMark == 0 {
				ap = netip.AddrPortFrom(ap.Addr(), s.Addr.Port())
			}
			s.SorryServer = &SorryServer{Addr: ap, Pos: d.pos(sorry)}
		}
	}
	if rsNodes, ok := p["real_servers"]; ok {
		rsNodes.List(func(e strictyaml.Value) {
			if rs, ok := d.realServer(e, &s, inhibit, virtualHost); ok {
				s.RealServers = append(s.RealServers, rs)
			}
		})
	}
	return s, true
}

// schedFlagsOf reads scheduler_flags, a list of flag names valid under
// scheduler sched (see ParseSchedFlag); each name once.
func schedFlagsOf(v strictyaml.Value, sched string) SchedFlags {
	var flags SchedFlags
	v.List(func(e strictyaml.Value) {
		name, ok := e.Str()
		if !ok {
			return
		}
		f, m := ParseSchedFlag(sched, name)
		switch {
		case m != "":
			e.Errorf("%s", m)
		case flags&f != 0:
			e.Errorf("%s is given twice (or with another name of the same flag)", name)
		}
		flags |= f
	})
	return flags
}

func (d *ndec) realServer(n strictyaml.Value, s *VirtualService, inhibit bool, virtualHost string) (RealServer, bool) {
	d.rs = newRealServer(netip.AddrPort{}, d.pos(n))
	d.rs.InhibitOnFailure = inhibit
	p := n.Mapping(d.realServerFields())
	rs := d.rs
	if !p.Has("address") {
		n.Require(p, "address")
		return rs, false
	}
	if rs.Addr.Port() == 0 && s.FWMark == 0 {
		rs.Addr = netip.AddrPortFrom(rs.Addr.Addr(), s.Addr.Port())
	}
	if checks, ok := p["checks"]; ok {
		checks.List(func(e strictyaml.Value) {
			if c, ok := d.check(e, virtualHost); ok {
				rs.Checks = append(rs.Checks, c)
			}
		})
	}
	return rs, true
}

// nsvc is the virtual server being read, with what its keys set besides
// the model (serviceFields).
type nsvc struct {
	s                    VirtualService
	proto, sched, method string
	inhibit              bool
	virtualHost          string
}

// serviceFields returns the keys of a virtual server, which write to
// d.svc: made once per read, as realServerFields.
func (d *ndec) serviceFields() strictyaml.Fields {
	if d.svcFields != nil {
		return d.svcFields
	}
	st := &d.svc
	d.svcFields = strictyaml.Fields{
		"address": func(v strictyaml.Value) {
			if ap, ok := addrPort(v); ok {
				st.s.Addr = ap
			}
		},
		"fwmark": func(v strictyaml.Value) {
			if m, ok := v.Int(1, 1<<32-1); ok {
				st.s.FWMark = uint32(m)
			}
		},
		"protocol":             strictyaml.Checked(&st.proto, func(x string) string { return msgProtocol(Protocol(x)) }),
		"delay_loop":           strictyaml.Duration(&st.s.DelayLoop, 10*time.Millisecond, 24*time.Hour),
		"lvs_sched":            strictyaml.Checked(&st.sched, msgScheduler),
		"scheduler_flags":      func(strictyaml.Value) {}, // once the scheduler is known
		"ops":                  strictyaml.Bool(&st.s.OnePacket),
		"lvs_method":           strictyaml.Checked(&st.method, func(x string) string { return msgForwarding(Forwarding(x)) }),
		"persistence_timeout":  strictyaml.Duration(&st.s.Persistence, 0, (1<<31-1)*time.Second),
		"sorry_server":         func(strictyaml.Value) {}, // once the port is known
		"sorry_server_inhibit": strictyaml.Bool(&st.s.SorryServerInhibit),
		"quorum":               strictyaml.Int(&st.s.Quorum, 1, 1<<31-1),
		"hysteresis":           strictyaml.Int(&st.s.Hysteresis, 0, 1<<31-1),
		"quorum_up":            strictyaml.Checked(&st.s.QuorumUp, msgScript),
		"quorum_down":          strictyaml.Checked(&st.s.QuorumDown, msgScript),
		"alpha":                strictyaml.Bool(&st.s.Alpha),
		"omega":                strictyaml.Bool(&st.s.Omega),
		"inhibit_on_failure":   strictyaml.Bool(&st.inhibit),
		"virtualhost":          strictyaml.Str(&st.virtualHost),
		"real_servers":         func(strictyaml.Value) {}, // once the port is known
		"group":                strictyaml.Checked(&st.s.Group, msgName),
	}
	return d.svcFields
}

// realServerFields returns the keys of a real server, which write to
// d.rs: made once per read (at 10,000 real servers, making them for each
// one was a tenth of the read).
func (d *ndec) realServerFields() strictyaml.Fields {
	if d.rsFields == nil {
		rs := &d.rs
		d.rsFields = strictyaml.Fields{
			"address": func(v strictyaml.Value) {
				if ap, ok := addrPort(v); ok {
					rs.Addr = ap
				}
			},
			"weight":             strictyaml.Int(&rs.Weight, 0, 65535),
			"inhibit_on_failure": strictyaml.Bool(&rs.InhibitOnFailure),
			"notify_up":          strictyaml.Checked(&rs.NotifyUp, msgScript),
			"notify_down":        strictyaml.Checked(&rs.NotifyDown, msgScript),
			"checks":             func(strictyaml.Value) {}, // once the port is known
		}
	}
	return d.rsFields
}

// checkKeys are the check keys that only some check types take (the
// others take type, retry and delay_before_retry, except FILE_CHECK).
var checkKeys = map[string][]CheckType{
	"connect_ip":         {HTTPGet, SSLGet, TCPCheck, PingCheck, UDPCheck, DNSCheck, SMTPCheck},
	"connect_port":       {HTTPGet, SSLGet, TCPCheck, PingCheck, UDPCheck, DNSCheck, SMTPCheck},
	"bindto":             {HTTPGet, SSLGet, TCPCheck, PingCheck, UDPCheck, DNSCheck, SMTPCheck},
	"connect_timeout":    {HTTPGet, SSLGet, TCPCheck, PingCheck, UDPCheck, DNSCheck, SMTPCheck},
	"retry":              {HTTPGet, SSLGet, TCPCheck, MiscCheck, PingCheck, UDPCheck, DNSCheck, SMTPCheck},
	"delay_before_retry": {HTTPGet, SSLGet, TCPCheck, MiscCheck, PingCheck, UDPCheck, DNSCheck, SMTPCheck},
	// TCP_CHECK: Validate and the url handler say why not.
	"virtualhost":      {HTTPGet, SSLGet, TCPCheck},
	"url":              {HTTPGet, SSLGet, TCPCheck},
	"misc_path":        {MiscCheck},
	"misc_timeout":     {MiscCheck},
	"misc_dynamic":     {MiscCheck},
	"user":             {MiscCheck},
	"group":            {MiscCheck},
	"payload":          {UDPCheck},
	"require_reply":    {UDPCheck},
	"reply":            {UDPCheck},
	"min_reply_length": {UDPCheck},
	"max_reply_length": {UDPCheck},
	"dns_type":         {DNSCheck},
	"dns_name":         {DNSCheck},
	"helo_name":        {SMTPCheck},
	"track_file":       {FileCheck},
	"weight":           {FileCheck},
	"reverse":          {FileCheck},
	"dynamic":          {FileCheck},
}

// checkTypes are the check types, in the order messages list them.
var checkTypes = []CheckType{HTTPGet, SSLGet, TCPCheck, MiscCheck, PingCheck, UDPCheck, DNSCheck, SMTPCheck, FileCheck}

// newNativeCheck returns a check of type t with the defaults of the native
// format: newCheck's, and those keepalived applies once a checker's block
// is read.
func newNativeCheck(t CheckType, pos Pos) Check {
	c := newCheck(t, pos)
	switch t {
	case UDPCheck:
		c.MaxReplyLength = 255
	case DNSCheck:
		c.DNSType, c.DNSName = "SOA", "."
	}
	return c
}

func (d *ndec) check(n strictyaml.Value, virtualHost string) (Check, bool) {
	var c Check
	typeOK := false
	var urls strictyaml.Value
	hasURLs := false
	fields := strictyaml.Fields{
		"type": func(v strictyaml.Value) {
			t, ok := v.Str()
			if !ok {
				return
			}
			if !slices.Contains(checkTypes, CheckType(t)) {
				names := make([]string, len(checkTypes))
				for i, t := range checkTypes {
					names[i] = string(t)
				}
				v.Errorf("%q is not one of %s", t, strings.Join(names, ", "))
				return
			}
			c = newNativeCheck(CheckType(t), d.pos(n))
			if c.Type == HTTPGet || c.Type == SSLGet {
				c.VirtualHost = virtualHost
			}
			typeOK = true
		},
		"connect_ip":         addrTo(&c.ConnectIP),
		"connect_port":       strictyaml.Int(&c.ConnectPort, 1, 65535),
		"bindto":             addrTo(&c.BindTo),
		"connect_timeout":    strictyaml.Duration(&c.ConnectTimeout, time.Millisecond, time.Hour),
		"retry":              strictyaml.Int(&c.Retry, 0, 1000),
		"delay_before_retry": strictyaml.Duration(&c.DelayBeforeRetry, 0, time.Hour),
		"virtualhost":        strictyaml.Str(&c.VirtualHost),
		"url":                func(v strictyaml.Value) { urls, hasURLs = v, true },
		"misc_path":          strictyaml.Checked(&c.MiscPath, msgScript),
		"misc_timeout":       strictyaml.Duration(&c.MiscTimeout, time.Millisecond, 24*time.Hour),
		"misc_dynamic":       strictyaml.Bool(&c.MiscDynamic),
		"user":               strictyaml.Checked(&c.User, msgUser),
		"group":              strictyaml.Checked(&c.Group, msgUser),
		"payload":            strictyaml.Checked(&c.Payload, func(s string) string { return msgHex(s, false) }),
		"require_reply":      strictyaml.Bool(&c.RequireReply),
		"reply":              strictyaml.Checked(&c.ReplyHex, func(s string) string { return msgHex(s, true) }),
		"min_reply_length":   strictyaml.Int(&c.MinReplyLength, 0, 65535),
		"max_reply_length":   strictyaml.Int(&c.MaxReplyLength, 0, 65535),
		"dns_type": strictyaml.Checked(&c.DNSType, func(s string) string {
			if !slices.Contains(dnsTypes, s) {
				return fmt.Sprintf("%q is not one of %s", s, strings.Join(dnsTypes, ", "))
			}
			return ""
		}),
		"dns_name":   strictyaml.Checked(&c.DNSName, func(s string) string { return msgNonEmpty("the name", s) }),
		"helo_name":  strictyaml.Checked(&c.HeloName, func(s string) string { return msgNonEmpty("the name", s) }),
		"track_file": strictyaml.Checked(&c.TrackFile, msgName),
		"weight":     strictyaml.Int(&c.Weight, -(1<<31 - 1), 1<<31-1),
		"reverse":    strictyaml.Bool(&c.Reverse),
		"dynamic":    strictyaml.Bool(&c.Dynamic),
	}
	// Keys that the check's type does not take are errors; the type is
	// read first.
	for k, types := range checkKeys {
		f := fields[k]
		fields[k] = func(v strictyaml.Value) {
			if !typeOK {
				return
			}
			if !slices.Contains(types, c.Type) {
				v.Errorf("%s has no %s", c.Type, k)
				return
			}
			f(v)
		}
	}
	p := n.Mapping(fields, "type")
	if !p.Has("type") {
		n.Require(p, "type")
		return c, false
	}
	if !typeOK {
		return c, false
	}
	switch c.Type {
	case MiscCheck:
		n.Require(p, "misc_path")
		needUser(p, "user", "group")
	case UDPCheck:
		if p.Has("reply") && !c.RequireReply {
			p["reply"].Errorf("needs \"require_reply: true\"")
		}
		if c.MinReplyLength > c.MaxReplyLength {
			p["min_reply_length"].Errorf("%d is above max_reply_length %d", c.MinReplyLength, c.MaxReplyLength)
		}
	case FileCheck:
		n.Require(p, "track_file")
		if p.Has("track_file") {
			d.refs = append(d.refs, nref{"track_file", c.TrackFile, p["track_file"]})
		}
	}
	if hasURLs {
		if c.Type == TCPCheck {
			urls.Errorf("TCP_CHECK has no url")
		} else {
			urls.List(func(e strictyaml.Value) {
				if u, ok := d.url(e); ok {
					c.URLs = append(c.URLs, u)
				}
			})
		}
	}
	return c, true
}

func (d *ndec) url(n strictyaml.Value) (URL, bool) {
	u := URL{Pos: d.pos(n)}
	p := n.Mapping(strictyaml.Fields{
		"path": strictyaml.Checked(&u.Path, func(s string) string { return msgNonEmpty("path", s) }),
		"digest": strictyaml.Checked(&u.Digest, func(s string) string {
			return msgDigest(s)
		}),
		"status_code": func(v strictyaml.Value) {
			one := func(e strictyaml.Value) {
				if !e.IsScalar() {
					e.Errorf("want a status code, a range such as \"200-299\", or a list of them")
					return
				}
				for _, w := range strings.Fields(e.Node().Value) {
					r, m := parseStatus(w)
					if m != "" {
						e.Errorf("%s", m)
						return
					}
					u.StatusCodes = append(u.StatusCodes, r)
				}
			}
			if v.IsList() {
				v.List(one)
				return
			}
			one(v)
		},
	})
	n.Require(p, "path")
	return u, p.Has("path")
}

// msgAgentKeys checks heartbeat.agent_keys.
func msgAgentKeys(s string) string {
	if !slices.Contains([]string{AgentKeysScoped, AgentKeysCluster, AgentKeysBoth}, s) {
		return fmt.Sprintf("%q is not scoped, cluster or both", s)
	}
	return ""
}
