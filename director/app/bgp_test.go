package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/tandemlb/tandem/director/bgp"
	"github.com/tandemlb/tandem/director/bgp/bgptest"
	"github.com/tandemlb/tandem/director/bgp/gobgp"
	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/control"
	"github.com/tandemlb/tandem/shared/clock/clocktest"
	tu "github.com/tandemlb/tandem/shared/testutil"
)

// bgpConf is BGP mode with two VIPs, one service each; EXTRA is replaced
// by more virtual servers.
const bgpConf = `version: 1
node: lb1
heartbeat:
  listen: 127.0.0.1:HBPORT
  key_file: DIR/key
metrics:
  enabled: false
bgp:
  local_as: 65001
  router_id: 10.0.0.11
  graceful_shutdown_wait: 10s
  communities: ["65001:100"]
  peers:
    - address: 10.0.0.1
      as: 65000
      password_file: DIR/bgp.key
virtual_servers:
  - address: 192.0.2.100:80
    lvs_sched: lc
    real_servers:
      - address: 192.0.2.11:80
      - address: 192.0.2.12:80
EXTRA`

const bgpSecond = `  - address: 192.0.2.200:80
    real_servers:
      - address: 192.0.2.21:80
`

var bgpPeer = netip.MustParseAddr("10.0.0.1")

type bgpRig struct {
	*harness
	spk    *bgptest.Speaker
	clk    *clocktest.Clock
	static *fakeStatic
	mu     sync.Mutex
	sc     bgp.SpeakerConfig
}

// startBGPRig runs conf (bgpConf with EXTRA replaced) on the fakes: the
// recording speaker, the recording StaticNet and the manual clock.
func startBGPRig(t *testing.T, extra string) *bgpRig {
	t.Helper()
	r := &bgpRig{spk: bgptest.New(bgpPeer), clk: clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)), static: &fakeStatic{}}
	conf := strings.Replace(bgpConf, "EXTRA", extra, 1)
	r.harness = startWith(t, conf, func(dir string, _ *fakeIPVS) {
		if err := os.WriteFile(filepath.Join(dir, "bgp.key"), []byte("s3cret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}, func(o *Options) {
		o.Clock, o.Static = r.clk, r.static
		o.BGPSpeaker = func(sc bgp.SpeakerConfig, _ *slog.Logger) (bgp.Speaker, error) {
			r.mu.Lock()
			r.sc = sc
			r.mu.Unlock()
			return r.spk, nil
		}
	})
	t.Cleanup(r.stopNow)
	return r
}

// stopNow stops the director (if the test did not), moving the manual
// clock on so that the graceful withdrawal of a stop ends.
func (r *bgpRig) stopNow() {
	run := r.run
	if run == nil {
		return
	}
	r.run = nil
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		run.Stop(r.t, 10*time.Second)
	}()
	tu.WaitFor(15*time.Second, func() bool {
		select {
		case <-stopped:
			return true
		default:
			r.clk.Advance(time.Second)
			return false
		}
	})
	<-stopped
}

// ipvsCount is the number of services in the fake kernel.
func (r *bgpRig) ipvsCount() int {
	r.t.Helper()
	st, err := r.ipvs.Services()
	if err != nil {
		r.t.Fatal(err)
	}
	return len(st)
}

// value reads a gauge or a counter.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// waitOps waits until the speaker's operations are want.
func (r *bgpRig) waitOps(want ...string) {
	r.t.Helper()
	if !tu.WaitFor(5*time.Second, func() bool { return slices.Equal(r.spk.Ops(), want) }) {
		r.t.Fatalf("speaker operations:\n got %q\nwant %q", r.spk.Ops(), want)
	}
}

// vipStates returns "vip state" for every VIP in status.
func (r *bgpRig) vipStates() []string {
	r.t.Helper()
	st := r.status()
	if st.BGP == nil {
		r.t.Fatal("status has no bgp section")
	}
	var out []string
	for _, v := range st.BGP.VIPs {
		out = append(out, v.VIP+" "+v.State)
	}
	return out
}

