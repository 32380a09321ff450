package app

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"time"
	"unsafe"

	"github.com/tandemlb/tandem/director/agents"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/metrics"
	"github.com/tandemlb/tandem/director/pool"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// replyWait bounds how long the heartbeat listener waits for the main loop
// to act on a report before answering it, so that the answer already
// reflects the report (weight 0 after "maintenance").
const replyWait = 50 * time.Millisecond

// forgetAgentAfter drops an agent silent for this long from status.
const forgetAgentAfter = 10 * time.Minute

// maxStrayAgents bounds the agents kept in the table whose real IP is no
// real server of the configuration (they get empty replies): beyond it,
// reports of further such agents are answered but not remembered.
// Configured real servers are always kept (the configuration bounds them).
const maxStrayAgents = 4096

// agentInfo is what the director knows of one agent. The reports the
// heartbeat listener answers on its fast path (the same word again) never
// reach the main loop: lastSeen, reports and report.Seen follow them when
// the main loop looks at the agent (its due in the agents' queue, or a
// status), from the listener's slot of the agent.
type agentInfo struct {
	ip       netip.Addr
	report   hbproto.AgentReport
	peer     netip.AddrPort
	lastSeen time.Time
	reports  uint64
	known    bool
	silent   bool // logged as silent
	legacy   bool // its last report came with the cluster secret
	fresh    bool // fresh at the last look (a change marks the view)
	// slotReports is the listener's count for the agent at the last look;
	// poolAt is the last report time given to its pools.
	slotReports uint64
	poolAt      time.Time
	// due is when the main loop next looks at it, idx its place in the
	// agents' queue (agentQueue).
	due time.Time
	idx int
	// bucket is what it counts as in the agents gauge ("" none yet:
	// agentBucket); seenG and maintG are its own series.
	bucket        string
	seenG, maintG metrics.Gauge
	// marked: in agentsChanged (markAgent).
	marked bool
}

// agentEvent is one accepted report; done is closed once the main loop
// acted on it (and reconciled).
type agentEvent struct {
	r    agents.Report
	done chan struct{}
}

func (agentEvent) isEvent() {}

// replyView is what the director tells agents, rebuilt by the main loop
// after every change and read without locks; each agent's part is also
// published to the heartbeat listener (publishViews).
type replyView struct {
	node   string
	role   hbproto.Role
	dests  map[netip.Addr][]hbproto.DestinationStatus
	hbAddr net.Addr
	// hb and agents serve report_now (fastfailover.go).
	hb     *agents.Server
	agents []agentPeer
	// published is what the listener publishedTo was last given of each
	// agent (publishViews); the main loop's, handed from view to view.
	published   map[netip.Addr]*agents.View
	publishedTo *agents.Server
}

// hbHandler connects the listener to the main loop.
type hbHandler struct{ a *App }

