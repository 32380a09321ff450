package pool

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	t0    = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	rs1   = netip.MustParseAddrPort("192.0.2.101:80")
	rs2   = netip.MustParseAddrPort("192.0.2.102:80")
	rs3   = netip.MustParseAddrPort("192.0.2.103:80")
	sorry = netip.MustParseAddrPort("192.0.2.99:80")
)

func http(addr netip.AddrPort, weight int) ServerConfig {
	return ServerConfig{Addr: addr, Weight: weight, Checkers: []string{"HTTP_GET"}}
}

func checkFail(addr netip.AddrPort) CheckResult {
	return CheckResult{Server: addr, Checker: "HTTP_GET", Up: false, Reason: "HTTP_GET failed 3 times: status 503, want 200"}
}

func checkOK(addr netip.AddrPort) CheckResult {
	return CheckResult{Server: addr, Checker: "HTTP_GET", Up: true, Reason: "HTTP_GET succeeded"}
}

type step struct {
	at   time.Duration // since t0
	ev   Event
	want []string
}

func strs(acts []Action) []string {
	var out []string
	for _, a := range acts {
		out = append(out, a.String())
	}
	return out
}

func run(t *testing.T, cfg Config, start []string, steps []step) *Pool {
	t.Helper()
	p, acts, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(start, strs(acts)); diff != "" {
		t.Fatalf("New (-want +got)\n%s", diff)
	}
	for i, s := range steps {
		got := strs(p.Step(t0.Add(s.at), s.ev))
		if diff := cmp.Diff(s.want, got); diff != "" {
			t.Fatalf("step %d (%T at +%s) (-want +got)\n%s", i, s.ev, s.at, diff)
		}
	}
	return p
}

var startTwoUp = []string{
	"quorum-gained (start: live weight 3 >= quorum 1)",
	"transition 192.0.2.101:80: new -> up (start)",
	"transition 192.0.2.102:80: new -> up (start)",
	"set-dest 192.0.2.101:80 weight 1",
	"set-dest 192.0.2.102:80 weight 2",
}

func TestMaintenanceDrainsThenRestores(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}, Sorry: sorry}
	p := run(t, cfg, startTwoUp, []step{
		// The agent asks for maintenance: weight 0 at once.
		{1 * time.Second, AgentReport{Addr: rs1.Addr(), State: AgentMaintenance, Reason: "deploy"}, []string{
			"transition 192.0.2.101:80: up -> draining (maintenance from agent: deploy)",
			"set-dest 192.0.2.101:80 weight 0",
		}},
		// The backend's /check.txt answers 503 in maintenance: the check
		// fails, but the drain goes on; the server is not removed.
		{2 * time.Second, checkFail(rs1), nil},
		{3 * time.Second, Conns{Server: rs1, Active: 4, Inactive: 9}, nil},
		{3500 * time.Millisecond, AgentReport{Addr: rs1.Addr(), State: AgentMaintenance, Reason: "deploy"}, nil},
		{4 * time.Second, Conns{Server: rs1, Active: 0, Inactive: 9}, []string{
			"transition 192.0.2.101:80: draining -> maintenance (maintenance from agent: deploy; no connections left)",
		}},
		// Maintenance over; the check recovers on its next run.
		{5 * time.Second, AgentReport{Addr: rs1.Addr(), State: AgentUp}, []string{
			"recheck 192.0.2.101:80 (agent reports up again)",
			"transition 192.0.2.101:80: maintenance -> down (HTTP_GET failed 3 times: status 503, want 200)",
			"set-dest 192.0.2.101:80 absent",
		}},
		{6 * time.Second, checkOK(rs1), []string{
			"transition 192.0.2.101:80: down -> up (HTTP_GET succeeded)",
			"set-dest 192.0.2.101:80 weight 1",
		}},
	})
	if st := p.Status(); st.Servers[0].State != Up || st.Servers[0].Weight != 1 || st.LiveWeight != 3 {
		t.Errorf("status after maintenance: %+v", st.Servers[0])
	}
}

