package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/director/control"
)

func newDrain(g *globals, on bool) *cobra.Command {
	var reason string
	var self bool
	cmd := &cobra.Command{
		Use:   "drain RIP[:PORT] | --self",
		Short: "Take a real server out of rotation gracefully: weight 0, removed once its connections end",
		Long: `Take a real server out of rotation gracefully, in every virtual service that has
it (RIP), or only where its port matches (RIP:PORT, [RIP]:PORT for IPv6): its
weight goes to 0 at once, so established connections finish and new ones go
elsewhere; it counts as drained when IPVS shows no active connection or after
drain.timeout, and is then removed (drain.remove_when_drained). The drain is
persisted: a restart of the director keeps it. Undo it with undrain.

drain --self (BGP mode only) takes this director out instead: each of its VIPs
is announced with the GRACEFUL_SHUTDOWN community (65535:0), then withdrawn
after bgp.graceful_shutdown_wait, while IPVS keeps serving the connections
already here. undrain --self announces them again. It is not persisted: a
restart announces again.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if self {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if self {
				res, err := g.daemon().drainSelf(cmd.Context(), on)
				if err != nil {
					return err
				}
				return printDrainSelf(cmd.OutOrStdout(), res)
			}
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
		cmd.Flags().BoolVar(&self, "self", false, "BGP mode: withdraw this director's VIPs gracefully instead of draining a real server")
		cmd.MarkFlagsMutuallyExclusive("self", "reason")
	} else {
		cmd.Flags().BoolVar(&self, "self", false, "BGP mode: announce this director's VIPs again (undo drain --self)")
		cmd.Use = "undrain RIP[:PORT] | --self"
		cmd.Short = "Cancel a drain: the real server returns at its configured weight once healthy"
		cmd.Long = `Cancel an operator drain of a real server (see drain): its configured weight
is restored at once if its health checks pass, otherwise it stays down until
they do.`
	}
	return cmd
}

// printDrainSelf prints what drain --self or undrain --self left.
func printDrainSelf(w io.Writer, res control.DrainSelfResult) error {
	if res.Draining {
		fmt.Fprintln(w, "drain --self: this director's VIPs are being withdrawn (GRACEFUL_SHUTDOWN first)")
	} else {
		fmt.Fprintln(w, "undrain --self: this director's VIPs are announced again where they may be")
	}
	printBGPVIPs(w, res.VIPs, time.Now())
	return nil
}
