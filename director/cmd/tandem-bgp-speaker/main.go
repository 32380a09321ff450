// Command tandem-bgp-speaker is tandem-director's BGP speaker (GoBGP) in
// a process of its own: the director starts it in BGP mode and drives it
// over its stdin and stdout (director/bgp/speakerproc). It is not meant
// to be run by hand.
package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tandemlb/tandem/director/bgp"
	"github.com/tandemlb/tandem/director/bgp/gobgp"
	"github.com/tandemlb/tandem/director/bgp/speakerproc"
)

func main() {
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "tandem-bgp-speaker takes no arguments: tandem-director starts it in BGP mode")
		os.Exit(2)
	}
	// The director's stop withdraws the routes gracefully through us
	// first: a SIGTERM to the whole unit (or a ^C at a terminal) must
	// not end the sessions before. The end of stdin ends us.
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	mk := func(cfg bgp.SpeakerConfig, log *slog.Logger) (bgp.Speaker, error) {
		return gobgp.New(cfg, gobgp.Options{Logger: log})
	}
	if err := speakerproc.Serve(os.Stdin, os.Stdout, mk, log); err != nil {
		log.Error("bgp speaker", "err", err)
		os.Exit(1)
	}
}
