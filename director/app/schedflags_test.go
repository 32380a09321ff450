package app

import (
	"slices"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	tu "github.com/tandemlb/tandem/shared/testutil"
)

// TestServiceOfSchedFlags: the model's scheduler flags and ops become the
// kernel's service flags (ipvsadm: sh-fallback/mh-fallback = SCHED1 0x8,
// sh-port/mh-port = SCHED2 0x10, ops = ONEPACKET 0x4).
func TestServiceOfSchedFlags(t *testing.T) {
	s := seedService()
	s.Scheduler, s.SchedFlags = "mh", config.SchedFlag1|config.SchedFlag2
	if got := ServiceOf(&s); got.Flags != lvs.FlagSched1|lvs.FlagSched2 || got.Scheduler != "mh" {
		t.Errorf("mh-fallback,mh-port: sched %s flags %#x, want mh 0x18", got.Scheduler, uint32(got.Flags))
	}
	s.SchedFlags, s.OnePacket, s.Protocol = config.SchedFlag3, true, config.UDP
	if got := ServiceOf(&s); got.Flags != lvs.FlagSched3|lvs.FlagOnePacket {
		t.Errorf("flag-3, ops: flags %#x, want 0x24", uint32(got.Flags))
	}
}

// TestServiceFingerprint: status shows, for each service, the fingerprint
// of what the kernel holds, and follows a change of weights (a drain).
func TestServiceFingerprint(t *testing.T) {
	r := startBGPRig(t, bgpSecond)
	r.waitOps("start", ann100, ann200)
	same := func() (status, kernel []string) {
		for _, s := range r.status().Services {
			status = append(status, s.Fingerprint)
		}
		sts, err := r.ipvs.Services()
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range sts {
			kernel = append(kernel, lvs.StateFingerprint(st))
		}
		slices.Sort(status)
		slices.Sort(kernel)
		return status, kernel
	}
	before, kernel := same()
	if len(before) != 2 || !slices.Equal(before, kernel) {
		t.Fatalf("fingerprints in status %q, of the kernel's table %q", before, kernel)
	}
	if err := r.call(control.OpDrain, control.DrainArgs{Target: "192.0.2.11"}, nil); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 5*time.Second, func() bool {
		st, k := same()
		return slices.Equal(st, k) && !slices.Equal(st, before)
	}, "status fingerprints after a drain: not the kernel's, or unchanged")
}
