package app

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestReloadKeepalivedBadInput: what keepalived itself cannot run is an
// error naming FILE:LINE and the keyword; the reload changes nothing and
// the running configuration stays. What keepalived only warns about (a
// vrrp_script whose program does not exist) is a warning: the reload goes
// through.
func TestReloadKeepalivedBadInput(t *testing.T) {
	h := startKeyless(t)
	h.ipvs.Reset()
	path := filepath.Join(h.dir, "director.yaml")
	for _, tt := range []struct {
		name, text, want string
	}{
		{"missing '}'", strings.TrimSuffix(keepalivedConf, "}\n"), `:16: keyword "virtual_server": block is not closed (missing '}')`},
		{"bad address", strings.Replace(keepalivedConf, "real_server 192.0.2.11 80", "real_server 192.0.2.311 80", 1), `:21: keyword "real_server": "192.0.2.311" is not an IP address`},
		{"bad VRID", strings.Replace(keepalivedConf, "virtual_router_id 100", "virtual_router_id 256", 1), `:8: keyword "virtual_router_id": 256 is out of range 1..255`},
		{"include loop", "include " + path + "\n" + keepalivedConf, `:1: keyword "include": ` + path + ` includes itself (include cycle)`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h.write(tt.text)
			err := h.call(control.OpReload, nil, nil)
			if err == nil || !strings.Contains(err.Error(), "keeping the running one") || !strings.Contains(err.Error(), path+tt.want) {
				t.Fatalf("reload: %v\nwant %s%s", err, path, tt.want)
			}
			if calls := h.ipvs.CallStrings(); len(calls) != 0 {
				t.Errorf("a failed reload wrote %v", calls)
			}
			if h.driver("VI0").Status().State != vrrp.StateBackup {
				t.Errorf("a failed reload touched VRRP")
			}
		})
	}
	// A vrrp_script whose program does not exist: a warning, and the
	// reload applies.
	missing := filepath.Join(h.dir, "no-such-check.sh")
	text := "vrrp_script chk {\n    script \"" + missing + "\"\n}\n" + strings.Replace(keepalivedConf, "    advert_int 1\n", "    advert_int 1\n    track_script {\n        chk\n    }\n", 1)
	h.write(text)
	if err := h.call(control.OpReload, nil, nil); err != nil {
		t.Fatalf("reload with a missing script program: %v", err)
	}
	st := h.status()
	if st.LastReloadError != "" {
		t.Errorf("last reload error %q", st.LastReloadError)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("the script exists")
	}
	// At run time the script fails: its weight is 0, so the instance is
	// put in FAULT (keepalived would have disabled the script).
	faultSet := func() bool {
		return slices.ContainsFunc(h.driver("VI0").injectedEvents(), func(e injected) bool { return e.ev == vrrp.FaultSet{Source: "script chk"} })
	}
	if !testutil.WaitFor(5*time.Second, faultSet) {
		t.Fatalf("no FaultSet for the failing script; injected %+v", h.driver("VI0").injectedEvents())
	}
}
