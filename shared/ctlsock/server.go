package ctlsock

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Server serves a Handler on a unix socket. Set the exported fields, if at
// all, before Run.
type Server struct {
	path string
	h    Handler
	log  *slog.Logger

	// PeerUID returns the uid of the process at the other end of c. The
	// default reads SO_PEERCRED; tests replace it. Only uid 0 is served.
	PeerUID func(c *net.UnixConn) (uint32, error)
	// ReadTimeout bounds the time to receive the request (default 5s).
	ReadTimeout time.Duration
	// WriteTimeout bounds each write to the client (default 10s).
	WriteTimeout time.Duration
	// MaxConns bounds the connections served at once (default 16); more
	// are answered with an error.
	MaxConns int

	listening chan struct{} // closed once the socket is in place
}

// NewServer returns a Server for path. It does no I/O.
func NewServer(path string, h Handler, log *slog.Logger) *Server {
	return &Server{
		path:         path,
		h:            h,
		log:          log,
		PeerUID:      peerCredUID,
		ReadTimeout:  5 * time.Second,
		WriteTimeout: 10 * time.Second,
		MaxConns:     16,
		listening:    make(chan struct{}),
	}
}

// peerCredUID reads the peer's uid with SO_PEERCRED.
// Listening is closed once the socket is in place and answers: a daemon
// waits for it before it reports ready, so that a CLI started right after
// finds the socket.
func (s *Server) Listening() <-chan struct{} { return s.listening }

func peerCredUID(c *net.UnixConn) (uint32, error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, fmt.Errorf("SO_PEERCRED: %w", serr)
	}
	return cred.Uid, nil
}

// Run listens on the socket and serves until ctx is done, then waits for
// open connections to finish and removes the socket. It creates the parent
// directory (0755) if needed and replaces a stale socket, but refuses to
// replace a socket a live daemon still answers on, or a file that is not a
// socket.
func (s *Server) Run(ctx context.Context) error {
	l, err := s.listen()
	if err != nil {
		return err
	}
	ours, err := os.Stat(s.path)
	if err != nil {
		l.Close()
		return fmt.Errorf("control socket %s: %w", s.path, err)
	}
	defer func() {
		// Remove the socket only if it is still ours.
		if fi, err := os.Stat(s.path); err == nil && os.SameFile(fi, ours) {
			os.Remove(s.path)
		}
	}()
	s.log.Debug("control socket listening", "path", s.path)
	close(s.listening)

	stop := context.AfterFunc(ctx, func() { l.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, max(s.MaxConns, 1))
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			l.Close()
			return fmt.Errorf("control socket %s: accept: %w", s.path, err)
		}
		select {
		case sem <- struct{}{}:
		default:
			wg.Go(func() {
				defer c.Close()
				s.writeResponse(c, Response{Error: "busy: too many control connections"})
			})
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			s.serve(ctx, c)
		})
	}
}

// listen creates the socket with mode 0600 without a window in which it is
// more open: it listens on a temporary name, chmods, then renames.
func (s *Server) listen() (*net.UnixListener, error) {
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("control socket directory %s: %w", dir, err)
	}
	if err := s.removeStale(); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "."+filepath.Base(s.path)+".tmp"+strconv.Itoa(os.Getpid()))
	os.Remove(tmp)
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", s.path, err)
	}
	l.SetUnlinkOnClose(false)
	fail := func(err error) (*net.UnixListener, error) {
		l.Close()
		os.Remove(tmp)
		return nil, fmt.Errorf("control socket %s: %w", s.path, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fail(err)
	}
	return l, nil
}

// removeStale removes a socket left by a daemon that is gone.
func (s *Server) removeStale() error {
	fi, err := os.Lstat(s.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("control socket %s: %w", s.path, err)
	}
	if fi.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("control socket %s: exists and is not a socket (%v); not removing it", s.path, fi.Mode().Type())
	}
	c, err := net.DialTimeout("unix", s.path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("control socket %s: another daemon is listening on it", s.path)
	}
	s.log.Debug("removing stale control socket", "path", s.path, "err", err)
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("control socket %s: remove stale: %w", s.path, err)
	}
	return nil
}

