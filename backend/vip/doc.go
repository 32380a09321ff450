// Package vip keeps the virtual IP addresses on the loopback interface of a
// real server, as LVS direct routing needs: each IPv4 VIP as a /32 with scope
// host, each IPv6 VIP as a /128, so that the kernel accepts packets addressed
// to the VIP without the host claiming it on the LAN (the ARP side is
// package arpguard's).
//
// A [Manager] adds missing VIPs, watches address changes over netlink and
// puts back a VIP someone removed, within the resync interval at the latest.
// It never removes a VIP on its own: stopping or restarting the agent leaves
// the addresses in place so traffic does not notice; only [Manager.Remove]
// (tandem-backend cleanup) or a VIP dropped from the configuration does.
package vip
