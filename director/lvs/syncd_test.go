package lvs

import (
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// TestEncodeDaemonCmd checks the request against the layout of
// include/uapi/linux/ip_vs.h, the same attributes libipvs (ipvsadm
// --start-daemon master --mcast-interface eth1 --syncid 7) sends. Little
// endian, as on the amd64 build and test machines.
func TestEncodeDaemonCmd(t *testing.T) {
	b, err := encodeDaemonCmd(DaemonMaster, "eth1", 7)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		"2000" + "0380",                           // len 32, IPVS_CMD_ATTR_DAEMON (3) | NLA_F_NESTED
		"0800" + "0100" + "01000000",              // IPVS_DAEMON_ATTR_STATE = IP_VS_STATE_MASTER (1)
		"0900" + "0200" + "6574683100" + "000000", // IPVS_DAEMON_ATTR_MCAST_IFN "eth1\0", padded
		"0800" + "0300" + "07000000",              // IPVS_DAEMON_ATTR_SYNC_ID = 7
	}, "")
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("encoded\n got %s\nwant %s", got, want)
	}

	if _, err := encodeDaemonCmd(3, "eth1", 0); err == nil {
		t.Error("state 3 accepted")
	}
	if _, err := encodeDaemonCmd(DaemonBackup, "a-very-long-ifname", 0); err == nil {
		t.Error("17-byte interface name accepted")
	}
}

func TestDecodeDaemons(t *testing.T) {
	msg := func(fn func(*netlink.AttributeEncoder)) genetlink.Message {
		ae := netlink.NewAttributeEncoder()
		ae.Nested(cmdAttrDaemon, func(nae *netlink.AttributeEncoder) error {
			fn(nae)
			return nil
		})
		b, err := ae.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return genetlink.Message{Header: genetlink.Header{Command: cmdNewDaemon, Version: 1}, Data: b}
	}
	// What a 6.1 kernel sends for a master and a backup daemon.
	msgs := []genetlink.Message{
		msg(func(ae *netlink.AttributeEncoder) {
			ae.Uint32(daemonAttrState, 1)
			ae.String(daemonAttrMcastIfn, "eth1")
			ae.Uint32(daemonAttrSyncID, 7)
			ae.Uint16(daemonAttrSyncMaxLen, 1472)
			ae.Uint16(daemonAttrMcastPort, 8848)
			ae.Uint8(daemonAttrMcastTTL, 1)
			ae.Bytes(daemonAttrMcastGroup, []byte{224, 0, 0, 81})
		}),
		msg(func(ae *netlink.AttributeEncoder) {
			ae.Uint32(daemonAttrState, 2)
			ae.String(daemonAttrMcastIfn, "eth2")
			ae.Uint32(daemonAttrSyncID, 0)
		}),
	}
	got, err := decodeDaemons(msgs)
	if err != nil {
		t.Fatal(err)
	}
	want := []Daemon{
		{State: DaemonMaster, Interface: "eth1", SyncID: 7, MaxLen: 1472, McastGroup: netip.MustParseAddr("224.0.0.81"), McastPort: 8848, McastTTL: 1},
		{State: DaemonBackup, Interface: "eth2"},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("decodeDaemons (-want +got)\n%s", diff)
	}
}

func TestDecodeInfo(t *testing.T) {
	ae := netlink.NewAttributeEncoder()
	ae.Uint32(infoAttrVersion, 0x010201)
	ae.Uint32(infoAttrConnTabSize, 4096)
	b, _ := ae.Encode()
	got, err := decodeInfo([]genetlink.Message{{Data: b}})
	if err != nil {
		t.Fatal(err)
	}
	if got != (Info{Version: "1.2.1", ConnTableSize: 4096}) {
		t.Errorf("decodeInfo = %+v", got)
	}
}
