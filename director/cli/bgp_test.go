package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/control"
)

// TestPrintStatusBGP: status prints BGP mode's speaker, sessions and VIPs;
// VRRP mode prints no bgp line.
func TestPrintStatusBGP(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := control.Status{Node: "lb1", Role: "master", Started: now.Add(-time.Minute),
		BGP: &control.BGPStatus{LocalAS: 65001, RouterID: "10.0.0.11", Draining: true, FingerprintGate: "open",
			Peers: []control.BGPPeerStatus{{Address: "10.0.0.1", AS: 65000, State: "established", Established: true, Since: now.Add(-3 * time.Minute)}},
			VIPs: []control.BGPVIPStatus{
				{VIP: "192.0.2.100", State: "shutting-down", Why: "drain --self", Until: now.Add(8 * time.Second)},
				{VIP: "192.0.2.200", State: "withdrawn", Why: "quorum down"},
				{VIP: "2001:db8::100", State: "announced"},
			}}}
	var b bytes.Buffer
	printStatus(&b, st, now)
	out := b.String()
	for _, want := range []string{
		"bgp:      AS 65001, router id 10.0.0.11; DRAINED (drain --self; undo: undrain --self); fingerprint gate open\n",
		"  peer 10.0.0.1 AS 65000: established since 3m0s ago\n",
		"  VIP 192.0.2.100: shutting-down (drain --self), withdrawn in 8s\n",
		"  VIP 192.0.2.200: withdrawn (quorum down)\n",
		"  VIP 2001:db8::100: announced\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	st.BGP = nil
	printStatus(&b, st, now)
	if strings.Contains(b.String(), "bgp:") {
		t.Errorf("VRRP mode prints a bgp line:\n%s", b.String())
	}
}

// TestDrainSelfArgs: drain --self takes no real server and no --reason;
// without --self a real server is needed; --self reaches the daemon.
func TestDrainSelfArgs(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "director.sock")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"drain", "--self", "192.0.2.11"}, "unknown command"},
		{[]string{"drain", "--self", "--reason", "x"}, "none of the others can be"},
		{[]string{"undrain"}, "accepts 1 arg"},
	} {
		_, _, err := run(t, append([]string{"--config", "/nonexistent", "--socket", sock}, c.args...)...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
	}
	for _, args := range [][]string{{"drain", "--self"}, {"undrain", "--self"}} {
		_, _, err := run(t, append([]string{"--config", "/nonexistent", "--socket", sock}, args...)...)
		want := "daemon is not running (nothing listens on " + sock
		if os.Geteuid() != 0 {
			want = "must be run as root"
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%v: %v, want %q", args, err, want)
		}
	}
}
