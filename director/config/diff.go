package config

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// Changes is the structural difference between a running configuration and
// a new one, as the reload path needs it: parse, validate, Diff, apply only
// what changed. It is pure data computed from the two models; positions,
// Format, Files and FilesHash are ignored.
//
// Field names in the Fields lists are the Go field names of the model
// (for example "Priority", "Scheduler", "Weight", "Checks").
type Changes struct {
	// Director-wide settings that differ. Notification also covers the
	// instances' SMTPAlert (which transitions are mailed).
	Node, Notification, Logging, Heartbeat, Drain, ControlSocket, Metrics, IPVS, ConnSync, FastFailover bool
	// Debug: the debug block (debug.pprof) changed.
	Debug bool
	// Tracking: a vrrp_script, vrrp_track_process or vrrp_track_file (or
	// the script user or security) changed; SyncGroups: a
	// vrrp_sync_group; Static: static_ipaddress, static_routes or
	// static_rules.
	Tracking, SyncGroups, Static bool

	// VRRPAdded and VRRPRemoved are instance names, in the order of the new
	// and the old configuration.
	VRRPAdded, VRRPRemoved []string
	// VRRPChanged are the instances present in both that differ.
	VRRPChanged []VRRPChange

	// ServicesAdded and ServicesRemoved are service keys
	// (VirtualService.Key), in the order of the new and the old
	// configuration. A service whose address, port, protocol or fwmark
	// changed is removed and added.
	ServicesAdded, ServicesRemoved []string
	// ServicesChanged are the services present in both that differ.
	ServicesChanged []ServiceChange
}

// VRRPChange is a VRRP instance present in both configurations that differs.
type VRRPChange struct {
	// Name of the instance.
	Name string
	// Fields that differ.
	Fields []string
	// Restart is true when the instance must be stopped and started again
	// (its socket or identity changed: Interface, VirtualRouterID, Version,
	// SourceIP, UnicastPeers, or the family of its addresses); otherwise
	// the running instance can take the new values.
	Restart bool
}

// ServiceChange is a virtual service present in both configurations that
// differs.
type ServiceChange struct {
	// Key of the service.
	Key string
	// Fields of the service itself that differ (RealServers excluded).
	Fields []string
	// Kernel is true when the IPVS service or all its destinations must be
	// updated (Scheduler, SchedFlags, OnePacket, Persistence or Forwarding
	// changed).
	Kernel bool
	// RealServersAdded and RealServersRemoved are real-server keys
	// (RealServer.Key).
	RealServersAdded, RealServersRemoved []string
	// RealServersChanged are the real servers present in both that differ.
	RealServersChanged []RealServerChange
}

// RealServerChange is a real server present in both configurations that
// differs.
type RealServerChange struct {
	// Key of the real server.
	Key string
	// Fields that differ.
	Fields []string
	// OldWeight and NewWeight are the configured weights (equal unless
	// "Weight" is in Fields).
	OldWeight, NewWeight int
}

// WeightOnly reports whether only the weight changed, which the IPVS
// reconciler applies in place.
func (r RealServerChange) WeightOnly() bool {
	return len(r.Fields) == 1 && r.Fields[0] == "Weight"
}

// Empty reports whether nothing changed.
func (c Changes) Empty() bool {
	return !c.Node && !c.Notification && !c.Logging && !c.Heartbeat && !c.Drain && !c.ControlSocket &&
		!c.Metrics && !c.Debug && !c.IPVS && !c.ConnSync && !c.FastFailover && !c.Tracking && !c.SyncGroups && !c.Static &&
		len(c.VRRPAdded) == 0 && len(c.VRRPRemoved) == 0 && len(c.VRRPChanged) == 0 &&
		len(c.ServicesAdded) == 0 && len(c.ServicesRemoved) == 0 && len(c.ServicesChanged) == 0
}