func TestMaintenanceWithHealthyCheckRestoresAtOnce(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}}
	run(t, cfg, startTwoUp, []step{
		{time.Second, AgentReport{Addr: rs1.Addr(), State: AgentMaintenance}, []string{
			"transition 192.0.2.101:80: up -> draining (maintenance from agent)",
			"set-dest 192.0.2.101:80 weight 0",
		}},
		{2 * time.Second, AgentReport{Addr: rs1.Addr(), State: AgentUp}, []string{
			"transition 192.0.2.101:80: draining -> up (back in service at weight 1)",
			"set-dest 192.0.2.101:80 weight 1",
		}},
	})
}

func TestOperatorDrainTimeoutAndRemoval(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}, DrainTimeout: 30 * time.Second, RemoveDrained: true}
	p := run(t, cfg, startTwoUp, []step{
		{0, Drain{Server: rs2, Reason: "kernel update"}, []string{
			"transition 192.0.2.102:80: up -> draining (operator drain: kernel update)",
			"set-dest 192.0.2.102:80 weight 0",
		}},
		{10 * time.Second, Conns{Server: rs2, Active: 2}, nil},
		{29 * time.Second, TimerFired{}, nil},
		{30 * time.Second, TimerFired{}, []string{
			"transition 192.0.2.102:80: draining -> drained (operator drain: kernel update; drain_timeout 30s elapsed with 2 active, 0 inactive connections)",
			"set-dest 192.0.2.102:80 absent",
		}},
		{40 * time.Second, Undrain{Server: rs2}, []string{
			"transition 192.0.2.102:80: drained -> up (back in service at weight 2)",
			"set-dest 192.0.2.102:80 weight 2",
		}},
	})
	if !p.NextDeadline().IsZero() {
		t.Errorf("NextDeadline = %v with nothing pending", p.NextDeadline())
	}
}

func TestDrainWaitsForCountersAfterWeightZero(t *testing.T) {
	// Counters from before the drain must not end it: only a Conns event
	// received while draining counts.
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}, CountInactive: true}
	run(t, cfg, startTwoUp, []step{
		{0, Conns{Server: rs1, Active: 0, Inactive: 0}, nil},
		{time.Second, Drain{Server: rs1}, []string{
			"transition 192.0.2.101:80: up -> draining (operator drain)",
			"set-dest 192.0.2.101:80 weight 0",
		}},
		{2 * time.Second, TimerFired{}, nil},
		{3 * time.Second, Conns{Server: rs1, Active: 0, Inactive: 5}, nil}, // CountInactive
		{4 * time.Second, Conns{Server: rs1, Active: 0, Inactive: 0}, []string{
			"transition 192.0.2.101:80: draining -> drained (operator drain; no connections left)",
		}},
	})
}

func TestHealthFailureRemovesOrInhibits(t *testing.T) {
	inhibit := http(rs2, 2)
	inhibit.InhibitOnFailure = true
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), inhibit, http(rs3, 1)}}
	start := []string{
		"quorum-gained (start: live weight 4 >= quorum 1)",
		"transition 192.0.2.101:80: new -> up (start)",
		"transition 192.0.2.102:80: new -> up (start)",
		"transition 192.0.2.103:80: new -> up (start)",
		"set-dest 192.0.2.101:80 weight 1",
		"set-dest 192.0.2.102:80 weight 2",
		"set-dest 192.0.2.103:80 weight 1",
	}
	run(t, cfg, start, []step{
		{time.Second, checkFail(rs1), []string{
			"transition 192.0.2.101:80: up -> down (HTTP_GET failed 3 times: status 503, want 200)",
			"set-dest 192.0.2.101:80 absent",
		}},
		{time.Second, checkFail(rs2), []string{
			"transition 192.0.2.102:80: up -> down (HTTP_GET failed 3 times: status 503, want 200)",
			"set-dest 192.0.2.102:80 weight 0",
		}},
		{2 * time.Second, checkOK(rs2), []string{
			"transition 192.0.2.102:80: down -> up (HTTP_GET succeeded)",
			"set-dest 192.0.2.102:80 weight 2",
		}},
	})
}

