package app

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/agents"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/shared/hbproto"
	"github.com/tandemlb/tandem/shared/testutil"
)

// TestStartAdoptsAndReady: the kernel already has the service (a previous
// run): nothing is written, READY comes after the first reconciliation,
// the instance is BACKUP and the backup sync daemon runs.
func TestStartAdoptsAndReady(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), func(_ string, f *fakeIPVS) { f.Load(loaded(1)) })
	if calls := h.ipvs.CallStrings(); len(calls) != 0 {
		t.Errorf("adopting an identical table wrote %v", calls)
	}
	ev := h.notify.Events()
	if len(ev) == 0 || !strings.HasPrefix(ev[0], "READY=1 STATUS=") {
		t.Fatalf("notifications %v, want READY=1 first", ev)
	}
	// The driver runs in its own goroutine: its first state (BACKUP)
	// reaches the status a moment after READY.
	var st control.Status
	testutil.WaitFor(5*time.Second, func() bool {
		st = h.status()
		return len(st.VRRP) != 1 || st.VRRP[0].State != "INIT"
	})
	if st.Role != "backup" || len(st.VRRP) != 1 || st.VRRP[0].State != "BACKUP" {
		t.Errorf("role %q, vrrp %+v", st.Role, st.VRRP)
	}
	if got := h.ipvs.daemonCalls(); !cmp.Equal(got, []string{"start backup eth1 100"}) {
		t.Errorf("sync daemon calls %v", got)
	}
	if len(st.Services) != 1 || len(st.Services[0].RealServers) != 2 || st.Services[0].RealServers[0].State != "up" || st.Services[0].Scheduler != "lc" {
		t.Errorf("services %+v", st.Services)
	}
}

// TestVRRPRoleAndSyncDaemon: MASTER starts the master sync daemon and
// keeps the backup one for the old master's table hand-over, stopped
// after Options.SyncHandOverGrace; and the role agents see.
func TestVRRPRoleAndSyncDaemon(t *testing.T) {
	h := startWith(t, testConfig("DIR", 1, ""), nil, func(o *Options) { o.SyncHandOverGrace = 200 * time.Millisecond })
	h.driver("VI0").set(vrrp.StateMaster)
	st := h.status() // the loop took the notification before this command
	if st.Role != "master" {
		t.Fatalf("role %q after MASTER", st.Role)
	}
	want := []string{"start backup eth1 100", "start master eth1 100"}
	if got := h.ipvs.daemonCalls(); !cmp.Equal(got, want) {
		t.Errorf("sync daemon calls right after MASTER %v, want %v", got, want)
	}
	want = append(want, "stop backup")
	// The slow loop (every second) stops it once the grace is over.
	testutil.Eventually(t, 5*time.Second, func() bool { return cmp.Equal(h.ipvs.daemonCalls(), want) },
		"sync daemon calls %v, want %v", h.ipvs.daemonCalls(), want)
	h.status() // the first command's loop iteration has published its view
	if got := h.a.view.Load().role; got != hbproto.RoleMaster {
		t.Errorf("heartbeat role %v", got)
	}
}

// TestReloadKeepsRunningConfigOnError: a broken file changes nothing and
// the reload op says why; SIGHUP-style reload of a good file then works.
func TestReloadKeepsRunningConfigOnError(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)
	h.ipvs.Reset()
	h.write(testConfig(h.dir, 5, "") + "colour: red\n")
	err := h.call(control.OpReload, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "keeping the running one") || !strings.Contains(err.Error(), `key "colour"`) {
		t.Fatalf("reload of a bad file: %v", err)
	}
	if calls := h.ipvs.CallStrings(); len(calls) != 0 {
		t.Errorf("a failed reload wrote %v", calls)
	}
	st := h.status()
	if st.Services[0].RealServers[0].ConfiguredWeight != 1 || st.LastReloadError == "" {
		t.Errorf("after a failed reload: weight %d, last error %q", st.Services[0].RealServers[0].ConfiguredWeight, st.LastReloadError)
	}
	// A file that names no instance and no service is refused too.
	h.write("version: 1\n")
	if err := h.call(control.OpReload, nil, nil); err == nil || !strings.Contains(err.Error(), "nothing to do") {
		t.Fatalf("reload of an empty config: %v", err)
	}
	if h.driver("VI0").Status().State != vrrp.StateBackup {
		t.Errorf("a failed reload touched VRRP")
	}
}

