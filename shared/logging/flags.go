package logging

import (
	"io"
	"log/slog"

	"github.com/spf13/pflag"
)

// Settings are a configuration's log section, as both daemons have it
// (the director's logging:, the agent's log:).
type Settings struct {
	Format, Level string
	Syslog        bool
	Facility      string
}

// Flags are the log flags of both daemons' run commands: --log-level,
// --log-format, --syslog and --syslog-facility, each overriding the
// configuration's log section. keepalived's KEEPALIVED_OPTIONS="-D -S 1"
// is --log-level debug --syslog --syslog-facility local1.
type Flags struct {
	fs                      *pflag.FlagSet
	level, format, facility string
	syslog                  bool
}

// Register adds the flags to fs; section names the configuration's log
// section in the help text ("logging" or "log").
func (f *Flags) Register(fs *pflag.FlagSet, section string) {
	f.fs = fs
	fs.StringVar(&f.level, "log-level", "info", "log level: debug, info, warn, error (overrides "+section+".level)")
	fs.StringVar(&f.format, "log-format", "text", "log format: text or json (overrides "+section+".format)")
	fs.BoolVar(&f.syslog, "syslog", false, "also log to syslog (overrides "+section+".syslog)")
	fs.StringVar(&f.facility, "syslog-facility", "daemon", "syslog facility: daemon, local0 … local7, or 0-7 for local0-local7 (implies --syslog)")
}

// LevelSet reports whether --log-level was given: it then wins over the
// configuration's level at reload too.
func (f *Flags) LevelSet() bool { return f.fs != nil && f.fs.Changed("log-level") }

// Apply returns s with every flag given on the command line in its place;
// --syslog-facility alone turns syslog on.
func (f *Flags) Apply(s Settings) Settings {
	if f.fs == nil {
		return s
	}
	if f.fs.Changed("log-level") {
		s.Level = f.level
	}
	if f.fs.Changed("log-format") {
		s.Format = f.format
	}
	if f.fs.Changed("syslog") {
		s.Syslog = f.syslog
	}
	if f.fs.Changed("syslog-facility") {
		s.Facility = f.facility
		if !f.fs.Changed("syslog") {
			s.Syslog = true
		}
	}
	return s
}

// Open validates s and builds the logger New does, with its level in a
// LevelVar that a reload can move; tag names the program in syslog.
func Open(s Settings, tag string, stderr io.Writer) (*slog.Logger, *slog.LevelVar, func() error, error) {
	lv, err := ParseLevel(s.Level)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, err := ParseFacility(s.Facility); err != nil {
		return nil, nil, nil, err
	}
	leveler := new(slog.LevelVar)
	leveler.Set(lv)
	log, closeLog, err := New(Options{
		Format: s.Format, Leveler: leveler, Syslog: s.Syslog, Facility: s.Facility, Tag: tag,
	}, stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	return log, leveler, closeLog, nil
}
