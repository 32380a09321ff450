package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/backend/app"
	"github.com/tandemlb/tandem/backend/maintenance"
)

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newStatus(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show VIPs, ARP table and counters, health, maintenance and each director's view",
		Long: `Show the agent's node and real IP, the check endpoint's verdict, the health
probe, the maintenance switch, the VIPs on lo, the ARP guard and its counters,
the heartbeat totals, and each director's last reply: its role and this
server's destinations as it sees them (weight now/configured, IPVS
connections, pool state).

--json prints the same as JSON, every field name in snake_case (stable:
fields are added, never renamed): version, pid, started, config; host (node,
interface, real_ip, and real_ip6 when the agent speaks for an IPv6 address
too); check (ok, reason, mode, where, file_present); health
(service, probe, state, reason, since, last_probe, last_ok, last_took_ns);
maintenance (mode, reason, since, passes, description); vips[] (addr,
present, repairs); arp (mode, table, table_present, table_ok, repairs,
sysctl_ok, counters[] of chain, vip, packets, bytes; last_error, checked);
heartbeat (sent, send_errors, received, rejected by reason, session_id,
session_id6 (the IPv6 identity's, when IPv6 directors are listed), disabled, unechoed, minimal, interval_ns, insecure); directors[] (addr, name,
role, role_code, last_reply, destinations[] of service, addr, weight,
configured_weight, active_conns, inactive_conns, pool: up, down, draining,
drained or maintenance, and pool_code: 1 to 5).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st app.Status
			if err := g.call(cmd.Context(), app.OpStatus, nil, &st); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st)
			}
			printStatus(cmd.OutOrStdout(), st, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func yesNo(b bool, yes, no string) string {
	if b {
		return yes
	}
	return no
}

func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Truncate(time.Millisecond).String() + " ago"
}

func printStatus(w io.Writer, st app.Status, now time.Time) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	realIP := "real IP " + st.Host.RealIP.String()
	if st.Host.RealIP6.IsValid() {
		realIP += ", IPv6 " + st.Host.RealIP6.String()
	}
	fmt.Fprintf(tw, "node:\t%s (%s on %s), pid %d, version %s, up %s\n", st.Host.Node, realIP, st.Host.Interface,
		st.PID, st.Version, now.Sub(st.Started).Truncate(time.Second))
	check := "OK (200)"
	if !st.Check.OK {
		check = "503: " + st.Check.Reason
	}
	where := st.Check.Where
	if st.Check.Mode == "file" {
		where += yesNo(st.Check.FilePresent, " (present)", " (absent)")
	}
	fmt.Fprintf(tw, "check:\t%s via %s %s\n", check, st.Check.Mode, where)
	h := st.Health
	reason := ""
	if h.Reason != "" {
		reason = ": " + h.Reason
	}
	fmt.Fprintf(tw, "health:\t%s %s%s (%s; last probe %s, took %s)\n", h.Service, h.State, reason, h.Probe, ago(now, h.LastProbe), h.LastTook.Truncate(time.Microsecond))
	m := st.Maintenance
	switch m.Mode {
	case maintenance.InService:
		fmt.Fprintf(tw, "maintenance:\toff\n")
	default:
		fmt.Fprintf(tw, "maintenance:\t%s since %s (%s)\n", m.Mode, m.Since.Local().Format(time.DateTime), m.Description)
	}
	var vips []string
	for _, v := range st.VIPs {
		s := v.Addr.String() + yesNo(v.Present, " present", " MISSING")
		if v.Repairs > 0 {
			s += fmt.Sprintf(" (restored %d×)", v.Repairs)
		}
		vips = append(vips, s)
	}
	fmt.Fprintf(tw, "vips on lo:\t%s\n", strings.Join(vips, ", "))
	a := st.ARP
	arp := fmt.Sprintf("mode %s", a.Mode)
	if a.Mode == "nftables" || a.Mode == "both" {
		arp += fmt.Sprintf(", table arp %s %s", a.Table, yesNo(a.TableOK, "present", yesNo(a.TablePresent, "DIFFERS", "MISSING")))
		if a.Repairs > 0 {
			arp += fmt.Sprintf(" (restored %d×)", a.Repairs)
		}
	}
	if a.Mode == "sysctl" || a.Mode == "both" {
		arp += ", sysctls " + yesNo(a.SysctlOK, "ok", "NOT SET")
	}
	if a.LastError != "" {
		arp += ", error: " + a.LastError
	}
	fmt.Fprintf(tw, "arp guard:\t%s\n", arp)
	for _, c := range a.Counters {
		what := "ARP requests for it dropped"
		if c.Chain == "out" {
			what = "own ARP senders rewritten"
		}
		fmt.Fprintf(tw, "\t%s %s: %d packets (%s)\n", c.Chain, c.VIP, c.Packets, what)
	}
	hb := st.Heartbeat
	if len(st.Directors) == 0 {
		fmt.Fprintf(tw, "heartbeat:\tno directors configured\n")
	} else {
		state := fmt.Sprintf("every %s, %d sent, %d send errors, %d replies", hb.Interval, hb.Sent, hb.SendErrors, hb.Received)
		if hb.Disabled {
			state = "DISABLED (no usable key, heartbeat.insecure)"
		}
		var rej []string
		for r, n := range hb.Rejected {
			rej = append(rej, fmt.Sprintf("%s %d", r, n))
		}
		sort.Strings(rej)
		if len(rej) > 0 {
			state += ", rejected: " + strings.Join(rej, ", ")
		}
		fmt.Fprintf(tw, "heartbeat:\t%s\n", state)
		for _, d := range st.Directors {
			printDirector(tw, d, now, 3*hb.Interval+time.Second)
		}
	}
	tw.Flush()
}

func printDirector(w io.Writer, d maintenance.DirectorView, now time.Time, silentAfter time.Duration) {
	name := d.Addr
	if d.Name != "" {
		name = d.Name + " " + d.Addr
	}
	if d.LastReply.IsZero() {
		fmt.Fprintf(w, "director:\t%s: no reply yet\n", name)
		return
	}
	silent := ""
	if now.Sub(d.LastReply) > silentAfter {
		silent = " (SILENT)"
	}
	fmt.Fprintf(w, "director:\t%s: %s, last reply %s%s\n", name, d.RoleName, ago(now, d.LastReply), silent)
	for _, ds := range d.Destinations {
		fmt.Fprintf(w, "\t%s -> %s: weight %d/%d, %d active, %d inactive, %s\n", ds.Service, ds.Addr, ds.Weight, ds.ConfiguredWeight,
			ds.ActiveConns, ds.InactiveConns, ds.Pool)
	}
}
