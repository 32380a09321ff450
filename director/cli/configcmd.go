package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/director/app"
	"github.com/tandemlb/tandem/director/config"
)

// loadChecked loads and validates a configuration: config.Load plus what
// the daemon would refuse (app.Validate).
func loadChecked(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := app.Validate(cfg); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newCheckConfig(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check-config [FILE]",
		Short: "Validate a configuration file (native YAML or keepalived.conf); exit 0 if valid, 1 with file:line: errors",
		Long: `Validate a configuration file, in either format (detected by content): exit 0
and print a summary when the daemon would run it, else print one
"file:line: message" line per problem and exit 1. A file with only comments
is an error (nothing to run). The service runs this before every start and
reload.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := g.config
			if len(args) == 1 {
				path = args[0]
			}
			cfg, err := loadChecked(path)
			if err != nil {
				var list config.ErrorList
				if errors.As(err, &list) {
					for _, e := range list {
						fmt.Fprintln(cmd.ErrOrStderr(), e.Error())
					}
					return ExitError{Code: 1}
				}
				return err
			}
			rs := 0
			for _, s := range cfg.Services {
				rs += len(s.RealServers)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (%s; %d vrrp_instance, %d virtual_server, %d real_server)\n",
				path, cfg.Format, len(cfg.VRRP), len(cfg.Services), rs)
			return nil
		},
	}
}

func newShowConfig(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "show-config [FILE]",
		Short: "Print a configuration (native YAML or keepalived.conf) as the native YAML",
		Long: `Read a configuration file in either format and print the model as the native
YAML file: the migration path from a keepalived.conf. Settings equal to the
native defaults are left out (docs/config-director.md lists them).`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := g.config
			if len(args) == 1 {
				path = args[0]
			}
			cfg, err := config.Load(path)
			if err != nil {
				return err
			}
			b, err := config.MarshalNative(cfg)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
}
