package app

import (
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/vrrp"
)

// syncParams are one IPVS connection-sync daemon's settings.
type syncParams struct {
	Interface string
	SyncID    uint8
}

// syncRoles is the connection-sync daemons (lvs_sync_daemon) that should
// run, by role, given the configuration's cs (nil: none) and the VRRP
// instances' states by name:
//   - none without lvs_sync_daemon;
//   - both, all the time, when it names no instance (as keepalived);
//   - else the master daemon while the named instance is MASTER and the
//     backup daemon otherwise: BACKUP, FAULT, INIT, or not running (absent
//     from states); newMaster (the instance became MASTER moments ago)
//     keeps the backup daemon beside the master one, so that the table
//     the old master hands over as it releases (lvs.SyncSender) still
//     finds a receiver here.
//
// A vrrp_sync_group acts through its members' states: the named
// instance's state is the one the group gave it. Pure: the App applies
// the difference with what runs (syncDaemons).
func syncRoles(cs *config.ConnSync, states map[string]vrrp.State, newMaster bool) map[lvs.DaemonState]syncParams {
	if cs == nil {
		return nil
	}
	p := syncParams{Interface: cs.Interface, SyncID: uint8(cs.SyncID)}
	switch {
	case cs.Instance == "":
		return map[lvs.DaemonState]syncParams{lvs.DaemonMaster: p, lvs.DaemonBackup: p}
	case states[cs.Instance] == vrrpMaster && newMaster:
		return map[lvs.DaemonState]syncParams{lvs.DaemonMaster: p, lvs.DaemonBackup: p}
	case states[cs.Instance] == vrrpMaster:
		return map[lvs.DaemonState]syncParams{lvs.DaemonMaster: p}
	}
	return map[lvs.DaemonState]syncParams{lvs.DaemonBackup: p}
}
