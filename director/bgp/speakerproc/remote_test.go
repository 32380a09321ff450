package speakerproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/bgp"
	"github.com/tandemlb/tandem/director/bgp/bgptest"
	"github.com/tandemlb/tandem/shared/clock/clocktest"
	"github.com/tandemlb/tandem/shared/testutil"
)

// fakeEnv, set to a directory, makes the test binary the speaker
// process: Serve on a bgptest fake whose peers come up at start, which
// appends each operation to <dir>/<pid>.
const fakeEnv = "TANDEM_SPEAKERPROC_FAKE"

func TestMain(m *testing.M) {
	if dir := os.Getenv(fakeEnv); dir != "" {
		os.Exit(fakeProcess(dir))
	}
	os.Exit(m.Run())
}

func fakeProcess(dir string) int {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	ops := filepath.Join(dir, fmt.Sprint(os.Getpid()))
	mk := func(cfg bgp.SpeakerConfig, _ *slog.Logger) (bgp.Speaker, error) {
		var addrs []netip.Addr
		for _, p := range cfg.Peers {
			addrs = append(addrs, p.Addr)
		}
		return &recorder{Speaker: bgptest.New(addrs...), file: ops, peers: addrs}, nil
	}
	log.Info("fake speaker up")
	if err := Serve(os.Stdin, os.Stdout, mk, log); err != nil {
		log.Error("serve", "err", err)
		return 1
	}
	return 0
}

// recorder writes the fake's operations to a file the test reads.
type recorder struct {
	*bgptest.Speaker
	file  string
	peers []netip.Addr
}

func (r *recorder) record() error {
	return os.WriteFile(r.file, []byte(strings.Join(r.Ops(), "\n")), 0o600)
}

func (r *recorder) Start(ctx context.Context) error {
	if err := r.Speaker.Start(ctx); err != nil {
		return err
	}
	for _, p := range r.peers {
		r.SetPeer(p, true)
	}
	return r.record()
}

func (r *recorder) Announce(ctx context.Context, rt bgp.Route) error {
	err := r.Speaker.Announce(ctx, rt)
	return errors.Join(err, r.record())
}

func (r *recorder) Withdraw(ctx context.Context, p netip.Prefix) error {
	err := r.Speaker.Withdraw(ctx, p)
	return errors.Join(err, r.record())
}

func (r *recorder) Stop(ctx context.Context) error {
	err := r.Speaker.Stop(ctx)
	return errors.Join(err, r.record())
}

// syncBuffer is a log destination written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func opsOf(t *testing.T, dir string, pid int) string {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprint(pid)))
	return string(b)
}

func (r *Remote) current() *proc {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	return r.proc
}

func (r *Remote) pid() int {
	if p := r.current(); p != nil {
		return p.pid()
	}
	return 0
}

func allEstablished(r *Remote) bool {
	for _, p := range r.Peers() {
		if !p.Established {
			return false
		}
	}
	return true
}

