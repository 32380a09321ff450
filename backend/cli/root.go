// Package cli defines the tandem-backend command line: the daemon (run) and
// the verbs that talk to it over the control socket. The definitions are also
// the source of the man page and shell completions.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/backend/app"
	"github.com/tandemlb/tandem/backend/config"
	"github.com/tandemlb/tandem/shared/ctlsock"
	"github.com/tandemlb/tandem/shared/logging"
	"github.com/tandemlb/tandem/shared/version"
)

// globals are the persistent flags.
type globals struct {
	config string
	socket string
}

// NewRoot returns the tandem-backend command tree.
func NewRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "tandem-backend",
		Short: "LVS direct-routing real-server agent: VIP on lo, ARP guard, /check.txt, maintenance, heartbeats",
		Long: `tandem-backend runs on each real server behind a Tandem (or keepalived) LVS-DR director.
It keeps the VIPs on lo, keeps the host from answering or sending ARP for them
(its own nftables arp table), probes the application and tells the directors
through /check.txt (or a check file) and authenticated heartbeats, and drains
the server on "maintenance on".

The verbs other than run, check-config and cleanup talk to the running daemon over
its control socket (root only).`,
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.config, "config", "c", config.DefaultPath, "configuration file")
	root.PersistentFlags().StringVar(&g.socket, "socket", "", "control socket (default: backend.sock in the configuration's runtime_dir, "+config.DefaultRuntimeDir+")")
	root.AddCommand(
		newRun(g),
		newCheckConfig(g),
		newStatus(g),
		newMaintenance(g),
		newReload(g),
		newDoctor(g),
		newCleanup(g),
	)
	return root
}

// socketPath is --socket, or the configuration's, or the default.
func (g *globals) socketPath() string {
	if g.socket != "" {
		return g.socket
	}
	if cfg, err := config.Load(g.config); err == nil {
		return cfg.ControlSocket()
	}
	return config.ControlSocketIn(config.DefaultRuntimeDir)
}

// call wraps ctlsock.Call with operator-friendly errors.
func (g *globals) call(ctx context.Context, op string, args, out any) error {
	return explain(ctlsock.Call(ctx, g.socketPath(), op, args, out), g.socketPath())
}

func explain(err error, path string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ctlsock.ErrNotRoot):
		return explained{"must be run as root (the control socket is root only)", err}
	case errors.Is(err, ctlsock.ErrNoDaemon):
		return explained{fmt.Sprintf("the tandem-backend daemon is not running (nothing listens on %s); start it with `systemctl start tandem-backend`", path), err}
	}
	return err
}

// explained is an error with an operator-friendly message that still
// unwraps to the original.
type explained struct {
	msg string
	err error
}

func (e explained) Error() string { return e.msg }
func (e explained) Unwrap() error { return e.err }

func newRun(g *globals) *cobra.Command {
	var logFlags logging.Flags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the agent (as the systemd service does)",
		Long: `Run the agent in the foreground until SIGTERM or SIGINT; SIGHUP reloads the
configuration. The log flags override the configuration's log section (a level
given here also wins over log.level at reload). keepalived's
KEEPALIVED_OPTIONS="-D -S 1" (detailed log, syslog facility local1) is
--log-level debug --syslog --syslog-facility local1.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(g.config)
			if err != nil {
				return err
			}
			lc := cfg.Log
			ls := logFlags.Apply(logging.Settings{Format: lc.Format, Level: lc.Level, Syslog: lc.Syslog, Facility: lc.Facility})
			log, leveler, closeLog, err := logging.Open(ls, "tandem-backend", cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer closeLog()
			if os.Geteuid() != 0 {
				log.Warn("not running as root: netlink and nftables will need CAP_NET_ADMIN")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			opts := app.Options{Log: log, LogLevel: leveler, Socket: g.socket}
			if logFlags.LevelSet() {
				opts.LogLevel = nil // the flag wins over log.level at reload
			}
			a := app.New(cfg, opts)
			if err := a.Run(ctx); err != nil {
				log.Error("agent failed", "err", err)
				return err
			}
			return nil
		},
	}
	logFlags.Register(cmd.Flags(), "log")
	return cmd
}

func newCheckConfig(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check-config [FILE]",
		Short: "Validate a configuration file; exit 0 if valid, 1 with file:line: key errors otherwise",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := g.config
			if len(args) == 1 {
				path = args[0]
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (%d VIPs, %d directors, probe %s, check %s, arp %s)\n",
				path, len(cfg.VIPs), len(cfg.Directors), cfg.Health.Type, cfg.Check.Mode, cfg.ARPMode)
			return nil
		},
	}
}

func newReload(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "reload",
		Short: "Make the daemon re-read its configuration (like SIGHUP); an invalid file keeps the running one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := g.call(cmd.Context(), app.OpReload, nil, nil); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "configuration reloaded")
			return nil
		},
	}
}

func printJSON(w io.Writer, v any) error {
	return writeJSON(w, v)
}
