package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/tandemlb/tandem/director/vrrp"
	"github.com/tandemlb/tandem/e2e/netlab"
)

// Implementations of a director.
const (
	implKeepalived = "keepalived"
	implTandem     = "tandem"        // the harness: director/vrrp + director/peerwatch
	implBinary     = "tandem-bin"    // bin/tandem-director run with the keepalived.conf: plain VRRP
	implBinaryFF   = "tandem-bin-ff" // bin/tandem-director run, native file with fast_failover on
)

// probes reports whether an implementation runs the peer probe.
func probes(impl string) bool { return impl == implTandem || impl == implBinaryFF }

// node is one director process in its namespace.
type node struct {
	b    *bench
	host string // d1 or d2
	impl string
	prio int
	addr netip.Addr
	p    *netlab.Process
}

func (n *node) String() string { return fmt.Sprintf("%s(%s, prio %d)", n.impl, n.host, n.prio) }

func (n *node) base() string { return filepath.Join(n.b.dir, n.host+"-"+n.impl) }

// keepalivedConf is VRRPv2, PASS auth, advert_int 1, the VIP on eth0.
func (n *node) keepalivedConf() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "global_defs {\n    router_id %s\n}\n", n.host)
	fmt.Fprintf(&b, "vrrp_instance VI_1 {\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    priority %d\n", n.prio)
	b.WriteString("    advert_int 1\n    authentication {\n        auth_type PASS\n        auth_pass benchpw\n    }\n")
	fmt.Fprintf(&b, "    virtual_ipaddress {\n        %s dev eth0\n    }\n}\n", vip)
	return b.String()
}

// nativeConf is the same instance in the native format, with the heartbeat
// key (the probe is authenticated with it) and fast_failover at the
// benchmark's probe interval and multiplier.
func (n *node) nativeConf(keyFile string) string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "version: 1\nnode: %s\nheartbeat:\n  key_file: %s\nmetrics:\n  enabled: false\n", n.host, keyFile)
	fmt.Fprintf(&b, "fast_failover:\n  enabled: true\n  interval: %s\n  multiplier: %d\n", n.b.interval, n.b.mult)
	fmt.Fprintf(&b, "vrrp_instances:\n  - name: VI_1\n    interface: eth0\n    virtual_router_id: 51\n    priority: %d\n", n.prio)
	b.WriteString("    advert_int: 1s\n    authentication: {auth_type: PASS, auth_pass: benchpw}\n")
	fmt.Fprintf(&b, "    virtual_ipaddress: [\"%s dev eth0\"]\n", vip)
	return b.String()
}

func (n *node) vrrpConfig() vrrp.InstanceConfig {
	return vrrp.InstanceConfig{Name: "VI_1", Interface: "eth0", VRID: 51, Priority: uint8(n.prio),
		AdvertInterval: time.Second, Version: 2, AuthPass: "benchpw", VIPs: []vrrp.VIP{{Prefix: vip}}}
}

func (n *node) start() error {
	var argv []string
	switch n.impl {
	case implKeepalived:
		conf := n.base() + ".conf"
		if err := os.WriteFile(conf, []byte(n.keepalivedConf()), 0o644); err != nil {
			return err
		}
		argv = []string{"/usr/sbin/keepalived", "-n", "-l", "-P", "-D", "-f", conf,
			"-p", n.base() + ".pid", "-r", n.base() + ".vrrp.pid", "-c", n.base() + ".chk.pid"}
	case implTandem:
		js, err := json.Marshal(harnessConfig{Name: n.host, VRRP: n.vrrpConfig(), Probe: true, KeyHex: n.b.keyHex,
			Interval: n.b.interval, Mult: n.b.mult})
		if err != nil {
			return err
		}
		argv = []string{n.b.self, harnessArg, string(js)}
	case implBinary:
		conf := n.base() + ".conf"
		if err := os.WriteFile(conf, []byte(n.keepalivedConf()), 0o644); err != nil {
			return err
		}
		argv = append([]string{n.b.binary, "run", "--config", conf, "--socket", n.base() + ".sock"}, n.b.binaryArgs...)
	case implBinaryFF:
		key, conf := n.base()+".key", n.base()+".yaml"
		if err := os.WriteFile(key, []byte(n.b.keyHex+"\n"), 0o600); err != nil {
			return err
		}
		if err := os.WriteFile(conf, []byte(n.nativeConf(key)), 0o644); err != nil {
			return err
		}
		argv = []string{n.b.binary, "run", "--config", conf, "--socket", n.base() + ".sock"}
	default:
		return fmt.Errorf("unknown implementation %q", n.impl)
	}
	p, err := n.b.lab.Start(n.host, argv...)
	if err != nil {
		return err
	}
	n.p = p
	return nil
}

// stop is the clean stop: SIGTERM to the main process, then wait.
func (n *node) stop() error {
	if err := n.p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	return n.wait(10 * time.Second)
}

func (n *node) wait(d time.Duration) error {
	select {
	case <-n.p.Done():
		return nil
	case <-time.After(d):
		syscall.Kill(-n.p.Pid(), syscall.SIGKILL)
		<-n.p.Done()
		return fmt.Errorf("%s did not exit within %v", n, d)
	}
}

// freeze stops every process of the node at once (its process group:
// keepalived's VRRP child too), so that nothing of it reacts any more.
func (n *node) freeze() { syscall.Kill(-n.p.Pid(), syscall.SIGSTOP) }

// kill SIGKILLs the frozen group and waits.
func (n *node) kill() error {
	syscall.Kill(-n.p.Pid(), syscall.SIGKILL)
	err := n.wait(10 * time.Second)
	if n.impl == implKeepalived {
		// keepalived's children: bounded wait until they are gone.
		for _, f := range []string{".vrrp.pid", ".chk.pid"} {
			b, rerr := os.ReadFile(n.base() + f)
			if rerr != nil {
				continue
			}
			pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
			for i := 0; pid > 0 && i < 200 && syscall.Kill(pid, 0) == nil; i++ {
				syscall.Kill(pid, syscall.SIGKILL)
				time.Sleep(10 * time.Millisecond)
			}
			os.Remove(n.base() + f)
		}
		os.Remove(n.base() + ".pid")
	}
	return err
}

// exited reports an unexpected exit, with the output.
func (n *node) exited() error {
	select {
	case <-n.p.Done():
		return fmt.Errorf("%s exited: %v\n%s", n, n.p.Wait(), tail(n.p.Output(), 2000))
	default:
		return nil
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

var errNoRecovery = errors.New("the VIP never came back")
