package loadgen

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// ErrRunning is returned by Run on a Generator that has already run.
var ErrRunning = errors.New("loadgen: a generator runs only once")

// Generator sends one run of requests. New does no I/O and starts nothing;
// Run does the work.
type Generator struct {
	cfg      Config
	cl       *client
	expected atomic.Pointer[map[string]struct{}]

	ran      atomic.Bool
	rec      atomic.Pointer[recorder]
	sent     atomic.Int64 // requests reserved against MaxRequests
	inFlight atomic.Int64
	connID   atomic.Uint32

	// stopOnOK ends the run at the first OK answer (Probe).
	stopOnOK bool
	stop     context.CancelFunc // cancels scheduling and requests
}

// New validates cfg, fills in its defaults and returns a Generator.
func New(cfg Config) (*Generator, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	g := &Generator{cfg: cfg, cl: newClient(cfg.Target)}
	g.SetExpected(cfg.Expected...)
	return g, nil
}

// Run sends the requests and returns the report, which is never nil. It
// returns when Duration has passed (or MaxRequests were sent) and every
// request in flight has ended, or soon after ctx is cancelled, in which
// case the requests in flight are Aborted and the error is ctx's. Every
// goroutine Run starts has ended when it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	return g.Run(ctx)
}

// Config returns the configuration with its defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// SetExpected replaces the set of expected server names; it is safe to
// call during a run and applies to answers read afterwards. No names
// accepts any name.
func (g *Generator) SetExpected(names ...string) {
	set := make(map[string]struct{}, len(names))
	for _, n := range names {
		set[n] = struct{}{}
	}
	g.expected.Store(&set)
}

func (g *Generator) expects(name string) bool {
	set := *g.expected.Load()
	if len(set) == 0 {
		return true
	}
	_, ok := set[name]
	return ok
}

// Report returns a report of the results so far; during a run it is a
// consistent snapshot. Before Run it returns nil.
func (g *Generator) Report() *Report {
	rec := g.rec.Load()
	if rec == nil {
		return nil
	}
	return rec.report(g.cfg.Addr, time.Now())
}

// InFlight returns the number of requests in flight.
func (g *Generator) InFlight() int { return int(g.inFlight.Load()) }

// Run sends the requests; see the package-level Run.
func (g *Generator) Run(ctx context.Context) (*Report, error) {
	if !g.ran.CompareAndSwap(false, true) {
		return nil, ErrRunning
	}
	cfg := g.cfg
	due := int(math.Ceil(cfg.Rate*cfg.Duration.Seconds() - 1e-9))
	start := time.Now()
	rec := newRecorder(start, min(due+cfg.Idle.Conns*int(cfg.Duration/max(cfg.Idle.Every, time.Millisecond)+1), cfg.MaxRequests, 1<<20))
	g.rec.Store(rec)

	// reqCtx ends requests (Aborted). stopCtx ends the sending early (the
	// cap, a probe's answer); schedCtx also ends at the end of Duration.
	// The rate-driven schedule waits on stopCtx, not schedCtx, so that a
	// request due just before the end is still sent when the timer fires
	// late; its loop ends by count.
	reqCtx, cancelReq := context.WithCancel(ctx)
	defer cancelReq()
	stopCtx, cancelStop := context.WithCancel(reqCtx)
	defer cancelStop()
	schedCtx, cancelSched := context.WithDeadline(stopCtx, start.Add(cfg.Duration))
	defer cancelSched()
	g.stop = cancelReq

	var wg sync.WaitGroup
	kaq := make(chan struct{}, cfg.KeepAliveConns)
	for range cfg.KeepAliveConns {
		wg.Go(func() { g.keepAliveWorker(reqCtx, kaq) })
	}
	for range cfg.Idle.Conns {
		wg.Go(func() { g.idleWorker(schedCtx, reqCtx, cancelStop) })
	}
	snapDone := make(chan struct{})
	snapExited := make(chan struct{})
	if cfg.OnSnapshot != nil {
		go func() {
			defer close(snapExited)
			g.snapshots(rec, snapDone)
		}()
	} else {
		close(snapExited)
	}

	g.schedule(schedCtx, stopCtx, reqCtx, cancelStop, rec, kaq, &wg, due)
	close(kaq)
	wg.Wait()
	close(snapDone)
	<-snapExited

	rep := rec.report(cfg.Addr, time.Now())
	return rep, ctx.Err()
}

// schedule starts the rate-driven requests: request i is due at
// start + i/Rate, for i < due; requests that are late are sent at once.
func (g *Generator) schedule(schedCtx, stopCtx, reqCtx context.Context, cancelStop context.CancelFunc, rec *recorder, kaq chan<- struct{}, wg *sync.WaitGroup, due int) {
	cfg := g.cfg
	if due == 0 {
		<-schedCtx.Done()
		return
	}
	offset := func(i int) time.Duration { return time.Duration(float64(i) / cfg.Rate * float64(time.Second)) }
	sem := make(chan struct{}, max(cfg.MaxInFlight, 1))
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for i := 0; i < due; {
		if wait := time.Until(rec.base.Add(offset(i))); wait > 0 {
			timer.Reset(wait)
			select {
			case <-stopCtx.Done():
				return
			case <-timer.C:
			}
		}
		if stopCtx.Err() != nil {
			return
		}
		// Every request due by now; at least request i, whose time has
		// come even if rounding says otherwise.
		upTo := min(max(int(time.Since(rec.base).Seconds()*cfg.Rate)+1, i+1), due)
		for ; i < upTo; i++ {
			if !g.reserve() {
				cancelStop()
				return
			}
			if keepAliveTurn(i, cfg.KeepAliveRatio) {
				select {
				case kaq <- struct{}{}:
					rec.started()
				default:
					g.sent.Add(-1)
					rec.skip()
				}
				continue
			}
			select {
			case sem <- struct{}{}:
				rec.started()
				wg.Go(func() {
					defer func() { <-sem }()
					g.request(reqCtx, NewConn, nil)
				})
			default:
				g.sent.Add(-1)
				rec.skip()
			}
		}
	}
}

