package gobgp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	packet "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/tandemlb/tandem/director/bgp"
	"github.com/tandemlb/tandem/shared/clock"
)

// Speaker is the [bgp.Speaker] on GoBGP used as a library: a BGP server
// with no gRPC API, export only. Every route a peer sends is rejected by the
// global import policy and at most MaxPrefixes of them per family are
// kept; no socket listens unless ListenPort is set.
type Speaker struct {
	cfg   bgp.SpeakerConfig
	log   *slog.Logger
	clock clock.Clock

	srv    *server.BgpServer
	cancel context.CancelFunc
	served chan struct{}

	mu      sync.Mutex
	peers   []bgp.PeerState // configuration order
	changed chan struct{}
}

// Options are New's options.
type Options struct {
	// Logger: the speaker's log (session state changes); GoBGP's own
	// records go to it at Warn and above, rate-limited. Nil discards.
	Logger *slog.Logger
	// Clock: the time of PeerState.Since and of the log limiter (nil:
	// the system clock).
	Clock clock.Clock
}

// New validates cfg and returns a speaker that is not started. It
// does no I/O.
func New(cfg bgp.SpeakerConfig, opts Options) (*Speaker, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bgp: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Speaker{cfg: cfg, log: log, clock: clock.Or(opts.Clock), changed: make(chan struct{})}
	g.cfg.Peers = make([]bgp.PeerConfig, len(cfg.Peers))
	for i, p := range cfg.Peers {
		g.cfg.Peers[i] = p.WithDefaults()
		g.peers = append(g.peers, bgp.PeerState{Addr: p.Addr, AS: p.AS, State: "idle"})
	}
	return g, nil
}

func familyOf(a netip.Addr) packet.Family {
	if a.Is4() {
		return packet.RF_IPv4_UC
	}
	return packet.RF_IPv6_UC
}

func apiFamily(f packet.Family) *api.Family {
	return &api.Family{Afi: api.Family_Afi(f.Afi()), Safi: api.Family_Safi(f.Safi())}
}

// Start starts the BGP server, installs the reject-all import policy and
// adds the peers.
func (g *Speaker) Start(ctx context.Context) error {
	if g.srv != nil {
		return errors.New("bgp: speaker already started")
	}
	glog := slog.New(newLimitHandler(g.log.Handler(), g.clock)).With("component", "gobgp")
	lvl := new(slog.LevelVar)
	lvl.Set(slog.LevelWarn)
	srv := server.NewBgpServer(server.LoggerOption(glog, lvl))
	g.served = make(chan struct{})
	go func() {
		defer close(g.served)
		srv.Serve()
	}()
	g.srv = srv
	runCtx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel

	listen := int32(-1)
	if g.cfg.ListenPort != 0 {
		listen = int32(g.cfg.ListenPort)
	}
	fams := []uint32{0, 1} // GoBGP's indices of ipv4-unicast, ipv6-unicast
	err := srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{
		Asn: g.cfg.LocalAS, RouterId: g.cfg.RouterID.String(), ListenPort: listen, Families: fams,
	}})
	if err != nil {
		g.abort()
		return fmt.Errorf("bgp: start: %w", err)
	}
	// The global import policy sees our own routes too: accept those
	// (route type local), reject everything else.
	local := &api.Policy{Name: "tandem-export-only", Statements: []*api.Statement{{
		Name:       "tandem-own-routes",
		Conditions: &api.Conditions{RouteType: api.Conditions_ROUTE_TYPE_LOCAL},
		Actions:    &api.Actions{RouteAction: api.RouteAction_ROUTE_ACTION_ACCEPT},
	}}}
	if err := srv.AddPolicy(ctx, &api.AddPolicyRequest{Policy: local}); err != nil {
		g.abort()
		return fmt.Errorf("bgp: import policy: %w", err)
	}
	err = srv.SetPolicyAssignment(ctx, &api.SetPolicyAssignmentRequest{Assignment: &api.PolicyAssignment{
		Name: "global", Direction: api.PolicyDirection_POLICY_DIRECTION_IMPORT,
		Policies: []*api.Policy{{Name: local.Name}}, DefaultAction: api.RouteAction_ROUTE_ACTION_REJECT,
	}})
	if err != nil {
		g.abort()
		return fmt.Errorf("bgp: import policy: %w", err)
	}
	err = srv.WatchEvent(runCtx, server.WatchEventMessageCallbacks{OnPeerUpdate: g.onPeer}, server.WatchPeer())
	if err != nil {
		g.abort()
		return fmt.Errorf("bgp: watch peers: %w", err)
	}
	for _, p := range g.cfg.Peers {
		if err := srv.AddPeer(ctx, &api.AddPeerRequest{Peer: apiPeer(p)}); err != nil {
			g.abort()
			return fmt.Errorf("bgp: peer %s: %w", p.Addr, err)
		}
	}
	g.log.Info("bgp speaker started", "as", g.cfg.LocalAS, "router_id", g.cfg.RouterID, "peers", len(g.cfg.Peers), "listen_port", g.cfg.ListenPort)
	return nil
}

