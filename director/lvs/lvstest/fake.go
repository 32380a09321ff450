// Package lvstest provides a recording, in-memory stand-in for the kernel's
// IPVS table, for tests of code that uses an lvs.Client.
package lvstest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/tandemlb/tandem/director/lvs"
)

// Call is one recorded mutation.
type Call struct {
	Method  string // NewService, UpdateService, DelService, NewDestination, UpdateDestination, DelDestination
	Service lvs.Service
	Dest    lvs.Destination // zero for service calls
}

// String reads "NewDestination TCP 192.0.2.100:80 192.0.2.101:80 weight=1 DR".
func (c Call) String() string {
	if strings.HasSuffix(c.Method, "Service") {
		if c.Method == "DelService" {
			return c.Method + " " + string(c.Service.Key())
		}
		return fmt.Sprintf("%s %s sched=%s flags=%#x timeout=%d", c.Method, c.Service.Key(), c.Service.Scheduler, uint32(c.Service.Flags), c.Service.Timeout)
	}
	if c.Method == "DelDestination" {
		return fmt.Sprintf("%s %s %s", c.Method, c.Service.Key(), c.Dest.Key())
	}
	return fmt.Sprintf("%s %s %s weight=%d %s", c.Method, c.Service.Key(), c.Dest.Key(), c.Dest.Weight, c.Dest.Forward)
}

// Fake is an in-memory IPVS table that follows the kernel's rules closely
// enough for reconciler tests: adding what exists fails with EEXIST,
// touching what does not exist with ESRCH (service) or ENOENT (destination),
// and deleting a service deletes its destinations. It records every
// mutation and every read. The zero value is an empty table.
type Fake struct {
	mu    sync.Mutex
	svcs  map[lvs.ServiceKey]*lvs.ServiceState
	calls []Call
	full  int // Services calls
	one   int // Service calls

	// FailOn, when set, is asked before each mutation; a non-nil error is
	// returned instead of performing it (and the call is still recorded).
	FailOn func(c Call) error
}

var _ lvs.Client = (*Fake)(nil)

// Load puts services into the table as they are, without recording calls:
// the state a previous run or another program left.
func (f *Fake) Load(states ...lvs.ServiceState) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	for _, st := range states {
		st.Destinations = slices.Clone(st.Destinations)
		f.svcs[st.Service.Key()] = &st
	}
}

// SetConns sets the connection counters of a destination.
func (f *Fake) SetConns(svc lvs.ServiceKey, dest string, active, inactive int) error {
	return f.editDest(svc, dest, func(d *lvs.DestinationState) { d.ActiveConns, d.InactiveConns = active, inactive })
}

// SetServiceStats sets the traffic counters of a service.
func (f *Fake) SetServiceStats(svc lvs.ServiceKey, s lvs.Stats) error {
	return f.editService(svc, func(st *lvs.ServiceState) error { st.Stats = s; return nil })
}

// SetDestStats sets the traffic counters of a destination ("addr:port").
func (f *Fake) SetDestStats(svc lvs.ServiceKey, dest string, s lvs.Stats) error {
	return f.editDest(svc, dest, func(d *lvs.DestinationState) { d.Stats = s })
}

// editService applies edit to service svc in the table, without recording
// a call.
func (f *Fake) editService(svc lvs.ServiceKey, edit func(*lvs.ServiceState) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	st, ok := f.svcs[svc]
	if !ok {
		return fmt.Errorf("no service %s", svc)
	}
	return edit(st)
}

// editDest applies edit to destination dest ("addr:port") of service svc.
func (f *Fake) editDest(svc lvs.ServiceKey, dest string, edit func(*lvs.DestinationState)) error {
	return f.editService(svc, func(st *lvs.ServiceState) error {
		for i := range st.Destinations {
			if st.Destinations[i].Key() == dest {
				edit(&st.Destinations[i])
				return nil
			}
		}
		return fmt.Errorf("no destination %s in %s", dest, svc)
	})
}

// Calls returns the recorded mutations, oldest first.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// CallStrings returns the recorded mutations as strings (see Call.String).
func (f *Fake) CallStrings() []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.String())
	}
	return out
}

// Reads returns how many times Services (the whole table) and Service (one
// service) were called.
func (f *Fake) Reads() (full, one int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.full, f.one
}

// Reset forgets recorded calls and reads, keeping the table.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
	f.full, f.one = 0, 0
}

// Services implements lvs.Client; services are sorted by key, destinations
// by address and port.
func (f *Fake) Services() ([]lvs.ServiceState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	f.full++
	keys := make([]lvs.ServiceKey, 0, len(f.svcs))
	for k := range f.svcs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]lvs.ServiceState, 0, len(keys))
	for _, k := range keys {
		out = append(out, f.copyOf(f.svcs[k]))
	}
	return out, nil
}

// Service implements lvs.Client.
func (f *Fake) Service(s lvs.Service) (lvs.ServiceState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	f.one++
	st, ok := f.svcs[s.Key()]
	if !ok {
		return lvs.ServiceState{}, fmt.Errorf("service %s: %w", s.Key(), lvs.ErrNotFound)
	}
	return f.copyOf(st), nil
}

