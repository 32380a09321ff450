package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/shared/debugserver"
	"github.com/tandemlb/tandem/shared/relisten"
)

// The director's network listeners besides VRRP: the agents' heartbeat
// socket (UDP), metrics (TCP) and, when debug.pprof asks for it, the
// pprof endpoint (TCP, loopback only). At start all are bound before
// anything touches the host, so that a port in use fails the start with
// nothing done; at reload the new ones are bound while the old ones still
// serve, so that a port in use fails the reload with nothing changed (the
// old ports keep answering). Errors name the file:line, the key and the
// address:port.

// listenError explains a failed bind of key (heartbeat.listen,
// metrics.listen) at addr.
func listenError(cfg *config.Config, pos config.Pos, key, proto, addr string, err error) error {
	err = relisten.BindError(err)
	where := pos.String()
	what := fmt.Sprintf("key %q", key)
	if !pos.IsValid() {
		where = configFile(cfg)
		what = fmt.Sprintf("%s (default %s)", key, addr)
	}
	if where != "" {
		where += ": "
	}
	return fmt.Errorf("%s%s: cannot listen on %s %s: %w", where, what, proto, addr, err)
}

func configFile(cfg *config.Config) string {
	if len(cfg.Files) > 0 {
		return cfg.Files[0]
	}
	return ""
}

// wantHeartbeat reports whether cfg runs the heartbeat listener with key.
func wantHeartbeat(cfg *config.Config, key []byte) bool {
	return cfg.Heartbeat.Enabled && key != nil
}

// listenHeartbeat binds cfg's heartbeat socket.
func listenHeartbeat(cfg *config.Config) (net.PacketConn, error) {
	c, err := net.ListenPacket("udp", cfg.Heartbeat.Listen)
	if err != nil {
		return nil, listenError(cfg, cfg.Heartbeat.Pos, "heartbeat.listen", "UDP", cfg.Heartbeat.Listen, err)
	}
	return c, nil
}

// metricsWant is the metrics address cfg asks for, "" for none.
func metricsWant(cfg *config.Config) string {
	if !cfg.Metrics.Enabled {
		return ""
	}
	return cfg.Metrics.Listen
}

// listenMetrics binds cfg's metrics socket at addr.
func listenMetrics(cfg *config.Config, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, listenError(cfg, cfg.Metrics.Pos, "metrics.listen", "TCP", addr, err)
	}
	return ln, nil
}

// bound are the sockets bound at start, handed over one by one.
type bound struct {
	hb  net.PacketConn
	met net.Listener
	dbg net.Listener
}

// bindListeners binds what cfg asks for (the heartbeat socket only with a
// key).
func (a *App) bindListeners(cfg *config.Config) (*bound, error) {
	b := &bound{}
	if wantHeartbeat(cfg, a.hbKey) {
		c, err := listenHeartbeat(cfg)
		if err != nil {
			return nil, err
		}
		b.hb = c
	}
	if addr := metricsWant(cfg); addr != "" {
		ln, err := listenMetrics(cfg, addr)
		if err != nil {
			b.close()
			return nil, err
		}
		b.met = ln
	}
	if addr := debugWant(cfg); addr != "" {
		ln, err := listenDebug(cfg, addr)
		if err != nil {
			b.close()
			return nil, err
		}
		b.dbg = ln
	}
	return b, nil
}

// close closes what was not handed over.
func (b *bound) close() {
	if b.hb != nil {
		b.hb.Close()
		b.hb = nil
	}
	if b.met != nil {
		b.met.Close()
		b.met = nil
	}
	if b.dbg != nil {
		b.dbg.Close()
		b.dbg = nil
	}
}

func (b *bound) takeHB() net.PacketConn {
	c := b.hb
	b.hb = nil
	return c
}

func (b *bound) takeMetrics() net.Listener {
	ln := b.met
	b.met = nil
	return ln
}

// serveMetrics serves /metrics on ln.
func (a *App) serveMetrics(ln net.Listener) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", a.met.Handler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.metSrv = srv
	a.goRun("metrics", func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	a.log.Info("metrics listening", "addr", ln.Addr().String())
}

// stopMetrics stops the metrics listener, if any.
func (a *App) stopMetrics() {
	if a.metSrv != nil {
		relisten.Shutdown(a.metSrv)
		a.metSrv = nil
	}
}

// prepareMetrics binds the metrics listener cfg asks for while the old one
// still serves (see shared/relisten); committing it stops the old one.
func (a *App) prepareMetrics(old, cfg *config.Config) (relisten.Move, error) {
	return relisten.Prepare(relisten.Spec{
		OldWant: metricsWant(old), NewWant: metricsWant(cfg), Old: a.metSrv, OldBound: metricsWant(old),
		Listen: func(addr string) (net.Listener, error) { return listenMetrics(cfg, addr) },
		Serve:  a.serveMetrics,
	})
}

// httpMoves are the prepared moves of the director's HTTP listeners.
type httpMoves struct {
	metrics relisten.Move
	debug   debugserver.Move
}

// Commit stops the old servers and serves the new sockets.
func (m httpMoves) Commit() {
	m.metrics.Commit()
	m.debug.Commit()
}

// Abort closes the new sockets and puts back what was stopped early.
func (m httpMoves) Abort() {
	m.metrics.Abort()
	m.debug.Abort()
}

// prepareHTTP binds the metrics listener and the pprof endpoint cfg asks
// for while the old ones still serve; an error means nothing changed.
func (a *App) prepareHTTP(old, cfg *config.Config) (httpMoves, error) {
	met, err := a.prepareMetrics(old, cfg)
	if err != nil {
		return httpMoves{}, err
	}
	dbg, err := a.dbg.Prepare(debugWant(cfg), func(addr string) (net.Listener, error) { return listenDebug(cfg, addr) }, a.log)
	if err != nil {
		met.Abort()
		return httpMoves{}, err
	}
	return httpMoves{met, dbg}, nil
}

// prepareHeartbeat binds the heartbeat socket cfg asks for while the old
// one still serves. It returns nil (and no error) when there is nothing to
// bind ahead: no listener wanted, or the same address (the socket is then
// re-bound after the old one stops, as before), or the same port held by
// the old socket under another spelling.
func (a *App) prepareHeartbeat(old, cfg *config.Config, key []byte) (net.PacketConn, error) {
	if !wantHeartbeat(cfg, key) {
		return nil, nil
	}
	if a.hb != nil && cfg.Heartbeat.Listen == old.Heartbeat.Listen {
		return nil, nil
	}
	c, err := listenHeartbeat(cfg)
	if err != nil && a.hb != nil && errors.Is(err, syscall.EADDRINUSE) && relisten.SamePort(old.Heartbeat.Listen, cfg.Heartbeat.Listen) {
		return nil, nil
	}
	return c, err
}
