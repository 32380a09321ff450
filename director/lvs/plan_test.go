package lvs

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var (
	vip    = netip.MustParseAddr("192.0.2.100")
	rs1    = netip.MustParseAddr("192.0.2.101")
	rs2    = netip.MustParseAddr("192.0.2.102")
	rs3    = netip.MustParseAddr("192.0.2.103")
	web    = Service{Protocol: TCP, Addr: vip, Port: 80, Scheduler: "lc"}
	webN   = web.normalized()
	https  = Service{Protocol: TCP, Addr: vip, Port: 443, Scheduler: "wlc", Flags: FlagPersistent, Timeout: 300}
	httpsN = https.normalized()
)

func dst(a netip.Addr, w int) Destination { return Destination{Addr: a, Port: 80, Weight: w} }

func ds(a netip.Addr, w int) DestinationState { return DestinationState{Destination: dst(a, w)} }

func desiredOf(specs ...ServiceSpec) Desired {
	d := Desired{}
	for _, s := range specs {
		d.Add(s)
	}
	return d
}

// kernelView is what the kernel reports for a service we created: defaults
// filled in and the internal hashed flag set.
func kernelView(s Service) Service {
	n := s.normalized()
	n.Flags |= flagHashed
	return n
}

func TestPlan(t *testing.T) {
	foreign := Service{Protocol: UDP, Addr: netip.MustParseAddr("198.51.100.1"), Port: 53, Scheduler: "rr"}
	tests := []struct {
		name    string
		owned   map[ServiceKey]bool
		desired Desired
		actual  []ServiceState
		want    []Op
	}{
		{
			name: "nothing to do",
		},
		{
			name:    "empty kernel: add service then destinations in address order",
			desired: desiredOf(ServiceSpec{Service: web, Destinations: []Destination{dst(rs2, 1), dst(rs1, 2)}}),
			want: []Op{
				{Kind: AddService, Service: webN},
				{Kind: AddDestination, Service: webN, Dest: dst(rs1, 2)},
				{Kind: AddDestination, Service: webN, Dest: dst(rs2, 1)},
			},
		},
		{
			name:    "adopt: the kernel already matches (defaults and hashed flag as reported)",
			desired: desiredOf(ServiceSpec{Service: Service{Protocol: TCP, Addr: vip, Port: 80}, Destinations: []Destination{dst(rs1, 1), dst(rs2, 1)}}),
			actual: []ServiceState{{
				Service:      Service{Protocol: TCP, Addr: vip, Port: 80, Scheduler: "wlc", Flags: flagHashed, Netmask: 32},
				Destinations: []DestinationState{{Destination: dst(rs2, 1), ActiveConns: 7}, ds(rs1, 1)},
			}},
		},
		{
			name:    "weight change is an in-place update",
			desired: desiredOf(ServiceSpec{Service: web, Destinations: []Destination{dst(rs1, 0), dst(rs2, 1)}}),
			actual:  []ServiceState{{Service: kernelView(web), Destinations: []DestinationState{ds(rs1, 1), ds(rs2, 1)}}},
			want: []Op{
				{Kind: UpdateDestination, Service: webN, Dest: dst(rs1, 0), Detail: "weight 1 -> 0"},
			},
		},
		{
			name:    "forwarding method and thresholds are compared",
			desired: desiredOf(ServiceSpec{Service: web, Destinations: []Destination{{Addr: rs1, Port: 80, Weight: 1, Forward: Tunnel, UpperThreshold: 100}}}),
			actual:  []ServiceState{{Service: kernelView(web), Destinations: []DestinationState{ds(rs1, 1)}}},
			want: []Op{
				{Kind: UpdateDestination, Service: webN, Dest: Destination{Addr: rs1, Port: 80, Weight: 1, Forward: Tunnel, UpperThreshold: 100}, Detail: "forward DR -> TUN, upper threshold 0 -> 100"},
			},
		},
		{
			name:    "a local destination the kernel reports as Local matches DR",
			desired: desiredOf(ServiceSpec{Service: web, Destinations: []Destination{dst(rs1, 1)}}),
			actual:  []ServiceState{{Service: kernelView(web), Destinations: []DestinationState{{Destination: Destination{Addr: rs1, Port: 80, Weight: 1, Forward: Local}}}}},
		},
		{
			name:    "scheduler, flags and timeout change is UpdateService, not delete and add",
			desired: desiredOf(ServiceSpec{Service: https, Destinations: []Destination{dst(rs1, 1)}}),
			actual:  []ServiceState{{Service: Service{Protocol: TCP, Addr: vip, Port: 443, Scheduler: "rr", Flags: flagHashed, Netmask: 24}, Destinations: []DestinationState{ds(rs1, 1)}}},
			want: []Op{
				{Kind: UpdateService, Service: httpsN, Detail: "scheduler rr -> wlc, flags 0x0 -> 0x1, timeout 0 -> 300, netmask /24 -> /32"},
			},
		},
		{
			name:    "new destinations are added before old ones are removed",
			desired: desiredOf(ServiceSpec{Service: web, Destinations: []Destination{dst(rs2, 1), dst(rs3, 5)}}),
			actual:  []ServiceState{{Service: kernelView(web), Destinations: []DestinationState{ds(rs1, 1), ds(rs2, 1)}}},
			want: []Op{
				{Kind: AddDestination, Service: webN, Dest: dst(rs3, 5)},
				{Kind: DelDestination, Service: webN, Dest: dst(rs1, 1)},
			},
		},
		{
			name:    "foreign services are never touched, owned ones out of config are deleted last",
			owned:   map[ServiceKey]bool{https.Key(): true},
			desired: desiredOf(ServiceSpec{Service: web, Destinations: []Destination{dst(rs1, 1)}}),
			actual: []ServiceState{
				{Service: kernelView(foreign), Destinations: []DestinationState{ds(rs3, 9)}},
				{Service: kernelView(https), Destinations: []DestinationState{ds(rs1, 1)}},
			},
			want: []Op{
				{Kind: AddService, Service: webN},
				{Kind: AddDestination, Service: webN, Dest: dst(rs1, 1)},
				{Kind: DelService, Service: httpsN},
			},
		},
		{
			name:    "a service with no destinations left keeps existing",
			desired: desiredOf(ServiceSpec{Service: web}),
			actual:  []ServiceState{{Service: kernelView(web), Destinations: []DestinationState{ds(rs1, 1)}}},
			want:    []Op{{Kind: DelDestination, Service: webN, Dest: dst(rs1, 1)}},
		},
		{
			name: "firewall-mark and IPv6 services",
			desired: desiredOf(
				ServiceSpec{Service: Service{FWMark: 7, Scheduler: "sh"}, Destinations: []Destination{{Addr: rs1, Weight: 1}}},
				ServiceSpec{Service: Service{Protocol: UDP, Addr: netip.MustParseAddr("2001:db8::1"), Port: 53}, Destinations: []Destination{{Addr: netip.MustParseAddr("2001:db8::2"), Port: 53, Weight: 1}}},
			),
			actual: []ServiceState{{Service: Service{FWMark: 7, Scheduler: "sh", Netmask: 32}, Destinations: []DestinationState{{Destination: Destination{Addr: rs1, Weight: 1}}}}},
			want: []Op{
				{Kind: AddService, Service: Service{Protocol: UDP, Addr: netip.MustParseAddr("2001:db8::1"), Port: 53, Scheduler: "wlc", Netmask: 128}},
				{Kind: AddDestination, Service: Service{Protocol: UDP, Addr: netip.MustParseAddr("2001:db8::1"), Port: 53, Scheduler: "wlc", Netmask: 128}, Dest: Destination{Addr: netip.MustParseAddr("2001:db8::2"), Port: 53, Weight: 1}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.desired == nil {
				tt.desired = Desired{}
			}
			if err := tt.desired.Validate(); err != nil {
				t.Fatalf("test desired state invalid: %v", err)
			}
			got := Plan(tt.owned, tt.desired, tt.actual)
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("Plan (-want +got)\n%s", diff)
			}
		})
	}
}

