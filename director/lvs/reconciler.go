package lvs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// OpError is the failure of one [Op]. [Kernel] returns its errors in this
// form, and the [Reconciler] wraps any other Client error in it.
type OpError struct {
	Op  Op
	Err error
}

// Error reads "ipvs: add destination 192.0.2.101:80 to TCP 192.0.2.100:80:
// <cause>".
func (e *OpError) Error() string { return "ipvs: " + e.Op.String() + ": " + e.Err.Error() }

// Unwrap returns the cause.
func (e *OpError) Unwrap() error { return e.Err }

// ErrSkipped is the cause of an operation the reconciler did not try
// because an operation it depends on failed (the destinations of a service
// that could not be added).
var ErrSkipped = errors.New("skipped: its service could not be added")

// Result says what one reconciliation did.
type Result struct {
	// Applied lists the operations that succeeded, in order.
	Applied []Op
	// Failed lists the operations that failed or were skipped. The next
	// reconciliation plans them again.
	Failed []*OpError
	// Found and FoundDests count the desired services the kernel already
	// had, and their destinations, before Apply (Apply only).
	Found, FoundDests int
	// Times says where the reconciliation's time went.
	Times Times
}

// Times says where one reconciliation's time went: validating the desired
// state and reading the kernel's, planning, and executing the operations
// (the kernel's writes).
type Times struct {
	Validate, Read, Plan, Write time.Duration
}

