// Command loadgen sends HTTP load to a target with package e2e/loadgen and
// prints a line per interval and a final report: the same traffic the
// acceptance scenarios use, by hand.
//
//	loadgen -target 10.99.0.100:80 -rate 200 -duration 30s -keepalive 0.3 -expect rs1,rs2
//	loadgen -netns tlab12cd-client -target 10.99.0.100:80 -probe
//
// -netns NAME dials from the named network namespace (/run/netns/NAME, as
// `ip netns` lists them; netlab's labs are named tlXXXXXX-HOST). -probe
// sends a request every 10 ms until the first success and prints how long
// that took.
//
// Exit status: 0 when nothing failed (or the probe succeeded), 1 when
// requests failed, 2 for bad flags or setup errors.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
