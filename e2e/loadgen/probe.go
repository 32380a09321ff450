package loadgen

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Probe defaults.
const (
	// DefaultProbeInterval is the pause between two probe requests.
	DefaultProbeInterval = 10 * time.Millisecond
	// DefaultProbeDuration bounds a probe.
	DefaultProbeDuration = 30 * time.Second
)

// ErrNotRecovered is wrapped by Probe's error when no request succeeded.
var ErrNotRecovered = errors.New("loadgen: probe: no request succeeded")

// ProbeConfig describes a probe: a request on a new connection every
// Interval until the first success.
type ProbeConfig struct {
	Target

	// Interval is the pause between two requests (which overlap when they
	// take longer); DefaultProbeInterval when zero.
	Interval time.Duration
	// MaxDuration bounds the probe; DefaultProbeDuration when zero.
	MaxDuration time.Duration
	// MaxRequests caps the requests; MaxDuration/Interval + 1 when zero.
	MaxRequests int
}

// ProbeResult is the outcome of a probe.
type ProbeResult struct {
	// Event is the time the recovery is measured from.
	Event time.Time
	// Recovered reports whether a request succeeded.
	Recovered bool
	// FirstOK is the start time of the earliest successful request.
	FirstOK time.Time
	// Recovery is FirstOK minus Event.
	Recovery time.Duration
	// Report holds every probe request; those still in flight at the first
	// success are Aborted.
	Report *Report
}

// Probe sends a request on a new connection every Interval, starting now,
// until one succeeds, and returns when it started relative to event (the
// time of the failure being measured, usually just before Probe is
// called). Requests still in flight at the first success are aborted. The
// error wraps ErrNotRecovered when nothing succeeded within MaxDuration or
// MaxRequests, and is ctx's error when ctx ended first; the result holds
// the report either way.
func Probe(ctx context.Context, cfg ProbeConfig, event time.Time) (ProbeResult, error) {
	if cfg.Interval == 0 {
		cfg.Interval = DefaultProbeInterval
	}
	if cfg.MaxDuration == 0 {
		cfg.MaxDuration = DefaultProbeDuration
	}
	if cfg.Interval < time.Millisecond {
		return ProbeResult{}, fmt.Errorf("loadgen: probe interval %v: want at least 1ms", cfg.Interval)
	}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = int(cfg.MaxDuration/cfg.Interval) + 1
	}
	g, err := New(Config{
		Target:      cfg.Target,
		Rate:        float64(time.Second) / float64(cfg.Interval),
		Duration:    cfg.MaxDuration,
		MaxRequests: cfg.MaxRequests,
	})
	if err != nil {
		return ProbeResult{}, err
	}
	g.stopOnOK = true
	rep, err := g.Run(ctx)
	res := ProbeResult{Event: event, Report: rep}
	for _, r := range rep.Results() {
		if r.Class == OK {
			res.Recovered, res.FirstOK, res.Recovery = true, r.Start, r.Start.Sub(event)
			break
		}
	}
	switch {
	case err != nil:
		return res, err
	case !res.Recovered:
		return res, fmt.Errorf("%w: %d requests in %v to %s (%d failed)",
			ErrNotRecovered, rep.Sent, rep.End.Sub(rep.Start).Round(time.Millisecond), cfg.Addr, rep.Failed)
	}
	return res, nil
}
