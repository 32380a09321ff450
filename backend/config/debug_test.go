package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDebugPProf: debug.pprof is off by default, takes a loopback IP:port
// (its line recorded for the listener's errors), and refuses anything
// else with the file, line and key.
func TestDebugPProf(t *testing.T) {
	c, err := Parse("b.yaml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if c.Debug.PProf != "" {
		t.Fatalf("debug.pprof defaults to %q, want off", c.Debug.PProf)
	}
	for _, addr := range []string{"127.0.0.1:6061", "[::1]:6061"} {
		c, err := Parse("b.yaml", []byte(minimal+"debug:\n  pprof: \""+addr+"\"\n"))
		if err != nil {
			t.Fatalf("%s: %v", addr, err)
		}
		if c.Debug.PProf != addr || c.At("debug.pprof") != "b.yaml:6" {
			t.Errorf("%s: debug %+v at %s", addr, c.Debug, c.At("debug.pprof"))
		}
	}
	for _, tt := range []struct{ in, want string }{
		{"debug:\n  pprof: 192.0.2.1:6061\n",
			`b.yaml:6: key "debug.pprof": 192.0.2.1 is not a loopback address: the pprof endpoint listens on 127.0.0.1 or ::1 only`},
		{"debug:\n  pprof: \"[::]:6061\"\n",
			`b.yaml:6: key "debug.pprof": :: is not a loopback address: the pprof endpoint listens on 127.0.0.1 or ::1 only`},
		{"debug:\n  pprof: \":6061\"\n",
			`b.yaml:6: key "debug.pprof": ":6061" is not IP:PORT (e.g. 127.0.0.1:6060 or [::1]:6060)`},
		{"debug:\n  pprof: 127.0.0.1:0\n",
			`b.yaml:6: key "debug.pprof": "127.0.0.1:0": the port must be 1..65535`},
		{"debug:\n  pprof: localhost:6061\n",
			`b.yaml:6: key "debug.pprof": "localhost:6061" is not IP:PORT (e.g. 127.0.0.1:6060 or [::1]:6060)`},
	} {
		_, err := Parse("b.yaml", []byte(minimal+tt.in))
		var got []string
		if err != nil {
			got = strings.Split(err.Error(), "\n")
		}
		if diff := cmp.Diff([]string{tt.want}, got); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.in, diff)
		}
	}
}
