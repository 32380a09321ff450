package speakerproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/tandemlb/tandem/director/bgp"
	"github.com/tandemlb/tandem/shared/clock"
)

// BinaryName is the speaker process's executable, looked for next to the
// running one, then in LibDir.
const (
	BinaryName = "tandem-bgp-speaker"
	LibDir     = "/usr/lib/tandem"
)

// The defaults of Options' zero fields.
const (
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 30 * time.Second
	// callTimeout bounds one request's round trip; a process that does
	// not answer in time is killed (and restarted).
	callTimeout = 10 * time.Second
	// maxLogLine bounds one line of the process's stderr as re-logged.
	maxLogLine = 4 << 10
)

// Options are NewRemote's options.
type Options struct {
	// Path: the speaker's executable; empty: FindBinary.
	Path string
	// Args and Env are added to the process's command line and
	// environment (the tests run themselves as the speaker). Nothing
	// secret goes there: the passwords travel in the start message.
	Args []string
	Env  []string
	// Logger: the director's log, where the process's own log lines are
	// re-logged. Nil discards.
	Logger *slog.Logger
	// Clock: the restart backoff's timers and PeerState.Since of the
	// peers marked down (nil: the system clock).
	Clock clock.Clock
	// MinBackoff, MaxBackoff: the delay before a restart, doubled after
	// each until MaxBackoff (0: DefaultMinBackoff, DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
}

// Remote is the director's bgp.Speaker: the speaker runs in a process of
// its own (tandem-bgp-speaker, whose main calls Serve), driven over its
// stdin and stdout. When the process dies unexpectedly the peers are
// reported down, and it is started again after a backoff, with the
// configuration and every route announced so far.
type Remote struct {
	cfg   bgp.SpeakerConfig
	opts  Options
	log   *slog.Logger
	clock clock.Clock

	// opMu serialises the requests and a (re)start with the replay of the
	// routes, so that no announcement falls between the two.
	opMu   sync.Mutex
	proc   *proc // the process to send to; nil while there is none
	routes map[netip.Prefix]bgp.Route
	sup    chan struct{} // closed when the supervisor has returned

	mu       sync.Mutex
	peers    []bgp.PeerState
	changed  chan struct{}
	started  bool
	stopping bool
	quit     chan struct{} // closed by Stop: no more restarts
	restarts int
}

var _ bgp.Speaker = (*Remote)(nil)

// NewRemote validates cfg and returns a Remote that is not started. It
// does no I/O.
func NewRemote(cfg bgp.SpeakerConfig, opts Options) (*Remote, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bgp: %w", err)
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Remote{cfg: cfg, opts: opts, log: log, clock: clock.Or(opts.Clock), routes: map[netip.Prefix]bgp.Route{},
		changed: make(chan struct{}), quit: make(chan struct{})}
	for _, p := range cfg.Peers {
		r.peers = append(r.peers, bgp.PeerState{Addr: p.Addr, AS: p.AS, State: "idle"})
	}
	return r, nil
}

