package app

import (
	"strconv"
	"strings"
	"testing"

	"github.com/tandemlb/tandem/director/config"
)

// pairConf is one director's keepalived.conf of a pair: what is its own
// (router_id, state, priority, unicast_src_ip and peer), then the virtual
// servers vs.
func pairConf(id, state string, prio int, src, peer, vs string) string {
	return strings.NewReplacer("ID", id, "STATE", state, "PRIO", strconv.Itoa(prio), "SRC", src, "PEER", peer).Replace(`
global_defs {
    router_id ID
}
vrrp_instance VI_1 {
    state STATE
    interface eth0
    virtual_router_id 51
    priority PRIO
    unicast_src_ip SRC
    unicast_peer {
        PEER
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
`) + vs
}

const (
	vsWeb = `
virtual_server 192.0.2.100 80 {
    delay_loop 5
    lb_algo wlc
    lb_kind DR
    protocol TCP
    real_server 192.0.2.11 80 {
        weight 1
        HTTP_GET {
            url {
                path /check.txt
                status_code 200
            }
            connect_timeout 2
            bindto BIND
        }
    }
    real_server 192.0.2.12 80 {
        weight 1
    }
}
`
	vsDNS = `
virtual_server 192.0.2.100 53 {
    lb_algo rr
    lb_kind DR
    protocol UDP
    real_server 192.0.2.11 53 {
        weight 1
    }
}
`
)

func parseKA(t *testing.T, name, text string) *config.Config {
	t.Helper()
	c, err := config.ParseKeepalived(name, []byte(text))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return c
}

// TestVirtualServersHash: the two directors of a keepalived-style pair
// always differ in their files (config_info), and agree on the virtual
// servers' hash when their virtual servers agree, whatever the order of
// the blocks, comments and a check's bindto (a local address); a weight,
// a real server or a scheduler changes it.
func TestVirtualServersHash(t *testing.T) {
	web := func(bind string) string { return strings.ReplaceAll(vsWeb, "BIND", bind) }
	a := parseKA(t, "a.conf", pairConf("lb1", "MASTER", 150, "10.0.0.1", "10.0.0.2", web("10.0.0.1")+vsDNS))
	b := parseKA(t, "b.conf", pairConf("lb2", "BACKUP", 100, "10.0.0.2", "10.0.0.1", "# lb2\n"+vsDNS+web("10.0.0.2")))
	if a.FilesHash == b.FilesHash {
		t.Fatalf("the two directors' files have the same hash %s", a.FilesHash)
	}
	ha, hb := virtualServersHash(a), virtualServersHash(b)
	if len(ha) != 12 {
		t.Fatalf("hash %q, want 12 hex digits", ha)
	}
	if ha != hb {
		t.Errorf("same virtual servers, hashes %s and %s", ha, hb)
	}

	for name, vs := range map[string]string{
		"weight":       strings.Replace(web("10.0.0.2"), "weight 1\n        HTTP_GET", "weight 2\n        HTTP_GET", 1) + vsDNS,
		"scheduler":    strings.Replace(web("10.0.0.2"), "lb_algo wlc", "lb_algo rr", 1) + vsDNS,
		"check path":   strings.Replace(web("10.0.0.2"), "/check.txt", "/health", 1) + vsDNS,
		"service gone": web("10.0.0.2"),
		"real server gone": strings.Replace(web("10.0.0.2"), `    real_server 192.0.2.12 80 {
        weight 1
    }
`, "", 1) + vsDNS,
	} {
		c := parseKA(t, "b.conf", pairConf("lb2", "BACKUP", 100, "10.0.0.2", "10.0.0.1", vs))
		if h := virtualServersHash(c); h == ha {
			t.Errorf("%s changed: the hash stays %s", name, h)
		}
	}
	if h := virtualServersHash(&config.Config{}); h == ha || len(h) != 12 {
		t.Errorf("no virtual server: %q", h)
	}
}

// TestVirtualServersInfoExposed: the running director exposes the hash
// of its virtual servers, and a reload that changes them changes it.
func TestVirtualServersInfoExposed(t *testing.T) {
	h := startWith(t, testConfig("DIR", 1, ""), nil, withMetrics)
	want := virtualServersHash(h.a.cfg)
	fams := parseExposition(t, h.scrape())
	if v, ok := sample(fams, "tandem_director_config_virtual_servers_info", "hash", want); !ok || v != 1 {
		t.Fatalf("config_virtual_servers_info{hash=%q} = %v (present %v)", want, v, ok)
	}
	h.reload(testConfig("DIR", 2, ""))
	fams = parseExposition(t, h.scrape())
	if _, ok := sample(fams, "tandem_director_config_virtual_servers_info", "hash", want); ok {
		t.Errorf("the old hash %s is still exposed after a weight change", want)
	}
	if n := len(fams["tandem_director_config_virtual_servers_info"].GetMetric()); n != 1 {
		t.Errorf("%d config_virtual_servers_info series, want 1", n)
	}
}
