package config

import (
	"fmt"
	"strings"
	"time"
)

// The tracking blocks of keepalived.conf(5): vrrp_script, vrrp_track_process
// and vrrp_track_file at the top level, the track_script, track_process
// and track_file lists that refer to them from a vrrp_instance or a
// vrrp_sync_group, and vrrp_sync_group itself.

// vrrpScript handles `vrrp_script NAME { ... }`.
func (p *kparser) vrrpScript(n *knode) {
	if !p.needBlock(n, 1, "vrrp_script NAME { script ...; interval SECONDS; ... }") {
		return
	}
	s := VRRPScript{Name: n.args[0], Interval: DefaultScriptInterval, Rise: DefaultScriptRise, Fall: DefaultScriptFall, Pos: n.pos}
	p.block(n, map[string]handler{
		"script":   p.scriptLine(&s.Script),
		"interval": p.secondsArg(&s.Interval, 10*time.Millisecond, 24*time.Hour),
		"timeout":  p.secondsArg(&s.Timeout, 10*time.Millisecond, 24*time.Hour),
		"weight":   p.weightArg(&s.Weight, &s.Reverse),
		"rise":     p.intArg(&s.Rise, 1, 1<<20),
		"fall":     p.intArg(&s.Fall, 1, 1<<20),
		"user":     p.userArg(&s.User, &s.Group),
		"init_fail": {fn: func(c *knode) {
			if p.args(c, 0, 0, "init_fail") {
				s.InitFail = true
			}
		}},
	})
	if s.Script == "" {
		if has(n, "script") {
			return // reported
		}
		p.warnAt(n.pos, "vrrp_script %q: keyword \"script\" is missing: keepalived drops the script (instances tracking it ignore it), and so does Tandem", s.Name)
		return
	}
	if p.cfg.Script(s.Name) != nil {
		p.warnAt(n.pos, "vrrp_script %q is defined twice: keepalived uses the last definition, and so does Tandem", s.Name)
		*p.cfg.Script(s.Name) = s
		return
	}
	p.cfg.Scripts = append(p.cfg.Scripts, s)
}

// scriptLine handles a script keyword (script, misc_path): the command
// line, quoted when it has arguments; keepalived also takes it unquoted as
// several words, which it joins with spaces.
func (p *kparser) scriptLine(dst *string) handler {
	return handler{fn: func(n *knode) {
		if n.hasBlock {
			p.errf(n, "takes no block")
			return
		}
		if len(n.args) == 0 || strings.TrimSpace(joinWords(n.args)) == "" {
			p.errf(n, "needs a command line (quote it if it has arguments)")
			return
		}
		*dst = joinWords(n.args)
	}}
}

// joinWords joins words with single spaces.
func joinWords(w []string) string {
	s := w[0]
	for _, x := range w[1:] {
		s += " " + x
	}
	return s
}

// weightArg handles `weight W [reverse]` of a tracked object.
func (p *kparser) weightArg(w *int, reverse *bool) handler {
	return handler{fn: func(n *knode) {
		if !p.args(n, 1, 2, "weight -253..253 [reverse]") {
			return
		}
		v, m := parseInt(n.args[0], -MaxTrackWeight, MaxTrackWeight)
		if m != "" {
			p.errf(n, "%s", m)
			return
		}
		if len(n.args) == 2 {
			if n.args[1] != "reverse" {
				p.errf(n, "%q: want reverse or nothing after the weight", n.args[1])
				return
			}
			*reverse = true
		}
		*w = v
	}}
}

// userArg handles `user USER [GROUP]`.
func (p *kparser) userArg(user, group *string) handler {
	return handler{fn: func(n *knode) {
		if !p.args(n, 1, 2, n.kw+" USER [GROUP]") {
			return
		}
		*user = n.args[0]
		if len(n.args) == 2 {
			*group = n.args[1]
		}
	}}
}

