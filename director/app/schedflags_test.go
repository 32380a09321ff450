package app

import (
	"testing"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
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
