package cli_test

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// reloadVRRP is nativeVRRP with a priority, preemption and fast failover
// (the watcher a heartbeat change used to restart, waiting 2 s).
const reloadVRRP = `version: 1
node: %[1]s
heartbeat:
  key_file: %[2]s/heartbeat.key
  interval: %[4]s
control_socket: %[2]s/%[1]s.sock
metrics:
  listen: 127.0.0.1:9480
fast_failover: {enabled: true, interval: 100ms, multiplier: 5}
vrrp_instances:
  - name: VI0
    interface: eth0
    virtual_router_id: 100
    priority: %[3]d
    advert_int: 1s
    authentication: {auth_type: PASS, auth_pass: password}
    virtual_ipaddress: [192.0.2.100/24 dev eth0]
`

// TestNetnsReloadPriorityOnly (issue 16, item 1): lb1 master at 150, lb2
// backup at 100, both tandem-director on one bridge. lb1's priority is
// edited to 140 (still the highest) and reloaded: the VIP never leaves
// lb1 (sampled every 5 ms) and a raw IP-proto-112 capture in lb2's
// namespace sees no priority-0 advert. Then a heartbeat setting changes
// on lb1: the reload returns well under 1 s (the fast-failover watcher is
// no longer restarted with a 2 s wait), the VIP still on lb1.
func TestNetnsReloadPriorityOnly(t *testing.T) {
	r := newDRig(t)
	procs := map[string]*netlab.Process{}
	defer func() {
		for _, p := range procs {
			p.Stop(5 * time.Second)
		}
	}()
	sock := func(lb string) string { return filepath.Join(r.dir, lb+".sock") }
	conf := func(lb string, prio int, hbInterval string) string {
		return r.write(lb+".yaml", fmt.Sprintf(reloadVRRP, lb, r.dir, prio, hbInterval))
	}
	nl := map[string]*netlink.Handle{}
	for _, lb := range []string{"lb1", "lb2"} {
		h, err := r.lab.Netlink(lb)
		if err != nil {
			t.Fatal(err)
		}
		nl[lb] = h
	}
	for _, x := range []struct {
		lb   string
		prio int
		role string
	}{{"lb1", 150, "master"}, {"lb2", 100, "backup"}} {
		p, err := r.lab.Start(x.lb, r.bin, "run", "--config", conf(x.lb, x.prio, "1s"))
		if err != nil {
			t.Fatal(err)
		}
		procs[x.lb] = p
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = p.WaitOutput(ctx, "msg=ready")
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", x.lb, err, p.Output())
		}
		if st := r.waitRole(sock(x.lb), x.role, 10*time.Second); st.Role != x.role {
			t.Fatalf("%s: role %q, want %s\n%s", x.lb, st.Role, x.role, p.Output())
		}
	}

	// The capture on lb2's side of the segment.
	var pc net.PacketConn
	if err := r.lab.Do("lb2", func() (err error) { pc, err = net.ListenPacket("ip4:112", "0.0.0.0"); return err }); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var adverts []string
	capDone := make(chan struct{})
	go func() {
		defer close(capDone)
		buf := make([]byte, 1500)
		for range 100000 {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if n >= 3 {
				mu.Lock()
				adverts = append(adverts, fmt.Sprintf("%s %d", from, buf[2]))
				mu.Unlock()
			}
		}
	}()
	// The sampler: lb1 must hold the VIP, alone, in every sample.
	stop, done := make(chan struct{}), make(chan struct{})
	var samples, bad int
	var badAt []string
	go func() {
		defer close(done)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for range 100000 {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			samples++
			if l1, l2 := holdsVIP(nl["lb1"]), holdsVIP(nl["lb2"]); !l1 || l2 {
				bad++
				badAt = append(badAt, fmt.Sprintf("%s lb1=%v lb2=%v", time.Now().Format("15:04:05.000"), l1, l2))
			}
		}
	}()
	testutil.Settle(1500 * time.Millisecond) // samples and adverts before any reload

	reload := func(what string) time.Duration {
		t.Helper()
		t0 := time.Now()
		out, err := r.cli("reload", "--socket", sock("lb1"))
		took := time.Since(t0)
		if err != nil {
			t.Fatalf("reload (%s): %v\n%s", what, err, out)
		}
		t.Logf("MEASURED reload of the master (%s): %s: %s", what, took.Round(time.Millisecond), strings.TrimSpace(out))
		return took
	}
	conf("lb1", 140, "1s")
	plan, err := r.cli("reload", "--dry-run", "--socket", sock("lb1"))
	if err != nil || !strings.Contains(plan, "update") || !strings.Contains(plan, "Priority") {
		t.Fatalf("dry run: %v\n%s", err, plan)
	}
	t.Logf("dry run:\n%s", plan)
	reload("priority 150 → 140")
	testutil.Settle(3 * time.Second) // samples and adverts after the first reload
	conf("lb1", 140, "2s")
	if took := reload("heartbeat interval 1s → 2s"); took >= 500*time.Millisecond {
		t.Errorf("a heartbeat change on the master took %s to reload, want well under 1s", took.Round(time.Millisecond))
	}
	testutil.Settle(1500 * time.Millisecond) // samples and adverts after the second reload
	close(stop)
	<-done
	pc.Close()
	<-capDone

	t.Logf("MEASURED %d VIP samples every 5 ms, %d without the VIP on lb1 alone", samples, bad)
	if bad > 0 {
		t.Errorf("the VIP left lb1 (or was on both) in %d samples: %v", bad, badAt[:min(len(badAt), 10)])
	}
	mu.Lock()
	defer mu.Unlock()
	zero, from1 := 0, 0
	for _, a := range adverts {
		if strings.HasPrefix(a, "192.0.2.2 ") {
			from1++
		}
		if strings.HasSuffix(a, " 0") {
			zero++
			t.Errorf("priority-0 advert: %s", a)
		}
	}
	t.Logf("MEASURED %d adverts captured on lb2's side (%d from lb1), %d with priority 0", len(adverts), from1, zero)
	if from1 == 0 {
		t.Fatal("no advert from lb1 captured: the capture did not work")
	}
	if st := r.status(sock("lb1")); st.Role != "master" || st.VRRP[0].Priority != 140 {
		t.Errorf("lb1 after the reloads: role %s priority %d", st.Role, st.VRRP[0].Priority)
	}
}
