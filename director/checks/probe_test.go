package checks

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is an httptest server on loopback that records the requests it
// answers.
type server struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []*http.Request
}

func newServer(t *testing.T, tls bool, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	wrapped := func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, r)
		s.mu.Unlock()
		h(w, r)
	}
	if tls {
		s.Server = httptest.NewTLSServer(http.HandlerFunc(wrapped))
	} else {
		s.Server = httptest.NewServer(http.HandlerFunc(wrapped))
	}
	t.Cleanup(s.Close)
	return s
}

func (s *server) addr() netip.AddrPort {
	return netip.MustParseAddrPort(s.Listener.Addr().String())
}

func (s *server) last() *http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return nil
	}
	return s.reqs[len(s.reqs)-1]
}

func checkTxt(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/check.txt" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

func TestHTTPGet(t *testing.T) {
	ok := newServer(t, false, checkTxt(200, "OK\n"))
	down := newServer(t, false, checkTxt(503, "maintenance\n"))
	redirect := newServer(t, false, checkTxt(301, ""))
	tests := []struct {
		name  string
		srv   *server
		check HTTPGet
		want  string // error text, "" for success
	}{
		{"status 200", ok, HTTPGet{URLs: []URL{{Path: "/check.txt", StatusCodes: []int{200}}}}, ""},
		{"any 2xx by default", ok, HTTPGet{URLs: []URL{{Path: "/check.txt"}}}, ""},
		{"status mismatch", down, HTTPGet{URLs: []URL{{Path: "/check.txt", StatusCodes: []int{200}}}}, "status 503, want 200"},
		{"non-2xx by default", redirect, HTTPGet{URLs: []URL{{Path: "/check.txt"}}}, "status 301, want 2xx"},
		{"accepted list", redirect, HTTPGet{URLs: []URL{{Path: "/check.txt", StatusCodes: []int{200, 301}}}}, ""},
		{"digest match (case-insensitive)", ok, HTTPGet{URLs: []URL{{Path: "/check.txt", Digest: strings.ToUpper(Digest([]byte("OK\n")))}}}, ""},
		{"digest mismatch", ok, HTTPGet{URLs: []URL{{Path: "/check.txt", Digest: Digest([]byte("other"))}}},
			"digest " + Digest([]byte("OK\n")) + ", want " + Digest([]byte("other"))},
		{"body over the limit", ok, HTTPGet{MaxBody: 2, URLs: []URL{{Path: "/check.txt", Digest: Digest([]byte("OK\n"))}}}, "body larger than 2 bytes from " + ok.addr().String() + ", cannot compute its digest"},
		{"every url must pass", ok, HTTPGet{URLs: []URL{{Path: "/check.txt"}, {Path: "/missing"}}}, "/missing: status 404, want 2xx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check.Conn = Conn{Addr: tt.srv.addr(), Timeout: 2 * time.Second}
			err := tt.check.Probe(context.Background())
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Probe() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHTTPGetRequest(t *testing.T) {
	srv := newServer(t, false, checkTxt(200, "OK"))
	h := HTTPGet{Conn: Conn{Addr: srv.addr(), Timeout: 2 * time.Second}, URLs: []URL{{Path: "/check.txt"}}}
	if err := h.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := srv.last()
	if r.Proto != "HTTP/1.0" || r.Host != srv.addr().String() || r.UserAgent() != "KeepAliveClient" {
		t.Errorf("request: %s Host %q User-Agent %q; want HTTP/1.0, the address, KeepAliveClient", r.Proto, r.Host, r.UserAgent())
	}
	h.VirtualHost = "www.example.com"
	h.URLs[0].VirtualHost = ""
	if err := h.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := srv.last().Host; got != "www.example.com" {
		t.Errorf("Host = %q with virtualhost", got)
	}
}

func TestSSLGet(t *testing.T) {
	srv := newServer(t, true, checkTxt(200, "OK"))
	h := HTTPGet{TLS: true, Conn: Conn{Addr: srv.addr(), Timeout: 2 * time.Second}, URLs: []URL{{Path: "/check.txt", StatusCodes: []int{200}, Digest: Digest([]byte("OK"))}}}
	if h.Name() != "SSL_GET" {
		t.Errorf("Name = %s", h.Name())
	}
	if err := h.Probe(context.Background()); err != nil {
		t.Errorf("SSL_GET against a self-signed server: %v", err)
	}
	// Plain HTTP_GET against a TLS port fails with a readable reason.
	h.TLS = false
	if err := h.Probe(context.Background()); err == nil {
		t.Error("HTTP_GET against TLS succeeded")
	}
}

// silent accepts connections and never answers.
func silent(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return netip.MustParseAddrPort(ln.Addr().String())
}

// refused returns a loopback port nothing listens on.
func refused(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	return a
}

func TestFailures(t *testing.T) {
	quiet := silent(t)
	closed := refused(t)
	to := 200 * time.Millisecond
	tests := []struct {
		name  string
		probe Probe
		want  string
	}{
		{"HTTP_GET timeout", HTTPGet{Conn: Conn{Addr: quiet, Timeout: to}, URLs: []URL{{Path: "/"}}}, "read response: timeout after 200ms"},
		{"HTTP_GET refused", HTTPGet{Conn: Conn{Addr: closed, Timeout: to}, URLs: []URL{{Path: "/"}}}, "connect: connection refused"},
		{"TCP_CHECK refused", TCPCheck{Conn: Conn{Addr: closed, Timeout: to}}, "connect: connection refused"},
		{"SSL_GET timeout", HTTPGet{TLS: true, Conn: Conn{Addr: quiet, Timeout: to}, URLs: []URL{{Path: "/"}}}, "tls handshake: timeout after 200ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			err := tt.probe.Probe(context.Background())
			if err == nil || err.Error() != tt.want {
				t.Errorf("Probe() = %v, want %q", err, tt.want)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %s despite a %s timeout", d, to)
			}
		})
	}
}

func TestTCPCheckAndBindTo(t *testing.T) {
	srv := newServer(t, false, checkTxt(200, "OK"))
	c := TCPCheck{Conn: Conn{Addr: srv.addr(), BindTo: netip.MustParseAddr("127.0.0.1"), Timeout: time.Second}}
	if err := c.Probe(context.Background()); err != nil {
		t.Errorf("TCP_CHECK bound to 127.0.0.1: %v", err)
	}
	h := HTTPGet{Conn: Conn{Addr: srv.addr(), BindTo: netip.MustParseAddr("127.0.0.1"), Timeout: time.Second}, URLs: []URL{{Path: "/check.txt"}}}
	if err := h.Probe(context.Background()); err != nil {
		t.Fatalf("HTTP_GET bound to 127.0.0.1: %v", err)
	}
	if got := srv.last().RemoteAddr; !strings.HasPrefix(got, "127.0.0.1:") {
		t.Errorf("request came from %s", got)
	}
	// An address this host does not have cannot be bound.
	c.BindTo = netip.MustParseAddr("192.0.2.1")
	if err := c.Probe(context.Background()); err == nil {
		t.Error("bind to a foreign address succeeded")
	}
}

func TestDigestIsGenhash(t *testing.T) {
	// The MD5 of the body, as md5sum prints it: `printf 'OK\n' | md5sum`.
	if got := Digest(nil); got != "d41d8cd98f00b204e9800998ecf8427e" {
		t.Errorf("Digest(empty) = %s", got)
	}
	if got := Digest([]byte("OK\n")); got != "d36f8f9425c4a8000ad9c4a97185aca5" {
		t.Errorf("Digest(OK\\n) = %s", got)
	}
}
