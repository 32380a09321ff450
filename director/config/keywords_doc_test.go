package config

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// The compatibility table in docs/config-director.md: every keyword of
// keepalived 2.2.7 (the catalogue, keepalived_keywords.go) with what
// Tandem does with it. The status of a keyword comes from the reader
// itself: each keyword is put in a small file in its block and read; a
// keyword the reader does not implement says so in its warning. What a
// supported keyword does differently, and what is refused, is in
// kwNotes below. TestKeywordTableDoc fails when the doc is not what this
// gives; -update rewrites it.

const (
	kwSupported = "supported"
	kwDiffers   = "supported, differs"
	kwNoEffect  = "accepted, no effect"
	kwRefused   = "refused"
)

// kwNote is what the table says of a keyword beyond the reader's verdict.
type kwNote struct {
	status string
	note   string
}

// kwNotes are the keywords Tandem supports with a difference, refuses in
// part, or whose lines (list blocks) the reader cannot be asked about.
var kwNotes = map[string]kwNote{
	"global_defs vrrp_strict":              {kwDiffers, "no firewall rules are added for the VIPs; the strict mode's corrections (authentication and preempt_delay ignored) are applied, each with a warning"},
	"global_defs vrrp_skip_check_adv_addr": {kwDiffers, "adverts whose address list differs from ours are still dropped: keep both peers' virtual_ipaddress equal"},
	"global_defs vrrp_mcast_group4":        {kwDiffers, "only the default 224.0.0.18; another group is refused (peers on it would not hear each other); use unicast_peer"},
	"global_defs vrrp_mcast_group6":        {kwDiffers, "only the default ff02::12; another group is refused; use unicast_peer"},
	"global_defs lvs_sync_daemon":          {kwDiffers, "maxlen, port, ttl and group options are refused"},
	"global_defs smtp_alert":               {kwDiffers, "VRRP transitions only (no checker mail)"},
	"global_defs router_id":                {kwSupported, "names the node in heartbeat replies and mail"},
	"vrrp_instance use_vmac":               {kwNoEffect, "no macvlan interface: the VIPs stay on the interface with its MAC and are announced by gratuitous ARPs (IPv6: unsolicited NAs) on takeover"},
	"vrrp_instance vmac_xmit_base":         {kwNoEffect, "belongs to use_vmac"},
	"vrrp_instance notify_master":          {kwDiffers, "a USER after the script is a warning: Tandem runs notify scripts as root"},
	"vrrp_instance notify_backup":          {kwDiffers, "as notify_master"},
	"vrrp_instance notify_fault":           {kwDiffers, "as notify_master"},
	"vrrp_instance notify_stop":            {kwDiffers, "as notify_master"},
	"vrrp_instance notify":                 {kwDiffers, "as notify_master"},
	"vrrp_instance authentication":         {kwDiffers, "auth_type AH is refused (RFC 3768 removed VRRP authentication); PASS works"},
	"authentication auth_type":             {kwDiffers, "PASS only; AH is refused with a message"},
	"authentication auth_pass":             {kwSupported, "longer than 8 bytes: the first 8, with a warning, as keepalived"},
	"vrrp_instance track_interface":        {kwSupported, "weight W changes the priority; without a weight a link down means FAULT"},
	"vrrp_instance track_script":           {kwSupported, "a script that cannot be executed counts as failed (keepalived: as success, its issue #2126)"},
	"vrrp_script script":                   {kwDiffers, "run without a shell, in its own process group, killed as a group on timeout; a missing program is a warning at load and a failure at run (keepalived disables the script)"},
	"vrrp_track_process process":           {kwDiffers, "processes are counted from /proc once a second (keepalived: process events)"},
	"vrrp_sync_group global_tracking":      {kwSupported, "keepalived's deprecated name of sync_group_tracking_weight, read the same way"},
	"virtual_server protocol":              {kwSupported, "without it a service is UDP, as keepalived 2.2.7"},
	"virtual_server lvs_method":            {kwDiffers, "TUN takes no tunnel options (type, port, csum)"},
	"virtual_server lb_kind":               {kwDiffers, "as lvs_method"},
	"virtual_server lvs_sched":             {kwSupported, "mh, twos and every scheduler IPVS has"},
	"virtual_server sh-port":               {kwSupported, "as keepalived, only after `lvs_sched sh` in the block (else a warning and no effect); native `scheduler_flags`"},
	"virtual_server sh-fallback":           {kwSupported, "as sh-port"},
	"virtual_server mh-port":               {kwSupported, "as keepalived, only after `lvs_sched mh` in the block (else a warning and no effect); native `scheduler_flags`"},
	"virtual_server mh-fallback":           {kwSupported, "as mh-port"},
	"virtual_server flag-1":                {kwSupported, "any scheduler; native `scheduler_flags`"},
	"virtual_server flag-2":                {kwSupported, "any scheduler; native `scheduler_flags`"},
	"virtual_server flag-3":                {kwSupported, "any scheduler; native `scheduler_flags`"},
	"virtual_server ops":                   {kwSupported, "on a TCP or SCTP address service a warning and off, as keepalived (native: an error); native `ops: true`"},
	"virtual_server real_server":           {kwSupported, "in DR/TUN a port other than the virtual port is a warning and the virtual port is used, as keepalived"},
	"real_server MISC_CHECK":               {kwSupported, "own process group, killed as a group on timeout; never two runs at once"},
	"real_server PING_CHECK":               {kwSupported, "never changes ping_group_range"},
	"top level include":                    {kwSupported, "a named file that cannot be read is skipped with a warning, as keepalived"},
}

