package app

import (
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/script"
	"github.com/tandemlb/tandem/director/vrrp"
)

// syncGroup is one vrrp_sync_group at run time: the hub its members'
// drivers share, and the group's notify scripts, run when the hub's state
// changes.
type syncGroup struct {
	cfg    config.SyncGroup
	hub    *vrrp.SyncHub
	state  vrrp.State
	since  time.Time
	notify *groupNotifier
}

// groupOf returns the running group that has the instance, or nil.
func (a *App) groupOf(instance string) *syncGroup {
	for _, g := range a.groups {
		if slices.Contains(g.cfg.Members, instance) {
			return g
		}
	}
	return nil
}

// hubOf is Options.Sync for an instance: its group's hub, nil if none.
func (a *App) hubOf(instance string) *vrrp.SyncHub {
	if g := a.groupOf(instance); g != nil {
		return g.hub
	}
	return nil
}

// syncGroups makes the running groups those of cfg. A group whose members
// are the same keeps its hub (its drivers are attached to it); its notify
// scripts are replaced. It returns the names of the instances whose hub
// changed: they must restart to join the new one.
func (a *App) syncGroups(cfg *config.Config) []string {
	var moved []string
	next := []*syncGroup{}
	for _, gc := range cfg.SyncGroups {
		if len(gc.Members) < 2 {
			continue
		}
		var old *syncGroup
		for _, g := range a.groups {
			if g.cfg.Name == gc.Name && slices.Equal(g.cfg.Members, gc.Members) {
				old = g
			}
		}
		if old != nil {
			if old.cfg.Notify != gc.Notify {
				old.notify.retire()
				old.notify = newGroupNotifier(gc.Name, gc.Notify, a.log)
			}
			old.cfg = gc
			next = append(next, old)
			continue
		}
		g := &syncGroup{cfg: gc, hub: vrrp.NewSyncHub(vrrp.NewSyncGroup(gc.Name, gc.Members), a.log.With("sync_group", gc.Name)),
			state: vrrp.StateInit, since: a.now(), notify: newGroupNotifier(gc.Name, gc.Notify, a.log)}
		next = append(next, g)
		moved = append(moved, gc.Members...)
		a.log.Info("vrrp sync group", "sync_group", gc.Name, "members", gc.Members, "global_tracking", gc.GlobalTracking)
	}
	for _, g := range a.groups {
		if !slices.Contains(next, g) {
			for _, m := range g.cfg.Members {
				if !slices.Contains(moved, m) {
					moved = append(moved, m)
				}
			}
			g.notify.retire()
		}
	}
	a.groups = next
	return moved
}

// checkGroups runs the notify scripts of the groups whose state changed
// (the hub decides; the main loop looks after each member transition and
// before each control command).
func (a *App) checkGroups() {
	for _, g := range a.groups {
		s := g.hub.State()
		if s == g.state {
			continue
		}
		a.log.Info("vrrp sync group transition", "sync_group", g.cfg.Name, "state", s.String(), "from", g.state.String())
		g.state, g.since = s, a.now()
		a.markView()
		if s == vrrp.StateMaster || s == vrrp.StateBackup || s == vrrp.StateFault {
			g.notify.queue(s)
		}
	}
}

// stopGroups runs the groups' notify_stop (keepalived notifies a group's
// STOP at shutdown) and waits for the scripts.
func (a *App) stopGroups() {
	for _, g := range a.groups {
		g.notify.queue(vrrp.StateStop)
		g.notify.close()
	}
}

// groupNotifier runs a sync group's notify scripts one at a time, in the
// order of the transitions, each in its own process group killed after
// the timeout (as vrrp.ScriptNotifier does for instances):
// notify_master / notify_backup / notify_fault / notify_stop as written,
// and notify with keepalived's arguments "GROUP" NAME STATE.
type groupNotifier struct {
	name    string
	n       config.Notify
	log     *slog.Logger
	timeout time.Duration
	jobs    chan vrrp.State
	done    chan struct{}
	closed  bool
}

func newGroupNotifier(name string, n config.Notify, log *slog.Logger) *groupNotifier {
	g := &groupNotifier{name: name, n: n, log: log, timeout: 30 * time.Second, jobs: make(chan vrrp.State, 64), done: make(chan struct{})}
	go func() {
		defer close(g.done)
		for s := range g.jobs {
			for _, line := range groupCommands(name, n, s) {
				g.run(s, line)
			}
		}
	}()
	return g
}

// groupCommands are the command lines (for /bin/sh -c) for entering s.
func groupCommands(name string, n config.Notify, s vrrp.State) []string {
	var out []string
	if c := map[vrrp.State]string{vrrp.StateMaster: n.Master, vrrp.StateBackup: n.Backup, vrrp.StateFault: n.Fault, vrrp.StateStop: n.Stop}[s]; c != "" {
		out = append(out, c)
	}
	if n.Any != "" {
		out = append(out, fmt.Sprintf("%s GROUP %s %s", n.Any, script.ShellQuote(name), s))
	}
	return out
}

func (g *groupNotifier) queue(s vrrp.State) {
	if g.closed {
		return
	}
	select {
	case g.jobs <- s:
	default:
		g.log.Error("vrrp sync group notify queue full: scripts skipped", "sync_group", g.name, "state", s.String())
	}
}

// retire lets the queued scripts run in the background and takes no more
// (a reload replaced the group's scripts): the main loop does not wait.
func (g *groupNotifier) retire() {
	if !g.closed {
		g.closed = true
		close(g.jobs)
	}
}

func (g *groupNotifier) close() {
	if g.closed {
		return
	}
	g.closed = true
	close(g.jobs)
	<-g.done
}

func (g *groupNotifier) run(s vrrp.State, line string) {
	if out, err := script.RunShell(line, g.timeout); err != nil {
		g.log.Warn("vrrp sync group notify script failed", "sync_group", g.name, "state", s.String(), "script", line, "err", err, "output", out)
		return
	}
	g.log.Debug("vrrp sync group notify script ran", "sync_group", g.name, "state", s.String(), "script", line)
}
