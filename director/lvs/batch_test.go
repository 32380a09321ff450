package lvs

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// TestEncodeOp pins the batch path's messages to the layout of
// include/uapi/linux/ip_vs.h (little-endian host; ports, IPv4 addresses
// and the IPv4 netmask in network order, as the kernel reads them with
// nla_get_be16/be32).
func TestEncodeOp(t *testing.T) {
	tests := []struct {
		name string
		op   Op
		want []string
	}{
		{
			name: "add a persistent TCP service",
			op:   Op{Kind: AddService, Service: Service{Protocol: TCP, Addr: netip.MustParseAddr("192.0.2.100"), Port: 80, Scheduler: "wlc", Flags: FlagPersistent, Timeout: 300, Netmask: 24}},
			want: []string{
				"01010000",                 // genl: IPVS_CMD_NEW_SERVICE, version 1
				"48000180",                 // IPVS_CMD_ATTR_SERVICE, nested, 72 bytes
				"0600010002000000",         // AF = AF_INET
				"0600020006000000",         // PROTOCOL = 6
				"08000300c0000264",         // ADDR = 192.0.2.100
				"0600040000500000",         // PORT = 80, network order
				"08000600776c6300",         // SCHED_NAME = "wlc\0"
				"0c00070001000000ffffffff", // FLAGS = {persistent, mask all}
				"080008002c010000",         // TIMEOUT = 300
				"08000900ffffff00",         // NETMASK = 255.255.255.0
			},
		},
		{
			name: "add a Maglev service with mh-fallback and mh-port (SCHED1|SCHED2, ipvsadm -b mh-fallback,mh-port)",
			op:   Op{Kind: AddService, Service: Service{Protocol: TCP, Addr: netip.MustParseAddr("192.0.2.100"), Port: 80, Scheduler: "mh", Flags: FlagSched1 | FlagSched2}},
			want: []string{
				"01010000",                 // IPVS_CMD_NEW_SERVICE
				"48000180",                 // IPVS_CMD_ATTR_SERVICE, 72 bytes
				"0600010002000000",         // AF = AF_INET
				"0600020006000000",         // PROTOCOL = 6
				"08000300c0000264",         // ADDR = 192.0.2.100
				"0600040000500000",         // PORT = 80
				"070006006d680000",         // SCHED_NAME = "mh\0", padded
				"0c00070018000000ffffffff", // FLAGS = {0x18: sched1|sched2, mask all}
				"0800080000000000",         // TIMEOUT = 0
				"08000900ffffffff",         // NETMASK /32
			},
		},
		{
			name: "set a destination of a firewall-mark service to weight 0, DR kept",
			op:   Op{Kind: UpdateDestination, Service: Service{FWMark: 7, Scheduler: "rr"}, Dest: Destination{Addr: netip.MustParseAddr("192.0.2.101"), Port: 80}},
			want: []string{
				"06010000",                 // IPVS_CMD_SET_DEST
				"38000180",                 // IPVS_CMD_ATTR_SERVICE, 56 bytes
				"0600010002000000",         // AF
				"0800050007000000",         // FWMARK = 7
				"0700060072720000",         // SCHED_NAME = "rr\0", padded
				"0c00070000000000ffffffff", // FLAGS
				"0800080000000000",         // TIMEOUT
				"08000900ffffffff",         // NETMASK /32
				"3c000280",                 // IPVS_CMD_ATTR_DEST, nested, 60 bytes
				"08000100c0000265",         // ADDR = 192.0.2.101
				"0600020000500000",         // PORT = 80
				"0800030003000000",         // FWD_METHOD = IP_VS_CONN_F_DROUTE
				"0800040000000000",         // WEIGHT = 0
				"0800050000000000",         // U_THRESH
				"0800060000000000",         // L_THRESH
				"06000b0002000000",         // ADDR_FAMILY = AF_INET
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := appendOp(nil, tt.op)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := hex.EncodeToString(b), strings.Join(tt.want, ""); got != want {
				t.Errorf("encoded\n got %s\nwant %s", got, want)
			}
		})
	}
	if _, err := appendOp(nil, Op{}); err == nil {
		t.Error("an op without a kind was encoded")
	}
}

