package gobgp

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	api "github.com/osrg/gobgp/v4/api"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	packet "github.com/osrg/gobgp/v4/pkg/packet/bgp"
	"github.com/osrg/gobgp/v4/pkg/server"

	"github.com/tandemlb/tandem/director/bgp"
)

// testRouter is the router of the tests: a second GoBGP server that
// listens, accepts the speaker as a passive neighbour and imports what it
// announces.
type testRouter struct {
	srv    *server.BgpServer
	served chan struct{}
}

// routerNeighbor is one session the router accepts.
type routerNeighbor struct {
	Addr     netip.Addr
	AS       uint32
	Password string
	Families []packet.Family
}

func startRouter(as uint32, id string, port int32, listen []string, nbrs []routerNeighbor) (*testRouter, error) {
	r := &testRouter{srv: server.NewBgpServer(), served: make(chan struct{})}
	go func() {
		defer close(r.served)
		r.srv.Serve()
	}()
	if err := r.configure(as, id, port, listen, nbrs); err != nil {
		return nil, err
	}
	return r, nil
}

// configure starts BGP on a served router and adds its neighbours; on
// error the router is stopped.
func (r *testRouter) configure(as uint32, id string, port int32, listen []string, nbrs []routerNeighbor) error {
	ctx := context.Background()
	err := r.srv.StartBgp(ctx, &api.StartBgpRequest{Global: &api.Global{Asn: as, RouterId: id, ListenPort: port, ListenAddresses: listen,
		Families: []uint32{0, 1}}}) // ipv4-unicast, ipv6-unicast
	if err != nil {
		r.stop()
		return fmt.Errorf("router: start: %w", err)
	}
	for _, n := range nbrs {
		p := &api.Peer{
			Conf:      &api.PeerConf{NeighborAddress: n.Addr.String(), PeerAsn: n.AS, AuthPassword: n.Password},
			Transport: &api.Transport{PassiveMode: true},
			Timers:    &api.Timers{Config: &api.TimersConfig{HoldTime: 9, KeepaliveInterval: 3, IdleHoldTimeAfterReset: 1}},
		}
		for _, f := range n.Families {
			p.AfiSafis = append(p.AfiSafis, &api.AfiSafi{Config: &api.AfiSafiConfig{Family: apiFamily(f), Enabled: true}})
		}
		if err := r.srv.AddPeer(ctx, &api.AddPeerRequest{Peer: p}); err != nil {
			r.stop()
			return fmt.Errorf("router: neighbour %s: %w", n.Addr, err)
		}
	}
	return nil
}

func (r *testRouter) stop() {
	r.srv.Stop()
	<-r.served
}

// announce makes the router announce a prefix to its neighbours (which
// must reject it).
func (r *testRouter) announce(p netip.Prefix, nh netip.Addr) error {
	nlri, _ := packet.NewIPAddrPrefix(p)
	a, _ := packet.NewPathAttributeNextHop(nh)
	_, err := r.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{{Family: packet.RF_IPv4_UC, Nlri: nlri,
		Attrs: []packet.PathAttributeInterface{packet.NewPathAttributeOrigin(0), a}}}})
	return err
}

// routes returns the router's best routes of both families, one line a
// prefix: "prefix via nexthop [communities]".
func (r *testRouter) routes() []string {
	return listRoutes(r.srv, false)
}

// listRoutes lists srv's best routes, its own (local) or those learnt
// from peers.
func listRoutes(srv *server.BgpServer, local bool) []string {
	var out []string
	for _, f := range []packet.Family{packet.RF_IPv4_UC, packet.RF_IPv6_UC} {
		_ = srv.ListPath(apiutil.ListPathRequest{TableType: api.TableType_TABLE_TYPE_GLOBAL, Family: f}, func(_ packet.NLRI, paths []*apiutil.Path) {
			for _, p := range paths {
				if p.Withdrawal || local != !p.PeerAddress.IsValid() {
					continue
				}
				out = append(out, describe(p))
			}
		})
	}
	slices.Sort(out)
	return out
}

func describe(p *apiutil.Path) string {
	var nh netip.Addr
	var comms []string
	for _, a := range p.Attrs {
		switch a := a.(type) {
		case *packet.PathAttributeNextHop:
			nh = a.Value
		case *packet.PathAttributeMpReachNLRI:
			nh = a.Nexthop
		case *packet.PathAttributeCommunities:
			for _, c := range a.Value {
				comms = append(comms, bgp.Community(c).String())
			}
		}
	}
	s := p.Nlri.String() + " via " + nh.String()
	if len(comms) > 0 {
		s += " [" + strings.Join(comms, " ") + "]"
	}
	return s
}

func (r *testRouter) reset(peer netip.Addr) error {
	return r.srv.ResetPeer(context.Background(), &api.ResetPeerRequest{Address: peer.String(), Communication: "test"})
}
