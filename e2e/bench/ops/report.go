package ops

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tandemlb/tandem/e2e/bench/benchutil"
)

// Timed scenarios.
const (
	ScDrain     = "drain"     // rs1 taken out on purpose
	ScUnhealthy = "unhealthy" // the app on rs1 killed
)

// Variants of the timed scenarios.
const (
	VarKeepalived    = "keepalived"     // the seed's keepalived.conf (delay_loop 10)
	VarKeepalivedDL1 = "keepalived-dl1" // the same with delay_loop 1
	VarTandem        = "tandem"         // tandem-director + tandem-backend, the agent's defaults
	VarTandemAgent   = "tandem-agent"   // drain timed from the agent's own log line
	VarTandemFast    = "tandem-fast"    // the agent's probe at 300ms × fall 2
)

// Resource cases and processes.
const (
	CaseIdle      = "idle"       // the lab's configuration, no client load
	CaseHBUnknown = "hb-unknown" // 1,000 simulated agents, one report per second each, no real server of theirs configured
	CaseIdleBig   = "idle-big"   // 1,000 more real servers (second service), no heartbeats from them
	CaseHBLoad    = "hb-load"    // the 1,000 simulated agents, now real servers of the second service
	ProcKA        = "keepalived"
	ProcDirector  = "tandem-director"
	ProcBackend   = "tandem-backend"
)

// The checks of a run, as the guest makes them and the page states them.
const (
	// loadTimeout is the client's timeout per request.
	loadTimeout = 2 * time.Second
	// An unhealthy run must fail no request started from lateFrom after
	// rs1 is out until the load stops, afterOut after it: every request
	// started in the first second of that span has ended by then (answered
	// or failed, not cut off), and at least minLate requests of the span
	// must have ended, so that the check is never made on an empty span
	// (40 requests/s bring about 40 in that first second alone).
	lateFrom = time.Second
	afterOut = lateFrom + time.Second + loadTimeout
	minLate  = 20
)

// hbMinReplies is, per heartbeat case, the share of the reports sent that
// must be answered; a run must also have at least one reply. The floors
// follow the measured rows of docs/benchmarks-ops.md: agents of no real
// server were all answered (85,000 of 85,000), 99 % leaves the emulated
// CPU some slack; agents that are real servers saturate the director
// (about 117 % CPU) and 24,857 of 85,000 were answered, so that case only
// has to be answered at all, and its ratio is shown.
var hbMinReplies = map[string]float64{
	CaseHBUnknown: 0.99,
	CaseHBLoad:    0,
}

// HBCounts are the counts of one heartbeat-load window.
type HBCounts struct {
	Agents  int `json:"agents"`
	Sent    int `json:"sent"`
	Replies int `json:"replies"`
	// SendErrors are reports the sender could not send.
	SendErrors int `json:"send_errors"`
	// The director's own counters over the window (status --json and
	// metrics): accepted reports, dropped datagrams (every reason) and
	// reports answered before the main loop took them (queue_full).
	Accepted  int `json:"accepted"`
	Dropped   int `json:"dropped"`
	QueueFull int `json:"queue_full"`
}

// Sample is one measured run, as the guest prints it: a timing (Scenario,
// Variant) or a resource window (Case, Proc).
type Sample struct {
	Scenario string  `json:"scenario,omitempty"`
	Variant  string  `json:"variant,omitempty"`
	Run      int     `json:"run"`
	Seconds  float64 `json:"seconds,omitempty"`
	Sent     int     `json:"sent,omitempty"`
	Failed   int     `json:"failed"`

	Case   string    `json:"case,omitempty"`
	Proc   string    `json:"proc,omitempty"`
	Procs  int       `json:"procs,omitempty"` // processes summed (keepalived: 3)
	RSSKiB int       `json:"rss_kib,omitempty"`
	CPUPct float64   `json:"cpu_pct,omitempty"` // of one CPU, over the window
	HB     *HBCounts `json:"hb,omitempty"`
}