func TestOpString(t *testing.T) {
	tests := []struct {
		op   Op
		want string
	}{
		{Op{Kind: AddService, Service: web}, "add service TCP 192.0.2.100:80"},
		{Op{Kind: AddDestination, Service: web, Dest: dst(rs1, 1)}, "add destination 192.0.2.101:80 to TCP 192.0.2.100:80"},
		{Op{Kind: UpdateDestination, Service: web, Dest: dst(rs1, 0), Detail: "weight 1 -> 0"}, "update destination 192.0.2.101:80 in TCP 192.0.2.100:80 (weight 1 -> 0)"},
		{Op{Kind: DelDestination, Service: web, Dest: dst(rs1, 0)}, "delete destination 192.0.2.101:80 from TCP 192.0.2.100:80"},
		{Op{Kind: DelService, Service: Service{FWMark: 1}}, "delete service FWM 1"},
		{Op{Kind: DelService, Service: Service{FWMark: 1, Addr: netip.IPv6Unspecified()}}, "delete service FWM 1 IPv6"},
	}
	for _, tt := range tests {
		if got := tt.op.String(); got != tt.want {
			t.Errorf("String() = %q, want %q", got, tt.want)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		spec ServiceSpec
		want string
	}{
		{"ok", ServiceSpec{Service: web, Destinations: []Destination{dst(rs1, 1)}}, ""},
		{"no address", ServiceSpec{Service: Service{Protocol: TCP, Port: 80}}, "service TCP invalid AddrPort: no virtual address"},
		{"bad protocol", ServiceSpec{Service: Service{Protocol: 1, Addr: vip, Port: 80}}, "service proto-1 192.0.2.100:80: protocol 1 is not TCP, UDP or SCTP"},
		{"duplicate destination", ServiceSpec{Service: web, Destinations: []Destination{dst(rs1, 1), dst(rs1, 2)}}, "service TCP 192.0.2.100:80: destination 192.0.2.101:80 listed twice"},
		{"negative weight", ServiceSpec{Service: web, Destinations: []Destination{dst(rs1, -1)}}, "service TCP 192.0.2.100:80: destination 192.0.2.101:80: weight -1 out of range 0-65535"},
		{"family mismatch", ServiceSpec{Service: web, Destinations: []Destination{{Addr: netip.MustParseAddr("2001:db8::2"), Port: 80}}}, "service TCP 192.0.2.100:80: destination [2001:db8::2]:80: address family differs from the service's"},
		{"Local cannot be asked for", ServiceSpec{Service: web, Destinations: []Destination{{Addr: rs1, Port: 80, Forward: Local}}}, "service TCP 192.0.2.100:80: destination 192.0.2.101:80: forwarding method Local cannot be requested"},
		{"netmask", ServiceSpec{Service: Service{Protocol: TCP, Addr: vip, Port: 80, Netmask: 33}}, "service TCP 192.0.2.100:80: persistence netmask /33 out of range 0-32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.spec.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Errorf("Validate() = %q, want %q", got, tt.want)
			}
		})
	}
}