// vrrpTrackProcess handles `vrrp_track_process NAME { ... }`.
func (p *kparser) vrrpTrackProcess(n *knode) {
	if !p.needBlock(n, 1, "vrrp_track_process NAME { process NAME; ... }") {
		return
	}
	t := TrackProcess{Name: n.args[0], Quorum: DefaultProcessQuorum, ParamMatch: "exact", Pos: n.pos}
	var delaySet, forkSet, termSet bool
	p.block(n, map[string]handler{
		"process": {fn: func(c *knode) {
			if !p.args(c, 1, 1<<10, "process NAME [PARAMETERS...]") {
				return
			}
			t.Process = c.args[0]
			if len(c.args) > 1 {
				t.Param = joinWords(c.args[1:])
			}
		}},
		"param_match": p.enumArg(&t.ParamMatch, "exact|partial|initial", func(s string) string {
			switch s {
			case "exact", "partial", "initial":
				return ""
			}
			return fmt.Sprintf("%q is not exact, partial or initial", s)
		}),
		"full_command":    p.bareFlag(&t.FullCommand, true),
		"quorum":          p.intArg(&t.Quorum, 0, 1<<20),
		"quorum_max":      p.intArg(&t.QuorumMax, 0, 1<<20),
		"weight":          p.weightArg(&t.Weight, &t.Reverse),
		"delay":           p.flaggedSeconds(&t.Delay, &delaySet),
		"fork_delay":      p.flaggedSeconds(&t.ForkDelay, &forkSet),
		"terminate_delay": p.flaggedSeconds(&t.TermDelay, &termSet),
	})
	if delaySet {
		if !forkSet {
			t.ForkDelay = t.Delay
		}
		if !termSet {
			t.TermDelay = t.Delay
		}
	}
	if t.Process == "" {
		if !has(n, "process") {
			p.errs.add(n.pos, "vrrp_track_process %q: keyword \"process\" is missing", t.Name)
		}
		return
	}
	if t.QuorumMax != 0 && t.QuorumMax < t.Quorum {
		p.errs.add(n.pos, "vrrp_track_process %q: keyword \"quorum_max\": %d is below quorum %d", t.Name, t.QuorumMax, t.Quorum)
		return
	}
	if old := p.cfg.TrackedProcess(t.Name); old != nil {
		p.warnAt(n.pos, "vrrp_track_process %q is defined twice: keepalived uses the last definition, and so does Tandem", t.Name)
		*old = t
		return
	}
	p.cfg.TrackProcesses = append(p.cfg.TrackProcesses, t)
}

// flaggedSeconds is secondsArg that also records that the keyword was
// given.
func (p *kparser) flaggedSeconds(dst *time.Duration, set *bool) handler {
	h := p.secondsArg(dst, 0, 24*time.Hour)
	return handler{fn: func(n *knode) {
		*set = true
		h.fn(n)
	}}
}

// vrrpTrackFile handles `vrrp_track_file NAME { file PATH; ... }`.
func (p *kparser) vrrpTrackFile(n *knode) {
	if !p.needBlock(n, 1, "vrrp_track_file NAME { file PATH; ... }") {
		return
	}
	t := TrackFile{Name: n.args[0], Weight: DefaultTrackFileWeight, Pos: n.pos}
	p.block(n, map[string]handler{
		"file":   p.stringArg(&t.File),
		"weight": p.weightArg(&t.Weight, &t.Reverse),
		"init_file": {fn: func(c *knode) {
			if !p.args(c, 0, 2, "init_file [VALUE] [overwrite]") {
				return
			}
			v, args := 0, c.args
			if len(args) > 0 && args[0] != "overwrite" {
				var m string
				if v, m = parseInt(args[0], -1<<31, 1<<31-1); m != "" {
					p.errf(c, "%s", m)
					return
				}
				args = args[1:]
			}
			if len(args) > 0 {
				if args[0] != "overwrite" {
					p.errf(c, "%q: want overwrite or nothing", args[0])
					return
				}
				t.Overwrite = true
			}
			t.InitFile = &v
		}},
	})
	if t.File == "" {
		if !has(n, "file") {
			p.errs.add(n.pos, "vrrp_track_file %q: keyword \"file\" is missing", t.Name)
		}
		return
	}
	if old := p.cfg.TrackedFile(t.Name); old != nil {
		p.warnAt(n.pos, "vrrp_track_file %q is defined twice: keepalived uses the last definition, and so does Tandem", t.Name)
		*old = t
		return
	}
	p.cfg.TrackFiles = append(p.cfg.TrackFiles, t)
}

