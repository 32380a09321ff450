package lvs

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
)

// IPVS generic netlink commands and attributes this file uses, from
// include/uapi/linux/ip_vs.h. moby/ipvs has none of the daemon calls.
const (
	ipvsGenlVersion = 1

	cmdNewDaemon = 9  // IPVS_CMD_NEW_DAEMON
	cmdDelDaemon = 10 // IPVS_CMD_DEL_DAEMON
	cmdGetDaemon = 11 // IPVS_CMD_GET_DAEMON
	cmdGetInfo   = 15 // IPVS_CMD_GET_INFO

	cmdAttrDaemon = 3 // IPVS_CMD_ATTR_DAEMON, nested

	daemonAttrState       = 1 // IPVS_DAEMON_ATTR_STATE, u32
	daemonAttrMcastIfn    = 2 // IPVS_DAEMON_ATTR_MCAST_IFN, NUL-terminated string
	daemonAttrSyncID      = 3 // IPVS_DAEMON_ATTR_SYNC_ID, u32
	daemonAttrSyncMaxLen  = 4 // IPVS_DAEMON_ATTR_SYNC_MAXLEN, u16 (reported by 4.3+)
	daemonAttrMcastGroup  = 5 // IPVS_DAEMON_ATTR_MCAST_GROUP, in_addr
	daemonAttrMcastGroup6 = 6 // IPVS_DAEMON_ATTR_MCAST_GROUP6, in6_addr
	daemonAttrMcastPort   = 7 // IPVS_DAEMON_ATTR_MCAST_PORT, u16
	daemonAttrMcastTTL    = 8 // IPVS_DAEMON_ATTR_MCAST_TTL, u8

	infoAttrVersion     = 1 // IPVS_INFO_ATTR_VERSION, u32
	infoAttrConnTabSize = 2 // IPVS_INFO_ATTR_CONN_TAB_SIZE, u32

	ifNameMax = 15 // IP_VS_IFNAME_MAXLEN - 1
)

// DaemonState is the role of an IPVS connection-synchronisation daemon
// (IP_VS_STATE_MASTER, IP_VS_STATE_BACKUP). The kernel can run one of each
// at a time per network namespace.
type DaemonState uint32

// Sync daemon roles. The VRRP master runs the master daemon (it multicasts
// its connection table); the backup runs the backup daemon (it receives).
const (
	DaemonMaster DaemonState = 1
	DaemonBackup DaemonState = 2
)

// String returns "master" or "backup".
func (s DaemonState) String() string {
	switch s {
	case DaemonMaster:
		return "master"
	case DaemonBackup:
		return "backup"
	}
	return fmt.Sprintf("state-%d", uint32(s))
}

// Daemon is a running sync daemon as the kernel reports it.
type Daemon struct {
	State DaemonState
	// Interface is the multicast interface (keepalived
	// lvs_sync_daemon_interface).
	Interface string
	// SyncID tells apart several director pairs on one segment (0-255).
	SyncID uint32
	// The rest is reported by kernels since 4.3 and left at the kernel's
	// defaults by StartDaemon (group 224.0.0.81, port 8848, TTL 1, length
	// from the interface MTU).
	MaxLen     uint16
	McastGroup netip.Addr
	McastPort  uint16
	McastTTL   uint8
}

// encodeDaemonCmd builds the attributes of a NEW_DAEMON or DEL_DAEMON
// request: IPVS_CMD_ATTR_DAEMON { STATE, MCAST_IFN, SYNC_ID }. The kernel
// needs all three to start a daemon and only STATE to stop one; libipvs
// (ipvsadm) sends all three either way, and so do we.
func encodeDaemonCmd(state DaemonState, iface string, syncID uint8) ([]byte, error) {
	if state != DaemonMaster && state != DaemonBackup {
		return nil, fmt.Errorf("ipvs: sync daemon state %d is neither master nor backup", uint32(state))
	}
	if len(iface) > ifNameMax {
		return nil, fmt.Errorf("ipvs: sync daemon interface name %q longer than %d bytes", iface, ifNameMax)
	}
	ae := netlink.NewAttributeEncoder()
	ae.Nested(cmdAttrDaemon, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(daemonAttrState, uint32(state))
		nae.String(daemonAttrMcastIfn, iface)
		nae.Uint32(daemonAttrSyncID, uint32(syncID))
		return nil
	})
	return ae.Encode()
}