func TestSorryServer(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}, Sorry: sorry}
	run(t, cfg, startTwoUp, []step{
		{time.Second, checkFail(rs1), []string{
			"transition 192.0.2.101:80: up -> down (HTTP_GET failed 3 times: status 503, want 200)",
			"set-dest 192.0.2.101:80 absent",
		}},
		{2 * time.Second, AgentReport{Addr: rs2.Addr(), State: AgentDown, Reason: "disk full"}, []string{
			"transition 192.0.2.102:80: up -> down (agent reports down: disk full)",
			"quorum-lost (live weight 0 < quorum 1 - hysteresis 0)",
			"sorry-in 192.0.2.99:80 weight 1 (quorum lost)",
			"set-dest 192.0.2.102:80 absent",
		}},
		{3 * time.Second, checkOK(rs1), []string{
			"transition 192.0.2.101:80: down -> up (HTTP_GET succeeded)",
			"quorum-gained (live weight 1 >= quorum 1 + hysteresis 0)",
			"set-dest 192.0.2.101:80 weight 1",
			"sorry-out 192.0.2.99:80 (quorum gained)",
		}},
	})
}

func TestAllInMaintenanceBringsSorryIn(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1)}, Sorry: sorry}
	start := []string{
		"quorum-gained (start: live weight 1 >= quorum 1)",
		"transition 192.0.2.101:80: new -> up (start)",
		"set-dest 192.0.2.101:80 weight 1",
	}
	run(t, cfg, start, []step{
		{time.Second, AgentReport{Addr: rs1.Addr(), State: AgentMaintenance}, []string{
			"transition 192.0.2.101:80: up -> draining (maintenance from agent)",
			"quorum-lost (live weight 0 < quorum 1 - hysteresis 0)",
			"sorry-in 192.0.2.99:80 weight 1 (quorum lost)",
			"set-dest 192.0.2.101:80 weight 0",
		}},
	})
}

func TestAlpha(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), {Addr: rs2, Weight: 1}}, Sorry: sorry, Quorum: 2, Alpha: true}
	start := []string{
		"quorum-lost (start: live weight 1 < quorum 2)",
		"transition 192.0.2.101:80: new -> down (alpha: down until HTTP_GET succeeds)",
		"transition 192.0.2.102:80: new -> up (start)", // no checker: always healthy
		"sorry-in 192.0.2.99:80 weight 1 (quorum lost)",
		"set-dest 192.0.2.101:80 absent",
		"set-dest 192.0.2.102:80 weight 0", // held at 0 while the sorry server serves
	}
	run(t, cfg, start, []step{
		{time.Second, checkOK(rs1), []string{
			"transition 192.0.2.101:80: down -> up (HTTP_GET succeeded)",
			"quorum-gained (live weight 2 >= quorum 2 + hysteresis 0)",
			"set-dest 192.0.2.101:80 weight 1",
			"set-dest 192.0.2.102:80 weight 1",
			"sorry-out 192.0.2.99:80 (quorum gained)",
		}},
	})
}

func TestQuorumHysteresis(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 2), http(rs2, 2), http(rs3, 2)}, Quorum: 4, Hysteresis: 1}
	start := []string{
		"quorum-gained (start: live weight 6 >= quorum 4)",
		"transition 192.0.2.101:80: new -> up (start)",
		"transition 192.0.2.102:80: new -> up (start)",
		"transition 192.0.2.103:80: new -> up (start)",
		"set-dest 192.0.2.101:80 weight 2",
		"set-dest 192.0.2.102:80 weight 2",
		"set-dest 192.0.2.103:80 weight 2",
	}
	run(t, cfg, start, []step{
		{1 * time.Second, checkFail(rs1), []string{ // 4: still >= 4-1
			"transition 192.0.2.101:80: up -> down (HTTP_GET failed 3 times: status 503, want 200)",
			"set-dest 192.0.2.101:80 absent",
		}},
		{2 * time.Second, checkFail(rs2), []string{ // 2 < 3: lost
			"transition 192.0.2.102:80: up -> down (HTTP_GET failed 3 times: status 503, want 200)",
			"quorum-lost (live weight 2 < quorum 4 - hysteresis 1)",
			"set-dest 192.0.2.102:80 absent",
		}},
		{3 * time.Second, checkOK(rs2), []string{ // 4 < 5: not yet gained
			"transition 192.0.2.102:80: down -> up (HTTP_GET succeeded)",
			"set-dest 192.0.2.102:80 weight 2",
		}},
		{4 * time.Second, checkOK(rs1), []string{
			"transition 192.0.2.101:80: down -> up (HTTP_GET succeeded)",
			"quorum-gained (live weight 6 >= quorum 4 + hysteresis 1)",
			"set-dest 192.0.2.101:80 weight 2",
		}},
	})
}

