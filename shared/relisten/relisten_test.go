package relisten

import (
	"net"
	"net/http"
	"testing"
	"time"
)

// serve runs an HTTP server on ln that answers 200, and records it.
func serveOn(t *testing.T, cur **http.Server) func(net.Listener) {
	return func(ln net.Listener) {
		srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: time.Second}
		*cur = srv
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
	}
}

func answers(addr string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return true
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestPrepare(t *testing.T) {
	var cur *http.Server
	serve := serveOn(t, &cur)
	listen := func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }
	oldAddr := freeAddr(t)
	ln, err := listen(oldAddr)
	if err != nil {
		t.Fatal(err)
	}
	serve(ln)

	// Unchanged: nothing bound, nothing stopped.
	m, err := Prepare(Spec{OldWant: oldAddr, NewWant: oldAddr, Old: cur, OldBound: oldAddr, Listen: listen, Serve: serve})
	if err != nil || m.ln != nil || m.old != nil {
		t.Fatalf("unchanged: %+v, %v", m, err)
	}

	// A port in use: an error, the old server still answers.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := Prepare(Spec{OldWant: oldAddr, NewWant: busy.Addr().String(), Old: cur, OldBound: oldAddr, Listen: listen, Serve: serve}); err == nil {
		t.Fatal("a port in use was accepted")
	}
	if !answers(oldAddr) {
		t.Fatal("after a refused move the old address does not answer")
	}

	// A free port: bound at Prepare while the old one serves, moved at
	// Commit.
	newAddr := freeAddr(t)
	old := cur
	m, err = Prepare(Spec{OldWant: oldAddr, NewWant: newAddr, Old: old, OldBound: oldAddr, Listen: listen, Serve: serve})
	if err != nil {
		t.Fatal(err)
	}
	if !answers(oldAddr) {
		t.Fatal("the old address stopped before Commit")
	}
	m.Commit()
	if !answers(newAddr) || answers(oldAddr) {
		t.Fatalf("after Commit: new answers %v, old answers %v", answers(newAddr), answers(oldAddr))
	}

	// Abort closes the socket bound ahead.
	third := freeAddr(t)
	m, err = Prepare(Spec{OldWant: newAddr, NewWant: third, Old: cur, OldBound: newAddr, Listen: listen, Serve: serve})
	if err != nil {
		t.Fatal(err)
	}
	m.Abort()
	if ln, err := net.Listen("tcp", third); err != nil {
		t.Errorf("after Abort the new port is still held: %v", err)
	} else {
		ln.Close()
	}
	if !answers(newAddr) {
		t.Error("after Abort the running server stopped")
	}
}

func TestSamePort(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{{":9481", "192.0.2.11:9481", true}, {"127.0.0.1:1", "127.0.0.1:2", false}, {"x", ":1", false}} {
		if got := SamePort(tt.a, tt.b); got != tt.want {
			t.Errorf("SamePort(%q, %q) = %v", tt.a, tt.b, got)
		}
	}
}
