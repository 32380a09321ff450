// Package cli defines the tandem-director command line: the daemon (run) and
// the verbs that talk to it over the control socket. The definitions are also
// the source of the man page and shell completions.
package cli

import (
	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/shared/version"
)

// NewRoot returns the tandem-director command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "tandem-director",
		Short:         "LVS direct-routing director: VRRP, IPVS, health checks and graceful drain",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	return root
}
