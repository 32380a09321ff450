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

	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/backend/health"
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
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err // "bind: address already in use", without repeating the address
	}
	return nil, fmt.Errorf("%s: key %q: cannot listen on TCP %s: %w", cfg.At(key), key, addr, err)
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
	mux.Handle("/metrics", promhttp.HandlerFor(a.met.Registry, promhttp.HandlerOpts{}))
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

func shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// move is how a reload changes one listener: prepared (the new socket
// bound) before anything is applied, then committed or undone.
type move struct {
	old   *http.Server // the running server that stops at commit, nil if none
	ln    net.Listener // the new socket, nil if none is wanted or nothing changes
	undo  func()       // puts back a running server closed while preparing
	serve func(net.Listener)
}

// prepareMove binds the new address of one listener. oldWant and newWant
// are the configured addresses ("" for none), oldSrv and oldBound the
// running server and its bound address. Only when our own running listener
// holds the port under another spelling (":7481" then "192.0.2.11:7481") is
// the old one closed first, and put back if the new bind fails.
func prepareMove(cfg *config.Config, key, oldWant, newWant string, oldSrv *http.Server, oldBound string, serve func(net.Listener)) (move, error) {
	m := move{serve: serve}
	if newWant == oldWant && (oldSrv != nil) == (newWant != "") {
		return m, nil // unchanged
	}
	m.old = oldSrv
	if newWant == "" {
		return m, nil
	}
	ln, err := listenAt(cfg, key, newWant)
	if err != nil && oldSrv != nil && errors.Is(err, syscall.EADDRINUSE) && samePort(oldBound, newWant) {
		shutdown(oldSrv)
		m.old = nil
		ln, err = listenAt(cfg, key, newWant)
		if err != nil {
			if back, berr := net.Listen("tcp", oldBound); berr == nil {
				serve(back)
			} else {
				err = fmt.Errorf("%w (and the old listener %s could not be put back: %v)", err, oldBound, berr)
			}
			return move{}, err
		}
		m.undo = func() {
			if back, err := net.Listen("tcp", oldBound); err == nil {
				serve(back)
			}
		}
	}
	if err != nil {
		return move{}, err
	}
	m.ln = ln
	return m, nil
}

// commit stops the old server and serves the new socket.
func (m move) commit() {
	if m.old != nil {
		shutdown(m.old)
	}
	if m.ln != nil {
		m.serve(m.ln)
	}
}

// abort closes the new socket and puts back what was closed early.
func (m move) abort() {
	if m.ln != nil {
		m.ln.Close()
	}
	if m.undo != nil {
		m.undo()
	}
}

// samePort reports whether two host:port strings have the same port.
func samePort(a, b string) bool {
	_, pa, err1 := net.SplitHostPort(a)
	_, pb, err2 := net.SplitHostPort(b)
	return err1 == nil && err2 == nil && pa == pb
}

// prepareListeners binds what cfg needs that old did not have; on error
// nothing changed.
func (a *App) prepareListeners(old, cfg *config.Config) (check, metrics move, err error) {
	a.mu.Lock()
	checkSrv, checkAddr, metSrv, metAddr := a.checkSrv, a.checkAddr, a.metSrv, a.metAddr
	a.mu.Unlock()
	check, err = prepareMove(cfg, keyCheckListen, checkWant(old), checkWant(cfg), checkSrv, checkAddr,
		func(ln net.Listener) { a.serveCheck(ln, cfg.Check.Path) })
	if err != nil {
		return move{}, move{}, err
	}
	metrics, err = prepareMove(cfg, keyMetricsListen, old.Metrics.Listen, cfg.Metrics.Listen, metSrv, metAddr, a.serveMetrics)
	if err != nil {
		check.abort()
		return move{}, move{}, err
	}
	return check, metrics, nil
}
