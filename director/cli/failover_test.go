package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/shared/testutil"
)

func TestFailoverFlags(t *testing.T) {
	tests := []struct {
		name    string
		flags   failoverFlags
		want    control.FailoverArgs
		wantErr string
	}{
		{"defaults", failoverFlags{timeout: control.DefaultFailoverTimeout}, control.FailoverArgs{TimeoutMS: 10000}, ""},
		{"one instance, forced", failoverFlags{instance: "VI_1", force: true, timeout: 2500 * time.Millisecond},
			control.FailoverArgs{Instance: "VI_1", Force: true, TimeoutMS: 2500}, ""},
		{"cancel", failoverFlags{cancel: true, timeout: time.Minute}, control.FailoverArgs{Cancel: true, TimeoutMS: 60000}, ""},
		{"cancel and force", failoverFlags{cancel: true, force: true, timeout: time.Second}, control.FailoverArgs{}, "--force goes with a hand-over"},
		{"no timeout", failoverFlags{}, control.FailoverArgs{}, "--timeout 0s"},
		{"timeout too long", failoverFlags{timeout: time.Hour}, control.FailoverArgs{}, "at most 5m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.flags.args()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("request (-want +got)\n%s", diff)
			}
		})
	}
	// The flags reach them: a bad --timeout fails before the daemon is
	// asked.
	_, _, err := run(t, "--socket", "/nonexistent/ctl.sock", "failover", "--timeout", "0s")
	if err == nil || !strings.Contains(err.Error(), "--timeout 0s") {
		t.Errorf("failover --timeout 0s: %v", err)
	}
	_, _, err = run(t, "--socket", "/nonexistent/ctl.sock", "failover", "--instance", "VI_1")
	if err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("failover without a daemon: %v", err)
	}
}

func sampleFailover() control.FailoverResult {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return control.FailoverResult{TimeoutMS: 10000, Instances: []control.FailoverInstance{
		{Instance: "VI_1", VRID: 51, SyncGroup: "G1", FromState: "MASTER", State: "BACKUP", Yielding: true, Peer: "192.0.2.2",
			PeerPriority: 90, ReleasedAt: t0, PeerMasterAfterMS: 412, MasterAfterMS: -1, ConnectionsHandedOver: 1200, HandOverMessages: 30, HandOverMS: 31},
		{Instance: "VI_2", VRID: 52, SyncGroup: "G1", FromState: "MASTER", State: "BACKUP", Yielding: true, ReleasedAt: t0,
			PeerMasterAfterMS: -1, MasterAfterMS: -1, Note: "no lvs_sync_daemon: the peer runs no backup sync daemon to take the connections",
			Error: "the peer was not heard as master within 10s: state BACKUP, no advert from another router since the release"},
	}}
}

// TestFailoverOutput: the JSON (stable snake_case names) and the text of
// a result with one instance handed over and one that timed out.
func TestFailoverOutput(t *testing.T) {
	var b bytes.Buffer
	if err := writeFailover(&b, sampleFailover(), true); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "TestFailoverOutput.json", b.Bytes(), *update)
	b.Reset()
	if err := writeFailover(&b, sampleFailover(), false); err != nil {
		t.Fatal(err)
	}
	testutil.Golden(t, "TestFailoverOutput.txt", b.Bytes(), *update)

	b.Reset()
	printFailover(&b, control.FailoverResult{Cancel: true, Instances: []control.FailoverInstance{
		{Instance: "VI_1", VRID: 51, FromState: "BACKUP", State: "MASTER", MasterAfterMS: 3605, PeerMasterAfterMS: -1},
		{Instance: "VI_2", VRID: 52, FromState: "BACKUP", State: "BACKUP", MasterAfterMS: -1, PeerMasterAfterMS: -1, Note: "nopreempt: stays BACKUP until the master fails"},
	}})
	hasAll(t, "cancel", b.String(),
		"VI_1 (vrid 51): yield cancelled; MASTER again after 3605 ms\n",
		"VI_2 (vrid 52): yield cancelled; BACKUP\n  note: nopreempt: stays BACKUP until the master fails\n")
	if strings.Contains(b.String(), "yielding:") || strings.Contains(b.String(), "handed over") {
		t.Errorf("cancel output speaks of a yield or a hand-over:\n%s", b.String())
	}
}
