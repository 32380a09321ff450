package app

import (
	"net/netip"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/testutil"
)

// The director's wiring from start to shutdown, on the harness's fakes
// (IPVS, VRRP drivers, host edges): no root, no kernel, the control
// operations through the handler the control socket calls. Each test
// compares the whole fake IPVS table, as `ipvsadm -Ln` would show it.

// table is the fake kernel's IPVS table.
func (h *harness) table() []lvs.ServiceState {
	h.t.Helper()
	st, err := h.ipvs.Services()
	if err != nil {
		h.t.Fatal(err)
	}
	return st
}

// tableDiff is the difference of the fake kernel's table from want,
// "" when none.
func (h *harness) tableDiff(want []lvs.ServiceState) string {
	h.t.Helper()
	return cmp.Diff(want, h.table(), cmpopts.EquateComparable(netip.Addr{}), cmpopts.EquateEmpty())
}

// tableWith is the table the director programs for testConfig, with rs1
// at weight1 and active1 connections on rs1.
func tableWith(weight1, active1 int) []lvs.ServiceState {
	s := loaded(weight1)
	s.Service.Netmask = 32 // an IPv4 service as the director adds it
	s.Destinations[0].ActiveConns = active1
	return []lvs.ServiceState{s}
}

// TestWiringStart: a configuration on an empty kernel gives the IPVS table
// it describes (programmed through OpenIPVS), one VRRP driver built from
// each vrrp_instance and running, the backup sync daemon, and READY once
// all of that is done.
func TestWiringStart(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)

	select {
	case <-h.a.Ready():
	default:
		t.Fatal("Ready not closed after start returned")
	}
	if ev := h.notify.Events(); len(ev) == 0 || !strings.HasPrefix(ev[0], "READY=1 STATUS=") {
		t.Fatalf("notifications %q, want READY=1 first", ev)
	}
	// IPVS: the service and both real servers, nothing else.
	if diff := h.tableDiff(tableWith(1, 0)); diff != "" {
		t.Errorf("IPVS table (-want +got)\n%s", diff)
	}
	if got, want := h.ipvs.CallStrings(), []string{
		"NewService TCP 192.0.2.100:80 sched=lc flags=0x0 timeout=0",
		"NewDestination TCP 192.0.2.100:80 192.0.2.11:80 weight=1 DR",
		"NewDestination TCP 192.0.2.100:80 192.0.2.12:80 weight=1 DR",
	}; !cmp.Equal(got, want) {
		t.Errorf("IPVS calls %q, want %q", got, want)
	}
	// VRRP: the one instance, built from its configuration, and running.
	h.mu.Lock()
	names := make([]string, 0, len(h.drivers))
	for n := range h.drivers {
		names = append(names, n)
	}
	h.mu.Unlock()
	if !cmp.Equal(names, []string{"VI0"}) {
		t.Fatalf("drivers %q, want [VI0]", names)
	}
	d := h.driver("VI0") // waits until its Run entered BACKUP
	if d.cfg.VRID != 100 || d.cfg.Interface != "eth0" || d.cfg.Priority != 100 || len(d.cfg.VIPs) != 1 ||
		d.cfg.VIPs[0].Prefix.String() != "192.0.2.100/24" || d.cfg.VIPs[0].Dev != "eth0" {
		t.Errorf("driver config %+v", d.cfg)
	}
	if d.opts.Notifier == nil {
		t.Error("the driver has no notifier: its state changes would not reach the main loop")
	}
	if !testutil.WaitFor(5*time.Second, func() bool {
		st := h.status()
		return st.Role == "backup" && len(st.VRRP) == 1 && st.VRRP[0].State == "BACKUP"
	}) {
		t.Errorf("the instance's BACKUP did not reach status: role %q, %+v", h.status().Role, h.status().VRRP)
	}
	if got := h.ipvs.daemonCalls(); !cmp.Equal(got, []string{"start backup eth1 100"}) {
		t.Errorf("sync daemon calls %q", got)
	}
	// The host edges were asked, not the host: the VIP is not on eth0
	// (nothing to keep from a previous run).
	h.ifaces.mu.Lock()
	opened := len(h.ifaces.opened)
	h.ifaces.mu.Unlock()
	if opened != 0 {
		t.Errorf("%d address managers opened for VIPs that are not there", opened)
	}
}

