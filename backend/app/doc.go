// Package app wires the tandem-backend daemon together: configuration, the
// VIPs on lo, the ARP guard, the health probe and check endpoint, the
// maintenance switch, heartbeats, the control socket, metrics and systemd
// notifications.
//
// Start-up order matters for traffic: VIPs and the ARP table first, then one
// synchronous health probe, then the check endpoint, and only then READY=1.
// Nothing the daemon puts in place is removed when it stops (VIPs, ARP table,
// check file): a restart or upgrade must not be visible to clients.
// [Cleanup] removes it all for a package purge.
//
// The main loop owns the health and maintenance state; it is the only
// goroutine that changes them, and it pings the systemd watchdog, so a stuck
// loop gets the service restarted.
//
// Every kernel and OS touch (netlink, nftables and its events, sysctls,
// SIGHUP) comes in through [Edges] in [Options]; the zero value is the real
// one. The unit tests run the whole daemon on the in-memory fakes of
// backend/vip/viptest and backend/arpguard/arpguardtest; the netns tests
// run the binary on the real kernel.
package app
