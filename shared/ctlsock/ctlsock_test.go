package ctlsock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var rootUID = func(*net.UnixConn) (uint32, error) { return 0, nil }

// start runs a server for h on a socket in a fresh directory (which Run
// must create) and returns a root client for it. configure may change the
// server before Run.
func start(t *testing.T, h Handler, configure func(*Server)) *Client {
	t.Helper()
	path := filepath.Join(t.TempDir(), "run", "tandem", "test.sock")
	s := NewServer(path, h, slog.New(slog.DiscardHandler))
	s.PeerUID = rootUID
	if configure != nil {
		configure(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.listening:
	case err := <-done:
		cancel()
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run returned %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
		if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("socket left behind after Run: %v", err)
		}
	})
	return &Client{Path: path, Geteuid: func() int { return 0 }}
}

type status struct {
	Role string   `json:"role"`
	VIPs []string `json:"vips"`
}

func handler(t *testing.T) Handler {
	return func(ctx context.Context, req Request) (any, error) {
		switch req.Op {
		case "status":
			return status{Role: "master", VIPs: []string{"192.0.2.100"}}, nil
		case "echo":
			var a map[string]int
			if err := req.DecodeArgs(&a); err != nil {
				return nil, err
			}
			return a, nil
		case "drain":
			var a struct {
				RS string `json:"rs"`
			}
			if err := req.DecodeArgs(&a); err != nil {
				return nil, err
			}
			if a.RS == "" {
				return nil, errors.New("drain: no real server given")
			}
			return nil, nil
		case "count":
			var n int
			if err := req.DecodeArgs(&n); err != nil {
				return nil, err
			}
			return StreamFunc(func(ctx context.Context, send func(any) error) error {
				for i := 1; i <= n; i++ {
					if err := send(map[string]int{"i": i}); err != nil {
						return err
					}
				}
				if n > 2 {
					return fmt.Errorf("stopped after %d", n)
				}
				return nil
			}), nil
		case "panic":
			panic("boom")
		}
		return nil, fmt.Errorf("unknown op %q", req.Op)
	}
}

func TestCall(t *testing.T) {
	c := start(t, handler(t), nil)
	ctx := context.Background()

	var st status
	if err := c.Call(ctx, "status", nil, &st); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(status{Role: "master", VIPs: []string{"192.0.2.100"}}, st); diff != "" {
		t.Errorf("status (-want +got)\n%s", diff)
	}
	var echo map[string]int
	if err := c.Call(ctx, "echo", map[string]int{"a": 1}, &echo); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"a": 1}, echo); diff != "" {
		t.Errorf("echo (-want +got)\n%s", diff)
	}
	if err := c.Call(ctx, "drain", map[string]string{"rs": "192.0.2.11:80"}, nil); err != nil {
		t.Errorf("drain: %v", err)
	}
	// The package-level function is the same with a real euid check.
	if os.Geteuid() == 0 {
		if err := Call(ctx, c.Path, "status", nil, &st); err != nil {
			t.Errorf("package Call: %v", err)
		}
	}
}

func TestServerErrors(t *testing.T) {
	c := start(t, handler(t), nil)
	tests := []struct {
		op   string
		args any
		want string
	}{
		{"drain", map[string]string{}, "drain: drain: no real server given"},
		{"drain", map[string]string{"bogus": "x"}, `drain: op drain: args: json: unknown field "bogus"`},
		{"nope", nil, `nope: unknown op "nope"`},
		{"panic", nil, "panic: internal error in op panic"},
		{"count", 1, "count streams; use CallStream"},
	}
	for _, tt := range tests {
		err := c.Call(context.Background(), tt.op, tt.args, nil)
		if err == nil || err.Error() != tt.want && !strings.HasSuffix(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want %q", tt.op, err, tt.want)
		}
	}
	var re *RemoteError
	if err := c.Call(context.Background(), "nope", nil, nil); !errors.As(err, &re) || re.Op != "nope" {
		t.Errorf("error %v is not a *RemoteError for op nope", err)
	}
}

