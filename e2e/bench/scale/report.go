package scale

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// HostLine describes this host: CPU model and count, kernel, Go, load.
func HostLine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	kernel := "unknown"
	if out, err := exec.Command("uname", "-r").Output(); err == nil {
		kernel = strings.TrimSpace(string(out))
	}
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("%d × %s, kernel %s, %s; load average before the run %s", runtime.NumCPU(), cpu, kernel, runtime.Version(),
		strings.Join(strings.Fields(string(load))[:min(3, len(strings.Fields(string(load))))], " "))
}

// Linear reports whether the director's CPU per agent (above the idle
// row with as many real servers, or the empty idle row) does not grow
// from the smallest to the largest agent count, and the two figures
// (CPU % per 1,000 agents).
func Linear(rows []Row) (ok bool, first, last float64) {
	idle := map[int]float64{}
	for _, r := range rows {
		if r.Agents == 0 {
			idle[r.RealServers] = r.CPUPct
		}
	}
	per := func(r Row) float64 {
		base, ok := idle[r.RealServers]
		if !ok {
			base = idle[0]
		}
		return max(r.CPUPct-base, 0) / float64(r.Agents) * 1000
	}
	var with []Row
	for _, r := range rows {
		if r.Agents > 0 {
			with = append(with, r)
		}
	}
	if len(with) < 2 {
		return true, 0, 0
	}
	first, last = per(with[0]), per(with[len(with)-1])
	// Within the measurement's resolution (1 tick in the window) counts
	// as not growing.
	tick := 100 * 0.01 / with[len(with)-1].Window.Seconds() / float64(with[len(with)-1].Agents) * 1000
	return last <= first+tick, first, last
}