func (f *Fake) copyOf(st *lvs.ServiceState) lvs.ServiceState {
	c := lvs.ServiceState{Service: st.Service, Destinations: slices.Clone(st.Destinations), Stats: st.Stats}
	slices.SortFunc(c.Destinations, func(a, b lvs.DestinationState) int {
		if x := a.Addr.Compare(b.Addr); x != 0 {
			return x
		}
		return int(a.Port) - int(b.Port)
	})
	return c
}

// NewService implements lvs.Client.
func (f *Fake) NewService(s lvs.Service) error {
	return f.mutate(Call{Method: "NewService", Service: s}, func() error {
		if _, ok := f.svcs[s.Key()]; ok {
			return syscall.EEXIST
		}
		f.svcs[s.Key()] = &lvs.ServiceState{Service: s}
		return nil
	})
}

// UpdateService implements lvs.Client.
func (f *Fake) UpdateService(s lvs.Service) error {
	return f.mutate(Call{Method: "UpdateService", Service: s}, func() error {
		st, ok := f.svcs[s.Key()]
		if !ok {
			return syscall.ESRCH
		}
		st.Service = s
		return nil
	})
}

// DelService implements lvs.Client.
func (f *Fake) DelService(s lvs.Service) error {
	return f.mutate(Call{Method: "DelService", Service: s}, func() error {
		if _, ok := f.svcs[s.Key()]; !ok {
			return syscall.ESRCH
		}
		delete(f.svcs, s.Key())
		return nil
	})
}

// NewDestination implements lvs.Client.
func (f *Fake) NewDestination(s lvs.Service, d lvs.Destination) error {
	return f.mutate(Call{Method: "NewDestination", Service: s, Dest: d}, func() error {
		st, ok := f.svcs[s.Key()]
		if !ok {
			return syscall.ESRCH
		}
		if i := find(st, d); i >= 0 {
			return syscall.EEXIST
		}
		st.Destinations = append(st.Destinations, lvs.DestinationState{Destination: d})
		return nil
	})
}

// UpdateDestination implements lvs.Client.
func (f *Fake) UpdateDestination(s lvs.Service, d lvs.Destination) error {
	return f.mutate(Call{Method: "UpdateDestination", Service: s, Dest: d}, func() error {
		st, ok := f.svcs[s.Key()]
		if !ok {
			return syscall.ESRCH
		}
		i := find(st, d)
		if i < 0 {
			return syscall.ENOENT
		}
		st.Destinations[i].Destination = d
		return nil
	})
}

// DelDestination implements lvs.Client.
func (f *Fake) DelDestination(s lvs.Service, d lvs.Destination) error {
	return f.mutate(Call{Method: "DelDestination", Service: s, Dest: d}, func() error {
		st, ok := f.svcs[s.Key()]
		if !ok {
			return syscall.ESRCH
		}
		i := find(st, d)
		if i < 0 {
			return syscall.ENOENT
		}
		st.Destinations = slices.Delete(st.Destinations, i, i+1)
		return nil
	})
}

func find(st *lvs.ServiceState, d lvs.Destination) int {
	return slices.IndexFunc(st.Destinations, func(x lvs.DestinationState) bool { return x.Key() == d.Key() })
}

func (f *Fake) mutate(c Call, apply func() error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.init()
	f.calls = append(f.calls, c)
	if f.FailOn != nil {
		if err := f.FailOn(c); err != nil {
			return err
		}
	}
	return apply()
}

func (f *Fake) init() {
	if f.svcs == nil {
		f.svcs = make(map[lvs.ServiceKey]*lvs.ServiceState)
	}
}

// Batched wraps a Fake as an lvs.Batcher: Execute performs the operations
// one by one on the Fake, trying every one as the kernel does, and records
// the size of each batch.
type Batched struct {
	*Fake
	mu      sync.Mutex
	batches []int
}

var _ lvs.Batcher = (*Batched)(nil)

// Execute implements lvs.Batcher.
func (b *Batched) Execute(ctx context.Context, ops []lvs.Op) []error {
	b.mu.Lock()
	b.batches = append(b.batches, len(ops))
	b.mu.Unlock()
	errs := make([]error, len(ops))
	for i, op := range ops {
		if err := ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		switch op.Kind {
		case lvs.AddService:
			errs[i] = b.NewService(op.Service)
		case lvs.UpdateService:
			errs[i] = b.UpdateService(op.Service)
		case lvs.DelService:
			errs[i] = b.DelService(op.Service)
		case lvs.AddDestination:
			errs[i] = b.NewDestination(op.Service, op.Dest)
		case lvs.UpdateDestination:
			errs[i] = b.UpdateDestination(op.Service, op.Dest)
		case lvs.DelDestination:
			errs[i] = b.DelDestination(op.Service, op.Dest)
		}
	}
	return errs
}

// Batches returns the size of every batch executed.
func (b *Batched) Batches() []int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.batches)
}
