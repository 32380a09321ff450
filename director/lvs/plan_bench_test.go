package lvs

import (
	"context"
	"net/netip"
	"testing"
)

// BenchmarkPlan1000x10FromEmpty is the plan of a start on an empty table:
// 1,000 services × 10 destinations, 11,000 operations (the desired state
// validated first, as Apply does).
func BenchmarkPlan1000x10FromEmpty(b *testing.B) {
	desired := bigDesired(1000, 10)
	for b.Loop() {
		if err := desired.Validate(); err != nil {
			b.Fatal(err)
		}
		if ops := Plan(nil, desired, nil); len(ops) != 11000 {
			b.Fatalf("%d ops", len(ops))
		}
	}
}

// nopClient is a Client whose table is always empty and whose writes do
// nothing: what is left of Apply is the reconciler's own work.
type nopClient struct{ Client }

func (nopClient) Services() ([]ServiceState, error)         { return nil, nil }
func (nopClient) NewService(Service) error                  { return nil }
func (nopClient) NewDestination(Service, Destination) error { return nil }

// BenchmarkApply1000x10Own is Reconciler.Apply from an empty table with
// writes that cost nothing: validation, plan and the bookkeeping of
// 11,000 operations.
func BenchmarkApply1000x10Own(b *testing.B) {
	desired := bigDesired(1000, 10)
	for b.Loop() {
		r := NewReconciler(nopClient{}, Options{})
		res, err := r.Apply(context.Background(), desired)
		if err != nil || len(res.Applied) != 11000 {
			b.Fatalf("%d applied, %v", len(res.Applied), err)
		}
	}
}

// TestValidateDuplicateLongList: a duplicate is found in a list long
// enough to be checked through a map (ServiceSpec.Validate), as in a
// short one (TestValidate).
func TestValidateDuplicateLongList(t *testing.T) {
	spec := ServiceSpec{Service: web}
	for i := range 40 {
		spec.Destinations = append(spec.Destinations, dst(netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), 1))
	}
	if err := spec.Validate(); err != nil {
		t.Fatalf("40 distinct destinations: %v", err)
	}
	spec.Destinations = append(spec.Destinations, dst(netip.AddrFrom4([4]byte{192, 0, 2, 30}), 2))
	want := "service TCP 192.0.2.100:80: destination 192.0.2.30:80 listed twice"
	if err := spec.Validate(); err == nil || err.Error() != want {
		t.Errorf("Validate() = %v, want %q", err, want)
	}
}
