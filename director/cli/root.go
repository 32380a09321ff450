// Package cli defines the tandem-director command line: the daemon (run),
// the configuration tools (check-config, show-config, migrate), the verbs that talk
// to the daemon over its control socket (status, drain, undrain, reload,
// failover),
// connections (the kernel's IPVS connection table, read directly) and
// doctor. The definitions are also the source of the man page and
// shell completions.
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/director/app"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/reload"
	"github.com/tandemlb/tandem/shared/ctlsock"
	"github.com/tandemlb/tandem/shared/version"
)

// DefaultConfig is the configuration file when neither --config nor
// $TANDEM_CONFIG names one.
const DefaultConfig = "/etc/tandem/director.yaml"

// globals are the persistent flags.
type globals struct {
	config string
	socket string
}

// ExitError ends the program with Code without printing anything more:
// the command already said what was wrong.
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// NewRoot returns the tandem-director command tree.
func NewRoot() *cobra.Command {
	g := &globals{}
	defCfg := DefaultConfig
	if env := os.Getenv("TANDEM_CONFIG"); env != "" {
		defCfg = env
	}
	root := &cobra.Command{
		Use:   "tandem-director",
		Short: "LVS direct-routing director: VRRP, IPVS, health checks and graceful drain",
		Long: `tandem-director runs on each load-balancer host of an LVS direct-routing (DR)
setup. It holds the virtual IPs with VRRP (wire-compatible with keepalived),
keeps the kernel's IPVS table in line with its configuration and the health of
the real servers (keepalived's HTTP_GET, SSL_GET and TCP_CHECK, plus the
tandem-backend agents' heartbeats), drains real servers gracefully, and puts
the sorry server in when no real server is left.

It reads its native YAML file or a keepalived.conf (detected by content).
The verbs other than run, check-config, show-config, migrate, connections and
doctor talk to the running daemon over its control socket (root only).`,
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.config, "config", "c", defCfg, "configuration file, native YAML or keepalived.conf (default $TANDEM_CONFIG, else "+DefaultConfig+")")
	root.PersistentFlags().StringVar(&g.socket, "socket", "", "control socket (default: the configuration's control_socket, else "+config.DefaultControlSocket+
		" in the host's network namespace and /run/tandem-director/director-netns-INODE.sock in any other)")
	root.AddCommand(
		newRun(g),
		newCheckConfig(g),
		newShowConfig(g),
		newMigrate(g),
		newStatus(g),
		newConnections(),
		newDrain(g, true),
		newDrain(g, false),
		newReload(g),
		newFailover(g),
		newDoctor(g),
		newKeys(g),
	)
	return root
}

// socketPath is --socket, or the configuration's, or the default of this
// network namespace: the path the daemon chose (app.ControlSocket).
func (g *globals) socketPath() string {
	if g.socket != "" {
		return g.socket
	}
	cfg, err := config.Load(g.config)
	if err != nil {
		cfg = nil // status and friends work without the file
	}
	return app.ControlSocket(cfg)
}

// daemon is the control API of the daemon the flags name, its errors
// explained for an operator.
func (g *globals) daemon() daemon {
	return daemon{control.Client{Path: g.socketPath()}}
}

// daemon wraps control.Client with operator-friendly errors.
type daemon struct{ c control.Client }

// status asks for the status; zero args: the plain one.
func (d daemon) status(ctx context.Context, args control.StatusArgs) (control.Status, error) {
	st, err := d.c.StatusWith(ctx, args)
	return st, explain(err, d.c.Path)
}

func (d daemon) drain(ctx context.Context, on bool, target, reason string) (control.DrainResult, error) {
	var res control.DrainResult
	var err error
	if on {
		res, err = d.c.Drain(ctx, control.DrainArgs{Target: target, Reason: reason})
	} else {
		res, err = d.c.Undrain(ctx, target)
	}
	return res, explain(err, d.c.Path)
}

func (d daemon) drainSelf(ctx context.Context, on bool) (control.DrainSelfResult, error) {
	res, err := d.c.DrainSelf(ctx, on)
	return res, explain(err, d.c.Path)
}

func (d daemon) reload(ctx context.Context) (control.ReloadResult, error) {
	res, err := d.c.Reload(ctx)
	return res, explain(err, d.c.Path)
}

func (d daemon) reloadPlan(ctx context.Context) (reload.Plan, error) {
	p, err := d.c.ReloadPlan(ctx)
	return p, explain(err, d.c.Path)
}

func explain(err error, path string) error {
	var re *ctlsock.RemoteError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ctlsock.ErrNotRoot):
		return explained{"must be run as root (the control socket is root only)", err}
	case errors.Is(err, ctlsock.ErrNoDaemon):
		msg := fmt.Sprintf("the tandem-director daemon is not running (nothing listens on %s); start it with `systemctl start tandem-director`", path)
		if path != config.DefaultControlSocket && strings.HasPrefix(filepath.Base(path), "director-netns-") {
			msg += "; this is the default socket of this network namespace: run the command in the daemon's namespace (`ip netns exec NAME tandem-director ...`) or name its socket with --socket"
		}
		return explained{msg, err}
	case errors.As(err, &re):
		return explained{re.Msg, err}
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

func newReload(g *globals) *cobra.Command {
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "reload",
		Short: "Make the daemon re-read its configuration (like SIGHUP); an invalid file keeps the running one and fails",
		Long: `Make the daemon re-read its configuration file, as SIGHUP does: the file is
parsed and validated, compared with the running configuration, and only the
difference is applied. IPVS is never flushed. A VRRP instance takes new values
live (priority, advert_int, VIPs, routes, preemption, auth_pass, notify
scripts, GARP settings, track_interface) and keeps its state; it restarts only
when its interface, virtual_router_id, version, unicast_src_ip, unicast_peer,
address family or sync group changed. An invalid file changes nothing: the
daemon keeps its running configuration and this command prints the errors and
exits non-zero.

With --dry-run the daemon computes the plan of that reload against the file on
disk and prints it, applying nothing: each VRRP instance (keep, update with the
fields, restart with the reason, add, remove), sync groups, trackers, IPVS
operations, checkers and listeners. --json prints it as JSON.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if dryRun {
				p, err := g.daemon().reloadPlan(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					enc := json.NewEncoder(out)
					enc.SetIndent("", "  ")
					return enc.Encode(p)
				}
				fmt.Fprint(out, p.String())
				return nil
			}
			if asJSON {
				return fmt.Errorf("--json goes with --dry-run")
			}
			res, err := g.daemon().reload(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "configuration reloaded: %s\n", res.Changes)
			return nil
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print what a reload of the file on disk would do; apply nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "with --dry-run: print the plan as JSON")
	return cmd
}
