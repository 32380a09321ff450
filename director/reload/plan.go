// Package reload computes what a configuration reload of tandem-director
// does, as a Plan: per subsystem, which VRRP instances keep running, take
// new values live, restart (and why), come or go; which sync groups,
// trackers, IPVS services and destinations, checkers and listeners change.
// It is pure: director/app computes the plan and applies it step by step;
// `tandem-director reload --dry-run` prints it without applying it.
package reload

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/vrrp"
)

// Actions of the steps.
const (
	Keep    = "keep"    // runs on, untouched
	Update  = "update"  // takes the new values without a restart
	Restart = "restart" // stopped and started again (Reason says why)
	Add     = "add"
	Remove  = "remove"
)

// Kernel operations of a service step (director/lvs applies them).
const (
	OpAddService    = "add_service"
	OpUpdateService = "update_service"
	OpDeleteService = "delete_service"
	OpAddDest       = "add_dest"
	OpUpdateDest    = "update_dest"
	OpDrainDest     = "drain_dest" // weight 0 now, deleted once drained (docs/pool.md)
)

// Observed is what the running daemon knows of an instance.
type Observed struct {
	// Running: its driver runs (false: failed, retried with the new
	// configuration).
	Running bool
	// State is its VRRP state.
	State vrrp.State
}

// Input is what a plan is computed from.
type Input struct {
	// Old is the running configuration, New the one read.
	Old, New *config.Config
	// Changes is config.DiffUnchanged(Old, New, …).
	Changes config.Changes
	// VRRPOld and VRRPNew are the instances as the VRRP driver takes them
	// (director/app.VRRPConfigIn, then WithDefaults), by name.
	VRRPOld, VRRPNew map[string]vrrp.InstanceConfig
	// Instances is the observed state of the running instances, by name.
	Instances map[string]Observed
	// HeartbeatKeyChanged: the heartbeat key file's content differs from
	// the key in use (the caller read it).
	HeartbeatKeyChanged bool
	// FastFailoverChanged: the fast-failover watcher's own inputs differ
	// (key, timing, port, interface, peer, node name…), so it restarts;
	// false with fast_failover on means it keeps running (updated).
	FastFailoverChanged bool
}

// Plan is what a reload does. Field names are its JSON form
// (`reload --dry-run --json`).
type Plan struct {
	// Summary is config.Changes.String().
	Summary    string     `json:"summary"`
	VRRP       []Instance `json:"vrrp,omitempty"`
	SyncGroups []Group    `json:"sync_groups,omitempty"`
	Trackers   []Tracker  `json:"trackers,omitempty"`
	Services   []Service  `json:"services,omitempty"`
	Checkers   []Checker  `json:"checkers,omitempty"`
	Listeners  []Listener `json:"listeners,omitempty"`
	Settings   []string   `json:"settings,omitempty"`
	Warnings   []string   `json:"warnings,omitempty"`
}

// Instance is the step of one VRRP instance.
type Instance struct {
	Name   string `json:"name"`
	Action string `json:"action"`
	// Fields are the vrrp.InstanceConfig fields that change (Update,
	// Restart) or the model's (Keep: tracking only).
	Fields []string `json:"fields,omitempty"`
	Reason string   `json:"reason,omitempty"`
	// State is the observed state ("" for an instance added).
	State string `json:"state,omitempty"`
}

// Group is the step of one vrrp_sync_group.
type Group struct {
	Name    string   `json:"name"`
	Action  string   `json:"action"`
	Members []string `json:"members,omitempty"`
}

// Tracker is the step of one vrrp_script, vrrp_track_process or
// vrrp_track_file.
type Tracker struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Action string `json:"action"`
}

// Service is the step of one virtual service.
type Service struct {
	Key    string   `json:"key"`
	Action string   `json:"action"`
	Fields []string `json:"fields,omitempty"`
	Kernel []Op     `json:"kernel,omitempty"`
}

// Op is one IPVS operation.
type Op struct {
	Op     string `json:"op"`
	Target string `json:"target"`
	Detail string `json:"detail,omitempty"`
}

// Checker is the step of the checkers of one real server.
type Checker struct {
	Service    string `json:"service"`
	RealServer string `json:"real_server"`
	Action     string `json:"action"`
}

// Listener is the step of a listening socket or long-running peer.
type Listener struct {
	Name   string `json:"name"`
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.VRRP)+len(p.SyncGroups)+len(p.Trackers)+len(p.Services)+len(p.Checkers)+len(p.Listeners)+len(p.Settings) == 0
}

