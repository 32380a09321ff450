package app

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"

	"github.com/tandemlb/tandem/director/agents"
	"github.com/tandemlb/tandem/director/pool"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// TestAgentQueue: the agents' queue hands out the agents due by a limit,
// earliest first, moves an agent queued again, and recomputes every due
// when dead_after changes.
func TestAgentQueue(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	mk := func(name string, seen float64) *agentInfo {
		return &agentInfo{ip: netip.MustParseAddr(name), lastSeen: at(seen), poolAt: at(seen), fresh: true, idx: -1}
	}
	names := func(ags []*agentInfo) []string {
		var out []string
		for _, ag := range ags {
			out = append(out, ag.ip.String())
		}
		return out
	}
	var q agentQueue
	q.fit(3*time.Second, time.Minute)
	if !q.next().IsZero() {
		t.Fatalf("empty queue: next %v, want zero", q.next())
	}
	a, b, c := mk("192.0.2.1", 0), mk("192.0.2.2", 0.5), mk("192.0.2.3", 1)
	for _, ag := range []*agentInfo{c, a, b} {
		q.set(ag, ag.lastSeen.Add(3*time.Second))
	}
	if got := q.next(); !got.Equal(at(3)) {
		t.Fatalf("next %v, want %v", got, at(3))
	}
	// a reports again (the main loop heard it): it moves behind the others.
	a.lastSeen, a.poolAt = at(2), at(2)
	q.set(a, at(5))
	if got := names(q.popDue(at(3.5), nil)); !cmp.Equal(got, []string{"192.0.2.2"}) {
		t.Fatalf("due by 3.5 s: %v, want [192.0.2.2]", got)
	}
	if got := q.next(); !got.Equal(at(4)) {
		t.Fatalf("next %v, want %v", got, at(4))
	}
	// dead_after becomes 1 s: every due follows (c at its pools' time).
	c.poolAt = at(0.8)
	q.fit(time.Second, time.Minute)
	if got := names(q.popDue(at(2), nil)); !cmp.Equal(got, []string{"192.0.2.3"}) {
		t.Fatalf("due by 2 s after dead_after 1 s: %v, want [192.0.2.3]", got)
	}
	if got := names(q.popDue(at(10), nil)); !cmp.Equal(got, []string{"192.0.2.1"}) {
		t.Fatalf("due by 10 s: %v, want [192.0.2.1]", got)
	}
	if len(q.h) != 0 || a.idx != -1 {
		t.Fatalf("queue not empty (%d) or a still placed (%d)", len(q.h), a.idx)
	}
}

// agentRig is a director whose main loop is stopped and driven by hand
// (onAgent, onAlarm, flush) on a manual time, with the listener's
// answers on the fast path (Heard) given by the test.
type agentRig struct {
	*harness
	now   time.Time
	heard map[netip.Addr]agents.Heard
	wakes int // onAlarm runs
}

func newAgentRig(t *testing.T, forget time.Duration) *agentRig {
	h := startWith(t, testConfig("DIR", 1, ""), nil, func(o *Options) { o.ForgetAgentsAfter = forget })
	h.stop()
	r := &agentRig{harness: h, now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), heard: map[netip.Addr]agents.Heard{}}
	h.a.now = func() time.Time { return r.now }
	h.a.heardOf = func(ip netip.Addr) (agents.Heard, bool) { hd, ok := r.heard[ip]; return hd, ok }
	// A listener that does not run: what it is given (Publish) is seen
	// through Heard.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	if h.a.hb, err = agents.New(pc, hbHandler{h.a}, agents.Options{Key: []byte(strings.Repeat("k", 32))}); err != nil {
		t.Fatal(err)
	}
	return r
}

// published reports whether the listener has a slot for ip.
func (r *agentRig) published(ip string) bool {
	_, ok := r.a.hb.Heard(netip.MustParseAddr(ip))
	return ok
}

// status is the last status line sent to systemd.
func (r *agentRig) status() string {
	ev := r.notify.Events()
	for i := len(ev) - 1; i >= 0; i-- {
		if line, ok := strings.CutPrefix(ev[i], "STATUS="); ok {
			return line
		}
	}
	return ""
}

// report is a report that reaches the main loop (a new agent, a new word).
func (r *agentRig) report(ip string, state hbproto.State) {
	a := netip.MustParseAddr(ip)
	r.a.onAgent(agentEvent{r: agents.Report{Peer: netip.AddrPortFrom(a, 40000), At: r.now,
		Agent: hbproto.AgentReport{Node: "n-" + ip, RealIP: a, State: state}}})
	r.a.flush()
	r.heard[a] = agents.Heard{LastSeen: r.now, Reports: 1}
}

// fast is a report the listener answers alone.
func (r *agentRig) fast(ip string) {
	a := netip.MustParseAddr(ip)
	hd := r.heard[a]
	hd.LastSeen, hd.Reports = r.now, hd.Reports+1
	r.heard[a] = hd
}

