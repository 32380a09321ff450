package app

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"time"

	"github.com/tandemlb/tandem/director/checks"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/metrics"
	"github.com/tandemlb/tandem/director/peerwatch"
	"github.com/tandemlb/tandem/director/vrrp"
)

// This file feeds the metrics that are read at scrape time (director/
// metrics' scrape collector) and those of the configuration. The main
// loop publishes what a scrape may read, each time it changes: the running
// VRRP drivers (their Status is safe to read from any goroutine), the
// services of the configuration (a scrape reads their counters from the
// kernel on a handle of its own), the fast-failover watcher. A scrape
// never touches the main loop's state.

// publishVRRPMetrics gives the metrics the running VRRP drivers; call it
// whenever a driver starts or stops.
func (a *App) publishVRRPMetrics() {
	type running struct {
		name string
		drv  VRRPDriver
	}
	var list []running
	for _, in := range a.instances {
		if in.drv != nil && in.cancel != nil {
			list = append(list, running{in.cfg.Name, in.drv})
		}
	}
	if len(list) == 0 {
		a.met.SetVRRPSource(nil)
		return
	}
	a.met.SetVRRPSource(func() []metrics.VRRPSample {
		out := make([]metrics.VRRPSample, 0, len(list))
		for _, r := range list {
			out = append(out, vrrpSample(r.name, r.drv.Status()))
		}
		return out
	})
}

// vrrpSample is what the metrics expose of one driver's status.
func vrrpSample(name string, st vrrp.Status) metrics.VRRPSample {
	s := metrics.VRRPSample{
		Instance: name, AdvertsSent: st.Sent, AdvertsReceived: st.Received, SendErrors: st.SendErrors,
		BecomeMaster: st.BecameMaster, ReleaseMaster: st.ReleasedMaster,
		PriorityZeroSent: st.PriorityZeroSent, PriorityZeroReceived: st.PriorityZeroReceived,
		Priority: int(st.Priority), LastTransition: st.LastTransition,
		Dropped: make(map[string]uint64, len(st.Dropped)),
	}
	for reason, n := range st.Dropped {
		s.Dropped[vrrpDropReason(reason)] += n
	}
	return s
}

// vrrpDropReason maps a driver's drop reason (vrrp.Drop*, or the codec
// field of a malformed packet) onto the metrics' fixed set.
func vrrpDropReason(r string) string {
	switch r {
	case vrrp.DropTTL:
		return metrics.VRRPDropTTL
	case vrrp.DropAuth, "auth type":
		return metrics.VRRPDropAuth
	case vrrp.DropVersion:
		return metrics.VRRPDropVersion
	case vrrp.DropInterval, "adver int", "max adver int":
		return metrics.VRRPDropInterval
	case vrrp.DropAddresses:
		return metrics.VRRPDropAddresses
	case vrrp.DropInterface:
		return metrics.VRRPDropInterface
	case vrrp.DropLooped:
		return metrics.VRRPDropOwnAdvert
	case vrrp.DropOtherVRID:
		return metrics.VRRPDropOtherVRID
	case vrrp.DropPeer:
		return metrics.VRRPDropUnicastSource
	case "queue full":
		return metrics.VRRPDropQueueFull
	case "malformed", "length", "checksum", "type", "count ip addrs", "vrid", "address family":
		return metrics.VRRPDropMalformed
	}
	return metrics.VRRPDropOther
}

// publishIPVSMetrics gives the metrics the services whose kernel counters
// a scrape reads; call it whenever the set of services changes.
func (a *App) publishIPVSMetrics() {
	if a.ipvs == nil || len(a.services) == 0 {
		a.met.SetIPVSSource(nil)
		return
	}
	names := make(map[lvs.ServiceKey]string, len(a.services))
	for _, s := range a.services {
		names[ServiceOf(&s.cfg).Key()] = s.key
	}
	open, main, log, met := a.openKernel, a.ipvs, a.log, a.met
	a.met.SetIPVSSource(func() ([]metrics.IPVSServiceSample, error) {
		samples, states, err := readTraffic(open, main, names, log)
		if err == nil {
			refreshConns(met, names, states)
		}
		return samples, err
	})
}

// readTraffic reads the kernel's counters of the services in names on a
// handle of its own (opened and closed for this read, unless the opener
// hands out the main loop's), so that a scrape never waits for, nor
// delays, the main loop's writes.
func readTraffic(open func() (IPVS, error), main IPVS, names map[lvs.ServiceKey]string, log *slog.Logger) ([]metrics.IPVSServiceSample, []lvs.ServiceState, error) {
	h, err := open()
	if err != nil {
		log.Debug("metrics: no IPVS handle for the traffic counters", "err", err)
		return nil, nil, err
	}
	if h != main {
		defer h.Close()
	}
	states, err := lvs.ReadTraffic(h) // the 64-bit counters
	if err != nil {
		log.Debug("metrics: reading the IPVS traffic counters", "err", err)
		return nil, nil, err
	}
	out := make([]metrics.IPVSServiceSample, 0, len(names))
	for i := range states {
		st := &states[i]
		name, ok := names[st.Service.Key()]
		if !ok {
			continue // not ours: unbounded, and not this director's to report
		}
		s := metrics.IPVSServiceSample{Service: name, Traffic: traffic(st.Stats, false), Dests: make([]metrics.IPVSDestSample, len(st.Destinations))}
		for j := range st.Destinations {
			d := &st.Destinations[j]
			nat := d.Forward == lvs.NAT
			s.Traffic.Out = s.Traffic.Out || nat
			s.Dests[j] = metrics.IPVSDestSample{RS: d.Key(), Traffic: traffic(d.Stats, nat)}
		}
		out = append(out, s)
	}
	return out, states, nil
}