// keepAliveTurn reports whether request i goes over the keep-alive pool:
// exactly floor(n*ratio) of the first n requests do.
func keepAliveTurn(i int, ratio float64) bool {
	if ratio <= 0 {
		return false
	}
	if ratio >= 1 {
		return true
	}
	return math.Floor(float64(i+1)*ratio) > math.Floor(float64(i)*ratio)
}

// reserve counts one request against MaxRequests.
func (g *Generator) reserve() bool {
	if g.sent.Add(1) > int64(g.cfg.MaxRequests) {
		g.sent.Add(-1)
		return false
	}
	return true
}

// slot is a persistent connection slot: nil conn until dialled, nil again
// after a failure.
type slot struct{ c *conn }

func (s *slot) close() {
	if s.c != nil {
		s.c.close()
		s.c = nil
	}
}

// keepAliveWorker sends the requests queued on kaq over one persistent
// connection until kaq is closed.
func (g *Generator) keepAliveWorker(reqCtx context.Context, kaq <-chan struct{}) {
	var s slot
	defer s.close()
	for range kaq {
		g.request(reqCtx, KeepAliveConn, &s)
	}
}

// idleWorker keeps one connection and sends a request every Idle.Every
// until schedCtx ends.
func (g *Generator) idleWorker(schedCtx, reqCtx context.Context, cancelStop context.CancelFunc) {
	var s slot
	defer s.close()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	next := time.Now()
	for {
		if wait := time.Until(next); wait > 0 {
			timer.Reset(wait)
			select {
			case <-schedCtx.Done():
				return
			case <-timer.C:
			}
		}
		if schedCtx.Err() != nil {
			return
		}
		if !g.reserve() {
			cancelStop()
			return
		}
		g.rec.Load().started()
		g.request(reqCtx, IdleConn, &s)
		next = next.Add(g.cfg.Idle.Every)
	}
}

// request sends one request, on s's connection when s is not nil (dialling
// it first if needed), else on a new connection, and records the outcome.
func (g *Generator) request(reqCtx context.Context, kind Kind, s *slot) {
	g.inFlight.Add(1)
	defer g.inFlight.Add(-1)
	start := time.Now()
	ctx, cancel := context.WithDeadline(reqCtx, start.Add(g.cfg.Timeout))
	defer cancel()

	var c *conn
	if s != nil {
		c = s.c
	}
	if c == nil {
		id := g.connID.Add(1)
		var err error
		c, err = g.cl.dial(ctx, id)
		if err != nil {
			g.finish(reqCtx, start, time.Now(), kind, id, answer{}, err)
			return
		}
		if s != nil {
			s.c = c
		}
	}
	ans, err := g.cl.exchange(ctx, c, kind == NewConn)
	end := ans.done
	if err != nil {
		end = time.Now()
	}
	if err != nil || !ans.reusable {
		c.close()
		if s != nil {
			s.c = nil
		}
	}
	g.finish(reqCtx, start, end, kind, c.id, ans, err)
}

// finish classifies and records one outcome.
func (g *Generator) finish(reqCtx context.Context, start, end time.Time, kind Kind, connID uint32, ans answer, err error) {
	var class Class
	var msg string
	switch {
	case err != nil:
		class = Classify(err)
		if reqCtx.Err() != nil && (class == Timeout || errors.Is(err, context.Canceled)) {
			class = Aborted
		}
		msg = err.Error()
	case ans.status < 200 || ans.status > 299:
		class = HTTPStatus
	case !g.expects(ans.server):
		class = WrongServer
	default:
		class = OK
	}
	g.rec.Load().add(start, end, kind, connID, class, ans.status, ans.server, msg)
	if class == OK && g.stopOnOK {
		g.stop()
	}
}

// snapshots calls OnSnapshot once per Interval until done is closed, then
// once more with Final set.
func (g *Generator) snapshots(rec *recorder, done <-chan struct{}) {
	tick := time.NewTicker(g.cfg.Interval)
	defer tick.Stop()
	for seq := 1; ; seq++ {
		final := false
		select {
		case <-tick.C:
		case <-done:
			final = true
		}
		iv, okTotal, failed := rec.takeInterval()
		now := time.Now()
		g.cfg.OnSnapshot(Snapshot{
			Seq: seq, At: now, Elapsed: now.Sub(rec.base), Final: final,
			OK: iv.ok, Failures: iv.failures, Sent: iv.sent, Skipped: iv.skipped,
			InFlight: g.InFlight(), TotalOK: okTotal, TotalFailed: failed,
		})
		if final {
			return
		}
	}
}
