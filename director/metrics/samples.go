package metrics

import "time"

// VRRPSample is one running VRRP instance as a scrape reads it (the
// driver's vrrp.Status).
type VRRPSample struct {
	Instance string
	// AdvertsSent counts adverts sent (one per destination), SendErrors
	// those that failed, AdvertsReceived the valid adverts received.
	AdvertsSent, AdvertsReceived, SendErrors uint64
	// Dropped counts refused packets by reason, one of VRRPDropReasons
	// (a reason absent is 0).
	Dropped map[string]uint64
	// BecomeMaster and ReleaseMaster count transitions to and from MASTER.
	BecomeMaster, ReleaseMaster uint64
	// PriorityZeroSent and PriorityZeroReceived count adverts of priority
	// 0 sent and (valid ones) received.
	PriorityZeroSent, PriorityZeroReceived uint64
	// Priority is the effective priority.
	Priority int
	// LastTransition is when the state last changed; zero: never.
	LastTransition time.Time
}

// VRRP drop reasons: the only values of vrrp_adverts_dropped_total's
// reason label.
const (
	VRRPDropTTL           = "ttl"            // TTL or hop limit not 255
	VRRPDropAuth          = "authentication" // VRRPv2 auth type or password mismatch
	VRRPDropVersion       = "version"        // another VRRP version
	VRRPDropInterval      = "interval"       // VRRPv2 advert_int differs, or a zero interval
	VRRPDropAddresses     = "addresses"      // the VIP list differs from ours
	VRRPDropMalformed     = "malformed"      // too short, bad checksum, bad length, not an advert…
	VRRPDropInterface     = "interface"      // arrived on another interface
	VRRPDropOwnAdvert     = "own_advert"     // our own advert, looped back
	VRRPDropOtherVRID     = "other_vrid"     // another virtual router on the link (normal)
	VRRPDropUnicastSource = "unicast_source" // unicast mode: not one of unicast_peer
	VRRPDropQueueFull     = "queue_full"     // the instance is not keeping up
	VRRPDropOther         = "other"          // any other reason
)

// VRRPDropReasons are every reason, each exposed for every instance (0
// until it happens, so that a first drop shows in rate()).
var VRRPDropReasons = []string{
	VRRPDropTTL, VRRPDropAuth, VRRPDropVersion, VRRPDropInterval, VRRPDropAddresses, VRRPDropMalformed,
	VRRPDropInterface, VRRPDropOwnAdvert, VRRPDropOtherVRID, VRRPDropUnicastSource, VRRPDropQueueFull, VRRPDropOther,
}

// Traffic are the kernel's counters of a service or destination.
type Traffic struct {
	Conns, PktsIn, PktsOut, BytesIn, BytesOut uint64
	// Out says the kernel sees the server-to-client direction (NAT): in
	// direct routing and tunnelling the replies bypass the director, so
	// the "out" series are not exposed.
	Out bool
}

// IPVSServiceSample is one virtual service of the configuration as the
// kernel counts it, with its destinations (the sorry server included).
type IPVSServiceSample struct {
	Service string // the service label: "TCP 192.0.2.100:80", "FWM 1"
	Traffic Traffic
	Dests   []IPVSDestSample
}

// IPVSDestSample is one destination of a service in the kernel.
type IPVSDestSample struct {
	RS      string // the rs label: "192.0.2.101:80"
	Traffic Traffic
}

// FastFailoverSample is the fast-failover watcher as a scrape reads it
// (peerwatch.Status).
type FastFailoverSample struct {
	SessionUp                        bool
	Sent, Received, SendErrors, Lost uint64
	// Dropped counts refused datagrams by reason, one of
	// ProbeDropReasons.
	Dropped                          map[string]uint64
	Takeovers, Vetoes, VetoesExpired uint64
}

// Probe drop reasons: the only values of fast_failover_probes_dropped_total's
// reason label (the heartbeat envelope's, then the probe reader's).
var ProbeDropReasons = []string{"truncated", "version", "mac", "stale", "replay", "malformed", "other",
	"ttl", "unknown_peer", "queue_full"}

// SetExampleSources gives every scrape-time family one made-up series (an
// instance "VI_1", a service "TCP 192.0.2.100:80" with one NAT
// destination, a watcher): for what lists the families a registry exposes
// (documentation, tests), never for a running daemon.
func (m *Metrics) SetExampleSources() {
	m.SetVRRPSource(func() []VRRPSample {
		return []VRRPSample{{Instance: "VI_1", Priority: 100, LastTransition: time.Unix(0, 0), Dropped: map[string]uint64{}}}
	})
	m.SetIPVSSource(func() ([]IPVSServiceSample, error) {
		return []IPVSServiceSample{{Service: "TCP 192.0.2.100:80", Traffic: Traffic{Out: true},
			Dests: []IPVSDestSample{{RS: "192.0.2.101:80", Traffic: Traffic{Out: true}}}}}, nil
	})
	m.SetFastFailoverSource(func() (FastFailoverSample, bool) { return FastFailoverSample{Dropped: map[string]uint64{}}, true })
}