func apiPeer(p bgp.PeerConfig) *api.Peer {
	f := familyOf(p.Addr)
	ap := &api.Peer{
		Conf: &api.PeerConf{NeighborAddress: p.Addr.String(), PeerAsn: p.AS, AuthPassword: p.Password},
		Timers: &api.Timers{Config: &api.TimersConfig{
			HoldTime:          uint64(p.HoldTime / time.Second),
			KeepaliveInterval: max(1, uint64(p.HoldTime/time.Second)/3),
			ConnectRetry:      max(1, uint64(p.ConnectRetry/time.Second)),
			// After a reset, try again as soon as after a failed connect
			// (GoBGP waits 30 s by default): the routes are down meanwhile.
			IdleHoldTimeAfterReset: max(1, uint64(p.ConnectRetry/time.Second)),
		}},
		Transport: &api.Transport{RemotePort: uint32(p.Port)},
		AfiSafis: []*api.AfiSafi{{
			Config:       &api.AfiSafiConfig{Family: apiFamily(f), Enabled: true},
			PrefixLimits: &api.PrefixLimit{Family: apiFamily(f), MaxPrefixes: p.MaxPrefixes},
		}},
	}
	if p.MultihopTTL > 0 {
		ap.EbgpMultihop = &api.EbgpMultihop{Enabled: true, MultihopTtl: uint32(p.MultihopTTL)}
	}
	return ap
}

// onPeer runs on GoBGP's watcher goroutine.
func (g *Speaker) onPeer(ev *apiutil.WatchEventMessage_PeerEvent, _ time.Time) {
	if ev.Type != apiutil.PEER_EVENT_STATE {
		return
	}
	addr := ev.Peer.State.NeighborAddress.Unmap()
	state := fsmName(ev.Peer.State.SessionState)
	g.mu.Lock()
	i := slices.IndexFunc(g.peers, func(p bgp.PeerState) bool { return p.Addr == addr })
	if i < 0 || g.peers[i].State == state {
		g.mu.Unlock()
		return
	}
	old := g.peers[i].State
	g.peers[i].State, g.peers[i].Established, g.peers[i].Since = state, state == "established", g.clock.Now()
	close(g.changed)
	g.changed = make(chan struct{})
	g.mu.Unlock()
	attrs := []any{"peer", addr, "from", old, "to", state}
	if old == "established" && ev.Peer.State.DisconnectMessage != "" {
		attrs = append(attrs, "reason", ev.Peer.State.DisconnectMessage)
	}
	if old == "established" || state == "established" {
		g.log.Info("bgp session", attrs...)
	} else {
		g.log.Debug("bgp session", attrs...)
	}
}

