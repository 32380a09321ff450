package app

import (
	"strings"
	"testing"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/reload"
	"github.com/tandemlb/tandem/director/vrrp"
)

// TestReloadPriorityOnlyIsLive is issue 16's defect: a reload that only
// changes an instance's priority must hand the running driver the new
// values (vrrp.Reconfigure) and never stop it (a stop is a priority-0
// advert from a master, and the backup takes the VIP). Before the plan,
// reload.go restarted every instance whose InstanceConfig changed.
func TestReloadPriorityOnlyIsLive(t *testing.T) {
	cfg := strings.Replace(testConfig("DIR", 1, ""), "virtual_router_id: 100", "virtual_router_id: 100\n    priority: 150", 1)
	h := start(t, cfg, func(_ string, f *fakeIPVS) { f.Load(loaded(1)) })
	drv := h.driver("VI0")
	drv.set(vrrp.StateMaster)

	// The dry run says so and changes nothing.
	h.write(strings.Replace(cfg, "priority: 150", "priority: 140", 1))
	var p reload.Plan
	if err := h.call(control.OpReloadPlan, nil, &p); err != nil {
		t.Fatal(err)
	}
	step, ok := p.Step("VI0")
	if !ok || step.Action != reload.Update || len(step.Fields) != 1 || step.Fields[0] != "Priority" || step.State != "MASTER" {
		t.Fatalf("dry-run step %+v (plan %s)", step, p)
	}
	if got := reconfigured(drv); len(got) != 0 {
		t.Fatalf("the dry run reconfigured the driver: %+v", got)
	}

	var res control.ReloadResult
	if err := h.call(control.OpReload, nil, &res); err != nil {
		t.Fatal(err)
	}
	if h.driver("VI0") != drv {
		t.Fatal("a priority-only reload restarted the instance")
	}
	drv.mu.Lock()
	stopped := drv.st == vrrp.StateStop
	drv.mu.Unlock()
	if stopped {
		t.Fatal("a priority-only reload stopped the driver")
	}
	if got := reconfigured(drv); len(got) != 1 || got[0].Priority != 140 {
		t.Fatalf("Reconfigure events %+v, want one with priority 140", got)
	}
	if logs := h.logs.String(); strings.Contains(logs, "vrrp instance restarts") || !strings.Contains(logs, "vrrp instance updated; it keeps running") {
		t.Fatalf("logs:\n%s", logs)
	}
}

// reconfigured is the configurations the driver was handed live
// (vrrp.Reconfigure), in order.
func reconfigured(d *fakeDriver) []vrrp.InstanceConfig {
	var out []vrrp.InstanceConfig
	for _, e := range d.injectedEvents() {
		if rc, ok := e.ev.(vrrp.Reconfigure); ok {
			out = append(out, rc.Config)
		}
	}
	return out
}