func TestAgentSilenceFallsBackToChecks(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}, AgentInterval: time.Second}
	p := run(t, cfg, startTwoUp, []step{
		{0, AgentReport{Addr: rs1.Addr(), State: AgentMaintenance, Reason: "deploy"}, []string{
			"transition 192.0.2.101:80: up -> draining (maintenance from agent: deploy)",
			"set-dest 192.0.2.101:80 weight 0",
		}},
		{2900 * time.Millisecond, TimerFired{}, nil},
	})
	if got, want := p.NextDeadline(), t0.Add(3*time.Second); !got.Equal(want) {
		t.Errorf("NextDeadline = %v, want %v", got, want)
	}
	// Three intervals without a report: the agent's word expires and the
	// server is judged by HTTP_GET alone, which says up.
	got := strs(p.Step(t0.Add(3*time.Second), TimerFired{}))
	want := []string{
		"transition 192.0.2.101:80: draining -> up (back in service at weight 1)",
		"set-dest 192.0.2.101:80 weight 1",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("agent expiry (-want +got)\n%s", diff)
	}
	if st := p.Status().Servers[0]; st.Agent != AgentNone || st.AgentReason != "agent silent for 3 intervals (3s)" {
		t.Errorf("agent status after expiry: %v %q", st.Agent, st.AgentReason)
	}
	// Without an agent, the server works exactly like keepalived.
	got = strs(p.Step(t0.Add(4*time.Second), checkFail(rs1)))
	want = []string{
		"transition 192.0.2.101:80: up -> down (HTTP_GET failed 3 times: status 503, want 200)",
		"set-dest 192.0.2.101:80 absent",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("check failure without agent (-want +got)\n%s", diff)
	}
}

// A report that repeats the last one changes nothing but the agent's time:
// no action, and the expiry moves with it.
func TestAgentRepeatedReportOnlyMovesItsTime(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}, AgentInterval: time.Second}
	p := run(t, cfg, startTwoUp, []step{
		{0, AgentReport{Addr: rs1.Addr(), State: AgentMaintenance, Reason: "deploy"}, []string{
			"transition 192.0.2.101:80: up -> draining (maintenance from agent: deploy)",
			"set-dest 192.0.2.101:80 weight 0",
		}},
		{2 * time.Second, AgentReport{Addr: rs1.Addr(), State: AgentMaintenance, Reason: "deploy"}, nil},
		// Past the first report's expiry (3 s), within the second's.
		{4 * time.Second, TimerFired{}, nil},
	})
	if got, want := p.NextDeadline(), t0.Add(5*time.Second); !got.Equal(want) {
		t.Errorf("NextDeadline = %v, want %v (3 intervals after the repeated report)", got, want)
	}
	if st := p.Status().Servers[0]; st.Agent != AgentMaintenance || st.State != Draining {
		t.Errorf("after the repeated report: agent %v, state %v", st.Agent, st.State)
	}
}

func TestAgentDownSilentWithFailingCheckAsksRecheck(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}}
	run(t, cfg, startTwoUp, []step{
		{0, AgentReport{Addr: rs1.Addr(), State: AgentDown, Reason: "app crashed"}, []string{
			"transition 192.0.2.101:80: up -> down (agent reports down: app crashed)",
			"set-dest 192.0.2.101:80 absent",
		}},
		{time.Second, checkFail(rs1), nil},
		{4 * time.Second, TimerFired{}, []string{
			"recheck 192.0.2.101:80 (agent silent for 3 intervals (3s))",
		}},
	})
}

func TestOperatorDrainOfDownServerIsDrainedAtOnce(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}}
	run(t, cfg, startTwoUp, []step{
		{0, checkFail(rs1), []string{
			"transition 192.0.2.101:80: up -> down (HTTP_GET failed 3 times: status 503, want 200)",
			"set-dest 192.0.2.101:80 absent",
		}},
		{time.Second, Drain{Server: rs1}, nil}, // still down: health first
		{2 * time.Second, checkOK(rs1), []string{
			"transition 192.0.2.101:80: down -> drained (operator drain)",
			"set-dest 192.0.2.101:80 weight 0",
		}},
		{3 * time.Second, AgentReport{Addr: rs1.Addr(), State: AgentMaintenance}, []string{
			"transition 192.0.2.101:80: drained -> maintenance (maintenance from agent)",
		}},
	})
}

