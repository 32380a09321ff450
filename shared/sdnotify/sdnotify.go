package sdnotify

import (
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// Notifier reports the daemon's state to the service manager. Calls never
// fail: a notification that cannot be delivered is logged.
type Notifier interface {
	// Ready says start-up or a reload is complete, with a status line.
	Ready(status string)
	// Status updates the free-form status line (systemctl status).
	Status(status string)
	// Reloading says a configuration reload has begun; follow with Ready.
	Reloading()
	// Stopping says the daemon is shutting down.
	Stopping()
	// Watchdog pings the service watchdog.
	Watchdog()
}

// New returns a Notifier that writes to $NOTIFY_SOCKET, or one that does
// nothing when the variable is unset (not started by systemd).
func New(log *slog.Logger) Notifier {
	if os.Getenv("NOTIFY_SOCKET") == "" {
		return nop{}
	}
	return &notifier{log: log, send: daemon.SdNotify, monotonic: monotonic}
}

// WatchdogInterval returns how often to call Watchdog: half of
// WATCHDOG_USEC, when systemd enabled the watchdog for this process.
func WatchdogInterval() (time.Duration, bool) {
	d, err := daemon.SdWatchdogEnabled(false)
	if err != nil || d <= 0 {
		return 0, false
	}
	return d / 2, true
}

type nop struct{}

func (nop) Ready(string)  {}
func (nop) Status(string) {}
func (nop) Reloading()    {}
func (nop) Stopping()     {}
func (nop) Watchdog()     {}

type notifier struct {
	log       *slog.Logger
	send      func(unsetEnv bool, state string) (bool, error)
	monotonic func() time.Duration

	mu     sync.Mutex
	failed bool // the last send failed; log further failures at debug
}

func (n *notifier) Ready(status string) {
	if status == "" {
		n.notify(daemon.SdNotifyReady)
		return
	}
	n.notify(daemon.SdNotifyReady + "\nSTATUS=" + oneLine(status))
}

func (n *notifier) Status(status string) { n.notify("STATUS=" + oneLine(status)) }

// Reloading sends RELOADING=1 with MONOTONIC_USEC, which systemd 253 and
// later require and 252 ignores.
func (n *notifier) Reloading() {
	n.notify(daemon.SdNotifyReloading + "\nMONOTONIC_USEC=" + strconv.FormatInt(n.monotonic().Microseconds(), 10))
}

func (n *notifier) Stopping() { n.notify(daemon.SdNotifyStopping) }
func (n *notifier) Watchdog() { n.notify(daemon.SdNotifyWatchdog) }

func (n *notifier) notify(state string) {
	_, err := n.send(false, state)
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case err == nil:
		n.failed = false
	case !n.failed:
		n.failed = true
		n.log.Warn("sd_notify failed", "state", state, "path", os.Getenv("NOTIFY_SOCKET"), "err", err)
	default:
		n.log.Debug("sd_notify failed again", "state", state, "err", err)
	}
}

// oneLine keeps a status from injecting further fields.
func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// monotonic reads CLOCK_MONOTONIC, the clock systemd uses for MONOTONIC_USEC.
func monotonic() time.Duration {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0
	}
	return time.Duration(ts.Nano())
}

// Recorder is a Notifier that records what it was told, for tests of the
// packages that use a Notifier. It is safe for concurrent use.
type Recorder struct {
	mu     sync.Mutex
	events []string
}

// Events returns the recorded notifications, e.g. "READY=1 STATUS=ok".
func (r *Recorder) Events() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.events...)
}

func (r *Recorder) add(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, s)
}

// Ready records "READY=1 STATUS=<status>".
func (r *Recorder) Ready(status string) { r.add("READY=1 STATUS=" + status) }

// Status records "STATUS=<status>".
func (r *Recorder) Status(status string) { r.add("STATUS=" + status) }

// Reloading records "RELOADING=1".
func (r *Recorder) Reloading() { r.add("RELOADING=1") }

// Stopping records "STOPPING=1".
func (r *Recorder) Stopping() { r.add("STOPPING=1") }

// Watchdog records "WATCHDOG=1".
func (r *Recorder) Watchdog() { r.add("WATCHDOG=1") }
