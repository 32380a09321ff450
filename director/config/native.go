package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// ParseNative reads the native YAML format. It is strict: an unknown key,
// a duplicate key, a value of the wrong type, an anchor, alias or custom tag,
// or more than one document is an error naming the key and its line.
// Durations are Go duration strings with a unit ("10s", "1.5s", "5m"). The
// result has every default applied and is validated; the error, if any, is
// an ErrorList.
func ParseNative(name string, data []byte) (*Config, error) {
	var errs ErrorList
	d := &ndec{file: name, errs: &errs}
	if len(data) > maxFileSize {
		errs.add(Pos{File: name}, "file is larger than %d bytes", maxFileSize)
		return nil, errs
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	err := dec.Decode(&doc)
	if errors.Is(err, io.EOF) {
		errs.add(Pos{File: name, Line: 1}, "the file is empty; it needs at least \"version: %d\"", NativeVersion)
		return nil, errs
	}
	if err != nil {
		d.yamlErr(err)
		return nil, errs
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			d.yamlErr(err)
		} else {
			errs.add(Pos{name, more.Line}, "only one YAML document is allowed")
		}
		return nil, errs
	}
	if !d.plain(&doc, 0) {
		return nil, errs
	}
	c := Default()
	c.Format = FormatNative
	c.Files = []string{name}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	d.config(root, c)
	if len(errs) > 0 {
		slices.SortStableFunc(errs, func(a, b *Error) int { return a.Pos.Line - b.Pos.Line })
		return nil, errs
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// ndec decodes yaml.Node trees into the model.
type ndec struct {
	file string
	errs *ErrorList
	// refs are the references by name, checked by resolve.
	refs []nref
}

func (d *ndec) yamlErr(err error) {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.errs.add(Pos{d.file, line}, "%s", m[2])
		return
	}
	d.errs.add(Pos{File: d.file}, "%s", strings.TrimPrefix(msg, "yaml: "))
}

func (d *ndec) pos(n *yaml.Node) Pos { return Pos{d.file, n.Line} }

// plain refuses anchors, aliases, custom tags and deep nesting, so that
// every later step sees a plain tree.
func (d *ndec) plain(n *yaml.Node, depth int) bool {
	if depth > 32 {
		d.errs.add(d.pos(n), "nested too deep")
		return false
	}
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		d.errs.add(d.pos(n), "anchors and aliases are not supported")
		return false
	}
	switch n.ShortTag() {
	case "!!str", "!!int", "!!bool", "!!float", "!!null", "!!map", "!!seq", "!!timestamp", "":
	default:
		d.errs.add(d.pos(n), "tag %q is not supported", n.Tag)
		return false
	}
	for _, c := range n.Content {
		if !d.plain(c, depth+1) {
			return false
		}
	}
	return true
}

// nfield handles the value of one key.
type nfield func(key string, v *yaml.Node)

// mapping checks that n is a mapping with known, unique keys, and calls the
// handlers: first those named in first, then the others in document order,
// then those named in last. It returns the keys present.
func (d *ndec) mapping(n *yaml.Node, what string, fields map[string]nfield, first, last []string) map[string]bool {
	present := map[string]bool{}
	if n.Kind != yaml.MappingNode {
		if n.ShortTag() == "!!null" {
			return present
		}
		d.errs.add(d.pos(n), "%s: want a mapping of keys", what)
		return present
	}
	type pair struct{ k, v *yaml.Node }
	var pairs []pair
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errs.add(d.pos(k), "%s: keys must be plain strings", what)
			continue
		}
		if line, dup := seen[k.Value]; dup {
			d.errs.add(d.pos(k), "duplicate key %q (first at line %d)", k.Value, line)
			continue
		}
		seen[k.Value] = k.Line
		if _, ok := fields[k.Value]; !ok {
			d.errs.add(d.pos(k), "unknown key %q", k.Value)
			continue
		}
		present[k.Value] = true
		pairs = append(pairs, pair{k, v})
	}
	run := func(p pair) { fields[p.k.Value](p.k.Value, p.v) }
	for _, name := range first {
		for _, p := range pairs {
			if p.k.Value == name {
				run(p)
			}
		}
	}
	for _, p := range pairs {
		if !slices.Contains(first, p.k.Value) && !slices.Contains(last, p.k.Value) {
			run(p)
		}
	}
	for _, name := range last {
		for _, p := range pairs {
			if p.k.Value == name {
				run(p)
			}
		}
	}
	return present
}

