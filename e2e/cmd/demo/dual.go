package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/ipvs"

	"github.com/tandemlb/tandem/e2e/loadgen"
	"github.com/tandemlb/tandem/e2e/prodlab"
)

// steps is the number of summary rows of a run in which every step ran.
const steps = 9

// vip6Addr is the IPv6 VIP's service address for a dialer.
var vip6Addr = "[" + prodlab.VIP6 + "]:80"

// dualStack is step 8: the client sends to the IPv4 and the IPv6 VIP at
// once; rs1 is drained with `maintenance on --wait` and comes back, then
// the master dies; both families are watched through all of it. It
// records two rows: the drain and the failover.
func (d *demo) dualStack(ctx context.Context) error {
	master, backup := d.p.Roles()
	if master == "" || backup == "" {
		return fmt.Errorf("before the dual-stack step: master %q backup %q", master, backup)
	}
	d.narrate(8, "dual stack: one service, an IPv4 and an IPv6 VIP",
		fmt.Sprintf("The service also answers on [%s]:80: VRRP v3 instance VI6, in one sync group with VI0,", prodlab.VIP6),
		"so both VIPs always sit on the same director, and a virtual_server with the servers' IPv6",
		"addresses. Each agent holds both VIPs on lo (/32 and /128) and reports for each of its two",
		fmt.Sprintf("addresses. The client sends %d requests a second to each VIP (lines v4 and v6). First", rate/2),
		"`maintenance on --wait` on rs1 drains it from both services, `maintenance off` brings it back;",
		fmt.Sprintf("then the master, %s, dies again (SIGKILL, eth0 down) and %s takes both VIPs at once.", master, backup))
	targets := []target{{label: "v4", addr: vip + ":80", rate: rate / 2}, {label: "v6", addr: vip6Addr, rate: rate / 2}}
	services := d.p.Family().Services()
	var began, drained, offAt, backAt, killed, tookVIPs time.Time
	var mout string
	var probes [2]loadgen.ProbeResult
	reps, err := d.loadOn(ctx, 14*time.Second, targets, func() error {
		time.Sleep(1500 * time.Millisecond)
		began = time.Now()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		o, err := d.p.Backend(c, "rs1", "maintenance", "on", "--wait", "--timeout", "20s", "--reason", "demo dual stack")
		drained, mout = time.Now(), o
		if err != nil {
			return fmt.Errorf("maintenance on --wait: %v\n%s", err, o)
		}
		time.Sleep(time.Second) // rs1 in maintenance: it answers nothing on either VIP
		offAt = time.Now()
		if o, err := d.p.Backend(ctx, "rs1", "maintenance", "off"); err != nil {
			return fmt.Errorf("maintenance off: %v\n%s", err, o)
		}
		for _, s := range services {
			if _, err := d.p.WaitIPVSOf(master, s.VIP, "rs1 back at weight 1", 10*time.Second, func(x map[string]ipvs.Destination) bool {
				return prodlab.Weight(x, s.RIPs["rs1"]) == 1
			}); err != nil {
				return err
			}
		}
		backAt = time.Now()
		time.Sleep(1500 * time.Millisecond)
		killed = time.Now()
		if err := d.p.Process(master).Signal(syscall.SIGKILL); err != nil {
			return err
		}
		if err := d.p.LinkSet(master, "eth0", false); err != nil {
			return err
		}
		<-d.p.Process(master).Done()
		d.p.Forget(master)
		var wg sync.WaitGroup
		errs := make([]error, len(targets))
		for i, tg := range targets {
			wg.Go(func() {
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				probes[i], errs[i] = loadgen.Probe(pctx, loadgen.ProbeConfig{
					Target:      loadgen.Target{Addr: tg.addr, Dial: d.p.Net.DialContext("client"), Timeout: 300 * time.Millisecond},
					Interval:    20 * time.Millisecond,
					MaxDuration: 10 * time.Second,
				}, killed)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				return fmt.Errorf("%s probe after the kill: %w", targets[i].label, err)
			}
		}
		deadline := time.Now().Add(6 * time.Second)
		for time.Now().Before(deadline) {
			if d.p.HasVIP(backup) { // both VIPs
				tookVIPs = time.Now()
				return nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return fmt.Errorf("%s did not take both VIPs within 6 s:\n%s", backup, prodlab.Tail(d.p.Process(backup).Output(), 30))
	})
	if err != nil {
		return err
	}
	d.say("%s", indent(strings.TrimSpace(mout)))

	// The drain, on both families.
	drainOK := true
	var nums []string
	for i, tg := range targets {
		r := reps[i]
		before := r.Window(r.Start, began)
		during := r.Window(r.Start, killed)
		after := r.Window(drained.Add(500*time.Millisecond), offAt).PerServer["rs1"]
		drainOK = drainOK && before.PerServer["rs1"] > 0 && before.PerServer["rs2"] > 0 && during.Failed == 0 && after == 0
		nums = append(nums, fmt.Sprintf("%s: before rs1 %d rs2 %d, failed %d, rs1 after drain %d", tg.label,
			before.PerServer["rs1"], before.PerServer["rs2"], during.Failed, after))
	}
	d.record("8 dual stack: drain rs1 on both", drainOK,
		"both VIPs served by both servers, rs1 drained from both, 0 failures",
		fmt.Sprintf("--wait returned after %s, back after %s; %s", ms(drained.Sub(began)), ms(backAt.Sub(offAt)), strings.Join(nums, "; ")))

	// The failover, on both families.
	foOK := !tookVIPs.IsZero()
	nums = nil
	for i, tg := range targets {
		p := probes[i]
		served := reps[i].Window(tookVIPs.Add(time.Second), reps[i].End).OK
		foOK = foOK && p.Recovered && p.Recovery <= 3*time.Second && served > 0
		nums = append(nums, fmt.Sprintf("%s answered after %s, %d served later", tg.label, ms(p.Recovery), served))
	}
	neigh, _ := d.p.Net.Exec("client", "ip", "-6", "neigh", "show", prodlab.VIP6, "dev", "eth0")
	mac, _ := d.p.Net.MAC(backup, "eth0")
	d.say("   %s holds both VIPs %s after the kill. The client's IPv6 neighbour entry for the VIP:", backup, ms(tookVIPs.Sub(killed)))
	d.say("   %s (%s's eth0 is %s: its unsolicited neighbour advertisement moved it).", strings.TrimSpace(neigh), backup, mac)
	d.record("8 dual stack: master killed", foOK && strings.Contains(neigh, mac.String()),
		"both families answered again within 3 s, the client's IPv6 entry on the new master",
		fmt.Sprintf("%s has both VIPs after %s; %s", backup, ms(tookVIPs.Sub(killed)), strings.Join(nums, "; ")))
	return nil
}
