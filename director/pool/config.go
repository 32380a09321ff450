package pool

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"
)

// ServerConfig is one real server of the service.
type ServerConfig struct {
	Addr netip.AddrPort
	// Weight is the configured weight (keepalived weight; default 1 is
	// the caller's business). 0 is allowed: in service but sent nothing.
	Weight int
	// InhibitOnFailure keeps a failed server in IPVS at weight 0 instead
	// of removing it (keepalived inhibit_on_failure).
	InhibitOnFailure bool
	// Checkers names the health checkers of this server ("HTTP_GET",
	// "TCP_CHECK", ...). The server is healthy when all of them are up; a
	// server without checkers is always healthy (as in keepalived).
	Checkers []string
	// Weighted names the checkers among Checkers that may set the
	// server's weight (MISC_CHECK with misc_dynamic, FILE_CHECK with a
	// weight): see [CheckResult.WeightSet]. A reload forgets the weight
	// of a checker no longer listed here, so that a checker that stopped
	// setting weights does not pin the last one it set.
	Weighted []string
}

// MaxWeight is the largest weight the pool gives a server (IPVS's and
// keepalived's limit): a weight set by checks is clamped to 0..MaxWeight.
const MaxWeight = 65535

// Config is the pool of one virtual service.
type Config struct {
	Servers []ServerConfig
	// Sorry is the sorry server (keepalived sorry_server); the zero value
	// means none. It is put in IPVS, at SorryWeight, while quorum is lost.
	Sorry       netip.AddrPort
	SorryWeight int // 0 means 1
	// Quorum is the minimum total weight of live servers (keepalived
	// quorum); 0 means 1. Hysteresis dampens flapping: quorum is gained at
	// Quorum+Hysteresis and lost below Quorum-Hysteresis.
	Quorum     int
	Hysteresis int
	// Alpha starts every server with checkers down until its checkers
	// succeed (keepalived alpha). Without it servers start up.
	Alpha bool
	// Omega makes Shutdown report servers and quorum going down
	// (keepalived omega), so notifiers run on stop.
	Omega bool
	// DrainTimeout bounds a drain: after it the server counts as drained
	// whatever its connections. 0 waits for the connections only.
	DrainTimeout time.Duration
	// RemoveDrained removes a drained server from IPVS instead of keeping
	// it at weight 0.
	RemoveDrained bool
	// CountInactive makes a drain wait for IPVS's inactive connections to
	// reach 0 as well as the active ones. Off by default: in DR mode a
	// finished connection stays "inactive" (FIN_WAIT) for two minutes.
	CountInactive bool
	// AgentInterval is the agents' report interval (0 means 1s);
	// AgentMissed (0 means 3) reports missed in a row make the agent's
	// information expire.
	AgentInterval time.Duration
	AgentMissed   int
}

func (c Config) withDefaults() Config {
	if c.Quorum == 0 {
		c.Quorum = 1
	}
	if c.SorryWeight == 0 {
		c.SorryWeight = 1
	}
	if c.AgentInterval == 0 {
		c.AgentInterval = time.Second
	}
	if c.AgentMissed == 0 {
		c.AgentMissed = 3
	}
	return c
}

// agentLimit is how long an agent's report stays fresh (after
// withDefaults).
func (c Config) agentLimit() time.Duration {
	return time.Duration(c.AgentMissed) * c.AgentInterval
}

// Validate reports what is wrong with a configuration.
func (c Config) Validate() error {
	var errs []error
	seen := make(map[netip.AddrPort]bool, len(c.Servers))
	for _, s := range c.Servers {
		if !s.Addr.IsValid() {
			errs = append(errs, errors.New("real server without an address"))
			continue
		}
		if seen[s.Addr] {
			errs = append(errs, fmt.Errorf("real server %s listed twice", s.Addr))
		}
		seen[s.Addr] = true
		if s.Weight < 0 {
			errs = append(errs, fmt.Errorf("real server %s: negative weight %d", s.Addr, s.Weight))
		}
		for _, w := range s.Weighted {
			if !slices.Contains(s.Checkers, w) {
				errs = append(errs, fmt.Errorf("real server %s: weighted checker %q is not one of its checkers", s.Addr, w))
			}
		}
	}
	if c.Sorry.IsValid() && seen[c.Sorry] {
		errs = append(errs, fmt.Errorf("sorry server %s is also a real server", c.Sorry))
	}
	if c.Quorum < 0 || c.Hysteresis < 0 || c.SorryWeight < 0 || c.DrainTimeout < 0 || c.AgentInterval < 0 || c.AgentMissed < 0 {
		errs = append(errs, errors.New("quorum, hysteresis, sorry weight, drain timeout and agent interval must not be negative"))
	}
	return errors.Join(errs...)
}