// FindBinary returns the speaker's executable: BinaryName in the running
// executable's directory, else in LibDir.
func FindBinary() (string, error) {
	var tried []string
	if exe, err := os.Executable(); err == nil {
		tried = append(tried, filepath.Join(filepath.Dir(exe), BinaryName))
	}
	tried = append(tried, filepath.Join(LibDir, BinaryName))
	for _, p := range tried {
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("bgp: no %s executable (looked for %s)", BinaryName, strings.Join(tried, ", "))
}

// NextBackoff is the delay after d: doubled, at most hi.
func NextBackoff(d, hi time.Duration) time.Duration {
	return min(2*d, hi)
}

// Start starts the process and the speaker in it; it returns once the
// sessions are configured. A failure here (a bad configuration, no
// executable) is returned and not retried.
func (r *Remote) Start(ctx context.Context) error {
	r.mu.Lock()
	if r.started {
		r.mu.Unlock()
		return errors.New("bgp: speaker already started")
	}
	r.started = true
	r.mu.Unlock()
	if r.opts.Path == "" {
		p, err := FindBinary()
		if err != nil {
			return err
		}
		r.opts.Path = p
	}
	r.opMu.Lock()
	defer r.opMu.Unlock()
	p, err := r.launch(ctx)
	if err != nil {
		return err
	}
	r.proc = p
	r.sup = make(chan struct{})
	go r.supervise(p)
	return nil
}

// launch starts a process, sends it the configuration and replays the
// routes. Called with opMu held.
func (r *Remote) launch(ctx context.Context) (*proc, error) {
	p, err := r.spawn()
	if err != nil {
		return nil, err
	}
	cfg := r.cfg
	reply, err := p.call(ctx, Msg{Op: OpStart, Config: &cfg})
	if err == nil && reply.Err != "" {
		err = errors.New(reply.Err)
	}
	if err != nil {
		p.kill()
		<-p.done
		return nil, fmt.Errorf("bgp: start: %w", err)
	}
	for _, rt := range sortedRoutes(r.routes) {
		reply, err := p.call(ctx, Msg{Op: OpAnnounce, Route: &rt})
		if err == nil && reply.Err != "" {
			err = errors.New(reply.Err)
		}
		if err != nil {
			r.log.Warn("bgp speaker: replay", "prefix", rt.Prefix, "err", err)
		}
	}
	return p, nil
}

func sortedRoutes(m map[netip.Prefix]bgp.Route) []bgp.Route {
	out := make([]bgp.Route, 0, len(m))
	for _, rt := range m {
		out = append(out, rt)
	}
	slices.SortFunc(out, func(a, b bgp.Route) int {
		if c := a.Prefix.Addr().Compare(b.Prefix.Addr()); c != 0 {
			return c
		}
		return a.Prefix.Bits() - b.Prefix.Bits()
	})
	return out
}

// supervise waits for the process to end; unless Stop ended it, the
// peers are marked down and the process started again after a backoff.
func (r *Remote) supervise(p *proc) {
	defer close(r.sup)
	backoff := r.opts.MinBackoff
	for {
		<-p.done
		ran := r.clock.Now().Sub(p.started)
		r.opMu.Lock()
		r.proc = nil
		r.opMu.Unlock()
		if r.isStopping() {
			return
		}
		r.log.Warn("bgp speaker process exited; routes withdrawn by the routers until it is back",
			"pid", p.pid(), "err", p.err, "ran", ran.Round(time.Millisecond))
		r.allDown()
		if ran >= r.opts.MaxBackoff {
			backoff = r.opts.MinBackoff
		}
		for {
			t := r.clock.NewTimer(backoff)
			select {
			case <-t.C():
			case <-r.quit:
				t.Stop()
				return
			}
			backoff = NextBackoff(backoff, r.opts.MaxBackoff)
			r.opMu.Lock()
			if r.isStopping() {
				r.opMu.Unlock()
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			np, err := r.launch(ctx)
			cancel()
			if err != nil {
				r.opMu.Unlock()
				r.log.Error("bgp speaker process: restart", "err", err, "next_in", backoff)
				continue
			}
			r.proc = np
			r.opMu.Unlock()
			r.mu.Lock()
			r.restarts++
			r.mu.Unlock()
			r.log.Info("bgp speaker process restarted", "pid", np.pid())
			p = np
			break
		}
	}
}

func (r *Remote) isStopping() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopping
}

// Restarts returns how many times the process was started again.
func (r *Remote) Restarts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.restarts
}

// allDown marks every peer down, the process being gone.
func (r *Remote) allDown() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	changed := false
	for i, p := range r.peers {
		if p.State != "idle" {
			r.peers[i] = bgp.PeerState{Addr: p.Addr, AS: p.AS, State: "idle", Since: now}
			changed = true
		}
	}
	if changed {
		close(r.changed)
		r.changed = make(chan struct{})
	}
}