// TestWiringReload: a weight change reaches the kernel as one update,
// through the reload operation and through SIGHUP, without restarting
// VRRP; an invalid configuration is refused with its reason and keeps the
// running one (kernel, VRRP, status).
func TestWiringReload(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)
	drv := h.driver("VI0")
	h.ipvs.Reset()

	h.write(testConfig(h.dir, 5, ""))
	var res control.ReloadResult
	if err := h.call(control.OpReload, nil, &res); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if diff := h.tableDiff(tableWith(5, 0)); diff != "" {
		t.Errorf("after the reload op: IPVS table (-want +got)\n%s", diff)
	}
	if got, want := h.ipvs.CallStrings(), []string{"UpdateDestination TCP 192.0.2.100:80 192.0.2.11:80 weight=5 DR"}; !cmp.Equal(got, want) {
		t.Errorf("reload op: IPVS calls %q, want %q", got, want)
	}

	// SIGHUP (systemctl reload). The main loop has answered the reload op
	// above, so its SIGHUP handler is installed.
	h.write(testConfig(h.dir, 7, ""))
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if !testutil.WaitFor(5*time.Second, func() bool { return h.tableDiff(tableWith(7, 0)) == "" }) {
		t.Fatalf("SIGHUP: the weight did not reach IPVS (-want +got)\n%s", h.tableDiff(tableWith(7, 0)))
	}
	if h.driver("VI0") != drv {
		t.Error("a weight change restarted VRRP")
	}

	// An invalid file: refused, nothing changes.
	h.ipvs.Reset()
	h.write(testConfig(h.dir, 9, "") + "colour: red\n")
	err := h.call(control.OpReload, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "keeping the running one") || !strings.Contains(err.Error(), `key "colour"`) {
		t.Fatalf("reload of an invalid file: %v", err)
	}
	if diff := h.tableDiff(tableWith(7, 0)); diff != "" {
		t.Errorf("after the invalid reload: IPVS table (-want +got)\n%s", diff)
	}
	if calls := h.ipvs.CallStrings(); len(calls) != 0 {
		t.Errorf("the invalid reload wrote %q", calls)
	}
	st := h.status()
	if got := st.Services[0].RealServers[0].ConfiguredWeight; got != 7 || st.LastReloadError == "" || st.Reloads != 2 {
		t.Errorf("after the invalid reload: configured weight %d (want 7), last error %q, reloads %d (want 2)", got, st.LastReloadError, st.Reloads)
	}
	if h.driver("VI0") != drv || drv.Status().State != vrrp.StateBackup {
		t.Error("the invalid reload touched VRRP")
	}
}

