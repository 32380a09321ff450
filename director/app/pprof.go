package app

import (
	"errors"
	"net"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/shared/debugserver"
)

// The pprof endpoint (debug.pprof, native configuration only): off by
// default, a loopback address only, bound at start with the other
// listeners (listeners.go), moved on a reload with metrics (prepareHTTP),
// stopped on stop. docs/director.md, "Profiling".

// debugWant is the pprof address cfg asks for, "" for none.
func debugWant(cfg *config.Config) string { return cfg.Debug.PProf }

// listenDebug binds cfg's pprof endpoint at addr: a loopback address only,
// even for a model built in Go that the reader did not check.
func listenDebug(cfg *config.Config, addr string) (net.Listener, error) {
	if msg := debugserver.CheckAddr(addr); msg != "" {
		return nil, listenError(cfg, cfg.Debug.Pos, "debug.pprof", "TCP", addr, errors.New(msg))
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, listenError(cfg, cfg.Debug.Pos, "debug.pprof", "TCP", addr, err)
	}
	return ln, nil
}

// debugEndpoint is App's pprof endpoint (shared/debugserver).
type debugEndpoint = debugserver.Endpoint

// serveDebug serves the pprof endpoint bound at start, if any.
func (a *App) serveDebug(b *bound) {
	if b.dbg != nil {
		a.dbg.Serve(b.dbg, a.log)
		b.dbg = nil
	}
}

// stopDebug stops the pprof endpoint, if any.
func (a *App) stopDebug() { a.dbg.Stop() }