// Err joins the failures, or returns nil.
func (r Result) Err() error {
	if len(r.Failed) == 0 {
		return nil
	}
	errs := make([]error, len(r.Failed))
	for i, e := range r.Failed {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Options configure a [Reconciler].
type Options struct {
	// Logger receives one line per failed operation and a summary per
	// reconciliation (operations themselves at debug level). Nil discards.
	Logger *slog.Logger
	// RemoveOnStop makes [Reconciler.Shutdown] delete the owned services.
	// Off by default: the entries stay, so traffic keeps flowing while the
	// director restarts and the next run adopts them.
	RemoveOnStop bool
	// NoBatch sends operations one at a time even when the client is a
	// [Batcher].
	NoBatch bool
}

// Reconciler applies desired state to a [Client]. It remembers which
// services it owns: every service it was ever asked for, until it deleted
// it. Methods are safe for concurrent use and serialised.
type Reconciler struct {
	c            Client
	log          *slog.Logger
	removeOnStop bool
	noBatch      bool

	mu    sync.Mutex
	owned map[ServiceKey]bool
	// last is where the last Apply's time went.
	last Times
}

// NewReconciler returns a reconciler over c. It does no I/O.
func NewReconciler(c Client, opts Options) *Reconciler {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{c: c, log: log, removeOnStop: opts.RemoveOnStop, noBatch: opts.NoBatch, owned: make(map[ServiceKey]bool)}
}

// LastTimes says where the last [Reconciler.Apply]'s time went (also in
// its Result).
func (r *Reconciler) LastTimes() Times {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.last
}

// Own marks services as owned without desiring them: the next [Apply] that
// does not list them deletes them. Use it for the services of a previous
// configuration that a restarted director should clean up.
func (r *Reconciler) Own(keys ...ServiceKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range keys {
		r.owned[k] = true
	}
}

// Owned returns the owned service keys, sorted.
func (r *Reconciler) Owned() []ServiceKey {
	r.mu.Lock()
	defer r.mu.Unlock()
	keys := make([]ServiceKey, 0, len(r.owned))
	for k := range r.owned {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Apply makes the kernel match desired: one read of the whole table, a
// [Plan], then each operation in order. A failed operation does not stop the
// others; it is reported in the Result (and the returned error joins them)
// and planned again by the next call. An invalid desired state or a failed
// read changes nothing.
func (r *Reconciler) Apply(ctx context.Context, desired Desired) (Result, error) {
	start := time.Now()
	if err := desired.Validate(); err != nil {
		return Result{}, fmt.Errorf("ipvs: desired state: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var t Times
	t0 := time.Now()
	t.Validate = t0.Sub(start)
	actual, err := r.c.Services()
	if err != nil {
		return Result{}, fmt.Errorf("ipvs: read services: %w", err)
	}
	t1 := time.Now()
	t.Read = t1.Sub(t0)
	for k := range desired {
		r.owned[k] = true
	}
	present := make(map[ServiceKey]bool, len(actual))
	found, foundDests := 0, 0
	for _, a := range actual {
		k := a.Service.Key()
		present[k] = true
		if _, want := desired[k]; want {
			found++
			foundDests += len(a.Destinations)
		}
	}
	for k := range r.owned {
		if _, want := desired[k]; !want && !present[k] {
			delete(r.owned, k) // already gone
		}
	}
	ops := Plan(r.owned, desired, actual)
	t2 := time.Now()
	t.Plan = t2.Sub(t1)
	res := r.execute(ctx, ops)
	t.Write = time.Since(t2)
	res.Found, res.FoundDests, res.Times = found, foundDests, t
	r.last = t
	r.summarize("apply", start, len(desired), res)
	return res, res.Err()
}

// ApplyService reconciles one service, reading only that service from the
// kernel: the fast path when the caller knows that nothing else changed (a
// weight set to 0 for a drain, a destination removed). Other services are
// neither read nor touched.
func (r *Reconciler) ApplyService(ctx context.Context, spec ServiceSpec) (Result, error) {
	if err := spec.Validate(); err != nil {
		return Result{}, fmt.Errorf("ipvs: desired state: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	key := spec.Service.Key()
	actual, err := r.readOne(spec.Service)
	if err != nil {
		return Result{}, err
	}
	r.owned[key] = true
	res := r.execute(ctx, Plan(r.owned, Desired{key: spec}, actual))
	r.summarize("apply service", start, 1, res)
	return res, res.Err()
}

// RemoveService deletes one owned service, reading only that service. A
// service this reconciler does not own is left alone.
func (r *Reconciler) RemoveService(ctx context.Context, svc Service) (Result, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key := svc.Key()
	if !r.owned[key] {
		r.log.Info("ipvs: not removing a service this director does not own", "service", string(key))
		return Result{}, nil
	}
	start := time.Now()
	actual, err := r.readOne(svc)
	if err != nil {
		return Result{}, err
	}
	if len(actual) == 0 {
		delete(r.owned, key)
		return Result{}, nil
	}
	res := r.execute(ctx, Plan(r.owned, Desired{}, actual))
	r.summarize("remove service", start, 0, res)
	return res, res.Err()
}

// Diff reads the kernel and returns the operations Apply would execute,
// executing none.
func (r *Reconciler) Diff(desired Desired) ([]Op, error) {
	if err := desired.Validate(); err != nil {
		return nil, fmt.Errorf("ipvs: desired state: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	actual, err := r.c.Services()
	if err != nil {
		return nil, fmt.Errorf("ipvs: read services: %w", err)
	}
	owned := make(map[ServiceKey]bool, len(r.owned))
	for k := range r.owned {
		owned[k] = true
	}
	return Plan(owned, desired, actual), nil
}

// Shutdown is called when the director stops. With RemoveOnStop it deletes
// every owned service; otherwise it leaves the kernel table as it is, so
// that established connections and new ones keep flowing until the next run
// adopts the entries.
func (r *Reconciler) Shutdown(ctx context.Context) (Result, error) {
	if !r.removeOnStop {
		r.log.Info("ipvs: leaving services in place on stop")
		return Result{}, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	start := time.Now()
	actual, err := r.c.Services()
	if err != nil {
		return Result{}, fmt.Errorf("ipvs: read services: %w", err)
	}
	res := r.execute(ctx, Plan(r.owned, Desired{}, actual))
	r.summarize("remove on stop", start, 0, res)
	return res, res.Err()
}

func (r *Reconciler) readOne(svc Service) ([]ServiceState, error) {
	st, err := r.c.Service(svc)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("ipvs: read service %s: %w", svc.Key(), err)
	}
	return []ServiceState{st}, nil
}

// execute runs ops in order: in batches when the client is a [Batcher],
// else one by one. Called with r.mu held.
func (r *Reconciler) execute(ctx context.Context, ops []Op) Result {
	var errs []error
	if b, ok := r.c.(Batcher); ok && !r.noBatch && len(ops) > 1 {
		errs = b.Execute(ctx, ops)
	} else {
		errs = r.executeEach(ctx, ops)
	}
	// The service keys (strings) are made only where they are needed: a
	// start writes 11,000 operations at 1,000 × 10.
	res := Result{Applied: make([]Op, 0, len(ops))}
	var failedAdd map[ServiceKey]bool
	debug := r.log.Enabled(ctx, slog.LevelDebug)
	for i, op := range ops {
		err := errs[i]
		if op.Kind == AddDestination && len(failedAdd) > 0 && failedAdd[op.Service.Key()] {
			err = ErrSkipped // whatever the kernel said (ESRCH): the cause is the service
		}
		if err != nil {
			key := op.Service.Key()
			var oe *OpError
			if !errors.As(err, &oe) {
				oe = &OpError{Op: op, Err: err}
			}
			res.Failed = append(res.Failed, oe)
			if op.Kind == AddService {
				if failedAdd == nil {
					failedAdd = make(map[ServiceKey]bool)
				}
				failedAdd[key] = true
			}
			if !errors.Is(err, ErrSkipped) && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded) {
				r.log.Warn("ipvs: operation failed", "op", op.Kind.String(), "service", string(key), "rs", destKey(op), "err", oe.Err)
			}
			continue
		}
		res.Applied = append(res.Applied, op)
		if op.Kind == DelService {
			delete(r.owned, op.Service.Key())
		}
		if debug {
			r.log.Debug("ipvs: applied", "op", op.Kind.String(), "service", string(op.Service.Key()), "rs", destKey(op), "detail", op.Detail)
		}
	}
	if ctx.Err() != nil && len(res.Failed) > 0 {
		r.log.Warn("ipvs: reconciliation interrupted", "err", ctx.Err())
	}
	return res
}

// executeEach calls the client once per op, skipping the destinations of a
// service that could not be added and stopping when ctx is done.
func (r *Reconciler) executeEach(ctx context.Context, ops []Op) []error {
	errs := make([]error, len(ops))
	var failedAdd map[ServiceKey]bool // keys made only once an add failed
	for i, op := range ops {
		if err := ctx.Err(); err != nil {
			for j := i; j < len(ops); j++ {
				errs[j] = err
			}
			break
		}
		if op.Kind == AddDestination && len(failedAdd) > 0 && failedAdd[op.Service.Key()] {
			errs[i] = ErrSkipped
			continue
		}
		errs[i] = r.do(op)
		if errs[i] != nil && op.Kind == AddService {
			if failedAdd == nil {
				failedAdd = make(map[ServiceKey]bool)
			}
			failedAdd[op.Service.Key()] = true
		}
	}
	return errs
}

func destKey(op Op) string {
	if op.Kind == AddService || op.Kind == UpdateService || op.Kind == DelService {
		return ""
	}
	return op.Dest.Key()
}

func (r *Reconciler) do(op Op) error {
	switch op.Kind {
	case AddService:
		return r.c.NewService(op.Service)
	case UpdateService:
		return r.c.UpdateService(op.Service)
	case DelService:
		return r.c.DelService(op.Service)
	case AddDestination:
		return r.c.NewDestination(op.Service, op.Dest)
	case UpdateDestination:
		return r.c.UpdateDestination(op.Service, op.Dest)
	case DelDestination:
		return r.c.DelDestination(op.Service, op.Dest)
	}
	return fmt.Errorf("unknown operation kind %d", op.Kind)
}

func (r *Reconciler) summarize(what string, start time.Time, services int, res Result) {
	if len(res.Applied) == 0 && len(res.Failed) == 0 {
		r.log.Debug("ipvs: in sync", "what", what, "services", services, "took", time.Since(start))
		return
	}
	counts := make(map[OpKind]int)
	for _, op := range res.Applied {
		counts[op.Kind]++
	}
	lvl := slog.LevelInfo
	if len(res.Failed) > 0 {
		lvl = slog.LevelWarn
	}
	args := []any{"what", what, "services", services,
		"added_services", counts[AddService], "updated_services", counts[UpdateService], "deleted_services", counts[DelService],
		"added_rs", counts[AddDestination], "updated_rs", counts[UpdateDestination], "deleted_rs", counts[DelDestination],
		"failed", len(res.Failed)}
	if t := res.Times; t != (Times{}) {
		args = append(args, "validate", t.Validate, "read", t.Read, "plan", t.Plan, "write", t.Write)
	}
	r.log.Log(context.Background(), lvl, "ipvs: reconciled", append(args, "took", time.Since(start))...)
}
