package scale

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// The lab's addresses: the director's end of the veth, the agents' end,
// and the agents' real IPs (10.64.0.1 onwards, 250 a /24).
var (
	directorAddr = netip.MustParseAddr("10.250.0.1")
	agentsGW     = netip.MustParseAddr("10.250.0.2")
)

// HeartbeatPort is the director's heartbeat port in the lab.
const HeartbeatPort = 7480

// AgentIP is the real IP of agent i.
func AgentIP(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, 64, byte(i / 250), byte(i%250 + 1)})
}

// agentIndex is AgentIP's inverse; -1 for another address.
func agentIndex(ip netip.Addr) int {
	if !ip.Is4() {
		return -1
	}
	b := ip.As4()
	if b[0] != 10 || b[1] != 64 || b[3] == 0 || b[3] > 250 {
		return -1
	}
	return int(b[2])*250 + int(b[3]) - 1
}

// Lab is the two namespaces.
type Lab struct {
	Director, Agents string // namespace names
	dir              string
}

// NewLab creates the namespaces, the veth pair and n agent addresses (on
// the agents' lo: this kernel has no dummy interfaces);
// Close removes them. It runs ip(8) (root).
func NewLab(dir string, n int) (*Lab, error) {
	id := os.Getpid()
	l := &Lab{Director: fmt.Sprintf("tscale-d-%d", id), Agents: fmt.Sprintf("tscale-a-%d", id), dir: dir}
	steps := [][]string{
		{"netns", "add", l.Director},
		{"netns", "add", l.Agents},
		{"-n", l.Director, "link", "set", "lo", "up"},
		{"-n", l.Agents, "link", "set", "lo", "up"},
		{"-n", l.Director, "link", "add", "d0", "type", "veth", "peer", "name", "a0", "netns", l.Agents},
		{"-n", l.Director, "addr", "add", directorAddr.String() + "/30", "dev", "d0"},
		{"-n", l.Agents, "addr", "add", agentsGW.String() + "/30", "dev", "a0"},
		{"-n", l.Director, "link", "set", "d0", "up"},
		{"-n", l.Agents, "link", "set", "a0", "up"},
		{"-n", l.Director, "route", "add", "10.64.0.0/16", "via", agentsGW.String()},
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			l.Close()
			return nil, err
		}
	}
	if n > 0 {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "addr add %s/32 dev lo\n", AgentIP(i))
		}
		batch := filepath.Join(dir, "addrs.batch")
		if err := os.WriteFile(batch, []byte(b.String()), 0o644); err != nil {
			l.Close()
			return nil, err
		}
		if err := ip("-n", l.Agents, "-batch", batch); err != nil {
			l.Close()
			return nil, err
		}
	}
	return l, nil
}

// UDPDrops is the count of datagrams ns's kernel dropped at a full UDP
// socket receive buffer (/proc/net/snmp, Udp RcvbufErrors) since the
// namespace was made.
func (l *Lab) UDPDrops(ns string) (uint64, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/net/snmp").Output()
	if err != nil {
		return 0, fmt.Errorf("read %s's /proc/net/snmp: %v", ns, err)
	}
	var names []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "Udp:" {
			continue
		}
		if names == nil {
			names = f
			continue
		}
		for i, n := range names {
			if n == "RcvbufErrors" && i < len(f) {
				return strconv.ParseUint(f[i], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("%s's /proc/net/snmp: no Udp RcvbufErrors", ns)
}

// Command runs name with args in ns.
func (l *Lab) Command(ns string, name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
}

// Close deletes the namespaces (and with them the veth pair and the
// addresses).
func (l *Lab) Close() {
	_ = ip("netns", "del", l.Agents)
	_ = ip("netns", "del", l.Director)
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}
