package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"time"

	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/vishvananda/netns"
)

// run parses args, sends the load and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		cfg    loadgen.Config
		expect string
		nsName string
		probe  bool
	)
	fs.StringVar(&cfg.Addr, "target", "", "host:port to send requests to (required; an IP literal with -netns)")
	fs.StringVar(&cfg.Path, "path", "/", "request path")
	fs.StringVar(&cfg.Host, "host", "", "Host header (default: -target)")
	fs.DurationVar(&cfg.Timeout, "timeout", loadgen.DefaultTimeout, "per-request timeout")
	fs.StringVar(&expect, "expect", "", "comma-separated expected server names (default: any)")
	fs.StringVar(&cfg.ServerHeader, "server-header", loadgen.DefaultServerHeader, "response header naming the server (else the body's first line)")
	fs.Float64Var(&cfg.Rate, "rate", 100, "requests per second over new and keep-alive connections")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "how long to send (at most 1h)")
	fs.IntVar(&cfg.MaxRequests, "max-requests", 0, "hard cap on requests (default 1000000)")
	fs.Float64Var(&cfg.KeepAliveRatio, "keepalive", 0, "fraction of requests over keep-alive connections, 0 to 1")
	fs.IntVar(&cfg.KeepAliveConns, "keepalive-conns", 0, "keep-alive pool size (default 4)")
	fs.IntVar(&cfg.Idle.Conns, "idle", 0, "number of long-lived idle connections")
	fs.DurationVar(&cfg.Idle.Every, "idle-every", time.Second, "pause between requests on an idle connection")
	fs.DurationVar(&cfg.Interval, "interval", time.Second, "period of the progress lines")
	fs.StringVar(&nsName, "netns", "", "dial from this named network namespace (/run/netns/NAME)")
	fs.BoolVar(&probe, "probe", false, "probe: a request every 10ms until the first success (at most -duration)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "loadgen: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if expect != "" {
		cfg.Expected = strings.Split(expect, ",")
	}
	if nsName != "" {
		dial, closeNS, err := netnsDialer(nsName)
		if err != nil {
			fmt.Fprintf(stderr, "loadgen: %v\n", err)
			return 2
		}
		defer closeNS()
		cfg.Dial = dial
	}
	if probe {
		return runProbe(ctx, cfg, stdout, stderr)
	}
	cfg.OnSnapshot = func(s loadgen.Snapshot) { fmt.Fprintln(stdout, s) }
	rep, err := loadgen.Run(ctx, cfg)
	if rep == nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	fmt.Fprint(stdout, rep)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	if rep.Failed > 0 {
		return 1
	}
	return 0
}

func runProbe(ctx context.Context, cfg loadgen.Config, stdout, stderr io.Writer) int {
	res, err := loadgen.Probe(ctx, loadgen.ProbeConfig{Target: cfg.Target, MaxDuration: cfg.Duration}, time.Now())
	if res.Report == nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	fmt.Fprint(stdout, res.Report)
	if err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "first success %v after the start, at %s\n", res.Recovery.Round(time.Millisecond), res.FirstOK.Format("15:04:05.000"))
	return 0
}

// netnsDialer returns a dial function whose sockets are created inside the
// named namespace, each from a fresh OS thread that is discarded afterwards.
func netnsDialer(name string) (loadgen.DialFunc, func(), error) {
	ns, err := netns.GetFromName(name)
	if err != nil {
		return nil, nil, fmt.Errorf("network namespace %q: %w", name, err)
	}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		type result struct {
			c   net.Conn
			err error
		}
		ch := make(chan result, 1)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
			if err := netns.Set(ns); err != nil {
				ch <- result{err: fmt.Errorf("enter netns %s: %w", name, err)}
				return
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, network, addr)
			ch <- result{c, err}
		}()
		r := <-ch
		return r.c, r.err
	}
	return dial, func() { _ = ns.Close() }, nil
}
