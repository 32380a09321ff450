package promlab

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Process is a started prometheus as the harness needs it; a netlab
// process has these methods.
type Process interface {
	// Stop sends SIGTERM, waits up to grace, then SIGKILLs, and waits.
	Stop(grace time.Duration) error
	// Output is what the process wrote so far (stdout and stderr).
	Output() string
	// Done is closed when the process has exited.
	Done() <-chan struct{}
}

// HTTPDoer sends the harness's API requests (an *http.Client).
type HTTPDoer interface {
	Do(*http.Request) (*http.Response, error)
}

// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// Server is a running Prometheus of the lab.
type Server struct {
	cfg    Config
	proc   Process
	base   string
	client HTTPDoer

	stopOnce sync.Once
	stopErr  error
}

// Start writes c's prometheus.yml, starts prometheus and waits, at most
// c.ReadyTimeout or until ctx ends, until /-/ready answers 200. On any
// error the process is stopped and its output is in the error.
func Start(ctx context.Context, c Config) (*Server, error) {
	c.setDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.dataPath(), 0o755); err != nil {
		return nil, fmt.Errorf("promlab: %w", err)
	}
	if err := os.WriteFile(c.configPath(), c.YAML(), 0o644); err != nil {
		return nil, fmt.Errorf("promlab: %w", err)
	}
	argv := append([]string{c.Binary}, c.Args()...)
	if len(c.Env) > 0 {
		argv = append(append([]string{"/usr/bin/env"}, c.Env...), argv...)
	}
	start := c.Start
	if start == nil {
		start = StartLocal
	}
	proc, err := start(argv)
	if err != nil {
		return nil, fmt.Errorf("promlab: start %s: %w", c.Binary, err)
	}
	s := &Server{cfg: c, proc: proc, base: "http://" + c.Listen, client: c.Client}
	if s.client == nil {
		s.client = &http.Client{Timeout: 10 * time.Second}
	}
	if err := s.waitReady(ctx); err != nil {
		out := proc.Output()
		_ = s.Stop()
		return nil, fmt.Errorf("%w\nprometheus output (tail):\n%s", err, tail(out, 30))
	}
	return s, nil
}

// waitReady polls /-/ready every 100 ms: Prometheus answers 503 while
// its TSDB opens and 200 once it serves queries.
func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ReadyTimeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		last = s.ready(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-s.proc.Done():
			return fmt.Errorf("promlab: prometheus exited before it was ready (last: %v)", last)
		case <-ctx.Done():
			return fmt.Errorf("promlab: prometheus not ready within %v: %v", s.cfg.ReadyTimeout, last)
		case <-tick.C:
		}
	}
}

func (s *Server) ready(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.base+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /-/ready: %s", resp.Status)
	}
	return nil
}

// URL is the base of the API, http://Listen.
func (s *Server) URL() string { return s.base }

// Output is what prometheus has written so far.
func (s *Server) Output() string { return s.proc.Output() }

// Stop stops prometheus (SIGTERM, SIGKILL after 10 s) and waits for it;
// later calls return the first's result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.proc.Stop(stopGrace) })
	return s.stopErr
}

// maxOutput bounds what StartLocal keeps of a process's output: the first
// bytes up to it (Prometheus logs its start and its errors; at
// --log.level=warn a healthy run writes little).
const maxOutput = 256 << 10

// StartLocal starts argv as a child of this process, in a process group of
// its own, its output kept up to 256 KiB.
func StartLocal(argv []string) (Process, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty command")
	}
	p := &localProcess{done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = &p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

type localProcess struct {
	cmd  *exec.Cmd
	out  boundedBuffer
	done chan struct{}
	err  error // Wait's, valid once done is closed
}

func (p *localProcess) Output() string        { return p.out.String() }
func (p *localProcess) Done() <-chan struct{} { return p.done }

func (p *localProcess) Stop(grace time.Duration) error {
	pgid := p.cmd.Process.Pid
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGTERM to process group %d: %w", pgid, err)
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
		if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("SIGKILL to process group %d: %w", pgid, err)
		}
		<-p.done
		return fmt.Errorf("process %d did not stop within %v of SIGTERM; killed", pgid, grace)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) && ee.ExitCode() == -1 {
		return nil // ended by the signal
	}
	return p.err
}

// boundedBuffer keeps the first maxOutput bytes written to it.
type boundedBuffer struct {
	mu      sync.Mutex
	b       []byte
	dropped int64
}

func (w *boundedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(p), maxOutput-len(w.b))
	w.b = append(w.b, p[:n]...)
	w.dropped += int64(len(p) - n)
	return len(p), nil
}

func (w *boundedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.dropped > 0 {
		return string(w.b) + fmt.Sprintf("\n[%d more bytes dropped]\n", w.dropped)
	}
	return string(w.b)
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