func TestCallStream(t *testing.T) {
	c := start(t, handler(t), nil)
	var got []string
	collect := func(raw json.RawMessage) error { got = append(got, string(raw)); return nil }

	if err := c.CallStream(context.Background(), "count", 2, collect); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`{"i":1}`, `{"i":2}`}, got); diff != "" {
		t.Errorf("lines (-want +got)\n%s", diff)
	}

	got = nil
	err := c.CallStream(context.Background(), "count", 3, collect)
	if err == nil || err.Error() != "count: stopped after 3" {
		t.Errorf("stream error: %v", err)
	}
	if len(got) != 3 {
		t.Errorf("got %d lines before the error, want 3", len(got))
	}

	// A non-streaming op through CallStream hands over its data once.
	got = nil
	if err := c.CallStream(context.Background(), "echo", map[string]int{"x": 2}, collect); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`{"x":2}`}, got); diff != "" {
		t.Errorf("data (-want +got)\n%s", diff)
	}

	// An error from onLine hangs up and is returned.
	stop := errors.New("enough")
	if err := c.CallStream(context.Background(), "count", 2, func(json.RawMessage) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("onLine error: got %v", err)
	}
}

func TestHangUpCancelsHandler(t *testing.T) {
	canceled := make(chan struct{})
	started := make(chan struct{})
	h := func(ctx context.Context, req Request) (any, error) {
		return StreamFunc(func(ctx context.Context, send func(any) error) error {
			close(started)
			<-ctx.Done()
			close(canceled)
			return ctx.Err()
		}), nil
	}
	c := start(t, h, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-started; cancel() }()
	err := c.CallStream(ctx, "wait", nil, func(json.RawMessage) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CallStream after cancel: %v", err)
	}
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("handler context not canceled after the client hung up")
	}
}

func TestNotRoot(t *testing.T) {
	called := false
	h := func(context.Context, Request) (any, error) { called = true; return nil, nil }
	c := start(t, h, func(s *Server) {
		s.PeerUID = func(*net.UnixConn) (uint32, error) { return 1000, nil }
	})

	// Server side: the peer's uid is checked.
	err := c.Call(context.Background(), "status", nil, nil)
	if err == nil || err.Error() != "status: permission denied: uid 1000 is not root" {
		t.Errorf("server-side refusal: %v", err)
	}
	if called {
		t.Error("handler called for a non-root peer")
	}

	// Client side: refused before connecting.
	nc := &Client{Path: filepath.Join(t.TempDir(), "absent.sock"), Geteuid: func() int { return 1000 }}
	if err := nc.Call(context.Background(), "status", nil, nil); !errors.Is(err, ErrNotRoot) || err.Error() != "must be run as root" {
		t.Errorf("client-side refusal: %v", err)
	}
	if err := nc.CallStream(context.Background(), "status", nil, nil); !errors.Is(err, ErrNotRoot) {
		t.Errorf("client-side refusal (stream): %v", err)
	}
}

func TestPeerCredUID(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	sc, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	uid, err := peerCredUID(sc)
	if err != nil {
		t.Fatal(err)
	}
	if int(uid) != os.Getuid() {
		t.Errorf("SO_PEERCRED uid %d, want %d", uid, os.Getuid())
	}
}