func (d *ndec) bad(v *yaml.Node, key, format string, args ...any) {
	d.errs.add(d.pos(v), "key %q: %s", key, fmt.Sprintf(format, args...))
}

func (d *ndec) require(n *yaml.Node, present map[string]bool, keys ...string) {
	for _, k := range keys {
		if !present[k] {
			d.errs.add(d.pos(n), "missing key %q", k)
		}
	}
}

// Scalar decoders. Each reports its own error and returns ok.

func (d *ndec) str(key string, v *yaml.Node, dst *string) bool {
	if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
		d.bad(v, key, "want a string")
		return false
	}
	*dst = v.Value
	return true
}

func (d *ndec) strTo(dst *string) nfield {
	return func(key string, v *yaml.Node) { d.str(key, v, dst) }
}

func (d *ndec) intv(key string, v *yaml.Node, lo, hi int) (int, bool) {
	var n int64
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || v.Decode(&n) != nil {
		d.bad(v, key, "want an integer")
		return 0, false
	}
	if n < int64(lo) || n > int64(hi) {
		d.bad(v, key, "%s", msgRange(int(max(min(n, 1<<40), -1<<40)), lo, hi))
		return 0, false
	}
	return int(n), true
}

func (d *ndec) intTo(dst *int, lo, hi int) nfield {
	return func(key string, v *yaml.Node) {
		if n, ok := d.intv(key, v, lo, hi); ok {
			*dst = n
		}
	}
}

func (d *ndec) boolTo(dst *bool) nfield {
	return func(key string, v *yaml.Node) {
		var b bool
		if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!bool" || v.Decode(&b) != nil {
			d.bad(v, key, "want true or false")
			return
		}
		*dst = b
	}
}

func (d *ndec) dur(key string, v *yaml.Node, lo, hi time.Duration) (time.Duration, bool) {
	if v.Kind != yaml.ScalarNode || v.ShortTag() == "!!null" {
		d.bad(v, key, "want a duration such as \"10s\"")
		return 0, false
	}
	if t := v.ShortTag(); t == "!!int" || t == "!!float" {
		d.bad(v, key, "%q needs a unit, e.g. \"%ss\"", v.Value, v.Value)
		return 0, false
	}
	x, err := time.ParseDuration(v.Value)
	if err != nil {
		d.bad(v, key, "%q is not a duration such as \"10s\", \"1.5s\" or \"5m\"", v.Value)
		return 0, false
	}
	if m := msgDurRange(x, lo, hi); m != "" {
		d.bad(v, key, "%s", m)
		return 0, false
	}
	return x, true
}

func (d *ndec) durTo(dst *time.Duration, lo, hi time.Duration) nfield {
	return func(key string, v *yaml.Node) {
		if x, ok := d.dur(key, v, lo, hi); ok {
			*dst = x
		}
	}
}

// checked decodes a string and checks it with msg.
func (d *ndec) checked(dst *string, msg func(string) string) nfield {
	return func(key string, v *yaml.Node) {
		var s string
		if !d.str(key, v, &s) {
			return
		}
		if m := msg(s); m != "" {
			d.bad(v, key, "%s", m)
			return
		}
		*dst = s
	}
}

func (d *ndec) addrTo(dst *netip.Addr) nfield {
	return func(key string, v *yaml.Node) {
		var s string
		if !d.str(key, v, &s) {
			return
		}
		a, m := parseAddr(s)
		if m != "" {
			d.bad(v, key, "%s", m)
			return
		}
		*dst = a
	}
}

