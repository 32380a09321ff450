package lvs

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"
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
			b, err := encodeOp(tt.op)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := hex.EncodeToString(b), strings.Join(tt.want, ""); got != want {
				t.Errorf("encoded\n got %s\nwant %s", got, want)
			}
		})
	}
	if _, err := encodeOp(Op{}); err == nil {
		t.Error("an op without a kind was encoded")
	}
}
