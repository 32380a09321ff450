package app

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/backend/health"
	"github.com/tandemlb/tandem/shared/relisten"
)

// The agent's two HTTP listeners: the check endpoint (listen mode) and
// metrics. At start a port that cannot be bound is an error that names the
// file line, the key and the address. At reload the new listeners are bound
// while the old ones still serve, so that a port in use fails the reload and
// leaves the running ones (and the configuration) as they were.

const (
	keyCheckListen   = "check.listen"
	keyMetricsListen = "metrics.listen"
)

// checkWant is the check listener's address cfg asks for, "" for none.
func checkWant(cfg *config.Config) string {
	if cfg.Check.Mode != config.CheckListen {
		return ""
	}
	return cfg.Check.Listen
}

// listenAt binds addr for key; the error says where key is set.
func listenAt(cfg *config.Config, key, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	return nil, fmt.Errorf("%s: key %q: cannot listen on TCP %s: %w", cfg.At(key), key, addr, relisten.BindError(err))
}

// setCheckHandler makes the check endpoint serve cfg's path.
func (a *App) setCheckHandler(cfg *config.Config) {
	h := health.Handler(cfg.Check.Path, a.currentVerdict)
	a.checkH.Store(&h)
}

// serveCheck serves the check endpoint on ln.
func (a *App) serveCheck(ln net.Listener, path string) {
	srv := &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*a.checkH.Load()).ServeHTTP(w, r) }),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	a.mu.Lock()
	a.checkSrv, a.checkAddr = srv, ln.Addr().String()
	a.mu.Unlock()
	a.goRun("check endpoint", func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	a.log.Info("check endpoint listening", "addr", ln.Addr().String(), "path", path)
}

// serveMetrics serves /metrics on ln.
func (a *App) serveMetrics(ln net.Listener) {
	mux := http.NewServeMux()
	prom := promhttp.HandlerFor(a.met.Registry, promhttp.HandlerOpts{})
	mux.Handle("/metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The ARP table's counters are read when asked: the guard checks
		// the table only on a change event or every 30 s otherwise.
		if g := a.guard; g != nil {
			g.Refresh()
			a.met.arpCheck(g.Status())
		}
		prom.ServeHTTP(w, r)
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	a.mu.Lock()
	a.metSrv, a.metAddr = srv, ln.Addr().String()
	a.mu.Unlock()
	a.goRun("metrics", func() error {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	a.log.Info("metrics listening", "addr", ln.Addr().String())
}

// prepareListeners binds what cfg needs that old did not have; on error
// nothing changed.
func (a *App) prepareListeners(old, cfg *config.Config) (check, metrics relisten.Move, err error) {
	a.mu.Lock()
	checkSrv, checkAddr, metSrv, metAddr := a.checkSrv, a.checkAddr, a.metSrv, a.metAddr
	a.mu.Unlock()
	check, err = relisten.Prepare(relisten.Spec{
		OldWant: checkWant(old), NewWant: checkWant(cfg), Old: checkSrv, OldBound: checkAddr,
		Listen: func(addr string) (net.Listener, error) { return listenAt(cfg, keyCheckListen, addr) },
		Serve:  func(ln net.Listener) { a.serveCheck(ln, cfg.Check.Path) },
	})
	if err != nil {
		return relisten.Move{}, relisten.Move{}, err
	}
	metrics, err = relisten.Prepare(relisten.Spec{
		OldWant: old.Metrics.Listen, NewWant: cfg.Metrics.Listen, Old: metSrv, OldBound: metAddr,
		Listen: func(addr string) (net.Listener, error) { return listenAt(cfg, keyMetricsListen, addr) },
		Serve:  a.serveMetrics,
	})
	if err != nil {
		check.Abort()
		return relisten.Move{}, relisten.Move{}, err
	}
	return check, metrics, nil
}
