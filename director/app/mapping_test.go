package app

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/pool"
	"github.com/tandemlb/tandem/director/vrrp"
)

var cmpAddrs = cmp.Options{
	cmp.Comparer(func(a, b netip.Addr) bool { return a == b }),
	cmp.Comparer(func(a, b netip.Prefix) bool { return a == b }),
	cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b }),
}

// seedInstance is the seed's vrrp_instance as the keepalived reader builds
// it.
func seedInstance() config.VRRPInstance {
	return config.VRRPInstance{
		Name: "VI0", State: config.StateBackup, Interface: "eth0", VirtualRouterID: 100, Priority: 100,
		NoPreempt: true, AdvertInt: time.Second, Version: 2,
		Auth:                    &config.Auth{Type: config.AuthPass, Pass: "password"},
		VirtualIPs:              []config.VirtualIP{{Prefix: netip.MustParsePrefix("192.0.2.100/28"), Dev: "eth0"}},
		GARPMasterDelay:         5 * time.Second,
		GARPMasterRepeat:        5,
		GARPMasterRefreshRepeat: 1,
		Pos:                     config.Pos{File: "keepalived.conf", Line: 8},
	}
}

func TestVRRPConfig(t *testing.T) {
	seedWant := vrrp.InstanceConfig{
		Name: "VI0", Interface: "eth0", VRID: 100, Priority: 100, InitialState: vrrp.StateBackup, Nopreempt: true,
		AdvertInterval: time.Second, Version: 2, AuthPass: "password",
		VIPs:            []vrrp.VIP{{Prefix: netip.MustParsePrefix("192.0.2.100/28"), Dev: "eth0"}},
		GARPMasterDelay: 5 * time.Second, GARPMasterRepeat: 5, GARPMasterRefreshRepeat: 1,
	}
	tests := []struct {
		name   string
		change func(*config.VRRPInstance)
		want   func(*vrrp.InstanceConfig)
		err    string
	}{
		{"seed", nil, nil, ""},
		{"garp_master_delay 0 means no second burst: -1 for vrrp",
			func(in *config.VRRPInstance) { in.GARPMasterDelay = 0 },
			func(c *vrrp.InstanceConfig) { c.GARPMasterDelay = -1 }, ""},
		{"state MASTER, priority 255 (uint8)",
			func(in *config.VRRPInstance) { in.State, in.Priority = config.StateMaster, 255 },
			func(c *vrrp.InstanceConfig) { c.InitialState, c.Priority = vrrp.StateMaster, 255 }, ""},
		{"VRID 255",
			func(in *config.VRRPInstance) { in.VirtualRouterID = 255 },
			func(c *vrrp.InstanceConfig) { c.VRID = 255 }, ""},
		{"unicast, source, notify, tracked names",
			func(in *config.VRRPInstance) {
				in.SourceIP = netip.MustParseAddr("192.0.2.2")
				in.UnicastPeers = []config.UnicastPeer{{Addr: netip.MustParseAddr("192.0.2.3")}}
				in.TrackInterfaces = []config.TrackInterface{{Name: "eth1"}}
				in.Notify = config.Notify{Master: "/m", Backup: "/b", Fault: "/f", Stop: "/s", Any: "/n"}
				in.Auth = nil
			},
			func(c *vrrp.InstanceConfig) {
				c.UnicastSrc = netip.MustParseAddr("192.0.2.2")
				c.UnicastPeers = []netip.Addr{netip.MustParseAddr("192.0.2.3")}
				c.TrackInterfaces = []string{"eth1"}
				c.NotifyMaster, c.NotifyBackup, c.NotifyFault, c.NotifyStop, c.Notify = "/m", "/b", "/f", "/s", "/n"
				c.AuthPass = ""
			}, ""},
		{"track_interface with a weight is the app's, weight 0 the driver's",
			func(in *config.VRRPInstance) {
				in.TrackInterfaces = []config.TrackInterface{{Name: "eth1", Weight: -50}, {Name: "eth2"}}
			},
			func(c *vrrp.InstanceConfig) { c.TrackInterfaces = []string{"eth2"} }, ""},
		{"excluded VIPs, virtual routes and rules",
			func(in *config.VRRPInstance) {
				in.ExcludedVIPs = []config.VirtualIP{{Prefix: netip.MustParsePrefix("2001:db8::5/64"), Dev: "eth1"}}
				in.VirtualRoutes = []config.Route{{Type: "blackhole", Dst: netip.MustParsePrefix("198.51.100.0/24"), Table: 10, Scope: "link"}}
				in.VirtualRules = []config.Rule{{From: netip.MustParsePrefix("192.0.2.100/32"), Table: 10, Priority: 100}}
			},
			func(c *vrrp.InstanceConfig) {
				c.ExcludedVIPs = []vrrp.VIP{{Prefix: netip.MustParsePrefix("2001:db8::5/64"), Dev: "eth1"}}
				c.VirtualRoutes = []vrrp.Route{{Type: vrrp.RouteBlackhole, Dst: netip.MustParsePrefix("198.51.100.0/24"), Table: 10, Scope: vrrp.ScopeLink}}
				c.VirtualRules = []vrrp.Rule{{From: netip.MustParsePrefix("192.0.2.100/32"), Table: 10, Priority: 100}}
			}, ""},
		{"throw route refused with its line",
			func(in *config.VRRPInstance) {
				in.VirtualRoutes = []config.Route{{Type: "throw", Dst: netip.MustParsePrefix("198.51.100.0/24"), Pos: config.Pos{File: "k.conf", Line: 12}}}
			}, nil, `k.conf:12: vrrp_instance VI0: keyword "virtual_routes": route type "throw"`},
		{"VRID 0 out of range",
			func(in *config.VRRPInstance) { in.VirtualRouterID = 0 }, nil, `keyword "virtual_router_id": 0 out of range`},
		{"priority 256 out of range",
			func(in *config.VRRPInstance) { in.Priority = 256 }, nil, `keyword "priority": 256 out of range`},
		{"no VIP: keepalived runs it (\"No VIP specified\")",
			func(in *config.VRRPInstance) { in.VirtualIPs = nil },
			func(c *vrrp.InstanceConfig) { c.VIPs = nil }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := seedInstance()
			if tt.change != nil {
				tt.change(&in)
			}
			got, err := VRRPConfig(&in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := seedWant
			want.VIPs = append([]vrrp.VIP(nil), seedWant.VIPs...)
			if tt.want != nil {
				tt.want(&want)
			}
			if diff := cmp.Diff(want, got, cmpAddrs); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			// What the driver ends up with: garp 0 stays "none".
			if in.GARPMasterDelay == 0 && got.WithDefaults().GARPMasterDelay != 0 {
				t.Errorf("WithDefaults turned no second burst into %v", got.WithDefaults().GARPMasterDelay)
			}
		})
	}
}

