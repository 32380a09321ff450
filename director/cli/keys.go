package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/spf13/cobra"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/shared/atomicfile"
	"github.com/tandemlb/tandem/shared/hbproto"
)

// newKeys is `keys`: the heartbeat keys of the agents (docs/heartbeat.md,
// "Key scopes").
func newKeys(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Heartbeat keys: derive each agent's key from the cluster secret",
		Long: `The directors' heartbeat key file holds the cluster secret. Each tandem-backend
agent holds its own key, derived from the secret and its real IP: with it an
agent can speak for its own address only (docs/heartbeat.md, "Key scopes").`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newKeysDerive(g))
	return cmd
}

func newKeysDerive(g *globals) *cobra.Command {
	var realIP, keyFile, out string
	var all bool
	cmd := &cobra.Command{
		Use:   "derive --real-ip ADDR [--key-file FILE] [--out FILE] | --all",
		Short: "Print (or write) the heartbeat key of the agent of a real server",
		Long: `Print the heartbeat key of the tandem-backend agent whose real IP is ADDR:
64 hex digits and a newline, derived from the cluster secret in --key-file
(default: the configuration's heartbeat.key_file). Install it as the agent's
key_file, mode 0600, owned by root. --out writes it to FILE instead (mode 0600,
atomically). --all prints "ADDR KEY" for every real server of the
configuration.`,
		Example: `  tandem-director keys derive --real-ip 10.99.0.11 --out /tmp/rs1.key
  scp /tmp/rs1.key rs1:/etc/tandem/heartbeat.key
  tandem-director keys derive --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all == (realIP != "") {
				return errors.New("give exactly one of --real-ip ADDR and --all")
			}
			if all && out != "" {
				return errors.New("--out writes one key: use it with --real-ip")
			}
			var cfg *config.Config
			if keyFile == "" || all {
				c, err := config.Load(g.config)
				switch {
				case err == nil:
					cfg = c
				case all:
					return err
				}
			}
			if keyFile == "" {
				keyFile = config.DefaultHeartbeatKeyFile
				if cfg != nil {
					keyFile = cfg.Heartbeat.KeyFile
				}
			}
			secret, err := hbproto.LoadKey(keyFile)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if all {
				for _, ip := range realServerIPs(cfg) {
					fmt.Fprintf(w, "%s %s\n", ip, hbproto.DeriveAgentKey(secret, ip))
				}
				return nil
			}
			ip, err := netip.ParseAddr(realIP)
			if err != nil || ip.Zone() != "" {
				return fmt.Errorf("--real-ip %q: not an IP address", realIP)
			}
			key := append(hbproto.DeriveAgentKey(secret, ip), '\n')
			if out == "" {
				_, err := w.Write(key)
				return err
			}
			if err := atomicfile.Write(out, key, 0o600); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote the key of %s to %s (mode 0600): install it as that agent's key_file\n", ip.Unmap(), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&realIP, "real-ip", "", "the agent's real IP (as in the configuration)")
	cmd.Flags().StringVar(&keyFile, "key-file", "", "the cluster secret (default: the configuration's heartbeat.key_file, else "+config.DefaultHeartbeatKeyFile+")")
	cmd.Flags().StringVar(&out, "out", "", "write the key to this file (mode 0600, atomically) instead of printing it")
	cmd.Flags().BoolVar(&all, "all", false, `print "ADDR KEY" for every real server of the configuration`)
	return cmd
}

// realServerIPs lists the real servers' addresses of cfg, sorted, once each.
func realServerIPs(cfg *config.Config) []netip.Addr {
	var ips []netip.Addr
	for _, s := range cfg.Services {
		for _, rs := range s.RealServers {
			ips = append(ips, rs.Addr.Addr().Unmap())
		}
	}
	slices.SortFunc(ips, netip.Addr.Compare)
	return slices.Compact(ips)
}
