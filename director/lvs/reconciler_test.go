package lvs_test

import (
	"context"
	"errors"
	"net/netip"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/lvs/lvstest"
)

var (
	vip = netip.MustParseAddr("192.0.2.100")
	rs1 = netip.MustParseAddr("192.0.2.101")
	rs2 = netip.MustParseAddr("192.0.2.102")
	web = lvs.Service{Protocol: lvs.TCP, Addr: vip, Port: 80, Scheduler: "lc"}
	ssh = lvs.Service{Protocol: lvs.TCP, Addr: vip, Port: 22, Scheduler: "rr"}
	dns = lvs.Service{Protocol: lvs.UDP, Addr: netip.MustParseAddr("198.51.100.53"), Port: 53, Scheduler: "rr"}
)

func d(a netip.Addr, w int) lvs.Destination { return lvs.Destination{Addr: a, Port: 80, Weight: w} }

func desired(specs ...lvs.ServiceSpec) lvs.Desired {
	out := lvs.Desired{}
	for _, s := range specs {
		out.Add(s)
	}
	return out
}

func calls(t *testing.T, f *lvstest.Fake, want []string) {
	t.Helper()
	if diff := cmp.Diff(want, f.CallStrings()); diff != "" {
		t.Errorf("kernel calls (-want +got)\n%s", diff)
	}
	f.Reset()
}

func TestApplyThenAdopt(t *testing.T) {
	ctx := context.Background()
	f := &lvstest.Fake{}
	want := desired(lvs.ServiceSpec{Service: web, Destinations: []lvs.Destination{d(rs1, 1), d(rs2, 2)}})

	r := lvs.NewReconciler(f, lvs.Options{})
	res, err := r.Apply(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Applied) != 3 {
		t.Errorf("applied %d ops, want 3", len(res.Applied))
	}
	calls(t, f, []string{
		"NewService TCP 192.0.2.100:80 sched=lc flags=0x0 timeout=0",
		"NewDestination TCP 192.0.2.100:80 192.0.2.101:80 weight=1 DR",
		"NewDestination TCP 192.0.2.100:80 192.0.2.102:80 weight=2 DR",
	})

	// Same reconciler, same state: one read, nothing written.
	if res, err := r.Apply(ctx, want); err != nil || len(res.Applied) != 0 {
		t.Fatalf("second Apply: %+v, %v", res, err)
	}
	calls(t, f, nil)

	// A restarted director (a new reconciler) adopts the table as it is.
	if res, err := lvs.NewReconciler(f, lvs.Options{}).Apply(ctx, want); err != nil || len(res.Applied) != 0 {
		t.Fatalf("Apply after restart: %+v, %v", res, err)
	}
	calls(t, f, nil)
}