// TestRemoteRestart: Remote on the test binary as the speaker process.
// Requests reach the process; its log lines reach the director's log.
// The process killed: the peers are reported down at once, and after
// the backoff (1 s, then 2 s: the test's clock) a new process gets the
// configuration and exactly the routes announced and not withdrawn,
// including one announced while it was down. Stop ends the process.
func TestRemoteRestart(t *testing.T) {
	dir := t.TempDir()
	clk := clocktest.New(time.Unix(1000, 0))
	var logs syncBuffer
	r, err := NewRemote(testCfg, Options{Path: os.Args[0], Env: []string{fakeEnv + "=" + dir}, Clock: clk,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.Stop(ctx)
	testutil.Eventually(t, 10*time.Second, func() bool { return allEstablished(r) }, "peers not established: %+v", r.Peers())
	a, b, c := netip.MustParsePrefix("192.0.2.10/32"), netip.MustParsePrefix("192.0.2.11/32"), netip.MustParsePrefix("2001:db8::10/128")
	for _, p := range []netip.Prefix{a, b} {
		if err := r.Announce(ctx, bgp.Route{Prefix: p, Communities: []bgp.Community{7}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Withdraw(ctx, a); err != nil {
		t.Fatal(err)
	}
	first := r.pid()
	if got, want := opsOf(t, dir, first), "start\nannounce 192.0.2.10/32 0:7\nannounce 192.0.2.11/32 0:7\nwithdraw 192.0.2.10/32"; got != want {
		t.Fatalf("first process's ops:\n%s\nwant:\n%s", got, want)
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return strings.Contains(logs.String(), "fake speaker up") }) {
		t.Errorf("the process's log line not re-logged:\n%s", logs.String())
	}

	backoffs := []time.Duration{time.Second, 2 * time.Second}
	for i, backoff := range backoffs {
		changed := r.Changed()
		pid := r.pid()
		if err := r.current().cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
		case <-time.After(10 * time.Second):
			t.Fatal("no peer change after the kill")
		}
		if !clk.WaitPending(1, 10*time.Second) {
			t.Fatal("no restart timer")
		}
		if allEstablished(r) || r.Peers()[0].Established || r.Peers()[1].Established {
			t.Errorf("peers while the process is down: %+v", r.Peers())
		}
		if i == 0 {
			// Announced while down: kept, sent at the restart.
			if err := r.Announce(ctx, bgp.Route{Prefix: c}); err != nil {
				t.Fatal(err)
			}
		}
		next, _ := clk.Next()
		if got := next.Sub(clk.Now()); got != backoff {
			t.Errorf("restart %d after %s, want %s", i+1, got, backoff)
		}
		clk.Advance(backoff)
		testutil.Eventually(t, 10*time.Second, func() bool { return r.Restarts() == i+1 && allEstablished(r) },
			"not restarted (restarts %d, peers %+v)", r.Restarts(), r.Peers())
		np := r.pid()
		if np == pid || np == 0 {
			t.Fatalf("pid %d after the restart (was %d)", np, pid)
		}
		if got, want := opsOf(t, dir, np), "start\nannounce 192.0.2.11/32 0:7\nannounce 2001:db8::10/128"; got != want {
			t.Errorf("restart %d: ops replayed:\n%s\nwant:\n%s", i+1, got, want)
		}
	}
	last := r.current()
	if err := r.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-last.done:
	default:
		t.Error("process still running after Stop")
	}
	if got := opsOf(t, dir, last.pid()); !strings.HasSuffix(got, "\nstop") {
		t.Errorf("last process's ops do not end with stop:\n%s", got)
	}
	if err := r.Announce(ctx, bgp.Route{Prefix: a}); err == nil {
		t.Error("announce after Stop: no error")
	}
	if !strings.Contains(logs.String(), "bgp speaker process exited") {
		t.Errorf("no log of the crash:\n%s", logs.String())
	}
}

// TestRemoteStartErrors: no executable, or a config the process refuses,
// fail Start without a restart.
func TestRemoteStartErrors(t *testing.T) {
	r, err := NewRemote(testCfg, Options{Path: filepath.Join(t.TempDir(), "missing")})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Start with a missing executable: %v", err)
	}
	if _, err := NewRemote(bgp.SpeakerConfig{}, Options{}); err == nil {
		t.Error("NewRemote with an invalid config: no error")
	}
}

func TestNextBackoff(t *testing.T) {
	d := DefaultMinBackoff
	var got []time.Duration
	for range 7 {
		got = append(got, d)
		d = NextBackoff(d, DefaultMaxBackoff)
	}
	want := []time.Duration{1, 2, 4, 8, 16, 30, 30}
	for i := range want {
		if got[i] != want[i]*time.Second {
			t.Fatalf("backoffs %v, want 1s doubling to 30s", got)
		}
	}
}