func TestNoDaemon(t *testing.T) {
	dir := t.TempDir()
	root := func() int { return 0 }
	absent := filepath.Join(dir, "director.sock")
	err := (&Client{Path: absent, Geteuid: root}).Call(context.Background(), "status", nil, nil)
	if !errors.Is(err, ErrNoDaemon) || err.Error() != "daemon not running: no socket at "+absent {
		t.Errorf("absent socket: %v", err)
	}

	// A socket file with nobody listening (the daemon was killed).
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	err = (&Client{Path: stale, Geteuid: root}).Call(context.Background(), "status", nil, nil)
	if !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), stale) {
		t.Errorf("stale socket: %v", err)
	}

	// The server replaces the stale socket.
	s := NewServer(stale, handler(t), slog.New(slog.DiscardHandler))
	s.PeerUID = rootUID
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.listening
	if err := (&Client{Path: stale, Geteuid: root}).Call(context.Background(), "status", nil, nil); err != nil {
		t.Errorf("after replacing the stale socket: %v", err)
	}

	// A second server on a live socket refuses to start.
	s2 := NewServer(stale, handler(t), slog.New(slog.DiscardHandler))
	if err := s2.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "another daemon is listening") {
		t.Errorf("second server: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}

	// A regular file is never removed.
	reg := filepath.Join(dir, "file")
	os.WriteFile(reg, []byte("x"), 0o600)
	if err := NewServer(reg, handler(t), slog.New(slog.DiscardHandler)).Run(context.Background()); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
	if _, err := os.Stat(reg); err != nil {
		t.Errorf("regular file removed: %v", err)
	}
}

func TestSocketMode(t *testing.T) {
	c := start(t, handler(t), nil)
	fi, err := os.Lstat(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode %v, want socket 0600", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(c.Path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm()&^0o755 != 0 {
		t.Errorf("created directory mode %v, want at most 0755", di.Mode().Perm())
	}
	entries, _ := os.ReadDir(filepath.Dir(c.Path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the socket", len(entries))
	}
}

// raw sends b on a fresh connection and returns the server's reply.
func raw(t *testing.T, path string, b []byte) Response {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	if len(b) > 0 {
		// The server may answer and close before reading all of it.
		conn.Write(b)
	}
	var r Response
	if err := json.NewDecoder(conn).Decode(&r); err != nil {
		t.Fatalf("read response: %v", err)
	}
	return r
}

func TestBadRequests(t *testing.T) {
	c := start(t, handler(t), func(s *Server) { s.ReadTimeout = 100 * time.Millisecond })
	big := `{"op":"echo","args":{"a":"` + strings.Repeat("x", MaxRequestSize) + `"}}` + "\n"
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"oversize", big, "request larger than 65536 bytes"},
		{"not json", "hello\n", "request: invalid character 'h' looking for beginning of value"},
		{"no op", `{"args":1}` + "\n", `request: missing "op"`},
		{"unknown field", `{"op":"status","x":1}` + "\n", `request: json: unknown field "x"`},
		{"two objects", `{"op":"status"} {"op":"status"}` + "\n", "request: data after the JSON object"},
		{"no newline before timeout", `{"op":"status"}`, "no complete request within 100ms"},
		{"nothing", "", "no complete request within 100ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := raw(t, c.Path, []byte(tt.in))
			if r.OK || r.Error != tt.want {
				t.Errorf("response %+v, want error %q", r, tt.want)
			}
		})
	}
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		in      string
		want    Request
		wantErr bool
	}{
		{`{"op":"status"}`, Request{Op: "status"}, false},
		{` {"op":"drain","args":{"rs":"192.0.2.11:80"}}` + "\n", Request{Op: "drain", Args: json.RawMessage(`{"rs":"192.0.2.11:80"}`)}, false},
		{`{"op":""}`, Request{}, true},
		{`[]`, Request{}, true},
		{`{"op":"a"}x`, Request{}, true},
		{``, Request{}, true},
	}
	for _, tt := range tests {
		got, err := DecodeRequest([]byte(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("DecodeRequest(%q): error %v, want error %v", tt.in, err, tt.wantErr)
			continue
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("DecodeRequest(%q) (-want +got)\n%s", tt.in, diff)
		}
	}
}

func FuzzDecodeRequest(f *testing.F) {
	f.Add([]byte(`{"op":"status"}`))
	f.Add([]byte(`{"op":"drain","args":{"rs":"192.0.2.11:80","timeout":"5m"}}` + "\n"))
	f.Add([]byte(`{"op":"x","args":null}`))
	f.Add([]byte(`{"op":"\u0000","args":[1,2,{"a":[]}]} `))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if r.Op == "" {
			t.Fatal("accepted a request without op")
		}
		enc, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("accepted request does not re-encode: %v", err)
		}
		r2, err := DecodeRequest(enc)
		if err != nil {
			t.Fatalf("re-encoded request %s rejected: %v", enc, err)
		}
		if r2.Op != r.Op {
			t.Fatalf("op %q became %q", r.Op, r2.Op)
		}
	})
}
