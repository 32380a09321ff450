package prodlab

import (
	"fmt"
	"strings"
	"time"
)

// BackendConf is a tandem-backend configuration on one of the lab's real
// servers: VIP on eth0's host (vips, interface eth0), heartbeats to
// Directors with the key in KeyFile, an HTTP health probe of the web app
// (service www, http://127.0.0.1:80/healthz), the check file in file mode
// (Dir/check.txt, which the WebApp serves), the nftables arp table, state
// and runtime directories under Dir and metrics on 127.0.0.1:9481. The
// fields are what the labs change; String writes the YAML.
type BackendConf struct {
	// Node and RealIP are the agent's node name and real server address.
	Node, RealIP string
	// Directors are the heartbeat destinations, in this order.
	Directors []string
	// KeyFile is the heartbeat key's path.
	KeyFile string
	// HeartbeatInterval is heartbeat.interval; the default when zero.
	HeartbeatInterval time.Duration
	// ProbeInterval, ProbeTimeout, ProbeRise and ProbeFall are the health
	// probe's timing; each is left out (the default) when zero.
	ProbeInterval, ProbeTimeout time.Duration
	ProbeRise, ProbeFall        int
	// Dir holds check.txt, state/ and run/.
	Dir string
	// LogLevel is log.level; none when empty.
	LogLevel string
	// ExtraVIPs follow VIP in vips (a second virtual_server's address).
	ExtraVIPs []string
	// VIPs, when set, replace VIP and ExtraVIPs (an IPv6-only real server).
	VIPs []string
	// ARPMode is arp_mode; nftables when empty.
	ARPMode string
	// RealIP6 is real_ip6, the address the agent sends from to the IPv6
	// Directors; none when empty.
	RealIP6 string
	// KeyFile6 is heartbeat.key_file6, the key derived for RealIP6; none
	// when empty.
	KeyFile6 string
}

// String is the YAML text.
func (c BackendConf) String() string {
	var b strings.Builder
	vips := append([]string{VIP}, c.ExtraVIPs...)
	if len(c.VIPs) > 0 {
		vips = c.VIPs
	}
	fmt.Fprintf(&b, "node: %s\nvips: [%s]\ninterface: eth0\nreal_ip: %s\n", c.Node, strings.Join(vips, ", "), c.RealIP)
	if c.RealIP6 != "" {
		fmt.Fprintf(&b, "real_ip6: %s\n", c.RealIP6)
	}
	q := make([]string, len(c.Directors))
	for i, d := range c.Directors {
		q[i] = `"` + d + `"`
	}
	fmt.Fprintf(&b, "directors: [%s]\n", strings.Join(q, ", "))
	key := c.KeyFile
	if c.KeyFile6 != "" {
		key += ", key_file6: " + c.KeyFile6
	}
	if c.HeartbeatInterval > 0 {
		fmt.Fprintf(&b, "heartbeat: {key_file: %s, interval: %v}\n", key, c.HeartbeatInterval)
	} else {
		fmt.Fprintf(&b, "heartbeat: {key_file: %s}\n", key)
	}
	b.WriteString("health:\n  service: www\n  type: http\n  url: http://127.0.0.1:80/healthz\n")
	if c.ProbeInterval > 0 {
		fmt.Fprintf(&b, "  interval: %v\n", c.ProbeInterval)
	}
	if c.ProbeTimeout > 0 {
		fmt.Fprintf(&b, "  timeout: %v\n", c.ProbeTimeout)
	}
	if c.ProbeRise > 0 {
		fmt.Fprintf(&b, "  rise: %d\n", c.ProbeRise)
	}
	if c.ProbeFall > 0 {
		fmt.Fprintf(&b, "  fall: %d\n", c.ProbeFall)
	}
	arpMode := c.ARPMode
	if arpMode == "" {
		arpMode = "nftables"
	}
	fmt.Fprintf(&b, "check: {mode: file, file: %[1]s/check.txt}\narp_mode: %[2]s\nstate_dir: %[1]s/state\nruntime_dir: %[1]s/run\n", c.Dir, arpMode)
	b.WriteString("metrics: {listen: \"127.0.0.1:9481\"}\n")
	if c.LogLevel != "" {
		fmt.Fprintf(&b, "log: {level: %s}\n", c.LogLevel)
	}
	return b.String()
}