// sessionUp sets the peer's session and waits for the director to see it.
func (r *bgpRig) sessionUp(up bool) {
	r.t.Helper()
	r.spk.SetPeer(bgpPeer, up)
	tu.Eventually(r.t, 5*time.Second, func() bool {
		st := r.status()
		return st.BGP != nil && len(st.BGP.Peers) == 1 && st.BGP.Peers[0].Established == up
	}, "session established=%v not seen", up)
}

const (
	ann100   = "announce 192.0.2.100/32 65001:100"
	ann200   = "announce 192.0.2.200/32 65001:100"
	gshut100 = "announce 192.0.2.100/32 65001:100 65535:0"
	gshut200 = "announce 192.0.2.200/32 65001:100 65535:0"
	wd100    = "withdraw 192.0.2.100/32"
	wd200    = "withdraw 192.0.2.200/32"
)

// TestBGPStartAnnounces: the VIPs go on lo, the speaker starts with the
// peer's password read from its file, and each VIP is announced once its
// service is in the kernel; status and the metrics say so.
func TestBGPStartAnnounces(t *testing.T) {
	r := startBGPRig(t, bgpSecond)
	r.waitOps("start", ann100, ann200)
	if r.ipvsCount() != 2 {
		t.Errorf("IPVS services %d, want 2 (announced before the reconciliation?)", r.ipvsCount())
	}
	r.mu.Lock()
	sc := r.sc
	r.mu.Unlock()
	if len(sc.Peers) != 1 || sc.Peers[0].Password != "s3cret" || sc.LocalAS != 65001 || sc.RouterID.String() != "10.0.0.11" {
		t.Errorf("speaker config %+v", sc)
	}
	lo := strings.Join(r.static.take(), "\n")
	if !strings.Contains(lo, "add addrs [{192.0.2.100/32 lo  invalid IP false} {192.0.2.200/32 lo  invalid IP false}]") {
		t.Errorf("VIPs on lo:\n%s", lo)
	}
	if got := r.vipStates(); !slices.Equal(got, []string{"192.0.2.100 announced", "192.0.2.200 announced"}) {
		t.Errorf("status: %q", got)
	}
	st := r.status().BGP
	if st.LocalAS != 65001 || len(st.Peers) != 1 || st.Peers[0].State != "idle" || st.FingerprintGate == "" {
		t.Errorf("status bgp: %+v", st)
	}
	m := r.a.Metrics()
	if v := value(m.BGPVIPAnnounced.WithLabelValues("192.0.2.100")); v != 1 {
		t.Errorf("vip_announced = %v", v)
	}
	tu.Eventually(t, 5*time.Second, func() bool {
		return value(m.BGPAnnouncements.WithLabelValues("announce")) == 2
	}, "announcements_total{announce} = %v", value(m.BGPAnnouncements.WithLabelValues("announce")))
	if v := value(m.BGPSessionUp.WithLabelValues("10.0.0.1")); v != 0 {
		t.Errorf("session_up = %v", v)
	}
}

// TestBGPQuorumLost: the quorum lost (every real server drained) announces
// the VIP with GRACEFUL_SHUTDOWN, withdraws it after the wait, and the
// quorum back announces it again; the other VIP is untouched.
func TestBGPQuorumLost(t *testing.T) {
	r := startBGPRig(t, bgpSecond)
	r.waitOps("start", ann100, ann200)
	r.sessionUp(true)
	for _, rs := range []string{"192.0.2.11", "192.0.2.12"} {
		if err := r.call(control.OpDrain, control.DrainArgs{Target: rs}, nil); err != nil {
			t.Fatal(err)
		}
	}
	r.waitOps("start", ann100, ann200, gshut100)
	st := r.status().BGP
	if v := st.VIPs[0]; v.State != "shutting-down" || v.Why != "quorum down" || !v.Until.Equal(r.clk.Now().Add(10*time.Second)) {
		t.Errorf("status of the VIP: %+v", v)
	}
	r.clk.Advance(9 * time.Second)
	if got := r.vipStates(); got[0] != "192.0.2.100 shutting-down" {
		t.Errorf("before the wait: %q", got)
	}
	r.clk.Advance(time.Second)
	r.waitOps("start", ann100, ann200, gshut100, wd100)
	if got := r.vipStates(); !slices.Equal(got, []string{"192.0.2.100 withdrawn", "192.0.2.200 announced"}) {
		t.Errorf("after the wait: %q", got)
	}
	if v := value(r.a.Metrics().BGPVIPAnnounced.WithLabelValues("192.0.2.100")); v != 0 {
		t.Errorf("vip_announced = %v", v)
	}
	if err := r.call(control.OpUndrain, control.DrainArgs{Target: "192.0.2.11"}, nil); err != nil {
		t.Fatal(err)
	}
	r.waitOps("start", ann100, ann200, gshut100, wd100, ann100)
}

