package kadiff

import (
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/e2e/vmtest"
)

// TestPlanCorpus plans every corpus file and checks the plan's
// invariants: each captured interface exists, each link has an IPv4
// address that is not an address of the file, routes go through links.
func TestPlanCorpus(t *testing.T) {
	root, err := vmtest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := Corpus(root)
	if err != nil {
		t.Skipf("corpus incomplete here (keepalived's samples need scripts/deps.sh): %v", err)
	}
	for _, f := range files {
		text, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var p Plan
		if cfg, err := config.Load(f); err == nil {
			p = PlanFromConfig(cfg, text)
		} else {
			p = PlanFromText(text)
		}
		t.Logf("%s: %+v", Name(f), p)
		lits := newBuilder(text).used
		names := map[string]bool{}
		for _, l := range p.Links {
			names[l.Name] = true
			if !slices.ContainsFunc(l.Addrs, func(a netip.Prefix) bool { return a.Addr().Is4() }) {
				t.Errorf("%s: link %s has no IPv4 address", Name(f), l.Name)
			}
			for _, a := range l.Addrs {
				if lits[a.Addr()] && !isSrcIP(text, a.Addr()) {
					t.Errorf("%s: link %s got %s, an address of the file", Name(f), l.Name, a)
				}
			}
		}
		for _, c := range p.Capture {
			if !names[c] {
				t.Errorf("%s: captured interface %s is not a link", Name(f), c)
			}
		}
		for _, r := range p.Routes {
			if !names[r.Dev] {
				t.Errorf("%s: route %s via missing link %s", Name(f), r.Dst, r.Dev)
			}
		}
		if p.Settle < minSettle || p.Settle > maxSettle || p.Window < minWindow || p.Window > maxWindow {
			t.Errorf("%s: settle %v window %v out of bounds", Name(f), p.Settle, p.Window)
		}
	}
}

// isSrcIP reports whether a is given as unicast_src_ip or mcast_src_ip
// (the plan puts those on the interface on purpose).
func isSrcIP(text []byte, a netip.Addr) bool {
	for _, m := range reSrcIPAny.FindAllStringSubmatch(string(text), -1) {
		if m[1] == a.String() {
			return true
		}
	}
	return false
}