// encodeOpRef is the encoder appendOp replaced, written with mdlayher/netlink's
// attribute encoder: the reference appendOp must agree with.
func encodeOpRef(op Op) ([]byte, error) {
	cmd := opCommand(op.Kind)
	if cmd == 0 {
		return nil, fmt.Errorf("unknown operation kind %d", op.Kind)
	}
	s := op.Service.normalized()
	ae := netlink.NewAttributeEncoder()
	ae.Nested(cmdAttrService, func(n *netlink.AttributeEncoder) error {
		af := uint16(unix.AF_INET)
		if s.ipv6() {
			af = unix.AF_INET6
		}
		n.Uint16(svcAttrAF, af)
		if s.FWMark != 0 {
			n.Uint32(svcAttrFWMark, s.FWMark)
		} else {
			n.Uint16(svcAttrProtocol, uint16(s.Protocol))
			n.Bytes(svcAttrAddr, s.Addr.AsSlice())
			n.Bytes(svcAttrPort, binary.BigEndian.AppendUint16(nil, s.Port))
		}
		n.String(svcAttrSchedName, s.Scheduler)
		flags := binary.NativeEndian.AppendUint32(nil, uint32(s.Flags))
		flags = binary.NativeEndian.AppendUint32(flags, 0xffffffff)
		n.Bytes(svcAttrFlags, flags)
		n.Uint32(svcAttrTimeout, s.Timeout)
		if s.ipv6() {
			n.Uint32(svcAttrNetmask, uint32(s.Netmask))
		} else {
			n.Bytes(svcAttrNetmask, binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-s.Netmask)))
		}
		return nil
	})
	switch op.Kind {
	case AddDestination, UpdateDestination, DelDestination:
		d := op.Dest
		a := d.Addr.Unmap()
		ae.Nested(cmdAttrDest, func(n *netlink.AttributeEncoder) error {
			n.Bytes(destAttrAddr, a.AsSlice())
			n.Bytes(destAttrPort, binary.BigEndian.AppendUint16(nil, d.Port))
			n.Uint32(destAttrFwd, d.Forward.connFlags())
			n.Uint32(destAttrWeight, uint32(d.Weight))
			n.Uint32(destAttrUThresh, d.UpperThreshold)
			n.Uint32(destAttrLThresh, d.LowerThreshold)
			af := uint16(unix.AF_INET)
			if a.Is6() {
				af = unix.AF_INET6
			}
			n.Uint16(destAttrAF, af)
			return nil
		})
	}
	attrs, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	return genetlink.Message{Header: genetlink.Header{Command: cmd, Version: ipvsGenlVersion}, Data: attrs}.MarshalBinary()
}

// TestAppendOpMatchesReference: every kind of operation, both families,
// address and fwmark services, scheduler names of every length (padding),
// appended after other messages, encodes as the reference encoder does.
func TestAppendOpMatchesReference(t *testing.T) {
	svcs := []Service{
		{Protocol: TCP, Addr: netip.MustParseAddr("192.0.2.1"), Port: 80, Scheduler: "rr"},
		{Protocol: UDP, Addr: netip.MustParseAddr("2001:db8::1"), Port: 53, Scheduler: "wlc", Flags: FlagPersistent, Timeout: 60, Netmask: 64},
		{FWMark: 9, Scheduler: "sh", Flags: FlagPersistent, Timeout: 300, Netmask: 16},
		{Protocol: SCTP, Addr: netip.MustParseAddr("198.51.100.7"), Port: 443, Scheduler: "mh"},
	}
	dests := []Destination{
		{Addr: netip.MustParseAddr("192.0.2.11"), Port: 80, Weight: 3, Forward: DR},
		{Addr: netip.MustParseAddr("2001:db8::11"), Port: 53, Weight: 0, Forward: Tunnel, UpperThreshold: 10, LowerThreshold: 2},
		{Addr: netip.MustParseAddr("::ffff:192.0.2.12"), Port: 8080, Weight: 65535, Forward: NAT},
	}
	var b []byte
	n := 0
	for _, sched := range []string{"a", "rr", "wlc", "lblc", "lblcr", "sedxx", "abcdefg", "abcdefgh"} {
		for _, s := range svcs {
			s.Scheduler = sched
			for _, kind := range []OpKind{AddService, UpdateService, DelService, AddDestination, UpdateDestination, DelDestination} {
				for _, d := range dests {
					op := Op{Kind: kind, Service: s, Dest: d}
					want, err := encodeOpRef(op)
					if err != nil {
						t.Fatal(err)
					}
					at := len(b)
					if b, err = appendOp(b, op); err != nil {
						t.Fatal(err)
					}
					if got := b[at:]; !bytes.Equal(got, want) {
						t.Fatalf("%v:\n got %x\nwant %x", op, got, want)
					}
					n++
				}
			}
		}
	}
	if n != 8*4*6*3 {
		t.Fatalf("%d cases", n)
	}
}
