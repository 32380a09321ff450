package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/director/control"
)

// exitFailoverIncomplete is failover's exit status when the instances
// were asked but one did not get there within --timeout (the peer not
// heard as master, not MASTER again after --cancel). A refusal (nothing
// changed: not MASTER, no peer known, unknown instance) exits 1, as any
// error.
const exitFailoverIncomplete = 2

// failoverFlags are the flags of failover.
type failoverFlags struct {
	instance      string
	timeout       time.Duration
	cancel, force bool
	asJSON        bool
}

// args checks the flags and builds the request.
func (f failoverFlags) args() (control.FailoverArgs, error) {
	if f.timeout <= 0 || f.timeout > control.MaxFailoverTimeout {
		return control.FailoverArgs{}, fmt.Errorf("--timeout %s: want more than 0 and at most %s", f.timeout, control.MaxFailoverTimeout)
	}
	if f.cancel && f.force {
		return control.FailoverArgs{}, fmt.Errorf("--force goes with a hand-over, not with --cancel")
	}
	return control.FailoverArgs{Instance: f.instance, Cancel: f.cancel, Force: f.force, TimeoutMS: f.timeout.Milliseconds()}, nil
}

func newFailover(g *globals) *cobra.Command {
	f := failoverFlags{}
	cmd := &cobra.Command{
		Use:   "failover [--instance NAME] [--timeout 10s] [--cancel] [--force] [--json]",
		Short: "Hand the VIPs to the peer director on purpose, and wait until it holds them",
		Long: `Hand the VIPs of this director's MASTER VRRP instances to the peer on purpose
(before maintenance of this host, say), without failed requests: each instance
(--instance NAME: that one; default: every instance this director is MASTER
of; an instance of a vrrp_sync_group brings its whole group) removes its VIPs,
hands its IPVS connections to the peer, then sends a priority-0 advert, so that
the peer takes over after its skew time (well within one advert interval)
instead of Master_Down_Interval. The command returns once the peer is heard
advertising as master for each instance, and says from which address and how
long after the release; or at --timeout, saying what it saw.

Connections: with lvs_sync_daemon configured, the release reads the IPVS
connection table and sends the instance's connections to the peer's backup
sync daemon in the kernel's sync protocol (bounded by 300 ms), so that the peer
forwards established connections to the same real servers, including those
the master sync daemon had not synced yet. Without lvs_sync_daemon nothing is
handed over: established connections then depend on the real servers'
answers only (in DR mode the peer schedules them afresh). Every release of a
MASTER by tandem-director hands its connections over the same way: a clean
stop (SIGTERM), FAULT, a higher priority heard.

Afterwards the instances yield: they stay BACKUP while the peer advertises,
whatever their priority, so they do not preempt back; if the peer goes silent
(Master_Down_Interval), they take the VIPs over as usual, which ends the
yield. The yield shows in status, is kept across a reload (even one that
restarts the instance), and is cleared by a restart of the director. Undo it
with failover --cancel: the instances preempt back if their priority says so
(after at most Master_Down_Interval; the address owner, priority 255, at once),
and the command waits until they are MASTER again.

Refused, changing nothing: an instance that is not MASTER, and an instance
for which no peer is known to be ready (a VRRP backup is silent: a peer is
known from its adverts heard since this director started, the fast-failover
probe, or an agent that hears another director as BACKUP); --force hands over
anyway (if nobody takes over, the VIPs come back after Master_Down_Interval).

Exit status: 0 handed over (or cancelled); 1 refused, nothing changed; 2 an
instance did not get there within --timeout. --json prints the result
(instance, from_state, state, yielding, peer, peer_priority, released_at,
peer_master_after_ms, master_after_ms, connections_handed_over,
hand_over_messages, hand_over_ms, hand_over_error, note, error).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			args, err := f.args()
			if err != nil {
				return err
			}
			// The daemon answers within the timeout; the margin covers
			// the request's own round trip.
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout+10*time.Second)
			defer cancel()
			res, err := g.daemon().failover(ctx, args)
			if err != nil {
				return err
			}
			if err := writeFailover(cmd.OutOrStdout(), res, f.asJSON); err != nil {
				return err
			}
			if !res.OK() {
				if !f.asJSON {
					fmt.Fprintln(cmd.ErrOrStderr(), "tandem-director: failover incomplete: see the instances above")
				}
				return ExitError{Code: exitFailoverIncomplete}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&f.instance, "instance", "", "the vrrp_instance (with its sync group); default: every MASTER instance (--cancel: every yielding one)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", control.DefaultFailoverTimeout, "how long to wait for the peer (--cancel: for MASTER again)")
	cmd.Flags().BoolVar(&f.cancel, "cancel", false, "stop yielding: the instances preempt back if their priority says so")
	cmd.Flags().BoolVar(&f.force, "force", false, "hand over even when no peer is known to be ready")
	cmd.Flags().BoolVar(&f.asJSON, "json", false, "print the result as JSON")
	return cmd
}

func (d daemon) failover(ctx context.Context, args control.FailoverArgs) (control.FailoverResult, error) {
	res, err := d.c.Failover(ctx, args)
	return res, explain(err, d.c.Path)
}

// writeFailover prints res as JSON or for a terminal.
func writeFailover(w io.Writer, res control.FailoverResult, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	printFailover(w, res)
	return nil
}

// printFailover renders a failover result for a terminal.
func printFailover(w io.Writer, res control.FailoverResult) {
	for _, in := range res.Instances {
		fmt.Fprintf(w, "%s (vrid %d", in.Instance, in.VRID)
		if in.SyncGroup != "" {
			fmt.Fprintf(w, ", sync group %s", in.SyncGroup)
		}
		fmt.Fprint(w, "): ")
		switch {
		case res.Cancel && in.State == "MASTER" && in.MasterAfterMS >= 0:
			fmt.Fprintf(w, "yield cancelled; MASTER again after %d ms\n", in.MasterAfterMS)
		case res.Cancel:
			fmt.Fprintf(w, "yield cancelled; %s\n", in.State)
		case in.Error == "":
			fmt.Fprintf(w, "%s -> %s; the peer %s (priority %d) is master %d ms after the release\n",
				in.FromState, in.State, in.Peer, in.PeerPriority, in.PeerMasterAfterMS)
		default:
			fmt.Fprintf(w, "%s -> %s\n", in.FromState, in.State)
		}
		if !res.Cancel && in.HandOverError == "" && in.Note == "" && in.Error == "" {
			fmt.Fprintf(w, "  connections handed over: %d in %d messages (%d ms)\n", in.ConnectionsHandedOver, in.HandOverMessages, in.HandOverMS)
		}
		if in.HandOverError != "" {
			fmt.Fprintf(w, "  connection hand-over FAILED after %d of them: %s\n", in.ConnectionsHandedOver, in.HandOverError)
		}
		if in.Note != "" {
			fmt.Fprintf(w, "  note: %s\n", in.Note)
		}
		if in.Error != "" {
			fmt.Fprintf(w, "  FAILED: %s\n", in.Error)
		}
		if in.Yielding {
			fmt.Fprintln(w, "  yielding: stays BACKUP while the peer advertises; `tandem-director failover --cancel` takes the VIPs back")
		}
	}
}
