package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"syscall"
)

// Class is the outcome of one request.
type Class uint8

// The classes. Every class but OK and Aborted is a failure.
const (
	// OK: a 2xx answer from an expected server.
	OK Class = iota
	// Refused: the connection was refused (ECONNREFUSED).
	Refused
	// Reset: the connection was reset (ECONNRESET, ECONNABORTED), a write
	// found it closed (EPIPE), or it ended before a whole response.
	Reset
	// Timeout: the dial or the response missed the per-request deadline
	// (or the kernel gave up connecting: ETIMEDOUT).
	Timeout
	// WrongServer: a 2xx answer naming a server outside the expected set,
	// or naming none while a set is expected.
	WrongServer
	// HTTPStatus: an answer whose status is not 2xx.
	HTTPStatus
	// Other: any other error (unreachable, a malformed response, ...).
	Other
	// Aborted: the run's context was cancelled (or a probe had its answer)
	// while the request was in flight. Not a failure.
	Aborted

	numClasses = int(Aborted) + 1
)

var classNames = [numClasses]string{"ok", "refused", "reset", "timeout", "wrong-server", "http-status", "other", "aborted"}

// String returns the class's lowercase name, e.g. "wrong-server".
func (c Class) String() string {
	if int(c) < numClasses {
		return classNames[c]
	}
	return "class(" + strconv.Itoa(int(c)) + ")"
}

// Failed reports whether the class is a failure (neither OK nor Aborted).
func (c Class) Failed() bool { return c != OK && c != Aborted }

// Classes lists every class in order, for tables.
func Classes() []Class {
	cs := make([]Class, numClasses)
	for i := range cs {
		cs[i] = Class(i)
	}
	return cs
}

// Kind is the kind of connection a request went over.
type Kind uint8

// The kinds.
const (
	// NewConn: one request per connection ("Connection: close").
	NewConn Kind = iota
	// KeepAliveConn: a connection of the keep-alive pool.
	KeepAliveConn
	// IdleConn: a long-lived idle connection (Config.Idle).
	IdleConn

	numKinds = int(IdleConn) + 1
)

var kindNames = [numKinds]string{"new", "keep-alive", "idle"}

// String returns the kind's name, e.g. "keep-alive".
func (k Kind) String() string {
	if int(k) < numKinds {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Classify maps a request error to its class: Refused, Reset, Timeout or
// Other. It does not know about cancellation (the Generator checks its own
// contexts first) nor about answers (OK, WrongServer, HTTPStatus). A nil
// error is OK.
func Classify(err error) Class {
	if err == nil {
		return OK
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return Refused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return Reset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT):
		return Timeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return Other
}
