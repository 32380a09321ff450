package cli_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/e2e/netlab"
	"github.com/tandemlb/tandem/shared/testutil"
)

// trackedConf is a keepalived.conf whose instance VI0 (and, with a sync
// group, VI1) tracks a vrrp_script that tests a file: `test -f FILE`.
// %[1]s router_id, %[2]s the file, %[3]d the priority, %[4]s the script's
// extra lines (weight), %[5]s what follows the instances.
const trackedConf = `global_defs {
    router_id %[1]s
}
vrrp_script chk_app {
    script "test -f %[2]s"
    interval 1
    fall 1
    rise 1
%[4]s
}
vrrp_instance VI0 {
    state BACKUP
    interface eth0
    virtual_router_id 100
    priority %[3]d
    advert_int 1
    virtual_ipaddress {
        192.0.2.100/24 dev eth0
    }
    track_script {
        chk_app
    }
}
%[5]s`

// syncedVI1 is a second instance and the sync group of both.
const syncedVI1 = `vrrp_instance VI1 {
    state BACKUP
    interface eth0
    virtual_router_id 101
    priority %d
    advert_int 1
    virtual_ipaddress {
        192.0.2.101/24 dev eth0
    }
}
vrrp_sync_group G {
    group {
        VI0
        VI1
    }
}
`

// vipSample is which of the two VIPs a host held at one instant.
type vipSample struct {
	at       time.Time
	has0     bool // 192.0.2.100 (VI0)
	has1     bool // 192.0.2.101 (VI1)
	hostName string
}

// sampleVIPs polls the hosts' eth0 every 10 ms until stop is closed.
func sampleVIPs(t *testing.T, lab *netlab.Lab, hosts []string, stop <-chan struct{}) <-chan []vipSample {
	t.Helper()
	out := make(chan []vipSample, 1)
	nls := map[string]*netlabNL{}
	for _, host := range hosts {
		nl, err := lab.Netlink(host)
		if err != nil {
			t.Fatal(err)
		}
		nls[host] = &netlabNL{h: nl}
	}
	go func() {
		var samples []vipSample
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				out <- samples
				return
			case <-tick.C:
			}
			for _, host := range hosts {
				s := vipSample{at: time.Now(), hostName: host}
				s.has0, s.has1 = nls[host].vips()
				samples = append(samples, s)
			}
		}
	}()
	return out
}

// firstHeld is when host first held VI0's VIP after from, zero if never.
func firstHeld(samples []vipSample, host string, from time.Time) time.Time {
	for _, s := range samples {
		if s.hostName == host && s.has0 && !s.at.Before(from) {
			return s.at
		}
	}
	return time.Time{}
}

// startTracked starts a director on host with conf and waits for its
// control socket.
func (r *drig) startTracked(host, conf string) (*netlab.Process, string) {
	r.t.Helper()
	path := r.write(host+".conf", conf)
	sock := filepath.Join(r.dir, host+".sock")
	p, err := r.lab.Start(host, r.bin, "run", "--config", path, "--socket", sock)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { p.Stop(5 * time.Second) })
	answers := func() bool {
		if _, err := os.Stat(sock); err != nil {
			return false
		}
		_, err := r.cli("status", "--socket", sock)
		return err == nil
	}
	if !testutil.WaitFor(10*time.Second, answers) {
		r.t.Fatalf("%s: no control socket\n%s", host, p.Output())
	}
	return p, sock
}

