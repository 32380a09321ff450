// Command tandem-backend runs on each real server. See backend/cli.
package main

import (
	"fmt"
	"os"

	"github.com/tandemlb/tandem/backend/cli"
)

func main() {
	if err := cli.NewRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "tandem-backend:", err)
		os.Exit(1)
	}
}
