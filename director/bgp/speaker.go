package bgp

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// Speaker is the BGP edge the director drives with the [Announcer]'s
// actions. The real one is gobgp.Speaker (director/bgp/gobgp), which the
// director runs in a process of its own, tandem-bgp-speaker, through
// speakerproc.Remote (director/bgp/speakerproc); bgptest.Speaker is the
// fake.
type Speaker interface {
	// Start opens the sessions with the configured peers; it returns
	// once they are configured, not established.
	Start(ctx context.Context) error
	// Announce announces r, replacing an earlier announcement of its
	// prefix; a peer that is down gets it once up.
	Announce(ctx context.Context, r Route) error
	// Withdraw withdraws p; withdrawing what is not announced is no error.
	Withdraw(ctx context.Context, p netip.Prefix) error
	// Peers returns the sessions' states in configuration order.
	Peers() []PeerState
	// Changed returns a channel closed at the next change of Peers.
	Changed() <-chan struct{}
	// Stop closes the sessions (a CEASE to every peer, which then drops
	// our routes) and releases everything Start took.
	Stop(ctx context.Context) error
}

// Route is one announcement: a VIP's /32 or /128 with its communities.
// The next hop is the address of the session it goes out on.
type Route struct {
	Prefix      netip.Prefix
	Communities []Community
}

// PeerState is one session's state.
type PeerState struct {
	Addr netip.Addr
	AS   uint32
	// State: idle, connect, active, opensent, openconfirm, established.
	State       string
	Established bool
	// Since: when State was entered (zero before the first change).
	Since time.Time
}

// The defaults of a PeerConfig's zero fields.
const (
	DefaultPort         = 179
	DefaultHoldTime     = 90 * time.Second
	DefaultConnectRetry = 5 * time.Second
	// DefaultMaxPrefixes bounds what a peer may send us, per address
	// family: we import nothing (every route is rejected), but GoBGP
	// keeps what it received in the peer's Adj-RIB-In. A peer that sends
	// more is disconnected (CEASE, maximum number of prefixes reached);
	// the router should send nothing at all.
	DefaultMaxPrefixes = 1000
	// MaxPeers bounds the configured peers.
	MaxPeers = 64
)

// PeerConfig is one BGP neighbour (a router).
type PeerConfig struct {
	// Addr is the router's address; the session carries the VIPs of its
	// family (an IPv4 peer the IPv4 VIPs, an IPv6 peer the IPv6 ones).
	Addr netip.Addr
	AS   uint32
	// Port: the router's port (0: 179).
	Port uint16
	// Password: the TCP MD5 signature key (RFC 2385), empty for none.
	Password string
	// HoldTime: 0 is DefaultHoldTime; else at least 3 s. Keepalives are
	// sent at a third of it.
	HoldTime time.Duration
	// MultihopTTL: 0 for a directly connected eBGP peer (TTL 1), else the
	// TTL of eBGP multihop.
	MultihopTTL uint8
	// ConnectRetry: 0 is DefaultConnectRetry.
	ConnectRetry time.Duration
	// MaxPrefixes: 0 is DefaultMaxPrefixes.
	MaxPrefixes uint32
}

// SpeakerConfig is the BGP speaker's configuration.
type SpeakerConfig struct {
	LocalAS uint32
	// RouterID is the BGP identifier, an IPv4 address.
	RouterID netip.Addr
	// ListenPort: 0 for no listening socket (the director connects to
	// its peers; the default); else the port to accept sessions on.
	ListenPort uint16
	Peers      []PeerConfig
}

// Validate checks the config.
func (c SpeakerConfig) Validate() error {
	var errs []error
	if c.LocalAS == 0 {
		errs = append(errs, errors.New("local AS 0"))
	}
	if !c.RouterID.Is4() || c.RouterID.IsUnspecified() {
		errs = append(errs, fmt.Errorf("router ID %v: want a non-zero IPv4 address", c.RouterID))
	}
	if len(c.Peers) == 0 || len(c.Peers) > MaxPeers {
		errs = append(errs, fmt.Errorf("%d peers: want 1 to %d", len(c.Peers), MaxPeers))
	}
	seen := make(map[netip.Addr]bool, len(c.Peers))
	for _, p := range c.Peers {
		switch {
		case !p.Addr.IsValid() || p.Addr.IsUnspecified() || p.Addr.Is4In6():
			errs = append(errs, fmt.Errorf("peer %v: not a usable address", p.Addr))
		case seen[p.Addr]:
			errs = append(errs, fmt.Errorf("peer %v: configured twice", p.Addr))
		}
		seen[p.Addr] = true
		if p.AS == 0 {
			errs = append(errs, fmt.Errorf("peer %v: AS 0", p.Addr))
		}
		if p.HoldTime != 0 && (p.HoldTime < 3*time.Second || p.HoldTime > 65535*time.Second) {
			errs = append(errs, fmt.Errorf("peer %v: hold time %s: want 3s to 65535s", p.Addr, p.HoldTime))
		}
		if len(p.Password) > 80 { // TCP_MD5SIG_MAXKEYLEN
			errs = append(errs, fmt.Errorf("peer %v: password longer than 80 bytes", p.Addr))
		}
		if p.ConnectRetry < 0 {
			errs = append(errs, fmt.Errorf("peer %v: negative connect retry", p.Addr))
		}
	}
	return errors.Join(errs...)
}

// WithDefaults returns p with its zero fields set to their defaults.
func (p PeerConfig) WithDefaults() PeerConfig {
	if p.Port == 0 {
		p.Port = DefaultPort
	}
	if p.HoldTime == 0 {
		p.HoldTime = DefaultHoldTime
	}
	if p.ConnectRetry == 0 {
		p.ConnectRetry = DefaultConnectRetry
	}
	if p.MaxPrefixes == 0 {
		p.MaxPrefixes = DefaultMaxPrefixes
	}
	return p
}
