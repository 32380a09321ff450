package kadiff

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// knownDiff is a difference between keepalived 2.2.7 and tandem-director
// that the test expects: on every compared file whose name matches Files,
// class Class differs, for Reason. The list must match what the test finds
// exactly: an unlisted difference fails the test, and so does a listed one
// that no longer occurs (fix the daemon, then delete the row).
type knownDiff struct {
	Files  string // regular expression over corpus file names
	Class  string // one of Classes, or ClassRefused
	Reason string
}

// knownDiffs are today's differences, grouped by cause. File name groups:
// real corpus files by number, keepalived's samples by suffix.
var knownDiffs = []knownDiff{
	// --- Tandem refuses what keepalived runs ---
	{`010-.*`, ClassRefused, `placeholder addresses ("x.x.x.x/24" in virtual_ipaddress, virtual_server, real_server): keepalived logs and skips each bad line and runs the rest; Tandem refuses the file`},
	{`(035|056)-.*`, ClassRefused, `a block not closed at the end of the file (missing '}'): keepalived closes it at EOF and runs; Tandem refuses`},
	{`keepalived\.conf\.SSL_GET`, ClassRefused, `auth_type AH: keepalived runs VRRPv2 with IPsec AH (protocol 51); Tandem refuses AH`},
	{`keepalived\.conf\.vrrp\.rules`, ClassRefused, `malformed prefix "192.168.100./24" in static_rules/virtual_rules: keepalived skips the rule; Tandem refuses`},
	{`full\.conf`, ClassRefused, `fwmark service FWM 7 with an IPv6 destination beside IPv4 ones: keepalived programs the IPv4 ones; tandem-director exits at start ("address family differs from the service's")`},

	// --- tracking (vrrp_script) ---
	{`(006|007|012|023|027|040|048|063)-.*`, ClassAddr, `vrrp_script whose program does not exist here: keepalived disables the script ("since not found/accessible") and the instance becomes MASTER; Tandem counts every run as failed, the instance stays FAULT: no VIP`},
	{`(006|007|012|023|027|040|048|063)-.*`, ClassRoute, `same cause (missing vrrp_script program → Tandem FAULT): no local route of the VIP`},
	{`(006|007|012|023|027|040|048|063)-.*`, ClassAdvert, `same cause (missing vrrp_script program → Tandem FAULT): no adverts`},
	{`(009|025|030|042|044|058)-.*|native-track\.conf`, ClassAdvert, `vrrp_script with a weight whose program does not exist (or fails) here: keepalived disables a missing script, priority unchanged; Tandem applies the weight (priority lower by it)`},

	// --- VRRP semantics ---
	{`(001|067)-.*`, ClassAdvert, `use_vmac: keepalived sends from the virtual MAC 00:00:5e:00:01:VRID (macvlan vrrp.VRID / named vmac); Tandem keeps the interface's MAC (config warning)`},
	{`(001|067)-.*`, ClassLink, `use_vmac: keepalived creates the macvlan VMAC interface; Tandem does not`},
	{`(001|067)-.*`, ClassAddr, `use_vmac: keepalived puts the VIPs on the VMAC interface; Tandem on the parent`},
	{`(001|067)-.*`, ClassRoute, `use_vmac: local/subnet routes of the VIPs on the VMAC interface vs the parent`},
	{`(001|067)-.*`, ClassFirewall, `use_vmac: keepalived adds nft table ip keepalived (vmac_map, IGMP dup to the parent); Tandem adds none`},
	{`keepalived\.conf\.conditional_conf`, ClassLink, `use_vmac (the sample's instance on this host): keepalived creates the VMAC interface vrrp.1; Tandem does not`},
	{`keepalived\.conf\.conditional_conf`, ClassFirewall, `use_vmac: keepalived's nft table ip keepalived (vmac_map); Tandem adds none`},
	{`keepalived\.conf\.vrrp`, ClassAdvert, `an address listed twice in virtual_ipaddress: keepalived advertises it twice (4 addresses); Tandem once (3)`},
	{`(049|057)-.*`, ClassFirewall, `vrrp_strict: keepalived adds nft table ip keepalived dropping traffic to/from the VIPs (set vips, chains in/out); Tandem adds no firewall rules`},

	// --- addresses ---
	{`keepalived\.conf\.vrrp\.static_ipaddress|native-track\.conf`, ClassAddr, `static_ipaddress / virtual_ipaddress "scope link" / "scope host": keepalived applies the scope; Tandem adds scope global`},

	// --- routes and rules ---
	{`native-track\.conf`, ClassRoute, `static_routes "mtu 1400": keepalived sets the route's MTU; Tandem drops it`},
	{`native-track\.conf`, ClassRule, `static_rules/virtual_rules without priority: keepalived numbers them from 16384 down; Tandem lets the kernel choose (32765) or uses another number (99)`},

	// --- IPVS ---
	{`(024)-.*|keepalived\.conf\.misc_check(_arg)?`, ClassIPVS, `MISC_CHECK whose program does not exist here (misc_path): keepalived disables the checker and keeps the real server up; Tandem counts it failed and the destination is never added`},
	{`native-track\.conf`, ClassIPVS, `fwmark service with a real server without port: keepalived adds the destination with port 0; Tandem with port 80`},
	{`024-.*`, ClassTimeout, `global_defs lvs_timeouts (udp 15): keepalived sets the IPVS timeouts; Tandem does not implement lvs_timeouts`},
}

