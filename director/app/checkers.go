package app

import (
	"context"
	"fmt"

	"github.com/tandemlb/tandem/director/checks"
	"github.com/tandemlb/tandem/director/config"
)

// This file holds the health checkers' run-time wiring: one running
// checker per configured check (restarted alone when its settings change),
// the director-wide track_file sources FILE_CHECKs share, and the
// validation of the checks' keywords.

// runningChecker is one running health checker of a real server. Its
// generation tells its results from those of a checker it replaced.
type runningChecker struct {
	name   string
	gen    uint64
	fp     string
	cancel context.CancelFunc
	ck     *checks.Checker
}

// trackFiles are the value sources of the vrrp_track_file blocks, by
// name: one per track_file, shared by every FILE_CHECK that follows it and
// kept across reloads while its file stays the same.
type trackFiles struct {
	byName map[string]*checks.TrackFile
}

// source returns the value source of tf.
func (t *trackFiles) source(tf *config.TrackFile) checks.ValueSource {
	if f := t.byName[tf.Name]; f != nil && f.Path == tf.File {
		return f
	}
	f := checks.NewTrackFile(tf.File)
	t.byName[tf.Name] = f
	return f
}

// sharedTrackFiles returns the director's track_file sources: those the
// running services share, or new ones when no service runs.
func (a *App) sharedTrackFiles() *trackFiles {
	for _, s := range a.services {
		if s.files != nil {
			return s.files
		}
	}
	return &trackFiles{byName: map[string]*checks.TrackFile{}}
}

// failedProbe stands for a check whose probe cannot be built (a user
// deleted since the configuration was validated): every attempt fails
// with the reason, so the server is not left up unchecked.
type failedProbe struct {
	name string
	err  error
}

func (f failedProbe) Name() string                { return f.name }
func (f failedProbe) Probe(context.Context) error { return f.err }

// checkerFingerprint identifies what one checker depends on, so that a
// reload restarts only the checkers whose settings changed: the check's
// keywords (positions aside), its name, the service's scheduling, and
// what it takes from elsewhere (the real server's weight for a weighted
// check, the script user for a MISC_CHECK without its own, the
// vrrp_track_file of a FILE_CHECK).
func checkerFingerprint(cfg *config.Config, s *config.VirtualService, rs *config.RealServer, c config.Check, name string) string {
	c.Pos = config.Pos{}
	urls := make([]config.URL, len(c.URLs))
	for j, u := range c.URLs {
		u.Pos = config.Pos{}
		urls[j] = u
	}
	c.URLs = urls
	extra := ""
	switch c.Type {
	case config.MiscCheck:
		if c.MiscDynamic {
			extra = fmt.Sprintf("weight %d", rs.Weight)
		}
		if c.User == "" {
			extra += fmt.Sprintf("|script_user %q %q", cfg.ScriptUser, cfg.ScriptGroup)
		}
	case config.FileCheck:
		extra = fmt.Sprintf("weight %d", rs.Weight)
		if tf := cfg.TrackedFile(c.TrackFile); tf != nil {
			t := *tf
			t.Pos = config.Pos{}
			extra += fmt.Sprintf("|%+v", t)
		}
	}
	return fmt.Sprintf("%s|%s|%v|%v|%+v|%s", name, rs.Addr, s.DelayLoop, s.Alpha, c, extra)
}

// weightedCheckers names the checkers of rs that may set its weight:
// MISC_CHECK with misc_dynamic, FILE_CHECK (whose weight is never 0 once
// resolved, see fileCheckWeight).
func weightedCheckers(rs *config.RealServer, names []string) []string {
	var out []string
	for i, c := range rs.Checks {
		if c.Type == config.MiscCheck && c.MiscDynamic || c.Type == config.FileCheck {
			out = append(out, names[i])
		}
	}
	return out
}

// checkErrors are the errors of the checks of service s, each at its
// check's line. seen drops an error already reported (the services of a
// virtual_server_group share their checks' lines).
func checkErrors(cfg *config.Config, s *config.VirtualService, seen map[string]bool) config.ErrorList {
	var errs config.ErrorList
	for i := range s.RealServers {
		rs := &s.RealServers[i]
		names := checkerNames(rs)
		for j := range rs.Checks {
			_, err := ProbeOf(cfg, s, rs, &rs.Checks[j], names[j], nil)
			l, ok := err.(config.ErrorList)
			if !ok {
				continue
			}
			for _, e := range l {
				if k := e.Error(); !seen[k] {
					seen[k] = true
					errs = append(errs, e)
				}
			}
		}
	}
	return errs
}
