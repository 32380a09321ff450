package logging

import (
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/pflag"
)

// TestFlagsApply: only the flags given override the configuration, and
// --syslog-facility alone turns syslog on.
func TestFlagsApply(t *testing.T) {
	base := Settings{Format: "json", Level: "warn", Facility: "daemon"}
	tests := []struct {
		args     []string
		want     Settings
		levelSet bool
	}{
		{nil, base, false},
		{[]string{"--log-level", "debug"}, Settings{Format: "json", Level: "debug", Facility: "daemon"}, true},
		{[]string{"--syslog-facility", "local1"}, Settings{Format: "json", Level: "warn", Syslog: true, Facility: "local1"}, false},
		{[]string{"--syslog-facility", "local1", "--syslog=false"}, Settings{Format: "json", Level: "warn", Facility: "local1"}, false},
		{[]string{"--log-format", "text", "--syslog"}, Settings{Format: "text", Level: "warn", Syslog: true, Facility: "daemon"}, false},
	}
	for _, tt := range tests {
		var f Flags
		fs := pflag.NewFlagSet("run", pflag.ContinueOnError)
		f.Register(fs, "logging")
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(tt.want, f.Apply(base)); diff != "" {
			t.Errorf("%v: Apply (-want +got):\n%s", tt.args, diff)
		}
		if f.LevelSet() != tt.levelSet {
			t.Errorf("%v: LevelSet = %v", tt.args, f.LevelSet())
		}
	}
}

// TestOpenRejects: a bad level or facility is an error before any logger.
func TestOpenRejects(t *testing.T) {
	for _, s := range []Settings{{Level: "loud"}, {Level: "info", Facility: "local9"}} {
		if _, _, _, err := Open(s, "t", io.Discard); err == nil {
			t.Errorf("Open(%+v): no error", s)
		}
	}
	log, lv, closeLog, err := Open(Settings{Level: "debug", Facility: "daemon"}, "t", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer closeLog()
	if lv.Level().String() != "DEBUG" || log == nil {
		t.Errorf("level %v", lv.Level())
	}
}
