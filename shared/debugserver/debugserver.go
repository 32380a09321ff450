// Package debugserver is the daemons' debug.pprof endpoint: net/http/pprof's
// handlers on a ServeMux of their own (never http.DefaultServeMux), on a
// loopback address only, off by default. Both daemons keep one Endpoint,
// started at start, moved on a reload like their other HTTP listeners
// (shared/relisten) and stopped on stop.
//
// Importing net/http/pprof registers its handlers on http.DefaultServeMux
// too; no daemon serves that mux.
package debugserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/tandemlb/tandem/shared/relisten"
)

// MaxSeconds bounds the seconds parameter of /debug/pprof/profile and
// /debug/pprof/trace: a longer request is refused (400).
const MaxSeconds = 300

// CheckAddr says what is wrong with s as the debug.pprof address, "" if
// nothing: it must be IP:PORT with a loopback IP (127.0.0.0/8, ::1) and a
// port 1..65535. A host name is refused: what it resolves to may change.
func CheckAddr(s string) string {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not IP:PORT (e.g. 127.0.0.1:6060 or [::1]:6060)", s)
	}
	if !ap.Addr().IsLoopback() {
		return fmt.Sprintf("%s is not a loopback address: the pprof endpoint listens on 127.0.0.1 or ::1 only", ap.Addr())
	}
	if ap.Port() == 0 {
		return fmt.Sprintf("%q: the port must be 1..65535", s)
	}
	return ""
}

// Handler serves net/http/pprof's handlers under /debug/pprof/ on a new
// ServeMux: the index and the named profiles (heap, goroutine, allocs,
// block, mutex, threadcreate), cmdline, profile (CPU, ?seconds=N), symbol
// and trace. Anything else is 404.
func Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.Handle("/debug/pprof/profile", boundSeconds(http.HandlerFunc(pprof.Profile)))
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.Handle("/debug/pprof/trace", boundSeconds(http.HandlerFunc(pprof.Trace)))
	return mux
}

// boundSeconds refuses a seconds parameter above MaxSeconds (pprof
// itself takes any).
func boundSeconds(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s := r.FormValue("seconds"); s != "" {
			if n, err := strconv.ParseFloat(s, 64); err == nil && n > MaxSeconds {
				http.Error(w, fmt.Sprintf("seconds=%s: at most %d", s, MaxSeconds), http.StatusBadRequest)
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Endpoint is one daemon's pprof listener. The zero value serves nothing.
// Its methods are for the daemon's main loop; Addr may be called from
// anywhere.
type Endpoint struct {
	mu   sync.Mutex
	srv  *http.Server
	addr string // where srv is bound
	wg   sync.WaitGroup
}

// Serve serves Handler on ln. Call it on an endpoint that serves nothing
// (at start, or through a Move).
func (e *Endpoint) Serve(ln net.Listener, log *slog.Logger) {
	srv := &http.Server{
		Handler:           Handler(),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
		// No WriteTimeout: a CPU profile answers after its seconds.
	}
	e.mu.Lock()
	e.srv, e.addr = srv, ln.Addr().String()
	e.mu.Unlock()
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("debug.pprof endpoint stopped", "addr", ln.Addr().String(), "err", err)
		}
	}()
	log.Warn("debug.pprof endpoint listening: profiles of this daemon to anyone on this host", "addr", ln.Addr().String())
}

// Addr is where the endpoint listens, "" when it does not.
func (e *Endpoint) Addr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addr
}

// Stop stops the endpoint: requests in progress (a CPU profile) get a
// second, then their connections are closed. It returns once the server's
// goroutine has.
func (e *Endpoint) Stop() {
	e.mu.Lock()
	srv := e.srv
	e.srv, e.addr = nil, ""
	e.mu.Unlock()
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		_ = srv.Shutdown(ctx)
		cancel()
		_ = srv.Close()
	}
	e.wg.Wait()
}

// Move is a prepared change of the endpoint (see shared/relisten).
type Move struct {
	m   relisten.Move
	e   *Endpoint
	off bool // nothing is wanted any more
}

// Prepare binds want ("" for none) with listen while the running endpoint
// still serves. An error means nothing changed.
func (e *Endpoint) Prepare(want string, listen func(addr string) (net.Listener, error), log *slog.Logger) (Move, error) {
	e.mu.Lock()
	srv, addr := e.srv, e.addr
	e.mu.Unlock()
	oldWant := addr
	if srv == nil {
		oldWant = ""
	}
	if ap, err := netip.ParseAddrPort(want); err == nil {
		want = ap.String() // as the running one's address is written
	}
	m, err := relisten.Prepare(relisten.Spec{
		OldWant: oldWant, NewWant: want, Old: srv, OldBound: addr,
		Listen: listen,
		Serve:  func(ln net.Listener) { e.Serve(ln, log) },
	})
	if err != nil {
		return Move{}, err
	}
	return Move{m: m, e: e, off: want == ""}, nil
}

// Commit stops the old server and serves the new socket.
func (m Move) Commit() {
	if m.e == nil {
		return
	}
	if m.off {
		m.e.Stop()
		return
	}
	m.m.Commit()
}

// Abort closes the new socket and puts back what was stopped early.
func (m Move) Abort() { m.m.Abort() }
