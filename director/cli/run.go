package cli

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/director/app"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/shared/logging"
)

func newRun(g *globals) *cobra.Command {
	var (
		logFlags logging.Flags
		insecure bool
	)
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the director (as the systemd service does)",
		Long: `Run the director in the foreground until SIGTERM or SIGINT; SIGHUP reloads the
configuration. Under systemd (Type=notify) it sends READY=1 once the IPVS table
has been adopted and reconciled, a STATUS= line, and WATCHDOG=1 from its main
loop.

The log flags override the configuration's logging section. keepalived's
KEEPALIVED_OPTIONS="-D -S 1" (detailed log, syslog facility local1) is
--log-level debug --syslog --syslog-facility local1.

A configuration without virtual_server runs VRRP only and never touches IPVS
(keepalived -P); one with services needs the ip_vs module.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loader := &config.Loader{} // kept for reloads: see app.Options.Loader
			cfg, err := loader.Load(g.config)
			if err != nil {
				return err
			}
			lc := cfg.Logging
			ls := logFlags.Apply(logging.Settings{Format: lc.Format, Level: lc.Level, Syslog: lc.Syslog, Facility: lc.Facility})
			log, leveler, closeLog, err := logging.Open(ls, "tandem-director", cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeLog()
			if os.Geteuid() != 0 {
				log.Warn("not running as root: VRRP, IPVS and netlink need CAP_NET_ADMIN and CAP_NET_RAW")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			a := app.New(cfg, app.Options{
				Log: log, LogLevel: leveler, LevelFromFlag: logFlags.LevelSet(),
				Socket: g.socket, InsecureHeartbeat: insecure, Loader: loader,
			})
			if err := a.Run(ctx); err != nil {
				log.Error("director failed", "err", err)
				return fmt.Errorf("cannot run: %w", err)
			}
			return nil
		},
	}
	f := cmd.Flags()
	logFlags.Register(f, "logging")
	f.BoolVar(&insecure, "insecure-heartbeat", false, "start even without a usable heartbeat key (logged loudly; without a key the agent listener is off)")
	return cmd
}
