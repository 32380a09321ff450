package config

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The native keys of tracking (vrrp_scripts, track_processes, track_files
// and the track_* lists that refer to them), sync groups, and the
// addresses, routes and rules kept outside VRRP (static) or with it
// (virtual_ipaddress_excluded, virtual_routes, virtual_rules).

// nref is a reference by name, checked once the whole file is read.
type nref struct {
	kind string // "track_script", "track_process", "track_file", "FILE_CHECK"
	name string
	pos  Pos
}

// msgName checks the name of a tracked object or a sync group.
func msgName(s string) string {
	if strings.TrimSpace(s) == "" {
		return "the name is empty"
	}
	return ""
}

// msgUser checks a user or group name.
func msgUser(s string) string {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return fmt.Sprintf("%q is not a user or group name", s)
	}
	return ""
}

// needUser reports key "group" given without key "user".
func (d *ndec) needUser(n *yaml.Node, present map[string]bool, user, group string) {
	if present[group] && !present[user] {
		d.errs.add(d.pos(n), "key %q needs key %q", group, user)
	}
}

func (d *ndec) script(n *yaml.Node) (VRRPScript, bool) {
	s := VRRPScript{Interval: DefaultScriptInterval, Rise: DefaultScriptRise, Fall: DefaultScriptFall, Pos: d.pos(n)}
	p := d.mapping(n, "vrrp script", map[string]nfield{
		"name":      d.checked(&s.Name, msgName),
		"script":    d.checked(&s.Script, msgScript),
		"interval":  d.durTo(&s.Interval, 10*time.Millisecond, 24*time.Hour),
		"timeout":   d.durTo(&s.Timeout, 10*time.Millisecond, 24*time.Hour),
		"weight":    d.intTo(&s.Weight, -MaxTrackWeight, MaxTrackWeight),
		"reverse":   d.boolTo(&s.Reverse),
		"rise":      d.intTo(&s.Rise, 1, 1<<20),
		"fall":      d.intTo(&s.Fall, 1, 1<<20),
		"user":      d.checked(&s.User, msgUser),
		"group":     d.checked(&s.Group, msgUser),
		"init_fail": d.boolTo(&s.InitFail),
	}, nil, nil)
	d.require(n, p, "name", "script")
	d.needUser(n, p, "user", "group")
	return s, p["name"] && p["script"]
}

func (d *ndec) trackProcess(n *yaml.Node) (TrackProcess, bool) {
	t := TrackProcess{Quorum: DefaultProcessQuorum, ParamMatch: "exact", Pos: d.pos(n)}
	p := d.mapping(n, "track process", map[string]nfield{
		"name":    d.checked(&t.Name, msgName),
		"process": d.checked(&t.Process, func(s string) string { return msgNonEmpty("the process name", s) }),
		"param":   d.strTo(&t.Param),
		"param_match": d.checked(&t.ParamMatch, func(s string) string {
			switch s {
			case "exact", "partial", "initial":
				return ""
			}
			return fmt.Sprintf("%q is not exact, partial or initial", s)
		}),
		"full_command":    d.boolTo(&t.FullCommand),
		"quorum":          d.intTo(&t.Quorum, 0, 1<<20),
		"quorum_max":      d.intTo(&t.QuorumMax, 0, 1<<20),
		"weight":          d.intTo(&t.Weight, -MaxTrackWeight, MaxTrackWeight),
		"reverse":         d.boolTo(&t.Reverse),
		"delay":           d.durTo(&t.Delay, 0, 24*time.Hour),
		"fork_delay":      d.durTo(&t.ForkDelay, 0, 24*time.Hour),
		"terminate_delay": d.durTo(&t.TermDelay, 0, 24*time.Hour),
	}, nil, nil)
	d.require(n, p, "name", "process")
	if !p["fork_delay"] {
		t.ForkDelay = t.Delay
	}
	if !p["terminate_delay"] {
		t.TermDelay = t.Delay
	}
	if t.QuorumMax != 0 && t.QuorumMax < t.Quorum {
		d.errs.add(d.pos(n), "key \"quorum_max\": %d is below quorum %d", t.QuorumMax, t.Quorum)
	}
	return t, p["name"] && p["process"]
}

