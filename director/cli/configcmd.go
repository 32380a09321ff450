package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/director/app"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/shared/atomicfile"
)

// DefaultKeepalivedConfig is the file migrate reads when neither FILE,
// --config nor $TANDEM_CONFIG names one.
const DefaultKeepalivedConfig = "/etc/keepalived/keepalived.conf"

// loadChecked loads and validates a configuration: config.Load plus what
// the daemon would refuse (app.Validate). When only app.Validate fails,
// the configuration is returned with the error, for its warnings.
func loadChecked(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	if err := app.Validate(cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// printErrors writes an ErrorList one "file:line: message" line each and
// returns ExitError 1; another error is returned as it is.
func printErrors(w io.Writer, err error) error {
	var list config.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			fmt.Fprintln(w, e.Error())
		}
		return ExitError{Code: 1}
	}
	return err
}

// plural returns "1 warning" or "N warnings".
func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func newCheckConfig(g *globals) *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "check-config [FILE]",
		Short: "Validate a configuration file (native YAML or keepalived.conf); exit 0 if valid, 1 with file:line: errors",
		Long: `Validate a configuration file, in either format (detected by content): exit 0
and print a summary when the daemon would run it, else print one
"file:line: message" line per problem and exit 1. A file with only comments
is an error (nothing to run). The service runs this before every start and
reload.

A keepalived.conf may also give warnings: what keepalived 2.2.7 accepts with
a message of its own (an unknown keyword, an option Tandem does not apply, a
value keepalived corrects). Each is printed on standard error as
"file:line: keyword "x": what keepalived does and what Tandem does", after
the errors if any; warnings alone exit 0, unless --strict makes them errors
(exit 1). tandem-director migrate writes the file as native YAML with each
warning as a comment where it applies.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := g.config
			if len(args) == 1 {
				path = args[0]
			}
			cfg, err := loadChecked(path)
			var warnings config.ErrorList
			if cfg != nil {
				warnings = cfg.Warnings
			}
			stderr := cmd.ErrOrStderr()
			if err != nil {
				err = printErrors(stderr, err)
				for _, w := range warnings {
					fmt.Fprintln(stderr, w.Error())
				}
				return err
			}
			for _, w := range warnings {
				fmt.Fprintln(stderr, w.Error())
			}
			if strict && len(warnings) > 0 {
				them := "them errors"
				if len(warnings) == 1 {
					them = "it an error"
				}
				fmt.Fprintf(stderr, "%s; --strict makes %s\n", plural(len(warnings), "warning"), them)
				return ExitError{Code: 1}
			}
			rs := 0
			for _, s := range cfg.Services {
				rs += len(s.RealServers)
			}
			extra := ""
			if len(warnings) > 0 {
				extra = ", " + plural(len(warnings), "warning")
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: OK (%s; %d vrrp_instance, %d virtual_server, %d real_server%s)\n",
				path, cfg.Format, len(cfg.VRRP), len(cfg.Services), rs, extra)
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "treat every warning as an error (exit 1 when there is any)")
	return cmd
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

func newMigrate(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "migrate [FILE]",
		Short: "Write a keepalived.conf as the native YAML, with each warning as a comment where it applies",
		Long: `Read a keepalived.conf (FILE, else --config or $TANDEM_CONFIG, else
` + DefaultKeepalivedConfig + `) and write it as the native YAML file, on
standard output or, with --output, to a file (replaced atomically).

The output starts with a comment saying where it came from and how many
warnings the keepalived.conf gave. Each warning (what check-config prints
for it) is a "# warning: file:line: ..." comment at the element it concerns:
the vrrp instance, virtual server, real server, check, tracked script,
process or file, or sync group whose block holds that line; the others
(global_defs, blocks keepalived drops) are at the top. Review them: the
native file says exactly what Tandem runs, without them.

A file that does not load is refused (exit 1 with its errors), and so is a
native YAML file. The output is read back before it is written; if it does
not load as native YAML (say an instance without virtual_ipaddress, which
only a keepalived.conf may have), it is written all the same, its errors
are printed and the exit status is 1: fix them in the output.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := DefaultKeepalivedConfig
			switch {
			case len(args) == 1:
				path = args[0]
			case cmd.Flags().Changed("config") || os.Getenv("TANDEM_CONFIG") != "":
				path = g.config
			}
			stderr := cmd.ErrOrStderr()
			cfg, err := loadChecked(path)
			if err != nil {
				fmt.Fprintf(stderr, "%s does not load; nothing migrated:\n", path)
				return printErrors(stderr, err)
			}
			if cfg.Format != config.FormatKeepalived {
				fmt.Fprintf(stderr, "%s is already native YAML: nothing to migrate (show-config prints it normalised)\n", path)
				return ExitError{Code: 1}
			}
			b, err := config.MarshalMigration(cfg, migrateHeader(path, cfg))
			if err != nil {
				return err
			}
			name := output
			if name == "" {
				name = "<stdout>"
			}
			check := func() error {
				back, err := config.ParseNative(name, b)
				if err == nil {
					err = app.Validate(back)
				}
				return err
			}
			loadErr := check()
			if output == "" {
				if _, err := cmd.OutOrStdout().Write(b); err != nil {
					return err
				}
			} else {
				if err := atomicfile.Write(output, b, 0o640); err != nil {
					return fmt.Errorf("write %s: %w", output, err)
				}
				fmt.Fprintf(stderr, "%s: written from %s (%s)\n", output, path, plural(len(cfg.Warnings), "warning"))
			}
			if loadErr != nil {
				fmt.Fprintf(stderr, "the migrated file does not load as native YAML; fix these in it:\n")
				return printErrors(stderr, loadErr)
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file (atomically) instead of standard output")
	return cmd
}

// migrateHeader is the first comment of migrate's output.
func migrateHeader(path string, cfg *config.Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "tandem-director native configuration, written by `tandem-director migrate`\nfrom the keepalived.conf %s", path)
	if len(cfg.Files) > 1 {
		fmt.Fprintf(&b, " (with %s)", strings.Join(cfg.Files[1:], ", "))
	}
	b.WriteString(".\n")
	switch n := len(cfg.Warnings); n {
	case 0:
		b.WriteString("It gave no warning.")
	default:
		fmt.Fprintf(&b, "It gave %s: each \"warning:\" comment below sits at the element it\nconcerns and says what keepalived does and what Tandem does.", plural(n, "warning"))
	}
	b.WriteString("\nSettings equal to the native defaults are left out (docs/config-director.md).")
	return b.String()
}
