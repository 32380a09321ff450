package config

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestValidate mutates the seed's model the way a program building a
// model in Go could, and checks each message and the position it cites.
func TestValidate(t *testing.T) {
	const f = "k.conf"
	for _, tt := range []struct {
		name   string
		mutate func(c *Config)
		want   []string
	}{
		{"seed is valid", func(*Config) {}, nil},
		{"vrid", func(c *Config) { c.VRRP[0].VirtualRouterID = 0 },
			[]string{`k.conf:8: vrrp_instance "VI0": keyword "virtual_router_id": 0 is out of range 1..255`}},
		{"priority", func(c *Config) { c.VRRP[0].Priority = 256 },
			[]string{`k.conf:8: vrrp_instance "VI0": keyword "priority": 256 is out of range 1..255`}},
		{"advert_int", func(c *Config) { c.VRRP[0].AdvertInt = 0 },
			[]string{`k.conf:8: vrrp_instance "VI0": keyword "advert_int": 0s: VRRP version 2 wants whole seconds 1..255`}},
		{"v3 centiseconds", func(c *Config) { c.VRRP[0].Version, c.VRRP[0].Auth, c.VRRP[0].AdvertInt = 3, nil, 15*time.Millisecond },
			[]string{`k.conf:8: vrrp_instance "VI0": keyword "advert_int": 15ms: VRRP version 3 wants centiseconds 0.01..40.95`}},
		{"auth_pass", func(c *Config) { c.VRRP[0].Auth.Pass = "123456789" },
			[]string{`k.conf:16: vrrp_instance "VI0": keyword "auth_pass": the password is 9 bytes; VRRP sends at most 8 (keepalived would silently use "12345678"): shorten it`}},
		{"interface name", func(c *Config) { c.VRRP[0].Interface = "a/b" },
			[]string{`k.conf:8: vrrp_instance "VI0": keyword "interface": interface name "a/b" contains '/', ':' or white space`}},
		{"weight", func(c *Config) { c.Services[0].RealServers[1].Weight = -1 },
			[]string{`k.conf:43: virtual_server TCP 192.0.2.100:80 real_server 192.0.2.102:80: keyword "weight": -1 is out of range 0..65535`}},
		{"scheduler", func(c *Config) { c.Services[0].Scheduler = "random" },
			[]string{`k.conf:25: virtual_server TCP 192.0.2.100:80: keyword "lvs_sched": unknown scheduler "random" (want one of rr wrr lc wlc lblc lblcr dh sh sed nq fo ovf mh twos)`}},
		{"quorum", func(c *Config) { c.Services[0].Quorum = 0 },
			[]string{`k.conf:25: virtual_server TCP 192.0.2.100:80: keyword "quorum": 0 is out of range 1..2147483647`}},
		{"sorry server port in DR", func(c *Config) { c.Services[0].SorryServer.Addr = netip.MustParseAddrPort("192.0.2.99:8080") },
			[]string{`k.conf:31: virtual_server TCP 192.0.2.100:80: keyword "sorry_server": port 8080 differs from the virtual port 80, which DR forwarding cannot change`}},
		{"NAT may change the port", func(c *Config) {
			c.Services[0].Forwarding = NAT
			c.Services[0].RealServers[0].Addr = netip.MustParseAddrPort("192.0.2.101:8080")
		}, nil},
		{"HTTP_GET without url", func(c *Config) { c.Services[0].RealServers[0].Checks[0].URLs = nil },
			[]string{`k.conf:35: virtual_server TCP 192.0.2.100:80 real_server 192.0.2.101:80 HTTP_GET: keyword "url": at least one url { } is needed`}},
		{"digest", func(c *Config) { c.Services[0].RealServers[0].Checks[0].URLs[0].Digest = "ABC" },
			[]string{`k.conf:36: virtual_server TCP 192.0.2.100:80 real_server 192.0.2.101:80 HTTP_GET: keyword "digest": digest "ABC" is not 32 lower-case hex digits (an MD5 sum, as genhash prints)`}},
		{"connect_timeout", func(c *Config) { c.Services[0].RealServers[0].Checks[0].ConnectTimeout = 0 },
			[]string{`k.conf:35: virtual_server TCP 192.0.2.100:80 real_server 192.0.2.101:80 HTTP_GET: keyword "connect_timeout": 0s is out of range 1ms..1h`}},
		{"sync instance", func(c *Config) { c.ConnSync.Instance = "VI9" },
			[]string{`k.conf:15: keyword "lvs_sync_daemon": no vrrp_instance "VI9"`}},
		{"heartbeat listen", func(c *Config) { c.Heartbeat.Listen = "7480" },
			[]string{`k.conf: heartbeat: keyword "listen": "7480" is not HOST:PORT with HOST empty or an IP address and PORT 1..65535`}},
		{"control socket", func(c *Config) { c.ControlSocket = "director.sock" },
			[]string{`k.conf: keyword "control_socket": "director.sock" is not an absolute path`}},
		{"conn_reuse_mode", func(c *Config) { c.IPVS.ConnReuseMode = 4 },
			[]string{`k.conf: ipvs: keyword "conn_reuse_mode": 4 is out of range 0..3`}},
		{"logging", func(c *Config) { c.Logging.Level = "trace" },
			[]string{`k.conf: keyword "level": "trace" is not debug, info, warn or error`}},
		{"empty", func(c *Config) { c.VRRP, c.Services, c.ConnSync = nil, nil, nil },
			[]string{`k.conf: the configuration has no vrrp_instance and no virtual_server: nothing to do`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := seedModel(f)
			tt.mutate(c)
			if diff := cmp.Diff(tt.want, errLines(c.Validate())); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	for _, tt := range []struct {
		s    VirtualService
		want string
	}{
		{VirtualService{Protocol: TCP, Addr: netip.MustParseAddrPort("192.0.2.100:80")}, "TCP 192.0.2.100:80"},
		{VirtualService{Protocol: UDP, Addr: netip.MustParseAddrPort("[2001:db8::1]:53")}, "UDP [2001:db8::1]:53"},
		{VirtualService{Protocol: TCP, FWMark: 1}, "FWM 1"},
	} {
		if got := tt.s.Key(); got != tt.want {
			t.Errorf("Key() = %q, want %q", got, tt.want)
		}
	}
	rs := RealServer{Addr: netip.MustParseAddrPort("[2001:db8::2]:80")}
	if got := rs.Key(); got != "[2001:db8::2]:80" {
		t.Errorf("RealServer.Key() = %q", got)
	}
	u := URL{}
	if !u.Accepts(204) || u.Accepts(301) {
		t.Error("default status codes are not 200-299")
	}
}
