package reload

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/vrrp"
)

const base = `
vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 1
    virtual_ipaddress {
        192.0.2.10/32
    }
}
virtual_server 192.0.2.10 80 {
    delay_loop 5
    lb_algo wrr
    lb_kind DR
    protocol TCP
    real_server 10.0.0.11 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 3
        }
    }
    real_server 10.0.0.12 80 {
        weight 1
        TCP_CHECK {
            connect_timeout 3
        }
    }
}
`

func parse(t *testing.T, text string) *config.Config {
	t.Helper()
	c, err := config.ParseKeepalived("k.conf", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// vcfg maps the fields of an instance these tests change, as
// director/app.VRRPConfigIn does.
func vcfg(in *config.VRRPInstance) vrrp.InstanceConfig {
	c := vrrp.InstanceConfig{Name: in.Name, Interface: in.Interface, VRID: uint8(in.VirtualRouterID),
		Priority: uint8(in.Priority), AdvertInterval: in.AdvertInt, Version: in.Version, UnicastSrc: in.SourceIP}
	for _, v := range in.VirtualIPs {
		c.VIPs = append(c.VIPs, vrrp.VIP{Prefix: v.Prefix, Dev: v.Dev})
	}
	return c.WithDefaults()
}

func input(t *testing.T, oldText, newText string) Input {
	t.Helper()
	old, nw := parse(t, oldText), parse(t, newText)
	in := Input{Old: old, New: nw, Changes: config.Diff(old, nw),
		VRRPOld: map[string]vrrp.InstanceConfig{}, VRRPNew: map[string]vrrp.InstanceConfig{},
		Instances: map[string]Observed{}}
	for i := range old.VRRP {
		in.VRRPOld[old.VRRP[i].Name] = vcfg(&old.VRRP[i])
		in.Instances[old.VRRP[i].Name] = Observed{Running: true, State: vrrp.StateMaster}
	}
	for i := range nw.VRRP {
		in.VRRPNew[nw.VRRP[i].Name] = vcfg(&nw.VRRP[i])
	}
	return in
}

func TestCompute(t *testing.T) {
	svc := "TCP 192.0.2.10:80"
	tests := []struct {
		name     string
		old, new string
		vrrp     []Instance
		services []Service
		checkers []Checker
	}{
		{"priority only: live update, no restart", base, strings.Replace(base, "priority 150", "priority 140", 1),
			[]Instance{{Name: "VI_1", Action: Update, Fields: []string{"Priority"}, State: "MASTER",
				Reason: "priority 150 → 140 announced in the next advert; it stays MASTER"}}, nil, nil},
		{"advert_int only: live update", base, strings.Replace(base, "advert_int 1", "advert_int 2", 1),
			[]Instance{{Name: "VI_1", Action: Update, Fields: []string{"AdvertInterval"}, State: "MASTER"}}, nil, nil},
		{"VIP added: live update", base, strings.Replace(base, "192.0.2.10/32\n", "192.0.2.10/32\n        192.0.2.11/32\n", 1),
			[]Instance{{Name: "VI_1", Action: Update, Fields: []string{"VIPs"}, State: "MASTER"}}, nil, nil},
		{"VIP removed: live update", strings.Replace(base, "192.0.2.10/32\n", "192.0.2.10/32\n        192.0.2.11/32\n", 1), base,
			[]Instance{{Name: "VI_1", Action: Update, Fields: []string{"VIPs"}, State: "MASTER"}}, nil, nil},
		{"interface changed: restart, with the goodbye it costs", base, strings.Replace(base, "interface eth0", "interface eth1", 1),
			[]Instance{{Name: "VI_1", Action: Restart, Fields: []string{"Interface", "VIPs"}, State: "MASTER",
				Reason: "its socket or identity changed: Interface; as MASTER it releases the VIPs and sends priority 0: the backup takes over"}}, nil, nil},
		{"weight only: one kernel update, checkers kept", base, strings.Replace(base, "weight 1\n        TCP_CHECK", "weight 3\n        TCP_CHECK", 1), nil,
			[]Service{{Key: svc, Action: Update, Kernel: []Op{{Op: OpUpdateDest, Target: "10.0.0.11:80", Detail: "weight 1 → 3"}}}}, nil},
		{"real server removed: drained first, its checkers stop", base,
			base[:strings.Index(base, "    real_server 10.0.0.12")] + "}\n", nil,
			[]Service{{Key: svc, Action: Update, Kernel: []Op{{Op: OpDrainDest, Target: "10.0.0.12:80", Detail: "weight 0, deleted once drained"}}}},
			[]Checker{{Service: svc, RealServer: "10.0.0.12:80", Action: Remove}}},
		{"scheduler: the service updated", base, strings.Replace(base, "lb_algo wrr", "lb_algo rr", 1), nil,
			[]Service{{Key: svc, Action: Update, Fields: []string{"Scheduler"}, Kernel: []Op{{Op: OpUpdateService, Target: svc, Detail: "Scheduler"}}}}, nil},
		{"scheduler flags: the service updated", strings.Replace(base, "lb_algo wrr", "lb_algo mh\n    mh-fallback", 1),
			strings.Replace(base, "lb_algo wrr", "lb_algo mh\n    mh-fallback\n    mh-port", 1), nil,
			[]Service{{Key: svc, Action: Update, Fields: []string{"SchedFlags"}, Kernel: []Op{{Op: OpUpdateService, Target: svc, Detail: "SchedFlags"}}}}, nil},
		{"nothing", base, base, nil, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Compute(input(t, tt.old, tt.new))
			if diff := cmp.Diff(tt.vrrp, p.VRRP); diff != "" {
				t.Errorf("vrrp (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tt.services, p.Services); diff != "" {
				t.Errorf("services (-want +got)\n%s", diff)
			}
			if diff := cmp.Diff(tt.checkers, p.Checkers); diff != "" {
				t.Errorf("checkers (-want +got)\n%s", diff)
			}
			// String renders every step, or says there is none.
			out := p.String()
			if p.Empty() != strings.Contains(out, "nothing to do") {
				t.Errorf("empty %v, String:\n%s", p.Empty(), out)
			}
			for _, s := range p.VRRP {
				if !strings.Contains(out, " "+s.Name+" ") {
					t.Errorf("String lacks instance %s:\n%s", s.Name, out)
				}
			}
			for _, s := range p.Services {
				if !strings.Contains(out, " "+s.Key+" ") {
					t.Errorf("String lacks service %s:\n%s", s.Key, out)
				}
			}
		})
	}
}

func TestComputeSyncGroupAndListeners(t *testing.T) {
	two := base + strings.NewReplacer("VI_1", "VI_2", "virtual_router_id 51", "virtual_router_id 52", "192.0.2.10/32", "192.0.2.20/32").
		Replace(base[:strings.Index(base, "virtual_server")])
	grouped := two + "vrrp_sync_group G1 {\n    group {\n        VI_1\n        VI_2\n    }\n}\n"
	in := input(t, two, grouped)
	p := Compute(in)
	var restarts []string
	for _, s := range p.VRRP {
		if s.Action == Restart {
			restarts = append(restarts, s.Name)
		}
	}
	if diff := cmp.Diff([]string{"VI_1", "VI_2"}, restarts); diff != "" {
		t.Errorf("restarts (-want +got)\n%s", diff)
	}
	if diff := cmp.Diff([]Group{{Name: "G1", Action: Add, Members: []string{"VI_1", "VI_2"}}}, p.SyncGroups); diff != "" {
		t.Errorf("groups (-want +got)\n%s", diff)
	}

	in = input(t, base, base)
	in.HeartbeatKeyChanged = true
	p = Compute(in)
	if len(p.Listeners) != 1 || p.Listeners[0].Name != "heartbeat" || p.Listeners[0].Action != Restart {
		t.Errorf("listeners %+v", p.Listeners)
	}
}
