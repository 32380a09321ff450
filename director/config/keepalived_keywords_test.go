package config

import "testing"

// kaBlocks is every Block value the keepalived keyword catalogue may use.
var kaBlocks = map[string]bool{
	"top level": true, "global_defs": true, "linkbeat_interfaces": true,
	"track_group": true, "static_ipaddress": true, "static_routes": true,
	"static_rules": true, "vrrp_track_file": true, "vrrp_track_process": true,
	"bfd_instance": true, "vrrp_script": true, "vrrp_sync_group": true,
	"track_interface": true, "track_script": true, "track_file": true,
	"track_process": true, "track_bfd": true, "garp_group": true,
	"vrrp_instance": true, "authentication": true, "virtual_ipaddress": true,
	"virtual_ipaddress_excluded": true, "virtual_routes": true,
	"virtual_rules": true, "unicast_peer": true, "virtual_server_group": true,
	"virtual_server": true, "real_server": true, "HTTP_GET": true,
	"SSL_GET": true, "url": true, "TCP_CHECK": true, "SMTP_CHECK": true,
	"host": true, "DNS_CHECK": true, "MISC_CHECK": true, "BFD_CHECK": true,
	"PING_CHECK": true, "UDP_CHECK": true, "FILE_CHECK": true, "SSL": true,
}

func checkKaCatalogue(t *testing.T, what string, list []kaKeyword) map[[2]string]bool {
	t.Helper()
	seen := map[[2]string]bool{}
	for i, k := range list {
		key := [2]string{k.Block, k.Name}
		if seen[key] {
			t.Errorf("%s[%d]: duplicate %q in %q", what, i, k.Name, k.Block)
		}
		seen[key] = true
		if !kaBlocks[k.Block] {
			t.Errorf("%s[%d] %q: unknown block %q", what, i, k.Name, k.Block)
		}
		if k.Name == "" || k.Does == "" {
			t.Errorf("%s[%d]: empty Name or Does: %+v", what, i, k)
		}
		if k.Deprecated == k.Name && k.Name != "" {
			t.Errorf("%s[%d] %q: deprecated in favour of itself", what, i, k.Name)
		}
	}
	return seen
}

func TestKaKeywordsStructure(t *testing.T) {
	known := checkKaCatalogue(t, "kaKeywords", kaKeywords)
	removed := checkKaCatalogue(t, "kaRemoved", kaRemoved)
	for key := range removed {
		if known[key] {
			t.Errorf("%q in %q is both known and removed", key[1], key[0])
		}
	}
	// A deprecated alias must point at a keyword of the same block.
	for _, k := range kaKeywords {
		if k.Deprecated != "" && !known[[2]string{k.Block, k.Deprecated}] {
			// lvs_sync_daemon_interface (vrrp_instance) is replaced by
			// lvs_sync_daemon, which lives in global_defs.
			switch k.Name {
			case "lvs_sync_daemon_interface":
				if !known[[2]string{"global_defs", k.Deprecated}] {
					t.Errorf("%q: replacement %q not in global_defs", k.Name, k.Deprecated)
				}
			default:
				t.Errorf("%q in %q: replacement %q not in the same block", k.Name, k.Block, k.Deprecated)
			}
		}
	}
	if len(kaKeywords) < 500 {
		t.Errorf("catalogue has only %d keywords", len(kaKeywords))
	}
}