// Step returns the step of instance name, and whether there is one.
func (p Plan) Step(name string) (Instance, bool) {
	i := slices.IndexFunc(p.VRRP, func(s Instance) bool { return s.Name == name })
	if i < 0 {
		return Instance{}, false
	}
	return p.VRRP[i], true
}

// Compute returns the plan of in.
func Compute(in Input) Plan {
	old, nw := in.Old, in.New
	if old == nil {
		old = &config.Config{}
	}
	if nw == nil {
		nw = &config.Config{}
	}
	ch := in.Changes
	p := Plan{Summary: ch.String()}
	moved := p.groups(old, nw)
	p.vrrp(in, old, nw, moved)
	p.trackers(old, nw)
	p.services(old, nw, ch)
	p.listeners(in, nw)
	for _, x := range []struct {
		on   bool
		name string
	}{{ch.Node, "node name"}, {ch.Notification, "notification (e-mail)"}, {ch.Logging, "logging"}, {ch.IPVS, "ipvs sysctls"},
		{ch.Static, "static addresses, routes and rules"}, {ch.Drain, "drain settings: every service re-evaluated"}} {
		if x.on {
			p.Settings = append(p.Settings, x.name)
		}
	}
	return p
}

// groups lists the sync-group steps and returns the instances whose group
// changed (they restart to join the new one), as director/app's hubs do: a
// group keeps its hub only with the same name and members.
func (p *Plan) groups(old, nw *config.Config) []string {
	var moved []string
	same := func(a config.SyncGroup, list []config.SyncGroup) bool {
		return slices.ContainsFunc(list, func(b config.SyncGroup) bool {
			return len(b.Members) >= 2 && b.Name == a.Name && slices.Equal(b.Members, a.Members)
		})
	}
	for _, g := range nw.SyncGroups {
		if len(g.Members) < 2 {
			continue
		}
		if same(g, old.SyncGroups) {
			if o := old.SyncGroupOf(g.Members[0]); o != nil && o.Notify != g.Notify {
				p.SyncGroups = append(p.SyncGroups, Group{Name: g.Name, Action: Update, Members: g.Members})
			}
			continue
		}
		act := Add
		if slices.ContainsFunc(old.SyncGroups, func(o config.SyncGroup) bool { return o.Name == g.Name }) {
			act = Restart
		}
		p.SyncGroups = append(p.SyncGroups, Group{Name: g.Name, Action: act, Members: g.Members})
		moved = append(moved, g.Members...)
	}
	for _, g := range old.SyncGroups {
		if len(g.Members) < 2 || same(g, nw.SyncGroups) {
			continue
		}
		if !slices.ContainsFunc(nw.SyncGroups, func(n config.SyncGroup) bool { return n.Name == g.Name }) {
			p.SyncGroups = append(p.SyncGroups, Group{Name: g.Name, Action: Remove, Members: g.Members})
		}
		for _, m := range g.Members {
			if !slices.Contains(moved, m) {
				moved = append(moved, m)
			}
		}
	}
	return moved
}

func (p *Plan) vrrp(in Input, old, nw *config.Config, moved []string) {
	changed := map[string]config.VRRPChange{}
	for _, vc := range in.Changes.VRRPChanged {
		changed[vc.Name] = vc
	}
	state := func(name string) string {
		o, ok := in.Instances[name]
		if !ok {
			return ""
		}
		if !o.Running {
			return "not running"
		}
		return o.State.String()
	}
	for _, name := range in.Changes.VRRPRemoved {
		p.VRRP = append(p.VRRP, Instance{Name: name, Action: Remove, State: state(name),
			Reason: goodbye(in.Instances[name])})
	}
	for i := range nw.VRRP {
		name := nw.VRRP[i].Name
		if old.Instance(name) == nil {
			p.VRRP = append(p.VRRP, Instance{Name: name, Action: Add})
			continue
		}
		vc, isChanged := changed[name]
		o, n := in.VRRPOld[name], in.VRRPNew[name]
		live, restart := o.Compare(n)
		step := Instance{Name: name, State: state(name)}
		switch {
		case vc.Restart || len(restart) > 0:
			step.Action, step.Fields = Restart, slices.Concat(restart, live)
			if len(restart) == 0 {
				restart, step.Fields = vc.Fields, vc.Fields
			}
			step.Reason = "its socket or identity changed: " + strings.Join(restart, ", ")
		case slices.Contains(moved, name):
			step.Action, step.Reason = Restart, "its vrrp_sync_group changed: it joins the new one"
		case len(live) > 0:
			step.Action, step.Fields = Update, live
			if o.Priority != n.Priority && in.Instances[name].State == vrrp.StateMaster {
				step.Reason = fmt.Sprintf("priority %d → %d announced in the next advert; it stays MASTER", o.Priority, n.Priority)
			}
			if !in.Instances[name].Running && in.Instances[name] != (Observed{}) {
				step.Reason = "not running: the retry starts it with the new values"
			}
		case isChanged:
			step.Action, step.Fields, step.Reason = Keep, vc.Fields, "tracking only: the new effective priority, no restart"
		default:
			continue
		}
		if r := goodbye(in.Instances[name]); step.Action == Restart && r != "" {
			step.Reason += "; " + r
		}
		p.VRRP = append(p.VRRP, step)
	}
}

