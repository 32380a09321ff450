package config

import (
	"net/netip"
	"time"

	"github.com/tandemlb/tandem/shared/strictyaml"
	"go.yaml.in/yaml/v3"
)

// The native `bgp` block (model_bgp.go): the key-level checks; what
// crosses sections is in validator.bgp.

func asnTo(dst *uint32) func(strictyaml.Value) {
	return func(v strictyaml.Value) {
		n, ok := v.Int(0, 1<<32)
		if !ok {
			return
		}
		if m := msgASN(n); m != "" {
			v.Errorf("%s", m)
			return
		}
		*dst = uint32(n)
	}
}

func (d *ndec) bgp(v strictyaml.Value, c *Config) {
	b := &BGP{GracefulShutdownWait: DefaultBGPGracefulShutdownWait, AgreementPort: DefaultBGPAgreementPort, Pos: d.pos(v)}
	p := v.Mapping(strictyaml.Fields{
		"local_as": asnTo(&b.LocalAS),
		"router_id": func(v strictyaml.Value) {
			var a netip.Addr
			addrTo(&a)(v)
			switch {
			case !a.IsValid():
			case !a.Is4():
				v.Errorf("%s is not an IPv4 address (a BGP identifier is 32 bits)", a)
			default:
				b.RouterID = a
			}
		},
		"listen_port":            strictyaml.Int(&b.ListenPort, 1, 65535),
		"graceful_shutdown_wait": strictyaml.Duration(&b.GracefulShutdownWait, 0, MaxBGPGracefulShutdownWait),
		"communities": func(v strictyaml.Value) {
			seen := map[uint32]int{}
			v.List(func(e strictyaml.Value) {
				s, ok := e.Str()
				if !ok {
					return
				}
				cm, m := parseCommunity(s)
				switch {
				case m != "":
					e.Errorf("%s", m)
				case seen[cm] != 0:
					e.Errorf("%s is listed twice (first at line %d)", s, seen[cm])
				case len(b.Communities) == MaxBGPCommunities:
					e.Errorf("more than %d communities", MaxBGPCommunities)
				default:
					seen[cm] = e.Line()
					b.Communities = append(b.Communities, cm)
				}
			})
		},
		"vips": uniqueAddrs("VIPs", MaxBGPVIPs, false, func(a netip.Addr, e strictyaml.Value) {
			b.VIPs = append(b.VIPs, BGPVIP{Addr: a, Pos: d.pos(e)})
		}),
		"agreement_port": strictyaml.Int(&b.AgreementPort, 1, 65535),
		"agreement_address": func(v strictyaml.Value) {
			var a netip.Addr
			addrTo(&a)(v)
			switch {
			case !a.IsValid():
			case a.Is4In6():
				v.Errorf("%s is an IPv4-mapped address: write the IPv4 address", a)
			case a.IsMulticast():
				v.Errorf("%s is a multicast address", a)
			default:
				b.AgreementAddress = a
			}
		},
		"directors": uniqueAddrs("directors", MaxBGPDirectors, true, func(a netip.Addr, e strictyaml.Value) {
			b.Directors = append(b.Directors, BGPDirector{Addr: a, Pos: d.pos(e)})
		}),
		"peers": func(v strictyaml.Value) {
			seen := map[netip.Addr]int{}
			v.List(func(e strictyaml.Value) {
				peer, ok := d.bgpPeer(e)
				if !ok {
					return
				}
				switch {
				case seen[peer.Address] != 0:
					e.KeyErrorf("address", "%s is already a peer (line %d)", peer.Address, seen[peer.Address])
				case len(b.Peers) == MaxBGPPeers:
					e.Errorf("more than %d peers", MaxBGPPeers)
				default:
					seen[peer.Address] = e.Line()
					b.Peers = append(b.Peers, peer)
				}
			})
			if v.IsList() && len(b.Peers) == 0 && len(seen) == 0 {
				v.Errorf("no peer: BGP mode needs at least one router")
			}
		},
	})
	v.Require(p, "local_as", "router_id", "peers")
	c.BGP = b
}