// TestReloadWeightOnly: a changed weight is one UpdateDestination, nothing
// else; VRRP is not restarted.
func TestReloadWeightOnly(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), func(_ string, f *fakeIPVS) { f.Load(loaded(1)) })
	drv := h.driver("VI0")
	h.ipvs.Reset()
	h.write(testConfig(h.dir, 3, ""))
	var res control.ReloadResult
	if err := h.call(control.OpReload, nil, &res); err != nil {
		t.Fatal(err)
	}
	want := []string{"UpdateDestination TCP 192.0.2.100:80 192.0.2.11:80 weight=3 DR"}
	if got := h.ipvs.CallStrings(); !cmp.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	if h.driver("VI0") != drv {
		t.Errorf("a weight change restarted VRRP")
	}
	if full, _ := h.ipvs.Reads(); full != 0 {
		t.Errorf("reload read the whole table %d times; ApplyService reads one service", full)
	}
	// Add a real server: one NewDestination.
	h.ipvs.Reset()
	h.write(testConfig(h.dir, 3, "      - address: 192.0.2.13:80\n        weight: 2\n"))
	if err := h.call(control.OpReload, nil, &res); err != nil {
		t.Fatal(err)
	}
	want = []string{"NewDestination TCP 192.0.2.100:80 192.0.2.13:80 weight=2 DR"}
	if got := h.ipvs.CallStrings(); !cmp.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	// A priority change is taken live (TestReloadPriorityOnlyIsLive); a
	// virtual_router_id change restarts that instance.
	h.write(strings.Replace(testConfig(h.dir, 3, "      - address: 192.0.2.13:80\n        weight: 2\n"), "virtual_router_id: 100", "virtual_router_id: 101", 1))
	if err := h.call(control.OpReload, nil, &res); err != nil {
		t.Fatal(err)
	}
	if h.driver("VI0") == drv || h.driver("VI0").cfg.VRID != 101 {
		t.Errorf("a virtual_router_id change did not restart the instance with it")
	}
}

// TestReloadRemovesGracefully: a real server removed by a reload while it
// holds connections goes to weight 0 first (no delete: its established
// connections would break with expire_nodest_conn) and is deleted once its
// connections have ended.
func TestReloadRemovesGracefully(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), func(_ string, f *fakeIPVS) { f.Load(loaded(1)) })
	h.ipvs.SetConns("TCP 192.0.2.100:80", "192.0.2.12:80", 3, 0)
	h.ipvs.Reset()
	// 192.0.2.12 leaves the configuration.
	h.write(strings.Replace(testConfig(h.dir, 1, ""), "      - address: 192.0.2.12:80\n        weight: 1\n", "", 1))
	var res control.ReloadResult
	if err := h.call(control.OpReload, nil, &res); err != nil {
		t.Fatal(err)
	}
	if got, want := h.ipvs.CallStrings(), []string{"UpdateDestination TCP 192.0.2.100:80 192.0.2.12:80 weight=0 DR"}; !cmp.Equal(got, want) {
		t.Errorf("reload: calls %v, want %v", got, want)
	}
	st := h.status()
	if rs := st.Services[0].RealServers; len(rs) != 2 || rs[1].State != "draining" || !strings.Contains(rs[1].Reason, "removed from the configuration") {
		t.Errorf("status after the reload: %+v", rs)
	}
	h.ipvs.Reset()
	h.ipvs.SetConns("TCP 192.0.2.100:80", "192.0.2.12:80", 0, 2)
	testutil.WaitFor(5*time.Second, func() bool { return len(h.status().Services[0].RealServers) == 1 })
	if got, want := h.ipvs.CallStrings(), []string{"DelDestination TCP 192.0.2.100:80 192.0.2.12:80"}; !cmp.Equal(got, want) {
		t.Errorf("after its connections ended: calls %v, want %v", got, want)
	}
}