func (d *ndec) trackFile(n *yaml.Node) (TrackFile, bool) {
	t := TrackFile{Weight: DefaultTrackFileWeight, Pos: d.pos(n)}
	p := d.mapping(n, "track file", map[string]nfield{
		"name":    d.checked(&t.Name, msgName),
		"file":    d.checked(&t.File, func(s string) string { return msgNonEmpty("path", s) }),
		"weight":  d.intTo(&t.Weight, -MaxTrackWeight, MaxTrackWeight),
		"reverse": d.boolTo(&t.Reverse),
		"init_file": func(key string, v *yaml.Node) {
			if x, ok := d.intv(key, v, -1<<31, 1<<31-1); ok {
				t.InitFile = &x
			}
		},
		"overwrite": d.boolTo(&t.Overwrite),
	}, nil, nil)
	d.require(n, p, "name", "file")
	if p["overwrite"] && !p["init_file"] {
		d.errs.add(d.pos(n), "key \"overwrite\" needs key \"init_file\"")
	}
	return t, p["name"] && p["file"]
}

// trackRefs decodes a track_script, track_process or track_file list:
// each element "NAME", "NAME weight W" or "NAME weight W reverse", or a
// mapping {name, weight, reverse} (for a name with white space in it).
func (d *ndec) trackRefs(dst *[]TrackRef) nfield {
	return func(key string, v *yaml.Node) {
		d.list(key, v, func(e *yaml.Node) {
			r := TrackRef{Pos: d.pos(e)}
			if e.Kind == yaml.MappingNode {
				p := d.mapping(e, key, map[string]nfield{
					"name": d.checked(&r.Name, msgName),
					"weight": func(key string, v *yaml.Node) {
						if w, ok := d.intv(key, v, -MaxTrackWeight, MaxTrackWeight); ok {
							r.Weight, r.WeightSet = w, true
						}
					},
					"reverse": d.boolTo(&r.Reverse),
				}, nil, nil)
				d.require(e, p, "name")
				if p["reverse"] && !p["weight"] {
					d.errs.add(d.pos(e), "key \"reverse\" needs key \"weight\"")
				}
				if p["name"] {
					*dst = append(*dst, r)
					d.refs = append(d.refs, nref{key, r.Name, r.Pos})
				}
				return
			}
			var s string
			if !d.str(key, e, &s) {
				return
			}
			w := strings.Fields(s)
			switch {
			case len(w) == 1:
			case (len(w) == 3 || len(w) == 4 && w[3] == "reverse") && w[1] == "weight":
				x, m := parseInt(w[2], -MaxTrackWeight, MaxTrackWeight)
				if m != "" {
					d.bad(e, key, "weight %s", m)
					return
				}
				r.Weight, r.WeightSet, r.Reverse = x, true, len(w) == 4
			default:
				d.bad(e, key, "%q: want NAME [weight -253..253 [reverse]]", s)
				return
			}
			r.Name = w[0]
			*dst = append(*dst, r)
			d.refs = append(d.refs, nref{key, r.Name, r.Pos})
		})
	}
}

// trackFields adds the track_* lists of an instance or a sync group.
func (d *ndec) trackFields(fields map[string]nfield, t *Tracking) {
	fields["track_script"] = d.trackRefs(&t.Scripts)
	fields["track_process"] = d.trackRefs(&t.Processes)
	fields["track_file"] = d.trackRefs(&t.Files)
}

// trackInterfaces decodes a track_interface list.
func (d *ndec) trackInterfaces(dst *[]TrackInterface) nfield {
	return func(key string, v *yaml.Node) {
		d.list(key, v, func(e *yaml.Node) {
			var s string
			if !d.str(key, e, &s) {
				return
			}
			t, m := parseTrackInterface(strings.Fields(s))
			if m != "" {
				d.bad(e, key, "%s", m)
				return
			}
			t.Pos = d.pos(e)
			*dst = append(*dst, t)
		})
	}
}

// addresses decodes a list of address lines (virtual_ipaddress and the
// like).
func (d *ndec) addresses(dst *[]VirtualIP) nfield {
	return func(key string, v *yaml.Node) {
		d.list(key, v, func(e *yaml.Node) {
			var s string
			if !d.str(key, e, &s) {
				return
			}
			vip, m := parseVIP(strings.Fields(s))
			if m != "" {
				d.bad(e, key, "%s", m)
				return
			}
			vip.Pos = d.pos(e)
			*dst = append(*dst, vip)
		})
	}
}