func TestApplyLeavesForeignServices(t *testing.T) {
	f := &lvstest.Fake{}
	f.Load(lvs.ServiceState{Service: dns, Destinations: []lvs.DestinationState{{Destination: lvs.Destination{Addr: rs1, Port: 53, Weight: 1}}}})
	r := lvs.NewReconciler(f, lvs.Options{RemoveOnStop: true})
	ctx := context.Background()
	if _, err := r.Apply(ctx, desired(lvs.ServiceSpec{Service: web, Destinations: []lvs.Destination{d(rs1, 1)}})); err != nil {
		t.Fatal(err)
	}
	// An empty config removes what we own, not what we don't.
	if _, err := r.Apply(ctx, lvs.Desired{}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	calls(t, f, []string{
		"NewService TCP 192.0.2.100:80 sched=lc flags=0x0 timeout=0",
		"NewDestination TCP 192.0.2.100:80 192.0.2.101:80 weight=1 DR",
		"DelService TCP 192.0.2.100:80",
	})
	all, _ := f.Services()
	if len(all) != 1 || all[0].Service.Key() != dns.Key() {
		t.Errorf("kernel table after: %+v, want only the foreign DNS service", all)
	}
	if got := r.Owned(); len(got) != 0 {
		t.Errorf("still owns %v", got)
	}
}

func TestPartialFailureIsRetried(t *testing.T) {
	ctx := context.Background()
	f := &lvstest.Fake{}
	boom := syscall.EINVAL
	f.FailOn = func(c lvstest.Call) error {
		if c.Method == "NewDestination" && c.Dest.Addr == rs1 {
			return boom
		}
		if c.Method == "NewService" && c.Service.Key() == ssh.Key() {
			return syscall.ENOENT
		}
		return nil
	}
	r := lvs.NewReconciler(f, lvs.Options{})
	want := desired(
		lvs.ServiceSpec{Service: web, Destinations: []lvs.Destination{d(rs1, 1), d(rs2, 1)}},
		lvs.ServiceSpec{Service: ssh, Destinations: []lvs.Destination{{Addr: rs1, Port: 22, Weight: 1}}},
	)
	res, err := r.Apply(ctx, want)
	if err == nil {
		t.Fatal("Apply reported no error")
	}
	var got []string
	for _, fe := range res.Failed {
		got = append(got, fe.Error())
	}
	wantErrs := []string{
		"ipvs: add service TCP 192.0.2.100:22: no such file or directory",
		"ipvs: add destination 192.0.2.101:22 to TCP 192.0.2.100:22: skipped: its service could not be added",
		"ipvs: add destination 192.0.2.101:80 to TCP 192.0.2.100:80: invalid argument",
	}
	if diff := cmp.Diff(wantErrs, got); diff != "" {
		t.Errorf("failures (-want +got)\n%s", diff)
	}
	if !errors.Is(err, syscall.EINVAL) || !errors.Is(err, lvs.ErrSkipped) {
		t.Errorf("joined error %v does not wrap the causes", err)
	}
	if len(res.Applied) != 2 {
		t.Errorf("applied %v, want web and its second destination", res.Applied)
	}
	f.Reset()

	// The kernel recovers; the next Apply does exactly what is missing.
	f.FailOn = nil
	if _, err := r.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	calls(t, f, []string{
		"NewService TCP 192.0.2.100:22 sched=rr flags=0x0 timeout=0",
		"NewDestination TCP 192.0.2.100:22 192.0.2.101:22 weight=1 DR",
		"NewDestination TCP 192.0.2.100:80 192.0.2.101:80 weight=1 DR",
	})
}

func TestApplyServiceReadsOneService(t *testing.T) {
	ctx := context.Background()
	f := &lvstest.Fake{}
	r := lvs.NewReconciler(f, lvs.Options{})
	spec := lvs.ServiceSpec{Service: web, Destinations: []lvs.Destination{d(rs1, 1), d(rs2, 1)}}
	if _, err := r.Apply(ctx, desired(spec, lvs.ServiceSpec{Service: ssh})); err != nil {
		t.Fatal(err)
	}
	f.Reset()

	spec.Destinations[0].Weight = 0 // drain rs1
	res, err := r.ApplyService(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"update destination 192.0.2.101:80 in TCP 192.0.2.100:80 (weight 1 -> 0)"}, opStrings(res.Applied)); diff != "" {
		t.Errorf("applied (-want +got)\n%s", diff)
	}
	if full, one := f.Reads(); full != 0 || one != 1 {
		t.Errorf("reads: %d full, %d single; want 0 and 1", full, one)
	}
	calls(t, f, []string{"UpdateDestination TCP 192.0.2.100:80 192.0.2.101:80 weight=0 DR"})

	// Removing the drained destination, then the service.
	spec.Destinations = spec.Destinations[1:]
	if _, err := r.ApplyService(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RemoveService(ctx, ssh); err != nil {
		t.Fatal(err)
	}
	if _, err := r.RemoveService(ctx, dns); err != nil { // not ours: left alone
		t.Fatal(err)
	}
	calls(t, f, []string{
		"DelDestination TCP 192.0.2.100:80 192.0.2.101:80",
		"DelService TCP 192.0.2.100:22",
	})
}

func TestOwnDeletesLeftovers(t *testing.T) {
	f := &lvstest.Fake{}
	f.Load(lvs.ServiceState{Service: ssh}, lvs.ServiceState{Service: dns})
	r := lvs.NewReconciler(f, lvs.Options{})
	r.Own(ssh.Key()) // the previous configuration had it
	if _, err := r.Apply(context.Background(), lvs.Desired{}); err != nil {
		t.Fatal(err)
	}
	calls(t, f, []string{"DelService TCP 192.0.2.100:22"})
}

func TestShutdownKeepsEntriesByDefault(t *testing.T) {
	f := &lvstest.Fake{}
	r := lvs.NewReconciler(f, lvs.Options{})
	ctx := context.Background()
	if _, err := r.Apply(ctx, desired(lvs.ServiceSpec{Service: web})); err != nil {
		t.Fatal(err)
	}
	f.Reset()
	if _, err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	calls(t, f, nil)
}

func TestApplyRejectsInvalidAndStopsOnCancel(t *testing.T) {
	f := &lvstest.Fake{}
	r := lvs.NewReconciler(f, lvs.Options{})
	bad := desired(lvs.ServiceSpec{Service: web, Destinations: []lvs.Destination{d(rs1, -5)}})
	if _, err := r.Apply(context.Background(), bad); err == nil {
		t.Error("invalid desired state accepted")
	}
	if full, _ := f.Reads(); full != 0 || len(f.Calls()) != 0 {
		t.Error("invalid desired state touched the kernel")
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := r.Apply(ctx, desired(lvs.ServiceSpec{Service: web, Destinations: []lvs.Destination{d(rs1, 1)}}))
	if !errors.Is(err, context.Canceled) || len(res.Failed) != 2 || len(f.Calls()) != 0 {
		t.Errorf("cancelled Apply: %d failed, %d calls, err %v", len(res.Failed), len(f.Calls()), err)
	}
}

func TestDiffExecutesNothing(t *testing.T) {
	f := &lvstest.Fake{}
	r := lvs.NewReconciler(f, lvs.Options{})
	ops, err := r.Diff(desired(lvs.ServiceSpec{Service: web, Destinations: []lvs.Destination{d(rs1, 1)}}))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"add service TCP 192.0.2.100:80", "add destination 192.0.2.101:80 to TCP 192.0.2.100:80"}, opStrings(ops)); diff != "" {
		t.Errorf("Diff (-want +got)\n%s", diff)
	}
	if len(f.Calls()) != 0 {
		t.Error("Diff wrote to the kernel")
	}
}