// refreshConns sets the active and inactive connection gauges of the
// destinations the main loop exposes from the scrape's own kernel read:
// the main loop reads the table only for drains and at a slow safety
// interval, so its values of the other destinations can be minutes old.
// Only existing series are set (the main loop creates and deletes them).
func refreshConns(met *metrics.Metrics, names map[lvs.ServiceKey]string, states []lvs.ServiceState) {
	for i := range states {
		name, ok := names[states[i].Service.Key()]
		if !ok {
			continue
		}
		for _, d := range states[i].Destinations {
			rs := d.Key() // "addr:port", the main loop's rs label
			if g, ok := met.ActiveConns.Existing(name, rs); ok {
				g.Set(float64(d.ActiveConns))
			}
			if g, ok := met.InactiveConns.Existing(name, rs); ok {
				g.Set(float64(d.InactiveConns))
			}
		}
	}
}

func traffic(s lvs.Stats, out bool) metrics.Traffic {
	return metrics.Traffic{Conns: s.Conns, PktsIn: s.PktsIn, PktsOut: s.PktsOut, BytesIn: s.BytesIn, BytesOut: s.BytesOut, Out: out}
}

// publishFastFailoverMetrics gives the metrics the running watcher (nil:
// none).
func (a *App) publishFastFailoverMetrics(w *peerwatch.Watcher) {
	if w == nil {
		a.met.SetFastFailoverSource(nil)
		return
	}
	a.met.SetFastFailoverSource(func() (metrics.FastFailoverSample, bool) {
		st := w.Status()
		s := metrics.FastFailoverSample{
			SessionUp: st.Session == peerwatch.StateUp, Sent: st.Sent, Received: st.Received, SendErrors: st.SendErrors, Lost: st.Lost,
			Takeovers: st.Takeovers, Vetoes: st.Vetoes, VetoesExpired: st.VetoesExpired,
			Dropped: make(map[string]uint64, len(st.Dropped)),
		}
		for reason, n := range st.Dropped {
			s.Dropped[probeDropReason(reason)] += n
		}
		return s, true
	})
}

// probeDropReason maps a watcher's drop reason onto the metrics' fixed
// set: the watcher's own reasons by name, the envelope's as they are.
func probeDropReason(r string) string {
	switch r {
	case peerwatch.DropTTL:
		return "ttl"
	case peerwatch.DropUnknownPeer:
		return "unknown_peer"
	case peerwatch.DropQueueFull:
		return "queue_full"
	}
	if slices.Contains(metrics.ProbeDropReasons, r) {
		return r
	}
	return "other"
}

// configMetrics records a configuration load: at start, or a reload
// (ok false: it failed and the running configuration stays).
func (a *App) configMetrics(ok bool) {
	if !ok {
		a.met.ReloadSuccessful.Set(0)
		return
	}
	a.met.ReloadSuccessful.Set(1)
	a.met.ReloadLastSuccess.Set(metrics.UnixSeconds(a.now()))
	a.met.SetConfigHash(cmp.Or(a.cfg.FilesHash, "unknown")) // unknown: a model built in Go
	a.met.SetVirtualServersHash(virtualServersHash(a.cfg))
}

// allCheckTypes are the check types a service's duration histogram may
// have (the check label's values).
var allCheckTypes = []config.CheckType{config.HTTPGet, config.SSLGet, config.TCPCheck, config.MiscCheck, config.PingCheck,
	config.UDPCheck, config.DNSCheck, config.SMTPCheck, config.FileCheck}

// forgetCheckTypes removes the duration series of the check types s no
// longer has (after a reload changed it).
func (a *App) forgetCheckTypes(s *service) {
	have := map[config.CheckType]bool{}
	for _, rs := range s.cfg.RealServers {
		for _, c := range rs.Checks {
			have[c.Type] = true
		}
	}
	for _, t := range allCheckTypes {
		if !have[t] {
			a.met.ForgetCheckType(s.key, string(t))
		}
	}
}

// timed returns p with the duration of each attempt given to observe
// (attempts cut short by the checker's stop are not observed). A
// WeightedProbe stays one.
func timed(p checks.Probe, observe func(time.Duration)) checks.Probe {
	t := timedProbe{p, observe}
	if w, ok := p.(checks.WeightedProbe); ok {
		return timedWeighted{t, w}
	}
	return t
}

type timedProbe struct {
	p       checks.Probe
	observe func(time.Duration)
}

func (t timedProbe) Name() string { return t.p.Name() }

func (t timedProbe) Probe(ctx context.Context) error {
	defer t.since(ctx, time.Now())
	return t.p.Probe(ctx)
}

// since observes the attempt that began at start, unless ctx was
// cancelled meanwhile.
func (t timedProbe) since(ctx context.Context, start time.Time) {
	if ctx.Err() == nil {
		t.observe(time.Since(start))
	}
}

type timedWeighted struct {
	timedProbe
	w checks.WeightedProbe
}

func (t timedWeighted) ProbeWeight(ctx context.Context) (int, bool, error) {
	defer t.since(ctx, time.Now())
	return t.w.ProbeWeight(ctx)
}
