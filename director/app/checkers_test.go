package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The checkers run for real here (the harness has no checker clock): the
// probes are MISC_CHECK scripts under /bin/sh and FILE_CHECKs on files in
// the test's directory, checked every 50 ms, and the tests wait (bounded)
// for the fake kernel to show the weight expected.

// checkConf is a keepalived.conf of one service with delay_loop 0.05 s,
// the vrrp_track_file "tf" on DIR/tf, and the real servers rs.
func checkConf(rs string) string {
	return `global_defs {
    router_id lb1
}

vrrp_track_file tf {
    file DIR/tf
    weight 2
}

virtual_server 192.0.2.100 80 {
    delay_loop 0.05
    lb_algo lc
    lb_kind DR
    protocol TCP
` + rs + `}
`
}

// miscScript is a MISC_CHECK that exits with the number in DIR/NAME.rc.
func miscScript(name string) string {
	return fmt.Sprintf(`        MISC_CHECK {
            misc_path "/bin/sh DIR/%s.sh"
            misc_dynamic
        }
`, name)
}

// startChecks starts the daemon on text after writing the scripts and
// exit statuses of names (each starting at rc) and the track file.
func startChecks(t *testing.T, text string, rc map[string]int, tf int) *harness {
	t.Helper()
	return startWith(t, text, func(dir string, _ *fakeIPVS) {
		for name, code := range rc {
			writeFile(t, filepath.Join(dir, name+".sh"), fmt.Sprintf("exit $(cat %s/%s.rc)\n", dir, name))
			writeFile(t, filepath.Join(dir, name+".rc"), fmt.Sprint(code))
		}
		writeFile(t, filepath.Join(dir, "tf"), fmt.Sprint(tf))
	}, keyless)
}

// writeFile replaces a file atomically, so that a probe never reads it
// half written.
func writeFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// kernelWeights reads the fake kernel: weight by real server, absent ones
// missing.
func (h *harness) kernelWeights() map[string]int {
	h.t.Helper()
	svcs, err := h.ipvs.Services()
	if err != nil {
		h.t.Fatal(err)
	}
	out := map[string]int{}
	for _, s := range svcs {
		for _, d := range s.Destinations {
			out[d.Key()] = d.Weight
		}
	}
	return out
}

// waitWeights waits up to 10 s for the fake kernel to hold exactly want.
func (h *harness) waitWeights(what string, want map[string]int) {
	h.t.Helper()
	var got map[string]int
	if !testutil.WaitFor(10*time.Second, func() bool { got = h.kernelWeights(); return cmp.Equal(want, got) }) {
		h.t.Fatalf("%s: kernel weights (-want +got)\n%s", what, cmp.Diff(want, got))
	}
}

// reload rewrites the configuration and reloads it.
func (h *harness) reload(text string) {
	h.t.Helper()
	h.write(text)
	if err := h.call(control.OpReload, nil, nil); err != nil {
		h.t.Fatalf("reload: %v", err)
	}
}

const (
	rs11 = "192.0.2.11:80"
	rs12 = "192.0.2.12:80"
)

// TestMiscDynamicWeight: misc_dynamic's exit status sets the IPVS weight
// (status − 2), exit 0 restores the configured one, exit 1 removes the
// server, and it comes back at its configured weight.
func TestMiscDynamicWeight(t *testing.T) {
	text := checkConf("    real_server 192.0.2.11 80 {\n        weight 10\n" + miscScript("a") + "    }\n")
	h := startChecks(t, text, map[string]int{"a": 7}, 0)
	h.waitWeights("exit 7", map[string]int{rs11: 5})
	writeFile(t, filepath.Join(h.dir, "a.rc"), "0")
	h.waitWeights("exit 0", map[string]int{rs11: 10})
	writeFile(t, filepath.Join(h.dir, "a.rc"), "1")
	h.waitWeights("exit 1", map[string]int{})
	writeFile(t, filepath.Join(h.dir, "a.rc"), "0")
	h.waitWeights("exit 0 again", map[string]int{rs11: 10})
	if st := h.status(); st.Services[0].RealServers[0].ConfiguredWeight != 10 {
		t.Errorf("configured weight %d, want 10", st.Services[0].RealServers[0].ConfiguredWeight)
	}
}