// TestBGPDrainSelf: drain --self withdraws every VIP gracefully, undrain
// --self announces them again; a director in VRRP mode refuses it.
func TestBGPDrainSelf(t *testing.T) {
	r := startBGPRig(t, bgpSecond)
	r.waitOps("start", ann100, ann200)
	r.sessionUp(true)
	var res control.DrainSelfResult
	if err := r.call(control.OpDrainSelf, control.DrainSelfArgs{On: true}, &res); err != nil {
		t.Fatal(err)
	}
	if !res.Draining || len(res.VIPs) != 2 || res.VIPs[0].State != "shutting-down" || res.VIPs[0].Why != "drain --self" {
		t.Errorf("drain --self: %+v", res)
	}
	r.waitOps("start", ann100, ann200, gshut100, gshut200)
	if !r.status().BGP.Draining {
		t.Error("status does not say draining")
	}
	if v := gaugeOf(t, r.a.met.BGPDraining); v != 1 {
		t.Errorf("tandem_director_bgp_draining %v during drain --self, want 1", v)
	}
	r.clk.Advance(10 * time.Second)
	r.waitOps("start", ann100, ann200, gshut100, gshut200, wd100, wd200)
	if err := r.call(control.OpDrainSelf, control.DrainSelfArgs{On: false}, &res); err != nil {
		t.Fatal(err)
	}
	r.waitOps("start", ann100, ann200, gshut100, gshut200, wd100, wd200, ann100, ann200)
	if r.ipvsCount() != 2 {
		t.Error("drain --self touched IPVS")
	}
	if v := gaugeOf(t, r.a.met.BGPDraining); v != 0 {
		t.Errorf("tandem_director_bgp_draining %v after undrain --self, want 0", v)
	}

	v := start(t, testConfig("DIR", 1, ""), nil)
	err := v.call(control.OpDrainSelf, control.DrainSelfArgs{On: true}, nil)
	if err == nil || !strings.Contains(err.Error(), "not in BGP mode") {
		t.Errorf("VRRP mode: %v", err)
	}
	if v.status().BGP != nil {
		t.Error("VRRP mode shows a bgp section")
	}
}

// TestBGPStopGraceful: a stop withdraws every VIP gracefully while the
// director keeps running, then stops the speaker; IPVS is left in place.
func TestBGPStopGraceful(t *testing.T) {
	r := startBGPRig(t, bgpSecond)
	r.waitOps("start", ann100, ann200)
	r.sessionUp(true)
	if v := gaugeOf(t, r.a.met.BGPDraining); v != 0 {
		t.Errorf("tandem_director_bgp_draining %v while announcing, want 0", v)
	}
	run := r.run
	r.run = nil
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		run.Stop(t, 10*time.Second)
	}()
	r.waitOps("start", ann100, ann200, gshut100, gshut200)
	if v := gaugeOf(t, r.a.met.BGPDraining); v != 1 {
		t.Errorf("tandem_director_bgp_draining %v during the stop, want 1", v)
	}
	select {
	case <-run.Done():
		t.Fatal("the director stopped before the graceful wait")
	default:
	}
	if r.spk.Stopped() {
		t.Fatal("speaker stopped before the withdrawals")
	}
	// The wait is on the manual clock: the loop is armed for it.
	if !tu.WaitFor(5*time.Second, func() bool { return r.clk.Pending() > 0 }) {
		t.Fatal("no alarm armed")
	}
	r.clk.Advance(10 * time.Second)
	<-stopped
	if got, want := r.spk.Ops(), []string{"start", ann100, ann200, gshut100, gshut200, wd100, wd200, "stop"}; !slices.Equal(got, want) {
		t.Errorf("speaker operations:\n got %q\nwant %q", got, want)
	}
	if r.ipvsCount() != 2 {
		t.Error("the stop removed the IPVS services")
	}
	if c := strings.Join(r.static.take(), "\n"); strings.Contains(c, "del addrs") {
		t.Errorf("VIPs taken off lo without remove_on_stop:\n%s", c)
	}
}