// TestWiringDrain: a drain through the control operation sets the real
// server's weight to 0 in the kernel (no delete: its connections go on)
// and persists it; the undrain restores the configured weight.
func TestWiringDrain(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)
	// Connections in flight: the drain waits for them, the server stays.
	if err := h.ipvs.SetConns("TCP 192.0.2.100:80", "192.0.2.11:80", 4, 0); err != nil {
		t.Fatal(err)
	}
	h.ipvs.Reset()

	var res control.DrainResult
	if err := h.call(control.OpDrain, control.DrainArgs{Target: "192.0.2.11:80", Reason: "patching"}, &res); err != nil {
		t.Fatalf("drain: %v", err)
	}
	if len(res.Servers) != 1 || res.Servers[0].RS != "192.0.2.11:80" || res.Servers[0].State != "draining" || res.Servers[0].Weight != 0 {
		t.Errorf("drain result %+v", res)
	}
	if diff := h.tableDiff(tableWith(0, 4)); diff != "" {
		t.Errorf("drained: IPVS table (-want +got)\n%s", diff)
	}
	if got, want := h.ipvs.CallStrings(), []string{"UpdateDestination TCP 192.0.2.100:80 192.0.2.11:80 weight=0 DR"}; !cmp.Equal(got, want) {
		t.Errorf("drain: IPVS calls %q, want %q", got, want)
	}
	if st, err := loadState(h.a.state); err != nil || !cmp.Equal(st.Drains, map[string]string{"192.0.2.11:80": "patching"}) {
		t.Errorf("saved drains %v (%v)", st.Drains, err)
	}

	h.ipvs.Reset()
	if err := h.call(control.OpUndrain, control.DrainArgs{Target: "192.0.2.11:80"}, &res); err != nil {
		t.Fatalf("undrain: %v", err)
	}
	if diff := h.tableDiff(tableWith(1, 4)); diff != "" {
		t.Errorf("undrained: IPVS table (-want +got)\n%s", diff)
	}
	if got, want := h.ipvs.CallStrings(), []string{"UpdateDestination TCP 192.0.2.100:80 192.0.2.11:80 weight=1 DR"}; !cmp.Equal(got, want) {
		t.Errorf("undrain: IPVS calls %q, want %q", got, want)
	}
	if rs := h.status().Services[0].RealServers[0]; rs.Drain || rs.State != "up" || rs.Weight != 1 {
		t.Errorf("after the undrain: %+v", rs)
	}
	if st, err := loadState(h.a.state); err != nil || len(st.Drains) != 0 {
		t.Errorf("saved drains after the undrain %v (%v)", st.Drains, err)
	}
}

// TestWiringShutdown: cancelling Run's context stops every VRRP driver and
// the sync daemon, says STOPPING, saves the state and returns nil; the
// IPVS services stay in the kernel for the next start to adopt (docs:
// "A director restart adopts the IPVS entries already in the kernel"),
// unless ipvs.remove_on_stop.
func TestWiringShutdown(t *testing.T) {
	for _, tt := range []struct {
		name  string
		extra string
		want  []lvs.ServiceState
	}{
		{"services stay", "", tableWith(0, 2)},
		{"remove_on_stop", "ipvs:\n  remove_on_stop: true\n", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := start(t, testConfig("DIR", 1, "")+tt.extra, nil)
			drv := h.driver("VI0")
			drv.set(vrrp.StateMaster)
			if st := h.status(); st.Role != "master" {
				t.Fatalf("role %q", st.Role)
			}
			if err := h.ipvs.SetConns("TCP 192.0.2.100:80", "192.0.2.11:80", 2, 0); err != nil {
				t.Fatal(err)
			}
			if err := h.call(control.OpDrain, control.DrainArgs{Target: "192.0.2.11:80", Reason: "patching"}, nil); err != nil {
				t.Fatal(err)
			}
			h.ipvs.Reset()

			h.run.Stop(t, 10*time.Second) // fails t if Run errs or hangs
			h.run = nil                   // h.stop in Cleanup: already stopped
			if t.Failed() {
				t.FailNow()
			}

			if got := drv.Status().State; got != vrrp.StateStop {
				t.Errorf("driver state %v after shutdown, want STOP (its Run returned)", got)
			}
			if diff := h.tableDiff(tt.want); diff != "" {
				t.Errorf("IPVS table after shutdown (-want +got)\n%s", diff)
			}
			calls := h.ipvs.CallStrings()
			if tt.want != nil && len(calls) != 0 {
				t.Errorf("shutdown wrote to IPVS: %q", calls)
			}
			if d := h.ipvs.daemonCalls(); len(d) == 0 || d[len(d)-1] != "stop master" {
				t.Errorf("sync daemon calls %q, want the master daemon stopped last", d)
			}
			if ev := h.notify.Events(); !slices.Contains(ev, "STOPPING=1") {
				t.Errorf("notifications %q lack STOPPING=1", ev)
			}
			if st, err := loadState(h.a.state); err != nil || !cmp.Equal(st.Drains, map[string]string{"192.0.2.11:80": "patching"}) {
				t.Errorf("saved drains %v (%v)", st.Drains, err)
			}
			if tt.want != nil && !strings.Contains(h.logs.String(), "ipvs: leaving the services in place; the next start adopts them") {
				t.Errorf("log does not say the services stay:\n%s", h.logs.String())
			}
		})
	}
}