// TestMiscFailureInhibit: with inhibit_on_failure a failing MISC_CHECK
// leaves the server at weight 0 instead of removing it.
func TestMiscFailureInhibit(t *testing.T) {
	text := checkConf("    real_server 192.0.2.11 80 {\n        weight 10\n        inhibit_on_failure\n" + miscScript("a") + "    }\n" +
		"    real_server 192.0.2.12 80 {\n        weight 1\n    }\n")
	h := startChecks(t, text, map[string]int{"a": 0}, 0)
	h.waitWeights("start", map[string]int{rs11: 10, rs12: 1})
	writeFile(t, filepath.Join(h.dir, "a.rc"), "1")
	h.waitWeights("exit 1", map[string]int{rs11: 0, rs12: 1})
	writeFile(t, filepath.Join(h.dir, "a.rc"), "4")
	h.waitWeights("exit 4", map[string]int{rs11: 2, rs12: 1})
}

// TestFileCheckWeight: a FILE_CHECK adds the track_file's value times its
// weight (its own, else the track_file's) to the configured weight; one
// file serves both servers.
func TestFileCheckWeight(t *testing.T) {
	text := checkConf(`    real_server 192.0.2.11 80 {
        weight 10
        FILE_CHECK {
            track_file tf
            weight 3
        }
    }
    real_server 192.0.2.12 80 {
        weight 1
        FILE_CHECK {
            track_file tf
        }
    }
`)
	h := startChecks(t, text, nil, 4)
	h.waitWeights("value 4", map[string]int{rs11: 22, rs12: 9})
	writeFile(t, filepath.Join(h.dir, "tf"), "-2")
	// 10 − 6; 1 − 4 clamped at 0.
	h.waitWeights("value -2", map[string]int{rs11: 4, rs12: 0})
	writeFile(t, filepath.Join(h.dir, "tf"), "0")
	h.waitWeights("value 0", map[string]int{rs11: 10, rs12: 1})
}

// TestReloadRestartsChangedCheckerOnly: a reload that changes one
// checker's misc_path restarts that checker and no other, and the new
// command takes effect.
func TestReloadRestartsChangedCheckerOnly(t *testing.T) {
	server := func(addr, second string) string {
		return "    real_server " + addr + " 80 {\n        weight 1\n" +
			"        MISC_CHECK {\n            misc_path \"/bin/sh DIR/a.sh\"\n        }\n" +
			"        MISC_CHECK {\n            misc_path \"/bin/sh DIR/" + second + ".sh\"\n        }\n    }\n"
	}
	h := startChecks(t, checkConf(server("192.0.2.11", "b")+server("192.0.2.12", "b")), map[string]int{"a": 0, "b": 0, "c": 1}, 0)
	h.waitWeights("start", map[string]int{rs11: 1, rs12: 1})
	// The configured weight is there before any check ran (no alpha):
	// wait for every checker's first result, which the reload must keep.
	allRan := func() bool {
		ran := true
		for _, rs := range h.status().Services[0].RealServers {
			for _, c := range rs.Checks {
				ran = ran && c.Reason != "not run yet"
			}
		}
		return ran
	}
	if !testutil.WaitFor(10*time.Second, allRan) {
		h.t.Fatalf("the checkers did not all run within 10 s: %+v", h.status().Services[0].RealServers)
	}
	h.reload(checkConf(server("192.0.2.11", "c") + server("192.0.2.12", "b")))
	h.waitWeights("after the reload", map[string]int{rs12: 1})
	var restarts []string
	for _, l := range strings.Split(h.logs.String(), "\n") {
		if strings.Contains(l, "health check restarts") {
			restarts = append(restarts, l)
		}
	}
	if len(restarts) != 1 || !strings.Contains(restarts[0], "rs="+rs11) || !strings.Contains(restarts[0], "check=MISC_CHECK#2") {
		t.Errorf("restarts logged:\n%s\nwant only 192.0.2.11's MISC_CHECK#2", strings.Join(restarts, "\n"))
	}
	// The first checker of 192.0.2.11 kept its result.
	st := h.status()
	for _, c := range st.Services[0].RealServers[0].Checks {
		if c.Name == "MISC_CHECK" && c.Reason == "not run yet" {
			t.Errorf("MISC_CHECK of %s lost its last result: %+v", rs11, c)
		}
	}
}

