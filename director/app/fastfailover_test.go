package app

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tandemlb/tandem/director/config"
	"github.com/tandemlb/tandem/director/peerwatch"
	"github.com/tandemlb/tandem/shared/hbproto"
)

func TestProbeIPv6(t *testing.T) {
	inst := func(vip string) config.VRRPInstance {
		return config.VRRPInstance{VirtualIPs: []config.VirtualIP{{Prefix: netip.MustParsePrefix(vip)}}}
	}
	for _, tt := range []struct {
		name string
		vrrp []config.VRRPInstance
		want bool
	}{
		{"none", nil, false},
		{"IPv4", []config.VRRPInstance{inst("192.0.2.1/24")}, false},
		{"IPv6", []config.VRRPInstance{inst("2001:db8::1/64"), inst("2001:db8::2/64")}, true},
		{"both families", []config.VRRPInstance{inst("2001:db8::1/64"), inst("192.0.2.1/24")}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := probeIPv6(&config.Config{VRRP: tt.vrrp}); got != tt.want {
				t.Errorf("probeIPv6 = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestRealServerIPs: the witnesses are the configured real servers, each
// real IP once (ports and services do not multiply it).
func TestRealServerIPs(t *testing.T) {
	rs := func(ap string) config.RealServer { return config.RealServer{Addr: netip.MustParseAddrPort(ap)} }
	cfg := &config.Config{Services: []config.VirtualService{
		{RealServers: []config.RealServer{rs("10.0.0.11:80"), rs("10.0.0.12:80")}},
		{RealServers: []config.RealServer{rs("10.0.0.11:443"), rs("[::ffff:10.0.0.12]:443"), rs("[2001:db8::5]:80")}},
	}}
	got := realServerIPs(cfg)
	want := []netip.Addr{netip.MustParseAddr("10.0.0.11"), netip.MustParseAddr("10.0.0.12"), netip.MustParseAddr("2001:db8::5")}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
		t.Errorf("realServerIPs (-want +got)\n%s", diff)
	}
}

// TestProbeKeys: the probe is sealed with the directors' key; the raw
// cluster secret (what agents held before scoped keys, and older
// directors seal with) is accepted only when agent_keys is not "scoped",
// so a real server that holds it cannot forge a probe (issue 15).
func TestProbeKeys(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	prev := []byte("fedcba9876543210fedcba9876543210")
	probe := peerwatch.Probe{State: peerwatch.StateUp, DetectMult: 3, TxInterval: 100 * time.Millisecond, Name: "lb1"}
	sealed := func(k []byte) []byte {
		b, err := peerwatch.NewSealer(k, 7).Seal(time.Now(), probe)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, tt := range []struct {
		mode                        string
		prev                        []byte
		director, previous, rawOpen bool
	}{
		{config.AgentKeysScoped, nil, true, false, false},
		{config.AgentKeysScoped, prev, true, true, false},
		{config.AgentKeysBoth, nil, true, false, true},
		{config.AgentKeysCluster, prev, true, true, true},
	} {
		send, accept := probeKeys(secret, tt.prev, tt.mode)
		if !bytes.Equal(send, hbproto.DeriveDirectorKey(secret)) {
			t.Errorf("%s: sealing key is not the directors' key", tt.mode)
		}
		for _, c := range []struct {
			what string
			key  []byte
			want bool
		}{
			{"directors' key", hbproto.DeriveDirectorKey(secret), tt.director},
			{"previous directors' key", hbproto.DeriveDirectorKey(prev), tt.previous},
			{"raw secret", secret, tt.rawOpen},
		} {
			o := peerwatch.NewOpenerKeys(append([][]byte{send}, accept...), 0)
			_, err := o.Open("", sealed(c.key), time.Now())
			if (err == nil) != c.want {
				t.Errorf("agent_keys %s, previous %v: probe sealed with the %s accepted %v, want %v", tt.mode, tt.prev != nil, c.what, err == nil, c.want)
			}
		}
	}
}

func TestProbePeer(t *testing.T) {
	inst := func(iface string, peers ...string) config.VRRPInstance {
		in := config.VRRPInstance{Interface: iface}
		for _, p := range peers {
			in.UnicastPeers = append(in.UnicastPeers, config.UnicastPeer{Addr: netip.MustParseAddr(p)})
		}
		return in
	}
	for _, tt := range []struct {
		name string
		ff   netip.Addr
		vrrp []config.VRRPInstance
		v6   bool
		want string
	}{
		{"configured", netip.MustParseAddr("10.0.0.9"), []config.VRRPInstance{inst("eth0", "10.0.0.2")}, false, "10.0.0.9"},
		{"one unicast_peer", netip.Addr{}, []config.VRRPInstance{inst("eth0", "10.0.0.2"), inst("eth0", "10.0.0.2"), inst("eth0")}, false, "10.0.0.2"},
		{"two unicast_peers: learn", netip.Addr{}, []config.VRRPInstance{inst("eth0", "10.0.0.2", "10.0.0.3")}, false, "invalid IP"},
		{"unicast_peer on another interface: learn", netip.Addr{}, []config.VRRPInstance{inst("eth1", "10.0.0.2")}, false, "invalid IP"},
		{"other family: learn", netip.Addr{}, []config.VRRPInstance{inst("eth0", "10.0.0.2")}, true, "invalid IP"},
		{"multicast: learn", netip.Addr{}, []config.VRRPInstance{inst("eth0")}, false, "invalid IP"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &config.Config{VRRP: tt.vrrp}
			cfg.FastFailover.Peer = tt.ff
			if got := probePeer(cfg, "eth0", tt.v6).String(); got != tt.want {
				t.Errorf("probePeer = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestPeerwatchChanged: a reload restarts the running watcher only when
// what it is built from changes (a port, the heartbeat key, the previous
// key file's content), never when none runs or the new file turns it off.
func TestPeerwatchChanged(t *testing.T) {
	dir := t.TempDir()
	key := []byte("0123456789abcdef0123456789abcdef")
	cfg := func(edit func(c *config.Config)) *config.Config {
		c := config.Default()
		c.Node = "lb1"
		c.VRRP = []config.VRRPInstance{{Name: "VI_1", Interface: "eth0"}}
		c.FastFailover.Enabled = true
		if edit != nil {
			edit(c)
		}
		return c
	}
	a, _ := edgeApp(t, Options{})
	running := cfg(nil)
	if a.peerwatchChanged(running, key) {
		t.Error("no watcher runs, yet it restarts")
	}
	a.pw, a.pwKey = &peerwatch.Watcher{}, peerwatchKey(running, key, nil)
	prev := filepath.Join(dir, "previous")
	if err := os.WriteFile(prev, []byte("fedcba9876543210fedcba9876543210\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		cfg  *config.Config
		key  []byte
		want bool
	}{
		{"same inputs", cfg(nil), key, false},
		{"witness quorum only: taken live", cfg(func(c *config.Config) { c.FastFailover.WitnessQuorum = 3 }), key, false},
		{"port", cfg(func(c *config.Config) { c.FastFailover.Port = 7999 }), key, true},
		{"heartbeat key", cfg(nil), []byte("another key another key another k"), true},
		{"previous key file", cfg(func(c *config.Config) { c.Heartbeat.PreviousKeyFile = prev }), key, true},
		{"turned off: stopped, not restarted", cfg(func(c *config.Config) { c.FastFailover.Enabled = false; c.FastFailover.Port = 7999 }), key, false},
	} {
		if got := a.peerwatchChanged(tt.cfg, tt.key); got != tt.want {
			t.Errorf("%s: changed %v, want %v", tt.name, got, tt.want)
		}
	}
}