// flakyDiffs are differences that depend on timing under TCG: they may or
// may not occur, so they are never reported as stale.
var flakyDiffs = []knownDiff{
	{`keepalived\.conf\.vrrp\.localcheck`, ClassAdvert, `timing, not meaning: nine instances tracking 1-2 s scripts (fall/rise 2) on one interface; under TCG load some of keepalived's instances had not settled inside the capture window in one of three full runs`},
}

// checkKnown fails t unless the differences in results are exactly
// knownDiffs, and reports every difference grouped by its cause.
func checkKnown(t *testing.T, results []fileResult) {
	t.Helper()
	all := append(append([]knownDiff{}, knownDiffs...), flakyDiffs...)
	type key struct{ file, class string }
	found := map[key]Difference{}
	compared := map[string]bool{}
	for _, r := range results {
		if r.verdict == verdictSame || r.verdict == verdictDifferent {
			compared[r.name] = true
		}
		for _, d := range r.diffs {
			found[key{r.name, d.Class}] = d
		}
	}
	res := make([]*regexp.Regexp, len(all))
	for i, k := range all {
		re, err := regexp.Compile("^(?:" + k.Files + ")$")
		if err != nil {
			t.Fatalf("knownDiffs[%d] %q: %v", i, k.Files, err)
		}
		if !slices.Contains(Classes, k.Class) && k.Class != ClassRefused {
			t.Fatalf("knownDiffs[%d]: unknown class %q", i, k.Class)
		}
		res[i] = re
	}
	// Every found difference must be listed.
	explained := map[key]int{}
	var unexpected []string
	for k, d := range found {
		idx := -1
		for i, kd := range all {
			if kd.Class == k.class && res[i].MatchString(k.file) {
				idx = i
				break
			}
		}
		if idx < 0 {
			unexpected = append(unexpected, fmt.Sprintf("%s %s", k.file, d))
			continue
		}
		explained[k] = idx
	}
	slices.Sort(unexpected)
	for _, u := range unexpected {
		t.Errorf("UNEXPECTED difference (add it to knownDiffs with its cause, or fix the daemon): %s", u)
	}
	// Every listed difference must occur on every compared file it names.
	for i, kd := range all {
		n := 0
		for name := range compared {
			if !res[i].MatchString(name) {
				continue
			}
			if _, ok := found[key{name, kd.Class}]; !ok {
				if i >= len(knownDiffs) {
					continue
				}
				t.Errorf("STALE knownDiffs[%d] (%s, %s): %s no longer differs there; delete or narrow the row", i, kd.Files, kd.Class, name)
				continue
			}
			n++
		}
		if n == 0 && len(compared) > 0 && !partialRun() && i < len(knownDiffs) {
			t.Errorf("STALE knownDiffs[%d] (%s, %s): matches no compared file", i, kd.Files, kd.Class)
		}
	}
	// The report, grouped by cause.
	var b strings.Builder
	for i, kd := range all {
		fmt.Fprintf(&b, "\n== [%d] %s — %s", i, kd.Class, kd.Reason)
		var ks []key
		for k, idx := range explained {
			if idx == i {
				ks = append(ks, k)
			}
		}
		slices.SortFunc(ks, func(a, b key) int { return strings.Compare(a.file, b.file) })
		for _, k := range ks {
			fmt.Fprintf(&b, "\n  %s %s", k.file, found[k])
		}
	}
	if b.Len() > 0 {
		t.Logf("known differences, by cause:%s", b.String())
	}
}