// goodbye says what stopping an instance in state o does to the peer.
func goodbye(o Observed) string {
	if o.Running && o.State == vrrp.StateMaster {
		return "as MASTER it releases the VIPs and sends priority 0: the backup takes over"
	}
	return ""
}

func (p *Plan) trackers(old, nw *config.Config) {
	type obj struct {
		kind, name string
		v          any
	}
	list := func(c *config.Config) []obj {
		var out []obj
		for _, s := range c.Scripts {
			out = append(out, obj{"vrrp_script", s.Name, s})
		}
		for _, s := range c.TrackProcesses {
			out = append(out, obj{"vrrp_track_process", s.Name, s})
		}
		for _, s := range c.TrackFiles {
			out = append(out, obj{"vrrp_track_file", s.Name, s})
		}
		return out
	}
	security := old.ScriptUser != nw.ScriptUser || old.ScriptGroup != nw.ScriptGroup || old.ScriptSecurity != nw.ScriptSecurity
	ol, nl := list(old), list(nw)
	for _, n := range nl {
		i := slices.IndexFunc(ol, func(o obj) bool { return o.kind == n.kind && o.name == n.name })
		switch {
		case i < 0:
			p.Trackers = append(p.Trackers, Tracker{n.kind, n.name, Add})
		case !config.EqualValues(ol[i].v, n.v) || (security && n.kind != "vrrp_track_file"):
			p.Trackers = append(p.Trackers, Tracker{n.kind, n.name, Restart})
		}
	}
	for _, o := range ol {
		if !slices.ContainsFunc(nl, func(n obj) bool { return o.kind == n.kind && o.name == n.name }) {
			p.Trackers = append(p.Trackers, Tracker{o.kind, o.name, Remove})
		}
	}
}

func (p *Plan) services(old, nw *config.Config, ch config.Changes) {
	oldIdx, newIdx := old.ServiceIndex(), nw.ServiceIndex()
	for _, key := range ch.ServicesRemoved {
		s := Service{Key: key, Action: Remove, Kernel: []Op{{Op: OpDeleteService, Target: key}}}
		p.Services = append(p.Services, s)
		if vs := oldIdx[key]; vs != nil {
			for _, rs := range vs.RealServers {
				p.Checkers = append(p.Checkers, Checker{key, rs.Key(), Remove})
			}
		}
	}
	for _, sc := range ch.ServicesChanged {
		s := Service{Key: sc.Key, Action: Update, Fields: sc.Fields}
		if sc.Kernel {
			s.Kernel = append(s.Kernel, Op{Op: OpUpdateService, Target: sc.Key, Detail: strings.Join(sc.Fields, ", ")})
		}
		forwarding := slices.Contains(sc.Fields, "Forwarding")
		vs := newIdx[sc.Key]
		for _, rc := range sc.RealServersChanged {
			switch {
			case rc.WeightOnly():
				s.Kernel = append(s.Kernel, Op{Op: OpUpdateDest, Target: rc.Key, Detail: fmt.Sprintf("weight %d → %d", rc.OldWeight, rc.NewWeight)})
			case slices.Contains(rc.Fields, "Weight") || forwarding:
				s.Kernel = append(s.Kernel, Op{Op: OpUpdateDest, Target: rc.Key, Detail: strings.Join(rc.Fields, ", ")})
			}
			if slices.Contains(rc.Fields, "Checks") {
				p.Checkers = append(p.Checkers, Checker{sc.Key, rc.Key, Restart})
			}
		}
		if forwarding && vs != nil {
			for _, rs := range vs.RealServers {
				if !slices.ContainsFunc(sc.RealServersChanged, func(r config.RealServerChange) bool { return r.Key == rs.Key() }) &&
					!slices.Contains(sc.RealServersAdded, rs.Key()) {
					s.Kernel = append(s.Kernel, Op{Op: OpUpdateDest, Target: rs.Key(), Detail: "Forwarding"})
				}
			}
		}
		for _, k := range sc.RealServersAdded {
			s.Kernel = append(s.Kernel, Op{Op: OpAddDest, Target: k})
			p.Checkers = append(p.Checkers, Checker{sc.Key, k, Add})
		}
		for _, k := range sc.RealServersRemoved {
			s.Kernel = append(s.Kernel, Op{Op: OpDrainDest, Target: k, Detail: "weight 0, deleted once drained"})
			p.Checkers = append(p.Checkers, Checker{sc.Key, k, Remove})
		}
		p.Services = append(p.Services, s)
	}
	for _, key := range ch.ServicesAdded {
		s := Service{Key: key, Action: Add, Kernel: []Op{{Op: OpAddService, Target: key}}}
		if vs := newIdx[key]; vs != nil {
			for _, rs := range vs.RealServers {
				s.Kernel = append(s.Kernel, Op{Op: OpAddDest, Target: rs.Key()})
				p.Checkers = append(p.Checkers, Checker{key, rs.Key(), Add})
			}
		}
		p.Services = append(p.Services, s)
	}
}