// TestBGPReload: a reload that drops a VIP withdraws it at once and takes
// it off lo; one that brings it back puts it on lo and announces it; one
// that leaves BGP mode is refused.
func TestBGPReload(t *testing.T) {
	r := startBGPRig(t, bgpSecond)
	r.waitOps("start", ann100, ann200)
	r.static.take()
	r.write(strings.Replace(bgpConf, "EXTRA", "", 1))
	if err := r.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	r.waitOps("start", ann100, ann200, wd200)
	if c := strings.Join(r.static.take(), "\n"); !strings.Contains(c, "del addrs [{192.0.2.200/32 lo  invalid IP false}]") {
		t.Errorf("lo after the removal:\n%s", c)
	}
	if got := r.vipStates(); !slices.Equal(got, []string{"192.0.2.100 announced"}) {
		t.Errorf("status: %q", got)
	}
	r.write(strings.Replace(bgpConf, "EXTRA", bgpSecond, 1))
	if err := r.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	r.waitOps("start", ann100, ann200, wd200, ann200)
	if c := strings.Join(r.static.take(), "\n"); !strings.Contains(c, "add addrs [{192.0.2.200/32 lo  invalid IP false}]") {
		t.Errorf("lo after the addition:\n%s", c)
	}
	r.write(testConfig("DIR", 1, ""))
	err := r.call(control.OpReload, nil, nil)
	if err == nil || !strings.Contains(err.Error(), "needs a restart") {
		t.Errorf("reload to VRRP mode: %v", err)
	}
}

// TestBGPSessions: the sessions' states reach status and the metric, and
// the Announcer: without an established session a withdrawal does not
// wait.
func TestBGPSessions(t *testing.T) {
	r := startBGPRig(t, "")
	r.waitOps("start", ann100)
	m := r.a.Metrics()
	r.sessionUp(true)
	if v := value(m.BGPSessionUp.WithLabelValues("10.0.0.1")); v != 1 {
		t.Errorf("session_up = %v", v)
	}
	r.sessionUp(false)
	if v := value(m.BGPSessionUp.WithLabelValues("10.0.0.1")); v != 0 {
		t.Errorf("session_up = %v", v)
	}
	if err := r.call(control.OpDrainSelf, control.DrainSelfArgs{On: true}, nil); err != nil {
		t.Fatal(err)
	}
	r.waitOps("start", ann100, wd100)
	if !strings.Contains(r.logs.String(), "no BGP session established") {
		t.Error("the withdrawal does not say why it did not wait")
	}
}

