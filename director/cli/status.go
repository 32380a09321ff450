package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/pool"
	"github.com/tandemlb/tandem/shared/hbproto"
)

func newStatus(g *globals) *cobra.Command {
	var asJSON, stats, rate, exact, peers bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the role, the VRRP instances and every virtual service with its real servers",
		Long: `Show the director's role and VRRP instances, then each virtual service with its
scheduler, quorum and sorry server, and each real server's state, weight
(now/configured), IPVS connections, last health-check result and what its
agent reports.

--stats and --rate show, instead, the kernel's traffic counters of every
virtual service and of each real server and sorry server in IPVS, as
ipvsadm -Ln --stats and --rate do: --stats the totals since the entry was
added (CONNS, INPKTS, OUTPKTS, INBYTES, OUTBYTES), --rate the kernel's
per-second estimates over about the last 2 seconds (CPS, INPPS, OUTPPS,
INBPS, OUTBPS); both flags, both sets. Numbers are abbreviated (K, M, G:
powers of 1000, as ipvsadm) unless --exact. The daemon reads IPVS once for
the request. In DR mode the director sees only client-to-server packets:
the OUT columns stay 0.

--peers shows, instead, both directors: this one's VRRP instances, state and
priority beside the peer's as the fast-failover probe last reported them; the
master each instance hears in VRRP adverts; the probe's session, the peer's
name, address, timing and when it was last heard; and, for each agent, the
role each director gave it and how long ago. What the daemon does not know is
printed as "unknown"; without fast_failover the peer is known only from VRRP
adverts. --stats and --peers may be combined.

--json prints the status as JSON (every field name in snake_case, stable;
fields are added, never renamed). With --stats or --rate each service gains
"stats" (and "sorry_stats" while the sorry server is in), each real server in
IPVS "stats", and the document "stats_at"; the stats object always holds
all ten counters: conns, pkts_in, pkts_out, bytes_in, bytes_out (totals) and
cps, pps_in, pps_out, bps_in, bps_out (per second). With --peers the document
gains "peers": node, role; instances[] (instance, vrid, family, state,
priority, master, master_priority, peer_role, peer_priority, peer_known);
probe (absent without fast_failover: session, peer, peer_addr, pinned,
last_heard, tx_interval_ms, detect_mult, detect_time_ms, last_down,
last_down_reason, sent, received, instances[] of vrid, family, role,
priority); agents[] (real_ip, node, fresh, last_seen, directors[] of
director, role, age_ms, heard). Without these flags the JSON is unchanged.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			args := control.StatusArgs{Stats: stats || rate, Peers: peers}
			if exact && !args.Stats {
				return fmt.Errorf("--exact goes with --stats or --rate")
			}
			st, err := g.daemon().status(cmd.Context(), args)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			now := time.Now()
			if !args.Stats && !args.Peers {
				printStatus(out, st, now)
				return nil
			}
			if args.Stats {
				printStats(out, st, statsColumns{totals: stats || !rate, rates: rate, exact: exact})
			}
			if args.Peers {
				if args.Stats {
					fmt.Fprintln(out)
				}
				printPeers(out, st, now)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&stats, "stats", false, "show the kernel's traffic totals per service and real server (ipvsadm --stats)")
	cmd.Flags().BoolVar(&rate, "rate", false, "show the kernel's traffic rates per service and real server (ipvsadm --rate)")
	cmd.Flags().BoolVar(&exact, "exact", false, "with --stats or --rate: print exact numbers, not K/M/G")
	cmd.Flags().BoolVar(&peers, "peers", false, "show both directors: VRRP instances, the fast-failover peer and what the agents hear")
	return cmd
}

// statsColumns chooses the columns of printStats.
type statsColumns struct {
	totals, rates, exact bool
}

// printStats renders the counters as ipvsadm -Ln --stats / --rate do:
// a line per service, then one per real server ("->").
func printStats(w io.Writer, st control.Status, c statsColumns) {
	switch {
	case !st.IPVS.Enabled:
		fmt.Fprintln(w, "IPVS is not in use (no virtual_server): no counters")
		return
	case st.StatsAt.IsZero():
		fmt.Fprintln(w, "the daemon returned no counters (it is older than this tandem-director: restart it to get them)")
		return
	}
	var head []string
	if c.totals {
		head = append(head, "CONNS", "INPKTS", "OUTPKTS", "INBYTES", "OUTBYTES")
	}
	if c.rates {
		head = append(head, "CPS", "INPPS", "OUTPPS", "INBPS", "OUTBPS")
	}
	num := func(v uint64) string {
		if c.exact {
			return strconv.FormatUint(v, 10)
		}
		return humanCount(v)
	}
	missing := false
	row := func(name string, s *control.Stats) []string {
		cells := []string{name}
		if s == nil {
			missing = true
			for range head {
				cells = append(cells, "-")
			}
			return cells
		}
		if c.totals {
			cells = append(cells, num(s.Conns), num(s.PktsIn), num(s.PktsOut), num(s.BytesIn), num(s.BytesOut))
		}
		if c.rates {
			cells = append(cells, num(s.CPS), num(s.PPSIn), num(s.PPSOut), num(s.BPSIn), num(s.BPSOut))
		}
		return cells
	}
	rows := [][]string{append([]string{"SERVICE"}, head...), {"  -> REAL SERVER"}}
	dr := false
	for _, s := range st.Services {
		dr = dr || s.Forwarding == "DR"
		name := s.Key
		if s.Stats == nil {
			name += " (not in IPVS)"
		}
		rows = append(rows, row(name, s.Stats))
		for _, r := range s.RealServers {
			rows = append(rows, row("  -> "+r.Addr, r.Stats))
		}
		if s.SorryStats != nil {
			rows = append(rows, row("  -> "+s.Sorry+" (sorry)", s.SorryStats))
		}
	}
	writeTable(w, rows)
	fmt.Fprintf(w, "read from IPVS at %s", st.StatsAt.Local().Format("15:04:05.000"))
	if c.rates {
		fmt.Fprint(w, "; rates per second, averaged by the kernel over about 2s")
	}
	if dr {
		fmt.Fprint(w, "; DR: the director sees only client-to-server traffic, OUT stays 0")
	}
	if missing {
		fmt.Fprint(w, "; -: not in IPVS")
	}
	fmt.Fprintln(w)
}

// writeTable prints rows with the first column aligned left and the
// others right, two spaces apart.
func writeTable(w io.Writer, rows [][]string) {
	var width []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(width) {
				width = append(width, 0)
			}
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	for _, r := range rows {
		var b strings.Builder
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 {
				b.WriteString(c)
				if len(r) > 1 {
					b.WriteString(pad)
				}
				continue
			}
			b.WriteString("  " + pad + c)
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
}

// humanCount abbreviates v as ipvsadm does without --exact: K, M, G, T
// are powers of 1000.
func humanCount(v uint64) string {
	const units = "KMGTPE"
	if v < 100000 {
		return strconv.FormatUint(v, 10)
	}
	f := float64(v)
	i := -1
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	if f >= 100 {
		return fmt.Sprintf("%.0f%c", f, units[i])
	}
	return fmt.Sprintf("%.1f%c", f, units[i])
}

// printPeers renders status --peers.
func printPeers(w io.Writer, st control.Status, now time.Time) {
	p := st.Peers
	if p == nil {
		fmt.Fprintln(w, "the daemon returned no peers' view (it is older than this tandem-director: restart it to get it)")
		return
	}
	peerName := "peer"
	if p.Probe != nil && p.Probe.Peer != "" {
		peerName = p.Probe.Peer
	}
	fmt.Fprintf(w, "this director: %s, %s\n", p.Node, strings.ToUpper(p.Role))
	switch pr := p.Probe; {
	case pr == nil:
		fmt.Fprintln(w, "peer director: unknown (fast_failover is off: the peer is known only from VRRP adverts, MASTER HEARD below)")
	case pr.Peer == "":
		fmt.Fprintf(w, "peer director: unknown, never heard by the fast-failover probe (session %s", pr.Session)
		if pr.Pinned != "" {
			fmt.Fprintf(w, ", expected from %s", pr.Pinned)
		}
		fmt.Fprintf(w, ", %d probes sent)\n", pr.Sent)
	default:
		fmt.Fprintf(w, "peer director: %s at %s, probe session %s, last heard %s", pr.Peer, pr.PeerAddr, strings.ToUpper(pr.Session), agoFine(now, pr.LastHeard))
		if pr.DetectTimeMS > 0 {
			fmt.Fprintf(w, " (declared dead after %s silent: %d × %s)", time.Duration(pr.DetectTimeMS)*time.Millisecond, pr.DetectMult, time.Duration(pr.TxIntervalMS)*time.Millisecond)
		}
		fmt.Fprintln(w)
	}
	if pr := p.Probe; pr != nil && !pr.LastDown.IsZero() {
		fmt.Fprintf(w, "               session last went down %s: %s\n", ago(now, pr.LastDown), pr.LastDownReason)
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "INSTANCE\tVRID\tTHIS (%s)\tPRIO\t%s\tPRIO\tMASTER HEARD\n", p.Node, strings.ToUpper(peerName))
	for _, in := range p.Instances {
		fam := ""
		if in.Family == 6 {
			fam = " (IPv6)"
		}
		peerRole, peerPrio := "unknown", "-"
		if in.PeerKnown {
			peerRole, peerPrio = strings.ToUpper(in.PeerRole), strconv.Itoa(in.PeerPriority)
		}
		master := "none heard"
		if in.Master != "" {
			master = fmt.Sprintf("%s (priority %d)", in.Master, in.MasterPriority)
		}
		fmt.Fprintf(tw, "%s%s\t%d\t%s\t%d\t%s\t%s\t%s\n", in.Instance, fam, in.VRID, in.State, in.Priority, peerRole, peerPrio, master)
	}
	tw.Flush()
	if pr := p.Probe; pr != nil && pr.Peer != "" {
		var extra []string
		for _, r := range pr.Instances {
			known := false
			for _, in := range p.Instances {
				known = known || (in.VRID == r.VRID && in.Family == r.Family)
			}
			if !known {
				extra = append(extra, fmt.Sprintf("vrid %d IPv%d %s priority %d", r.VRID, r.Family, strings.ToUpper(r.Role), r.Priority))
			}
		}
		if len(extra) > 0 {
			fmt.Fprintf(w, "the peer also reports instances this director does not run: %s\n", strings.Join(extra, "; "))
		}
	}
	fmt.Fprintln(w)
	if len(p.Agents) == 0 {
		fmt.Fprintln(w, "agents: none heard")
		return
	}
	fmt.Fprintln(w, "agents (the role each director last gave the agent, and when):")
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, a := range p.Agents {
		heard := "no director heard (or an agent too old to say)"
		if len(a.Directors) > 0 {
			var parts []string
			for _, d := range a.Directors {
				parts = append(parts, fmt.Sprintf("%s %s %s", d.Director, strings.ToUpper(d.Role), agoFine(now, d.Heard)))
			}
			heard = strings.Join(parts, "; ")
		}
		report := "report " + ago(now, a.LastSeen)
		if !a.Fresh {
			report = "SILENT since " + ago(now, a.LastSeen)
		}
		fmt.Fprintf(tw, "  %s (%s)\t%s\t%s\n", a.Node, a.RealIP, report, heard)
	}
	tw.Flush()
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	d := now.Sub(t)
	switch {
	case d < 10*time.Second:
		return d.Truncate(100*time.Millisecond).String() + " ago"
	case d < time.Hour:
		return d.Truncate(time.Second).String() + " ago"
	}
	return t.Local().Format(time.DateTime)
}

// agoFine is ago with millisecond resolution under a second: a peer's
// probes come every few tens of milliseconds.
func agoFine(now, t time.Time) string {
	if d := now.Sub(t); !t.IsZero() && d >= 0 && d < time.Second {
		return d.Truncate(time.Millisecond).String() + " ago"
	}
	return ago(now, t)
}

// printStatus renders st for a terminal.
func printStatus(w io.Writer, st control.Status, now time.Time) {
	fmt.Fprintf(w, "director %s: %s (pid %d, version %s, up %s)\n", st.Node, strings.ToUpper(st.Role), st.PID, st.Version,
		now.Sub(st.Started).Truncate(time.Second))
	fmt.Fprintf(w, "config:   %s (%s)", st.Config, st.Format)
	if st.LastReloadError != "" {
		fmt.Fprintf(w, "; LAST RELOAD FAILED %s: %s", ago(now, st.LastReload), firstLine(st.LastReloadError))
	} else if st.Reloads > 0 {
		fmt.Fprintf(w, "; %d reloads, last %s", st.Reloads, ago(now, st.LastReload))
	}
	fmt.Fprintln(w)
	for _, v := range st.VRRP {
		fmt.Fprintf(w, "vrrp:     %s vrid %d on %s: %s", v.Instance, v.VRID, v.Interface, v.State)
		if !v.Since.IsZero() {
			fmt.Fprintf(w, " since %s", ago(now, v.Since))
		}
		fmt.Fprintf(w, ", priority %d", v.Priority)
		if v.BasePriority != 0 && v.BasePriority != v.Priority {
			fmt.Fprintf(w, " (base %d)", v.BasePriority)
		}
		if v.Master != "" {
			fmt.Fprintf(w, ", master %s (priority %d)", v.Master, v.MasterPriority)
		}
		fmt.Fprintf(w, ", VIPs %s\n", strings.Join(v.VIPs, " "))
		if v.SyncGroup != "" {
			fmt.Fprintf(w, "          sync group %s\n", v.SyncGroup)
		}
		if len(v.FaultSources) > 0 {
			fmt.Fprintf(w, "          faults: %s\n", strings.Join(v.FaultSources, "; "))
		}
		if v.Error != "" {
			fmt.Fprintf(w, "          FAILED: %s\n", v.Error)
		}
		if v.Yielding {
			fmt.Fprintf(w, "          yielding: handed over on purpose (failover); `tandem-director failover --cancel` takes it back\n")
		}
		if len(v.Dropped) > 0 {
			fmt.Fprintf(w, "          adverts dropped: %s\n", counts(v.Dropped))
		}
	}
	for _, g := range st.SyncGroups {
		fmt.Fprintf(w, "sync group %s: %s", g.Name, g.State)
		if !g.Since.IsZero() {
			fmt.Fprintf(w, " since %s", ago(now, g.Since))
		}
		fmt.Fprintf(w, ", members %s", strings.Join(g.Members, " "))
		if g.GlobalTracking {
			fmt.Fprint(w, " (global_tracking: weights count)")
		}
		fmt.Fprintln(w)
	}
	for _, t := range st.Trackers {
		fmt.Fprintf(w, "track:    %s %s: %s", t.Kind, t.Name, t.State)
		if t.Kind == "file" {
			fmt.Fprintf(w, " (value %d)", t.Value)
		}
		if t.Reason != "" {
			fmt.Fprintf(w, ", %s", firstLine(t.Reason))
		}
		if !t.Last.IsZero() {
			fmt.Fprintf(w, ", last %s", ago(now, t.Last))
		}
		fmt.Fprintln(w)
	}
	if ff := st.FastFailover; ff != nil {
		line := "fast failover: session " + ff.Session
		if ff.Peer != "" {
			line += fmt.Sprintf(" with %s (%s)", ff.Peer, ff.PeerAddr)
		}
		line += fmt.Sprintf(", %d takeovers, %d vetoes by agents", ff.Takeovers, ff.Vetoes)
		if len(ff.Dropped) > 0 {
			line += ", dropped: " + counts(ff.Dropped)
		}
		fmt.Fprintln(w, line)
	}
	if st.BGP != nil {
		printBGP(w, st.BGP, now)
	}
	switch {
	case st.IPVS.Error != "":
		fmt.Fprintf(w, "ipvs:     UNAVAILABLE: %s\n", firstLine(st.IPVS.Error))
	case !st.IPVS.Enabled:
		fmt.Fprintf(w, "ipvs:     not used (no virtual_server: VRRP only)\n")
	case len(st.IPVS.SyncDaemons) > 0:
		fmt.Fprintf(w, "ipvs:     sync daemon %s\n", strings.Join(st.IPVS.SyncDaemons, ", "))
	}
	for _, s := range st.Services {
		fmt.Fprintln(w)
		printService(w, s, now)
	}
	fmt.Fprintln(w)
	hb := st.Heartbeat
	switch {
	case !hb.Enabled:
		fmt.Fprintln(w, "heartbeat: disabled")
	case hb.Disabled != "":
		fmt.Fprintf(w, "heartbeat: DISABLED: %s\n", hb.Disabled)
	default:
		line := fmt.Sprintf("heartbeat: on %s, %d reports accepted, %d replies", hb.Listen, hb.Accepted, hb.Replies)
		if hb.Insecure {
			line += " (INSECURE mode)"
		}
		if len(hb.Dropped) > 0 {
			line += ", dropped: " + counts(hb.Dropped)
		}
		fmt.Fprintln(w, line)
	}
	var legacy []string
	for _, a := range st.Agents {
		if a.ClusterKey {
			legacy = append(legacy, a.RealIP)
		}
		if a.Known {
			continue
		}
		fmt.Fprintf(w, "  agent %s (%s) is no real server here: %s, last seen %s\n", a.Node, a.RealIP, a.State, ago(now, a.LastSeen))
	}
	if len(legacy) > 0 {
		fmt.Fprintf(w, "  agents still on the cluster key (give each its own: tandem-director keys derive --real-ip ADDR): %s\n", strings.Join(legacy, ", "))
	}
	for _, warn := range st.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
	if st.ConfigWarningsLine != "" {
		fmt.Fprintln(w, st.ConfigWarningsLine)
	}
}

func printService(w io.Writer, s control.ServiceStatus, now time.Time) {
	sched := s.Scheduler
	if len(s.SchedulerFlags) > 0 {
		sched += " " + strings.Join(s.SchedulerFlags, ",")
	}
	head := fmt.Sprintf("%s  %s %s", s.Key, sched, s.Forwarding)
	if s.Fingerprint != "" {
		head += "  fingerprint " + s.Fingerprint
	}
	if s.Persistence != "" {
		head += " persistent " + s.Persistence
	}
	if s.QuorumUp {
		head += fmt.Sprintf("  quorum up (live weight %d, quorum %d)", s.LiveWeight, s.Quorum)
	} else {
		head += fmt.Sprintf("  QUORUM LOST (live weight %d, quorum %d)", s.LiveWeight, s.Quorum)
	}
	if s.Sorry != "" {
		if s.SorryIn {
			head += "  SORRY SERVER IN: " + s.Sorry
		} else {
			head += "  sorry " + s.Sorry + " (out)"
		}
	}
	if !s.InKernel {
		head += "  NOT IN IPVS"
	}
	fmt.Fprintln(w, head)
	if s.LastError != "" {
		fmt.Fprintf(w, "  ipvs error: %s\n", firstLine(s.LastError))
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  REAL SERVER\tSTATE\tWEIGHT\tACTIVE\tINACTIVE\tCHECKS\tAGENT")
	for _, r := range s.RealServers {
		state := r.State
		if r.Reason != "" && r.State != pool.Up.String() {
			state += ": " + r.Reason
		}
		if r.State == pool.Draining.String() && !r.DrainDeadline.IsZero() {
			state += fmt.Sprintf(" (until %s)", r.DrainDeadline.Local().Format(time.TimeOnly))
		}
		weight := fmt.Sprintf("%d/%d", r.Weight, r.ConfiguredWeight)
		if !r.Present {
			weight = fmt.Sprintf("-/%d", r.ConfiguredWeight)
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%d\t%d\t%s\t%s\n", r.Addr, truncate(state, 60), weight, r.Active, r.Inactive, checksLine(r.Checks, now), agentLine(r.Agent, now))
	}
	tw.Flush()
}

func checksLine(cs []control.CheckStatus, now time.Time) string {
	if len(cs) == 0 {
		return "none"
	}
	var parts []string
	for _, c := range cs {
		switch {
		case c.Last.IsZero():
			parts = append(parts, c.Name+" pending")
		case c.LastOK:
			parts = append(parts, fmt.Sprintf("%s ok %s", c.Name, ago(now, c.Last)))
		default:
			verdict := "up"
			if !c.Up {
				verdict = "DOWN"
			}
			parts = append(parts, fmt.Sprintf("%s %s, failed %d× %s: %s", c.Name, verdict, c.Failures, ago(now, c.Last), truncate(c.Reason, 60)))
		}
	}
	return strings.Join(parts, "; ")
}

func agentLine(a *control.AgentStatus, now time.Time) string {
	if a == nil {
		return "-"
	}
	s := a.State
	if a.Reason != "" && a.State != hbproto.StateUp.String() {
		s += ": " + truncate(a.Reason, 40)
	}
	if !a.Fresh {
		return fmt.Sprintf("SILENT since %s (was %s)", ago(now, a.LastSeen), s)
	}
	return fmt.Sprintf("%s (%s, %s)", s, a.Node, ago(now, a.LastSeen))
}

func counts(m map[string]uint64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func firstLine(s string) string {
	first, rest, found := strings.Cut(s, "\n")
	if found && strings.TrimSpace(rest) != "" {
		return first + " …"
	}
	return first
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// printBGP prints BGP mode: the speaker, each session, each VIP.
func printBGP(w io.Writer, b *control.BGPStatus, now time.Time) {
	fmt.Fprintf(w, "bgp:      AS %d, router id %s", b.LocalAS, b.RouterID)
	if b.Draining {
		fmt.Fprint(w, "; DRAINED (drain --self; undo: undrain --self)")
	}
	fmt.Fprintf(w, "; fingerprint gate %s\n", b.FingerprintGate)
	for _, p := range b.Peers {
		fmt.Fprintf(w, "  peer %s AS %d: %s", p.Address, p.AS, p.State)
		if !p.Since.IsZero() {
			fmt.Fprintf(w, " since %s", ago(now, p.Since))
		}
		fmt.Fprintln(w)
	}
	printBGPVIPs(w, b.VIPs, now)
}

// printBGPVIPs prints BGP mode's VIPs, one a line.
func printBGPVIPs(w io.Writer, vips []control.BGPVIPStatus, now time.Time) {
	for _, v := range vips {
		fmt.Fprintf(w, "  VIP %s: %s", v.VIP, v.State)
		if v.Why != "" {
			fmt.Fprintf(w, " (%s)", v.Why)
		}
		if !v.Until.IsZero() {
			fmt.Fprintf(w, ", withdrawn in %s", v.Until.Sub(now).Round(time.Second))
		}
		fmt.Fprintln(w)
	}
}