// decodeDaemons parses the messages of a GET_DAEMON dump: one message per
// running daemon, each with a nested IPVS_CMD_ATTR_DAEMON.
func decodeDaemons(msgs []genetlink.Message) ([]Daemon, error) {
	var out []Daemon
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return nil, fmt.Errorf("ipvs: sync daemon reply: %w", err)
		}
		for ad.Next() {
			if ad.Type() != cmdAttrDaemon {
				continue
			}
			var d Daemon
			ad.Nested(func(nad *netlink.AttributeDecoder) error {
				for nad.Next() {
					switch nad.Type() {
					case daemonAttrState:
						d.State = DaemonState(nad.Uint32())
					case daemonAttrMcastIfn:
						d.Interface = nad.String()
					case daemonAttrSyncID:
						d.SyncID = nad.Uint32()
					case daemonAttrSyncMaxLen:
						d.MaxLen = nad.Uint16()
					case daemonAttrMcastPort:
						d.McastPort = nad.Uint16()
					case daemonAttrMcastTTL:
						d.McastTTL = nad.Uint8()
					case daemonAttrMcastGroup, daemonAttrMcastGroup6:
						if a, ok := netip.AddrFromSlice(nad.Bytes()); ok {
							d.McastGroup = a
						}
					}
				}
				return nil
			})
			out = append(out, d)
		}
		if err := ad.Err(); err != nil {
			return nil, fmt.Errorf("ipvs: sync daemon reply: %w", err)
		}
	}
	return out, nil
}

// StartDaemon starts the kernel's sync daemon in the given role on iface
// (ipvsadm --start-daemon STATE --mcast-interface IFACE --syncid ID). The
// interface must exist, be up and have an IPv4 address. Starting a daemon
// that already runs with the same interface and sync ID is not an error;
// one with other parameters is (stop it first).
func (k *Kernel) StartDaemon(state DaemonState, iface string, syncID uint8) error {
	b, err := encodeDaemonCmd(state, iface, syncID)
	if err != nil {
		return err
	}
	_, err = k.gc.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmdNewDaemon, Version: ipvsGenlVersion},
		Data:   b,
	}, k.family, netlink.Request|netlink.Acknowledge)
	if err == nil {
		return nil
	}
	what := fmt.Sprintf("ipvs: start %s sync daemon on %s syncid %d", state, iface, syncID)
	if errors.Is(err, syscall.EEXIST) {
		running, derr := k.Daemons()
		if derr == nil {
			for _, d := range running {
				if d.State == state {
					if d.Interface == iface && d.SyncID == uint32(syncID) {
						return nil
					}
					return fmt.Errorf("%s: a %s daemon already runs on %s syncid %d: %w", what, state, d.Interface, d.SyncID, err)
				}
			}
		}
	}
	if errors.Is(err, syscall.ENODEV) {
		return fmt.Errorf("%s: no such interface: %w", what, err)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// StopDaemon stops the sync daemon of the given role (ipvsadm
// --stop-daemon). Stopping a daemon that does not run is not an error.
func (k *Kernel) StopDaemon(state DaemonState) error {
	ae := netlink.NewAttributeEncoder()
	ae.Nested(cmdAttrDaemon, func(nae *netlink.AttributeEncoder) error {
		nae.Uint32(daemonAttrState, uint32(state))
		return nil
	})
	b, err := ae.Encode()
	if err != nil {
		return err
	}
	_, err = k.gc.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmdDelDaemon, Version: ipvsGenlVersion},
		Data:   b,
	}, k.family, netlink.Request|netlink.Acknowledge)
	if err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("ipvs: stop %s sync daemon: %w", state, err)
	}
	return nil
}

// Daemons lists the running sync daemons (ipvsadm --list --daemon).
func (k *Kernel) Daemons() ([]Daemon, error) {
	msgs, err := k.gc.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmdGetDaemon, Version: ipvsGenlVersion},
	}, k.family, netlink.Request|netlink.Dump)
	if err != nil {
		return nil, fmt.Errorf("ipvs: list sync daemons: %w", err)
	}
	return decodeDaemons(msgs)
}

// Info is what IPVS_CMD_GET_INFO reports.
type Info struct {
	Version       string // "1.2.1"
	ConnTableSize uint32
}

// Info reads the IPVS version and connection hash table size (the header
// line of ipvsadm -L).
func (k *Kernel) Info() (Info, error) {
	msgs, err := k.gc.Execute(genetlink.Message{
		Header: genetlink.Header{Command: cmdGetInfo, Version: ipvsGenlVersion},
	}, k.family, netlink.Request)
	if err != nil {
		return Info{}, fmt.Errorf("ipvs: get info: %w", err)
	}
	return decodeInfo(msgs)
}

func decodeInfo(msgs []genetlink.Message) (Info, error) {
	var in Info
	for _, m := range msgs {
		ad, err := netlink.NewAttributeDecoder(m.Data)
		if err != nil {
			return Info{}, fmt.Errorf("ipvs: info reply: %w", err)
		}
		for ad.Next() {
			switch ad.Type() {
			case infoAttrVersion:
				v := ad.Uint32()
				in.Version = fmt.Sprintf("%d.%d.%d", v>>16, (v>>8)&0xff, v&0xff)
			case infoAttrConnTabSize:
				in.ConnTableSize = ad.Uint32()
			}
		}
		if err := ad.Err(); err != nil {
			return Info{}, fmt.Errorf("ipvs: info reply: %w", err)
		}
	}
	if in.Version == "" {
		return Info{}, errors.New("ipvs: info reply without a version")
	}
	return in, nil
}
