package loadgen_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tandemlb/tandem/shared/testutil"
)

// server is an httptest server that answers with its name and counts the
// connections it accepted.
type server struct {
	*httptest.Server
	conns atomic.Int64
}

// addr returns the server's host:port.
func (s *server) addr() string { return s.Listener.Addr().String() }

// nameServer answers 200 with name in the body, or in an X-Server header
// (and a decoy body) when inHeader.
func nameServer(t *testing.T, name string, inHeader bool) *server {
	t.Helper()
	return newServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if inHeader {
			w.Header().Set("X-Server", name)
			_, _ = io.WriteString(w, "decoy\n")
			return
		}
		_, _ = io.WriteString(w, name+"\n")
	}))
}

func newServer(t *testing.T, h http.Handler) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

// closedPort returns a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// rawServer accepts connections and hands each to handle in a goroutine;
// the listener closes at cleanup, and cleanup waits for the handlers.
func rawServer(t *testing.T, handle func(c *net.TCPConn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { handle(c.(*net.TCPConn)) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	return ln.Addr().String()
}

// resetServer reads the request, then closes with SO_LINGER 0: an RST.
func resetServer(t *testing.T) string {
	return rawServer(t, func(c *net.TCPConn) {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		buf := make([]byte, 4096)
		_, _ = c.Read(buf)
		_ = c.SetLinger(0)
		c.Close()
	})
}

// silentServer accepts and never answers; connections close at cleanup
// (or when the client closes them).
func silentServer(t *testing.T) string {
	done := make(chan struct{})
	addr := rawServer(t, func(c *net.TCPConn) {
		defer c.Close()
		go func() {
			<-done
			c.Close()
		}()
		_, _ = io.Copy(io.Discard, c)
	})
	t.Cleanup(func() { close(done) }) // runs before rawServer's cleanup
	return addr
}

// noLoadgenGoroutines fails unless, within 2 s, no goroutine runs code of
// package loadgen (test code is package loadgen_test and does not match).
func noLoadgenGoroutines(t *testing.T) {
	t.Helper()
	var leaked []string
	gone := func() bool {
		buf := make([]byte, 1<<20)
		stacks := string(buf[:runtime.Stack(buf, true)])
		leaked = nil
		for _, g := range strings.Split(stacks, "\n\n") {
			if strings.Contains(g, "tandem/e2e/loadgen.") {
				leaked = append(leaked, g)
			}
		}
		return len(leaked) == 0
	}
	if !testutil.WaitFor(2*time.Second, gone) {
		t.Fatalf("%d loadgen goroutines still running:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
	}
}
