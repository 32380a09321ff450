package cli

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/backend/app"
	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/shared/ctlsock"
)

func newCleanup(g *globals) *cobra.Command {
	var stateDir string
	var force bool
	cmd := &cobra.Command{
		Use:   "cleanup",
		Short: "Remove the VIPs from lo, the arp table and the check file (package purge)",
		Long: `Remove everything the agent put on this host: the VIPs on lo, its nftables arp
table and the check file. Stopping the agent leaves them in place on purpose;
this is for uninstalling. It works without the configuration file (it also reads
the record the daemon keeps in the state directory). It refuses while the daemon
runs, since the daemon would put everything back.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(g.config)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "note: %v; using the state directory's record only\n", err)
				cfg = nil
			}
			if stateDir == "" {
				stateDir = config.DefaultStateDir
				if cfg != nil {
					stateDir = cfg.StateDir
				}
			}
			if !force {
				err := g.call(cmd.Context(), app.OpStatus, nil, nil)
				if err == nil {
					return errors.New("the daemon is running and would put everything back: stop it first (systemctl stop tandem-backend), or use --force")
				}
				if !errors.Is(err, ctlsock.ErrNoDaemon) {
					return err
				}
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			rep, err := app.Cleanup(cfg, stateDir, log)
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "removed VIPs from lo: %v\n", rep.VIPs)
			if rep.Table != "" {
				fmt.Fprintf(out, "removed table arp %s (if it was there)\n", rep.Table)
			}
			if rep.CheckFile != "" {
				fmt.Fprintf(out, "removed check file %s\n", rep.CheckFile)
			}
			return err
		},
	}
	cmd.Flags().StringVar(&stateDir, "state-dir", "", "state directory (default: from the configuration, or "+config.DefaultStateDir+")")
	cmd.Flags().BoolVar(&force, "force", false, "do not check for a running daemon")
	return cmd
}