// trackList handles track_script, track_process and track_file lists:
// one NAME [weight W [reverse]] per line.
func (p *kparser) trackList(dst *[]TrackRef) handler {
	return p.listBlock(func(c *knode, w []string) {
		r := TrackRef{Name: w[0], Pos: c.pos}
		switch {
		case len(w) == 1:
		case len(w) >= 3 && w[1] == "weight":
			v, m := parseInt(w[2], -MaxTrackWeight, MaxTrackWeight)
			if m != "" {
				p.errs.add(c.pos, "keyword %q: %s: weight %s", "track", w[0], m)
				return
			}
			r.Weight, r.WeightSet = v, true
			rest := w[3:]
			if len(rest) > 0 && rest[0] == "reverse" {
				r.Reverse = true
				rest = rest[1:]
			}
			if len(rest) > 0 {
				p.warnAt(c.pos, "keyword %q: extra words %q after the weight: keepalived ignores them, and so does Tandem", w[0], joinWords(rest))
			}
		default:
			p.warnAt(c.pos, "keyword %q: extra words %q: keepalived ignores them, and so does Tandem", w[0], joinWords(w[1:]))
		}
		*dst = append(*dst, r)
	})
}

// trackHandlers are the tracking keywords of a vrrp_instance or a
// vrrp_sync_group.
func (p *kparser) trackHandlers(table map[string]handler, t *Tracking) {
	table["track_script"] = p.trackList(&t.Scripts)
	table["track_process"] = p.trackList(&t.Processes)
	table["track_file"] = p.trackList(&t.Files)
}

// vrrpSyncGroup handles `vrrp_sync_group NAME { group { ... } ... }`.
func (p *kparser) vrrpSyncGroup(n *knode) {
	if !p.needBlock(n, 1, "vrrp_sync_group NAME { group { INSTANCE... } }") {
		return
	}
	g := SyncGroup{Name: n.args[0], Pos: n.pos}
	table := map[string]handler{
		"group": p.listBlock(func(c *knode, w []string) {
			// keepalived reads any words here, several per line too.
			g.Members = append(g.Members, w...)
		}),
		"notify_master":              p.scriptArg(&g.Notify.Master),
		"notify_backup":              p.scriptArg(&g.Notify.Backup),
		"notify_fault":               p.scriptArg(&g.Notify.Fault),
		"notify_stop":                p.scriptArg(&g.Notify.Stop),
		"notify":                     p.scriptArg(&g.Notify.Any),
		"smtp_alert":                 p.flagArg(&g.SMTPAlert, true),
		"sync_group_tracking_weight": p.bareFlag(&g.GlobalTracking, true),
		"global_tracking": {fn: func(c *knode) {
			if p.args(c, 0, 0, "global_tracking") {
				p.warnIs(c, "is keepalived's deprecated name of sync_group_tracking_weight: the members' tracking weights change their priority instead of putting the group in FAULT; Tandem reads it the same way")
				g.GlobalTracking = true
			}
		}},
		"track_interface": p.listBlock(func(c *knode, w []string) {
			t, m := parseTrackInterface(w)
			if m != "" {
				p.errs.add(c.pos, "keyword \"track_interface\": %s", m)
				return
			}
			t.Pos = c.pos
			g.TrackInterfaces = append(g.TrackInterfaces, t)
		}),
	}
	p.trackHandlers(table, &g.Track)
	p.block(n, table)
	if len(g.Members) == 0 {
		p.warnAt(n.pos, "vrrp_sync_group %q: keyword \"group\": no instance is listed (the instances go in a group { } block): keepalived drops the group, and so does Tandem", g.Name)
		return
	}
	p.cfg.SyncGroups = append(p.cfg.SyncGroups, g)
}

