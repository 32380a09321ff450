package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/tandemlb/tandem/e2e/vm"
)

const banner = `================================================================
 Tandem demo: the FOUNDATION LAB
 client -> VIP %s:80 -> IPVS director (lc, direct routing)
        -> rs1 / rs2, replies straight back to the client.
 IPVS is configured by the lab itself (moby/ipvs) and the real
 servers' ARP guard is the lab's own nft arp table:
 tandem-director and tandem-backend are NOT wired in yet.
================================================================
`

// runHost boots the guest with this same binary as its command.
func runHost(ctx context.Context, stdout, stderr io.Writer, seconds int) int {
	if os.Geteuid() != 0 {
		return exitf("needs root (QEMU's 9p share of / and the guest's namespaces); run `sudo make demo`")
	}
	self, err := os.Executable()
	if err != nil {
		return exitf("locate own binary: %v", err)
	}
	fmt.Fprintf(stdout, banner, "10.99.0.100")
	fmt.Fprintf(stdout, "booting Debian's ip_vs kernel under QEMU (first run downloads and builds it)...\n")
	start := time.Now()
	res, err := vm.Run(ctx, vm.Options{
		Command: []string{self, "-guest", "-seconds", strconv.Itoa(seconds)},
		Timeout: time.Duration(seconds)*time.Second + 8*time.Minute,
		Stdout:  stdout,
		Log:     stderr,
	})
	if err != nil {
		return exitf("%v", err)
	}
	fmt.Fprintf(stdout, "VM: kernel %s (%s), boot to command %v, total %v\n",
		res.Kernel, res.Accel, res.Boot.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	if res.ExitCode != 0 {
		return exitf("the guest side failed (exit status %d)", res.ExitCode)
	}
	return 0
}
