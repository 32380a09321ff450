package sdnotify

import (
	"bytes"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// listen creates a unixgram socket like systemd's notify socket and points
// NOTIFY_SOCKET at it.
func listen(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

func read(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read notify socket: %v", err)
	}
	return string(buf[:n])
}

func TestNotifyDatagrams(t *testing.T) {
	c := listen(t)
	n := New(slog.New(slog.DiscardHandler))
	// Make MONOTONIC_USEC deterministic.
	n.(*notifier).monotonic = func() time.Duration { return 1234567 * time.Microsecond }

	n.Ready("")
	n.Ready("serving 2 VIPs")
	n.Status("master for VRID 51\nFAKE=1")
	n.Reloading()
	n.Ready("config reloaded")
	n.Watchdog()
	n.Stopping()

	want := []string{
		"READY=1",
		"READY=1\nSTATUS=serving 2 VIPs",
		"STATUS=master for VRID 51 FAKE=1",
		"RELOADING=1\nMONOTONIC_USEC=1234567",
		"READY=1\nSTATUS=config reloaded",
		"WATCHDOG=1",
		"STOPPING=1",
	}
	var got []string
	for range want {
		got = append(got, read(t, c))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("datagrams (-want +got)\n%s", diff)
	}
}

func TestReloadingRealClock(t *testing.T) {
	c := listen(t)
	New(slog.New(slog.DiscardHandler)).Reloading()
	got := read(t, c)
	m := regexp.MustCompile(`^RELOADING=1\nMONOTONIC_USEC=(\d+)$`).FindStringSubmatch(got)
	if m == nil {
		t.Fatalf("datagram %q", got)
	}
	if v, _ := strconv.ParseInt(m[1], 10, 64); v <= 0 {
		t.Errorf("MONOTONIC_USEC=%s, want > 0", m[1])
	}
}

func TestNoSocketIsNop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := New(slog.New(slog.DiscardHandler))
	if _, ok := n.(nop); !ok {
		t.Fatalf("New without NOTIFY_SOCKET = %T, want the no-op", n)
	}
	n.Ready("x")
	n.Status("x")
	n.Reloading()
	n.Stopping()
	n.Watchdog()
}

func TestSendFailureLoggedOnce(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "gone"))
	var buf bytes.Buffer
	n := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn})))
	n.Watchdog()
	n.Watchdog()
	if c := strings.Count(buf.String(), "level=WARN"); c != 1 {
		t.Errorf("%d warnings, want 1:\n%s", c, buf.String())
	}
	if !strings.Contains(buf.String(), "gone") {
		t.Errorf("warning does not name the socket: %s", buf.String())
	}
}

func TestWatchdogInterval(t *testing.T) {
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name, usec, pid string
		want            time.Duration
		ok              bool
	}{
		{"unset", "", "", 0, false},
		{"enabled for us", "10000000", pid, 5 * time.Second, true},
		{"no pid given", "3000000", "", 1500 * time.Millisecond, true},
		{"another pid", "10000000", "1", 0, false},
		{"garbage", "soon", pid, 0, false},
		{"zero", "0", pid, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("WATCHDOG_USEC", tt.usec)
			t.Setenv("WATCHDOG_PID", tt.pid)
			d, ok := WatchdogInterval()
			if d != tt.want || ok != tt.ok {
				t.Errorf("WatchdogInterval() = %v, %v; want %v, %v", d, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestRecorder(t *testing.T) {
	var r Recorder
	var n Notifier = &r
	n.Reloading()
	n.Ready("ok")
	n.Status("s")
	n.Watchdog()
	n.Stopping()
	want := []string{"RELOADING=1", "READY=1 STATUS=ok", "STATUS=s", "WATCHDOG=1", "STOPPING=1"}
	if diff := cmp.Diff(want, r.Events()); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}