// Page renders docs/benchmarks-scale.md.
func Page(rows []Row, shares []Share, host string, p Params, took time.Duration) string {
	var b strings.Builder
	b.WriteString(`# Benchmark: the heartbeat at scale (tandem-director, 0 to 10,000 agents)

Written by ` + "`make bench-scale`" + ` (e2e/bench/scale); do not edit by hand.

What it costs a director to hear agents that report once a second, one
agent per real server, natively on this host in two network namespaces:
the director in one, the agents in the other, a veth pair between them.

**IPVS is the recording fake** (director/lvs/lvstest): this host's kernel
has no ip_vs, so the real tandem-director binary cannot start here. The
director runs in-process in its own process (the benchmark's test binary
re-executed in the director's namespace) through director/app, exactly as
the daemon does, with the fake lvs client in place of the kernel's; what
the kernel would spend on IPVS writes is not in these figures (no agent
changes state during the window, so the director writes nothing).

## Results

`)
	fmt.Fprintf(&b, "| real servers | agents | director CPU (%% of one core) | RSS (MiB) | warm-up | reports in window | answered | reply p50 | reply p99 | reply max | bad replies | kernel drops |\n")
	fmt.Fprintf(&b, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		if r.Agents == 0 {
			fmt.Fprintf(&b, "| %s | 0 | %.2f | %.1f | – | – | – | – | – | – | – | – |\n", thousands(r.RealServers), r.CPUPct, r.RSSMiB)
			continue
		}
		warm := fmt.Sprintf("%.0f s", r.Gen.Warmup.Seconds())
		if r.Gen.Unsettled {
			warm += " (not settled)"
		}
		fmt.Fprintf(&b, "| %s | %s | %.2f | %.1f | %s | %s | %.2f %% | %s | %s | %s | %d | %d |\n", thousands(r.RealServers), thousands(r.Agents), r.CPUPct, r.RSSMiB,
			warm, thousands(r.Gen.Sent), r.Answered(), us(r.Gen.P50US), us(r.Gen.P99US), us(r.Gen.MaxUS), r.Gen.Bad, r.DirectorDrops+r.AgentsDrops)
	}
	if quiet := quietRows(rows); len(quiet) > 0 {
		b.WriteString("\n### After the agents stop\n\n" +
			"The same director once its agents stopped reporting: every agent silent (dead_after, 3 s, after its last report) " +
			"and still in its table; then forgotten (the benchmark's director forgets a silent agent after " +
			"20 s instead of 10 minutes). Nothing reaches the director meanwhile.\n\n")
		b.WriteString("| agents | CPU, all silent (% of one core) | RSS, all silent (MiB) | CPU, forgotten | RSS, forgotten (MiB) | window |\n|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range quiet {
			fmt.Fprintf(&b, "| %s | %.2f | %.1f | %.2f | %.1f | %v |\n", thousands(r.Agents), r.Silent.CPUPct, r.Silent.RSSMiB,
				r.Forgotten.CPUPct, r.Forgotten.RSSMiB, r.Silent.Window)
		}
	}
	ok, first, last := Linear(rows)
	verdict := "**yes**"
	if !ok {
		verdict = "**no**"
	}
	all := true
	var top Row
	for _, r := range rows {
		if r.Agents > 0 {
			all = all && r.Gen.Answered == r.Gen.Sent && r.Gen.Bad == 0
			top = r
		}
	}
	if !all {
		verdict = "**not shown** (a row's reports are not all answered: its CPU is that of a director that does not keep up)"
	}
	fmt.Fprintf(&b, "\nLinear or better: %s — the director's CPU per 1,000 agents above the idle row with the same real servers is %.3f %% of a core at the smallest agent count and %.3f %% at the largest.\n", verdict, first, last)
	met := top.Agents > 0 && top.Gen.Sent > 0 && top.Gen.Answered == top.Gen.Sent && top.Gen.Bad == 0 && top.CPUPct <= 5 && top.Gen.P99US <= 5000
	goal := "**met**"
	if !met {
		goal = "**not met**"
	}
	fmt.Fprintf(&b, "\nGoal at %s agents: %s (%.2f %% answered, %.2f %% of one core, reply p99 %s).\n", thousands(top.Agents), goal, top.Answered(), top.CPUPct, us(top.Gen.P99US))
	if len(shares) > 0 {
		var top Row
		for _, r := range rows {
			top = r
		}
		fmt.Fprintf(&b, "\n## Where the director's time goes at %s agents\n\n", thousands(top.Agents))
		fmt.Fprintf(&b, "The director's CPU profile over that row's window (runtime/pprof, 100 Hz; `go tool pprof -top -cum`;\n"+
			"its samples come to %.1f %% of one core, less than the row's CPU, which the profiler undercounts):\n"+
			"each part's share of the samples, the parts nested under the listener included in it.\n\n", profTotal(shares))
		b.WriteString("| part | share of the samples |\n|---|---:|\n")
		for _, x := range shares {
			if x.What == totalWhat {
				continue
			}
			what := x.What
			if t := strings.TrimLeft(what, " "); t != what {
				what = "&nbsp;&nbsp;– " + t
			}
			fmt.Fprintf(&b, "| %s | %.1f %% |\n", what, x.Pct)
		}
	}
	fmt.Fprintf(&b, `
Goal (issue 14): 10,000 agents × 1/s natively: 100 %% answered, ≤ 5 %% of
one core, reply p99 ≤ 5 ms; the curve from 100 to 10,000 no faster than
linear.

## Where and how

- Date: %s. Host: %s. The machine is shared (other work may run on it
  during the run): latencies are the most exposed to that.
- Each row: a fresh lab; the director started with the real servers
  (%d per virtual service, weight 1, no checks); the agents' reports
  from the start, the window opening at the first whole round (second)
  after at least %v in which every agent had its previous report
  answered (the warm-up column: every agent is new to the director at
  first; at most %v, then marked not settled), a window of %v in which
  the director's CPU (utime + stime of its process, /proc/PID/stat) is
  counted, and %v of grace for the window's last replies. RSS is VmRSS
  at the window's end. Kernel drops: datagrams either namespace's
  kernel dropped at a full socket receive buffer during the window
  (Udp RcvbufErrors).
- The director's listener reads with recvmmsg (up to 64 datagrams a
  read) and sends a read's replies with one sendmmsg; under load it
  reads at most once a millisecond (director/agents Linger), so a reply
  waits up to 1 ms more for fewer wake-ups. Its socket asks for a 4 MiB
  receive buffer (net.core.rmem_max here: %s).
- The veth pair charges a datagram's receive processing (IP, UDP, the
  socket's queue, the reader's wake-up) to the process that sends it:
  the director's CPU includes the agents' namespace receiving its
  replies, and not its own receiving of the reports, which the agents'
  process pays. On a NIC the receive side runs in softirq, charged to
  no process.
- The agents: one process, one UDP socket, each agent's report sent from
  its own address (IP_PKTINFO; the addresses on the agents' namespace's lo), sealed
  with the key derived for that address (as tandem-backend does), node,
  state up, one healthy service, and the witness list of the last reply
  (its age changes with every report). Report j of agent i is due at i/N s
  into each second: spread evenly, not in bursts (the sender sent %s
  reports per wake-up on average at the largest N: those due by then).
  Reports leave and replies are read in batches (sendmmsg, recvmmsg, up
  to 64 a call), so that the agents' process is not what limits a row.
- A report counts as answered when its reply comes back sealed with that
  agent's key (checked), echoing that report's session and sequence
  number, from the director's node name, with the agent's one destination
  at weight 1, configured weight 1, pool state up. Anything else is a bad
  reply. Latency is from the report's send to the reply's receipt in the
  agents' process (user space to user space through the veth pair).
- The warm-up holds every agent's first report, which goes through the
  director's main loop (a new agent) and is answered once the view shows
  it: 10,000 agents all new at once take seconds to get through (the
  warm-up column); the window is the steady state after it.
- A correct reply to a report older than that agent's last four is late,
  neither answered nor bad (the warm-up's); a bad reply fails the
  benchmark.
- The director is built from the working tree as it was (other work in
  progress included).
- No VRRP instance: the replies' role is "unknown". No agent changes state
  during the window: every report after an agent's first is answered on
  the listener's fast path (docs/heartbeat.md).
- The whole run took %v.
`, time.Now().UTC().Format("2006-01-02"), host, PerService, p.Warm, max(p.MaxWarm, p.Warm), p.Window, p.Grace, rmemMax(), burstOf(rows), took.Round(time.Second))
	return b.String()
}

// quietRows are the rows measured after their agents stopped
// (Params.Quiet).
func quietRows(rows []Row) []Row {
	var out []Row
	for _, r := range rows {
		if r.Agents > 0 && r.Silent.Window > 0 {
			out = append(out, r)
		}
	}
	return out
}

// rmemMax is net.core.rmem_max, bytes, as this process sees it.
func rmemMax() string {
	b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
	if err != nil {
		return "unknown"
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%s bytes", thousands(n))
}

func burstOf(rows []Row) string {
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].Agents > 0 {
			return fmt.Sprintf("%.1f", rows[i].Gen.Bursts)
		}
	}
	return "–"
}

func us(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.2f ms", v/1000)
	}
	return fmt.Sprintf("%.0f µs", v)
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
