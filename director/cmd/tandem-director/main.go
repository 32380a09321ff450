// Command tandem-director runs on each load-balancer host. See director/cli.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/tandemlb/tandem/director/cli"
)

func main() {
	if err := cli.NewRoot().Execute(); err != nil {
		var exit cli.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.Code)
		}
		fmt.Fprintln(os.Stderr, "tandem-director:", err)
		os.Exit(1)
	}
}