// Meta is what the guest reports about itself and the settings.
type Meta struct {
	GuestKernel string `json:"guest_kernel"`
	GuestCPUs   int    `json:"guest_cpus"`
	GuestMemMB  int    `json:"guest_mem_mb"`
	Keepalived  string `json:"keepalived"`
	Director    string `json:"director"`
	Backend     string `json:"backend"`
	Runs        int    `json:"runs"`
	Rate        int    `json:"rate"`       // client requests per second
	KeepAlive   string `json:"keep_alive"` // share of requests on persistent connections
	Poll        string `json:"poll"`       // IPVS poll interval
	Window      string `json:"window"`     // resource window
	Agents      int    `json:"agents"`     // simulated agents
}

const (
	samplePrefix = benchutil.SamplePrefix
	metaPrefix   = benchutil.MetaPrefix
)

// SampleLine is the line the guest prints for s.
func SampleLine(s Sample) string { return benchutil.Line(samplePrefix, s) }

// MetaLine is the line the guest prints for m.
func MetaLine(m Meta) string { return benchutil.Line(metaPrefix, m) }

// Output is what the guest reported.
type Output struct {
	Samples []Sample
	Meta    Meta
}

// ParseOutput collects the samples and the last meta line of the guest's
// output; other lines are ignored.
func ParseOutput(out string) (Output, error) {
	var o Output
	err := benchutil.ParseOutput(out,
		benchutil.Marker{Prefix: samplePrefix, Parse: benchutil.Append(&o.Samples)},
		benchutil.Marker{Prefix: metaPrefix, Parse: benchutil.Into(&o.Meta)})
	return o, err
}

// Stat is the median and range of some values.
type Stat = benchutil.Stat

// StatOf summarises v (any order): benchutil.StatOf.
func StatOf(v []float64) Stat { return benchutil.StatOf(v) }

// TimingRow summarises one (scenario, variant).
type TimingRow struct {
	Scenario string `json:"scenario"`
	Variant  string `json:"variant"`
	Label    string `json:"label"`
	How      string `json:"how"`
	Seconds  Stat   `json:"seconds"`
	Failed   Stat   `json:"failed"`
	Sent     Stat   `json:"sent"`
	// VsSeed and VsDL1 are keepalived's median (seed, delay_loop 1) ÷
	// this median; 0 when there is none.
	VsSeed float64 `json:"vs_keepalived"`
	VsDL1  float64 `json:"vs_keepalived_dl1"`
}

// ResourceRow summarises one (case, process).
type ResourceRow struct {
	Case   string    `json:"case"`
	Proc   string    `json:"proc"`
	Label  string    `json:"label"`
	RSSKiB Stat      `json:"rss_kib"`
	CPUPct Stat      `json:"cpu_pct"`
	Procs  int       `json:"procs"`
	HB     *HBCounts `json:"hb,omitempty"` // summed over the runs
	Runs   int       `json:"runs"`
	// RSSVsKA and CPUVsKA are this median ÷ keepalived's idle median.
	RSSVsKA float64 `json:"rss_vs_keepalived"`
	CPUVsKA float64 `json:"cpu_vs_keepalived"`
}

type timingDef struct{ sc, v, label, how string }

var timingDefs = []timingDef{
	{ScDrain, VarKeepalived, "keepalived 2.2.7, seed config (HTTP_GET /check.txt, delay_loop 10, connect_timeout 3)", "check file removed on rs1 → rs1 out of IPVS"},
	{ScDrain, VarKeepalivedDL1, "keepalived 2.2.7, delay_loop 1", "check file removed on rs1 → rs1 out of IPVS"},
	{ScDrain, VarTandem, "**Tandem**: `tandem-backend maintenance on`", "CLI started on rs1 → weight 0"},
	{ScDrain, VarTandemAgent, "Tandem, from the agent's switch", "agent logs the switch → weight 0"},
	{ScUnhealthy, VarKeepalived, "keepalived 2.2.7, seed config (HTTP_GET /check.txt, delay_loop 10, connect_timeout 3)", "app killed on rs1 → rs1 out of IPVS"},
	{ScUnhealthy, VarKeepalivedDL1, "keepalived 2.2.7, delay_loop 1", "app killed on rs1 → rs1 out of IPVS"},
	{ScUnhealthy, VarTandem, "**Tandem**: agent probe, defaults (2s, fall 3)", "app killed on rs1 → rs1 out of IPVS"},
	{ScUnhealthy, VarTandemFast, "Tandem: agent probe 300ms, fall 2", "app killed on rs1 → rs1 out of IPVS"},
}

