package ctlsock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Default socket paths of the two daemons.
const (
	DirectorSocket = "/run/tandem-director/director.sock"
	BackendSocket  = "/run/tandem-backend/backend.sock"
)

// Limits.
const (
	// MaxRequestSize is the largest request the server reads, newline included.
	MaxRequestSize = 64 << 10
	// MaxLineSize is the largest response line the client reads.
	MaxLineSize = 16 << 20
)

// Request is what a client sends: an operation and its arguments.
type Request struct {
	// Op names the operation, e.g. "status".
	Op string `json:"op"`
	// Args holds the operation's arguments as JSON; may be empty.
	Args json.RawMessage `json:"args,omitempty"`
}

// DecodeArgs unmarshals r.Args into v, refusing unknown fields. Empty Args
// leaves v unchanged.
func (r Request) DecodeArgs(v any) error {
	if len(r.Args) == 0 || bytes.Equal(bytes.TrimSpace(r.Args), []byte("null")) {
		return nil
	}
	d := json.NewDecoder(bytes.NewReader(r.Args))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("op %s: args: %w", r.Op, err)
	}
	return nil
}

// Response is the server's final answer.
type Response struct {
	// OK is true when the operation succeeded. It is always on the wire.
	OK bool `json:"ok"`
	// Error is the failure, for the operator to read.
	Error string `json:"error,omitempty"`
	// Data is the operation's result as JSON; may be empty.
	Data json.RawMessage `json:"data,omitempty"`
}

// Handler serves one request. It returns the value to send as Response.Data
// (nil for none), a StreamFunc to stream lines, or an error for the
// operator. ctx is canceled when the server stops or the client hangs up.
type Handler func(ctx context.Context, req Request) (any, error)

// StreamFunc streams values, one JSON line each, through send. Its error
// (nil for success) becomes the final Response. send fails once the client
// is gone; the StreamFunc must then return.
type StreamFunc func(ctx context.Context, send func(any) error) error

// streamLine wraps a streamed value so that it cannot be mistaken for the
// final Response.
type streamLine struct {
	Line json.RawMessage `json:"line"`
}

// ErrNotRoot is returned by the client when it does not run as root.
var ErrNotRoot = errors.New("must be run as root")

// ErrNoDaemon is returned, wrapped with the path, when no daemon listens on
// the socket.
var ErrNoDaemon = errors.New("daemon not running")

// RemoteError is a failure the daemon reported in its Response.
type RemoteError struct {
	// Op is the operation that failed.
	Op string
	// Msg is the daemon's error message.
	Msg string
}

// Error returns "op: message".
func (e *RemoteError) Error() string { return e.Op + ": " + e.Msg }

// DecodeRequest parses one request: a single JSON object with a non-empty
// "op", no unknown fields, nothing after it but white space, at most
// MaxRequestSize bytes.
func DecodeRequest(b []byte) (Request, error) {
	var r Request
	if len(b) > MaxRequestSize {
		return r, fmt.Errorf("request of %d bytes, max %d", len(b), MaxRequestSize)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return Request{}, fmt.Errorf("request: %w", err)
	}
	if len(bytes.TrimSpace(b[d.InputOffset():])) != 0 {
		return Request{}, errors.New("request: data after the JSON object")
	}
	if r.Op == "" {
		return Request{}, errors.New(`request: missing "op"`)
	}
	return r, nil
}
