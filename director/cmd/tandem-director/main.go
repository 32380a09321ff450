// Command tandem-director runs on each load-balancer host. See director/cli.
package main

import (
	"fmt"
	"os"

	"github.com/tandemlb/tandem/director/cli"
)

func main() {
	if err := cli.NewRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tandem-director:", err)
		os.Exit(1)
	}
}
