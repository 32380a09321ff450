// Package cli defines the tandem-backend command line: the daemon (run) and
// the verbs that talk to it over the control socket. The definitions are also
// the source of the man page and shell completions.
package cli

import (
	"github.com/spf13/cobra"

	"github.com/tandemlb/tandem/shared/version"
)

// NewRoot returns the tandem-backend command tree.
func NewRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "tandem-backend",
		Short:         "LVS direct-routing real-server agent: VIP on lo, ARP guard, /check.txt, maintenance, heartbeats",
		Version:       version.Version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	return root
}