// TestDrainUndrain: drain through the control handler sets weight 0 (never
// a delete first), undrain restores it; unknown targets are refused.
func TestDrainUndrain(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), func(_ string, f *fakeIPVS) { f.Load(loaded(1)) })
	h.ipvs.SetConns("TCP 192.0.2.100:80", "192.0.2.11:80", 4, 0)
	var res control.DrainResult
	if err := h.call(control.OpDrain, control.DrainArgs{Target: "192.0.2.11", Reason: "kernel update"}, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Servers) != 1 || res.Servers[0].State != "draining" || res.Servers[0].Weight != 0 {
		t.Errorf("drain result %+v", res)
	}
	if got, want := h.ipvs.CallStrings(), []string{"UpdateDestination TCP 192.0.2.100:80 192.0.2.11:80 weight=0 DR"}; !cmp.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	st := h.status()
	rs := st.Services[0].RealServers[0]
	if !rs.Drain || rs.DrainReason != "kernel update" || rs.State != "draining" {
		t.Errorf("status %+v", rs)
	}
	if err := h.call(control.OpDrain, control.DrainArgs{Target: "192.0.2.99:80"}, nil); err == nil || !strings.Contains(err.Error(), "no real server") {
		t.Errorf("unknown target: %v", err)
	}
	if err := h.call(control.OpDrain, control.DrainArgs{Target: "not-an-ip"}, nil); err == nil {
		t.Errorf("bad target accepted")
	}
	// The connections end: the poll sees it, the drain completes and the
	// drained server is removed.
	h.ipvs.Reset()
	h.ipvs.SetConns("TCP 192.0.2.100:80", "192.0.2.11:80", 0, 3)
	testutil.WaitFor(5*time.Second, func() bool { return h.status().Services[0].RealServers[0].State == "drained" })
	if got, want := h.ipvs.CallStrings(), []string{"DelDestination TCP 192.0.2.100:80 192.0.2.11:80"}; !cmp.Equal(got, want) {
		t.Errorf("after the drain: calls %v, want %v", got, want)
	}
	h.ipvs.Reset()
	if err := h.call(control.OpUndrain, control.DrainArgs{Target: "192.0.2.11:80"}, &res); err != nil {
		t.Fatal(err)
	}
	if got, want := h.ipvs.CallStrings(), []string{"NewDestination TCP 192.0.2.100:80 192.0.2.11:80 weight=1 DR"}; !cmp.Equal(got, want) {
		t.Errorf("undrain calls %v, want %v", got, want)
	}
}

// TestAllDownSorryServer: both agents down → sorry server in (added before
// anything leaves), one back → sorry out.
func TestAllDownSorryServer(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), func(_ string, f *fakeIPVS) { f.Load(loaded(1)) })
	h.ipvs.Reset()
	for _, ip := range []string{"192.0.2.11", "192.0.2.12"} {
		h.agent(ip, hbproto.StateDown)
	}
	st := h.status()
	if !st.Services[0].SorryIn {
		t.Fatalf("sorry server not in: %+v", st.Services[0])
	}
	got := h.ipvs.CallStrings()
	want := []string{
		"DelDestination TCP 192.0.2.100:80 192.0.2.11:80",
		"NewDestination TCP 192.0.2.100:80 192.0.2.99:80 weight=1 DR",
		"DelDestination TCP 192.0.2.100:80 192.0.2.12:80",
	}
	if !cmp.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
	h.ipvs.Reset()
	h.agent("192.0.2.12", hbproto.StateUp)
	if st := h.status(); st.Services[0].SorryIn {
		t.Errorf("sorry server still in after a server came back")
	}
	want = []string{
		"NewDestination TCP 192.0.2.100:80 192.0.2.12:80 weight=1 DR",
		"DelDestination TCP 192.0.2.100:80 192.0.2.99:80",
	}
	if got := h.ipvs.CallStrings(); !cmp.Equal(got, want) {
		t.Errorf("calls %v, want %v", got, want)
	}
}

// agent feeds one agent report to the main loop and waits until it acted.
func (h *harness) agent(ip string, st hbproto.State) {
	h.t.Helper()
	h.report(agentReport(netip.MustParseAddr(ip), st))
}

// agentReport is the report of agent "rs-IP" in state st, sent now.
func agentReport(ip netip.Addr, st hbproto.State) agents.Report {
	return agents.Report{At: time.Now(), Agent: hbproto.AgentReport{Node: "rs-" + ip.String(), RealIP: ip, State: st, Reason: "test"}}
}

// report feeds the report r to the main loop and waits until it acted.
func (h *harness) report(r agents.Report) {
	h.t.Helper()
	done := make(chan struct{})
	h.a.events <- agentEvent{r: r, done: done}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		h.t.Fatal("agent report not taken")
	}
}

// TestServiceOfAndSpec covers the lvs mapping.
func TestServiceOfAndSpec(t *testing.T) {
	h := start(t, testConfig("DIR", 1, ""), nil)
	got := h.ipvs.CallStrings()
	want := []string{
		"NewService TCP 192.0.2.100:80 sched=lc flags=0x0 timeout=0",
		"NewDestination TCP 192.0.2.100:80 192.0.2.11:80 weight=1 DR",
		"NewDestination TCP 192.0.2.100:80 192.0.2.12:80 weight=1 DR",
	}
	if !cmp.Equal(got, want) {
		t.Errorf("fresh start: %v, want %v", got, want)
	}
}