// String summarises the changes on one line for the log.
func (c Changes) String() string {
	if c.Empty() {
		return "no changes"
	}
	var parts []string
	for _, x := range []struct {
		changed bool
		name    string
	}{{c.Node, "node"}, {c.Notification, "notification"}, {c.Logging, "logging"}, {c.Heartbeat, "heartbeat"},
		{c.Drain, "drain"}, {c.ControlSocket, "control_socket"}, {c.Metrics, "metrics"}, {c.Debug, "debug"}, {c.IPVS, "ipvs"},
		{c.ConnSync, "lvs_sync_daemon"}, {c.FastFailover, "fast_failover"}, {c.Tracking, "tracking"},
		{c.SyncGroups, "vrrp_sync_group"}, {c.Static, "static"}} {
		if x.changed {
			parts = append(parts, x.name)
		}
	}
	if n := len(c.VRRPAdded) + len(c.VRRPRemoved) + len(c.VRRPChanged); n > 0 {
		parts = append(parts, fmt.Sprintf("vrrp +%d -%d ~%d", len(c.VRRPAdded), len(c.VRRPRemoved), len(c.VRRPChanged)))
	}
	if n := len(c.ServicesAdded) + len(c.ServicesRemoved) + len(c.ServicesChanged); n > 0 {
		parts = append(parts, fmt.Sprintf("services +%d -%d ~%d", len(c.ServicesAdded), len(c.ServicesRemoved), len(c.ServicesChanged)))
	}
	return strings.Join(parts, ", ")
}

// Diff compares the running configuration old with new. Either may be nil
// (an empty configuration).
func Diff(old, new *Config) Changes { return DiffUnchanged(old, new, nil) }

// DiffUnchanged is Diff told that new's service i, where unchanged[i], is
// old's service with the same key, unchanged (Loader.Unchanged): those are
// not compared field by field.
func DiffUnchanged(old, new *Config, unchanged []bool) Changes {
	if old == nil {
		old = &Config{}
	}
	if new == nil {
		new = &Config{}
	}
	var ch Changes
	ch.Node = old.Node != new.Node
	ch.Notification = !equalIgnoringPos(old.Notification, new.Notification)
	ch.Logging = !equalIgnoringPos(old.Logging, new.Logging)
	ch.Heartbeat = !equalIgnoringPos(old.Heartbeat, new.Heartbeat)
	ch.Drain = !equalIgnoringPos(old.Drain, new.Drain)
	ch.ControlSocket = old.ControlSocket != new.ControlSocket
	ch.Metrics = !equalIgnoringPos(old.Metrics, new.Metrics)
	ch.Debug = !equalIgnoringPos(old.Debug, new.Debug)
	ch.IPVS = !equalIgnoringPos(old.IPVS, new.IPVS)
	ch.ConnSync = !equalIgnoringPos(old.ConnSync, new.ConnSync)
	ch.FastFailover = !equalIgnoringPos(old.FastFailover, new.FastFailover)
	ch.Tracking = !equalIgnoringPos(old.Scripts, new.Scripts) || !equalIgnoringPos(old.TrackProcesses, new.TrackProcesses) ||
		!equalIgnoringPos(old.TrackFiles, new.TrackFiles) || old.ScriptUser != new.ScriptUser ||
		old.ScriptGroup != new.ScriptGroup || old.ScriptSecurity != new.ScriptSecurity
	ch.SyncGroups = !equalIgnoringPos(old.SyncGroups, new.SyncGroups)
	ch.Static = !equalIgnoringPos(old.Static, new.Static)

	for i := range new.VRRP {
		n := &new.VRRP[i]
		o := old.Instance(n.Name)
		if o == nil {
			ch.VRRPAdded = append(ch.VRRPAdded, n.Name)
			continue
		}
		// smtp_alert only says whether a transition is mailed: a
		// notification change, not one of the instance's (no restart).
		if o.SMTPAlert != n.SMTPAlert {
			ch.Notification = true
		}
		fields := changedFields(o, n, "SMTPAlert")
		if len(fields) == 0 {
			continue
		}
		restart := o.Family() != n.Family()
		for _, f := range fields {
			switch f {
			case "Interface", "VirtualRouterID", "Version", "SourceIP", "UnicastPeers":
				restart = true
			}
		}
		ch.VRRPChanged = append(ch.VRRPChanged, VRRPChange{Name: n.Name, Fields: fields, Restart: restart})
	}
	for i := range old.VRRP {
		if new.Instance(old.VRRP[i].Name) == nil {
			ch.VRRPRemoved = append(ch.VRRPRemoved, old.VRRP[i].Name)
		}
	}

	oldIdx, newIdx := old.serviceIDs(), new.serviceIDs()
	for i := range new.Services {
		n := &new.Services[i]
		o := oldIdx[n.id()]
		if o == nil {
			ch.ServicesAdded = append(ch.ServicesAdded, n.Key())
			continue
		}
		if i < len(unchanged) && unchanged[i] {
			continue
		}
		key := n.Key()
		sc := ServiceChange{Key: key, Fields: changedFields(o, n, "RealServers")}
		for _, f := range sc.Fields {
			switch f {
			case "Scheduler", "SchedFlags", "OnePacket", "Persistence", "Forwarding":
				sc.Kernel = true
			}
		}
		for j := range n.RealServers {
			nr := &n.RealServers[j]
			or := o.RealServer(nr.Key())
			if or == nil {
				sc.RealServersAdded = append(sc.RealServersAdded, nr.Key())
				continue
			}
			if f := changedFields(or, nr); len(f) > 0 {
				sc.RealServersChanged = append(sc.RealServersChanged, RealServerChange{
					Key: nr.Key(), Fields: f, OldWeight: or.Weight, NewWeight: nr.Weight,
				})
			}
		}
		for j := range o.RealServers {
			if n.RealServer(o.RealServers[j].Key()) == nil {
				sc.RealServersRemoved = append(sc.RealServersRemoved, o.RealServers[j].Key())
			}
		}
		if len(sc.Fields) > 0 || len(sc.RealServersAdded) > 0 || len(sc.RealServersRemoved) > 0 || len(sc.RealServersChanged) > 0 {
			ch.ServicesChanged = append(ch.ServicesChanged, sc)
		}
	}
	for i := range old.Services {
		if newIdx[old.Services[i].id()] == nil {
			ch.ServicesRemoved = append(ch.ServicesRemoved, old.Services[i].Key())
		}
	}
	return ch
}

