package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/pool"
	"github.com/tandemlb/tandem/shared/hbproto"
)

func newStatus(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the role, the VRRP instances and every virtual service with its real servers",
		Long: `Show the director's role and VRRP instances, then each virtual service with its
scheduler, quorum and sorry server, and each real server's state, weight
(now/configured), IPVS connections, last health-check result and what its
agent reports.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := g.daemon().status(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			printStatus(cmd.OutOrStdout(), st, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
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
	head := fmt.Sprintf("%s  %s %s", s.Key, s.Scheduler, s.Forwarding)
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