func TestUnknownServerIgnored(t *testing.T) {
	p, _, err := New(Config{Servers: []ServerConfig{http(rs1, 1)}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []Event{checkFail(rs3), Drain{Server: rs3}, Undrain{Server: rs3}, Conns{Server: rs3}, AgentReport{Addr: rs3.Addr(), State: AgentDown}} {
		if acts := p.Step(t0, ev); len(acts) != 0 {
			t.Errorf("%T for an unknown server: %v", ev, strs(acts))
		}
	}
}

func TestOmega(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}}
	p, _, _ := New(cfg, t0)
	if acts := p.Shutdown(); acts != nil {
		t.Errorf("Shutdown without omega: %v", strs(acts))
	}
	cfg.Omega = true
	p, _, _ = New(cfg, t0)
	p.Step(t0, checkFail(rs2))
	want := []string{
		"transition 192.0.2.101:80: up -> down (shutdown (omega))",
		"quorum-lost (shutdown (omega))",
	}
	if diff := cmp.Diff(want, strs(p.Shutdown())); diff != "" {
		t.Errorf("Shutdown with omega (-want +got)\n%s", diff)
	}
}

func TestReconfigure(t *testing.T) {
	p, _, err := New(Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}, Alpha: true}, t0)
	if err != nil {
		t.Fatal(err)
	}
	p.Step(t0, checkOK(rs1))
	p.Step(t0, checkOK(rs2))
	p.Step(t0, Drain{Server: rs2})
	acts, err := p.Reconfigure(Config{Servers: []ServerConfig{http(rs2, 5), http(rs3, 1)}, Alpha: true, Sorry: sorry}, t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	// rs1 was up: it drains before it goes.
	want := []string{
		"transition 192.0.2.103:80: new -> down (alpha: down until HTTP_GET succeeds)",
		"transition 192.0.2.101:80: up -> draining (removed from the configuration)",
		"quorum-lost (live weight 0 < quorum 1 - hysteresis 0)",
		"sorry-in 192.0.2.99:80 weight 1 (quorum lost)",
		"set-dest 192.0.2.103:80 absent",
		"set-dest 192.0.2.101:80 weight 0",
	}
	if diff := cmp.Diff(want, strs(acts)); diff != "" {
		t.Errorf("Reconfigure (-want +got)\n%s", diff)
	}
	st := p.Status()
	if st.Servers[0].Addr != rs2 || st.Servers[0].State != Draining || st.Servers[0].ConfiguredWeight != 5 {
		t.Errorf("rs2 after reload: %+v", st.Servers[0])
	}
	if _, err := p.Reconfigure(Config{Servers: []ServerConfig{http(rs1, 1), http(rs1, 1)}}, t0); err == nil {
		t.Error("duplicate server accepted")
	}
}

// reconfigure is a reload in a steps table.
type reconfigure Config

func (reconfigure) isEvent() {}

// steps plays a table on p: events, and reloads (reconfigure).
func steps(t *testing.T, p *Pool, table []step) {
	t.Helper()
	for i, s := range table {
		var acts []Action
		if rc, ok := s.ev.(reconfigure); ok {
			var err error
			if acts, err = p.Reconfigure(Config(rc), t0.Add(s.at)); err != nil {
				t.Fatal(err)
			}
		} else {
			acts = p.Step(t0.Add(s.at), s.ev)
		}
		if diff := cmp.Diff(s.want, strs(acts)); diff != "" {
			t.Fatalf("step %d (%T at +%s) (-want +got)\n%s", i, s.ev, s.at, diff)
		}
	}
}