// changedFields returns the names of the fields of the structs *a and *b
// that differ, ignoring positions and the fields named in skip.
func changedFields(a, b any, skip ...string) []string {
	va, vb := reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem()
	t := va.Type()
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if f.Type == posType || slices.Contains(skip, f.Name) {
			continue
		}
		if !equalValues(va.Field(i), vb.Field(i)) {
			out = append(out, f.Name)
		}
	}
	return out
}

var posType = reflect.TypeFor[Pos]()

// equalIgnoringPos reports whether a and b are equal, ignoring every Pos,
// Config.Format, Config.Files and Config.FilesHash, and treating nil and
// empty slices alike.
func equalIgnoringPos(a, b any) bool {
	return equalValues(reflect.ValueOf(a), reflect.ValueOf(b))
}

func equalValues(a, b reflect.Value) bool {
	if a.IsValid() != b.IsValid() {
		return false
	}
	if !a.IsValid() {
		return true
	}
	if a.Type() != b.Type() {
		return false
	}
	t := a.Type()
	// Types of other packages (netip, time) compare with ==.
	if t.PkgPath() != posType.PkgPath() && t.PkgPath() != "" && t.Comparable() {
		return a.Equal(b)
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalValues(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !equalValues(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Struct:
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Type == posType || (t == configType && (f.Name == "Format" || f.Name == "Files" || f.Name == "FilesHash" || f.Name == "Warnings")) {
				continue
			}
			if !equalValues(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	default:
		return a.Equal(b)
	}
}

var configType = reflect.TypeFor[Config]()

// Equal reports whether two configurations are the same, ignoring source
// positions, Format, Files and FilesHash: Diff(a, b) would be empty.
func Equal(a, b *Config) bool { return equalIgnoringPos(a, b) }

// EqualValues reports whether a and b are equal as Diff compares them:
// ignoring every Pos, and nil and empty slices alike.
func EqualValues(a, b any) bool { return equalIgnoringPos(a, b) }