func (s *Server) serve(ctx context.Context, c *net.UnixConn) {
	defer c.Close()
	uid, err := s.PeerUID(c)
	if err != nil {
		s.log.Warn("control connection: peer credentials", "err", err)
		s.writeResponse(c, Response{Error: "cannot identify peer: " + err.Error()})
		return
	}
	if uid != 0 {
		s.log.Warn("control connection refused: not root", "uid", uid)
		s.writeResponse(c, Response{Error: fmt.Sprintf("permission denied: uid %d is not root", uid)})
		return
	}
	req, err := s.readRequest(c)
	if err != nil {
		s.log.Info("control request rejected", "err", err)
		s.writeResponse(c, Response{Error: err.Error()})
		return
	}
	log := s.log.With("op", req.Op)
	log.Debug("control request")

	// A read returning means the client hung up (or half-closed): cancel.
	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.SetReadDeadline(time.Time{})
	go func() {
		var b [1]byte
		c.Read(b[:])
		cancel()
	}()

	v, err := s.call(hctx, req, log)
	if err != nil {
		log.Debug("control request failed", "err", err)
		s.writeResponse(c, Response{Error: err.Error()})
		return
	}
	if stream, ok := v.(StreamFunc); ok {
		err := s.runStream(hctx, c, stream, req, log)
		resp := Response{OK: err == nil}
		if err != nil {
			resp.Error = err.Error()
		}
		s.writeResponse(c, resp)
		return
	}
	resp := Response{OK: true}
	if v != nil {
		data, err := json.Marshal(v)
		if err != nil {
			log.Error("control response: encode", "err", err)
			s.writeResponse(c, Response{Error: "internal error: encode response: " + err.Error()})
			return
		}
		resp.Data = data
	}
	s.writeResponse(c, resp)
}

// call runs the handler, turning a panic into an error.
func (s *Server) call(ctx context.Context, req Request, log *slog.Logger) (v any, err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("control handler panicked", "panic", p, "stack", string(debug.Stack()))
			v, err = nil, fmt.Errorf("internal error in op %s", req.Op)
		}
	}()
	return s.h(ctx, req)
}

func (s *Server) runStream(ctx context.Context, c *net.UnixConn, f StreamFunc, req Request, log *slog.Logger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("control stream panicked", "panic", p, "stack", string(debug.Stack()))
			err = fmt.Errorf("internal error in op %s", req.Op)
		}
	}()
	send := func(v any) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		data, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode stream line: %w", err)
		}
		line, err := json.Marshal(streamLine{Line: data})
		if err != nil {
			return fmt.Errorf("encode stream line: %w", err)
		}
		return s.write(c, append(line, '\n'))
	}
	return f(ctx, send)
}

func (s *Server) readRequest(c *net.UnixConn) (Request, error) {
	c.SetReadDeadline(time.Now().Add(s.ReadTimeout))
	r := bufio.NewReaderSize(io.LimitReader(c, MaxRequestSize+1), 4096)
	var b []byte
	for {
		chunk, err := r.ReadSlice('\n')
		b = append(b, chunk...)
		if len(b) > MaxRequestSize {
			return Request{}, fmt.Errorf("request larger than %d bytes", MaxRequestSize)
		}
		if err == nil || errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return Request{}, fmt.Errorf("no complete request within %v", s.ReadTimeout)
		}
		return Request{}, fmt.Errorf("read request: %w", err)
	}
	return DecodeRequest(b)
}

func (s *Server) write(c *net.UnixConn, b []byte) error {
	c.SetWriteDeadline(time.Now().Add(s.WriteTimeout))
	_, err := c.Write(b)
	if errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) {
		return fmt.Errorf("client went away: %w", err)
	}
	return err
}

func (s *Server) writeResponse(c *net.UnixConn, r Response) {
	b, err := json.Marshal(r)
	if err != nil { // only Data can fail, and it is already JSON
		b = []byte(`{"ok":false,"error":"internal error: encode response"}`)
	}
	if err := s.write(c, append(b, '\n')); err != nil {
		s.log.Debug("control response not delivered", "err", err)
	}
}
