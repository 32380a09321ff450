package scenarios

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/prodlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// haLab is the world of the HA scenarios: e2e/prodlab's two-director lab
// (client, dir1, dir2, rs1, rs2, sorry on the "lan" bridge; the directors'
// eth1 on a "sync" segment of their own carries the connection-sync daemon
// and the fast failover probe, as the seed's lvs_sync_daemon_interface
// eth1), started with dir1 MASTER and dir2 BACKUP.
type haLab struct {
	t *testing.T
	*prodlab.Pair
}

// newHALab builds the lab; track goes into track_interface.
func newHALab(t *testing.T, track ...string) *haLab {
	t.Helper()
	return newHALabOpts(t, func(o *prodlab.PairOptions) { o.TrackInterfaces = track })
}

// newHALabOpts builds the lab with its options changed by edit.
func newHALabOpts(t *testing.T, edit func(*prodlab.PairOptions)) *haLab {
	t.Helper()
	testutil.InVM(t)
	bin := filepath.Dir(testutil.Bin(t, "tandem-director"))
	testutil.Bin(t, "tandem-backend")
	o := prodlab.PairOptions{Bin: bin, Dir: t.TempDir(), SyncLink: true, LogLevel: "debug"}
	edit(&o)
	p, err := prodlab.NewPair(t, o)
	if err != nil {
		t.Fatal(err)
	}
	l := &haLab{t: t, Pair: p}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", p.Logs(80))
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if m, b := p.Roles(); m != "dir1" || b != "dir2" {
		t.Fatalf("after start: master %q, backup %q; want dir1, dir2", m, b)
	}
	if h := p.VIPHolders(); len(h) != 1 || h[0] != "dir1" {
		t.Fatalf("after start the VIP is on %v, want dir1 only", h)
	}
	return l
}

// load starts a bounded load from the client to the VIP (cfg's Target
// address, dial and expected servers are filled in) and returns a function
// that waits for its report.
func (l *haLab) load(cfg loadgen.Config) func() *loadgen.Report {
	l.t.Helper()
	cfg.Target.Addr = prodlab.VIP + ":80"
	cfg.Target.Dial = l.Net.DialContext("client")
	cfg.Target.Expected = []string{"rs1", "rs2"}
	if cfg.MaxRequests == 0 {
		cfg.MaxRequests = int(cfg.Rate*cfg.Duration.Seconds()) + 100
		if cfg.Idle.Conns > 0 {
			cfg.MaxRequests += cfg.Idle.Conns * (int(cfg.Duration/cfg.Idle.Every) + 1)
		}
	}
	cfg.Interval = 2 * time.Second
	cfg.OnSnapshot = func(s loadgen.Snapshot) { l.t.Logf("load %s", s) }
	g, err := loadgen.New(cfg)
	if err != nil {
		l.t.Fatal(err)
	}
	return runLoad(l.t, g)
}

// haVIPSample is who held the VIP at one moment.
type haVIPSample struct {
	at      time.Time
	holders []string
}

func (s haVIPSample) String() string {
	return fmt.Sprintf("%s %v", s.at.Format("15:04:05.000"), s.holders)
}

// sampleVIP reads the VIP holders every period (through the lab's netlink
// handles) until stop is called, which returns the samples; the test's
// end stops it too. At most 10,000 samples are kept.
func (l *haLab) sampleVIP(period time.Duration) (stop func() []haVIPSample) {
	l.t.Helper()
	stop, _ = sampleEvery(l.t, period, func() haVIPSample {
		return haVIPSample{at: time.Now(), holders: vipHolders(l.HasVIP)}
	})
	return stop
}

// vipHolders reads dir1, dir2, then dir1 again, and counts dir1 only if it
// held the VIP at both of its reads. The two directors cannot be read at
// one instant: read once each, a hand-over between the two reads showed
// both as holders (the old one read before it released, the new one after
// it took over) though they never overlapped. Read this way, two holders
// in a sample mean dir1 held the VIP before and after dir2's read: a real
// overlap, whichever way the VIP moves. (A hand-over can instead show as
// one sample with no holder.)
func vipHolders(has func(string) bool) []string {
	d1 := has("dir1")
	d2 := has("dir2")
	d1 = has("dir1") && d1
	var out []string
	if d1 {
		out = append(out, "dir1")
	}
	if d2 {
		out = append(out, "dir2")
	}
	return out
}

// maxSamples bounds what a sampler keeps.
const maxSamples = 10000

// sampleEvery calls read every period in a goroutine of its own until
// stop is called (or the test ends), keeping at most maxSamples results.
// stop returns them (it may be called more than once); latest returns
// the last one so far (the zero value before the first).
func sampleEvery[T any](t testing.TB, period time.Duration, read func() T) (stop func() []T, latest func() T) {
	var (
		mu      sync.Mutex
		samples []T
	)
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for len(samples) < maxSamples {
			s := read()
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
			select {
			case <-quit:
				return
			case <-tick.C:
			}
		}
	}()
	var once sync.Once
	stop = func() []T {
		once.Do(func() {
			close(quit)
			<-done
		})
		mu.Lock()
		defer mu.Unlock()
		return samples
	}
	latest = func() T {
		mu.Lock()
		defer mu.Unlock()
		var zero T
		if len(samples) == 0 {
			return zero
		}
		return samples[len(samples)-1]
	}
	t.Cleanup(func() { stop() })
	return stop, latest
}

// holds reports whether d held the VIP in s.
func (s haVIPSample) holds(d string) bool { return slices.Contains(s.holders, d) }

// haFirst returns the first sample at or after from for which cond holds
// (ok false if none).
func haFirst(samples []haVIPSample, from time.Time, cond func(haVIPSample) bool) (haVIPSample, bool) {
	for _, s := range samples {
		if !s.at.Before(from) && cond(s) {
			return s, true
		}
	}
	return haVIPSample{}, false
}

// clientConns returns the client's connections to the VIP in director
// name's IPVS connection table, by "client-addr:port", with their state.
func (l *haLab) clientConns(name string) map[string]prodlab.Conn {
	l.t.Helper()
	cs, err := l.Conns(name)
	if err != nil {
		l.t.Fatalf("ipvsadm -Lnc on %s: %v", name, err)
	}
	out := map[string]prodlab.Conn{}
	for _, c := range cs {
		if c.Proto == "TCP" && strings.HasPrefix(c.Client, prodlab.ClientIP+":") && c.Virtual == prodlab.VIP+":80" {
			out[c.Client] = c
		}
	}
	return out
}

// haStateChanges returns director name's "vrrp state changed" log lines
// (process p's whole output).
func haStateChanges(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, `msg="vrrp state changed"`) {
			lines = append(lines, l)
		}
	}
	return lines
}

// haLogFailures prints every failed request (at most 20) with its start
// relative to the event.
func haLogFailures(t *testing.T, rep *loadgen.Report, event time.Time, what string) {
	t.Helper()
	n := 0
	for _, r := range rep.Results() {
		if !r.Class.Failed() {
			continue
		}
		if n++; n <= 20 {
			t.Logf("failed: %s request on connection %d started %+.3fs after %s: %s after %s",
				r.Kind, r.Conn, r.Start.Sub(event).Seconds(), what, r.Class, haMs(r.Latency))
		}
	}
}

func haMs(d time.Duration) string { return d.Round(time.Millisecond).String() }