// TestReloadRemovedCheckerWeight: a checker removed by a reload takes its
// weight with it; the other checker's stays.
func TestReloadRemovedCheckerWeight(t *testing.T) {
	file := "        FILE_CHECK {\n            track_file tf\n            weight 3\n        }\n"
	h := startChecks(t, checkConf("    real_server 192.0.2.11 80 {\n        weight 10\n"+miscScript("a")+file+"    }\n"), map[string]int{"a": 7}, 1)
	// 10 + (5 − 10) + (13 − 10).
	h.waitWeights("both checkers", map[string]int{rs11: 8})
	h.reload(checkConf("    real_server 192.0.2.11 80 {\n        weight 10\n" + file + "    }\n"))
	h.waitWeights("MISC_CHECK removed", map[string]int{rs11: 13})
}

// TestValidateCheckErrors: what the probes cannot take comes out of
// Validate at the check's line.
func TestValidateCheckErrors(t *testing.T) {
	cfg, err := config.Parse("k.conf", []byte(`virtual_server 192.0.2.100 80 {
    real_server 192.0.2.11 80 {
        MISC_CHECK {
            misc_path "/bin/echo 'abc"
        }
        MISC_CHECK {
            misc_path /bin/true
            user no-such-user-for-tandem
        }
    }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	err = Validate(cfg)
	for _, want := range []string{
		`k.conf:3: real_server 192.0.2.11:80: MISC_CHECK: keyword "misc_path": missing terminating '`,
		`k.conf:6: real_server 192.0.2.11:80: MISC_CHECK#2: keyword "user": `,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate = %v\nwant %q", err, want)
		}
	}

	// The reader refuses bad hex itself; ProbeOf still says where.
	s := &cfg.Services[0]
	c := config.Check{Type: config.UDPCheck, Payload: "zz", Pos: config.Pos{File: "k.conf", Line: 9}}
	if _, err := ProbeOf(cfg, s, &s.RealServers[0], &c, "UDP_CHECK", nil); err == nil || !strings.HasPrefix(err.Error(), `k.conf:9: real_server 192.0.2.11:80: UDP_CHECK: keyword "payload"`) {
		t.Errorf("ProbeOf bad payload = %v", err)
	}
}

// TestSettingsOfNewCheckers: keepalived's per-checker scheduling defaults.
func TestSettingsOfNewCheckers(t *testing.T) {
	s := &config.VirtualService{DelayLoop: 6 * time.Second}
	for _, tt := range []struct {
		c                config.Check
		retry            int
		delayBeforeRetry time.Duration
		delayLoop        time.Duration
	}{
		{config.Check{Type: config.MiscCheck, Retry: 0, DelayBeforeRetry: time.Second}, -1, time.Second, 6 * time.Second},
		{config.Check{Type: config.DNSCheck, Retry: 3, DelayBeforeRetry: config.DefaultDelayBeforeRetry}, 3, 6 * time.Second, 6 * time.Second},
		{config.Check{Type: config.DNSCheck, Retry: 3, DelayBeforeRetry: 2 * time.Second}, 3, 2 * time.Second, 6 * time.Second},
		{config.Check{Type: config.FileCheck, Retry: 1, DelayBeforeRetry: time.Second}, -1, time.Second, time.Second},
		{config.Check{Type: config.TCPCheck, Retry: 1, DelayBeforeRetry: time.Second}, 1, time.Second, 6 * time.Second},
	} {
		st := SettingsOf(s, &tt.c)
		if st.Retry != tt.retry || st.DelayBeforeRetry != tt.delayBeforeRetry || st.DelayLoop != tt.delayLoop {
			t.Errorf("%s: %+v, want retry %d, delay_before_retry %s, delay_loop %s", tt.c.Type, st, tt.retry, tt.delayBeforeRetry, tt.delayLoop)
		}
	}
}
