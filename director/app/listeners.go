package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tandemlb/tandem/director/config"
)

// The director's two network listeners besides VRRP: the agents'
// heartbeat socket (UDP) and metrics (TCP). At start both are bound before
// anything touches the host, so that a port in use fails the start with
// nothing done; at reload the new ones are bound while the old ones still
// serve, so that a port in use fails the reload with nothing changed (the
// old ports keep answering). Errors name the file:line, the key and the
// address:port.

// listenError explains a failed bind of key (heartbeat.listen,
// metrics.listen) at addr.
func listenError(cfg *config.Config, pos config.Pos, key, proto, addr string, err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err // "bind: address already in use", without repeating the address
	}
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

// wantMetrics reports whether cfg runs the metrics listener.
func wantMetrics(cfg *config.Config) bool {
	return cfg.Metrics.Enabled && cfg.Metrics.Listen != ""
}

// listenMetrics binds cfg's metrics socket.
func listenMetrics(cfg *config.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", cfg.Metrics.Listen)
	if err != nil {
		return nil, listenError(cfg, cfg.Metrics.Pos, "metrics.listen", "TCP", cfg.Metrics.Listen, err)
	}
	return ln, nil
}

// bound are the sockets bound at start, handed over one by one.
type bound struct {
	hb  net.PacketConn
	met net.Listener
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
	if wantMetrics(cfg) {
		ln, err := listenMetrics(cfg)
		if err != nil {
			b.close()
			return nil, err
		}
		b.met = ln
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
	mux.Handle("/metrics", promhttp.HandlerFor(a.met.Registry, promhttp.HandlerOpts{}))
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
	if a.metSrv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	_ = a.metSrv.Shutdown(ctx)
	cancel()
	a.metSrv = nil
}

// metricsMove is how a reload changes the metrics listener: prepared (the
// new socket bound) before anything is applied, then committed or undone.
type metricsMove struct {
	a       *App
	changed bool
	ln      net.Listener // the new socket, nil if none is wanted
	undo    func()       // puts back the old listener closed while preparing
}

// prepareMetrics binds the metrics listener cfg asks for, the old one still
// serving. Only when the old listener holds the same port under another
// spelling (127.0.0.1:9480 then 0.0.0.0:9480) is it closed first, and put
// back if the new bind fails.
func (a *App) prepareMetrics(old, cfg *config.Config, changed bool) (metricsMove, error) {
	m := metricsMove{a: a, changed: changed}
	if !changed || !wantMetrics(cfg) {
		return m, nil
	}
	ln, err := listenMetrics(cfg)
	if err != nil && a.metSrv != nil && errors.Is(err, syscall.EADDRINUSE) && samePort(old.Metrics.Listen, cfg.Metrics.Listen) {
		a.stopMetrics()
		putBack := func() {
			if back, err := listenMetrics(old); err == nil {
				a.serveMetrics(back)
			} else {
				a.log.Error("reload: the old metrics listener could not be put back", "err", err)
			}
		}
		if ln, err = listenMetrics(cfg); err != nil {
			putBack()
			return metricsMove{}, err
		}
		m.undo = putBack
	}
	if err != nil {
		return metricsMove{}, err
	}
	m.ln = ln
	return m, nil
}

// commit stops the old listener and serves the new one.
func (m metricsMove) commit() {
	if !m.changed {
		return
	}
	m.a.stopMetrics()
	if m.ln != nil {
		m.a.serveMetrics(m.ln)
	}
}

// abort closes the new socket and puts back what was closed early.
func (m metricsMove) abort() {
	if m.ln != nil {
		m.ln.Close()
	}
	if m.undo != nil {
		m.undo()
	}
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
	if err != nil && a.hb != nil && errors.Is(err, syscall.EADDRINUSE) && samePort(old.Heartbeat.Listen, cfg.Heartbeat.Listen) {
		return nil, nil
	}
	return c, err
}

// samePort reports whether two host:port strings have the same port.
func samePort(x, y string) bool {
	_, px, err1 := net.SplitHostPort(x)
	_, py, err2 := net.SplitHostPort(y)
	return err1 == nil && err2 == nil && px == py
}