var scenarioLabels = map[string]string{
	ScDrain:     "drain (rs1 out on purpose)",
	ScUnhealthy: "unhealthy → out (app on rs1 killed)",
}

type resourceDef struct{ c, p, label string }

var resourceDefs = []resourceDef{
	{CaseIdle, ProcKA, "keepalived 2.2.7 idle (parent + VRRP + checkers)"},
	{CaseIdle, ProcDirector, "**tandem-director** idle"},
	{CaseIdle, ProcBackend, "**tandem-backend** idle on rs1 (the director answering it)"},
	{CaseHBUnknown, ProcDirector, "**tandem-director** answering 1,000 agents × 1 report/s (agents of no configured real server: empty replies)"},
	{CaseHBUnknown, ProcBackend, "tandem-backend on rs1 during that load"},
	{CaseIdleBig, ProcDirector, "tandem-director idle, 1,000 more real servers configured"},
	{CaseHBLoad, ProcDirector, "tandem-director answering the same 1,000 agents, now its real servers"},
	{CaseHBLoad, ProcBackend, "tandem-backend on rs1 during that load"},
}

// Summarize groups the samples into rows, in the tables' order; rows
// without samples are left out.
func Summarize(samples []Sample) ([]TimingRow, []ResourceRow) {
	var trows []TimingRow
	med := map[[2]string]float64{}
	for _, d := range timingDefs {
		var secs, failed, sent []float64
		for _, s := range samples {
			if s.Scenario == d.sc && s.Variant == d.v {
				secs, failed, sent = append(secs, s.Seconds), append(failed, float64(s.Failed)), append(sent, float64(s.Sent))
			}
		}
		if len(secs) == 0 {
			continue
		}
		r := TimingRow{Scenario: d.sc, Variant: d.v, Label: d.label, How: d.how, Seconds: StatOf(secs), Failed: StatOf(failed), Sent: StatOf(sent)}
		med[[2]string{d.sc, d.v}] = r.Seconds.Median
		trows = append(trows, r)
	}
	for i := range trows {
		r := &trows[i]
		if r.Seconds.Median <= 0 {
			continue
		}
		r.VsSeed = med[[2]string{r.Scenario, VarKeepalived}] / r.Seconds.Median
		r.VsDL1 = med[[2]string{r.Scenario, VarKeepalivedDL1}] / r.Seconds.Median
	}
	var rrows []ResourceRow
	var kaRSS, kaCPU float64
	for _, d := range resourceDefs {
		var rss, cpu []float64
		procs := 0
		var hb *HBCounts
		for _, s := range samples {
			if s.Case != d.c || s.Proc != d.p {
				continue
			}
			rss, cpu = append(rss, float64(s.RSSKiB)), append(cpu, s.CPUPct)
			procs = max(procs, s.Procs)
			if s.HB != nil {
				if hb == nil {
					hb = &HBCounts{Agents: s.HB.Agents}
				}
				hb.Sent += s.HB.Sent
				hb.Replies += s.HB.Replies
				hb.SendErrors += s.HB.SendErrors
				hb.Accepted += s.HB.Accepted
				hb.Dropped += s.HB.Dropped
				hb.QueueFull += s.HB.QueueFull
			}
		}
		if len(rss) == 0 {
			continue
		}
		r := ResourceRow{Case: d.c, Proc: d.p, Label: d.label, RSSKiB: StatOf(rss), CPUPct: StatOf(cpu), Procs: procs, HB: hb, Runs: len(rss)}
		if d.c == CaseIdle && d.p == ProcKA {
			kaRSS, kaCPU = r.RSSKiB.Median, r.CPUPct.Median
		}
		rrows = append(rrows, r)
	}
	for i := range rrows {
		if kaRSS > 0 {
			rrows[i].RSSVsKA = rrows[i].RSSKiB.Median / kaRSS
		}
		if kaCPU > 0 {
			rrows[i].CPUVsKA = rrows[i].CPUPct.Median / kaCPU
		}
	}
	return trows, rrows
}

