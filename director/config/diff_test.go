package config

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestDiff(t *testing.T) {
	vs2 := func() VirtualService {
		return VirtualService{Protocol: UDP, Addr: netip.MustParseAddrPort("192.0.2.100:53"), Scheduler: "rr", Forwarding: DR, Quorum: 1, DelayLoop: time.Minute}
	}
	for _, tt := range []struct {
		name   string
		mutate func(c *Config)
		want   Changes
	}{
		{"same file re-read", func(c *Config) {
			c.VRRP[0].Pos.Line += 10 // positions do not count
			c.Files = []string{"other.conf"}
		}, Changes{}},
		{"weight", func(c *Config) { c.Services[0].RealServers[1].Weight = 5 }, Changes{
			ServicesChanged: []ServiceChange{{Key: "TCP 192.0.2.100:80", RealServersChanged: []RealServerChange{
				{Key: "192.0.2.102:80", Fields: []string{"Weight"}, OldWeight: 1, NewWeight: 5},
			}}},
		}},
		{"real server added and removed", func(c *Config) {
			c.Services[0].RealServers[0].Addr = netip.MustParseAddrPort("192.0.2.103:80")
		}, Changes{
			ServicesChanged: []ServiceChange{{Key: "TCP 192.0.2.100:80",
				RealServersAdded: []string{"192.0.2.103:80"}, RealServersRemoved: []string{"192.0.2.101:80"}}},
		}},
		{"check changed", func(c *Config) {
			c.Services[0].RealServers[0].Checks[0].URLs[0].Path = "/health"
		}, Changes{
			ServicesChanged: []ServiceChange{{Key: "TCP 192.0.2.100:80", RealServersChanged: []RealServerChange{
				{Key: "192.0.2.101:80", Fields: []string{"Checks"}, OldWeight: 1, NewWeight: 1},
			}}},
		}},
		{"scheduler and sorry server", func(c *Config) {
			c.Services[0].Scheduler = "wlc"
			c.Services[0].SorryServer = nil
		}, Changes{
			ServicesChanged: []ServiceChange{{Key: "TCP 192.0.2.100:80", Fields: []string{"Scheduler", "SorryServer"}, Kernel: true}},
		}},
		{"delay_loop only", func(c *Config) { c.Services[0].DelayLoop = 5 * time.Second }, Changes{
			ServicesChanged: []ServiceChange{{Key: "TCP 192.0.2.100:80", Fields: []string{"DelayLoop"}}},
		}},
		{"service added; port change is remove and add", func(c *Config) {
			c.Services = append(c.Services, vs2())
			c.Services[0].Addr = netip.MustParseAddrPort("192.0.2.100:8080")
			for i := range c.Services[0].RealServers {
				c.Services[0].RealServers[i].Addr = netip.MustParseAddrPort(c.Services[0].RealServers[i].Addr.Addr().String() + ":8080")
			}
		}, Changes{
			ServicesAdded:   []string{"TCP 192.0.2.100:8080", "UDP 192.0.2.100:53"},
			ServicesRemoved: []string{"TCP 192.0.2.100:80"},
		}},
		{"priority: in place", func(c *Config) { c.VRRP[0].Priority = 150 }, Changes{
			VRRPChanged: []VRRPChange{{Name: "VI0", Fields: []string{"Priority"}}},
		}},
		{"interface and VIP: restart", func(c *Config) {
			c.VRRP[0].Interface = "eth2"
			c.VRRP[0].VirtualIPs[0].Dev = "eth2"
		}, Changes{
			VRRPChanged: []VRRPChange{{Name: "VI0", Fields: []string{"Interface", "VirtualIPs"}, Restart: true}},
		}},
		{"instance renamed", func(c *Config) {
			c.VRRP[0].Name = "VI1"
			c.ConnSync.Instance = "VI1"
		}, Changes{ConnSync: true, VRRPAdded: []string{"VI1"}, VRRPRemoved: []string{"VI0"}}},
		{"director settings", func(c *Config) {
			c.ControlSocket = "/run/x.sock"
			c.Drain.Timeout = time.Minute
			c.IPVS.ConnReuseMode = 1
			c.Node = "lb2"
		}, Changes{Node: true, Drain: true, ControlSocket: true, IPVS: true}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			old := seedModel("k.conf")
			new := seedModel("k.conf")
			tt.mutate(new)
			got := Diff(old, new)
			if diff := cmp.Diff(tt.want, got, cmpNoPos...); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if got.Empty() != Equal(old, new) {
				t.Errorf("Empty() = %v but Equal = %v", got.Empty(), Equal(old, new))
			}
		})
	}
}

func TestDiffHelpers(t *testing.T) {
	old := seedModel("k.conf")
	new := seedModel("k.conf")
	new.ControlSocket = "/run/x.sock"
	new.Services[0].RealServers[0].Weight = 2
	ch := Diff(old, new)
	if got, want := ch.String(), "control_socket, services +0 -0 ~1"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	if !ch.ServicesChanged[0].RealServersChanged[0].WeightOnly() {
		t.Error("WeightOnly is false")
	}
	if d := Diff(nil, old); len(d.VRRPAdded) != 1 || len(d.ServicesAdded) != 1 {
		t.Errorf("Diff(nil, c) = %s", d)
	}
	if d := Diff(old, old); d.String() != "no changes" {
		t.Errorf("Diff(c, c) = %s", d)
	}
}