// addrPort parses "IP:PORT", "[IPv6]:PORT" or a bare "IP" (port 0).
func (d *ndec) addrPort(key string, v *yaml.Node) (netip.AddrPort, bool) {
	var s string
	if !d.str(key, v, &s) {
		return netip.AddrPort{}, false
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if m := msgAddr(ap.Addr()); m != "" {
			d.bad(v, key, "%s", m)
			return netip.AddrPort{}, false
		}
		return ap, true
	}
	a, m := parseAddr(s)
	if m != "" {
		d.bad(v, key, "%q is not IP:PORT, [IPv6]:PORT or an IP address", s)
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, 0), true
}

// list calls item for each element of a sequence.
func (d *ndec) list(key string, v *yaml.Node, item func(*yaml.Node)) {
	if v.Kind != yaml.SequenceNode {
		if v.ShortTag() == "!!null" {
			return
		}
		d.bad(v, key, "want a list")
		return
	}
	for _, e := range v.Content {
		item(e)
	}
}

func (d *ndec) config(root *yaml.Node, c *Config) {
	var version int
	deadAfterSet := false
	syncIDSet := false
	present := d.mapping(root, "configuration", map[string]nfield{
		"version": d.intTo(&version, NativeVersion, NativeVersion),
		"node": d.checked(&c.Node, func(s string) string {
			if s == "" || strings.ContainsAny(s, " \t\n\r") || len(s) > 255 {
				return fmt.Sprintf("%q must be 1..255 bytes without white space", s)
			}
			return ""
		}),
		"notification": func(key string, v *yaml.Node) {
			n := &c.Notification
			n.Pos = d.pos(v)
			d.mapping(v, key, map[string]nfield{
				"email": func(key string, v *yaml.Node) {
					d.list(key, v, func(e *yaml.Node) {
						var s string
						if d.str(key, e, &s) {
							n.Email = append(n.Email, s)
						}
					})
				},
				"from": d.strTo(&n.From),
				"smtp_server": func(key string, v *yaml.Node) {
					var s string
					if !d.str(key, v, &s) {
						return
					}
					if h, p, err := splitHostPort(s); err == nil {
						n.SMTPServer = joinHostPort(h, p)
					} else if msgHost(s) == "" {
						n.SMTPServer = joinHostPort(s, DefaultSMTPPort)
					} else {
						d.bad(v, key, "%q is not HOST or HOST:PORT", s)
					}
				},
				"smtp_connect_timeout": d.durTo(&n.SMTPConnectTimeout, time.Millisecond, time.Hour),
				"no_email_faults":      d.boolTo(&n.NoEmailFaults),
			}, nil, nil)
		},
		"logging": func(key string, v *yaml.Node) {
			l := &c.Logging
			l.Pos = d.pos(v)
			d.mapping(v, key, map[string]nfield{
				"format": d.checked(&l.Format, func(s string) string {
					if s != "text" && s != "json" {
						return fmt.Sprintf("%q is not text or json", s)
					}
					return ""
				}),
				"level": d.checked(&l.Level, func(s string) string {
					if !slices.Contains([]string{"debug", "info", "warn", "error"}, s) {
						return fmt.Sprintf("%q is not debug, info, warn or error", s)
					}
					return ""
				}),
				"syslog": d.boolTo(&l.Syslog),
				"facility": d.checked(&l.Facility, func(s string) string {
					if !slices.Contains(facilities, s) {
						return fmt.Sprintf("unknown syslog facility %q", s)
					}
					return ""
				}),
			}, nil, nil)
		},
		"heartbeat": func(key string, v *yaml.Node) {
			h := &c.Heartbeat
			h.Pos = d.pos(v)
			p := d.mapping(v, key, map[string]nfield{
				"enabled":           d.boolTo(&h.Enabled),
				"listen":            d.checked(&h.Listen, msgListen),
				"key_file":          d.checked(&h.KeyFile, func(s string) string { return msgNonEmpty("path", s) }),
				"interval":          d.durTo(&h.Interval, 10*time.Millisecond, time.Hour),
				"dead_after":        d.durTo(&h.DeadAfter, 10*time.Millisecond, 24*time.Hour),
				"window":            d.durTo(&h.Window, time.Second, time.Hour),
				"previous_key_file": d.checked(&h.PreviousKeyFile, func(s string) string { return msgNonEmpty("path", s) }),
				"agent_keys":        d.checked(&h.AgentKeys, msgAgentKeys),
			}, nil, nil)
			deadAfterSet = p["dead_after"]
		},
		"drain": func(key string, v *yaml.Node) {
			c.Drain.Pos = d.pos(v)
			d.mapping(v, key, map[string]nfield{
				"timeout":             d.durTo(&c.Drain.Timeout, 0, 7*24*time.Hour),
				"remove_when_drained": d.boolTo(&c.Drain.RemoveWhenDrained),
			}, nil, nil)
		},
		"control_socket": d.checked(&c.ControlSocket, func(s string) string {
			if !strings.HasPrefix(s, "/") {
				return fmt.Sprintf("%q is not an absolute path", s)
			}
			return ""
		}),
		"metrics": func(key string, v *yaml.Node) {
			c.Metrics.Pos = d.pos(v)
			d.mapping(v, key, map[string]nfield{
				"enabled": d.boolTo(&c.Metrics.Enabled),
				"listen":  d.checked(&c.Metrics.Listen, msgListen),
			}, nil, nil)
		},
		"ipvs": func(key string, v *yaml.Node) {
			x := &c.IPVS
			x.Pos = d.pos(v)
			d.mapping(v, key, map[string]nfield{
				"expire_nodest_conn":        d.boolTo(&x.ExpireNodestConn),
				"expire_quiescent_template": d.boolTo(&x.ExpireQuiescentTemplate),
				"conn_reuse_mode":           d.intTo(&x.ConnReuseMode, 0, 3),
				"remove_on_stop":            d.boolTo(&x.RemoveOnStop),
			}, nil, nil)
		},
		"lvs_sync_daemon": func(key string, v *yaml.Node) {
			s := &ConnSync{Pos: d.pos(v)}
			p := d.mapping(v, key, map[string]nfield{
				"interface": d.checked(&s.Interface, msgIfName),
				"instance":  d.strTo(&s.Instance),
				"sync_id":   d.intTo(&s.SyncID, 0, 255),
			}, nil, nil)
			d.require(v, p, "interface")
			syncIDSet = p["sync_id"]
			c.ConnSync = s
		},
		"fast_failover": func(key string, v *yaml.Node) {
			f := &c.FastFailover
			f.Pos = d.pos(v)
			d.mapping(v, key, map[string]nfield{
				"enabled":          d.boolTo(&f.Enabled),
				"port":             d.intTo(&f.Port, 1, 65535),
				"interval":         d.durTo(&f.Interval, time.Millisecond, time.Minute),
				"multiplier":       d.intTo(&f.Multiplier, 1, 255),
				"witness_quorum":   d.intTo(&f.WitnessQuorum, 0, maxWitnessQuorum),
				"witness_wait":     d.durTo(&f.WitnessWait, time.Millisecond, maxWitnessWait),
				"witness_max_veto": d.durTo(&f.WitnessMaxVeto, time.Millisecond, maxWitnessMaxVeto),
				"peer":             d.addrTo(&f.Peer),
			}, nil, nil)
		},
		"script_user":     d.checked(&c.ScriptUser, msgUser),
		"script_group":    d.checked(&c.ScriptGroup, msgUser),
		"script_security": d.boolTo(&c.ScriptSecurity),
		"vrrp_scripts": func(key string, v *yaml.Node) {
			d.list(key, v, func(e *yaml.Node) {
				if s, ok := d.script(e); ok {
					c.Scripts = append(c.Scripts, s)
				}
			})
		},
		"track_processes": func(key string, v *yaml.Node) {
			d.list(key, v, func(e *yaml.Node) {
				if t, ok := d.trackProcess(e); ok {
					c.TrackProcesses = append(c.TrackProcesses, t)
				}
			})
		},
		"track_files": func(key string, v *yaml.Node) {
			d.list(key, v, func(e *yaml.Node) {
				if t, ok := d.trackFile(e); ok {
					c.TrackFiles = append(c.TrackFiles, t)
				}
			})
		},
		"vrrp_instances": func(key string, v *yaml.Node) {
			d.list(key, v, func(e *yaml.Node) { c.VRRP = append(c.VRRP, d.instance(e)) })
		},
		"sync_groups": func(key string, v *yaml.Node) {
			d.list(key, v, func(e *yaml.Node) {
				if g, ok := d.syncGroup(e); ok {
					c.SyncGroups = append(c.SyncGroups, g)
				}
			})
		},
		"static": func(_ string, v *yaml.Node) { d.static(v, &c.Static) },
		"virtual_servers": func(key string, v *yaml.Node) {
			d.list(key, v, func(e *yaml.Node) {
				if s, ok := d.service(e); ok {
					c.Services = append(c.Services, s)
				}
			})
		},
	}, nil, nil)
	d.needUser(root, present, "script_user", "script_group")
	d.resolve(c)
	if root.Kind == yaml.MappingNode && !present["version"] {
		d.errs.add(d.pos(root), "missing key \"version\" (this format is version %d: add \"version: %d\")", NativeVersion, NativeVersion)
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

func (d *ndec) instance(n *yaml.Node) VRRPInstance {
	in := newInstance("", d.pos(n))
	state := string(in.State)
	fields := map[string]nfield{
		"name": d.checked(&in.Name, func(s string) string {
			if s == "" || strings.ContainsAny(s, " \t\n\r") {
				return fmt.Sprintf("%q is not a valid instance name", s)
			}
			return ""
		}),
		"state":             d.checked(&state, func(s string) string { return msgState(VRRPState(s)) }),
		"interface":         d.checked(&in.Interface, msgIfName),
		"virtual_router_id": d.intTo(&in.VirtualRouterID, 1, 255),
		"priority":          d.intTo(&in.Priority, 1, 255),
		"nopreempt":         d.boolTo(&in.NoPreempt),
		"preempt_delay":     d.durTo(&in.PreemptDelay, 0, 1000*time.Second),
		"advert_int":        d.durTo(&in.AdvertInt, time.Millisecond, 255*time.Second),
		"version":           d.intTo(&in.Version, 2, 3),
		"authentication": func(key string, v *yaml.Node) {
			a := &Auth{Type: AuthPass, Pos: d.pos(v)}
			p := d.mapping(v, key, map[string]nfield{
				"auth_type": d.checked(&a.Type, func(s string) string {
					if s != AuthPass {
						return fmt.Sprintf("%q is not supported (only PASS)", s)
					}
					return ""
				}),
				"auth_pass": d.checked(&a.Pass, msgAuthPass),
			}, nil, nil)
			d.require(v, p, "auth_pass")
			in.Auth = a
		},
		"virtual_ipaddress":          d.addresses(&in.VirtualIPs),
		"virtual_ipaddress_excluded": d.addresses(&in.ExcludedVIPs),
		"virtual_routes":             d.routes(&in.VirtualRoutes),
		"virtual_rules":              d.rules(&in.VirtualRules),
		"unicast_src_ip":             d.addrTo(&in.SourceIP),
		"unicast_peer": func(key string, v *yaml.Node) {
			d.list(key, v, func(e *yaml.Node) {
				var a netip.Addr
				d.addrTo(&a)(key, e)
				if a.IsValid() {
					in.UnicastPeers = append(in.UnicastPeers, UnicastPeer{Addr: a, Pos: d.pos(e)})
				}
			})
		},
		"track_interface":            d.trackInterfaces(&in.TrackInterfaces),
		"notify_master":              d.checked(&in.Notify.Master, msgScript),
		"notify_backup":              d.checked(&in.Notify.Backup, msgScript),
		"notify_fault":               d.checked(&in.Notify.Fault, msgScript),
		"notify_stop":                d.checked(&in.Notify.Stop, msgScript),
		"notify":                     d.checked(&in.Notify.Any, msgScript),
		"smtp_alert":                 d.boolTo(&in.SMTPAlert),
		"garp_master_delay":          d.durTo(&in.GARPMasterDelay, 0, time.Hour),
		"garp_master_repeat":         d.intTo(&in.GARPMasterRepeat, 1, 255),
		"garp_master_refresh":        d.durTo(&in.GARPMasterRefresh, 0, 24*time.Hour),
		"garp_master_refresh_repeat": d.intTo(&in.GARPMasterRefreshRepeat, 1, 255),
	}
	d.trackFields(fields, &in.Track)
	p := d.mapping(n, "vrrp instance", fields, nil, nil)
	d.require(n, p, "name", "interface", "virtual_router_id", "virtual_ipaddress")
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

func (d *ndec) service(n *yaml.Node) (VirtualService, bool) {
	s := newService(d.pos(n))
	s.Forwarding = DR // the native default: Tandem is an LVS-DR director
	proto, sched, method := string(s.Protocol), s.Scheduler, string(s.Forwarding)
	var inhibit bool
	var virtualHost string
	var sorry *yaml.Node
	var rsNodes *yaml.Node
	p := d.mapping(n, "virtual server", map[string]nfield{
		"address": func(key string, v *yaml.Node) {
			if ap, ok := d.addrPort(key, v); ok {
				s.Addr = ap
			}
		},
		"fwmark": func(key string, v *yaml.Node) {
			if m, ok := d.intv(key, v, 1, 1<<32-1); ok {
				s.FWMark = uint32(m)
			}
		},
		"protocol":             d.checked(&proto, func(x string) string { return msgProtocol(Protocol(x)) }),
		"delay_loop":           d.durTo(&s.DelayLoop, 10*time.Millisecond, 24*time.Hour),
		"lvs_sched":            d.checked(&sched, msgScheduler),
		"lvs_method":           d.checked(&method, func(x string) string { return msgForwarding(Forwarding(x)) }),
		"persistence_timeout":  d.durTo(&s.Persistence, 0, (1<<31-1)*time.Second),
		"sorry_server":         func(_ string, v *yaml.Node) { sorry = v },
		"sorry_server_inhibit": d.boolTo(&s.SorryServerInhibit),
		"quorum":               d.intTo(&s.Quorum, 1, 1<<31-1),
		"hysteresis":           d.intTo(&s.Hysteresis, 0, 1<<31-1),
		"quorum_up":            d.checked(&s.QuorumUp, msgScript),
		"quorum_down":          d.checked(&s.QuorumDown, msgScript),
		"alpha":                d.boolTo(&s.Alpha),
		"omega":                d.boolTo(&s.Omega),
		"inhibit_on_failure":   d.boolTo(&inhibit),
		"virtualhost":          d.strTo(&virtualHost),
		"real_servers":         func(_ string, v *yaml.Node) { rsNodes = v },
		"group":                d.checked(&s.Group, msgName),
	}, nil, nil)
	s.Protocol, s.Scheduler, s.Forwarding = Protocol(proto), sched, Forwarding(method)
	switch {
	case p["address"] && p["fwmark"]:
		d.errs.add(d.pos(n), "give either key \"address\" or key \"fwmark\", not both")
		return s, false
	case !p["address"] && !p["fwmark"]:
		d.errs.add(d.pos(n), "missing key \"address\" (or \"fwmark\")")
		return s, false
	}
	if sorry != nil {
		if ap, ok := d.addrPort("sorry_server", sorry); ok {
			if ap.Port() == 0 && s.FWMark == 0 {
				ap = netip.AddrPortFrom(ap.Addr(), s.Addr.Port())
			}
			s.SorryServer = &SorryServer{Addr: ap, Pos: d.pos(sorry)}
		}
	}
	if rsNodes != nil {
		d.list("real_servers", rsNodes, func(e *yaml.Node) {
			if rs, ok := d.realServer(e, &s, inhibit, virtualHost); ok {
				s.RealServers = append(s.RealServers, rs)
			}
		})
	}
	return s, true
}

func (d *ndec) realServer(n *yaml.Node, s *VirtualService, inhibit bool, virtualHost string) (RealServer, bool) {
	rs := newRealServer(netip.AddrPort{}, d.pos(n))
	rs.InhibitOnFailure = inhibit
	var checks *yaml.Node
	p := d.mapping(n, "real server", map[string]nfield{
		"address": func(key string, v *yaml.Node) {
			if ap, ok := d.addrPort(key, v); ok {
				rs.Addr = ap
			}
		},
		"weight":             d.intTo(&rs.Weight, 0, 65535),
		"inhibit_on_failure": d.boolTo(&rs.InhibitOnFailure),
		"notify_up":          d.checked(&rs.NotifyUp, msgScript),
		"notify_down":        d.checked(&rs.NotifyDown, msgScript),
		"checks":             func(_ string, v *yaml.Node) { checks = v },
	}, nil, nil)
	if !p["address"] {
		d.require(n, p, "address")
		return rs, false
	}
	if rs.Addr.Port() == 0 && s.FWMark == 0 {
		rs.Addr = netip.AddrPortFrom(rs.Addr.Addr(), s.Addr.Port())
	}
	if checks != nil {
		d.list("checks", checks, func(e *yaml.Node) {
			if c, ok := d.check(e, virtualHost); ok {
				rs.Checks = append(rs.Checks, c)
			}
		})
	}
	return rs, true
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

func (d *ndec) check(n *yaml.Node, virtualHost string) (Check, bool) {
	var c Check
	typeOK := false
	var urls *yaml.Node
	fields := map[string]nfield{
		"type": func(key string, v *yaml.Node) {
			var t string
			if !d.str(key, v, &t) {
				return
			}
			if !slices.Contains(checkTypes, CheckType(t)) {
				names := make([]string, len(checkTypes))
				for i, t := range checkTypes {
					names[i] = string(t)
				}
				d.bad(v, key, "%q is not one of %s", t, strings.Join(names, ", "))
				return
			}
			c = newNativeCheck(CheckType(t), d.pos(n))
			if c.Type == HTTPGet || c.Type == SSLGet {
				c.VirtualHost = virtualHost
			}
			typeOK = true
		},
		"connect_ip":         d.addrTo(&c.ConnectIP),
		"connect_port":       d.intTo(&c.ConnectPort, 1, 65535),
		"bindto":             d.addrTo(&c.BindTo),
		"connect_timeout":    d.durTo(&c.ConnectTimeout, time.Millisecond, time.Hour),
		"retry":              d.intTo(&c.Retry, 0, 1000),
		"delay_before_retry": d.durTo(&c.DelayBeforeRetry, 0, time.Hour),
		"virtualhost":        d.strTo(&c.VirtualHost),
		"url":                func(_ string, v *yaml.Node) { urls = v },
		"misc_path":          d.checked(&c.MiscPath, msgScript),
		"misc_timeout":       d.durTo(&c.MiscTimeout, time.Millisecond, 24*time.Hour),
		"misc_dynamic":       d.boolTo(&c.MiscDynamic),
		"user":               d.checked(&c.User, msgUser),
		"group":              d.checked(&c.Group, msgUser),
		"payload":            d.checked(&c.Payload, func(s string) string { return msgHex(s, false) }),
		"require_reply":      d.boolTo(&c.RequireReply),
		"reply":              d.checked(&c.ReplyHex, func(s string) string { return msgHex(s, true) }),
		"min_reply_length":   d.intTo(&c.MinReplyLength, 0, 65535),
		"max_reply_length":   d.intTo(&c.MaxReplyLength, 0, 65535),
		"dns_type": d.checked(&c.DNSType, func(s string) string {
			if !slices.Contains(dnsTypes, s) {
				return fmt.Sprintf("%q is not one of %s", s, strings.Join(dnsTypes, ", "))
			}
			return ""
		}),
		"dns_name":   d.checked(&c.DNSName, func(s string) string { return msgNonEmpty("the name", s) }),
		"helo_name":  d.checked(&c.HeloName, func(s string) string { return msgNonEmpty("the name", s) }),
		"track_file": d.checked(&c.TrackFile, msgName),
		"weight":     d.intTo(&c.Weight, -(1<<31 - 1), 1<<31-1),
		"reverse":    d.boolTo(&c.Reverse),
		"dynamic":    d.boolTo(&c.Dynamic),
	}
	// Keys that the check's type does not take are errors; the type is
	// read first.
	for k, types := range checkKeys {
		f := fields[k]
		fields[k] = func(key string, v *yaml.Node) {
			if !typeOK {
				return
			}
			if !slices.Contains(types, c.Type) {
				d.bad(v, key, "%s has no %s", c.Type, key)
				return
			}
			f(key, v)
		}
	}
	p := d.mapping(n, "check", fields, []string{"type"}, nil)
	if !p["type"] {
		d.require(n, p, "type")
		return c, false
	}
	if !typeOK {
		return c, false
	}
	switch c.Type {
	case MiscCheck:
		d.require(n, p, "misc_path")
		d.needUser(n, p, "user", "group")
	case UDPCheck:
		if p["reply"] && !c.RequireReply {
			d.errs.add(d.pos(n), "key \"reply\" needs \"require_reply: true\"")
		}
		if c.MinReplyLength > c.MaxReplyLength {
			d.errs.add(d.pos(n), "key \"min_reply_length\": %d is above max_reply_length %d", c.MinReplyLength, c.MaxReplyLength)
		}
	case FileCheck:
		d.require(n, p, "track_file")
		if p["track_file"] {
			d.refs = append(d.refs, nref{"track_file", c.TrackFile, d.pos(n)})
		}
	}
	if urls != nil {
		if c.Type == TCPCheck {
			d.bad(urls, "url", "TCP_CHECK has no url")
		} else {
			d.list("url", urls, func(e *yaml.Node) {
				if u, ok := d.url(e); ok {
					c.URLs = append(c.URLs, u)
				}
			})
		}
	}
	return c, true
}

func (d *ndec) url(n *yaml.Node) (URL, bool) {
	u := URL{Pos: d.pos(n)}
	p := d.mapping(n, "url", map[string]nfield{
		"path": d.checked(&u.Path, func(s string) string { return msgNonEmpty("path", s) }),
		"digest": d.checked(&u.Digest, func(s string) string {
			return msgDigest(s)
		}),
		"status_code": func(key string, v *yaml.Node) {
			one := func(e *yaml.Node) {
				if e.Kind != yaml.ScalarNode || e.ShortTag() == "!!null" {
					d.bad(e, key, "want a status code, a range such as \"200-299\", or a list of them")
					return
				}
				for _, w := range strings.Fields(e.Value) {
					r, m := parseStatus(w)
					if m != "" {
						d.bad(e, key, "%s", m)
						return
					}
					u.StatusCodes = append(u.StatusCodes, r)
				}
			}
			if v.Kind == yaml.SequenceNode {
				d.list(key, v, one)
				return
			}
			one(v)
		},
	}, nil, nil)
	d.require(n, p, "path")
	return u, p["path"]
}

// msgAgentKeys checks heartbeat.agent_keys.
func msgAgentKeys(s string) string {
	if !slices.Contains([]string{AgentKeysScoped, AgentKeysCluster, AgentKeysBoth}, s) {
		return fmt.Sprintf("%q is not scoped, cluster or both", s)
	}
	return ""
}
