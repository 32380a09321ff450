package loadgen_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// serveName serves HTTP on port 80 inside a lab host, answering with the
// host's name, and records the client addresses it saw.
func serveName(t *testing.T, lab *netlab.Lab, host string, seen *sync.Map) {
	t.Helper()
	ln, err := lab.Listen(host, "tcp4", "0.0.0.0:80")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip, _, _ := net.SplitHostPort(r.RemoteAddr)
			seen.Store(ip, true)
			_, _ = io.WriteString(w, host+"\n")
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() { _ = srv.Serve(ln) }()
	lab.OnClose(func() error {
		if err := srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
}

// TestNetnsLoadgenTwoServers runs generators inside the client's namespace
// (netlab's DialContext) against two servers on one bridge, no IPVS: every
// kind of connection works, answers are counted per server, and the
// servers see the client's lab address. A probe then measures a listener
// that appears 200ms after the event, and a dead address times out.
func TestNetnsLoadgenTwoServers(t *testing.T) {
	testutil.Netns(t)
	lab, err := netlab.New(t, netlab.Spec{Hosts: []netlab.HostSpec{
		{Name: "client", Addr: "10.99.0.10/24"},
		{Name: "s1", Addr: "10.99.0.11/24"},
		{Name: "s2", Addr: "10.99.0.12/24"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var seen sync.Map
	serveName(t, lab, "s1", &seen)
	serveName(t, lab, "s2", &seen)
	dial := lab.DialContext("client")
	ctx := context.Background()

	reports := map[string]*loadgen.Report{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, addr := range map[string]string{"s1": "10.99.0.11:80", "s2": "10.99.0.12:80"} {
		wg.Go(func() {
			rep, err := loadgen.Run(ctx, loadgen.Config{
				Target:         loadgen.Target{Addr: addr, Dial: dial, Expected: []string{"s1", "s2"}},
				Rate:           100,
				Duration:       time.Second,
				KeepAliveRatio: 0.3,
				KeepAliveConns: 2,
				Idle:           loadgen.IdleConfig{Conns: 1, Every: 100 * time.Millisecond},
			})
			if err != nil {
				t.Errorf("%s: Run: %v", name, err)
				return
			}
			mu.Lock()
			reports[name] = rep
			mu.Unlock()
		})
	}
	wg.Wait()
	for name, rep := range reports {
		t.Logf("%s:\n%s", name, rep)
		if rep.Failed != 0 || rep.Skipped != 0 || rep.OK != rep.Sent {
			t.Errorf("%s: ok %d of %d, failed %d, skipped %d", name, rep.OK, rep.Sent, rep.Failed, rep.Skipped)
		}
		if diff := cmp.Diff(map[string]int{name: rep.Sent}, rep.PerServer); diff != "" {
			t.Errorf("%s: PerServer (-want +got):\n%s", name, diff)
		}
		want := map[loadgen.Kind]loadgen.KindCounts{
			loadgen.NewConn:       {Sent: 70, OK: 70, Dials: 70},
			loadgen.KeepAliveConn: {Sent: 30, OK: 30, Dials: 2},
		}
		got := map[loadgen.Kind]loadgen.KindCounts{loadgen.NewConn: rep.ByKind[loadgen.NewConn], loadgen.KeepAliveConn: rep.ByKind[loadgen.KeepAliveConn]}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: ByKind (-want +got):\n%s", name, diff)
		}
		if idle := rep.ByKind[loadgen.IdleConn]; idle.Dials != 1 || idle.OK < 8 {
			t.Errorf("%s: idle %+v, want 1 dial and about 10 OK", name, idle)
		}
	}
	var clients []string
	seen.Range(func(k, _ any) bool { clients = append(clients, k.(string)); return true })
	if diff := cmp.Diff([]string{"10.99.0.10"}, clients); diff != "" {
		t.Errorf("client addresses the servers saw (-want +got):\n%s", diff)
	}

	t.Run("Probe", func(t *testing.T) {
		event := time.Now()
		timer := time.AfterFunc(200*time.Millisecond, func() {
			ln, err := lab.Listen("s1", "tcp4", "0.0.0.0:81")
			if err != nil {
				t.Errorf("listen: %v", err)
				return
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("X-Server", "s1")
			})}
			go func() { _ = srv.Serve(ln) }()
			lab.OnClose(func() error { return srv.Close() })
		})
		defer timer.Stop()
		res, err := loadgen.Probe(ctx, loadgen.ProbeConfig{
			Target: loadgen.Target{Addr: "10.99.0.11:81", Dial: dial}, MaxDuration: 3 * time.Second,
		}, event)
		if err != nil {
			t.Fatalf("Probe: %v\n%s", err, res.Report)
		}
		t.Logf("recovery %v\n%s", res.Recovery, res.Report)
		if res.Recovery < 190*time.Millisecond || res.Recovery > 600*time.Millisecond {
			t.Errorf("recovery %v, want about 200ms", res.Recovery)
		}
		if res.Report.ByClass[loadgen.Refused] < 10 {
			t.Errorf("%d refused probes, want about 20", res.Report.ByClass[loadgen.Refused])
		}
	})

	t.Run("DeadAddress", func(t *testing.T) {
		// 10.99.0.13 is on the lab's subnet but nobody has it: ARP fails.
		rep, err := loadgen.Run(ctx, loadgen.Config{
			Target: loadgen.Target{Addr: "10.99.0.13:80", Dial: dial, Timeout: 300 * time.Millisecond},
			Rate:   20, Duration: 200 * time.Millisecond,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("\n%s", rep)
		if rep.Sent != 4 || rep.ByClass[loadgen.Timeout] != 4 {
			t.Errorf("classes %v of %d, want all timeout", rep.ByClass, rep.Sent)
		}
	})
	noLoadgenGoroutines(t)
}
