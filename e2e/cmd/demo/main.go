// Command demo boots the ip_vs guest and shows the foundation DR lab with
// traffic flowing through the VIP: a client, an IPVS director (moby/ipvs,
// lc, direct routing) and two real servers guarded by the nftables arp
// table. It prints one line per second (requests served per real server,
// failures) and exits 0 only if both real servers served and nothing
// failed.
//
// The same binary runs on both sides: on the host it boots the VM (package
// e2e/vm) with itself as the guest command and -guest; in the guest it
// builds the lab (package e2e/drlab) and drives the traffic.
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
	guest := flag.Bool("guest", false, "run the guest side (inside the VM)")
	seconds := flag.Int("seconds", 10, "how long to send traffic")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var code int
	if *guest {
		code = runGuest(ctx, os.Stdout, time.Duration(*seconds)*time.Second)
	} else {
		code = runHost(ctx, os.Stdout, os.Stderr, *seconds)
	}
	stop()
	os.Exit(code)
}

// exitf prints an error and returns exit status 1.
func exitf(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "demo: "+format+"\n", args...)
	return 1
}
