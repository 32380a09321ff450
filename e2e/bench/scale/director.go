package scale

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"github.com/tandemlb/tandem/director/app"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/lvs/lvstest"
)

// Secret is the lab's cluster secret (the director's key file); each
// agent seals with the key derived from it for its address.
var Secret = []byte(strings.Repeat("s", 32))

// PerService is how many real servers each virtual service has: n real
// servers are n/PerService services (1,000 × 10 for 10,000).
const PerService = 10

// Node is the director's name in the lab.
const Node = "lb-scale"

// DirectorConfig is the native configuration of a director with n real
// servers (agents 0..n-1, weight 1, no checks; with none, one virtual
// server without real servers), its heartbeat listener on the lab's
// address, in dir.
func DirectorConfig(dir string, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version: 1\nnode: %s\nheartbeat:\n  listen: %s:%d\n  key_file: %s\n  interval: 1s\nmetrics:\n  enabled: false\n",
		Node, directorAddr, HeartbeatPort, filepath.Join(dir, "key"))
	if n == 0 { // a director needs something to do: one empty service
		b.WriteString("virtual_servers:\n  - address: 198.18.0.1:80\n    real_servers: []\n")
		return b.String()
	}
	b.WriteString("virtual_servers:\n")
	for s := 0; s*PerService < n; s++ {
		fmt.Fprintf(&b, "  - address: 198.18.%d.%d:80\n    real_servers:\n", s/250, s%250+1)
		for i := s * PerService; i < min(n, (s+1)*PerService); i++ {
			fmt.Fprintf(&b, "      - address: %s:80\n        weight: 1\n", AgentIP(i))
		}
	}
	return b.String()
}

// fakeIPVS is the recording in-memory IPVS (lvstest.Fake) with no sync
// daemons: this kernel has no ip_vs.
type fakeIPVS struct{ *lvstest.Fake }

func (fakeIPVS) StartDaemon(lvs.DaemonState, string, uint8) error { return nil }
func (fakeIPVS) StopDaemon(lvs.DaemonState) error                 { return nil }
func (fakeIPVS) Daemons() ([]lvs.Daemon, error)                   { return nil, nil }
func (fakeIPVS) Close() error                                     { return nil }

// profile writes the process's CPU profile to path until the returned
// function is called (TANDEM_SCALE_PROFILE, TANDEM_SCALE_GEN_PROFILE:
// where the director's and the agents' time goes).
func profile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// runDirector is the director process: director/app on the fake IPVS with
// n real servers, in dir, until SIGTERM; a silent agent is forgotten after
// forget (0: the director's default). It prints "READY" once ready.
func runDirector(dir string, n int, forget time.Duration, stdout io.Writer) error {
	if err := os.WriteFile(filepath.Join(dir, "key"), append(append([]byte(nil), Secret...), '\n'), 0o600); err != nil {
		return err
	}
	vs := filepath.Join(dir, "sys", "net", "ipv4", "vs")
	if err := os.MkdirAll(vs, 0o755); err != nil {
		return err
	}
	for _, f := range []string{"expire_nodest_conn", "expire_quiescent_template", "conn_reuse_mode"} {
		if err := os.WriteFile(filepath.Join(vs, f), []byte("0\n"), 0o644); err != nil {
			return err
		}
	}
	path := filepath.Join(dir, "director.yaml")
	if err := os.WriteFile(path, []byte(DirectorConfig(dir, n)), 0o644); err != nil {
		return err
	}
	loader := &config.Loader{}
	cfg, err := loader.Load(path)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	off := false
	fake := fakeIPVS{&lvstest.Fake{}}
	a := app.New(cfg, app.Options{
		Loader: loader, Log: log,
		Socket:            filepath.Join(dir, "ctl.sock"),
		StateDir:          filepath.Join(dir, "state"),
		OpenIPVS:          func(*slog.Logger) (app.IPVS, error) { return fake, nil },
		SysctlRoot:        filepath.Join(dir, "sys"),
		HostChecks:        &off,
		ForgetAgentsAfter: forget,
	})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	select {
	case <-a.Ready():
	case err := <-done:
		return fmt.Errorf("director: %v", err)
	case <-time.After(2 * time.Minute):
		return fmt.Errorf("director: not ready after 2 min")
	}
	fmt.Fprintln(stdout, "READY")
	if p := os.Getenv(envProfile); p != "" {
		stopProfile := profileOnSignal(p, log)
		defer stopProfile()
	}
	return <-done
}

// profileOnSignal writes the process's CPU profile to path from SIGUSR1
// to SIGUSR2 (Measure sends them at the window's start and end: the
// steady state only, not the warm-up), and its heap profile at the
// window's end to path.heap; the quiet windows after it (Params.Quiet) to
// path.2 and path.3. The returned function stops it.
func profileOnSignal(path string, log *slog.Logger) func() {
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2)
	quit := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		var stop func()
		n := 0 // profiles begun
		defer func() {
			if stop != nil {
				stop()
			}
		}()
		for {
			select {
			case <-quit:
				return
			case s := <-sig:
				switch {
				case s == syscall.SIGUSR1 && stop == nil:
					n++
					p := path
					if n > 1 {
						p = fmt.Sprintf("%s.%d", path, n)
					}
					var err error
					if stop, err = profile(p); err != nil {
						log.Error("cpu profile", "path", p, "err", err)
					}
				case s == syscall.SIGUSR2 && stop != nil:
					stop()
					stop = nil
					if n == 1 { // the window's end: where the memory is
						writeHeap(path+".heap", log)
					}
				}
			}
		}
	}()
	return func() {
		signal.Stop(sig)
		close(quit)
		<-ended
	}
}

// writeHeap writes the process's heap profile (in use at the last
// garbage collection) to path.
func writeHeap(path string, log *slog.Logger) {
	f, err := os.Create(path)
	if err != nil {
		log.Error("heap profile", "path", path, "err", err)
		return
	}
	defer f.Close()
	runtime.GC()
	if err := pprof.WriteHeapProfile(f); err != nil {
		log.Error("heap profile", "path", path, "err", err)
	}
}