// kwLineOptions are the option words of list blocks that Tandem applies;
// the others of the same blocks are warnings (the line is applied
// without them).
var kwLineOptions = map[string][]string{
	"virtual_ipaddress":          {"dev", "label", "brd", "broadcast", "preferred_lft"},
	"virtual_ipaddress_excluded": {"dev", "label", "brd", "broadcast", "preferred_lft"},
	"static_ipaddress":           {"dev", "label", "brd", "broadcast", "preferred_lft"},
	"virtual_routes":             {"src", "to", "via", "gw", "dev", "oif", "table", "metric", "priority", "preference", "scope", "blackhole", "unreachable", "prohibit", "throw", "default"},
	"static_routes":              {"src", "to", "via", "gw", "dev", "oif", "table", "metric", "priority", "preference", "scope", "blackhole", "unreachable", "prohibit", "throw", "default"},
	"virtual_rules":              {"from", "to", "iif", "dev", "oif", "table", "lookup", "priority", "preference", "pref", "order", "fwmark"},
	"static_rules":               {"from", "to", "iif", "dev", "oif", "table", "lookup", "priority", "preference", "pref", "order", "fwmark"},
	"unicast_peer":               {},
	"track_script":               {"weight", "reverse"},
	"track_process":              {"weight", "reverse"},
	"track_file":                 {"weight", "reverse"},
	"track_interface":            {"weight"},
	"virtual_server_group":       {"fwmark"},
}

// kwTemplates put a line in a block of a small keepalived.conf.
var kwTemplates = map[string]func(string) string{
	"top level":   func(l string) string { return l + "\n" },
	"global_defs": func(l string) string { return "global_defs {\n" + l + "\n}\n" },
	"vrrp_instance": func(l string) string {
		return "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\n" + l + "\n}\n"
	},
	"authentication": func(l string) string {
		return "vrrp_instance VI {\ninterface eth0\nvirtual_router_id 1\nauthentication {\nauth_type PASS\nauth_pass x\n" + l + "\n}\n}\n"
	},
	"vrrp_sync_group": func(l string) string {
		return vrrpConfNamed("A", 1) + vrrpConfNamed("B", 2) + "vrrp_sync_group G {\ngroup {\nA\nB\n}\n" + l + "\n}\n"
	},
	"vrrp_script":        func(l string) string { return "vrrp_script s {\nscript /bin/true\n" + l + "\n}\n" },
	"vrrp_track_process": func(l string) string { return "vrrp_track_process p {\nprocess x\n" + l + "\n}\n" },
	"vrrp_track_file":    func(l string) string { return "track_file f {\nfile /x\n" + l + "\n}\n" },
	"virtual_server":     func(l string) string { return "virtual_server 192.0.2.1 80 {\nprotocol TCP\n" + l + "\n}\n" },
	"real_server": func(l string) string {
		return "virtual_server 192.0.2.1 80 {\nprotocol TCP\nreal_server 192.0.2.2 80 {\n" + l + "\n}\n}\n"
	},
	"url": func(l string) string {
		return "virtual_server 192.0.2.1 80 {\nprotocol TCP\nreal_server 192.0.2.2 80 {\nHTTP_GET {\nurl {\npath /\n" + l + "\n}\n}\n}\n}\n"
	},
}

// readMessages reads text as the keepalived reader does, without
// Validate (a snippet need not make a whole configuration), and returns
// its errors and warnings.
func readMessages(text string) []string {
	var errs ErrorList
	syn := newKSyntax(noFS{}, &errs, nil)
	nodes := syn.file("k.conf", []byte(text))
	p := &kparser{errs: &errs, cfg: Default()}
	p.top(nodes)
	p.finish()
	return append(errLines(errs), errLines(p.cfg.Warnings)...)
}

func vrrpConfNamed(name string, vrid int) string {
	return fmt.Sprintf("vrrp_instance %s {\ninterface eth0\nvirtual_router_id %d\n}\n", name, vrid)
}

