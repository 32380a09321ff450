// Package drlab builds the foundation LVS direct-routing lab used by the
// guest tests and the demo: a client, a director and two real servers (rs1,
// rs2) as network namespaces on one bridge (see package netlab).
//
//   - The director holds the VIP on eth0 and an IPVS service VIP:80 with
//     two direct-routing ("Route") destinations, configured through
//     github.com/moby/ipvs against the director's namespace.
//   - Each real server holds the VIP as a /32 on lo (netlink) and answers
//     HTTP on port 80 with its own name, from an in-process Go server whose
//     listener lives in its namespace.
//   - With Options.ArpTable, each real server gets the nftables arp table
//     (github.com/google/nftables): input drops ARP whose target IP is the
//     VIP, output rewrites the sender IP VIP -> real IP. Without it, and with
//     the default arp_ignore/arp_announce, the real servers answer ARP for
//     the VIP: the seed's "works sometimes" failure.
//
// This is test-bed code, independent of the product's own arpguard and lvs
// packages, so that the product can be checked against it. IPVS needs the
// ip_vs kernel (the VM level); the ARP half also works on the host (the
// netns level) with Options.NoIPVS.
package drlab
