package config

import "fmt"

// SchedFlags are an IPVS service's scheduler-specific flags
// (IP_VS_SVC_F_SCHED1..3). What each means is the scheduler's: sh and mh
// name flag 1 "fallback" (another server when the chosen one is
// unavailable) and flag 2 "port" (the source port is hashed too); the
// other schedulers ignore them.
type SchedFlags uint8

// Scheduler flags.
const (
	// SchedFlag1 is flag-1: sh-fallback, mh-fallback.
	SchedFlag1 SchedFlags = 1 << iota
	// SchedFlag2 is flag-2: sh-port, mh-port.
	SchedFlag2
	// SchedFlag3 is flag-3 (no scheduler uses it).
	SchedFlag3
)

// schedFlagNames are the flags' names by scheduler, as keepalived and
// ipvsadm spell them; other schedulers use "flag-N".
var schedFlagNames = map[string][3]string{
	"sh": {"sh-fallback", "sh-port", "flag-3"},
	"mh": {"mh-fallback", "mh-port", "flag-3"},
	"":   {"flag-1", "flag-2", "flag-3"},
}

// SchedFlagNames returns the names of flags under scheduler sched, in bit
// order: "mh-fallback", "mh-port" for mh, "sh-…" for sh, "flag-N"
// otherwise.
func SchedFlagNames(sched string, flags SchedFlags) []string {
	names, ok := schedFlagNames[sched]
	if !ok {
		names = schedFlagNames[""]
	}
	var out []string
	for i, n := range names {
		if flags&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	return out
}

// ParseSchedFlag returns the flag a name sets under scheduler sched, or a
// message: "flag-N" sets bit N under any scheduler, "sh-…" only under sh
// and "mh-…" only under mh.
func ParseSchedFlag(sched, name string) (SchedFlags, string) {
	switch name {
	case "flag-1":
		return SchedFlag1, ""
	case "flag-2":
		return SchedFlag2, ""
	case "flag-3":
		return SchedFlag3, ""
	}
	for _, s := range []string{"sh", "mh"} {
		names := schedFlagNames[s]
		for i, n := range names[:2] {
			if name != n {
				continue
			}
			if sched != s {
				return 0, fmt.Sprintf("%s applies to the %s scheduler only, and lvs_sched is %s (flag-%d sets the same bit for any scheduler)", name, s, sched, i+1)
			}
			return SchedFlags(1 << i), ""
		}
	}
	return 0, fmt.Sprintf("unknown scheduler flag %q (want flag-1, flag-2, flag-3, sh-fallback, sh-port, mh-fallback or mh-port)", name)
}
