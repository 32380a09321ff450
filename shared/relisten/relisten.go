// Package relisten moves an HTTP listener on a reload without a gap and
// without a half-applied state: the new address is bound while the old
// server still serves, so that a port in use fails the reload with nothing
// changed; the caller then commits (old server stopped, new one served) or
// aborts. Both daemons use it for their HTTP endpoints (the director's
// metrics; the agent's check endpoint and metrics).
package relisten

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"time"
)

// BindError is err from a failed bind without the address net repeats
// ("bind: address already in use"), for callers that name it themselves.
func BindError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// SamePort reports whether two host:port strings have the same port.
func SamePort(a, b string) bool {
	_, pa, err1 := net.SplitHostPort(a)
	_, pb, err2 := net.SplitHostPort(b)
	return err1 == nil && err2 == nil && pa == pb
}

// Shutdown stops srv, waiting at most a second for its requests.
func Shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(ctx)
}

// Spec is one listener's move.
type Spec struct {
	// OldWant and NewWant are the configured addresses, "" for none.
	OldWant, NewWant string
	// Old is the running server (nil if none) and OldBound where it is
	// bound, to put it back.
	Old      *http.Server
	OldBound string
	// Listen binds addr (its error in the caller's words); Serve serves a
	// bound socket.
	Listen func(addr string) (net.Listener, error)
	Serve  func(net.Listener)
}

// Move is a prepared change of one listener.
type Move struct {
	old   *http.Server // stops at Commit, nil if none
	ln    net.Listener // the new socket, nil if none is wanted or nothing changes
	undo  func()       // puts back a running server closed while preparing
	serve func(net.Listener)
}

// Prepare binds the new address, the old server still serving. Only when
// the old server holds the same port under another spelling (":9481"
// then "192.0.2.11:9481") is it stopped first, and put back if the new
// bind fails. An error means nothing changed.
func Prepare(s Spec) (Move, error) {
	m := Move{serve: s.Serve}
	if s.NewWant == s.OldWant && (s.Old != nil) == (s.NewWant != "") {
		return m, nil // unchanged
	}
	m.old = s.Old
	if s.NewWant == "" {
		return m, nil
	}
	putBack := func() error {
		back, err := net.Listen("tcp", s.OldBound)
		if err == nil {
			s.Serve(back)
		}
		return err
	}
	ln, err := s.Listen(s.NewWant)
	if err != nil && s.Old != nil && errors.Is(err, syscall.EADDRINUSE) && SamePort(s.OldBound, s.NewWant) {
		Shutdown(s.Old)
		m.old = nil
		if ln, err = s.Listen(s.NewWant); err != nil {
			if berr := putBack(); berr != nil {
				err = fmt.Errorf("%w (and the old listener %s could not be put back: %v)", err, s.OldBound, berr)
			}
			return Move{}, err
		}
		m.undo = func() { _ = putBack() }
	}
	if err != nil {
		return Move{}, err
	}
	m.ln = ln
	return m, nil
}

// Commit stops the old server and serves the new socket.
func (m Move) Commit() {
	if m.old != nil {
		Shutdown(m.old)
	}
	if m.ln != nil {
		m.serve(m.ln)
	}
}

// Abort closes the new socket and puts back what was stopped early.
func (m Move) Abort() {
	if m.ln != nil {
		m.ln.Close()
	}
	if m.undo != nil {
		m.undo()
	}
}