// Report hands the report to the main loop and waits (briefly) until it
// acted on it and published the view that reflects it. Only the reports
// that change what the director knows of an agent come here (a new agent,
// a new word, a new address); the listener answers the others itself.
func (h hbHandler) Report(r agents.Report) {
	done := make(chan struct{})
	select {
	case h.a.events <- agentEvent{r: r, done: done}:
	default:
		h.a.met.Heartbeats.WithLabelValues("queue_full").Inc()
		return
	}
	t := time.NewTimer(replyWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// Reply answers an agent: the director's name and role, and every
// destination with the agent's real IP.
func (h hbHandler) Reply(ip netip.Addr) hbproto.DirectorReply {
	v := h.a.view.Load()
	return hbproto.DirectorReply{Director: v.node, Role: v.role, Destinations: v.dests[ip]}
}

// agentStateFor maps an agent report onto the pool's agent state for one
// service: maintenance and down apply to every service; an agent that is
// up but reports a service named like this virtual service ("TCP
// 192.0.2.100:80") unhealthy is down for this service only.
func agentStateFor(r *hbproto.AgentReport, key string) (pool.AgentState, string) {
	switch r.State {
	case hbproto.StateMaintenance:
		return pool.AgentMaintenance, r.Reason
	case hbproto.StateDown:
		return pool.AgentDown, r.Reason
	}
	for _, sh := range r.Services {
		if sh.Service == key && !sh.Healthy {
			reason := sh.Reason
			if reason == "" {
				reason = "service " + key + " unhealthy"
			}
			return pool.AgentDown, reason
		}
	}
	return pool.AgentUp, r.Reason
}

// onAgent takes one accepted report: the agent table, then every pool
// with a real server at that address.
func (a *App) onAgent(ev agentEvent) {
	r := ev.r
	if ev.done != nil {
		a.pendingAcks = append(a.pendingAcks, ev.done)
	}
	ip := r.Agent.RealIP.Unmap()
	now := a.now()
	ag := a.agentsTab[ip]
	known := len(a.byIP[ip]) > 0
	if ag == nil && !known && a.strayAgents() >= maxStrayAgents {
		a.met.Heartbeats.WithLabelValues("stray_full").Inc()
		return
	}
	switch {
	case ag == nil:
		ag = &agentInfo{ip: ip, idx: -1}
		ag.seenG, ag.maintG = a.met.AgentLastSeen.WithLabelValues(ip.String()), a.met.AgentMaintenance.WithLabelValues(ip.String())
		a.agentsTab[ip] = ag
		a.countStray(ip, true)
		if known {
			a.log.Info("agent heard", "node", r.Agent.Node, "rs", ip.String(), "peer", r.Peer.String(), "state", r.Agent.State.String(), "reason", r.Agent.Reason)
		} else {
			a.log.Info("agent heard, but its real IP is no real server here: it gets empty replies", "node", r.Agent.Node, "rs", ip.String(), "peer", r.Peer.String())
		}
	case ag.report.State != r.Agent.State || ag.report.Reason != r.Agent.Reason || ag.silent:
		a.log.Info("agent state", "node", r.Agent.Node, "rs", ip.String(), "state", r.Agent.State.String(), "reason", r.Agent.Reason)
	}
	// The view lists fresh agents and their report: rebuild it when this
	// report changes what it shows (a new or returning agent, a new word).
	if ag.lastSeen.IsZero() || !a.agentFresh(ag) || ag.silent || ag.peer != r.Peer || ag.report.Node != r.Agent.Node ||
		ag.report.State != r.Agent.State || ag.report.Reason != r.Agent.Reason || !slices.Equal(ag.report.Services, r.Agent.Services) ||
		ag.legacy != r.Legacy {
		a.markAgent(ag)
	}
	ag.report, ag.peer, ag.lastSeen, ag.known, ag.silent, ag.legacy = r.Agent, r.Peer, now, known, false, r.Legacy
	ag.poolAt, ag.fresh = now, true
	if a.hb != nil {
		if h, ok := a.hb.Heard(ip); ok {
			ag.reports += h.Reports - min(ag.slotReports, h.Reports)
			ag.slotReports = h.Reports
		} else {
			ag.reports++
		}
	}
	a.met.Heartbeats.WithLabelValues("accepted").Inc()
	a.setAgentSeen(ag)
	a.recount(ag)
	a.agentsQ.set(ag, now.Add(a.deadAfter()))
	for _, s := range a.byIP[ip] {
		st, reason := agentStateFor(&r.Agent, s.key)
		a.perform(s, s.pool.Step(now, pool.AgentReport{Addr: ip, State: st, Reason: reason}), false)
	}
}

// strayAgents counts the agents in the table that are no configured real
// server: counted once per index of the real servers (a start, a reload:
// indexServices makes a new one), then kept as agents come and go
// (strayCount), so that a report of a stray not kept (the table full of
// strays) costs no walk of the table.
func (a *App) strayAgents() int {
	if idx := reflect.ValueOf(a.byIP).UnsafePointer(); idx != a.strays.of {
		a.strays = strayCount{of: idx}
		for ip := range a.agentsTab {
			if len(a.byIP[ip]) == 0 {
				a.strays.n++
			}
		}
	}
	return a.strays.n
}

// strayCount is the number of agents in the table that are no real
// server (n) for the index of real servers of (the map byIP was when
// counted; holding it, no new map can take its address).
type strayCount struct {
	n  int
	of unsafe.Pointer
}

// countStray follows an agent added to the table (add) or taken out of
// it.
func (a *App) countStray(ip netip.Addr, add bool) {
	if reflect.ValueOf(a.byIP).UnsafePointer() != a.strays.of || len(a.byIP[ip]) > 0 {
		return // not counted yet (strayAgents counts), or no stray
	}
	if add {
		a.strays.n++
	} else {
		a.strays.n--
	}
}

// agentFresh reports whether the agent was heard within dead_after,
// reports answered by the listener alone included (takeHeard).
func (a *App) agentFresh(ag *agentInfo) bool {
	a.takeHeard(ag)
	d := a.cfg.Heartbeat.DeadAfter
	if d <= 0 {
		d = config.DefaultHeartbeatDeadAfter * config.DefaultHeartbeatInterval
	}
	return a.now().Sub(ag.lastSeen) < d
}

// takeHeard takes in what the heartbeat listener saw of ag since the last
// look (the reports it answered alone): the time and count of its reports
// and its witness list.
func (a *App) takeHeard(ag *agentInfo) {
	h, ok := a.heard(ag.ip)
	if !ok {
		return
	}
	if h.Reports < ag.slotReports { // a new listener (reload)
		ag.slotReports = 0
	}
	ag.reports += h.Reports - ag.slotReports
	ag.slotReports = h.Reports
	if !h.LastSeen.After(ag.lastSeen) {
		return
	}
	ag.lastSeen = h.LastSeen
	if h.Latest != nil {
		ag.report.Seen = h.Latest.Seen
	}
}

// heard is what the listener saw of ip (agents.Server.Heard; tests: the
// heardOf hook); false without a listener or a slot for ip.
func (a *App) heard(ip netip.Addr) (agents.Heard, bool) {
	if a.heardOf != nil {
		return a.heardOf(ip)
	}
	if a.hb == nil {
		return agents.Heard{}, false
	}
	return a.hb.Heard(ip)
}

// lookAtAgent is the main loop's look at one agent at (or a little
// before) its due (agentsTick): it takes in what the listener saw of it
// (takeHeard), tells its pools that it is still there (the pools hear
// only of an agent's changes, and their agent deadline must not expire
// the word of an agent that keeps reporting the same), and marks it
// silent once dead_after passed without a report (logged; the view then
// no longer answers it on the fast path) or forgets it after
// ForgetAgentsAfter. It returns false when the agent was forgotten;
// else ag.due is its next look.
func (a *App) lookAtAgent(ag *agentInfo, now time.Time) bool {
	a.takeHeard(ag)
	dead := a.deadAfter()
	switch since := now.Sub(ag.lastSeen); {
	case since < dead:
		if !ag.silent && ag.lastSeen.After(ag.poolAt) {
			ag.poolAt = ag.lastSeen
			a.setAgentSeen(ag)
			for _, s := range a.byIP[ag.ip] {
				st, reason := agentStateFor(&ag.report, s.key)
				a.perform(s, s.pool.Step(ag.lastSeen, pool.AgentReport{Addr: ag.ip, State: st, Reason: reason}), false)
			}
		}
		if !ag.fresh {
			ag.fresh = true
			a.markAgent(ag)
		}
		ag.due = ag.lastSeen.Add(dead)
	case since > a.opts.ForgetAgentsAfter:
		delete(a.agentsTab, ag.ip)
		a.countStray(ag.ip, false)
		a.met.ForgetAgent(ag.ip.String())
		a.markAgent(ag) // a stray's slot goes
		ag.fresh = false
		a.uncount(ag)
		return false
	default:
		if ag.fresh {
			ag.fresh = false
			a.markAgent(ag) // the agents told of report_now, the reports answered alone
		}
		if !ag.silent {
			ag.silent = true
			a.log.Warn("agent silent", "node", ag.report.Node, "rs", ag.ip.String(), "last_seen", ag.lastSeen.Format(time.RFC3339))
		}
		ag.due = ag.lastSeen.Add(a.opts.ForgetAgentsAfter + time.Millisecond)
	}
	a.recount(ag)
	return true
}

// setAgentSeen sets ag's series: its last report's time and whether it
// reports maintenance.
func (a *App) setAgentSeen(ag *agentInfo) {
	ag.seenG.Set(metrics.UnixSeconds(ag.lastSeen))
	ag.maintG.Set(metrics.B2F(ag.report.State == hbproto.StateMaintenance))
}

// agentBucket is what ag counts as in the agents gauge: its reported
// state while fresh, silent after.
func agentBucket(ag *agentInfo) string {
	if ag.fresh {
		return ag.report.State.String()
	}
	return "silent"
}

// recount moves ag to its bucket of the agents gauge (agentCounts).
func (a *App) recount(ag *agentInfo) {
	if b := agentBucket(ag); b != ag.bucket {
		a.uncount(ag)
		ag.bucket = b
		a.agentCounts[b]++
		a.agentCountsSet = false
	}
}

// uncount takes ag out of the agents gauge.
func (a *App) uncount(ag *agentInfo) {
	if ag.bucket != "" {
		a.agentCounts[ag.bucket]--
		ag.bucket = ""
		a.agentCountsSet = false
	}
}

// agentGauges sets the agents gauge (fresh agents by state, silent ones)
// when a count changed since.
func (a *App) agentGauges() {
	if a.agentCountsSet {
		return
	}
	for st, n := range a.agentCounts {
		a.met.Agents.WithLabelValues(st).Set(float64(n))
	}
	a.agentCountsSet = true
}

// newAgentCounts is the agents gauge's counts before any agent.
func newAgentCounts() map[string]int {
	return map[string]int{"up": 0, "down": 0, "maintenance": 0, "silent": 0}
}

// agentQueue orders the agents by when the main loop must next look at
// each (agentInfo.due; lookAtAgent): a fresh agent at its last report
// given to its pools + dead_after (when it goes silent unless the
// listener heard it since; no later than its pools' deadline for it), a
// silent one when it is to be forgotten. The main loop's one alarm comes
// at the earliest (agentsAt): the reports the listener answers alone
// cost the main loop nothing until then, and an agent that keeps
// reporting is looked at about once per dead_after, those due within
// agentSlack of the earliest in the same wake-up. A min-heap: a report
// that reaches the main loop, a look, costs O(log n).
type agentQueue struct {
	h agentHeap
	// dead is the dead_after the dues were computed with (a reload may
	// change it: fit).
	dead time.Duration
}

// agentSlack is how much earlier than its due an agent may be looked
// at, in a wake-up for another: dead_after/agentSlack.
const agentSlack = 4

// set puts ag in the queue at due, or moves it there.
func (q *agentQueue) set(ag *agentInfo, due time.Time) {
	ag.due = due
	if ag.idx >= 0 && ag.idx < len(q.h) && q.h[ag.idx] == ag {
		heap.Fix(&q.h, ag.idx)
		return
	}
	heap.Push(&q.h, ag)
}

// next is the earliest due, zero when the queue is empty.
func (q *agentQueue) next() time.Time {
	if len(q.h) == 0 {
		return time.Time{}
	}
	return q.h[0].due
}

// popDue takes out of the queue, onto out, every agent due by limit.
func (q *agentQueue) popDue(limit time.Time, out []*agentInfo) []*agentInfo {
	for len(q.h) > 0 && !q.h[0].due.After(limit) {
		out = append(out, heap.Pop(&q.h).(*agentInfo))
	}
	return out
}

// fit recomputes every due when dead_after is no longer dead: a
// reload's change (O(n), once).
func (q *agentQueue) fit(dead, forget time.Duration) {
	if dead == q.dead {
		return
	}
	q.dead = dead
	for _, ag := range q.h {
		if ag.fresh || !ag.silent {
			at := ag.lastSeen
			if !ag.poolAt.IsZero() && ag.poolAt.Before(at) {
				at = ag.poolAt
			}
			ag.due = at.Add(dead)
		} else {
			ag.due = ag.lastSeen.Add(forget + time.Millisecond)
		}
	}
	heap.Init(&q.h)
}

// agentHeap is container/heap's view of the queue.
type agentHeap []*agentInfo

func (h agentHeap) Len() int           { return len(h) }
func (h agentHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h agentHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}
func (h *agentHeap) Push(x any) {
	ag := x.(*agentInfo)
	ag.idx = len(*h)
	*h = append(*h, ag)
}
func (h *agentHeap) Pop() any {
	old := *h
	ag := old[len(old)-1]
	old[len(old)-1] = nil
	ag.idx = -1
	*h = old[:len(old)-1]
	return ag
}

// refreshView rebuilds what agents are told; pending report
// acknowledgements are released after it.
func (a *App) refreshView() {
	v := &replyView{node: a.node, role: a.role(), dests: map[netip.Addr][]hbproto.DestinationStatus{}}
	if a.hb != nil {
		v.hbAddr, v.hb = a.hb.Addr(), a.hb
	}
	v.agents = a.freshPeers()
	for _, s := range a.services {
		st := s.pool.Status()
		for _, ss := range st.Servers {
			c, inKernel := s.conns[ss.Addr.String()]
			w := 0
			switch {
			case s.lastErr != "" && inKernel:
				w = c.Weight // the desired state could not be applied: tell what is
			case ss.Present:
				w = ss.Weight
			}
			ip := ss.Addr.Addr().Unmap()
			v.dests[ip] = append(v.dests[ip], hbproto.DestinationStatus{
				Service: s.key, Addr: ss.Addr, Weight: int32(w), ConfiguredWeight: int32(ss.ConfiguredWeight),
				ActiveConns: uint32(c.ActiveConns), InactiveConns: uint32(c.InactiveConns), Pool: hbproto.PoolState(ss.State),
			})
		}
	}
	a.publishViews(v, a.view.Load())
	a.view.Store(v)
	a.viewStale = false
	a.unmarkAgents()
	a.releaseAcks()
}

// markAgent says that what ag is told, or whether it is told of
// report_now, may have changed, and nothing else (refreshAgents): its
// report, address, freshness, key, or it was forgotten.
func (a *App) markAgent(ag *agentInfo) {
	if !ag.marked {
		ag.marked = true
		a.agentsChanged = append(a.agentsChanged, ag)
	}
}

// unmarkAgents empties agentsChanged.
func (a *App) unmarkAgents() {
	for i, ag := range a.agentsChanged {
		ag.marked = false
		a.agentsChanged[i] = nil
	}
	a.agentsChanged = a.agentsChanged[:0]
}

// refreshAgents is refreshView when only agents changed (markAgent):
// the destinations and the role are the view's as they were; the agents
// told of report_now follow the table; the listener gets the views of the
// agents that changed only (no walk of every real server); the status
// line's agent count follows.
func (a *App) refreshAgents() {
	prev := a.view.Load()
	v := &replyView{node: prev.node, role: prev.role, dests: prev.dests, hbAddr: prev.hbAddr, hb: prev.hb,
		published: prev.published, publishedTo: prev.publishedTo}
	v.agents = a.freshPeers()
	if a.hb != nil && prev.publishedTo == a.hb && prev.published != nil {
		changed := make(map[netip.Addr]*agents.View, len(a.agentsChanged))
		for _, ag := range a.agentsChanged {
			ip := ag.ip
			if len(a.byIP[ip]) == 0 && a.agentsTab[ip] == nil {
				if v.published[ip] != nil {
					changed[ip] = nil
				}
				continue
			}
			if nv := a.agentView(v, ip); nv != nil {
				changed[ip] = nv
			}
		}
		a.publish(v, changed)
	} else if a.hb != nil {
		a.publishViews(v, prev) // a new listener: every agent
	}
	a.view.Store(v)
	a.unmarkAgents()
	a.notifyAgentsStatus()
	a.releaseAcks()
}

// freshPeers are the agents told of report_now: those fresh at the last
// look.
func (a *App) freshPeers() []agentPeer {
	n := len(a.agentsTab) - a.agentCounts["silent"]
	out := make([]agentPeer, 0, max(n, 0))
	for ip, ag := range a.agentsTab {
		if ag.fresh {
			out = append(out, agentPeer{peer: ag.peer, ip: ip})
		}
	}
	return out
}

// agentsStatus is the status line's agents part: the fresh agents, or
// why the listener is off.
func (a *App) agentsStatus() string {
	if !a.cfg.Heartbeat.Enabled {
		return ""
	}
	switch {
	case a.hb == nil && a.hbMissing:
		return "; heartbeats off (no key)"
	case a.hb == nil:
		return "; heartbeats DISABLED"
	}
	return fmt.Sprintf("; %d agents", a.freshAgents())
}

// notifyAgentsStatus is notifyStatus when only agents changed: the
// line's first part as last computed (statusBase), its agents part now.
func (a *App) notifyAgentsStatus() {
	if line := a.statusBase + a.agentsStatus(); line != a.statusLn {
		a.statusLn = line
		a.notify.Status(line)
	}
}

// freshAgents counts the agents fresh at the last look.
func (a *App) freshAgents() int {
	n := 0
	for st, c := range a.agentCounts {
		if st != "silent" {
			n += c
		}
	}
	return n
}

// publishViews gives the heartbeat listener each agent's part of v that
// changed since it last got it: every configured real server (heard or
// not) and every agent in the table. An agent fresh and not silent has
// its last report in it, so that the listener answers the same report
// again by itself; else its next report comes to the main loop.
func (a *App) publishViews(v, prev *replyView) {
	if a.hb == nil {
		return
	}
	if prev != nil && prev.publishedTo == a.hb {
		v.published, v.publishedTo = prev.published, a.hb
	} else {
		v.published, v.publishedTo = map[netip.Addr]*agents.View{}, a.hb
	}
	changed := map[netip.Addr]*agents.View{}
	want := func(ip netip.Addr) {
		if nv := a.agentView(v, ip); nv != nil {
			changed[ip] = nv
		}
	}
	for ip := range a.byIP {
		want(ip)
	}
	for ip := range a.agentsTab {
		if len(a.byIP[ip]) == 0 {
			want(ip)
		}
	}
	for ip := range v.published {
		if len(a.byIP[ip]) == 0 && a.agentsTab[ip] == nil {
			changed[ip] = nil
		}
	}
	a.publish(v, changed)
}

// agentView is ip's part of v as the listener is to answer it; nil when
// the listener has it already.
func (a *App) agentView(v *replyView, ip netip.Addr) *agents.View {
	nv := &agents.View{Reply: hbproto.DirectorReply{Director: v.node, Role: v.role, Destinations: v.dests[ip]}}
	if ag := a.agentsTab[ip]; ag != nil && !ag.silent && a.agentFresh(ag) {
		rep := ag.report
		nv.Report, nv.Peer, nv.Legacy = &rep, ag.peer, ag.legacy
	}
	if old := v.published[ip]; old != nil && sameView(old, nv) {
		return nil
	}
	return nv
}

// publish gives the listener the views that changed (nil: the agent's
// slot goes) and notes them in v.published.
func (a *App) publish(v *replyView, changed map[netip.Addr]*agents.View) {
	if len(changed) == 0 {
		return
	}
	a.hb.Publish(changed)
	for ip, nv := range changed {
		if nv == nil {
			delete(v.published, ip)
		} else {
			v.published[ip] = nv
		}
	}
}

// sameView reports whether two published views say the same.
func sameView(x, y *agents.View) bool {
	if x.Peer != y.Peer || x.Legacy != y.Legacy || (x.Report == nil) != (y.Report == nil) {
		return false
	}
	if x.Report != nil && (x.Report.Node != y.Report.Node || x.Report.State != y.Report.State || x.Report.Reason != y.Report.Reason ||
		!slices.Equal(x.Report.Services, y.Report.Services)) {
		return false
	}
	return x.Reply.Director == y.Reply.Director && x.Reply.Role == y.Reply.Role && slices.Equal(x.Reply.Destinations, y.Reply.Destinations)
}

// releaseAcks lets the replies to the reports handled so far go out.
func (a *App) releaseAcks() {
	for _, d := range a.pendingAcks {
		close(d)
	}
	a.pendingAcks = a.pendingAcks[:0]
}

// startHeartbeat opens the agent listener.
func (a *App) startHeartbeat(cfg *config.Config) error { return a.startHeartbeatOn(cfg, nil) }

// startHeartbeatOn is startHeartbeat on a socket bound ahead (nil: bind it
// now); it takes the socket over.
func (a *App) startHeartbeatOn(cfg *config.Config, conn net.PacketConn) error {
	a.hbDisabled = ""
	if !wantHeartbeat(cfg, a.hbKey) {
		if conn != nil {
			conn.Close()
		}
		switch {
		case cfg.Heartbeat.Enabled && a.hbMissing:
			a.hbDisabled = missingKeyReason(cfg.Heartbeat.KeyFile)
		case cfg.Heartbeat.Enabled:
			a.hbDisabled = "no usable key (--insecure-heartbeat)"
		}
		return nil
	}
	if conn == nil {
		var err error
		if conn, err = listenHeartbeat(cfg); err != nil {
			return err
		}
	}
	var previous []byte
	if p := cfg.Heartbeat.PreviousKeyFile; p != "" {
		k, err := hbproto.LoadKey(p)
		if err != nil {
			conn.Close()
			return fmt.Errorf("heartbeat.previous_key_file: %w", err)
		}
		previous = k
	}
	// The counters of every report and reply, looked up once.
	accepted, ok, failed := a.met.Heartbeats.WithLabelValues(agents.ResultAccepted),
		a.met.HeartbeatReplies.WithLabelValues("ok"), a.met.HeartbeatReplies.WithLabelValues("error")
	srv, err := agents.New(conn, hbHandler{a}, agents.Options{
		Key: a.hbKey, PreviousKey: previous, AgentKeys: cfg.Heartbeat.AgentKeys,
		Window: cfg.Heartbeat.Window, Log: a.log, Now: a.now,
		Counted: func(r string) {
			if r == agents.ResultAccepted {
				accepted.Inc()
				return
			}
			a.met.Heartbeats.WithLabelValues(r).Inc()
		},
		Observe: a.witness.Observe,
		Replied: func(err error) {
			if err != nil {
				failed.Inc()
			} else {
				ok.Inc()
			}
		},
	})
	if err != nil {
		conn.Close()
		return err
	}
	ctx, cancel := context.WithCancel(a.runCtx)
	done := make(chan struct{})
	a.hb, a.hbStop, a.hbDone = srv, cancel, done
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		defer close(done)
		if err := srv.Run(ctx); err != nil {
			a.log.Error("heartbeat listener stopped", "err", err)
		}
	}()
	a.log.Info("heartbeat listening", "addr", conn.LocalAddr().String(), "agent_keys", agentKeysMode(cfg), "previous_key", previous != nil)
	a.markView() // the new listener gets every agent's view
	return nil
}

func (a *App) stopHeartbeat() {
	if a.hbStop == nil {
		return
	}
	a.hbStop()
	<-a.hbDone
	a.hb, a.hbStop, a.hbDone = nil, nil, nil
}

// heartbeatKey reads cfg's heartbeat key. A keepalived.conf needed no key
// under keepalived, so for one the key file's absence (and only that: a
// key file that exists but is refused stays an error) is no error: missing
// is true and the agent listener stays off. --insecure-heartbeat keeps its
// own rules (agents.LoadKey).
func (a *App) heartbeatKey(cfg *config.Config) (key []byte, missing bool, err error) {
	key, err = agents.LoadKey(cfg.Heartbeat.KeyFile, a.opts.InsecureHeartbeat, a.log)
	if err != nil && cfg.Format == config.FormatKeepalived && !a.opts.InsecureHeartbeat && errors.Is(err, fs.ErrNotExist) {
		return nil, true, nil
	}
	return key, false, err
}

// agentKeysMode is cfg's heartbeat.agent_keys, with its default.
func agentKeysMode(cfg *config.Config) string {
	if cfg.Heartbeat.AgentKeys == "" {
		return config.DefaultHeartbeatAgentKeys
	}
	return cfg.Heartbeat.AgentKeys
}

// HeartbeatKeyCommand is the shell command that creates a heartbeat key
// at path, as docs/operator-guide.md ("The heartbeat key") gives it: 32
// random bytes as hex, mode 0600. It is the cluster secret: create it
// once, copy it to the other directors; each agent gets the key derived
// from it for its real IP (`tandem-director keys derive`).
func HeartbeatKeyCommand(path string) string {
	return fmt.Sprintf("mkdir -p %s && (umask 077; openssl rand -hex 32 > %s)", filepath.Dir(path), path)
}

// missingKeyWarning is the one warning at start of a keepalived.conf
// without a heartbeat key.
func missingKeyWarning(path string) string {
	return fmt.Sprintf("heartbeat key %s does not exist: the agent heartbeat listener is OFF (a keepalived.conf runs without it; "+
		"tandem-backend agents are not heard). To turn it on, create the key: `%s` "+
		"(or copy the cluster secret there, mode 0600, the same on every director; each agent gets its own key from "+
		"`tandem-director keys derive --real-ip ADDR`), then run `tandem-director reload` or restart", path, HeartbeatKeyCommand(path))
}

// missingKeyReason is what status says of the listener then.
func missingKeyReason(path string) string {
	return fmt.Sprintf("no heartbeat key: %s does not exist (keepalived.conf); to turn the agent listener on, run `%s`, then `tandem-director reload`",
		path, HeartbeatKeyCommand(path))
}
