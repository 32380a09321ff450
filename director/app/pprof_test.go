package app

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
)

// freeLoopback is a TCP address of 127.0.0.1 free a moment ago.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// pprofGet fetches path from the endpoint at addr; ok is false when
// nothing answers there.
func pprofGet(addr, path string) (code int, body []byte, ok bool) {
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, nil, false
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, body, err == nil
}

func withPProf(text, addr string) string {
	return strings.Replace(text, "metrics:\n  enabled: false\n", "metrics:\n  enabled: false\ndebug:\n  pprof: \""+addr+"\"\n", 1)
}

// TestPProfEndpoint: absent by default; with debug.pprof the daemon serves
// the index and a one-second CPU profile; a reload moves it, another
// removes it, and the stop closes it.
func TestPProfEndpoint(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)
	if addr := h.a.dbg.Addr(); addr != "" {
		t.Fatalf("without debug.pprof the endpoint listens on %s", addr)
	}
	if strings.Contains(h.logs.String(), "debug.pprof") {
		t.Errorf("without debug.pprof the log mentions it:\n%s", h.logs.String())
	}

	a := freeLoopback(t)
	h.reload(withPProf(testConfig("DIR", 1, ""), a))
	if code, body, ok := pprofGet(a, "/debug/pprof/"); !ok || code != http.StatusOK || !bytes.Contains(body, []byte("goroutine")) {
		t.Fatalf("index at %s after the reload: %v %d %.200s", a, ok, code, body)
	}
	code, body, ok := pprofGet(a, "/debug/pprof/profile?seconds=1")
	if !ok || code != http.StatusOK || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("CPU profile: %v %d, %d bytes (want gzip)", ok, code, len(body))
	}
	if code, _, _ := pprofGet(a, "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the pprof endpoint: %d, want 404", code)
	}

	b := freeLoopback(t)
	h.reload(withPProf(testConfig("DIR", 1, ""), b))
	if _, _, ok := pprofGet(b, "/debug/pprof/"); !ok || h.a.dbg.Addr() != b {
		t.Fatalf("not moved to %s (at %q)", b, h.a.dbg.Addr())
	}
	if _, _, ok := pprofGet(a, "/debug/pprof/"); ok {
		t.Errorf("%s still answers after the move", a)
	}

	// A non-loopback address is refused by the reader: the reload fails
	// and the endpoint stays.
	h.write(withPProf(testConfig("DIR", 1, ""), "192.0.2.1:6060"))
	err := h.call(control.OpReload, nil, nil)
	if err == nil || !strings.Contains(err.Error(), `key "debug.pprof": 192.0.2.1 is not a loopback address`) {
		t.Errorf("reload with a non-loopback debug.pprof: %v", err)
	}
	if h.a.dbg.Addr() != b {
		t.Errorf("after a refused reload the endpoint is at %q, want %s", h.a.dbg.Addr(), b)
	}

	h.reload(testConfig("DIR", 1, ""))
	if _, _, ok := pprofGet(b, "/debug/pprof/"); ok || h.a.dbg.Addr() != "" {
		t.Errorf("debug.pprof removed: %s still answers (at %q)", b, h.a.dbg.Addr())
	}
	h.reload(withPProf(testConfig("DIR", 1, ""), a))
	if _, _, ok := pprofGet(a, "/debug/pprof/"); !ok {
		t.Fatalf("not back at %s", a)
	}
	h.stop()
	if _, _, ok := pprofGet(a, "/debug/pprof/"); ok {
		t.Errorf("%s answers after the stop", a)
	}
}

// TestPProfAtStart: debug.pprof in the file at start is served at once.
func TestPProfAtStart(t *testing.T) {
	a := freeLoopback(t)
	h := start(t, withPProf(testConfig("DIR", 1, ""), a), nil)
	if _, _, ok := pprofGet(a, "/debug/pprof/"); !ok || h.a.dbg.Addr() != a {
		t.Fatalf("not served at %s at start (at %q)", a, h.a.dbg.Addr())
	}
	if !strings.Contains(h.logs.String(), "debug.pprof endpoint listening") {
		t.Errorf("no warning that the endpoint listens:\n%s", h.logs.String())
	}
}

// TestListenDebugErrors: a port in use names the file, line and key; a
// model built in Go with another address than loopback is refused too.
func TestListenDebugErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Addr().String()
	cfg, err := config.ParseNative("/etc/tandem/director.yaml", []byte(strings.ReplaceAll(withPProf(testConfig("/x", 1, ""), addr), "HBPORT", "7480")))
	if err != nil {
		t.Fatal(err)
	}
	_, err = listenDebug(cfg, cfg.Debug.PProf)
	want := `/etc/tandem/director.yaml:10: key "debug.pprof": cannot listen on TCP ` + addr + `: bind: address already in use`
	if err == nil || err.Error() != want {
		t.Errorf("port in use:\n got %v\nwant %s", err, want)
	}
	cfg.Debug.PProf = "0.0.0.0:6060"
	_, err = listenDebug(cfg, cfg.Debug.PProf)
	want = `/etc/tandem/director.yaml:10: key "debug.pprof": cannot listen on TCP 0.0.0.0:6060: 0.0.0.0 is not a loopback address: the pprof endpoint listens on 127.0.0.1 or ::1 only`
	if err == nil || err.Error() != want {
		t.Errorf("not loopback:\n got %v\nwant %s", err, want)
	}
}