func opStrings(ops []lvs.Op) []string {
	var out []string
	for _, op := range ops {
		out = append(out, op.String())
	}
	return out
}

func TestBatchPath(t *testing.T) {
	ctx := context.Background()
	f := &lvstest.Fake{}
	b := &lvstest.Batched{Fake: f}
	f.FailOn = func(c lvstest.Call) error {
		if c.Method == "NewService" && c.Service.Key() == ssh.Key() {
			return syscall.ENOENT
		}
		return nil
	}
	r := lvs.NewReconciler(b, lvs.Options{})
	want := desired(
		lvs.ServiceSpec{Service: web, Destinations: []lvs.Destination{d(rs1, 1), d(rs2, 1)}},
		lvs.ServiceSpec{Service: ssh, Destinations: []lvs.Destination{{Addr: rs1, Port: 22, Weight: 1}}},
	)
	res, err := r.Apply(ctx, want)
	if err == nil {
		t.Fatal("no error")
	}
	var got []string
	for _, fe := range res.Failed {
		got = append(got, fe.Error())
	}
	// The kernel tries the destination anyway (ESRCH); the reconciler
	// reports it as skipped because of its service.
	wantErrs := []string{
		"ipvs: add service TCP 192.0.2.100:22: no such file or directory",
		"ipvs: add destination 192.0.2.101:22 to TCP 192.0.2.100:22: skipped: its service could not be added",
	}
	if diff := cmp.Diff(wantErrs, got); diff != "" {
		t.Errorf("failures (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]int{5}, b.Batches()); diff != "" {
		t.Errorf("batches (-want +got)\n%s", diff)
	}
	f.FailOn = nil
	if _, err := r.Apply(ctx, want); err != nil {
		t.Fatal(err)
	}
	// A single operation does not need a batch.
	if diff := cmp.Diff([]int{5, 2}, b.Batches()); diff != "" {
		t.Errorf("batches (-want +got)\n%s", diff)
	}
	if res, err := r.Apply(ctx, want); err != nil || len(res.Applied) != 0 {
		t.Fatalf("in sync: %+v %v", res, err)
	}
	spec := want[web.Key()]
	spec.Destinations = []lvs.Destination{d(rs1, 0), d(rs2, 1)}
	if _, err := r.ApplyService(ctx, spec); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]int{5, 2}, b.Batches()); diff != "" {
		t.Errorf("batches after a one-op ApplyService (-want +got)\n%s", diff)
	}

	// NoBatch goes one by one.
	nb := lvs.NewReconciler(b, lvs.Options{NoBatch: true})
	if _, err := nb.Apply(ctx, lvs.Desired{}); err != nil {
		t.Fatal(err)
	}
	nb.Own(web.Key(), ssh.Key())
	if res, err := nb.Apply(ctx, lvs.Desired{}); err != nil || len(res.Applied) != 2 {
		t.Fatalf("delete: %+v, %v", res, err)
	}
	if diff := cmp.Diff([]int{5, 2}, b.Batches()); diff != "" {
		t.Errorf("batches with NoBatch (-want +got)\n%s", diff)
	}
}
