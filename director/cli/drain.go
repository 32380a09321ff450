package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func newDrain(g *globals, on bool) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:   "drain RIP[:PORT]",
		Short: "Take a real server out of rotation gracefully: weight 0, removed once its connections end",
		Long: `Take a real server out of rotation gracefully, in every virtual service that has
it (RIP), or only where its port matches (RIP:PORT, [RIP]:PORT for IPv6): its
weight goes to 0 at once, so established connections finish and new ones go
elsewhere; it counts as drained when IPVS shows no active connection or after
drain.timeout, and is then removed (drain.remove_when_drained). The drain is
persisted: a restart of the director keeps it. Undo it with undrain.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, err := g.daemon().drain(cmd.Context(), on, args[0], reason)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SERVICE\tREAL SERVER\tSTATE\tWEIGHT\tACTIVE")
			for _, s := range res.Servers {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\n", s.Service, s.RS, s.State, s.Weight, s.Active)
			}
			return tw.Flush()
		},
	}
	if on {
		cmd.Flags().StringVar(&reason, "reason", "", "why (shown in status)")
	} else {
		cmd.Use = "undrain RIP[:PORT]"
		cmd.Short = "Cancel a drain: the real server returns at its configured weight once healthy"
		cmd.Long = `Cancel an operator drain of a real server (see drain): its configured weight
is restored at once if its health checks pass, otherwise it stays down until
they do.`
	}
	return cmd
}