// secs formats a whole number of seconds: "2 s".
func secs(d time.Duration) string { return fmt.Sprintf("%g s", d.Seconds()) }

func count(s Stat) string {
	if s.Min == s.Max {
		return fmt.Sprintf("%.0f", s.Median)
	}
	return fmt.Sprintf("%.0f (%.0f–%.0f)", s.Median, s.Min, s.Max)
}

// MiB formats KiB as MiB.
func MiB(kib float64) string { return fmt.Sprintf("%.1f MiB", kib/1024) }

// Pct formats a CPU share.
func Pct(p float64) string {
	if p < 10 {
		return fmt.Sprintf("%.2f %%", p)
	}
	return fmt.Sprintf("%.1f %%", p)
}

func times(r float64) string {
	if r == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", r)
}

// TimingTable renders the timing rows as Markdown.
func TimingTable(rows []TimingRow) string {
	var b strings.Builder
	b.WriteString("| scenario | implementation | what is timed | median | min – max | failed requests per run | requests per run | vs keepalived (seed) | vs keepalived (delay_loop 1) |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	last := ""
	for _, r := range rows {
		sc := ""
		if r.Scenario != last {
			sc, last = scenarioLabels[r.Scenario], r.Scenario
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s – %s | %s | %s | %s | %s |\n", sc, r.Label, r.How,
			benchutil.Seconds(r.Seconds.Median), benchutil.Seconds(r.Seconds.Min), benchutil.Seconds(r.Seconds.Max), count(r.Failed), count(r.Sent),
			benchutil.Speed(r.VsSeed, r.Variant == VarKeepalived), benchutil.Speed(r.VsDL1, r.Variant == VarKeepalivedDL1))
	}
	return b.String()
}

// ResourceTable renders the resource rows as Markdown.
func ResourceTable(rows []ResourceRow) string {
	var b strings.Builder
	b.WriteString("| process | RSS median | RSS min – max | CPU median (of one CPU) | CPU min – max | runs | RSS vs keepalived idle | CPU vs keepalived idle | heartbeats |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range rows {
		hb := ""
		if h := r.HB; h != nil {
			hb = fmt.Sprintf("%d agents; sent %d, replies received %d (%d lost), send errors %d; director: accepted %d, dropped %d, queue full %d",
				h.Agents, h.Sent, h.Replies, h.Sent-h.Replies, h.SendErrors, h.Accepted, h.Dropped, h.QueueFull)
		}
		fmt.Fprintf(&b, "| %s | %s | %s – %s | %s | %s – %s | %d | %s | %s | %s |\n", r.Label,
			MiB(r.RSSKiB.Median), MiB(r.RSSKiB.Min), MiB(r.RSSKiB.Max), Pct(r.CPUPct.Median), Pct(r.CPUPct.Min), Pct(r.CPUPct.Max),
			r.Runs, times(r.RSSVsKA), times(r.CPUVsKA), hb)
	}
	return b.String()
}

// Host describes the machine that ran the guest.
type Host = benchutil.Host

// Results is docs/benchmarks-ops.json: what the summary page reads.
type Results struct {
	Benchmark string        `json:"benchmark"`
	Date      string        `json:"date"`
	Machine   string        `json:"machine"`
	Versions  []string      `json:"versions"`
	Runs      int           `json:"runs"`
	Timings   []TimingRow   `json:"timings"`
	Resources []ResourceRow `json:"resources"`
}

// JSON renders docs/benchmarks-ops.json from the meta line and the rows
// of Summarize.
func JSON(h Host, m Meta, trows []TimingRow, rrows []ResourceRow) ([]byte, error) {
	res := Results{Benchmark: "ops", Date: h.Date, Machine: h.Machine(m.GuestKernel, m.GuestCPUs, m.GuestMemMB), Runs: m.Runs, Timings: trows, Resources: rrows,
		Versions: []string{m.Keepalived, "tandem-director " + m.Director, "tandem-backend " + m.Backend}}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Document renders docs/benchmarks-ops.md from the meta line and the rows
// of Summarize.
func Document(h Host, m Meta, trows []TimingRow, rrows []ResourceRow) string {
	var b strings.Builder
	b.WriteString("# Operations and resources benchmark\n\n")
	b.WriteString("<!-- Generated by `make bench-ops` (e2e/bench/ops, TestVMBenchOps); do not edit by hand. -->\n\n")
	b.WriteString("How fast a real server leaves the rotation, on purpose (drain) and when its application dies, and what the " +
		"daemons cost in memory and CPU: keepalived 2.2.7 with the seed's keepalived.conf against tandem-director reading " +
		"the same file, with tandem-backend on the real servers. Machine-readable: [benchmarks-ops.json](benchmarks-ops.json).\n\n")
	b.WriteString("## Drain and unhealthy → out\n\n")
	b.WriteString(TimingTable(trows))
	b.WriteString("\n## Resources\n\n")
	b.WriteString(ResourceTable(rrows))
	b.WriteString("\n## Where and how\n\n")
	b.WriteString(h.DateLine("the cores are shared with other work"))
	fmt.Fprintf(&b, "- Guest: %s; one boot for the whole benchmark (VM wall %s). "+
		"Under TCG every number, CPU above all, is that of an emulated CPU: compare the rows with each other, not with real hardware.\n",
		h.GuestVM(m.GuestKernel, m.GuestCPUs, m.GuestMemMB), h.VMWall.Round(time.Second))
	fmt.Fprintf(&b, "- Versions: %s; tandem-director %s; tandem-backend %s.\n", m.Keepalived, m.Director, m.Backend)
	fmt.Fprintf(&b, "- Lab (network namespaces in the guest, e2e/netlab): client 10.99.0.10, director 10.99.0.2, real servers rs1 10.99.0.11 and "+
		"rs2 10.99.0.12 running e2e/prodlab's web app, sorry server 10.99.0.99; VIP 10.99.0.100:80, lc, DR. A fresh lab for each "+
		"implementation; the phases run one after the other (keepalived, keepalived with delay_loop 1, Tandem, Tandem with a fast probe), "+
		"%d runs each.\n", m.Runs)
	b.WriteString("- keepalived.conf: the seed's (docs/examples, ../shared/seed) with the lab's addresses and `lvs_sync_daemon_interface eth0`: " +
		"`delay_loop 10`, HTTP_GET on /check.txt expecting 200, `connect_timeout 3`, keepalived's defaults otherwise (`retry 1`, " +
		"`delay_before_retry 3`). keepalived runs as `keepalived -n -l -D -f CONF` (VRRP and checkers); the real servers are prepared " +
		"as in the seed (VIP on lo, the arp table, /check.txt written by hand). The delay_loop 1 variant changes only `delay_loop`: " +
		"the seed's 10 s is the time an operator of the seed waits, 1 s is the fastest keepalived check one would run, and the fairer " +
		"comparison for a probe that runs every 2 s.\n")
	b.WriteString("- Tandem: `tandem-director run` on the same keepalived.conf (its own HTTP_GET stays as the fallback) with the heartbeat " +
		"key; `tandem-backend` on each real server with its documented defaults (heartbeat 1 s, probe of the app every 2 s, " +
		"timeout 1 s, rise 2, fall 3; check file mode, so the same /check.txt follows maintenance and health). The fast variant sets " +
		"the probe to 300 ms, timeout 250 ms, fall 2.\n")
	fmt.Fprintf(&b, "- Load: e2e/loadgen from the client to the VIP, %d requests/s, %s of them on 4 persistent connections, the rest one "+
		"per connection, %s timeout; started 2 s plus a random part of the checker's period (keepalived: delay_loop; Tandem: the agent's probe interval) before the event, so that the event falls at a random phase of the check timer, and stopped %s after rs1 is out. A failed request is any "+
		"loadgen failure class (refused, reset, timeout, wrong server, HTTP status); a request still running when the load stops is not counted.\n",
		m.Rate, m.KeepAlive, secs(loadTimeout), secs(afterOut))
	fmt.Fprintf(&b, "- Timing: the destinations of the VIP's service are read over netlink (moby/ipvs in the director's namespace) every %s; "+
		"\"out\" is weight 0 or no destination. Drain: keepalived from the removal of the check file, Tandem from the start of the "+
		"`tandem-backend maintenance on` process (a fresh process under TCG) and, second row, from the agent's own log line "+
		"`maintenance switched`. Unhealthy: the web app's listener and connections closed (WebApp.Stop). Between runs rs1 is "+
		"put back (check file, `maintenance off`, app started) and the next run waits until it is in at weight 1.\n", m.Poll)
	b.WriteString("- Failed requests are few even while a dead rs1 is still in IPVS: its refused SYNs are answered by rs1 straight to " +
		"the client (DR), the director keeps those connections as inactive entries, and lc then prefers rs2; most failures are " +
		"the persistent connections the dying app closes. The same makes rs1 take little traffic for a while after it is back.\n")
	b.WriteString("- keepalived drains by deleting the destination: its established connections (the persistent ones, and any " +
		"request in flight) then hang, because the kernel's default `net.ipv4.vs.expire_nodest_conn = 0` drops their packets, " +
		"and time out. tandem-director sets weight 0 and keeps the destination until its connections end.\n")
	fmt.Fprintf(&b, "- Failures: a Tandem drain must not fail one request (a keepalived drain may); an unhealthy run must take rs1 out within 60 s and fail no request "+
		"started from %s after that until the load stops (every request of the first second of that span has ended by then). In a Tandem drain "+
		"and an unhealthy run alike, at least %d requests of that span must have ended, so that no check is made on an empty span. Every "+
		"heartbeat-load run must have replies: at least %.0f %% of its reports answered when the agents are of no configured real server; "+
		"when they are real servers the director is saturated (see its CPU) and any share is accepted. Otherwise the benchmark fails and "+
		"this page is not rewritten.\n", secs(lateFrom), minLate, 100*hbMinReplies[CaseHBUnknown])
	fmt.Fprintf(&b, "- Resources: VmRSS from /proc/PID/status at the end of a %s window and CPU = (utime + stime) from /proc/PID/stat "+
		"over it ÷ the window (100 %% = one CPU); keepalived's three processes summed. Idle: the lab's configuration, no client "+
		"load, both agents reporting. Heartbeat load: %[2]d simulated agents (HBLoad), one UDP socket each bound to an address of "+
		"a routed 10.99.4.0/22 on an extra lab host, each send one authenticated report (shared/hbproto, the lab's key, state up) "+
		"per second, evenly spread, for the window plus 2 s (the window starts 1 s in); replies are counted per socket until 1 s "+
		"after the sending. First with no real server of theirs in the configuration: the director accepts them, lists them in "+
		"its agent table and answers with an empty destination list (director/app: \"agent heard, but its real IP is no real "+
		"server here\"). Then a second virtual service with those %[2]d addresses as real servers (no checkers) is added by a "+
		"reload: the director idle with it, then the same load, now from agents of configured real servers. Sent minus replies "+
		"received is what was lost: mostly datagrams the director's socket never read (the kernel drops them when its buffer is "+
		"full; the daemon does not see them). The director's counters come from `status --json` (accepted includes the two real "+
		"agents' reports) and its metrics (queue_full: a report answered before the main loop took it). Heartbeat load counts "+
		"are summed over the runs.\n", m.Window, m.Agents)
	b.WriteString("- Every wait is bounded; a bound hit fails the benchmark.\n")
	b.WriteString("\nRun it with `make bench-ops` (root, qemu-system-x86; `BENCH_RUNS=N` for more runs). It rewrites this file and benchmarks-ops.json.\n")
	return b.String()
}
