package vrrp

import (
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/tandemlb/tandem/director/script"
)

// Notifier tells the outside world about state changes.
type Notifier interface {
	Notify(state State, priority uint8)
}

// ScriptNotifier runs keepalived's notify scripts, one at a time in the
// order of the transitions, each bounded by Timeout:
//
//   - notify_master, notify_backup, notify_fault, notify_stop: the command
//     line as configured, for entering that state;
//   - notify: the command line with four arguments appended, as keepalived
//     does: "INSTANCE", the instance name, the state (MASTER, BACKUP, FAULT
//     or STOP) and the priority.
//
// Command lines are run by /bin/sh -c, so they may carry their own
// arguments and quoting. E-mail alerts (keepalived's smtp_alert) are sent
// by the application (director/app, director/mail), not here.
type ScriptNotifier struct {
	mu      sync.Mutex
	cfg     InstanceConfig
	log     *slog.Logger
	timeout time.Duration
	queue   chan notifyJob
	done    chan struct{}
}

type notifyJob struct {
	state State
	prio  uint8
}

// NewScriptNotifier returns a notifier for cfg's scripts. Call Start before
// Notify, and Close when done.
func NewScriptNotifier(cfg InstanceConfig, log *slog.Logger, timeout time.Duration) *ScriptNotifier {
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	return &ScriptNotifier{cfg: cfg, log: log, timeout: timeout, queue: make(chan notifyJob, 64), done: make(chan struct{})}
}

// Start runs the scripts in a goroutine until Close.
func (n *ScriptNotifier) Start() {
	go func() {
		defer close(n.done)
		for j := range n.queue {
			n.run(j)
		}
	}()
}

// Close waits for the queued scripts, at most Timeout each.
func (n *ScriptNotifier) Close() {
	close(n.queue)
	<-n.done
}

// Notify queues the scripts for entering state. If 64 transitions are
// already waiting, it drops this one and logs it.
func (n *ScriptNotifier) Notify(state State, prio uint8) {
	select {
	case n.queue <- notifyJob{state, prio}:
	default:
		n.log.Error("vrrp notify queue full: scripts skipped", "instance", n.config().Name, "state", state.String())
	}
}

// NotifyCommands returns the command lines (for /bin/sh -c) to run for entering
// state, in order.
func (c InstanceConfig) NotifyCommands(state State, prio uint8) []string {
	var cmds []string
	specific := map[State]string{StateMaster: c.NotifyMaster, StateBackup: c.NotifyBackup, StateFault: c.NotifyFault, StateStop: c.NotifyStop}[state]
	if specific != "" {
		cmds = append(cmds, specific)
	}
	if c.Notify != "" {
		cmds = append(cmds, fmt.Sprintf("%s INSTANCE %s %s %s", c.Notify, script.ShellQuote(c.Name), state, strconv.Itoa(int(prio))))
	}
	return cmds
}

// Reconfigure implements Reconfigurer: the scripts of a reload run from
// the next transition on.
func (n *ScriptNotifier) Reconfigure(cfg InstanceConfig) {
	n.mu.Lock()
	n.cfg = cfg
	n.mu.Unlock()
}

func (n *ScriptNotifier) config() InstanceConfig {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.cfg
}

func (n *ScriptNotifier) run(j notifyJob) {
	cfg := n.config()
	for _, line := range cfg.NotifyCommands(j.state, j.prio) {
		if out, err := script.RunShell(line, n.timeout); err != nil {
			n.log.Warn("vrrp notify script failed", "instance", cfg.Name, "state", j.state.String(), "script", line, "err", err, "output", out)
			continue
		}
		n.log.Debug("vrrp notify script ran", "instance", cfg.Name, "state", j.state.String(), "script", line)
	}
}