func (d *ndec) bgpPeer(n strictyaml.Value) (BGPPeer, bool) {
	pr := BGPPeer{Port: DefaultBGPPort, HoldTime: DefaultBGPHoldTime, MaxPrefixes: DefaultBGPMaxPrefixes, Pos: d.pos(n)}
	p := n.Mapping(strictyaml.Fields{
		"address": func(v strictyaml.Value) {
			var a netip.Addr
			addrTo(&a)(v)
			switch {
			case !a.IsValid():
			case a.Is4In6():
				v.Errorf("%s is an IPv4-mapped address: write the IPv4 address", a)
			case a.IsMulticast():
				v.Errorf("%s is a multicast address", a)
			default:
				pr.Address = a
			}
		},
		"as":            asnTo(&pr.AS),
		"port":          strictyaml.Int(&pr.Port, 1, 65535),
		"password_file": strictyaml.Checked(&pr.PasswordFile, func(s string) string { return msgNonEmpty("path", s) }),
		"hold_time": func(v strictyaml.Value) {
			if h, ok := v.Duration(MinBGPHoldTime, MaxBGPHoldTime); ok {
				if h%time.Second != 0 {
					v.Errorf("%s is not a whole number of seconds", strictyaml.FormatDuration(h))
					return
				}
				pr.HoldTime = h
			}
		},
		"multihop_ttl": strictyaml.Int(&pr.MultihopTTL, 1, 255),
		"max_prefixes": strictyaml.Int(&pr.MaxPrefixes, 1, MaxBGPMaxPrefixes),
	})
	n.Require(p, "address", "as")
	return pr, p.Has("address") && p.Has("as") && pr.Address.IsValid() && pr.AS != 0
}

// marshalBGP writes b as the native `bgp` block (show-config, migrate),
// defaults left out.
func marshalBGP(m *mnode, b *BGP) {
	m.int("local_as", int(b.LocalAS))
	m.str("router_id", b.RouterID.String())
	m.intIf("listen_port", b.ListenPort, 0)
	m.durIf("graceful_shutdown_wait", b.GracefulShutdownWait, DefaultBGPGracefulShutdownWait)
	if len(b.Communities) > 0 {
		s := m.seq("communities")
		for _, cm := range b.Communities {
			s.n.Content = append(s.n.Content, strNode(FormatCommunity(cm)))
		}
	}
	if len(b.VIPs) > 0 {
		s := m.seq("vips")
		for _, v := range b.VIPs {
			s.n.Content = append(s.n.Content, strNode(v.Addr.String()))
		}
	}
	if len(b.Directors) > 0 {
		s := m.seq("directors")
		for _, dr := range b.Directors {
			s.n.Content = append(s.n.Content, strNode(dr.Addr.String()))
		}
	}
	m.intIf("agreement_port", b.AgreementPort, DefaultBGPAgreementPort)
	if b.AgreementAddress.IsValid() {
		m.str("agreement_address", b.AgreementAddress.String())
	}
	s := m.seq("peers")
	for i := range b.Peers {
		p := &b.Peers[i]
		e := &mnode{n: &yaml.Node{Kind: yaml.MappingNode}}
		e.str("address", p.Address.String())
		e.int("as", int(p.AS))
		e.intIf("port", p.Port, DefaultBGPPort)
		e.strIf("password_file", p.PasswordFile, "")
		e.durIf("hold_time", p.HoldTime, DefaultBGPHoldTime)
		e.intIf("multihop_ttl", p.MultihopTTL, 0)
		e.intIf("max_prefixes", p.MaxPrefixes, DefaultBGPMaxPrefixes)
		s.n.Content = append(s.n.Content, e.n)
	}
}

// uniqueAddrs reads a list of addresses, each at most once and at most
// max of them, for add: an IPv4-mapped address is refused (write the IPv4
// one), and so is a multicast one when noMulticast; each error names the
// element's line, a repeat the line of its first.
func uniqueAddrs(what string, max int, noMulticast bool, add func(a netip.Addr, e strictyaml.Value)) func(strictyaml.Value) {
	return func(v strictyaml.Value) {
		seen := map[netip.Addr]int{}
		v.List(func(e strictyaml.Value) {
			var a netip.Addr
			addrTo(&a)(e)
			switch {
			case !a.IsValid():
			case a.Is4In6():
				e.Errorf("%s is an IPv4-mapped address: write the IPv4 address", a)
			case noMulticast && a.IsMulticast():
				e.Errorf("%s is a multicast address", a)
			case seen[a] != 0:
				e.Errorf("%s is listed twice (first at line %d)", a, seen[a])
			case len(seen) == max:
				e.Errorf("more than %d %s", max, what)
			default:
				seen[a] = e.Line()
				add(a, e)
			}
		})
	}
}