func fsmName(s packet.FSMState) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "BGP_FSM_"))
}

// Peers returns the sessions' states in configuration order.
func (g *Speaker) Peers() []bgp.PeerState {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.peers)
}

// Changed returns a channel closed at the next change of Peers.
func (g *Speaker) Changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}

func (g *Speaker) path(p netip.Prefix, comms []bgp.Community, withdraw bool) (*apiutil.Path, error) {
	if !p.IsValid() || p.Bits() != p.Addr().BitLen() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
		return nil, fmt.Errorf("bgp: prefix %v: want a host route (/32 or /128)", p)
	}
	nlri, err := packet.NewIPAddrPrefix(p)
	if err != nil {
		return nil, fmt.Errorf("bgp: prefix %v: %w", p, err)
	}
	f := familyOf(p.Addr())
	// An unspecified next hop: GoBGP puts the session's own address.
	nh := netip.IPv4Unspecified()
	if f == packet.RF_IPv6_UC {
		nh = netip.IPv6Unspecified()
	}
	attrs := []packet.PathAttributeInterface{packet.NewPathAttributeOrigin(packet.BGP_ORIGIN_ATTR_TYPE_IGP)}
	if f == packet.RF_IPv4_UC {
		a, err := packet.NewPathAttributeNextHop(nh)
		if err != nil {
			return nil, fmt.Errorf("bgp: prefix %v: next hop: %w", p, err)
		}
		attrs = append(attrs, a)
	} else {
		a, err := packet.NewPathAttributeMpReachNLRI(f, []packet.PathNLRI{{NLRI: nlri}}, nh)
		if err != nil {
			return nil, fmt.Errorf("bgp: prefix %v: next hop: %w", p, err)
		}
		attrs = append(attrs, a)
	}
	if len(comms) > 0 {
		cs := make([]uint32, len(comms))
		for i, c := range comms {
			cs[i] = uint32(c)
		}
		attrs = append(attrs, packet.NewPathAttributeCommunities(cs))
	}
	return &apiutil.Path{Family: f, Nlri: nlri, Attrs: attrs, Withdrawal: withdraw}, nil
}

// Announce announces r.
func (g *Speaker) Announce(_ context.Context, r bgp.Route) error {
	if g.srv == nil {
		return errors.New("bgp: speaker not started")
	}
	if len(r.Communities) > bgp.MaxCommunities+1 {
		return fmt.Errorf("bgp: prefix %v: %d communities", r.Prefix, len(r.Communities))
	}
	p, err := g.path(r.Prefix, r.Communities, false)
	if err != nil {
		return err
	}
	if _, err := g.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{p}}); err != nil {
		return fmt.Errorf("bgp: announce %v: %w", r.Prefix, err)
	}
	return nil
}

// Withdraw withdraws p.
func (g *Speaker) Withdraw(_ context.Context, p netip.Prefix) error {
	if g.srv == nil {
		return errors.New("bgp: speaker not started")
	}
	path, err := g.path(p, nil, true)
	if err != nil {
		return err
	}
	if err := g.srv.DeletePath(apiutil.DeletePathRequest{Paths: []*apiutil.Path{path}}); err != nil {
		return fmt.Errorf("bgp: withdraw %v: %w", p, err)
	}
	return nil
}

// Stop stops the server: a CEASE to every peer, the sockets closed, its
// goroutines ended (bounded by ctx).
func (g *Speaker) Stop(ctx context.Context) error {
	if g.srv == nil {
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		g.abort()
	}()
	select {
	case <-done:
		g.log.Info("bgp speaker stopped")
		return nil
	case <-ctx.Done():
		return fmt.Errorf("bgp: stop: %w", ctx.Err())
	}
}

// abort stops a started server and waits for its main loop.
func (g *Speaker) abort() {
	g.cancel()
	g.srv.Stop()
	<-g.served
	g.srv = nil
}
