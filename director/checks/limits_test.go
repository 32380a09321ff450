package checks

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Bounds of the hostile-server tests.
const (
	// hostileFor bounds how long a hostile server streams.
	hostileFor = 3 * time.Second
	// hostileWrites bounds how many 32 KiB chunks it writes (1 GiB).
	hostileWrites = 1 << 15
	// maxGrowth is the most the director may allocate during one probe
	// against it.
	maxGrowth = 32 << 20
)

// hostileServer answers every request on loopback with head, then
// repeats chunk until the client goes away, hostileFor has passed or
// hostileWrites chunks are written.
func hostileServer(t *testing.T, tlsOn bool, head string, chunk []byte) netip.AddrPort {
	t.Helper()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		end := time.Now().Add(hostileFor)
		_ = conn.SetWriteDeadline(end)
		if _, err := conn.Write([]byte(head)); err != nil {
			return
		}
		for i := 0; i < hostileWrites && time.Now().Before(end); i++ {
			if _, err := conn.Write(chunk); err != nil {
				return
			}
		}
	})
	var srv *httptest.Server
	if tlsOn {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return netip.MustParseAddrPort(srv.Listener.Addr().String())
}

// probeAlloc runs p once and returns its error, how long it took and how
// many bytes the process allocated meanwhile (runtime.MemStats.TotalAlloc:
// every allocation counts, even one collected since, so an unbounded
// buffer that doubles shows up however short-lived).
func probeAlloc(p Probe) (time.Duration, uint64, error) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	err := p.Probe(context.Background())
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	return took, after.TotalAlloc - before.TotalAlloc, err
}

// A real server streaming an endless header (many lines, or one line
// without end), or an endless body when a digest is configured, fails
// the check at once with a reason that names the bound and the server,
// and the director's allocations stay under maxGrowth. Without the
// header bound the same probe read until connect_timeout and allocated
// hundreds of MiB (331 MiB of heap in 2 s measured in issue 15).
func TestHTTPGetHostileServer(t *testing.T) {
	lines := bytes.Repeat([]byte("X-Filler: "+strings.Repeat("a", 90)+"\r\n"), 32<<10/102)
	noEOL := bytes.Repeat([]byte("a"), 32<<10)
	tests := []struct {
		name  string
		tls   bool
		head  string
		chunk []byte
		url   URL
		want  string // the reason, with %s for the address
	}{
		{"endless header", false, "HTTP/1.0 200 OK\r\n", lines, URL{Path: "/"}, "response header larger than 64 KiB from %s"},
		{"endless status line", false, "HTTP/1.0 200 ", noEOL, URL{Path: "/"}, "response header larger than 64 KiB from %s"},
		{"endless header over TLS", true, "HTTP/1.0 200 OK\r\n", lines, URL{Path: "/"}, "response header larger than 64 KiB from %s"},
		{"endless body for the digest", false, "HTTP/1.0 200 OK\r\n\r\n", noEOL, URL{Path: "/", Digest: Digest(nil)}, "body larger than 4 MiB from %s, cannot compute its digest"},
		{"endless body over TLS", true, "HTTP/1.0 200 OK\r\n\r\n", noEOL, URL{Path: "/", Digest: Digest(nil)}, "body larger than 4 MiB from %s, cannot compute its digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := hostileServer(t, tt.tls, tt.head, tt.chunk)
			h := HTTPGet{Conn: Conn{Addr: addr, Timeout: 10 * time.Second}, URLs: []URL{tt.url}, TLS: tt.tls}
			took, alloc, err := probeAlloc(h)
			t.Logf("%s: %v in %s, %.1f MiB allocated", h.Name(), err, took.Round(time.Millisecond), float64(alloc)/(1<<20))
			want := strings.ReplaceAll(tt.want, "%s", addr.String())
			if err == nil || err.Error() != want {
				t.Errorf("Probe() = %v, want %q", err, want)
			}
			if alloc > maxGrowth {
				t.Errorf("%d bytes allocated during the probe, want at most %d", alloc, maxGrowth)
			}
			if took >= hostileFor {
				t.Errorf("the probe took %s: it read until the server stopped", took)
			}
		})
	}
}

// The other TCP and UDP checkers read into fixed buffers; a server that
// streams at them cannot grow memory either. SMTP_CHECK is the one that
// reads lines: an endless greeting line and an endless multi-line
// greeting both fail at once.
func TestSMTPHostileServer(t *testing.T) {
	tests := []struct {
		name  string
		chunk []byte
		want  string
	}{
		{"endless line", bytes.Repeat([]byte("2"), 32<<10), "read greeting reply: reply line longer than 512 bytes"},
		{"endless reply", bytes.Repeat([]byte("220-hello\r\n"), 32<<10/11), "read greeting reply: reply longer than 32 lines"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			go func() {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				end := time.Now().Add(hostileFor)
				_ = c.SetWriteDeadline(end)
				for i := 0; i < hostileWrites && time.Now().Before(end); i++ {
					if _, err := c.Write(tt.chunk); err != nil {
						return
					}
				}
			}()
			s := SMTPCheck{Conn: Conn{Addr: netip.MustParseAddrPort(ln.Addr().String()), Timeout: 10 * time.Second}}
			took, alloc, err := probeAlloc(s)
			t.Logf("%v in %s, %.1f MiB allocated", err, took.Round(time.Millisecond), float64(alloc)/(1<<20))
			if err == nil || err.Error() != tt.want {
				t.Errorf("Probe() = %v, want %q", err, tt.want)
			}
			if alloc > maxGrowth || took >= hostileFor {
				t.Errorf("%d bytes in %s, want at most %d before the server stops", alloc, took, maxGrowth)
			}
		})
	}
}
