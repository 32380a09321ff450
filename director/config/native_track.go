package config

import (
	"fmt"
	"strings"
	"time"

	"github.com/tandemlb/tandem/shared/strictyaml"
)

// The native keys of tracking (vrrp_scripts, track_processes, track_files
// and the track_* lists that refer to them), sync groups, and the
// addresses, routes and rules kept outside VRRP (static) or with it
// (virtual_ipaddress_excluded, virtual_routes, virtual_rules).

// nref is a reference by name, checked once the whole file is read.
type nref struct {
	kind string // "track_script", "track_process" or "track_file"
	name string
	at   strictyaml.Value
}

// nnamed is a tracked object's name, which must be unique in its kind.
type nnamed struct {
	kind string // "vrrp script", "track process", "track file"
	name string
	at   strictyaml.Value
}

// ngroup is a sync group's member list.
type ngroup struct {
	name    string
	members strictyaml.Value
	each    []strictyaml.Value // the members, as in SyncGroup.Members
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
func needUser(present strictyaml.Keys, user, group string) {
	if present.Has(group) && !present.Has(user) {
		present[group].Errorf("needs key %q", user)
	}
}

func (d *ndec) script(n strictyaml.Value) (VRRPScript, bool) {
	s := VRRPScript{Interval: DefaultScriptInterval, Rise: DefaultScriptRise, Fall: DefaultScriptFall, Pos: d.pos(n)}
	p := n.Mapping(strictyaml.Fields{
		"name":      strictyaml.Checked(&s.Name, msgName),
		"script":    strictyaml.Checked(&s.Script, msgScript),
		"interval":  strictyaml.Duration(&s.Interval, 10*time.Millisecond, 24*time.Hour),
		"timeout":   strictyaml.Duration(&s.Timeout, 10*time.Millisecond, 24*time.Hour),
		"weight":    strictyaml.Int(&s.Weight, -MaxTrackWeight, MaxTrackWeight),
		"reverse":   strictyaml.Bool(&s.Reverse),
		"rise":      strictyaml.Int(&s.Rise, 1, 1<<20),
		"fall":      strictyaml.Int(&s.Fall, 1, 1<<20),
		"user":      strictyaml.Checked(&s.User, msgUser),
		"group":     strictyaml.Checked(&s.Group, msgUser),
		"init_fail": strictyaml.Bool(&s.InitFail),
	})
	n.Require(p, "name", "script")
	needUser(p, "user", "group")
	return s, p.Has("name") && p.Has("script")
}

func (d *ndec) trackProcess(n strictyaml.Value) (TrackProcess, bool) {
	t := TrackProcess{Quorum: DefaultProcessQuorum, ParamMatch: "exact", Pos: d.pos(n)}
	p := n.Mapping(strictyaml.Fields{
		"name":    strictyaml.Checked(&t.Name, msgName),
		"process": strictyaml.Checked(&t.Process, func(s string) string { return msgNonEmpty("the process name", s) }),
		"param":   strictyaml.Str(&t.Param),
		"param_match": strictyaml.Checked(&t.ParamMatch, func(s string) string {
			switch s {
			case "exact", "partial", "initial":
				return ""
			}
			return fmt.Sprintf("%q is not exact, partial or initial", s)
		}),
		"full_command":    strictyaml.Bool(&t.FullCommand),
		"quorum":          strictyaml.Int(&t.Quorum, 0, 1<<20),
		"quorum_max":      strictyaml.Int(&t.QuorumMax, 0, 1<<20),
		"weight":          strictyaml.Int(&t.Weight, -MaxTrackWeight, MaxTrackWeight),
		"reverse":         strictyaml.Bool(&t.Reverse),
		"delay":           strictyaml.Duration(&t.Delay, 0, 24*time.Hour),
		"fork_delay":      strictyaml.Duration(&t.ForkDelay, 0, 24*time.Hour),
		"terminate_delay": strictyaml.Duration(&t.TermDelay, 0, 24*time.Hour),
	})
	n.Require(p, "name", "process")
	if !p.Has("fork_delay") {
		t.ForkDelay = t.Delay
	}
	if !p.Has("terminate_delay") {
		t.TermDelay = t.Delay
	}
	if t.QuorumMax != 0 && t.QuorumMax < t.Quorum {
		p["quorum_max"].Errorf("%d is below quorum %d", t.QuorumMax, t.Quorum)
	}
	return t, p.Has("name") && p.Has("process")
}

func (d *ndec) trackFile(n strictyaml.Value) (TrackFile, bool) {
	t := TrackFile{Weight: DefaultTrackFileWeight, Pos: d.pos(n)}
	p := n.Mapping(strictyaml.Fields{
		"name":    strictyaml.Checked(&t.Name, msgName),
		"file":    strictyaml.Checked(&t.File, func(s string) string { return msgNonEmpty("path", s) }),
		"weight":  strictyaml.Int(&t.Weight, -MaxTrackWeight, MaxTrackWeight),
		"reverse": strictyaml.Bool(&t.Reverse),
		"init_file": func(v strictyaml.Value) {
			if x, ok := v.Int(-1<<31, 1<<31-1); ok {
				t.InitFile = &x
			}
		},
		"overwrite": strictyaml.Bool(&t.Overwrite),
	})
	n.Require(p, "name", "file")
	if p.Has("overwrite") && !p.Has("init_file") {
		p["overwrite"].Errorf("needs key \"init_file\"")
	}
	return t, p.Has("name") && p.Has("file")
}

// trackRefs decodes a track_script, track_process or track_file list:
// each element "NAME", "NAME weight W" or "NAME weight W reverse", or a
// mapping {name, weight, reverse} (for a name with white space in it).
func (d *ndec) trackRefs(kind string, dst *[]TrackRef) func(strictyaml.Value) {
	return func(v strictyaml.Value) {
		v.List(func(e strictyaml.Value) {
			r := TrackRef{Pos: d.pos(e)}
			if e.IsMapping() {
				p := e.Mapping(strictyaml.Fields{
					"name": strictyaml.Checked(&r.Name, msgName),
					"weight": func(v strictyaml.Value) {
						if w, ok := v.Int(-MaxTrackWeight, MaxTrackWeight); ok {
							r.Weight, r.WeightSet = w, true
						}
					},
					"reverse": strictyaml.Bool(&r.Reverse),
				})
				e.Require(p, "name")
				if p.Has("reverse") && !p.Has("weight") {
					p["reverse"].Errorf("needs key \"weight\"")
				}
				if p.Has("name") {
					*dst = append(*dst, r)
					d.refs = append(d.refs, nref{kind, r.Name, p["name"]})
				}
				return
			}
			s, ok := e.Str()
			if !ok {
				return
			}
			w := strings.Fields(s)
			switch {
			case len(w) == 1:
			case (len(w) == 3 || len(w) == 4 && w[3] == "reverse") && w[1] == "weight":
				x, m := parseInt(w[2], -MaxTrackWeight, MaxTrackWeight)
				if m != "" {
					e.Errorf("weight %s", m)
					return
				}
				r.Weight, r.WeightSet, r.Reverse = x, true, len(w) == 4
			default:
				e.Errorf("%q: want NAME [weight -253..253 [reverse]]", s)
				return
			}
			r.Name = w[0]
			*dst = append(*dst, r)
			d.refs = append(d.refs, nref{kind, r.Name, e})
		})
	}
}

// trackFields adds the track_* lists of an instance or a sync group.
func (d *ndec) trackFields(fields strictyaml.Fields, t *Tracking) {
	for kind, dst := range map[string]*[]TrackRef{"track_script": &t.Scripts, "track_process": &t.Processes, "track_file": &t.Files} {
		fields[kind] = d.trackRefs(kind, dst)
	}
}

// notifyFields adds the notify_* scripts of an instance or a sync group.
func notifyFields(fields strictyaml.Fields, n *Notify) {
	for key, dst := range map[string]*string{"notify_master": &n.Master, "notify_backup": &n.Backup, "notify_fault": &n.Fault, "notify_stop": &n.Stop, "notify": &n.Any} {
		fields[key] = strictyaml.Checked(dst, msgScript)
	}
}

// trackInterfaces decodes a track_interface list.
func (d *ndec) trackInterfaces(dst *[]TrackInterface) func(strictyaml.Value) {
	return func(v strictyaml.Value) {
		v.List(func(e strictyaml.Value) {
			s, ok := e.Str()
			if !ok {
				return
			}
			t, m := parseTrackInterface(strings.Fields(s))
			if m != "" {
				e.Errorf("%s", m)
				return
			}
			t.Pos = d.pos(e)
			*dst = append(*dst, t)
		})
	}
}

// addresses decodes a list of address lines (virtual_ipaddress and the
// like).
func (d *ndec) addresses(dst *[]VirtualIP) func(strictyaml.Value) {
	return func(v strictyaml.Value) {
		v.List(func(e strictyaml.Value) {
			s, ok := e.Str()
			if !ok {
				return
			}
			vip, m := parseVIP(strings.Fields(s))
			if m != "" {
				e.Errorf("%s", m)
				return
			}
			vip.Pos = d.pos(e)
			*dst = append(*dst, vip)
		})
	}
}

// routes decodes a list of route lines.
func (d *ndec) routes(dst *[]Route) func(strictyaml.Value) {
	return func(v strictyaml.Value) {
		v.List(func(e strictyaml.Value) {
			s, ok := e.Str()
			if !ok {
				return
			}
			r, m := parseRoute(s)
			if m != "" {
				e.Errorf("%s", m)
				return
			}
			r.Pos = d.pos(e)
			*dst = append(*dst, r)
		})
	}
}

// rules decodes a list of rule lines.
func (d *ndec) rules(dst *[]Rule) func(strictyaml.Value) {
	return func(v strictyaml.Value) {
		v.List(func(e strictyaml.Value) {
			s, ok := e.Str()
			if !ok {
				return
			}
			r, m := parseRule(s)
			if m != "" {
				e.Errorf("%s", m)
				return
			}
			r.Pos = d.pos(e)
			*dst = append(*dst, r)
		})
	}
}

func (d *ndec) syncGroup(n strictyaml.Value) (SyncGroup, bool) {
	g := SyncGroup{Pos: d.pos(n)}
	var each []strictyaml.Value
	fields := strictyaml.Fields{
		"name": strictyaml.Checked(&g.Name, msgName),
		"members": func(v strictyaml.Value) {
			v.List(func(e strictyaml.Value) {
				if s, ok := e.Str(); ok {
					g.Members = append(g.Members, s)
					each = append(each, e)
				}
			})
		},
		"smtp_alert":      strictyaml.Bool(&g.SMTPAlert),
		"track_interface": d.trackInterfaces(&g.TrackInterfaces),
		"global_tracking": strictyaml.Bool(&g.GlobalTracking),
	}
	d.trackFields(fields, &g.Track)
	notifyFields(fields, &g.Notify)
	p := n.Mapping(fields)
	n.Require(p, "name", "members")
	if !p.Has("name") || !p.Has("members") {
		return g, false
	}
	d.groups = append(d.groups, ngroup{g.Name, p["members"], each})
	return g, true
}

func (d *ndec) static(n strictyaml.Value, s *Static) {
	n.Mapping(strictyaml.Fields{
		"addresses": d.addresses(&s.Addresses),
		"routes":    d.routes(&s.Routes),
		"rules":     d.rules(&s.Rules),
	})
}

// resolve checks what refers to something by name, once the whole file is
// read: track_* lists, FILE_CHECK's track_file and sync group members. A
// keepalived.conf reader warns and drops a dangling name; the native
// format refuses it.
func (d *ndec) resolve(c *Config) {
	seen := map[string]int{}
	for _, x := range d.named {
		k := x.kind + "\x00" + x.name
		if first, ok := seen[k]; ok {
			x.at.Errorf("%s %q is defined twice (first at line %d)", x.kind, x.name, first)
			continue
		}
		seen[k] = x.at.Line()
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
			r.at.Errorf("%q is not defined in %s", r.name, where)
		}
	}
	member := map[string]string{}
	for _, g := range d.groups {
		for _, e := range g.each {
			m := e.Node().Value
			switch {
			case c.Instance(m) == nil:
				e.Errorf("%q is not a vrrp instance", m)
			case member[m] != "":
				e.Errorf("instance %q is already in sync group %q (an instance can be in one group only)", m, member[m])
			default:
				member[m] = g.name
			}
		}
		if len(g.each) < 2 {
			g.members.Errorf("sync group %q needs at least two instances", g.name)
		}
	}
}