// setPeers takes the process's report: known peers only, in
// configuration order.
func (r *Remote) setPeers(in []bgp.PeerState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := false
	for _, st := range in {
		i := slices.IndexFunc(r.peers, func(p bgp.PeerState) bool { return p.Addr == st.Addr })
		if i < 0 {
			continue
		}
		st.AS = r.peers[i].AS
		if len(st.State) > 16 {
			st.State = st.State[:16]
		}
		if r.peers[i] != st {
			r.peers[i] = st
			changed = true
		}
	}
	if changed {
		close(r.changed)
		r.changed = make(chan struct{})
	}
}

// Peers returns the sessions' states in configuration order.
func (r *Remote) Peers() []bgp.PeerState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.peers)
}

// Changed returns a channel closed at the next change of Peers.
func (r *Remote) Changed() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.changed
}

// Announce announces rt. While the process is down the route is only
// kept: it is announced when the process is back.
func (r *Remote) Announce(ctx context.Context, rt bgp.Route) error {
	if len(rt.Communities) > bgp.MaxCommunities+1 {
		return fmt.Errorf("bgp: prefix %v: %d communities", rt.Prefix, len(rt.Communities))
	}
	rt.Communities = slices.Clone(rt.Communities)
	r.opMu.Lock()
	defer r.opMu.Unlock()
	err := r.request(ctx, Msg{Op: OpAnnounce, Route: &rt})
	if err != nil {
		return fmt.Errorf("bgp: announce %v: %w", rt.Prefix, err)
	}
	r.routes[rt.Prefix] = rt
	return nil
}

// Withdraw withdraws p.
func (r *Remote) Withdraw(ctx context.Context, p netip.Prefix) error {
	r.opMu.Lock()
	defer r.opMu.Unlock()
	if err := r.request(ctx, Msg{Op: OpWithdraw, Prefix: p.String()}); err != nil {
		return fmt.Errorf("bgp: withdraw %v: %w", p, err)
	}
	delete(r.routes, p)
	return nil
}

// errNotStarted: a request before Start or after Stop.
var errNotStarted = errors.New("speaker not started")

