package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDebugPProf: debug.pprof is off by default, takes a loopback IP:port,
// and refuses anything else with the file, line and key; it is written
// back by MarshalNative and seen by Diff.
func TestDebugPProf(t *testing.T) {
	c, err := ParseNative("d.yaml", []byte(nvrrp("")))
	if err != nil {
		t.Fatal(err)
	}
	if c.Debug.PProf != "" {
		t.Fatalf("debug.pprof defaults to %q, want off", c.Debug.PProf)
	}
	for _, addr := range []string{"127.0.0.1:6060", "[::1]:6061"} {
		on, err := ParseNative("d.yaml", []byte(nvrrp("debug:\n  pprof: \""+addr+"\"\n")))
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if on.Debug.PProf != addr || on.Debug.Pos.Line != 8 {
			t.Errorf("%s: debug %+v", addr, on.Debug)
		}
		if ch := Diff(c, on); !ch.Debug || ch.String() != "debug" {
			t.Errorf("%s: Diff says %q (Debug %v)", addr, ch.String(), ch.Debug)
		}
		out, err := MarshalNative(on)
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseNative("back.yaml", out)
		if err != nil {
			t.Fatalf("%s: the marshalled file does not parse: %v\n%s", addr, err, out)
		}
		if back.Debug.PProf != addr {
			t.Errorf("%s: marshalled and read back as %q:\n%s", addr, back.Debug.PProf, out)
		}
	}
	if out, err := MarshalNative(c); err != nil || strings.Contains(string(out), "debug") {
		t.Errorf("the default is written as:\n%s (%v)", out, err)
	}

	for _, tt := range []struct{ in, want string }{
		{"debug:\n  pprof: 192.0.2.1:6060\n",
			`d.yaml:8: key "debug.pprof": 192.0.2.1 is not a loopback address: the pprof endpoint listens on 127.0.0.1 or ::1 only`},
		{"debug:\n  pprof: \":6060\"\n",
			`d.yaml:8: key "debug.pprof": ":6060" is not IP:PORT (e.g. 127.0.0.1:6060 or [::1]:6060)`},
		{"debug:\n  pprof: localhost:6060\n",
			`d.yaml:8: key "debug.pprof": "localhost:6060" is not IP:PORT (e.g. 127.0.0.1:6060 or [::1]:6060)`},
		{"debug:\n  pprof: 127.0.0.1:0\n",
			`d.yaml:8: key "debug.pprof": "127.0.0.1:0": the port must be 1..65535`},
		{"debug:\n  pprof: 6060\n",
			`d.yaml:8: key "debug.pprof": "6060" is not IP:PORT (e.g. 127.0.0.1:6060 or [::1]:6060)`},
		{"debug:\n  expvar: true\n",
			`d.yaml:8: key "debug.expvar": unknown key (known here: pprof)`},
	} {
		_, err := ParseNative("d.yaml", []byte(nvrrp(tt.in)))
		var got []string
		if err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		if diff := cmp.Diff([]string{tt.want}, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.in, diff)
		}
	}
}
