package reconcile

import (
	"strings"
	"testing"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
)

func TestScenarioAddresses(t *testing.T) {
	if got := VIP(0).String(); got != "198.18.0.1" {
		t.Errorf("VIP(0) = %s", got)
	}
	if got := VIP(999).String(); got != "198.18.3.232" {
		t.Errorf("VIP(999) = %s", got)
	}
	if got := RS(9).String(); got != "198.19.0.10" {
		t.Errorf("RS(9) = %s", got)
	}
	ch := Default.OneWeight()
	if ch != (Change{Service: 500, Dest: 3, Weight: 2}) {
		t.Errorf("OneWeight = %+v", ch)
	}
}

// The generated keepalived.conf is what tandem-director reads: the same
// services and real servers, all at weight 1 but the changed one.
func TestKeepalivedConfParses(t *testing.T) {
	sc := Scenario{Services: 20, Dests: 4}
	ch := sc.OneWeight()
	for _, c := range []*Change{nil, &ch} {
		path := t.TempDir() + "/keepalived.conf"
		writeFile(t, path, sc.Keepalived(c))
		cfg, err := config.Load(path)
		if err != nil {
			t.Fatalf("config.Load: %v", err)
		}
		if len(cfg.Services) != sc.Services {
			t.Fatalf("%d services, want %d", len(cfg.Services), sc.Services)
		}
		want := sc.Expected(c)
		got := Table{}
		for _, s := range cfg.Services {
			ts := TableService{Sched: s.Scheduler, Dests: map[string]string{}}
			for _, rs := range s.RealServers {
				ts.Dests[rs.Addr.String()] = "Route " + itoa(rs.Weight)
			}
			got["TCP "+s.Addr.String()] = ts
		}
		if d := Diff(want, got); d != "" {
			t.Errorf("config model differs from the expected table: %s", d)
		}
	}
}

func TestIpvsadmRules(t *testing.T) {
	sc := Scenario{Services: 2, Dests: 2}
	want := "-A -t 198.18.0.1:80 -s wlc\n-a -t 198.18.0.1:80 -r 198.19.0.1:80 -g -w 1\n-a -t 198.18.0.1:80 -r 198.19.0.2:80 -g -w 1\n" +
		"-A -t 198.18.0.2:80 -s wlc\n-a -t 198.18.0.2:80 -r 198.19.0.1:80 -g -w 1\n-a -t 198.18.0.2:80 -r 198.19.0.2:80 -g -w 1\n"
	if got := sc.IpvsadmRules(); got != want {
		t.Errorf("rules:\n%s\nwant:\n%s", got, want)
	}
	if got := strings.Join(sc.IpvsadmEdit(sc.OneWeight()), " "); got != "-e -t 198.18.0.2:80 -r 198.19.0.2:80 -g -w 2" {
		t.Errorf("edit: %s", got)
	}
	d := sc.Desired(nil)
	if err := d.Validate(); err != nil || len(d) != 2 {
		t.Errorf("Desired: %d services, %v", len(d), err)
	}
}

func TestTableOf(t *testing.T) {
	sc := Scenario{Services: 2, Dests: 2}
	ch := sc.OneWeight()
	var states []lvs.ServiceState
	for i := range sc.Services {
		sp := sc.Spec(&ch, i)
		st := lvs.ServiceState{Service: sp.Service}
		for _, d := range sp.Destinations {
			st.Destinations = append(st.Destinations, lvs.DestinationState{Destination: d})
		}
		states = append(states, st)
	}
	got := TableOf(states)
	if d := Diff(sc.Expected(&ch), got); d != "" {
		t.Errorf("diff: %s", d)
	}
	if d := Diff(sc.Expected(nil), got); d != `TCP 198.18.0.2:80 -> 198.19.0.2:80: "Route 2", want "Route 1"` {
		t.Errorf("diff against the unchanged table: %s", d)
	}
	if s, d := got.Entries(); s != 2 || d != 4 {
		t.Errorf("Entries = %d, %d", s, d)
	}
	states[0].Service.Flags, states[0].Service.Timeout = lvs.FlagPersistent, 300
	states[0].Destinations[0].Forward = lvs.NAT
	got = TableOf(states)
	if ts := got["TCP 198.18.0.1:80"]; ts.Sched != "wlc persistent 300" || ts.Dests["198.19.0.1:80"] != "Masq 1" {
		t.Errorf("TableOf: %+v", ts)
	}
}

func TestDiffMissingAndExtra(t *testing.T) {
	sc := Scenario{Services: 3, Dests: 1}
	got := sc.Expected(nil)
	delete(got, "TCP 198.18.0.1:80")
	got["TCP 198.18.0.9:80"] = TableService{Sched: "wlc", Dests: map[string]string{}}
	got["TCP 198.18.0.2:80"].Dests["198.19.0.7:80"] = "Route 1"
	d := Diff(sc.Expected(nil), got)
	for _, want := range []string{"missing service TCP 198.18.0.1:80", "unexpected service TCP 198.18.0.9:80", "unexpected destination 198.19.0.7:80"} {
		if !strings.Contains(d, want) {
			t.Errorf("Diff = %q, lacks %q", d, want)
		}
	}
}