// BenchmarkGoBGPAnnounce: what one action of the worker costs on the real
// speaker (GoBGP in-process, its peer a closed loopback port): announce
// then withdraw of a /32.
func BenchmarkGoBGPAnnounce(b *testing.B) {
	spk, err := gobgp.New(bgp.SpeakerConfig{LocalAS: 65001, RouterID: netip.MustParseAddr("10.0.0.11"),
		Peers: []bgp.PeerConfig{{Addr: netip.MustParseAddr("127.0.0.1"), AS: 65000, Port: 9}}}, gobgp.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if err := spk.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer spk.Stop(context.Background())
	p := netip.MustParsePrefix("192.0.2.100/32")
	b.ResetTimer()
	for b.Loop() {
		if err := spk.Announce(ctx, bgp.Route{Prefix: p, Communities: []bgp.Community{0xFDE90064}}); err != nil {
			b.Fatal(err)
		}
		if err := spk.Withdraw(ctx, p); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBGPPasswordFileMissing: a peer's password_file that cannot be read
// fails the start, naming the file, its line and the key; nothing is
// announced.
func TestBGPPasswordFileMissing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "director.yaml")
	conf := strings.NewReplacer("EXTRA", "", "HBPORT", "1", "DIR", dir).Replace(bgpConf)
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key"), []byte(strings.Repeat("k", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	spk := bgptest.New(bgpPeer)
	off := false
	a := New(cfg, Options{
		Socket: filepath.Join(dir, "ctl.sock"), StateDir: filepath.Join(dir, "state"), HostChecks: &off, SysctlRoot: dir,
		OpenIPVS: func(*slog.Logger) (IPVS, error) { return newFakeIPVS(), nil }, Static: &fakeStatic{},
		Interfaces: newFakeInterfaces("lo"), Firewall: &fakeFirewall{}, Host: &fakeHost{}, HandOver: &fakeHandOver{},
		BGPSpeaker: func(bgp.SpeakerConfig, *slog.Logger) (bgp.Speaker, error) { return spk, nil },
	})
	err = a.Run(t.Context())
	want := path + ":14: bgp peer 10.0.0.1: password_file:"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "bgp.key") {
		t.Fatalf("Run: %v, want %q", err, want)
	}
	if ops := spk.Ops(); len(ops) != 0 {
		t.Errorf("speaker used: %q", ops)
	}
}

// agreeConf is one director of a BGP tier with the fingerprint agreement
// on loopback: NODE, ADDR (its agreement_address), DIRECTORS (the
// others), APORT and WEIGHT (of the first real server: another weight is
// another fingerprint) are replaced.
const agreeConf = `version: 1
node: NODE
heartbeat:
  listen: 127.0.0.1:HBPORT
  key_file: DIR/key
metrics:
  enabled: false
bgp:
  local_as: 65001
  router_id: ADDR
  peers:
    - address: 10.0.0.1
      as: 65000
  directors: [DIRECTORS]
  agreement_port: APORT
  agreement_address: ADDR
virtual_servers:
  - address: 192.0.2.100:80
    lvs_sched: mh
    real_servers:
      - address: 192.0.2.11:80
        weight: WEIGHT
      - address: 192.0.2.12:80
`

// annTier is the announcement of the tier's VIP (no community).
const annTier = "announce 192.0.2.100/32"

// tierDirector is one director of the in-process tier.
type tierDirector struct {
	*harness
	spk  *bgptest.Speaker
	conf func(weight int) string
}

// startTierDirector runs director n (127.0.0.1n) of a tier of three on
// the shared manual clock clk, its first real server at weight.
func startTierDirector(t *testing.T, clk *clocktest.Clock, port, n, weight int) *tierDirector {
	t.Helper()
	var others []string
	for i := 1; i <= 3; i++ {
		if i != n {
			others = append(others, fmt.Sprintf("127.0.0.1%d", i))
		}
	}
	d := &tierDirector{spk: bgptest.New(bgpPeer)}
	d.conf = func(weight int) string {
		return strings.NewReplacer("NODE", fmt.Sprintf("lb%d", n), "ADDR", fmt.Sprintf("127.0.0.1%d", n),
			"DIRECTORS", strings.Join(others, ", "), "APORT", fmt.Sprint(port), "WEIGHT", fmt.Sprint(weight)).Replace(agreeConf)
	}
	d.harness = startWith(t, d.conf(weight), nil, func(o *Options) {
		o.Clock, o.Static = clk, &fakeStatic{}
		o.BGPSpeaker = func(bgp.SpeakerConfig, *slog.Logger) (bgp.Speaker, error) { return d.spk, nil }
	})
	t.Cleanup(func() {
		run := d.run
		if run == nil {
			return
		}
		d.run = nil
		stopped := make(chan struct{})
		go func() {
			defer close(stopped)
			run.Stop(t, 10*time.Second)
		}()
		tu.WaitFor(15*time.Second, func() bool {
			select {
			case <-stopped:
				return true
			default:
				clk.Advance(time.Second)
				return false
			}
		})
		<-stopped
	})
	return d
}