// until runs the main loop's alarms up to end, calling each (if set)
// between them at every whole second (the agents' reports).
func (r *agentRig) until(end time.Time, each func()) {
	for n := 0; ; n++ {
		if n > 1e6 {
			r.t.Fatalf("the main loop's alarm does not move past %v", r.now)
		}
		next := r.a.nextWake()
		sec := r.now.Truncate(time.Second).Add(time.Second)
		if each != nil && (next.IsZero() || sec.Before(next)) && !sec.After(end) {
			r.now = sec
			each()
			continue
		}
		if next.IsZero() || next.After(end) {
			r.now = end
			return
		}
		if next.After(r.now) {
			r.now = next
		}
		r.wakes++
		r.a.onAlarm()
		r.a.flush()
	}
}

func (r *agentRig) gauge(state string) float64 {
	var m dto.Metric
	if err := r.a.met.Agents.WithLabelValues(state).Write(&m); err != nil {
		r.t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

func (r *agentRig) poolAgent(ip string) pool.AgentState {
	for _, ss := range r.a.services[0].pool.Status().Servers {
		if ss.Addr.Addr() == netip.MustParseAddr(ip) {
			return ss.Agent
		}
	}
	r.t.Fatalf("%s in no pool", ip)
	return 0
}

// TestAgentSilentAndForgotten: an agent that keeps reporting on the fast
// path stays fresh and up in its pool (the main loop tells the pool, about
// once per dead_after, without a report reaching it); once it stops it is
// silent dead_after after its last report (gauge, log, pool) and
// forgotten after ForgetAgentsAfter, each at that moment.
func TestAgentSilentAndForgotten(t *testing.T) {
	r := newAgentRig(t, time.Minute)
	t0 := r.now
	r.report("192.0.2.11", hbproto.StateUp)
	if r.gauge("up") != 1 || r.gauge("silent") != 0 {
		t.Fatalf("after the first report: up %v, silent %v; want 1, 0", r.gauge("up"), r.gauge("silent"))
	}
	// A stray (no real server here) gets a slot of its own while in the
	// table; the status line counts both.
	r.report("198.51.100.7", hbproto.StateUp)
	if !r.published("198.51.100.7") || !strings.HasSuffix(r.status(), "; 2 agents") {
		t.Fatalf("after a stray's report: published %v, status %q", r.published("198.51.100.7"), r.status())
	}
	if got, want := r.a.agentsAt(), t0.Add(3*time.Second); !got.Equal(want) {
		t.Fatalf("first look at %v, want %v", got, want)
	}
	// 30 s of reports answered by the listener alone.
	r.until(t0.Add(30*time.Second), func() { r.fast("192.0.2.11"); r.fast("198.51.100.7") })
	if r.poolAgent("192.0.2.11") != pool.AgentUp || r.gauge("up") != 2 || strings.Contains(r.logs.String(), "agent silent") {
		t.Fatalf("after 30 s of reports: pool's agent %v, up %v, log:\n%s", r.poolAgent("192.0.2.11"), r.gauge("up"), r.logs.String())
	}
	// One agent reporting each second: a wake-up about every 2 s, not
	// one a second.
	if r.wakes > 16 {
		t.Errorf("%d wake-ups in 30 s of one agent reporting, want at most 16", r.wakes)
	}
	last := r.now // its last report
	if got := r.a.agentsAt(); got.After(last.Add(3 * time.Second)) {
		t.Fatalf("next look %v, after the moment it goes silent %v", got, last.Add(3*time.Second))
	}
	r.until(last.Add(3*time.Second-time.Millisecond), nil)
	if r.gauge("up") != 2 || r.poolAgent("192.0.2.11") != pool.AgentUp {
		t.Fatalf("1 ms before dead_after: up %v, pool's agent %v", r.gauge("up"), r.poolAgent("192.0.2.11"))
	}
	r.until(last.Add(3*time.Second), nil)
	if r.gauge("up") != 0 || r.gauge("silent") != 2 || r.poolAgent("192.0.2.11") != pool.AgentNone || !strings.Contains(r.logs.String(), "agent silent") ||
		!strings.HasSuffix(r.status(), "; 0 agents") {
		t.Fatalf("at dead_after: up %v, silent %v, pool's agent %v, status %q; log:\n%s", r.gauge("up"), r.gauge("silent"), r.poolAgent("192.0.2.11"), r.status(), r.logs.String())
	}
	if got, want := r.a.agentsAt(), last.Add(time.Minute+time.Millisecond); !got.Equal(want) {
		t.Fatalf("silent: next look %v, want %v", got, want)
	}
	r.until(last.Add(time.Minute), nil)
	if len(r.a.agentsTab) != 2 || !r.published("198.51.100.7") {
		t.Fatalf("forgotten before ForgetAgentsAfter: %d agents, the stray's slot %v", len(r.a.agentsTab), r.published("198.51.100.7"))
	}
	r.until(last.Add(time.Minute+time.Millisecond), nil)
	if len(r.a.agentsTab) != 0 || r.gauge("silent") != 0 || !r.a.agentsAt().IsZero() || !r.published("192.0.2.11") || r.published("198.51.100.7") {
		t.Fatalf("after ForgetAgentsAfter: %d agents, silent %v, next look %v, the real server's slot %v, the stray's %v",
			len(r.a.agentsTab), r.gauge("silent"), r.a.agentsAt(), r.published("192.0.2.11"), r.published("198.51.100.7"))
	}
	// It comes back: fresh again at its report, through the main loop.
	r.report("192.0.2.11", hbproto.StateMaintenance)
	if r.gauge("maintenance") != 1 || r.poolAgent("192.0.2.11") != pool.AgentMaintenance || !strings.HasSuffix(r.status(), "; 1 agents") {
		t.Fatalf("back in maintenance: gauge %v, pool's agent %v, status %q", r.gauge("maintenance"), r.poolAgent("192.0.2.11"), r.status())
	}
}

// TestAgentLooksCoalesced: 2 agents of the configuration reporting each
// second at other moments, and 500 strays: the main loop wakes about
// 4/dead_after times a second, not once per agent report, and looks at
// each agent about once per dead_after.
func TestAgentLooksCoalesced(t *testing.T) {
	r := newAgentRig(t, time.Minute)
	t0 := r.now
	var ips []string
	for i := range 500 {
		ip := netip.AddrFrom4([4]byte{198, 51, byte(100 + i/250), byte(i%250 + 1)}).String()
		ips = append(ips, ip)
		r.now = t0.Add(time.Duration(i) * time.Second / 500)
		r.report(ip, hbproto.StateUp)
	}
	r.report("192.0.2.11", hbproto.StateUp)
	r.report("192.0.2.12", hbproto.StateUp)
	ips = append(ips, "192.0.2.11", "192.0.2.12")
	looks := 0
	r.a.heardOf = func(ip netip.Addr) (agents.Heard, bool) {
		looks++
		// Each reports once a second at its own moment (its first report's).
		hd, ok := r.heard[ip]
		if !ok {
			return hd, false
		}
		for !hd.LastSeen.Add(time.Second).After(r.now) {
			hd.LastSeen = hd.LastSeen.Add(time.Second)
			hd.Reports++
		}
		r.heard[ip] = hd
		return hd, true
	}
	r.wakes = 0
	r.until(t0.Add(61*time.Second), nil)
	if r.gauge("up") != float64(len(ips)) || r.poolAgent("192.0.2.12") != pool.AgentUp {
		t.Fatalf("after 60 s: %v up, want %d; pool's agent %v", r.gauge("up"), len(ips), r.poolAgent("192.0.2.12"))
	}
	// dead_after 3 s: a look at an agent every 1.75 s or so, a wake-up
	// every 0.75 s or so.
	perAgent := float64(looks) / float64(len(ips)) / 60
	if perAgent > 0.7 || perAgent < 0.3 {
		t.Errorf("%.2f looks a second per agent, want about 1/1.75", perAgent)
	}
	if perSec := float64(r.wakes) / 60; perSec > 2 {
		t.Errorf("%.2f wake-ups a second, want about 1.3", perSec)
	}
	t.Logf("%d agents, 60 s: %.2f looks a second per agent, %.2f wake-ups a second", len(ips), perAgent, float64(r.wakes)/60)
}

// TestStrayCount: the strays in the table (agents of no real server here)
// are counted once, then followed as they come and go, and counted again
// for a new index of the real servers (a reload).
func TestStrayCount(t *testing.T) {
	r := newAgentRig(t, time.Minute)
	r.report("198.51.100.1", hbproto.StateUp)
	r.report("192.0.2.11", hbproto.StateUp)
	r.report("198.51.100.2", hbproto.StateUp)
	if n := r.a.strayAgents(); n != 2 {
		t.Fatalf("%d strays, want 2", n)
	}
	r.report("198.51.100.3", hbproto.StateUp)
	if n := r.a.strayAgents(); n != 3 {
		t.Fatalf("%d strays after a third, want 3", n)
	}
	r.a.indexServices()
	if n := r.a.strayAgents(); n != 3 {
		t.Fatalf("%d strays after a new index, want 3", n)
	}
	r.until(r.now.Add(2*time.Minute), nil) // every agent forgotten
	if n := r.a.strayAgents(); n != 0 || len(r.a.agentsTab) != 0 {
		t.Fatalf("%d strays (%d agents) once forgotten, want 0", n, len(r.a.agentsTab))
	}
}
