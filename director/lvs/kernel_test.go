package lvs

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/moby/ipvs"
)

func TestMobyServiceRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		in   Service
		want *ipvs.Service // the fields we set
	}{
		{
			name: "IPv4 defaults: wlc and a full netmask (0xffffffff, the moby/ipvs trap)",
			in:   Service{Protocol: TCP, Addr: vip, Port: 80},
			want: &ipvs.Service{Address: net.IP(vip.AsSlice()), Protocol: 6, Port: 80, SchedName: "wlc", AddressFamily: syscall.AF_INET, Netmask: 0xffffffff},
		},
		{
			name: "persistent /24 granularity",
			in:   Service{Protocol: UDP, Addr: vip, Port: 53, Scheduler: "sh", Flags: FlagPersistent | FlagSched1, Timeout: 360, Netmask: 24},
			want: &ipvs.Service{Address: net.IP(vip.AsSlice()), Protocol: 17, Port: 53, SchedName: "sh", Flags: 0x9, Timeout: 360, AddressFamily: syscall.AF_INET,
				Netmask: binary.NativeEndian.Uint32([]byte{255, 255, 255, 0})},
		},
		{
			name: "IPv6 takes the prefix length as is",
			in:   Service{Protocol: TCP, Addr: netip.MustParseAddr("2001:db8::1"), Port: 443, Netmask: 64},
			want: &ipvs.Service{Address: net.IP(netip.MustParseAddr("2001:db8::1").AsSlice()), Protocol: 6, Port: 443, SchedName: "wlc", AddressFamily: syscall.AF_INET6, Netmask: 64},
		},
		{
			name: "firewall mark: no address, protocol or port",
			in:   Service{FWMark: 42, Protocol: TCP, Port: 80, Scheduler: "rr"},
			want: &ipvs.Service{FWMark: 42, SchedName: "rr", AddressFamily: syscall.AF_INET, Netmask: 0xffffffff},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := toMobyService(tt.in)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("toMobyService (-want +got)\n%s", diff)
			}
			// The kernel reports the hashed flag; parsing drops it.
			got.Flags |= 0x2
			back, err := fromMobyService(got)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.in.normalized(), back, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("round trip (-want +got)\n%s", diff)
			}
		})
	}
}

func TestMobyDestination(t *testing.T) {
	for _, f := range []struct {
		fwd   Forward
		flags uint32
	}{{DR, ipvs.ConnectionFlagDirectRoute}, {NAT, ipvs.ConnectionFlagMasq}, {Tunnel, ipvs.ConnectionFlagTunnel}} {
		d := Destination{Addr: rs1, Port: 8080, Weight: 7, Forward: f.fwd, UpperThreshold: 10, LowerThreshold: 5}
		md := toMobyDest(d)
		if md.ConnectionFlags != f.flags {
			t.Errorf("%s: ConnectionFlags %d, want %d", f.fwd, md.ConnectionFlags, f.flags)
		}
		md.ActiveConnections, md.InactiveConnections = 3, 4
		md.Stats = ipvs.DstStats{Connections: 1, PacketsIn: 2, PacketsOut: 3, BytesIn: 1 << 40, BytesOut: 5, CPS: 6, PPSIn: 7, PPSOut: 8, BPSIn: 9, BPSOut: 10}
		back, err := fromMobyDest(md)
		if err != nil {
			t.Fatal(err)
		}
		want := DestinationState{Destination: d, ActiveConns: 3, InactiveConns: 4,
			Stats: Stats{Conns: 1, PktsIn: 2, PktsOut: 3, BytesIn: 1 << 40, BytesOut: 5, CPS: 6, PPSIn: 7, PPSOut: 8, BPSIn: 9, BPSOut: 10}}
		if diff := cmp.Diff(want, back, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
			t.Errorf("%s round trip (-want +got)\n%s", f.fwd, diff)
		}
	}
	if got := forwardFromConnFlags(ipvs.ConnectionFlagLocalNode); got != Local {
		t.Errorf("local node flags read as %s", got)
	}
}