// agreement is the director's agreement status.
func (d *tierDirector) agreement() *control.BGPAgreementStatus {
	d.t.Helper()
	st := d.status().BGP
	if st == nil || st.Agreement == nil {
		d.t.Fatalf("no agreement in status: %+v", st)
	}
	return st.Agreement
}

// tick advances the shared clock by a second and leaves the drivers a
// moment to send and receive that tick's messages over loopback (the
// checks after it wait for what they need).
func tick(clk *clocktest.Clock) {
	clk.Advance(time.Second)
	tu.Settle(20 * time.Millisecond)
}

// TestBGPAgreementJoin: a tier of three directors in-process on the fake
// kernel, agreeing over loopback UDP on a shared manual clock. lb1 alone
// waits the start grace, then announces; lb2, with the same table,
// announces as soon as it hears lb1; lb3 joins with another table
// (another weight: another fingerprint) and stays unannounced, saying
// why (status, metric, a warning), until a reload gives it the same
// table: then it announces.
func TestBGPAgreementJoin(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	pc, err := net.ListenPacket("udp", "127.0.0.11:0")
	if err != nil {
		t.Skipf("no 127.0.0.11 on lo: %v", err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()

	lb1 := startTierDirector(t, clk, port, 1, 1)
	waitOps := func(d *tierDirector, want ...string) {
		t.Helper()
		tu.Eventually(t, 5*time.Second, func() bool { return slices.Equal(d.spk.Ops(), want) }, "speaker operations %q, want %q", d.spk.Ops(), want)
	}
	waitOps(lb1, "start")
	if g := lb1.agreement().Gates; len(g) != 1 || g[0].Open || !strings.HasPrefix(g[0].Reason, "start: waiting up to 3s to hear 127.0.0.12, 127.0.0.13") {
		t.Fatalf("lb1's gate at the start: %+v", g)
	}
	for range 3 {
		tick(clk)
	}
	waitOps(lb1, "start", annTier) // alone: open after the grace
	if g := lb1.agreement().Gates[0]; !g.Open || g.Reason != "no director announcing it heard within 3s" {
		t.Errorf("lb1's gate: %+v", g)
	}

	lb2 := startTierDirector(t, clk, port, 2, 1)
	waitOps(lb2, "start")
	tick(clk) // lb1's message reaches lb2 at its tick
	waitOps(lb2, "start", annTier)
	if g := lb2.agreement().Gates[0]; !g.Open || g.Reason != "agrees with lb1 (127.0.0.11)" {
		t.Errorf("lb2's gate: %+v", g)
	}

	lb3 := startTierDirector(t, clk, port, 3, 2)
	for range 6 {
		tick(clk)
	}
	waitOps(lb3, "start")
	var ag *control.BGPAgreementStatus
	tu.Eventually(t, 5*time.Second, func() bool {
		ag = lb3.agreement()
		g := ag.Gates[0]
		return !g.Open && strings.HasPrefix(g.Reason, "differs from lb1 (127.0.0.11), which announces it: TCP 192.0.2.100:80: fingerprint ") &&
			len(ag.Directors) == 2 && ag.Directors[1].Fresh
	}, "lb3's agreement: %+v", ag)
	if len(ag.Directors) != 2 || ag.Directors[0].Node != "lb1" || !ag.Directors[0].Fresh || ag.Directors[0].Agree ||
		!slices.Equal(ag.Directors[0].Announcing, []string{"192.0.2.100"}) || ag.Dropped != nil {
		t.Errorf("lb3's directors: %+v, dropped %v", ag.Directors, ag.Dropped)
	}
	if st := lb3.status().BGP; st.VIPs[0].State != "withdrawn" || st.VIPs[0].Why != "IPVS fingerprint not agreed" ||
		st.FingerprintGate != "agreement with 2 directors: 0 of 1 VIPs open" {
		t.Errorf("lb3's bgp status: %+v", st)
	}
	if v := value(lb3.a.Metrics().BGPFingerprintAgree.WithLabelValues("192.0.2.100")); v != 0 {
		t.Errorf("lb3: fingerprint_agree = %v", v)
	}
	if !strings.Contains(lb3.logs.String(), "directors disagree on the IPVS fingerprint") {
		t.Error("lb3 logged no warning")
	}
	// lb1 sees lb3 disagree, and stays announced.
	tu.Eventually(t, 5*time.Second, func() bool {
		d := lb1.agreement().Directors
		return d[1].Node == "lb3" && !d[1].Agree && strings.HasPrefix(d[1].Disagree, "TCP 192.0.2.100:80: fingerprint ") && len(d[1].Announcing) == 0
	}, "lb1's view of lb3: %+v", lb1.agreement().Directors)
	if ops := lb1.spk.Ops(); !slices.Equal(ops, []string{"start", annTier}) {
		t.Errorf("lb1's speaker: %q", ops)
	}

	// The same table on lb3: it announces.
	lb3.write(lb3.conf(1))
	if err := lb3.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	tick(clk)
	waitOps(lb3, "start", annTier)
	tu.Eventually(t, 5*time.Second, func() bool {
		g := lb3.agreement().Gates[0]
		return g.Open && g.Reason == "agrees with lb1 (127.0.0.11), lb2 (127.0.0.12)"
	}, "lb3's gate: %+v", lb3.agreement().Gates)
	if v := value(lb3.a.Metrics().BGPFingerprintAgree.WithLabelValues("192.0.2.100")); v != 1 {
		t.Errorf("lb3: fingerprint_agree = %v", v)
	}
	tu.Eventually(t, 5*time.Second, func() bool {
		d := lb1.agreement().Directors
		return d[1].Agree && slices.Equal(d[1].Announcing, []string{"192.0.2.100"})
	}, "lb1's view of lb3: %+v", lb1.agreement().Directors)
}

// TestBGPAgreementReload: bgp.directors added by a reload starts the
// agreement, a change of the list applies at once, and dropping it stops
// the agreement (status says so, the series is gone).
func TestBGPAgreementReload(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	pc, err := net.ListenPacket("udp", "127.0.0.11:0")
	if err != nil {
		t.Skipf("no 127.0.0.11 on lo: %v", err)
	}
	port := pc.LocalAddr().(*net.UDPAddr).Port
	pc.Close()
	d := startTierDirector(t, clk, port, 1, 1)
	noDirectors := strings.Replace(d.conf(1), "  directors: [127.0.0.12, 127.0.0.13]\n", "", 1)
	d.write(noDirectors)
	if err := d.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 5*time.Second, func() bool { return slices.Equal(d.spk.Ops(), []string{"start", annTier}) }, "ops %q", d.spk.Ops())
	if st := d.status().BGP; st.Agreement != nil || st.FingerprintGate != "open: no agreement between directors (no bgp.directors)" {
		t.Errorf("without directors: %+v", st)
	}
	d.write(strings.Replace(d.conf(1), "127.0.0.12, 127.0.0.13", "127.0.0.12", 1))
	if err := d.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	if ag := d.agreement(); len(ag.Directors) != 1 || ag.Directors[0].Address != "127.0.0.12" {
		t.Errorf("agreement after the reload: %+v", ag)
	}
	d.write(d.conf(1))
	if err := d.call(control.OpReload, nil, nil); err != nil {
		t.Fatal(err)
	}
	if ag := d.agreement(); len(ag.Directors) != 2 {
		t.Errorf("agreement after adding a director: %+v", ag)
	}
	if ops := d.spk.Ops(); !slices.Equal(ops, []string{"start", annTier}) {
		t.Errorf("the agreement withdrew what was announced: %q", ops)
	}
}

// gaugeOf is the value of the unlabelled series of g.
func gaugeOf(t *testing.T, g *prometheus.GaugeVec) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.WithLabelValues().Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}