func seedService() config.VirtualService {
	return config.VirtualService{
		Protocol: config.TCP, Addr: netip.MustParseAddrPort("192.0.2.100:80"), DelayLoop: 10 * time.Second,
		Scheduler: "lc", Forwarding: config.DR, Quorum: 1,
		SorryServer: &config.SorryServer{Addr: netip.MustParseAddrPort("192.0.2.99:80")},
		RealServers: []config.RealServer{
			{Addr: netip.MustParseAddrPort("192.0.2.101:80"), Weight: 1, Checks: []config.Check{{Type: config.HTTPGet, ConnectTimeout: 3 * time.Second, Retry: 1}}},
			{Addr: netip.MustParseAddrPort("192.0.2.102:80"), Weight: 2, Checks: []config.Check{{Type: config.HTTPGet}, {Type: config.TCPCheck}, {Type: config.HTTPGet}}},
		},
	}
}

func TestPoolConfig(t *testing.T) {
	cfg := config.Default()
	s := seedService()
	got := PoolConfig(cfg, &s)
	want := pool.Config{
		Servers: []pool.ServerConfig{
			{Addr: netip.MustParseAddrPort("192.0.2.101:80"), Weight: 1, Checkers: []string{"HTTP_GET"}},
			{Addr: netip.MustParseAddrPort("192.0.2.102:80"), Weight: 2, Checkers: []string{"HTTP_GET", "TCP_CHECK", "HTTP_GET#2"}},
		},
		Sorry: netip.MustParseAddrPort("192.0.2.99:80"), SorryWeight: 1, Quorum: 1,
		DrainTimeout: 5 * time.Minute, RemoveDrained: true, AgentInterval: time.Second, AgentMissed: 3,
	}
	if diff := cmp.Diff(want, got, cmpAddrs); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	// drain.timeout 0 means "remove at once": the pool's 0 would wait forever.
	cfg.Drain.Timeout = 0
	cfg.Heartbeat.DeadAfter = 2500 * time.Millisecond
	got = PoolConfig(cfg, &s)
	if got.DrainTimeout != time.Nanosecond || got.AgentMissed != 3 {
		t.Errorf("drain timeout %v, agent missed %d", got.DrainTimeout, got.AgentMissed)
	}

	// BGP mode: a down or drained server of an announced VIP stays at
	// weight 0 (the same Maglev table on every director); another
	// service's servers are removed as before.
	cfg.BGP = &config.BGP{}
	got = PoolConfig(cfg, &s)
	if got.RemoveDrained || !got.Servers[0].InhibitOnFailure || !got.Servers[1].InhibitOnFailure {
		t.Errorf("BGP mode: remove drained %v, inhibit %v %v, want false, true, true", got.RemoveDrained, got.Servers[0].InhibitOnFailure, got.Servers[1].InhibitOnFailure)
	}
	cfg.BGP.VIPs = []config.BGPVIP{{Addr: netip.MustParseAddr("192.0.2.200")}}
	got = PoolConfig(cfg, &s)
	if !got.RemoveDrained || got.Servers[0].InhibitOnFailure {
		t.Errorf("service not announced: remove drained %v, inhibit %v, want true, false", got.RemoveDrained, got.Servers[0].InhibitOnFailure)
	}
}

