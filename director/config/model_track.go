package config

import (
	"net/netip"
	"strconv"
	"time"
)

// The parts of the model that keepalived users bring beyond the seed:
// tracked scripts, processes and files (vrrp_script, vrrp_track_process,
// vrrp_track_file), sync groups (vrrp_sync_group), the addresses, routes
// and rules keepalived manages outside VRRP (static_ipaddress,
// static_routes, static_rules) and with it (virtual_ipaddress_excluded,
// virtual_routes, virtual_rules).

// Defaults of the tracking keywords, as keepalived documents them.
const (
	DefaultScriptInterval = time.Second
	DefaultScriptRise     = 1
	DefaultScriptFall     = 1
	DefaultProcessQuorum  = 1
	// DefaultTrackFileWeight is a vrrp_track_file's weight when it gives
	// none (keepalived: 1; an explicit 0 makes any value but 0 a FAULT).
	DefaultTrackFileWeight = 1
	// MaxTrackWeight bounds a tracking weight (keepalived: -253..253).
	MaxTrackWeight = 253
)

// VRRPScript is one vrrp_script block: a command run every Interval whose
// exit status says whether the instances that track it are healthy.
type VRRPScript struct {
	// Name is the script's name, which track_script refers to.
	Name string
	// Script is the command line (script), quoted when it has arguments.
	Script string
	// Interval between two runs (interval; default 1s).
	Interval time.Duration
	// Timeout bounds one run (timeout); 0 means Interval, as keepalived.
	Timeout time.Duration
	// Weight changes the tracking instances' priority: 0 (default) puts
	// them in FAULT while the script fails; > 0 is added while it
	// succeeds, < 0 added while it fails (weight W [reverse]).
	Weight int
	// Reverse inverts the effect of Weight (weight W reverse).
	Reverse bool
	// Rise and Fall are the number of successes (failures) in a row that
	// turn a failed (successful) script OK (failed); default 1.
	Rise, Fall int
	// User and Group run the script (user USER [GROUP]); empty means
	// global_defs script_user, else root.
	User, Group string
	// InitFail starts the script as failed until its first success
	// (init_fail).
	InitFail bool
	Pos      Pos
}

// TrackProcess is one vrrp_track_process block: the instances that track
// it are healthy while the number of matching processes is within quorum.
type TrackProcess struct {
	// Name is the block's name, which track_process refers to.
	Name string
	// Process is the process name (process), matched against the
	// command name, or the full path of the executable with FullCommand.
	Process string
	// Param, when set, must match the process's arguments (param_match:
	// "exact", "partial" or "initial"; default exact).
	Param      string
	ParamMatch string
	// FullCommand matches Process against the executable's full path
	// (full_command).
	FullCommand bool
	// Quorum and QuorumMax bound the number of processes (default 1 and
	// no maximum, 0).
	Quorum, QuorumMax int
	// Weight and Reverse: as VRRPScript.
	Weight  int
	Reverse bool
	// Delay is the default for ForkDelay and TermDelay (delay); ForkDelay
	// waits before a new process counts (fork_delay), TermDelay before a
	// vanished one stops counting (terminate_delay).
	Delay, ForkDelay, TermDelay time.Duration
	Pos                         Pos
}

// TrackFile is one vrrp_track_file block: a file holding a number that
// changes the priority of the instances that track it.
type TrackFile struct {
	// Name is the block's name, which track_file refers to.
	Name string
	// File is the path of the file (file).
	File string
	// Weight multiplies the number in the file (weight W [reverse];
	// default 1); with weight 0 any number but 0 means FAULT.
	Weight  int
	Reverse bool
	// InitFile, when set, creates the file with this value at start
	// (init_file [VALUE] [overwrite]); Overwrite writes it even when the
	// file exists.
	InitFile  *int
	Overwrite bool
	Pos       Pos
}

// TrackRef is one line of a track_script, track_process or track_file
// block: a reference to a tracked object by name, with an optional weight
// that replaces the object's own.
type TrackRef struct {
	Name string
	// Weight overrides the object's weight when WeightSet.
	Weight    int
	WeightSet bool
	Reverse   bool
	Pos       Pos
}

