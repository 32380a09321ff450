package app

import (
	"errors"
	"fmt"
	"log/slog"
	"net"

	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/shared/debugserver"
)

// The pprof endpoint (debug.pprof): off by default, a loopback address
// only, bound at start with the other listeners, moved on a reload after
// them (prepareDebug), stopped with them. docs/backend.md, "Profiling".

const keyDebugPProf = "debug.pprof"

// debugServer is App's pprof endpoint (shared/debugserver).
type debugServer = debugserver.Endpoint

// listenDebug binds the pprof endpoint at addr: a loopback address only,
// even for a model built in Go that the reader did not check.
func listenDebug(cfg *config.Config, addr string) (net.Listener, error) {
	if msg := debugserver.CheckAddr(addr); msg != "" {
		return nil, fmt.Errorf("%s: key %q: cannot listen on TCP %s: %w", cfg.At(keyDebugPProf), keyDebugPProf, addr, errors.New(msg))
	}
	return listenAt(cfg, keyDebugPProf, addr)
}

// prepareDebug binds the pprof endpoint cfg asks for while the running
// one still serves; an error means nothing changed.
func (a *App) prepareDebug(cfg *config.Config, log *slog.Logger) (debugserver.Move, error) {
	return a.dbg.Prepare(cfg.Debug.PProf, func(addr string) (net.Listener, error) { return listenDebug(cfg, addr) }, log)
}