func TestServiceOfSpecOf(t *testing.T) {
	s := seedService()
	s.Persistence = 300 * time.Second
	want := lvs.Service{Protocol: lvs.TCP, Addr: netip.MustParseAddr("192.0.2.100"), Port: 80, Scheduler: "lc", Flags: lvs.FlagPersistent, Timeout: 300}
	if diff := cmp.Diff(want, ServiceOf(&s), cmpAddrs); diff != "" {
		t.Errorf("service (-want +got)\n%s", diff)
	}
	st := pool.Status{SorryIn: true, Sorry: netip.MustParseAddrPort("192.0.2.99:80"), SorryWeight: 1, Servers: []pool.ServerStatus{
		{Addr: netip.MustParseAddrPort("192.0.2.101:80"), Present: true, Weight: 0},
		{Addr: netip.MustParseAddrPort("192.0.2.102:80"), Present: false, Weight: 2},
	}}
	spec := SpecOf(&s, st)
	wantDests := []lvs.Destination{
		{Addr: netip.MustParseAddr("192.0.2.101"), Port: 80, Weight: 0},
		{Addr: netip.MustParseAddr("192.0.2.99"), Port: 80, Weight: 1},
	}
	if diff := cmp.Diff(wantDests, spec.Destinations, cmpAddrs); diff != "" {
		t.Errorf("destinations (-want +got)\n%s", diff)
	}
	fw := config.VirtualService{FWMark: 7, Scheduler: "wlc", RealServers: []config.RealServer{{Addr: netip.MustParseAddrPort("[2001:db8::1]:0")}}}
	if got := ServiceOf(&fw); got.FWMark != 7 || !got.Addr.Is6() || got.Key() != "FWM 7 IPv6" {
		t.Errorf("fwmark IPv6 service %+v key %s", got, got.Key())
	}
}

func TestProbeNames(t *testing.T) {
	s := seedService()
	rs := &s.RealServers[1]
	names := checkerNames(rs)
	for i, c := range rs.Checks {
		p, err := ProbeOf(&config.Config{}, &s, rs, &c, names[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		if p.Name() != names[i] {
			t.Errorf("probe %d named %q, want %q", i, p.Name(), names[i])
		}
	}
	st := SettingsOf(&s, &config.Check{Retry: 0})
	if st.Retry >= 0 || st.DelayLoop != 10*time.Second {
		t.Errorf("retry 0 must map to NoRetry: %+v", st)
	}
}

func TestValidate(t *testing.T) {
	cfg, err := config.Parse("k.conf", []byte(`vrrp_instance VI0 {
    interface eth0
    virtual_router_id 100
    track_interface {
        eth1 weight 10
    }
    virtual_ipaddress {
        192.0.2.100/24
    }
}
`))
	if err != nil {
		t.Fatal(err)
	}
	// A weighted track_interface is the app's to watch: valid.
	if err := Validate(cfg); err != nil {
		t.Fatalf("Validate = %v", err)
	}
	cfg.Static.Routes = append(cfg.Static.Routes, config.Route{Type: "throw", Dst: netip.MustParsePrefix("10.0.0.0/8"), Pos: config.Pos{File: "k.conf", Line: 20}})
	if err := Validate(cfg); err == nil || !strings.Contains(err.Error(), `k.conf:20: keyword "static_routes": route type "throw"`) {
		t.Fatalf("Validate = %v", err)
	}
}