func TestV4Netmask(t *testing.T) {
	for p := 0; p <= 32; p++ {
		if got := v4Prefix(v4Netmask(p)); got != p {
			t.Errorf("prefix %d round-trips to %d", p, got)
		}
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], v4Netmask(20))
	if b != [4]byte{255, 255, 240, 0} {
		t.Errorf("/20 goes on the wire as %v", b)
	}
}

func TestDiagnoseNoIPVS(t *testing.T) {
	const rel = "6.1.0-99-amd64"
	withModule := t.TempDir()
	dir := filepath.Join(withModule, "lib/modules", rel, "kernel/net/netfilter/ipvs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"ip_vs.ko.xz", "ip_vs_wlc.ko.xz"} {
		if err := os.WriteFile(filepath.Join(dir, m), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := diagnoseNoIPVSAt(withModule, rel)
	if !errors.Is(err, ErrNoIPVS) || !strings.Contains(err.Error(), "has ip_vs as a module") || !strings.Contains(err.Error(), "modprobe ip_vs") {
		t.Errorf("module present: %v", err)
	}
	err = diagnoseNoIPVSAt(t.TempDir(), rel)
	if !errors.Is(err, ErrNoIPVS) || !strings.Contains(err.Error(), "CONFIG_IP_VS") {
		t.Errorf("module absent: %v", err)
	}

	if err := checkSchedulerAt(withModule, rel, "wlc"); err != nil {
		t.Errorf("wlc: %v", err)
	}
	if err := checkSchedulerAt(withModule, rel, ""); err != nil {
		t.Errorf("default scheduler: %v", err)
	}
	err = checkSchedulerAt(withModule, rel, "fancy")
	if err == nil || !strings.Contains(err.Error(), `scheduler "fancy" is not available`) || !strings.Contains(err.Error(), "ip_vs_fancy") {
		t.Errorf("missing scheduler: %v", err)
	}
	builtin := filepath.Join(withModule, "lib/modules", rel, "modules.builtin")
	if err := os.WriteFile(builtin, []byte("kernel/net/netfilter/ipvs/ip_vs_rr.ko\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkSchedulerAt(withModule, rel, "rr"); err != nil {
		t.Errorf("built-in rr: %v", err)
	}
}

func TestExplain(t *testing.T) {
	op := Op{Kind: AddDestination, Service: web, Dest: dst(rs1, 1)}
	err := explain(op, syscall.EINVAL)
	if !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), "192.0.2.101 as a unicast address") {
		t.Errorf("EINVAL on add destination: %v", err)
	}
	err = explain(Op{Kind: DelDestination, Service: web, Dest: dst(rs1, 1)}, syscall.ENOENT)
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("ENOENT on delete destination is not ErrNotFound: %v", err)
	}
	err = explain(Op{Kind: AddService, Service: Service{Protocol: TCP, Addr: vip, Port: 1, Scheduler: "nosuch"}}, syscall.ENOENT)
	if !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("ENOENT on add service does not name the scheduler: %v", err)
	}
}

// TestOpenWithoutIPVS runs on hosts without ip_vs (this project's build
// machines): Open must fail clearly instead of returning a handle whose
// every call silently does nothing.
func TestOpenWithoutIPVS(t *testing.T) {
	if _, err := os.Stat("/proc/net/ip_vs"); err == nil {
		t.Skip("this kernel has ip_vs loaded")
	}
	k, err := Open("", nil)
	if err == nil {
		// ip_vs was loadable on demand after all.
		k.Close()
		t.Skip("ip_vs was loaded on demand")
	}
	if !errors.Is(err, ErrNoIPVS) {
		t.Fatalf("Open = %v, want ErrNoIPVS", err)
	}
	t.Logf("Open: %v", err)
}