// String formats r as a track line: "NAME [weight W [reverse]]".
func (r TrackRef) String() string {
	if !r.WeightSet {
		return r.Name
	}
	s := r.Name + " weight " + strconv.Itoa(r.Weight)
	if r.Reverse {
		s += " reverse"
	}
	return s
}

// Tracking is what an instance or a sync group tracks besides its
// interfaces.
type Tracking struct {
	Scripts   []TrackRef
	Processes []TrackRef
	Files     []TrackRef
}

// Empty reports whether nothing is tracked.
func (t Tracking) Empty() bool {
	return len(t.Scripts) == 0 && len(t.Processes) == 0 && len(t.Files) == 0
}

// SyncGroup is one vrrp_sync_group: instances that change state together
// (one goes MASTER, BACKUP or FAULT, all do).
type SyncGroup struct {
	Name string
	// Members are the instance names (group { }).
	Members []string
	// Notify holds the group's notify scripts (run with "GROUP").
	Notify Notify
	// SMTPAlert mails the group's transitions.
	SMTPAlert bool
	// TrackInterfaces and Track apply to every member.
	TrackInterfaces []TrackInterface
	Track           Tracking
	// GlobalTracking keeps the tracking weights of the members: without
	// it a tracked object with a weight that fails puts the group in
	// FAULT, as keepalived does (sync_group_tracking_weight, or its old
	// name global_tracking).
	GlobalTracking bool
	Pos            Pos
}

// Route is one line of static_routes or virtual_routes, as ip-route(8)
// reads it: [TYPE] DST [via GW] [src SRC] [dev DEV] [table N] [metric N]
// [scope SCOPE] [proto N].
type Route struct {
	// Type is "" (unicast), "blackhole", "unreachable", "prohibit" or
	// "throw".
	Type string
	Dst  netip.Prefix
	Via  netip.Addr
	Src  netip.Addr
	Dev  string
	// Table is the routing table (0: main).
	Table int
	// Metric is the route's priority (0: none).
	Metric int
	// Scope is "" (default), "global", "link", "host" or "nowhere".
	Scope string
	Pos   Pos
}

// Rule is one line of static_rules or virtual_rules, as ip-rule(8) reads
// it: [from PREFIX] [to PREFIX] [iif DEV] [oif DEV] [fwmark N] [priority N]
// table N (or lookup N).
type Rule struct {
	From, To netip.Prefix
	IIF, OIF string
	FWMark   uint32
	Priority int
	Table    int
	Pos      Pos
}

// Static is what keepalived keeps on the host whatever the VRRP state
// (static_ipaddress, static_routes, static_rules).
type Static struct {
	Addresses []VirtualIP
	Routes    []Route
	Rules     []Rule
}

// Empty reports whether nothing static is configured.
func (s Static) Empty() bool {
	return len(s.Addresses) == 0 && len(s.Routes) == 0 && len(s.Rules) == 0
}

// Script returns the vrrp_script with that name, or nil.
func (c *Config) Script(name string) *VRRPScript {
	for i := range c.Scripts {
		if c.Scripts[i].Name == name {
			return &c.Scripts[i]
		}
	}
	return nil
}

// TrackedProcess returns the vrrp_track_process with that name, or nil.
func (c *Config) TrackedProcess(name string) *TrackProcess {
	for i := range c.TrackProcesses {
		if c.TrackProcesses[i].Name == name {
			return &c.TrackProcesses[i]
		}
	}
	return nil
}

// TrackedFile returns the vrrp_track_file with that name, or nil.
func (c *Config) TrackedFile(name string) *TrackFile {
	for i := range c.TrackFiles {
		if c.TrackFiles[i].Name == name {
			return &c.TrackFiles[i]
		}
	}
	return nil
}

// SyncGroupOf returns the sync group that has the instance as a member,
// or nil.
func (c *Config) SyncGroupOf(instance string) *SyncGroup {
	for i := range c.SyncGroups {
		for _, m := range c.SyncGroups[i].Members {
			if m == instance {
				return &c.SyncGroups[i]
			}
		}
	}
	return nil
}
