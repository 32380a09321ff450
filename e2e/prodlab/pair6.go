package prodlab

import (
	"path/filepath"
	"time"
)

// Family is the lab's address families (PairOptions.Family).
func (p *Pair) Family() Family { return p.opts.Family }

// addr6 is host's IPv6 address on eth0 in the IPv6 and dual-stack labs
// ("" for a host without one).
func (p *Pair) addr6(host string) string {
	if host == "client" {
		return ClientIP6
	}
	if ip, ok := DirIPs6[host]; ok {
		return ip
	}
	return RSIPs6[host]
}

// setUp6 gives client, directors and real servers their IPv6 address on
// eth0 and writes each agent's key for its IPv6 address.
func (p *Pair) setUp6() error {
	for _, host := range append(append([]string{"client"}, Directors...), RealServers...) {
		if err := AddAddr6(p.Net, host, p.addr6(host)); err != nil {
			return err
		}
	}
	keys := map[string]string{}
	for _, rs := range RealServers {
		keys[rs+"-ip6"] = RSIPs6[rs]
	}
	return WriteKeys(filepath.Join(p.Dir, "heartbeat.key"), []byte(PairSecret), keys, p.Dir)
}

// keepalivedConf6 is KeepalivedConf of the IPv6 and dual-stack labs: for
// FamilyIPv6 the IPv6 instance VI6 and its virtual_server alone (with the
// options' sync interface, track_interface, ConfPrelude, ConfInstance and
// ConfExtra); for FamilyDual the seed's file with, after its
// virtual_server, VI6 and its virtual_server and the vrrp_sync_group
// VG_WWW of VI0 and VI6, then ConfExtra.
func (p *Pair) keepalivedConf6() string {
	sync := "eth0"
	if p.opts.SyncLink {
		sync = "eth1"
	}
	c6 := SeedConf6{Name: "VI6", VRID: VRID6, SyncInterface: sync, TrackInterfaces: p.opts.TrackInterfaces,
		InstanceLines: p.opts.ConfInstance, DelayLoop: 2, ConnectTimeout: 1}
	for _, rs := range RealServers {
		c6.RealServers = append(c6.RealServers, SeedRealServer{Addr: RSIPs6[rs], Weight: 1})
	}
	if p.opts.Family == FamilyIPv6 {
		c6.Global, c6.Prelude = true, p.opts.ConfPrelude
		return c6.String() + p.opts.ConfExtra
	}
	// Dual stack: one lvs_sync_daemon_interface (the IPv4 instance's).
	c6.SyncInterface = ""
	c := SeedConf{SyncInterface: sync, TrackInterfaces: p.opts.TrackInterfaces, DelayLoop: 2, SorryServer: SorryIP, ConnectTimeout: 1,
		Prelude: p.opts.ConfPrelude, InstanceLines: p.opts.ConfInstance,
		Extra: "\n" + c6.String() + SyncGroupConf("VG_WWW", "VI0", "VI6") + p.opts.ConfExtra}
	for _, rs := range RealServers {
		c.RealServers = append(c.RealServers, SeedRealServer{Addr: RSIPs[rs], Weight: 1})
	}
	return c.String()
}

// backendConf6 is tandem-backend's configuration on rs in the IPv6 and
// dual-stack labs: backendConf's with VIP6 on lo (after VIP for
// FamilyDual), real_ip6, key_file6 and the directors' IPv6 addresses
// (after their IPv4 ones for FamilyDual).
func (p *Pair) backendConf6(rs string) string {
	c := BackendConf{Node: rs, RealIP: RSIPs[rs], RealIP6: RSIPs6[rs],
		KeyFile: AgentKeyFile(p.Dir, rs), KeyFile6: AgentKeyFile6(p.Dir, rs), HeartbeatInterval: time.Second,
		ProbeInterval: 300 * time.Millisecond, ProbeTimeout: 300 * time.Millisecond, ProbeRise: 2, ProbeFall: 2,
		Dir: filepath.Join(p.Dir, rs)}
	if p.opts.Family == FamilyDual {
		c.Directors = []string{DirIPs["dir1"], DirIPs["dir2"]}
		c.VIPs = []string{VIP}
	}
	c.Directors = append(c.Directors, Dir6Heartbeat("dir1"), Dir6Heartbeat("dir2"))
	c.VIPs = append(append(c.VIPs, VIP6), p.opts.ExtraVIPs...)
	return c.String()
}