func init() {
	for _, c := range []string{"HTTP_GET", "SSL_GET", "TCP_CHECK", "MISC_CHECK", "PING_CHECK", "UDP_CHECK", "DNS_CHECK", "SMTP_CHECK", "FILE_CHECK"} {
		kwTemplates[c] = func(l string) string {
			return "virtual_server 192.0.2.1 80 {\nprotocol TCP\nreal_server 192.0.2.2 80 {\n" + c + " {\n" + l + "\n}\n}\n}\n"
		}
	}
}

// kwBlocksIgnored are blocks whose opening keyword Tandem ignores: all
// their keywords have no effect.
var kwBlocksIgnored = map[string]string{
	"bfd_instance": "bfd_instance", "garp_group": "garp_group", "track_group": "track_group", "SSL": "SSL",
	"host": "SMTP_CHECK's host", "BFD_CHECK": "BFD_CHECK", "linkbeat_interfaces": "linkbeat_interfaces", "track_bfd": "track_bfd",
}

// kwStatus says what Tandem does with a keyword of keepalived.
func kwStatus(t *testing.T, k kaKeyword) (string, string) {
	if n, ok := kwNotes[k.Block+" "+k.Name]; ok {
		return n.status, n.note
	}
	if owner, ok := kwBlocksIgnored[k.Block]; ok {
		return kwNoEffect, owner + " is not implemented"
	}
	if opts, ok := kwLineOptions[k.Block]; ok {
		for _, o := range opts {
			if o == k.Name {
				return kwSupported, ""
			}
		}
		return kwNoEffect, "the line is applied without it, with a warning"
	}
	tmpl, ok := kwTemplates[k.Block]
	if !ok {
		t.Fatalf("no template for block %q (keyword %q): add one, or a note", k.Block, k.Name)
	}
	msgs := readMessages(tmpl(k.Name + " 1"))
	for _, m := range msgs {
		if strings.Contains(m, fmt.Sprintf("keyword %q (in %s) is not implemented by Tandem", k.Name, k.Block)) ||
			strings.Contains(m, fmt.Sprintf("keyword %q (in %s) is keepalived's old name", k.Name, k.Block)) {
			return kwNoEffect, ""
		}
		if strings.Contains(m, fmt.Sprintf("keyword %q", k.Name)) && strings.Contains(m, "is unknown to keepalived") {
			t.Errorf("%s %s: the catalogue knows it, the reader does not find it in the catalogue: %s", k.Block, k.Name, m)
		}
	}
	return kwSupported, ""
}

const (
	kwBegin = "<!-- BEGIN keepalived keyword table: generated by `go test ./director/config -run TestKeywordTableDoc -update`; do not edit -->"
	kwEnd   = "<!-- END keepalived keyword table -->"
)

func TestKeywordTableDoc(t *testing.T) {
	var b strings.Builder
	counts := map[string]int{}
	block := ""
	for _, k := range kaKeywords {
		if k.Block != block {
			block = k.Block
			fmt.Fprintf(&b, "\n**%s**\n\n| keyword | Tandem | keepalived 2.2.7 does / how Tandem differs |\n|---|---|---|\n", block)
		}
		status, note := kwStatus(t, k)
		counts[status]++
		does := k.Does
		if k.Deprecated != "" {
			does += " (old name of `" + k.Deprecated + "`)"
		}
		if note != "" {
			does += "; Tandem: " + note
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k.Name, status, strings.ReplaceAll(does, "|", `\|`))
	}
	fmt.Fprintf(&b, "\n**Removed from keepalived** (2.2.7 logs \"Unknown keyword\" and skips them; so does Tandem, with a warning)\n\n| block | keyword | what it did |\n|---|---|---|\n")
	for _, k := range kaRemoved {
		fmt.Fprintf(&b, "| %s | `%s` | %s |\n", k.Block, k.Name, strings.ReplaceAll(k.Does, "|", `\|`))
	}
	summary := fmt.Sprintf("\n%d keywords of keepalived 2.2.7: %d %s, %d %s, %d %s, %d %s.\n", len(kaKeywords),
		counts[kwSupported], kwSupported, counts[kwDiffers], kwDiffers, counts[kwNoEffect], kwNoEffect, counts[kwRefused], kwRefused)
	table := kwBegin + "\n" + summary + b.String() + "\n" + kwEnd
	const path = "../../docs/config-director.md"
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, kwBegin), strings.Index(s, kwEnd)
	if i < 0 || j < i {
		t.Fatalf("%s has no generated keyword table (markers %q ... %q)", path, kwBegin, kwEnd)
	}
	got := s[:i] + table + s[j+len(kwEnd):]
	if got == s {
		t.Log(strings.TrimSpace(summary))
		return
	}
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log(strings.TrimSpace(summary))
		return
	}
	t.Errorf("%s: the keyword table is out of date: run go test ./director/config -run TestKeywordTableDoc -update", path)
}
