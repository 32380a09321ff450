package health

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/shared/procgroup/procgrouptest"
)

func TestHTTPProbe(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Host != "www.example.com" {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(status)
	}))
	defer srv.Close()
	p, err := New(config.Health{Type: config.ProbeHTTP, URL: srv.URL + "/", Host: "www.example.com", ExpectStatus: 200})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Probe(ctx); err != nil {
		t.Fatalf("probe of a 200: %v", err)
	}
	status = http.StatusInternalServerError
	if err := p.Probe(ctx); err == nil || !strings.Contains(err.Error(), "status 500, want 200") {
		t.Fatalf("probe of a 500: %v", err)
	}
	srv.Close()
	if err := p.Probe(ctx); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("probe of a closed server: %v", err)
	}
}

func TestTCPProbe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	p := TCP{Address: addr}
	if err := p.Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := p.Probe(context.Background()); err == nil || !strings.Contains(err.Error(), "dial "+addr) {
		t.Fatalf("probe of a closed port: %v", err)
	}
}

func TestCommandProbe(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "check")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho \"db down\"\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := (Command{Argv: []string{"/bin/true"}}).Probe(context.Background()); err != nil {
		t.Fatal(err)
	}
	err := (Command{Argv: []string{script}}).Probe(context.Background())
	if err == nil || !strings.Contains(err.Error(), "exit status 3: db down") {
		t.Fatalf("failing command: %v", err)
	}
	r := NewRunner(Command{Argv: []string{"/bin/sleep", "5"}}, time.Second, 100*time.Millisecond)
	start := time.Now()
	res := r.Once(context.Background())
	if res.OK || time.Since(start) > 2*time.Second || !strings.Contains(res.Reason, "timed out") {
		t.Fatalf("slow command: %+v after %s", res, time.Since(start))
	}
}

func TestRunnerReportsAndProbeNow(t *testing.T) {
	calls := 0
	p := probeFunc(func() error { calls++; return nil })
	r := NewRunner(p, time.Hour, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	got := make(chan Result, 4)
	done := make(chan error)
	go func() { done <- r.Run(ctx, func(res Result) { got <- res }) }()
	<-got // the first probe runs at once
	r.ProbeNow()
	select {
	case res := <-got:
		if !res.OK {
			t.Fatalf("result %+v", res)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("ProbeNow did not probe")
	}
	cancel()
	<-done
}

type probeFunc func() error

func (f probeFunc) Probe(context.Context) error { return f() }
func (f probeFunc) String() string              { return "func" }

func TestHandler(t *testing.T) {
	v := Verdict{OK: true}
	h := Handler("/check.txt", func() Verdict { return v })
	get := func(method, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		b, _ := io.ReadAll(rec.Result().Body)
		return rec.Code, string(b)
	}
	if code, body := get("GET", "/check.txt"); code != 200 || body != "OK\n" {
		t.Fatalf("healthy: %d %q", code, body)
	}
	v = Verdict{Reason: "maintenance: deploy\nsecond line"}
	if code, body := get("GET", "/check.txt"); code != 503 || body != "maintenance: deploy second line\n" {
		t.Fatalf("maintenance: %d %q", code, body)
	}
	if code, _ := get("HEAD", "/check.txt"); code != 503 {
		t.Fatalf("HEAD: %d", code)
	}
	if code, _ := get("POST", "/check.txt"); code != 405 {
		t.Fatalf("POST: %d", code)
	}
	if code, _ := get("GET", "/other"); code != 404 {
		t.Fatalf("other path: %d", code)
	}
}

func TestFile(t *testing.T) {
	f := File{Path: filepath.Join(t.TempDir(), "check.txt")}
	if changed, err := f.Set(true); err != nil || !changed {
		t.Fatalf("Set(true) = %v, %v", changed, err)
	}
	b, err := os.ReadFile(f.Path)
	if err != nil || string(b) != "OK\n" {
		t.Fatalf("content %q, %v", b, err)
	}
	if fi, _ := os.Stat(f.Path); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", fi.Mode())
	}
	if changed, err := f.Set(true); err != nil || changed {
		t.Fatalf("second Set(true) = %v, %v", changed, err)
	}
	if changed, err := f.Set(false); err != nil || !changed || f.Exists() {
		t.Fatalf("Set(false) = %v, %v, exists %v", changed, err, f.Exists())
	}
	if changed, err := f.Set(false); err != nil || changed {
		t.Fatalf("second Set(false) = %v, %v", changed, err)
	}
	entries, _ := os.ReadDir(filepath.Dir(f.Path))
	if len(entries) != 0 {
		t.Fatalf("left-over files: %v", entries)
	}
	bad := File{Path: "/nonexistent-dir/check.txt"}
	if _, err := bad.Set(true); err == nil || !strings.Contains(err.Error(), "check file") {
		t.Fatalf("Set in a missing dir: %v", err)
	}
}

// A command probe that orphans a grandchild and outlives its timeout:
// when the probe returns nothing of its process group runs any more
// (kill(-pgid, 0) is ESRCH once init has reaped the killed orphans).
func TestCommandProbeKillsGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pgid")
	script := filepath.Join(dir, "check")
	// The file gets the script's pid (its group id when it leads a group)
	// and the orphaned grandchild's.
	body := "#!/bin/sh\n(sleep 300 </dev/null >/dev/null 2>&1 & echo $$ $! > " + pidFile + ")\nsleep 300\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	r := NewRunner(Command{Argv: []string{script}}, 300*time.Millisecond, 100*time.Millisecond)
	start := time.Now()
	res := r.Once(context.Background())
	if res.OK || time.Since(start) > 5*time.Second || !strings.Contains(res.Reason, "timed out (process group killed)") {
		t.Errorf("slow command: %+v after %s", res, time.Since(start))
	}
	b, err := os.ReadFile(pidFile)
	f := strings.Fields(string(b))
	if err != nil || len(f) != 2 {
		t.Fatalf("pid file: %q, %v", b, err)
	}
	pgid, _ := strconv.Atoi(f[0])
	orphan, _ := strconv.Atoi(f[1])
	procgrouptest.WaitGroupGone(t, pgid)
	if procgrouptest.Running(orphan) {
		_ = syscall.Kill(orphan, syscall.SIGKILL)
		t.Errorf("the orphaned grandchild %d still runs", orphan)
	}
}

// Output that is not UTF-8, or huge, gives a valid, bounded reason.
func TestCommandProbeReason(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "check")
	body := "#!/bin/sh\nprintf 'db \\377 down '\nhead -c 1048576 /dev/zero | tr '\\0' x\nexit 1\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	err := (Command{Argv: []string{script}}).Probe(context.Background())
	if err == nil {
		t.Fatal("probe passed")
	}
	msg := err.Error()
	prefix := script + ": exit status 1: db \uFFFD down xxx"
	if !utf8.ValidString(msg) || !strings.HasPrefix(msg, prefix) || len(msg) > len(script)+len(": exit status 1: ")+256 {
		t.Errorf("reason %q (%d bytes), want valid UTF-8 starting %q, at most 256 bytes of output", msg, len(msg), prefix)
	}
}
