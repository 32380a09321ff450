// Package sdnotify tells systemd about the daemon's life cycle through the
// sd_notify(3) protocol (READY=1, STATUS=, RELOADING=1, STOPPING=1,
// WATCHDOG=1), as a thin wrapper over go-systemd/v22/daemon.
//
// Debian 12 ships systemd 252, which has no Type=notify-reload: the units
// use Type=notify with ExecReload=/bin/kill -HUP $MAINPID, and the daemon
// sends Reloading() when it starts a reload and Ready() when it is done
// (whether the new configuration was applied or rejected).
package sdnotify
