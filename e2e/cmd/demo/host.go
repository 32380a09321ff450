package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/tandemlb/tandem/e2e/vm"
)

const foundationBanner = `================================================================
 Tandem demo: the FOUNDATION LAB
 client -> VIP %s:80 -> IPVS director (lc, direct routing)
        -> rs1 / rs2, replies straight back to the client.
 IPVS is configured by the lab itself (moby/ipvs) and the real
 servers' ARP guard is the lab's own nft arp table:
 tandem-director and tandem-backend are NOT wired in yet.
================================================================
`

const banner = `================================================================
 Tandem demo
 client -> VIP 10.99.0.100:80 -> dir1 / dir2 (tandem-director,
 VRRP, IPVS lc + direct routing) -> rs1 / rs2 (tandem-backend
 + a small web app), replies straight back; a sorry server.
 The same service on the IPv6 VIP [2001:db8:99::100]:80 (step 8).
 Eight steps, one line per second of traffic, a summary at the end.
================================================================
`

// hasIPVS reports whether this kernel has ip_vs loaded or built in.
func hasIPVS() bool {
	_, err := os.Stat("/proc/net/ip_vs")
	return err == nil
}

// runHost runs the lab here when the kernel has ip_vs, else boots the guest
// with this same binary as its command.
func runHost(ctx context.Context, stdout, stderr io.Writer, foundation bool, seconds int, bin string) int {
	if os.Geteuid() != 0 {
		return exitf("needs root (network namespaces, IPVS, QEMU's 9p share of /); run `sudo make demo`")
	}
	self, err := os.Executable()
	if err != nil {
		return exitf("locate own binary: %v", err)
	}
	if bin, err = filepath.Abs(bin); err != nil {
		return exitf("%v", err)
	}
	start := time.Now()
	args := []string{"-guest", "-bin", bin}
	timeout := 8 * time.Minute
	if foundation {
		fmt.Fprintf(stdout, foundationBanner, "10.99.0.100")
		args = append(args, "-foundation", "-seconds", strconv.Itoa(seconds))
		timeout += time.Duration(seconds) * time.Second
	} else {
		fmt.Fprint(stdout, banner)
		if !foundation && hasIPVS() {
			fmt.Fprintf(stdout, "this kernel has ip_vs: the lab runs here, in network namespaces\n")
			code := runProd(ctx, stdout, bin)
			fmt.Fprintf(stdout, "wall time %v\n", time.Since(start).Round(100*time.Millisecond))
			return code
		}
	}
	fmt.Fprintf(stdout, "this kernel has no ip_vs: booting Debian's ip_vs kernel under QEMU (first run downloads and builds it)...\n")
	res, err := vm.Run(ctx, vm.Options{
		Command: append([]string{self}, args...),
		Timeout: timeout,
		Stdout:  stdout,
		Log:     stderr,
	})
	if err != nil {
		return exitf("%v", err)
	}
	fmt.Fprintf(stdout, "VM: kernel %s (%s), boot to command %v, wall time %v\n",
		res.Kernel, res.Accel, res.Boot.Round(100*time.Millisecond), time.Since(start).Round(100*time.Millisecond))
	if res.ExitCode != 0 {
		return exitf("the guest side failed (exit status %d)", res.ExitCode)
	}
	return 0
}