// request sends m to the process and returns the speaker's error. A
// process that is down or dies meanwhile is no error: the route state is
// replayed at its restart. Called with opMu held.
func (r *Remote) request(ctx context.Context, m Msg) error {
	r.mu.Lock()
	started, stopping := r.started, r.stopping
	r.mu.Unlock()
	if !started || stopping {
		return errNotStarted
	}
	p := r.proc
	if p == nil {
		return nil
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	reply, err := p.call(cctx, m)
	switch {
	case errors.Is(err, errProcExited):
		return nil
	case err != nil && ctx.Err() != nil:
		return err
	case err != nil:
		// No answer in time: the process is wedged; its restart replays.
		r.log.Error("bgp speaker process: no reply; killing it", "op", m.Op, "err", err)
		p.kill()
		return nil
	case reply.Err != "":
		return errors.New(reply.Err)
	}
	return nil
}

// Stop stops the speaker (a CEASE to every peer) and the process, bounded
// by ctx; the process is killed if it has not exited by then.
func (r *Remote) Stop(ctx context.Context) error {
	r.mu.Lock()
	if !r.started || r.stopping {
		r.mu.Unlock()
		return nil
	}
	r.stopping = true
	close(r.quit)
	r.mu.Unlock()
	r.opMu.Lock()
	p := r.proc
	r.opMu.Unlock()
	var err error
	if p != nil {
		var reply Msg
		reply, err = p.call(ctx, Msg{Op: OpStop})
		if err == nil && reply.Err != "" {
			err = errors.New(reply.Err)
		}
		p.closeInput()
		select {
		case <-p.done:
		case <-ctx.Done():
			p.kill()
			<-p.done
			err = errors.Join(err, ctx.Err())
		}
	}
	if r.sup != nil {
		<-r.sup
	}
	if err != nil && !errors.Is(err, errProcExited) {
		return fmt.Errorf("bgp: stop: %w", err)
	}
	return nil
}

// errProcExited: the process ended before replying.
var errProcExited = errors.New("speaker process exited")

// proc is one run of the process.
type proc struct {
	cmd     *exec.Cmd
	started time.Time
	done    chan struct{} // closed once it has exited and its pipes are drained
	err     error         // why it ended; read after done

	wmu   sync.Mutex // serialises writes to stdin
	stdin io.WriteCloser

	mu      sync.Mutex
	nextID  uint64
	pending map[uint64]chan Msg
}

// spawn starts the process and the goroutines that read its stdout and
// stderr and wait for it.
func (r *Remote) spawn() (*proc, error) {
	cmd := exec.Command(r.opts.Path, r.opts.Args...)
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "NOTIFY_SOCKET=") && !strings.HasPrefix(e, "LISTEN_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, r.opts.Env...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("bgp: speaker process: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("bgp: speaker process: %w", err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("bgp: speaker process: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("bgp: speaker process %s: %w", r.opts.Path, err)
	}
	p := &proc{cmd: cmd, started: r.clock.Now(), done: make(chan struct{}), stdin: stdin, pending: map[uint64]chan Msg{}}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		relog(stderr, r.log.With("pid", cmd.Process.Pid))
	}()
	go func() {
		rerr := r.readLoop(p, stdout)
		<-logged
		werr := cmd.Wait()
		p.err = werr
		if werr == nil && rerr != nil && !errors.Is(rerr, io.EOF) {
			p.err = rerr
		}
		p.mu.Lock()
		p.pending = nil
		p.mu.Unlock()
		close(p.done)
	}()
	return p, nil
}

// readLoop reads the process's messages until its stdout ends or carries
// something that is not a message (the process is then killed).
func (r *Remote) readLoop(p *proc, out io.Reader) error {
	for {
		m, err := ReadMsg(out)
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.log.Error("bgp speaker process: bad message; killing it", "pid", p.pid(), "err", err)
				p.kill()
				_, _ = io.Copy(io.Discard, out)
			}
			return err
		}
		switch m.Op {
		case OpReply:
			p.mu.Lock()
			ch := p.pending[m.ID]
			delete(p.pending, m.ID)
			p.mu.Unlock()
			if ch != nil {
				ch <- m
			}
		case OpPeers:
			if len(m.Peers) <= bgp.MaxPeers {
				r.setPeers(m.Peers)
			}
		default:
			r.log.Warn("bgp speaker process: unknown message", "pid", p.pid(), "op", m.Op)
		}
	}
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) kill() { _ = p.cmd.Process.Kill() }

func (p *proc) closeInput() {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.stdin.Close()
}

// call sends m with a new ID and waits for its reply.
func (p *proc) call(ctx context.Context, m Msg) (Msg, error) {
	ch := make(chan Msg, 1)
	p.mu.Lock()
	if p.pending == nil {
		p.mu.Unlock()
		return Msg{}, errProcExited
	}
	p.nextID++
	m.ID = p.nextID
	p.pending[m.ID] = ch
	p.mu.Unlock()
	p.wmu.Lock()
	err := WriteMsg(p.stdin, m)
	p.wmu.Unlock()
	if err != nil {
		// The pipe is broken: the process is going or gone.
		p.kill()
		return Msg{}, errProcExited
	}
	select {
	case reply := <-ch:
		return reply, nil
	case <-p.done:
		return Msg{}, errProcExited
	case <-ctx.Done():
		p.mu.Lock()
		if p.pending != nil {
			delete(p.pending, m.ID)
		}
		p.mu.Unlock()
		return Msg{}, fmt.Errorf("%s: %w", m.Op, ctx.Err())
	}
}
