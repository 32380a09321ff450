// Package arpguard keeps a real server from claiming its VIPs on the LAN,
// the job arptables did in the seed recipe:
//
//	arptables -A IN  -d VIP -j DROP
//	arptables -A OUT -s VIP -j mangle --mangle-ip-s REAL_SERVER_IP
//
// It owns one nftables table in the arp family (never touching any other):
//
//	table arp tandem_backend {
//		chain in {
//			type filter hook input priority filter; policy accept;
//			arp hlen 6 arp plen 4 arp daddr ip VIP counter drop comment "..."
//		}
//		chain out {
//			type filter hook output priority filter; policy accept;
//			arp hlen 6 arp plen 4 arp saddr ip VIP counter arp saddr ip set RIP comment "..."
//		}
//	}
//
// The input chain drops ARP whose target is a VIP, so the host never answers
// for it; the output chain rewrites a VIP used as the sender IP of the host's
// own ARP requests to the real IP (the seed's -s rule; a -d rule here is the
// well-known book mistake and gives intermittent failures).
//
// With IPv6 VIPs it owns the ip6 table of the same name too, for neighbour
// discovery (RFC 4861), the IPv6 counterpart of ARP:
//
//	table ip6 tandem_backend {
//		chain in {
//			type filter hook input priority filter; policy accept;
//			icmpv6 type nd-neighbor-solicit icmpv6 taddr VIP counter drop comment "..."
//		}
//		chain out {
//			type filter hook output priority filter; policy accept;
//			icmpv6 type nd-neighbor-advert icmpv6 taddr VIP counter drop comment "..."
//		}
//	}
//
// Linux answers a neighbour solicitation only for an address of the
// interface it arrived on, and picks the source of its own solicitations
// among that interface's addresses, so a VIP on lo is never announced by
// the kernel alone; the table covers what it does announce on request
// (proxy_ndp with forwarding and a proxy entry for the VIP), measured in
// e2e/prodlab's TestNetnsV6NeighbourDiscovery.
//
// The tables are replaced in one atomic batch (add, delete, add, then chains
// and rules), so there is never an instant without the rules and re-applying
// is idempotent. A [Guard] checks it on every nftables change event and
// periodically, and puts it back when it was flushed, deleted or edited.
// Optionally (or instead) it sets arp_ignore=1 and arp_announce=2 on the
// interface, the sysctl way of getting the same effect.
//
// Note for the google/nftables API: in an arp-family table, hook numbers are
// the ARP ones (NF_ARP_IN 0, NF_ARP_OUT 1); nftables.ChainHookInput (1)
// would silently attach to ARP output.
package arpguard