// routes decodes a list of route lines.
func (d *ndec) routes(dst *[]Route) nfield {
	return func(key string, v *yaml.Node) {
		d.list(key, v, func(e *yaml.Node) {
			var s string
			if !d.str(key, e, &s) {
				return
			}
			r, m := parseRoute(s)
			if m != "" {
				d.bad(e, key, "%s", m)
				return
			}
			r.Pos = d.pos(e)
			*dst = append(*dst, r)
		})
	}
}

// rules decodes a list of rule lines.
func (d *ndec) rules(dst *[]Rule) nfield {
	return func(key string, v *yaml.Node) {
		d.list(key, v, func(e *yaml.Node) {
			var s string
			if !d.str(key, e, &s) {
				return
			}
			r, m := parseRule(s)
			if m != "" {
				d.bad(e, key, "%s", m)
				return
			}
			r.Pos = d.pos(e)
			*dst = append(*dst, r)
		})
	}
}

func (d *ndec) syncGroup(n *yaml.Node) (SyncGroup, bool) {
	g := SyncGroup{Pos: d.pos(n)}
	fields := map[string]nfield{
		"name": d.checked(&g.Name, msgName),
		"members": func(key string, v *yaml.Node) {
			d.list(key, v, func(e *yaml.Node) {
				var s string
				if d.str(key, e, &s) {
					g.Members = append(g.Members, s)
				}
			})
		},
		"notify_master":   d.checked(&g.Notify.Master, msgScript),
		"notify_backup":   d.checked(&g.Notify.Backup, msgScript),
		"notify_fault":    d.checked(&g.Notify.Fault, msgScript),
		"notify_stop":     d.checked(&g.Notify.Stop, msgScript),
		"notify":          d.checked(&g.Notify.Any, msgScript),
		"smtp_alert":      d.boolTo(&g.SMTPAlert),
		"track_interface": d.trackInterfaces(&g.TrackInterfaces),
		"global_tracking": d.boolTo(&g.GlobalTracking),
	}
	d.trackFields(fields, &g.Track)
	p := d.mapping(n, "sync group", fields, nil, nil)
	d.require(n, p, "name", "members")
	return g, p["name"] && p["members"]
}

func (d *ndec) static(n *yaml.Node, s *Static) {
	d.mapping(n, "static", map[string]nfield{
		"addresses": d.addresses(&s.Addresses),
		"routes":    d.routes(&s.Routes),
		"rules":     d.rules(&s.Rules),
	}, nil, nil)
}

// resolve checks what refers to something by name, once the whole file is
// read: track_* lists, FILE_CHECK's track_file and sync group members. A
// keepalived.conf reader warns and drops a dangling name; the native
// format refuses it.
func (d *ndec) resolve(c *Config) {
	seen := map[string]Pos{}
	dup := func(kind, name string, pos Pos) {
		k := kind + "\x00" + name
		if first, ok := seen[k]; ok {
			d.errs.add(pos, "%s %q is defined twice (first at line %d)", kind, name, first.Line)
			return
		}
		seen[k] = pos
	}
	for _, s := range c.Scripts {
		dup("vrrp script", s.Name, s.Pos)
	}
	for _, t := range c.TrackProcesses {
		dup("track process", t.Name, t.Pos)
	}
	for _, t := range c.TrackFiles {
		dup("track file", t.Name, t.Pos)
	}
	for _, r := range d.refs {
		var ok bool
		var where string
		switch r.kind {
		case "track_script":
			ok, where = c.Script(r.name) != nil, "vrrp_scripts"
		case "track_process":
			ok, where = c.TrackedProcess(r.name) != nil, "track_processes"
		default: // track_file of an instance, a group or a FILE_CHECK
			ok, where = c.TrackedFile(r.name) != nil, "track_files"
		}
		if !ok {
			d.errs.add(r.pos, "key %q: %q is not defined in %s", r.kind, r.name, where)
		}
	}
	member := map[string]string{}
	for _, g := range c.SyncGroups {
		for _, m := range g.Members {
			switch {
			case c.Instance(m) == nil:
				d.errs.add(g.Pos, "sync group %q: key \"members\": %q is not a vrrp instance", g.Name, m)
			case member[m] != "":
				d.errs.add(g.Pos, "sync group %q: key \"members\": instance %q is already in sync group %q (an instance can be in one group only)", g.Name, m, member[m])
			default:
				member[m] = g.Name
			}
		}
		if len(g.Members) < 2 {
			d.errs.add(g.Pos, "sync group %q: key \"members\": a sync group needs at least two instances", g.Name)
		}
	}
}
