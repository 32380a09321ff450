package app

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

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

// writePProf writes the harness's configuration again (the same check
// port) with debug.pprof at addr ("" for none).
func (h *harness) writePProf(addr string) {
	h.t.Helper()
	h.writeConfig(h.conf)
	if addr == "" {
		return
	}
	f, err := os.OpenFile(h.path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	defer f.Close()
	if _, err := fmt.Fprintf(f, "debug:\n  pprof: %q\n", addr); err != nil {
		h.t.Fatal(err)
	}
}

// TestPProfEndpoint: absent by default; with debug.pprof the agent serves
// the index and a one-second CPU profile; a reload moves it, a port in
// use fails the reload and keeps it, a reload without the key stops it,
// and so does the stop.
func TestPProfEndpoint(t *testing.T) {
	h := newHarness(t, hconf{})
	h.start()
	if addr := h.a.dbg.Addr(); addr != "" {
		t.Fatalf("without debug.pprof the endpoint listens on %s", addr)
	}

	a := freePort(t)
	h.writePProf(a)
	h.reload()
	if code, body, ok := pprofGet(a, "/debug/pprof/"); !ok || code != http.StatusOK || !bytes.Contains(body, []byte("goroutine")) {
		t.Fatalf("index at %s after the reload: %v %d %.200s\n%s", a, ok, code, body, h.logs)
	}
	code, body, ok := pprofGet(a, "/debug/pprof/profile?seconds=1")
	if !ok || code != http.StatusOK || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b {
		t.Fatalf("CPU profile: %v %d, %d bytes (want gzip)", ok, code, len(body))
	}
	if code, _, _ := pprofGet(a, "/check.txt"); code != http.StatusNotFound {
		t.Errorf("/check.txt on the pprof endpoint: %d, want 404", code)
	}

	b := freePort(t)
	h.writePProf(b)
	h.reload()
	if _, _, ok := pprofGet(b, "/debug/pprof/"); !ok || h.a.dbg.Addr() != b {
		t.Fatalf("not moved to %s (at %q)", b, h.a.dbg.Addr())
	}
	if _, _, ok := pprofGet(a, "/debug/pprof/"); ok {
		t.Errorf("%s still answers after the move", a)
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	h.writePProf(busy.Addr().String())
	h.reload()
	want := fmt.Sprintf(`debug.pprof\": cannot listen on TCP %s: bind: address already in use`, busy.Addr())
	if !strings.Contains(h.logs.String(), want) {
		t.Errorf("the log does not say %q:\n%s", want, h.logs)
	}
	if _, _, ok := pprofGet(b, "/debug/pprof/"); !ok || h.a.dbg.Addr() != b {
		t.Errorf("after a refused reload the endpoint is at %q, want %s", h.a.dbg.Addr(), b)
	}

	h.writePProf("")
	h.reload()
	if _, _, ok := pprofGet(b, "/debug/pprof/"); ok || h.a.dbg.Addr() != "" {
		t.Errorf("debug.pprof removed: %s still answers (at %q)", b, h.a.dbg.Addr())
	}
	h.writePProf(a)
	h.reload()
	if _, _, ok := pprofGet(a, "/debug/pprof/"); !ok {
		t.Fatalf("not back at %s", a)
	}
	h.stop()
	if _, _, ok := pprofGet(a, "/debug/pprof/"); ok {
		t.Errorf("%s answers after the stop", a)
	}
}

// TestPProfStartPortInUse: a port in use fails the start, naming the
// file, line and key.
func TestPProfStartPortInUse(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	h := newHarness(t, hconf{})
	h.writePProf(busy.Addr().String())
	err = h.startErr()
	want := fmt.Sprintf(`%s:11: key "debug.pprof": cannot listen on TCP %s: bind: address already in use`, h.path, busy.Addr())
	if err == nil || err.Error() != want {
		t.Fatalf("start:\n got %v\nwant %s", err, want)
	}
	if c := h.nl.Calls(); len(c) != 0 {
		t.Errorf("netlink changes before the failed bind: %q", c)
	}
	h.run = nil // Run has returned, with the error expected
}