// TestNetnsDirectorTrackScript: two directors, lb1 (priority 150, or 110
// with weight -20) master; a vrrp_script `test -f …/lb1-up` on each.
// Removing lb1's file moves the VIP to lb2:
//
//   - weight 0 (with a sync group of VI0 and VI1): lb1 goes FAULT and
//     sends priority 0, lb2 takes over after its Skew_Time; bound
//     interval × fall + advert_int + 1 s = 3 s. Both members of the group
//     must be in one state on each host all along (sampled every 10 ms).
//   - weight -20 (lb1 110 → 90 < 100): lb1 stays master at 90; lb2
//     discards its lower-priority adverts and takes over when its
//     Master_Down_Timer runs out; bound interval × fall +
//     Master_Down_Interval (3.609 s) + 1 s.
func TestNetnsDirectorTrackScript(t *testing.T) {
	t.Run("weight 0, sync group", func(t *testing.T) {
		r := newDRig(t)
		up1, up2 := filepath.Join(r.dir, "lb1-up"), filepath.Join(r.dir, "lb2-up")
		for _, f := range []string{up1, up2} {
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		p1, s1 := r.startTracked("lb1", fmt.Sprintf(trackedConf, "lb1", up1, 150, "", fmt.Sprintf(syncedVI1, 150)))
		if st := r.waitRole(s1, "master", 10*time.Second); st.Role != "master" {
			t.Fatalf("lb1 not master: %+v\n%s", st.VRRP, p1.Output())
		}
		p2, s2 := r.startTracked("lb2", fmt.Sprintf(trackedConf, "lb2", up2, 100, "", fmt.Sprintf(syncedVI1, 100)))
		if st := r.waitRole(s2, "backup", 10*time.Second); st.Role != "backup" {
			t.Fatalf("lb2 not backup: %+v\n%s", st.VRRP, p2.Output())
		}
		text, _ := r.cli("status", "--socket", s1)
		t.Logf("lb1 status before:\n%s", text)

		stop := make(chan struct{})
		samples := sampleVIPs(t, r.lab, []string{"lb1", "lb2"}, stop)
		testutil.Settle(300 * time.Millisecond) // samples before the event
		removed := time.Now()
		if err := os.Remove(up1); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(6*time.Second, func() bool { return hasVIP(t, r.lab, "lb2") })
		testutil.Settle(time.Second) // settled: the sampler watches both members after the takeover
		close(stop)
		all := <-samples
		took := firstHeld(all, "lb2", removed).Sub(removed)
		t.Logf("weight 0: VIP on lb2 %.3f s after the file was removed (bound 3 s)", took.Seconds())
		if took <= 0 || took > 3*time.Second {
			t.Errorf("takeover after %v, want ≤ 3s\nlb1:\n%s\nlb2:\n%s", took, p1.Output(), p2.Output())
		}
		checkSynced(t, all)
		st := r.status(s1)
		for _, v := range st.VRRP {
			if v.State != "FAULT" {
				t.Errorf("lb1 %s %s, want FAULT", v.Instance, v.State)
			}
		}
		if len(st.VRRP) > 0 && !strings.Contains(strings.Join(st.VRRP[0].FaultSources, ";"), "script chk_app: failed") {
			t.Errorf("lb1 VI0 fault sources %q", st.VRRP[0].FaultSources)
		}
		if len(st.SyncGroups) != 1 || st.SyncGroups[0].State != "FAULT" {
			t.Errorf("lb1 sync groups %+v", st.SyncGroups)
		}
		text, _ = r.cli("status", "--socket", s1)
		t.Logf("lb1 status after:\n%s", text)

		// The file back: lb1 leaves FAULT and, priority 150, preempts.
		if err := os.WriteFile(up1, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		if st := r.waitRole(s1, "master", 10*time.Second); st.Role != "master" {
			t.Errorf("lb1 not master again: %+v", st.VRRP)
		}
	})

	t.Run("weight -20", func(t *testing.T) {
		r := newDRig(t)
		up1, up2 := filepath.Join(r.dir, "lb1-up"), filepath.Join(r.dir, "lb2-up")
		for _, f := range []string{up1, up2} {
			if err := os.WriteFile(f, nil, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		p1, s1 := r.startTracked("lb1", fmt.Sprintf(trackedConf, "lb1", up1, 110, "    weight -20", ""))
		if st := r.waitRole(s1, "master", 10*time.Second); st.Role != "master" {
			t.Fatalf("lb1 not master: %+v\n%s", st.VRRP, p1.Output())
		}
		p2, s2 := r.startTracked("lb2", fmt.Sprintf(trackedConf, "lb2", up2, 100, "    weight -20", ""))
		if st := r.waitRole(s2, "backup", 10*time.Second); st.Role != "backup" {
			t.Fatalf("lb2 not backup: %+v\n%s", st.VRRP, p2.Output())
		}
		stop := make(chan struct{})
		samples := sampleVIPs(t, r.lab, []string{"lb2"}, stop)
		testutil.Settle(300 * time.Millisecond) // samples before the event
		removed := time.Now()
		if err := os.Remove(up1); err != nil {
			t.Fatal(err)
		}
		testutil.WaitFor(8*time.Second, func() bool { return hasVIP(t, r.lab, "lb2") })
		// The sampler ticks on its own: let it record the VIP it may not
		// have seen yet (closing at once left it none, 1 run in ~40).
		testutil.Settle(100 * time.Millisecond)
		close(stop)
		took := firstHeld(<-samples, "lb2", removed).Sub(removed)
		bound := time.Second + 3609375*time.Microsecond + time.Second
		t.Logf("weight -20: VIP on lb2 %.3f s after the file was removed (bound %.3f s)", took.Seconds(), bound.Seconds())
		if took <= 0 || took > bound {
			t.Errorf("takeover after %v, want ≤ %v\nlb1:\n%s\nlb2:\n%s", took, bound, p1.Output(), p2.Output())
		}
		st := r.status(s1)
		if len(st.VRRP) != 1 || st.VRRP[0].Priority != 90 || st.VRRP[0].BasePriority != 110 || st.VRRP[0].State != "BACKUP" {
			t.Errorf("lb1 after: %+v", st.VRRP)
		}
		if hasVIP(t, r.lab, "lb1") {
			t.Error("lb1 still holds the VIP")
		}
		text, _ := r.cli("status", "--socket", s1)
		t.Logf("lb1 status after:\n%s", text)
	})
}

// checkSynced counts the samples where a host held one member's VIP and
// not the other's. The members act on the group's order in their own
// goroutines, each adding (or removing) its VIPs through its own netlink
// call, so one instant of the transition may show one VIP without the
// other: that is tolerated for at most 5 consecutive samples (50 ms) per
// transition; outside such a run there must be none.
func checkSynced(t *testing.T, samples []vipSample) {
	t.Helper()
	run := map[string]int{}
	total := 0
	for _, s := range samples {
		if s.has0 != s.has1 {
			run[s.hostName]++
			total++
			if run[s.hostName] > 5 {
				t.Errorf("%s held one member's VIP without the other's for more than 50 ms (at %s)", s.hostName, s.at.Format("15:04:05.000"))
			}
			continue
		}
		run[s.hostName] = 0
	}
	t.Logf("sync group: %d samples of %d (10 ms apart) with the two members' VIPs apart", total, len(samples))
}

// netlabNL reads a host's VIPs through its netlink handle.
type netlabNL struct{ h *netlink.Handle }

func (n *netlabNL) vips() (has0, has1 bool) {
	link, err := n.h.LinkByName("eth0")
	if err != nil {
		return false, false
	}
	addrs, _ := n.h.AddrList(link, 2) // AF_INET
	for _, a := range addrs {
		switch a.IP.String() {
		case "192.0.2.100":
			has0 = true
		case "192.0.2.101":
			has1 = true
		}
	}
	return has0, has1
}