// resolveTracking checks what instances and sync groups refer to, once
// the whole file is read: keepalived warns about a name that does not
// exist and ignores it; a sync group member that is not an instance is
// dropped the same way, and a group with fewer than two members is
// removed (keepalived: "has only one/no member").
func (p *kparser) resolveTracking() {
	c := p.cfg
	check := func(where string, refs *[]TrackRef, kind string, exists func(string) bool) {
		kept := (*refs)[:0]
		for _, r := range *refs {
			if !exists(r.Name) {
				p.warnAt(r.Pos, "%s: keyword %q: %q is not defined: keepalived ignores it, and so does Tandem", where, kind, r.Name)
				continue
			}
			kept = append(kept, r)
		}
		*refs = kept
	}
	scripts := func(n string) bool { return c.Script(n) != nil }
	procs := func(n string) bool { return c.TrackedProcess(n) != nil }
	files := func(n string) bool { return c.TrackedFile(n) != nil }
	for i := range c.VRRP {
		in := &c.VRRP[i]
		w := fmt.Sprintf("vrrp_instance %q", in.Name)
		check(w, &in.Track.Scripts, "track_script", scripts)
		check(w, &in.Track.Processes, "track_process", procs)
		check(w, &in.Track.Files, "track_file", files)
	}
	groups := c.SyncGroups[:0]
	member := map[string]string{}
	for _, g := range c.SyncGroups {
		w := fmt.Sprintf("vrrp_sync_group %q", g.Name)
		check(w, &g.Track.Scripts, "track_script", scripts)
		check(w, &g.Track.Processes, "track_process", procs)
		check(w, &g.Track.Files, "track_file", files)
		var ms []string
		for _, m := range g.Members {
			switch {
			case c.Instance(m) == nil:
				p.warnAt(g.Pos, "%s: keyword \"group\": %q is not a vrrp_instance: keepalived ignores it, and so does Tandem", w, m)
			case member[m] != "":
				p.errs.add(g.Pos, "%s: keyword \"group\": instance %q is already in vrrp_sync_group %q (an instance can be in one group only)", w, m, member[m])
			default:
				member[m] = g.Name
				ms = append(ms, m)
			}
		}
		g.Members = ms
		if len(ms) < 2 {
			p.warnAt(g.Pos, "%s has %d member(s): keepalived removes a sync group with fewer than two instances, and so does Tandem", w, len(ms))
			for _, m := range ms {
				delete(member, m)
			}
			continue
		}
		groups = append(groups, g)
	}
	c.SyncGroups = groups
}

// checkScripts warns about a vrrp_script whose program does not exist
// (an absolute path that is not there): keepalived disables such a script
// ("since not found/accessible"), so that its instances ignore it; Tandem
// runs it and counts it as failed, which puts the instances that track
// it in FAULT or applies its weight, until the program exists.
func (p *kparser) checkScripts() {
	if p.fsys == nil {
		return
	}
	for _, s := range p.cfg.Scripts {
		prog, _, _ := strings.Cut(strings.TrimSpace(s.Script), " ")
		if !strings.HasPrefix(prog, "/") {
			continue
		}
		if m, err := p.fsys.Glob(prog); err == nil && len(m) > 0 {
			continue
		}
		p.warnAt(s.Pos, "vrrp_script %q: keyword \"script\": %s does not exist: keepalived disables the script (its instances then ignore it); "+
			"Tandem runs it and counts every run as failed (FAULT, or its weight) until the program exists", s.Name, prog)
	}
}