// A server removed from the configuration while it carries traffic drains
// and then leaves; one carrying none leaves at once; one added back before
// it has gone stays.
func TestReconfigureLeavesGracefully(t *testing.T) {
	cfg := Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2), http(rs3, 1)}, DrainTimeout: time.Minute}
	p, _, err := New(cfg, t0)
	if err != nil {
		t.Fatal(err)
	}
	p.Step(t0, checkFail(rs3)) // down and absent: it just goes
	steps(t, p, []step{
		{time.Second, reconfigure{Servers: []ServerConfig{http(rs2, 2)}, DrainTimeout: time.Minute}, []string{
			"transition 192.0.2.101:80: up -> draining (removed from the configuration)",
			"set-dest 192.0.2.101:80 weight 0",
		}},
		{2 * time.Second, Conns{Server: rs1, Active: 2}, nil},
		{3 * time.Second, Conns{Server: rs1, Active: 0}, []string{
			"transition 192.0.2.101:80: draining -> drained (removed from the configuration; no connections left)",
			"set-dest 192.0.2.101:80 absent",
		}},
		// Gone: events about it are ignored.
		{4 * time.Second, Conns{Server: rs1, Active: 1}, nil},
	})
	if st := p.Status(); len(st.Servers) != 1 || st.Servers[0].Addr != rs2 {
		t.Fatalf("after the drain: %+v", st.Servers)
	}

	// Removed, then added back while it drains: it stays and is up again.
	steps(t, p, []step{
		{5 * time.Second, reconfigure{Servers: nil, DrainTimeout: time.Minute}, []string{
			"transition 192.0.2.102:80: up -> draining (removed from the configuration)",
			"quorum-lost (live weight 0 < quorum 1 - hysteresis 0)",
			"set-dest 192.0.2.102:80 weight 0",
		}},
		{6 * time.Second, reconfigure{Servers: []ServerConfig{http(rs2, 3)}, DrainTimeout: time.Minute}, []string{
			"transition 192.0.2.102:80: draining -> up (back in service at weight 3)",
			"quorum-gained (live weight 3 >= quorum 1 + hysteresis 0)",
			"set-dest 192.0.2.102:80 weight 3",
		}},
		// Removed again: drain_timeout bounds the wait.
		{7 * time.Second, reconfigure{Servers: nil, DrainTimeout: time.Minute}, []string{
			"transition 192.0.2.102:80: up -> draining (removed from the configuration)",
			"quorum-lost (live weight 0 < quorum 1 - hysteresis 0)",
			"set-dest 192.0.2.102:80 weight 0",
		}},
		{8 * time.Second, Conns{Server: rs2, Active: 4}, nil},
		{67 * time.Second, TimerFired{}, []string{
			"transition 192.0.2.102:80: draining -> drained (removed from the configuration; drain_timeout 1m0s elapsed with 4 active, 0 inactive connections)",
			"set-dest 192.0.2.102:80 absent",
		}},
	})
	if st := p.Status(); len(st.Servers) != 0 {
		t.Fatalf("after the timeout: %+v", st.Servers)
	}
}

func TestValidate(t *testing.T) {
	bad := []Config{
		{Servers: []ServerConfig{{}}},
		{Servers: []ServerConfig{http(rs1, 1), http(rs1, 2)}},
		{Servers: []ServerConfig{http(rs1, -1)}},
		{Servers: []ServerConfig{http(rs1, 1)}, Sorry: rs1},
		{Quorum: -1},
	}
	for i, c := range bad {
		if _, _, err := New(c, t0); err == nil {
			t.Errorf("config %d accepted", i)
		}
	}
}

func TestStatus(t *testing.T) {
	p, _, _ := New(Config{Servers: []ServerConfig{http(rs1, 1), http(rs2, 2)}, DrainTimeout: time.Minute}, t0)
	p.Step(t0.Add(time.Second), Drain{Server: rs1, Reason: "x"})
	p.Step(t0.Add(2*time.Second), Conns{Server: rs1, Active: 3, Inactive: 1})
	got := p.Status()
	want := Status{
		QuorumUp: true, LiveWeight: 2, SorryWeight: 1,
		Servers: []ServerStatus{
			{Addr: rs1, State: Draining, Since: t0.Add(time.Second), Reason: "operator drain: x", Weight: 0, Present: true, ConfiguredWeight: 1, CheckWeight: 1, Drain: true, Active: 3, Inactive: 1, DrainDeadline: t0.Add(61 * time.Second)},
			{Addr: rs2, State: Up, Since: t0, Reason: "start", Weight: 2, Present: true, ConfiguredWeight: 2, CheckWeight: 2},
		},
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.AddrPort) bool { return a == b })); diff != "" {
		t.Errorf("Status (-want +got)\n%s", diff)
	}
	if got, want := p.NextDeadline(), t0.Add(61*time.Second); !got.Equal(want) {
		t.Errorf("NextDeadline = %v, want %v", got, want)
	}
}