func (p *Plan) listeners(in Input, nw *config.Config) {
	ch := in.Changes
	if ch.Heartbeat || in.HeartbeatKeyChanged {
		why := "heartbeat settings changed"
		if in.HeartbeatKeyChanged {
			why = "the heartbeat key changed"
		}
		p.Listeners = append(p.Listeners, Listener{Name: "heartbeat", Action: Restart, Reason: why + "; the new socket is bound before the old one closes"})
	}
	if ch.Metrics {
		p.Listeners = append(p.Listeners, Listener{Name: "metrics", Action: Restart, Reason: "bound before the old one closes"})
	}
	if ch.Debug {
		p.Listeners = append(p.Listeners, Listener{Name: "debug.pprof", Action: Restart, Reason: "bound before the old one closes"})
	}
	if nw.FastFailover.Enabled && len(nw.VRRP) > 0 {
		switch {
		case in.FastFailoverChanged:
			p.Listeners = append(p.Listeners, Listener{Name: "fast_failover", Action: Restart,
				Reason: "its key, timing, socket or peer changed: restarted at once, the goodbye says \"disabled\" (the peer does not take over)"})
		case ch.FastFailover || ch.Heartbeat || len(ch.VRRPAdded)+len(ch.VRRPRemoved) > 0 || len(p.VRRP) > 0:
			p.Listeners = append(p.Listeners, Listener{Name: "fast_failover", Action: Update, Reason: "keeps running: witness quorum and instances updated"})
		}
	} else if ch.FastFailover {
		p.Listeners = append(p.Listeners, Listener{Name: "fast_failover", Action: Remove})
	}
	if ch.ConnSync {
		p.Listeners = append(p.Listeners, Listener{Name: "lvs_sync_daemon", Action: Restart})
	}
	if ch.ControlSocket {
		p.Listeners = append(p.Listeners, Listener{Name: "control_socket", Action: Keep, Reason: "takes effect at the next restart"})
	}
}

// String renders the plan for humans, one step a line.
func (p Plan) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "changes: %s\n", p.Summary)
	if p.Empty() {
		b.WriteString("nothing to do\n")
		return b.String()
	}
	line := func(section, what, action, rest string) {
		fmt.Fprintf(&b, "  %-10s %-32s %-8s %s\n", section, what, action, rest)
	}
	for _, s := range p.VRRP {
		rest := ""
		if len(s.Fields) > 0 {
			rest = "[" + strings.Join(s.Fields, " ") + "]"
		}
		if s.State != "" {
			rest = strings.TrimSpace(rest + " (" + s.State + ")")
		}
		if s.Reason != "" {
			rest = strings.TrimSpace(rest + " " + s.Reason)
		}
		line("vrrp", s.Name, s.Action, rest)
	}
	for _, g := range p.SyncGroups {
		line("sync_group", g.Name, g.Action, strings.Join(g.Members, " "))
	}
	for _, t := range p.Trackers {
		line("tracker", t.Kind+" "+t.Name, t.Action, "")
	}
	for _, s := range p.Services {
		line("service", s.Key, s.Action, strings.Join(s.Fields, " "))
		for _, op := range s.Kernel {
			fmt.Fprintf(&b, "  %-10s   %-30s %-8s %s\n", "ipvs", op.Target, op.Op, op.Detail)
		}
	}
	for _, c := range p.Checkers {
		line("checkers", c.Service+" "+c.RealServer, c.Action, "")
	}
	for _, l := range p.Listeners {
		line("listener", l.Name, l.Action, l.Reason)
	}
	for _, s := range p.Settings {
		line("setting", s, Update, "")
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "  warning: %s\n", w)
	}
	return b.String()
}
