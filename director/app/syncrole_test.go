package app

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/vrrp"
)

func TestSyncRoles(t *testing.T) {
	onVI1 := &config.ConnSync{Interface: "eth1", Instance: "VI_1", SyncID: 51}
	p := syncParams{Interface: "eth1", SyncID: 51}
	master := map[lvs.DaemonState]syncParams{lvs.DaemonMaster: p}
	backup := map[lvs.DaemonState]syncParams{lvs.DaemonBackup: p}
	for _, tt := range []struct {
		name   string
		cs     *config.ConnSync
		states map[string]vrrp.State
		want   map[lvs.DaemonState]syncParams
	}{
		{"no lvs_sync_daemon", nil, map[string]vrrp.State{"VI_1": vrrp.StateMaster}, nil},
		{"no instance: both daemons, whatever the states",
			&config.ConnSync{Interface: "eth1"}, map[string]vrrp.State{"VI_1": vrrp.StateBackup},
			map[lvs.DaemonState]syncParams{lvs.DaemonMaster: {Interface: "eth1"}, lvs.DaemonBackup: {Interface: "eth1"}}},
		{"master", onVI1, map[string]vrrp.State{"VI_1": vrrp.StateMaster}, master},
		{"backup", onVI1, map[string]vrrp.State{"VI_1": vrrp.StateBackup}, backup},
		{"fault", onVI1, map[string]vrrp.State{"VI_1": vrrp.StateFault}, backup},
		{"init", onVI1, map[string]vrrp.State{"VI_1": vrrp.StateInit}, backup},
		{"instance not running", onVI1, map[string]vrrp.State{}, backup},
		{"two instances: the other one's MASTER does not count", onVI1,
			map[string]vrrp.State{"VI_1": vrrp.StateBackup, "VI_2": vrrp.StateMaster}, backup},
		{"two instances: the named one is MASTER", onVI1,
			map[string]vrrp.State{"VI_1": vrrp.StateMaster, "VI_2": vrrp.StateBackup}, master},
		// A sync group moves its members together: the named member's
		// state is the group's.
		{"sync group MASTER", &config.ConnSync{Interface: "eth1", Instance: "VI_2", SyncID: 51},
			map[string]vrrp.State{"VI_1": vrrp.StateMaster, "VI_2": vrrp.StateMaster}, master},
		{"sync group in FAULT", &config.ConnSync{Interface: "eth1", Instance: "VI_2", SyncID: 51},
			map[string]vrrp.State{"VI_1": vrrp.StateFault, "VI_2": vrrp.StateFault}, backup},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, syncRoles(tt.cs, tt.states, false)); diff != "" {
				t.Errorf("syncRoles (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSyncRolesNewMaster: a MASTER of moments ago keeps its backup daemon
// beside the master one, for the old master's table hand-over; the other
// states are not affected.
func TestSyncRolesNewMaster(t *testing.T) {
	cs := &config.ConnSync{Interface: "eth1", Instance: "VI_1", SyncID: 51}
	p := syncParams{Interface: "eth1", SyncID: 51}
	both := map[lvs.DaemonState]syncParams{lvs.DaemonMaster: p, lvs.DaemonBackup: p}
	if diff := cmp.Diff(both, syncRoles(cs, map[string]vrrp.State{"VI_1": vrrp.StateMaster}, true)); diff != "" {
		t.Errorf("new master (-want +got):\n%s", diff)
	}
	backup := map[lvs.DaemonState]syncParams{lvs.DaemonBackup: p}
	if diff := cmp.Diff(backup, syncRoles(cs, map[string]vrrp.State{"VI_1": vrrp.StateBackup}, true)); diff != "" {
		t.Errorf("backup (-want +got):\n%s", diff)
	}
}
