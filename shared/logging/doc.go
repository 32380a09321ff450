// Package logging builds the log/slog logger both Tandem daemons use: text or
// JSON to stderr (which journald collects under systemd) and, optionally,
// also to syslog (RFC 3164 through log/syslog) with a chosen facility, the
// way keepalived logs. When the syslog socket is absent the logger says so
// on stderr and carries on without it.
//
// The log keys' conventions are written once here (keys.go) so that both
// daemons and all packages write the same key for the same thing.
package logging