// bigDesired builds services × dests: TCP 10.x.y.z:80, each with dests
// real servers in 172.16.0.0/16.
func bigDesired(services, dests int) Desired {
	d := make(Desired, services)
	for i := range services {
		svc := Service{Protocol: TCP, Addr: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Port: 80, Scheduler: "wlc"}
		spec := ServiceSpec{Service: svc}
		for j := range dests {
			spec.Destinations = append(spec.Destinations, Destination{Addr: netip.AddrFrom4([4]byte{172, 16, byte(j >> 8), byte(j + 1)}), Port: 8080, Weight: 1})
		}
		d.Add(spec)
	}
	return d
}

func TestPlanBig(t *testing.T) {
	desired := bigDesired(1000, 10)
	ops := Plan(nil, desired, nil)
	if len(ops) != 1000+10000 {
		t.Fatalf("Plan from empty: %d ops, want 11000", len(ops))
	}
	for i, op := range ops {
		want := AddService
		if i >= 1000 {
			want = AddDestination
		}
		if op.Kind != want {
			t.Fatalf("op %d is %s, want %s", i, op.Kind, want)
		}
	}
	// What the kernel would report after applying it: nothing left to do.
	var actual []ServiceState
	for _, sp := range desired {
		st := ServiceState{Service: kernelView(sp.Service)}
		for _, d := range sp.Destinations {
			st.Destinations = append(st.Destinations, DestinationState{Destination: d, ActiveConns: 3})
		}
		actual = append(actual, st)
	}
	if ops := Plan(nil, desired, actual); len(ops) != 0 {
		t.Fatalf("Plan against an identical table: %d ops, want 0; first %v", len(ops), ops[0])
	}
	// One weight changed.
	k := Service{Protocol: TCP, Addr: netip.AddrFrom4([4]byte{10, 0, 1, 244}), Port: 80}.Key()
	sp := desired[k]
	sp.Destinations = append([]Destination(nil), sp.Destinations...)
	sp.Destinations[3].Weight = 0
	desired[k] = sp
	ops = Plan(nil, desired, actual)
	want := []string{fmt.Sprintf("update destination 172.16.0.4:8080 in %s (weight 1 -> 0)", k)}
	var got []string
	for _, op := range ops {
		got = append(got, op.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("one weight changed (-want +got)\n%s", diff)
	}
}

func BenchmarkPlan1000x10NoChange(b *testing.B) {
	desired := bigDesired(1000, 10)
	var actual []ServiceState
	for _, sp := range desired {
		st := ServiceState{Service: kernelView(sp.Service)}
		for _, d := range sp.Destinations {
			st.Destinations = append(st.Destinations, DestinationState{Destination: d})
		}
		actual = append(actual, st)
	}
	b.ResetTimer()
	for b.Loop() {
		if ops := Plan(nil, desired, actual); len(ops) != 0 {
			b.Fatal("unexpected ops")
		}
	}
}
