// Command demo shows Tandem end to end, for a newcomer: two directors
// running tandem-director with the seed's keepalived.conf (turned into
// native YAML by show-config, plus fast_failover), two real servers running
// tandem-backend in front of a small web app, a sorry server and a client,
// all network namespaces on one bridge. With a live line per second of
// requests served per real server and failures, it walks through: traffic
// on both servers, a drain with `maintenance on --wait`, the server's
// return, the master director killed (SIGKILL and link down), an app crash,
// all servers down (sorry server), everything restored, and dual stack (the
// same service on an IPv6 VIP too: a drain and a failover watched over
// both families). It ends with a summary table and exits 0 only if every
// step held.
//
// The same binary runs on both sides: when the host kernel has no ip_vs it
// boots the VM (package e2e/vm) with itself as the guest command and
// -guest; with ip_vs (or in the guest) it builds the lab directly.
// -foundation runs the earlier foundation lab (package e2e/drlab) instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	guest := flag.Bool("guest", false, "run the lab here (inside the VM, or on a kernel with ip_vs)")
	foundation := flag.Bool("foundation", false, "run the earlier foundation lab (lab-made IPVS, no Tandem daemons)")
	seconds := flag.Int("seconds", 10, "foundation lab: how long to send traffic")
	bin := flag.String("bin", "bin", "directory holding tandem-director and tandem-backend")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var code int
	switch {
	case *guest && *foundation:
		code = runGuest(ctx, os.Stdout, time.Duration(*seconds)*time.Second)
	case *guest:
		code = runProd(ctx, os.Stdout, *bin)
	default:
		code = runHost(ctx, os.Stdout, os.Stderr, *foundation, *seconds, *bin)
	}
	stop()
	os.Exit(code)
}

// exitf prints an error and returns exit status 1.
func exitf(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
	return 1
}
