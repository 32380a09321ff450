package debugserver

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestCheckAddr(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"127.0.0.1:6060", ""},
		{"127.0.0.2:6060", ""},
		{"[::1]:6060", ""},
		{"192.0.2.1:6060", "192.0.2.1 is not a loopback address: the pprof endpoint listens on 127.0.0.1 or ::1 only"},
		{"0.0.0.0:6060", "0.0.0.0 is not a loopback address: the pprof endpoint listens on 127.0.0.1 or ::1 only"},
		{"[::]:6060", ":: is not a loopback address: the pprof endpoint listens on 127.0.0.1 or ::1 only"},
		{"[::ffff:127.0.0.1]:6060", ""}, // 127.0.0.1 written as IPv6
		{":6060", `":6060" is not IP:PORT (e.g. 127.0.0.1:6060 or [::1]:6060)`},
		{"localhost:6060", `"localhost:6060" is not IP:PORT (e.g. 127.0.0.1:6060 or [::1]:6060)`},
		{"127.0.0.1", `"127.0.0.1" is not IP:PORT (e.g. 127.0.0.1:6060 or [::1]:6060)`},
		{"127.0.0.1:0", `"127.0.0.1:0": the port must be 1..65535`},
		{"127.0.0.1:65536", `"127.0.0.1:65536" is not IP:PORT (e.g. 127.0.0.1:6060 or [::1]:6060)`},
	} {
		if got := CheckAddr(c.in); got != c.want {
			t.Errorf("CheckAddr(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, body
}

func answers(addr string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + addr + "/debug/pprof/")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

// TestServes: the index, a named profile, a one-second CPU profile (a
// gzipped protocol buffer, as `go tool pprof` reads it), the bound on
// seconds, and nothing outside /debug/pprof/.
func TestServes(t *testing.T) {
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var e Endpoint
	e.Serve(ln, slog.New(slog.DiscardHandler))
	t.Cleanup(e.Stop)
	base := "http://" + e.Addr()

	code, body := get(t, base+"/debug/pprof/")
	if code != http.StatusOK || !bytes.Contains(body, []byte("goroutine")) {
		t.Fatalf("index: %d %.200s", code, body)
	}
	if code, body := get(t, base+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !bytes.Contains(body, []byte("goroutine profile:")) {
		t.Errorf("goroutine profile: %d %.200s", code, body)
	}

	start := time.Now()
	code, body = get(t, base+"/debug/pprof/profile?seconds=1")
	if code != http.StatusOK {
		t.Fatalf("CPU profile: %d %.200s", code, body)
	}
	if took := time.Since(start); took < 900*time.Millisecond {
		t.Errorf("a 1 s CPU profile answered after %v", took)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("CPU profile is not gzip (%d bytes): %v", len(body), err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil || len(raw) == 0 {
		t.Fatalf("CPU profile: %d bytes uncompressed, %v", len(raw), err)
	}

	if code, body := get(t, base+"/debug/pprof/profile?seconds=301"); code != http.StatusBadRequest || !strings.Contains(string(body), "at most 300") {
		t.Errorf("seconds=301: %d %s", code, body)
	}
	for _, p := range []string{"/", "/metrics", "/debug/vars"} {
		if code, _ := get(t, base+p); code != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", p, code)
		}
	}
}

func TestHandlerIsNotTheDefaultMux(t *testing.T) {
	if h, ok := Handler().(*http.ServeMux); !ok || h == http.DefaultServeMux {
		t.Fatalf("Handler() is %T %p, want a ServeMux of its own", Handler(), Handler())
	}
}

// TestMoves: a reload moves the endpoint (the old address stops
// answering), keeps it (same address), stops it (none wanted) and starts
// it again; a port in use changes nothing.
func TestMoves(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	var e Endpoint
	t.Cleanup(e.Stop)
	free := func() string {
		ln, err := listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}
	step := func(want string) {
		t.Helper()
		m, err := e.Prepare(want, listen, log)
		if err != nil {
			t.Fatalf("prepare %q: %v", want, err)
		}
		m.Commit()
	}

	a := free()
	step(a) // started
	if e.Addr() != a || !answers(a) {
		t.Fatalf("started at %q, want %s answering", e.Addr(), a)
	}
	step(a) // unchanged
	if e.Addr() != a || !answers(a) {
		t.Fatalf("unchanged: at %q", e.Addr())
	}

	busy, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	if _, err := e.Prepare(busy.Addr().String(), listen, log); err == nil {
		t.Fatal("prepare on a port in use succeeded")
	}
	if e.Addr() != a || !answers(a) {
		t.Fatalf("after a failed prepare: at %q", e.Addr())
	}

	b := free()
	m, err := e.Prepare(b, listen, log)
	if err != nil {
		t.Fatal(err)
	}
	m.Abort()
	if e.Addr() != a || !answers(a) {
		t.Fatalf("after an abort: at %q", e.Addr())
	}
	step(b) // moved
	if e.Addr() != b || !answers(b) || answers(a) {
		t.Fatalf("moved: at %q; %s answers %v, %s answers %v", e.Addr(), b, answers(b), a, answers(a))
	}
	step("") // stopped
	if e.Addr() != "" || answers(b) {
		t.Fatalf("stopped: at %q, %s answers %v", e.Addr(), b, answers(b))
	}
	step(a) // again
	if e.Addr() != a || !answers(a) {
		t.Fatalf("restarted: at %q", e.Addr())
	}
}
