package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/backend/app"
	"github.com/tandemlb/tandem/backend/maintenance"
	"github.com/tandemlb/tandem/shared/ctlsock"
)

func newMaintenance(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "maintenance",
		Short: "Take this server out of service (drain) and back",
	}
	var reason string
	var wait bool
	var timeout time.Duration
	on := &cobra.Command{
		Use:   "on",
		Short: "Switch maintenance on: /check.txt says 503 and the directors drain this server",
		Long: `Switch maintenance on. It takes effect at once: the check endpoint answers 503
(or the check file goes away) and a heartbeat with state "maintenance" goes to
every director. The switch is persisted and survives restarts and reboots.

With --wait, block until every director that is MASTER reports this server's
destinations at weight 0 with no active connections, printing progress; exit
non-zero on timeout, saying what is left.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st app.MaintenanceStatus
			if err := g.call(cmd.Context(), app.OpMaintenanceOn, app.MaintenanceOnArgs{Reason: reason}, &st); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "maintenance on since %s: %s\n", st.Since.Local().Format(time.DateTime), st.Description)
			if !wait {
				return nil
			}
			fmt.Fprintf(out, "waiting up to %s for the directors to drain this server...\n", timeout)
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout+5*time.Second)
			defer cancel()
			start := time.Now()
			path := g.socketPath()
			err := ctlsock.CallStream(ctx, path, app.OpMaintenanceWait, app.WaitArgs{Timeout: timeout}, func(line json.RawMessage) error {
				var d maintenance.DrainStatus
				if err := json.Unmarshal(line, &d); err != nil {
					return err
				}
				fmt.Fprintf(out, "[%5.1fs] %s\n", time.Since(start).Seconds(), d.Summary)
				for _, l := range d.Lines {
					fmt.Fprintf(out, "         %s\n", l)
				}
				return nil
			})
			if err != nil {
				return explain(err, path)
			}
			fmt.Fprintf(out, "drained after %s: safe to work on this server\n", time.Since(start).Truncate(100*time.Millisecond))
			return nil
		},
	}
	on.Flags().StringVar(&reason, "reason", "", "why (shown in status, /check.txt and the directors)")
	on.Flags().BoolVar(&wait, "wait", false, "wait until the MASTER directors report no weight and no active connections")
	on.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long --wait waits")

	off := &cobra.Command{
		Use:   "off",
		Short: "Switch maintenance off; the server returns to service once the health probe passes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st app.MaintenanceStatus
			if err := g.call(cmd.Context(), app.OpMaintenanceOff, nil, &st); err != nil {
				return err
			}
			if st.Mode == maintenance.InService {
				fmt.Fprintln(cmd.OutOrStdout(), "maintenance off: in service")
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "maintenance off: %s\n", st.Description)
			}
			return nil
		},
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the maintenance switch",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var st app.Status
			if err := g.call(cmd.Context(), app.OpStatus, nil, &st); err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), st.Maintenance)
			}
			m := st.Maintenance
			out := cmd.OutOrStdout()
			if m.Mode == maintenance.InService {
				fmt.Fprintln(out, "maintenance: off")
			} else {
				fmt.Fprintf(out, "maintenance: %s since %s (%s)\n", m.Mode, m.Since.Local().Format(time.DateTime), m.Description)
			}
			if len(st.Directors) > 0 && m.Mode == maintenance.Maintenance {
				d := maintenance.EvaluateDrain(st.Directors, m.Since)
				fmt.Fprintln(out, d.Summary)
				for _, l := range d.Lines {
					fmt.Fprintln(out, "  "+l)
				}
			}
			return nil
		},
	}
	status.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(on, off, status)
	return cmd
}
