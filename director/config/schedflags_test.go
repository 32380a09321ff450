package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// kvs is a keepalived.conf with one TCP virtual_server whose block lines
// start on line 3.
func kvs(lines ...string) string {
	return "virtual_server 192.0.2.1 80 {\nprotocol TCP\n" + strings.Join(lines, "\n") + "\nreal_server 192.0.2.2 80\n}\n"
}

// TestKeepalivedSchedFlags reads the scheduler flag lines as keepalived
// 2.2.7's lbflags_handler does: flag-N under any scheduler, sh-*/mh-* only
// after their own scheduler's lvs_sched line, ops only on UDP.
func TestKeepalivedSchedFlags(t *testing.T) {
	for _, tt := range []struct {
		name      string
		in        string
		flags     SchedFlags
		onePacket bool
		warns     []string
	}{
		{"mh both", kvs("lvs_sched mh", "mh-port", "mh-fallback"), SchedFlag1 | SchedFlag2, false, nil},
		{"sh port", kvs("lvs_sched sh", "sh-port"), SchedFlag2, false, nil},
		{"flag-N any scheduler", kvs("lvs_sched rr", "flag-1", "flag-3"), SchedFlag1 | SchedFlag3, false, nil},
		{"mh-port under rr", kvs("lvs_sched rr", "mh-port"), 0, false, []string{
			`k.conf:4: keyword "mh-port": mh-port applies to the mh scheduler only, and lvs_sched is rr (flag-2 sets the same bit for any scheduler) at this line (give lvs_sched first): keepalived ignores it, and so does Tandem`,
		}},
		{"mh-port before lvs_sched", kvs("mh-port", "lvs_sched mh"), 0, false, []string{
			`k.conf:3: keyword "mh-port": mh-port applies to the mh scheduler only, and lvs_sched is wlc (flag-2 sets the same bit for any scheduler) at this line (give lvs_sched first): keepalived ignores it, and so does Tandem`,
		}},
		{"sh-fallback under mh", kvs("lvs_sched mh", "sh-fallback"), 0, false, []string{
			`k.conf:4: keyword "sh-fallback": sh-fallback applies to the sh scheduler only, and lvs_sched is mh (flag-1 sets the same bit for any scheduler) at this line (give lvs_sched first): keepalived ignores it, and so does Tandem`,
		}},
		{"ops on TCP", kvs("ops"), 0, false, []string{
			`k.conf:1: virtual_server 192.0.2.1:80: keyword "ops": one-packet scheduling is for UDP (or fwmark) services: keepalived 2.2.7 turns it off ("one packet scheduling requires UDP - resetting"), and so does Tandem`,
		}},
		{"ops on UDP", strings.Replace(kvs("ops"), "TCP", "UDP", 1), 0, true, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseKeepalived("k.conf", []byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			s := c.Services[0]
			if s.SchedFlags != tt.flags || s.OnePacket != tt.onePacket {
				t.Errorf("flags %#x ops %v, want %#x ops %v", s.SchedFlags, s.OnePacket, tt.flags, tt.onePacket)
			}
			if diff := cmp.Diff(tt.warns, errLines(c.Warnings), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNativeSchedFlags(t *testing.T) {
	c, err := ParseNative("d.yaml", []byte(nvs("    lvs_sched: mh\n    scheduler_flags: [mh-port, mh-fallback]\n")))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Services[0].SchedFlags; got != SchedFlag1|SchedFlag2 {
		t.Errorf("flags %#x, want %#x", got, SchedFlag1|SchedFlag2)
	}
	c, err = ParseNative("d.yaml", []byte(strings.Replace(nvs("    protocol: UDP\n    ops: true\n"), "80", "53", 1)))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Services[0].OnePacket {
		t.Error("ops: true did not set OnePacket")
	}
}

func TestNativeSchedFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		want     []string
	}{
		// The flag is checked against lvs_sched whatever the keys' order.
		{"mh-port under rr", nvs("    scheduler_flags: [mh-port]\n    lvs_sched: rr\n"), []string{
			`d.yaml:4: key "virtual_servers[0].scheduler_flags[0]": mh-port applies to the mh scheduler only, and lvs_sched is rr (flag-2 sets the same bit for any scheduler)`,
		}},
		{"unknown", nvs("    lvs_sched: mh\n    scheduler_flags: [mh-ports]\n"), []string{
			`d.yaml:5: key "virtual_servers[0].scheduler_flags[0]": unknown scheduler flag "mh-ports" (want flag-1, flag-2, flag-3, sh-fallback, sh-port, mh-fallback or mh-port)`,
		}},
		{"twice", nvs("    lvs_sched: mh\n    scheduler_flags: [mh-port, flag-2]\n"), []string{
			`d.yaml:5: key "virtual_servers[0].scheduler_flags[1]": flag-2 is given twice (or with another name of the same flag)`,
		}},
		{"not a list", nvs("    lvs_sched: mh\n    scheduler_flags: mh-port\n"), []string{
			`d.yaml:5: key "virtual_servers[0].scheduler_flags": want a list, not "mh-port"`,
		}},
		{"ops on TCP", nvs("    ops: true\n"), []string{
			`d.yaml:3: virtual_server TCP 192.0.2.1:80: keyword "ops": one-packet scheduling is for UDP (or fwmark) services, not TCP`,
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseNative("d.yaml", []byte(tt.in))
			if diff := cmp.Diff(tt.want, errLines(err)); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSchedFlagsMigrate: keepalived.conf's flags come out of migrate as
// the native keys, named for the scheduler, and read back the same.
func TestSchedFlagsMigrate(t *testing.T) {
	c, err := ParseKeepalived("k.conf", []byte(kvs("lvs_sched mh", "flag-2", "mh-fallback")))
	if err != nil {
		t.Fatal(err)
	}
	out, err := MarshalNative(c)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), "scheduler_flags: [mh-fallback, mh-port]") {
		t.Errorf("migrated file lacks the flags:\n%s", out)
	}
	back, err := ParseNative("n.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	if back.Services[0].SchedFlags != c.Services[0].SchedFlags {
		t.Errorf("read back %#x, want %#x", back.Services[0].SchedFlags, c.Services[0].SchedFlags)
	}
}

func TestSchedFlagNames(t *testing.T) {
	all := SchedFlag1 | SchedFlag2 | SchedFlag3
	for sched, want := range map[string][]string{
		"mh":  {"mh-fallback", "mh-port", "flag-3"},
		"sh":  {"sh-fallback", "sh-port", "flag-3"},
		"wlc": {"flag-1", "flag-2", "flag-3"},
	} {
		got := SchedFlagNames(sched, all)
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", sched, got, want)
		}
		for i, n := range got {
			if f, m := ParseSchedFlag(sched, n); m != "" || f != 1<<i {
				t.Errorf("%s: ParseSchedFlag(%q) = %#x %q", sched, n, f, m)
			}
		}
	}
}

// TestDiffSchedFlags: a changed flag is a kernel edit of the service.
func TestDiffSchedFlags(t *testing.T) {
	old, err := ParseKeepalived("k.conf", []byte(kvs("lvs_sched mh", "mh-fallback")))
	if err != nil {
		t.Fatal(err)
	}
	new, err := ParseKeepalived("k.conf", []byte(kvs("lvs_sched mh", "mh-fallback", "mh-port")))
	if err != nil {
		t.Fatal(err)
	}
	ch := Diff(old, new)
	want := []ServiceChange{{Key: "TCP 192.0.2.1:80", Fields: []string{"SchedFlags"}, Kernel: true}}
	if diff := cmp.Diff(want, ch.ServicesChanged); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestNativeSloppy: ipvs.sloppy_tcp and sloppy_sctp are read (off by
// default; keepalived.conf has no keyword for them) and migrate keeps them.
func TestNativeSloppy(t *testing.T) {
	c, err := ParseNative("d.yaml", []byte(nvs("")+"ipvs:\n  sloppy_tcp: true\n  sloppy_sctp: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IPVS.SloppyTCP || !c.IPVS.SloppySCTP {
		t.Errorf("ipvs %+v: sloppy not set", c.IPVS)
	}
	if d := Default(); d.IPVS.SloppyTCP || d.IPVS.SloppySCTP {
		t.Errorf("sloppy on by default: %+v", d.IPVS)
	}
	out, err := MarshalNative(c)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseNative("n.yaml", out)
	if err != nil {
		t.Fatal(err)
	}
	if back.IPVS.SloppyTCP != c.IPVS.SloppyTCP || back.IPVS.SloppySCTP != c.IPVS.SloppySCTP {
		t.Errorf("read back %+v, want %+v", back.IPVS, c.IPVS)
	}
}
