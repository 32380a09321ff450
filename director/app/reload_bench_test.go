package app

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/shared/testutil"
)

// bigKeepalived is the reconcile benchmark's keepalived.conf (e2e/bench/
// reconcile): n services × 10 real servers without checks; real server 4
// of service n/2 has weight w, every other weight is 1.
func bigKeepalived(n, w int) string {
	var b strings.Builder
	b.WriteString("global_defs {\n    router_id bench\n}\n")
	for i := range n {
		fmt.Fprintf(&b, "\nvirtual_server 198.18.%d.%d 80 {\n    lb_algo wlc\n    lb_kind DR\n    protocol TCP\n", i/250, i%250+1)
		for j := range 10 {
			wt := 1
			if i == n/2 && j == 3 {
				wt = w
			}
			fmt.Fprintf(&b, "    real_server 198.19.0.%d 80 {\n        weight %d\n    }\n", j+1, wt)
		}
		b.WriteString("}\n")
	}
	return b.String()
}

// BenchmarkReloadOneWeight is SIGHUP after one weight changed in a
// keepalived.conf of 1,000 services × 10 real servers, on the fake kernel:
// read, validate, diff, apply. Each round checks that the fake kernel has
// the new weight and that nothing else was written.
func BenchmarkReloadOneWeight(b *testing.B) {
	const n = 1000
	h := startWith(b, bigKeepalived(n, 1), nil, func(o *Options) { o.InsecureHeartbeat = true })
	svc := lvs.Service{Protocol: lvs.TCP, Addr: netip.AddrFrom4([4]byte{198, 18, byte(n / 2 / 250), byte(n/2%250 + 1)}), Port: 80, Scheduler: "wlc"}
	rs := netip.MustParseAddr("198.19.0.4")
	texts := [2]string{bigKeepalived(n, 1), bigKeepalived(n, 2)}
	w := 1
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		w = 3 - w
		h.write(texts[w-1])
		calls := h.ipvs.CallStrings()
		b.StartTimer()
		var out any
		if err := h.call("reload", nil, &out); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		st, err := h.ipvs.Service(svc)
		if err != nil {
			b.Fatal(err)
		}
		for _, d := range st.Destinations {
			if d.Addr == rs && d.Weight != w {
				b.Fatalf("after reload: weight %d, want %d", d.Weight, w)
			}
		}
		if got := h.ipvs.CallStrings()[len(calls):]; len(got) != 1 {
			b.Fatalf("reload wrote %q, want one operation", got)
		}
		b.StartTimer()
	}
	b.StopTimer()
	h.stop()
}

// The counters of a service without a drain reach the status of a large
// table: status reads them when asked (the main loop reads only those of
// the servers draining).
func TestLargeTablePolledInBackground(t *testing.T) {
	const n = 70
	h := startWith(t, bigKeepalived(n, 1), nil, func(o *Options) {
		o.InsecureHeartbeat = true
		o.PollInterval = 5 * time.Millisecond
	})
	last := lvs.Service{Protocol: lvs.TCP, Addr: netip.AddrFrom4([4]byte{198, 18, 0, n}), Port: 80, Scheduler: "wlc"}
	if err := h.ipvs.SetConns(last.Key(), "198.19.0.7:80", 5, 2); err != nil {
		t.Fatal(err)
	}
	var svc control.ServiceStatus
	read := func() bool {
		st := h.status()
		svc = st.Services[n-1]
		if svc.Key != "TCP 198.18.0.70:80" {
			t.Fatalf("service %d is %s", n-1, svc.Key)
		}
		rs := svc.RealServers[6]
		return rs.Active == 5 && rs.Inactive == 2
	}
	if !testutil.WaitFor(10*time.Second, read) {
		t.Fatalf("counters of %s never read: %+v", svc.Key, svc.RealServers[6])
	}
	if full, one := h.ipvs.Reads(); full == 0 {
		t.Errorf("no whole-table read (%d one-service reads)", one)
	}
}
