package lvs

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// stats64Attrs encodes a struct ip_vs_stats64 as the kernel does, with its
// PAD attribute first.
func stats64Attrs(ae *netlink.AttributeEncoder, s Stats) {
	ae.Bytes(11, nil) // IPVS_STATS_ATTR_PAD
	for _, f := range []struct {
		typ uint16
		v   uint64
	}{{statsAttrConns, s.Conns}, {statsAttrInPkts, s.PktsIn}, {statsAttrOutPkts, s.PktsOut}, {statsAttrInBytes, s.BytesIn},
		{statsAttrOutBytes, s.BytesOut}, {statsAttrCPS, s.CPS}, {statsAttrInPPS, s.PPSIn}, {statsAttrOutPPS, s.PPSOut},
		{statsAttrInBPS, s.BPSIn}, {statsAttrOutBPS, s.BPSOut}} {
		ae.Uint64(f.typ, f.v)
	}
}

func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func encode(t *testing.T, f func(*netlink.AttributeEncoder)) []byte {
	t.Helper()
	ae := netlink.NewAttributeEncoder()
	f(ae)
	b, err := ae.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// big is above 2^32: what the 32-bit attributes cannot carry.
const big = 1<<32 + 7

func TestDecodeTraffic(t *testing.T) {
	st := Stats{Conns: big, PktsIn: big * 3, PktsOut: 1, BytesIn: big * 1500, BytesOut: 2, CPS: 10, PPSIn: 20, PPSOut: 30, BPSIn: 40, BPSOut: 50}
	addr16 := func(a netip.Addr) []byte { b := a.As16(); return b[:] }
	v4 := netip.MustParseAddr("192.0.2.100").As4()
	svc := encode(t, func(ae *netlink.AttributeEncoder) {
		ae.Nested(cmdAttrService, func(n *netlink.AttributeEncoder) error {
			n.Uint16(svcAttrAF, unix.AF_INET)
			n.Uint16(svcAttrProtocol, unix.IPPROTO_TCP)
			n.Bytes(svcAttrAddr, append(v4[:], make([]byte, 12)...)) // union nf_inet_addr
			n.Bytes(svcAttrPort, be16(80))
			n.String(svcAttrSchedName, "wlc")
			n.Nested(svcAttrStats64, func(s *netlink.AttributeEncoder) error { stats64Attrs(s, st); return nil })
			return nil
		})
	})
	got, err := decodeTrafficService(svc)
	if err != nil {
		t.Fatal(err)
	}
	want := ServiceState{Service: Service{Protocol: TCP, Addr: netip.MustParseAddr("192.0.2.100"), Port: 80}, Stats: st}
	if diff := cmp.Diff(want, got, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("service (-want +got):\n%s", diff)
	}
	if got.Service.Key() != "TCP 192.0.2.100:80" {
		t.Errorf("key %s", got.Service.Key())
	}

	// An IPv6 real server of an IPv4 service (IPVS_DEST_ATTR_ADDR_FAMILY).
	dest := encode(t, func(ae *netlink.AttributeEncoder) {
		ae.Nested(cmdAttrDest, func(n *netlink.AttributeEncoder) error {
			n.Bytes(destAttrAddr, addr16(netip.MustParseAddr("2001:db8::11")))
			n.Bytes(destAttrPort, be16(8080))
			n.Uint32(destAttrFwd, connFlagMasq)
			n.Uint32(destAttrWeight, 3)
			n.Uint32(destAttrActive, 5)
			n.Uint32(destAttrInactive, 6)
			n.Uint16(destAttrAF, unix.AF_INET6)
			n.Nested(destAttrStats64, func(s *netlink.AttributeEncoder) error { stats64Attrs(s, st); return nil })
			return nil
		})
	})
	d, err := decodeTrafficDest(dest, want.Service)
	if err != nil {
		t.Fatal(err)
	}
	wantD := DestinationState{Destination: Destination{Addr: netip.MustParseAddr("2001:db8::11"), Port: 8080, Weight: 3, Forward: NAT}, ActiveConns: 5, InactiveConns: 6, Stats: st}
	if diff := cmp.Diff(wantD, d, cmpopts.EquateComparable(netip.Addr{})); diff != "" {
		t.Errorf("destination (-want +got):\n%s", diff)
	}

	// A firewall-mark IPv6 service: no protocol, address or port.
	fwm := encode(t, func(ae *netlink.AttributeEncoder) {
		ae.Nested(cmdAttrService, func(n *netlink.AttributeEncoder) error {
			n.Uint16(svcAttrAF, unix.AF_INET6)
			n.Uint32(svcAttrFWMark, 7)
			n.Bytes(svcAttrAddr, make([]byte, 16))
			return nil
		})
	})
	got, err = decodeTrafficService(fwm)
	if err != nil || got.Service.Key() != "FWM 7 IPv6" {
		t.Errorf("firewall-mark service: %+v, %v", got, err)
	}
}

func TestServiceIdentity(t *testing.T) {
	for _, tt := range []struct {
		s    Service
		want map[uint16][]byte
	}{
		{Service{Protocol: TCP, Addr: netip.MustParseAddr("192.0.2.1"), Port: 443},
			map[uint16][]byte{svcAttrAF: {unix.AF_INET, 0}, svcAttrProtocol: {unix.IPPROTO_TCP, 0}, svcAttrAddr: {192, 0, 2, 1}, svcAttrPort: {1, 187}}},
		{Service{FWMark: 9, Addr: netip.IPv6Unspecified()},
			map[uint16][]byte{svcAttrAF: {unix.AF_INET6, 0}, svcAttrFWMark: {9, 0, 0, 0}}},
	} {
		b, err := nested(serviceIdentity(tt.s), cmdAttrService)
		if err != nil {
			t.Fatal(err)
		}
		ad, err := netlink.NewAttributeDecoder(b)
		if err != nil {
			t.Fatal(err)
		}
		got := map[uint16][]byte{}
		for ad.Next() {
			got[ad.Type()] = ad.Bytes()
		}
		if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
			t.Skip("the expected bytes are little-endian")
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tt.s.Key(), diff)
		}
	}
}

func FuzzDecodeTraffic(f *testing.F) {
	f.Add([]byte{8, 0, 1, 0, 2, 0, 0, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if st, err := decodeTrafficService(b); err == nil && st.Service.FWMark == 0 && !st.Service.Addr.IsValid() {
			t.Fatalf("a service without an address: %+v", st)
		}
		if d, err := decodeTrafficDest(b, Service{}); err == nil && !d.Addr.IsValid() {
			t.Fatalf("a destination without an address: %+v", d)
		}
	})
}
