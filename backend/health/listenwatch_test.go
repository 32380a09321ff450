package health

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/backend/config"
)

// fakeListeners is the kernel's listeners of one port: Close of a
// listener is an event, and the count is what Count returns.
type fakeListeners struct {
	count  chan int      // the count Count returns next
	events chan struct{} // one per destroyed listener
}

func (f *fakeListeners) Count(uint16) (int, error) { return <-f.count, nil }
func (f *fakeListeners) Watch(uint16) (ListenEvents, error) {
	return fakeEvents{f.events}, nil
}

type fakeEvents struct{ c chan struct{} }

func (e fakeEvents) Next(ctx context.Context) error {
	select {
	case <-e.c:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (fakeEvents) Close() error { return nil }

func TestListenWatch(t *testing.T) {
	at := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	k := &fakeListeners{count: make(chan int), events: make(chan struct{})}
	got := make(chan Result, 4)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ListenWatch{Port: 8080, Kernel: k, Now: func() time.Time { return at }}.Run(ctx, func(r Result) { got <- r })
	}()
	// One of two listeners gone (SO_REUSEPORT hand-over): nothing.
	k.events <- struct{}{}
	k.count <- 1
	// The last one gone: a decisive failure.
	k.events <- struct{}{}
	k.count <- 0
	r := <-got
	want := Result{Reason: "nothing listens on TCP port 8080 any more (the application closed its socket or exited)", At: at, Gone: true, Watch: WatchListener}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("result (-want +got):\n%s", diff)
	}
	select {
	case r := <-got:
		t.Errorf("extra result %+v", r)
	default:
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run after cancel = %v, want nil", err)
	}
}

type refusingListeners struct{}

func (refusingListeners) Count(uint16) (int, error) { return 0, nil }
func (refusingListeners) Watch(uint16) (ListenEvents, error) {
	return nil, errors.New("needs CAP_NET_ADMIN")
}

func TestListenWatchRefused(t *testing.T) {
	err := ListenWatch{Port: 80, Kernel: refusingListeners{}}.Run(context.Background(), func(Result) { t.Error("report") })
	if err == nil {
		t.Fatal("Run = nil, want the subscription's error")
	}
}

// TestTrackerGone: a Gone failure is decisive (no `fall` to wait for), and
// only `rise` probe passes bring the service back.
func TestTrackerGone(t *testing.T) {
	tr := NewTracker(2, 3)
	tr.Observe(Result{OK: true})
	if !tr.Observe(Result{Reason: "gone", Gone: true}) || tr.State() != Unhealthy {
		t.Fatalf("after Gone: %v, want unhealthy at once", tr.State())
	}
	tr.Observe(Result{OK: true})
	if tr.State() != Unhealthy {
		t.Fatalf("one pass after Gone: %v, want unhealthy until rise 2", tr.State())
	}
	tr.Observe(Result{OK: true})
	if tr.State() != Healthy {
		t.Fatalf("two passes: %v, want healthy", tr.State())
	}
}

func TestListenPort(t *testing.T) {
	for _, tt := range []struct {
		h    config.Health
		port uint16
		ok   bool
	}{
		{config.Health{Type: config.ProbeHTTP, URL: "http://127.0.0.1:8080/health"}, 8080, true},
		{config.Health{Type: config.ProbeHTTP, URL: "http://127.0.0.1/"}, 80, true},
		{config.Health{Type: config.ProbeHTTP, URL: "https://localhost/"}, 443, true},
		{config.Health{Type: config.ProbeHTTP, URL: "http://[::1]:81/"}, 81, true},
		{config.Health{Type: config.ProbeHTTP, URL: "http://10.0.0.5:80/"}, 0, false},
		{config.Health{Type: config.ProbeHTTP, URL: "http://app.example:80/"}, 0, false},
		{config.Health{Type: config.ProbeTCP, Address: "127.0.0.1:3306"}, 3306, true},
		{config.Health{Type: config.ProbeTCP, Address: "0.0.0.0:25"}, 25, true},
		{config.Health{Type: config.ProbeTCP, Address: "192.0.2.1:25"}, 0, false},
		{config.Health{Type: config.ProbeCommand, Command: []string{"true"}}, 0, false},
		{config.Health{Type: config.ProbeCommand, Command: []string{"true"}, ListenerPort: 5432}, 5432, true},
		{config.Health{Type: config.ProbeHTTP, URL: "http://10.0.0.5:80/", ListenerPort: 8080}, 8080, true},
	} {
		tt.h.ListenerWatch = true
		p, ok := ListenPort(tt.h)
		if p != tt.port || ok != tt.ok {
			t.Errorf("ListenPort(%+v) = %d, %v; want %d, %v", tt.h, p, ok, tt.port, tt.ok)
		}
	}
}

func TestListenPortOff(t *testing.T) {
	if p, ok := ListenPort(config.Health{Type: config.ProbeTCP, Address: "127.0.0.1:80", ListenerPort: 80}); ok {
		t.Errorf("listener_watch false: ListenPort = %d, true; want no watch", p)
	}
}
