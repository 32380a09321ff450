package lvs

import (
	"net/netip"
	"regexp"
	"testing"
)

func TestFingerprint(t *testing.T) {
	mh := Service{Protocol: TCP, Addr: vip, Port: 80, Scheduler: "mh", Flags: FlagSched1 | FlagSched2}
	dests := []Destination{dst(rs1, 1), dst(rs2, 2), dst(rs3, 1)}
	base := Fingerprint(mh, dests)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(base) {
		t.Fatalf("fingerprint %q is not 16 hex digits", base)
	}
	same := []struct {
		name  string
		svc   Service
		dests []Destination
	}{
		{"destinations in another order", mh, []Destination{dst(rs3, 1), dst(rs1, 1), dst(rs2, 2)}},
		{"the kernel's view: hashed flag, full netmask", kernelView(mh), dests},
		{"IPv4-mapped addresses", mh, []Destination{
			{Addr: netip.AddrFrom16(rs1.As16()), Port: 80, Weight: 1}, dst(rs2, 2), dst(rs3, 1)}},
		{"another forwarding method and thresholds", mh, []Destination{
			{Addr: rs1, Port: 80, Weight: 1, Forward: NAT, UpperThreshold: 10}, dst(rs2, 2), dst(rs3, 1)}},
	}
	for _, tt := range same {
		if got := Fingerprint(tt.svc, tt.dests); got != base {
			t.Errorf("%s: %s, want %s", tt.name, got, base)
		}
	}
	noPort := mh
	noPort.Flags = FlagSched1
	sh := mh
	sh.Scheduler = "sh"
	differ := []struct {
		name  string
		svc   Service
		dests []Destination
	}{
		{"another scheduler", sh, dests},
		{"without mh-port", noPort, dests},
		{"a weight changed", mh, []Destination{dst(rs1, 1), dst(rs2, 1), dst(rs3, 1)}},
		// ip_vs_mh.c: a destination at weight 0 keeps its table slots
		// (last_weight), one deleted does not.
		{"a destination at weight 0", mh, []Destination{dst(rs1, 1), dst(rs2, 2), dst(rs3, 0)}},
		{"a destination deleted", mh, []Destination{dst(rs1, 1), dst(rs2, 2)}},
		{"another port", mh, []Destination{dst(rs1, 1), dst(rs2, 2), {Addr: rs3, Port: 81, Weight: 1}}},
	}
	seen := map[string]string{base: "base"}
	for _, tt := range differ {
		got := Fingerprint(tt.svc, tt.dests)
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: %s, the same as %s", tt.name, got, prev)
		}
		seen[got] = tt.name
	}
	spec := ServiceSpec{Service: mh, Destinations: dests}
	st := ServiceState{Service: kernelView(mh), Destinations: []DestinationState{ds(rs3, 1), {Destination: dst(rs2, 2), ActiveConns: 5}, ds(rs1, 1)}}
	if spec.Fingerprint() != base || StateFingerprint(st) != base {
		t.Errorf("spec %s, kernel state %s, want both %s", spec.Fingerprint(), StateFingerprint(st), base)
	}
}

func BenchmarkFingerprint10(b *testing.B) {
	mh := Service{Protocol: TCP, Addr: vip, Port: 80, Scheduler: "mh", Flags: FlagSched1 | FlagSched2}
	dests := make([]Destination, 10)
	for i := range dests {
		dests[i] = Destination{Addr: netip.AddrFrom4([4]byte{192, 0, 2, byte(200 - i)}), Port: 80, Weight: 1}
	}
	b.ReportAllocs()
	for b.Loop() {
		Fingerprint(mh, dests)
	}
}
