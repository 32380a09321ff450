package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/tandemlb/tandem/e2e/drlab"
)

// runGuest builds the foundation lab and drives traffic through the VIP for d.
func runGuest(ctx context.Context, out io.Writer, d time.Duration) int {
	if os.Getenv("TANDEM_IN_VM") == "" {
		return exitf("-guest runs inside the VM only; run the demo without flags")
	}
	lab, err := drlab.New(nil, drlab.Options{ArpTable: true})
	if err != nil {
		return exitf("%v", err)
	}
	defer func() {
		if err := lab.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "demo: teardown: %v\n", err)
		}
	}()
	fmt.Fprintf(out, "lab %s up: client %s, director %s (VIP %s), rs1 %s, rs2 %s\n",
		lab.Net.Tag(), drlab.ClientIP, drlab.DirectorIP, drlab.VIP, drlab.RS1IP, drlab.RS2IP)
	if adm, err := lab.IPVSAdm(); err == nil {
		fmt.Fprintf(out, "ipvsadm -Ln on the director:\n%s", indent(adm))
	}
	capture, err := lab.StartCapture(ctx)
	if err != nil {
		return exitf("%v", err)
	}
	fmt.Fprintf(out, "sending HTTP requests from the client to %s:80 for %v...\n", drlab.VIP, d)
	total := lab.Traffic(ctx, d, 50*time.Millisecond, 100000, func(second int, last, total drlab.Tally) {
		fmt.Fprintf(out, "t=%2ds  rs1 %3d/s  rs2 %3d/s  failures %d  | total rs1 %4d  rs2 %4d  failures %d\n",
			second, last.Served[drlab.RS1], last.Served[drlab.RS2], last.Failed,
			total.Served[drlab.RS1], total.Served[drlab.RS2], total.Failed)
	})
	sum, err := capture.Stop(ctx)
	if err != nil {
		return exitf("%v", err)
	}
	fmt.Fprintf(out, "director's eth0 saw: %d packets from the client, %d forwarded to rs1, %d to rs2, %d replies from the VIP (direct return: want 0)\n",
		sum.FromClient, sum.Forwarded[drlab.RS1], sum.Forwarded[drlab.RS2], sum.DirectorReplies)
	for _, e := range total.Errors {
		fmt.Fprintf(out, "failure: %s\n", e)
	}
	ok := total.Failed == 0 && total.Served[drlab.RS1] > 0 && total.Served[drlab.RS2] > 0 && sum.DirectorReplies == 0
	if !ok {
		fmt.Fprintf(out, "RESULT: FAIL (served %v, failures %d, director replies %d)\n", total.Served, total.Failed, sum.DirectorReplies)
		return 1
	}
	fmt.Fprintf(out, "RESULT: OK: %d requests through the VIP, rs1 %d, rs2 %d, no failures, replies bypassed the director\n",
		total.Total(), total.Served[drlab.RS1], total.Served[drlab.RS2])
	return 0
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
