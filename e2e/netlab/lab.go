package netlab

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// TagPrefix starts every lab's tag, hence every namespace a lab creates.
const TagPrefix = "tl"

// DefaultExecTimeout bounds Exec.
const DefaultExecTimeout = 60 * time.Second

// stopGrace is how long Close waits after SIGTERM before SIGKILL.
const stopGrace = 3 * time.Second

// Lab is a set of network namespaces wired by bridges. Its methods are safe
// for concurrent use.
type Lab struct {
	tag   string
	spec  Spec
	hosts map[string]*host // includes the bridges' namespace
	order []string         // host names in spec order, then the bridges'

	mu       sync.Mutex
	closed   bool
	procs    []*Process
	onClose  []func() error
	handles  map[string]*netlink.Handle
	closeErr error
}

type host struct {
	name   string
	nsName string
	ns     netns.NsHandle
	links  []link
}

// New builds the lab described by spec. With a non-nil tb, Close is
// registered with tb.Cleanup (and a teardown failure fails the test). On
// error, whatever was built is torn down.
func New(tb testing.TB, spec Spec) (*Lab, error) {
	if tb != nil {
		tb.Helper()
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		return nil, fmt.Errorf("lab tag: %w", err)
	}
	l := &Lab{
		tag:     TagPrefix + hex.EncodeToString(rnd[:]),
		spec:    spec,
		hosts:   map[string]*host{},
		handles: map[string]*netlink.Handle{},
	}
	if tb != nil {
		tb.Cleanup(func() {
			if err := l.Close(); err != nil {
				tb.Errorf("lab %s teardown: %v", l.tag, err)
			}
		})
	}
	if err := l.build(); err != nil {
		if cerr := l.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("teardown after failed build: %w", cerr))
		}
		return nil, fmt.Errorf("lab %s: %w", l.tag, err)
	}
	return l, nil
}

func (l *Lab) build() error {
	if err := ensureNetnsDir(); err != nil {
		return err
	}
	names := []string{}
	for _, h := range l.spec.Hosts {
		names = append(names, h.Name)
	}
	names = append(names, bridgeHostName)
	for _, name := range names {
		h := &host{name: name, nsName: l.tag + "-" + name}
		ns, err := createNamed(h.nsName)
		if err != nil {
			return err
		}
		h.ns = ns
		l.hosts[name] = h
		l.order = append(l.order, name)
		if err := l.Do(name, func() error { return l.baseSysctls() }); err != nil {
			return err
		}
	}
	sw, err := l.Netlink(bridgeHostName)
	if err != nil {
		return err
	}
	if err := setUp(sw, "lo"); err != nil {
		return fmt.Errorf("bridges' netns: %w", err)
	}
	bridges := map[string]int{}
	for hi, hs := range l.spec.Hosts {
		h := l.hosts[hs.Name]
		links, err := hs.links()
		if err != nil {
			return err
		}
		h.links = links
		nl, err := l.Netlink(hs.Name)
		if err != nil {
			return err
		}
		if err := setUp(nl, "lo"); err != nil {
			return fmt.Errorf("host %s: %w", hs.Name, err)
		}
		for li, lk := range links {
			brIndex, ok := bridges[lk.segment]
			if !ok {
				br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: lk.segment}}
				if err := sw.LinkAdd(br); err != nil {
					return fmt.Errorf("create bridge %s: %w", lk.segment, err)
				}
				if err := setUp(sw, lk.segment); err != nil {
					return err
				}
				bl, err := sw.LinkByName(lk.segment)
				if err != nil {
					return fmt.Errorf("bridge %s: %w", lk.segment, err)
				}
				brIndex = bl.Attrs().Index
				bridges[lk.segment] = brIndex
			}
			swName := hs.Name + "-" + lk.name
			if len(swName) > 15 {
				swName = fmt.Sprintf("v%d-%d", hi, li)
			}
			veth := &netlink.Veth{
				LinkAttrs:        netlink.LinkAttrs{Name: swName, MasterIndex: brIndex},
				PeerName:         lk.name,
				PeerHardwareAddr: net.HardwareAddr{0x02, 0x4c, 0, byte(li), 0, byte(hi + 1)},
				PeerNamespace:    netlink.NsFd(int(h.ns)),
			}
			if err := sw.LinkAdd(veth); err != nil {
				return fmt.Errorf("host %s: veth %s<->%s: %w", hs.Name, lk.name, swName, err)
			}
			if err := setUp(sw, swName); err != nil {
				return err
			}
			hl, err := nl.LinkByName(lk.name)
			if err != nil {
				return fmt.Errorf("host %s: %w", hs.Name, err)
			}
			for _, a := range lk.addrs {
				if err := nl.AddrAdd(hl, &netlink.Addr{IPNet: a}); err != nil {
					return fmt.Errorf("host %s: address %s on %s: %w", hs.Name, a, lk.name, err)
				}
			}
			if err := nl.LinkSetUp(hl); err != nil {
				return fmt.Errorf("host %s: set %s up: %w", hs.Name, lk.name, err)
			}
		}
		for _, r := range hs.Routes {
			if err := addRoute(nl, r); err != nil {
				return fmt.Errorf("host %s: %w", hs.Name, err)
			}
		}
		if len(hs.Sysctls) > 0 {
			keys := make([]string, 0, len(hs.Sysctls))
			for k := range hs.Sysctls {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			err := l.Do(hs.Name, func() error {
				for _, k := range keys {
					if err := writeSysctl(k, hs.Sysctls[k]); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("host %s: %w", hs.Name, err)
			}
		}
	}
	return nil
}

// baseSysctls runs inside a fresh namespace.
func (l *Lab) baseSysctls() error {
	if l.spec.EnableIPv6 {
		return nil
	}
	if _, err := os.Stat("/proc/sys/net/ipv6"); err != nil {
		return nil // no IPv6 in this kernel: nothing to disable
	}
	for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if err := writeSysctl(k, "1"); err != nil {
			return err
		}
	}
	return nil
}

func setUp(nl *netlink.Handle, name string) error {
	lk, err := nl.LinkByName(name)
	if err != nil {
		return fmt.Errorf("link %s: %w", name, err)
	}
	if err := nl.LinkSetUp(lk); err != nil {
		return fmt.Errorf("set %s up: %w", name, err)
	}
	return nil
}

func addRoute(nl *netlink.Handle, r RouteSpec) error {
	rt := &netlink.Route{}
	if r.Dst != "default" {
		_, dst, err := net.ParseCIDR(r.Dst)
		if err != nil {
			return fmt.Errorf("route %s: %w", r.Dst, err)
		}
		rt.Dst = dst
	}
	if r.Via != "" {
		rt.Gw = net.ParseIP(r.Via)
	}
	if r.Dev != "" {
		lk, err := nl.LinkByName(r.Dev)
		if err != nil {
			return fmt.Errorf("route %s dev %s: %w", r.Dst, r.Dev, err)
		}
		rt.LinkIndex = lk.Attrs().Index
	}
	if err := nl.RouteAdd(rt); err != nil {
		return fmt.Errorf("route %s via %q dev %q: %w", r.Dst, r.Via, r.Dev, err)
	}
	return nil
}

// Tag returns the lab's random tag; every namespace name starts with it.
func (l *Lab) Tag() string { return l.tag }

// Hosts returns the host names in spec order.
func (l *Lab) Hosts() []string {
	var out []string
	for _, h := range l.spec.Hosts {
		out = append(out, h.Name)
	}
	return out
}

func (l *Lab) host(name string) (*host, error) {
	h, ok := l.hosts[name]
	if !ok {
		return nil, fmt.Errorf("lab %s: no host %q", l.tag, name)
	}
	return h, nil
}

// NetnsName returns the namespace name of a host (as `ip netns` shows it),
// or "" for an unknown host.
func (l *Lab) NetnsName(hostName string) string {
	h, err := l.host(hostName)
	if err != nil {
		return ""
	}
	return h.nsName
}

// NetnsPath returns the bind-mount path of a host's namespace (for
// ipvs.New, `ip netns exec` or nsenter), or "" for an unknown host.
func (l *Lab) NetnsPath(hostName string) string {
	h, err := l.host(hostName)
	if err != nil {
		return ""
	}
	return filepath.Join(NetnsDir, h.nsName)
}

// NsHandle returns the lab-owned handle of a host's namespace (for
// netlink.NewHandleAt or nftables.WithNetNSFd). Do not close it.
func (l *Lab) NsHandle(hostName string) (netns.NsHandle, error) {
	h, err := l.host(hostName)
	if err != nil {
		return netns.None(), err
	}
	return h.ns, nil
}

// Addr returns the first address of a host's first interface, or nil.
func (l *Lab) Addr(hostName string) net.IP {
	h, err := l.host(hostName)
	if err != nil || len(h.links) == 0 || len(h.links[0].addrs) == 0 {
		return nil
	}
	return h.links[0].addrs[0].IP
}

// Netlink returns a lab-owned netlink handle bound to a host's namespace,
// usable from any goroutine. Do not close it.
func (l *Lab) Netlink(hostName string) (*netlink.Handle, error) {
	h, err := l.host(hostName)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, fmt.Errorf("lab %s is closed", l.tag)
	}
	if nh, ok := l.handles[hostName]; ok {
		return nh, nil
	}
	nh, err := netlink.NewHandleAt(h.ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle for %s: %w", hostName, err)
	}
	l.handles[hostName] = nh
	return nh, nil
}

// MAC returns the hardware address of interface ifName on a host.
func (l *Lab) MAC(hostName, ifName string) (net.HardwareAddr, error) {
	nl, err := l.Netlink(hostName)
	if err != nil {
		return nil, err
	}
	lk, err := nl.LinkByName(ifName)
	if err != nil {
		return nil, fmt.Errorf("host %s interface %s: %w", hostName, ifName, err)
	}
	return lk.Attrs().HardwareAddr, nil
}

// Do runs fn on a locked OS thread inside a host's namespace and returns its
// error. Only work done on that goroutine happens in the namespace:
// goroutines fn starts run elsewhere. Sockets and netlink handles created
// inside fn stay bound to the namespace.
func (l *Lab) Do(hostName string, fn func() error) error {
	h, err := l.host(hostName)
	if err != nil {
		return err
	}
	return doIn(h.ns, hostName, fn)
}

// Sysctl writes a sysctl (dotted key) inside a host's namespace.
func (l *Lab) Sysctl(hostName, key, value string) error {
	return l.Do(hostName, func() error { return writeSysctl(key, value) })
}

// SysctlGet reads a sysctl (dotted key) inside a host's namespace.
func (l *Lab) SysctlGet(hostName, key string) (string, error) {
	var v string
	err := l.Do(hostName, func() error {
		var err error
		v, err = readSysctl(key)
		return err
	})
	return v, err
}

// OnClose registers fn to run at the start of Close, before processes are
// stopped and namespaces deleted; hooks run last-registered first.
func (l *Lab) OnClose(fn func() error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.onClose = append(l.onClose, fn)
}

// Start starts argv inside a host's namespace, in a process group of its
// own, with stdout and stderr captured. Close stops it if it is still
// running.
func (l *Lab) Start(hostName string, argv ...string) (*Process, error) {
	if len(argv) == 0 {
		return nil, fmt.Errorf("start on %s: empty command", hostName)
	}
	h, err := l.host(hostName)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("start %s on %s: lab %s is closed", argv[0], hostName, l.tag)
	}
	p := &Process{host: hostName, argv: argv, out: newNotifyBuffer(), done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// The child is forked from a thread inside the namespace and inherits it.
	err = doIn(h.ns, hostName, func() error { return p.cmd.Start() })
	if err != nil {
		return nil, fmt.Errorf("start %s on %s: %w", strings.Join(argv, " "), hostName, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// Exec runs argv inside a host's namespace, bounded by DefaultExecTimeout,
// and returns its combined output. A non-zero exit is an error that carries
// the output.
func (l *Lab) Exec(hostName string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultExecTimeout)
	defer cancel()
	return l.ExecContext(ctx, hostName, argv...)
}

// ExecContext is Exec bounded by ctx instead.
func (l *Lab) ExecContext(ctx context.Context, hostName string, argv ...string) (string, error) {
	p, err := l.Start(hostName, argv...)
	if err != nil {
		return "", err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		_ = p.Signal(syscall.SIGKILL)
		<-p.Done()
		return p.Output(), fmt.Errorf("%s on %s: %w; output:\n%s", strings.Join(argv, " "), hostName, ctx.Err(), p.Output())
	}
	if err := p.Wait(); err != nil {
		return p.Output(), fmt.Errorf("%s on %s: %w; output:\n%s", strings.Join(argv, " "), hostName, err, p.Output())
	}
	return p.Output(), nil
}

// DialContext returns a dial function whose sockets live in a host's
// namespace, for net/http or any client. Dial IP literals: name resolution
// would run outside the namespace's thread.
func (l *Lab) DialContext(hostName string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := l.Do(hostName, func() error {
			var d net.Dialer
			var err error
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		if err != nil {
			return nil, fmt.Errorf("dial %s %s from %s: %w", network, addr, hostName, err)
		}
		return c, nil
	}
}

// HTTPClient returns an HTTP client whose connections start in a host's
// namespace. Keep-alives are off: every request is a new TCP connection.
func (l *Lab) HTTPClient(hostName string, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:       l.DialContext(hostName),
			DisableKeepAlives: true,
			Proxy:             nil,
		},
	}
}

// Listen opens a listener inside a host's namespace. Close closes it.
func (l *Lab) Listen(hostName, network, addr string) (net.Listener, error) {
	var ln net.Listener
	err := l.Do(hostName, func() error {
		var err error
		ln, err = net.Listen(network, addr)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s on %s: %w", network, addr, hostName, err)
	}
	l.OnClose(func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return fmt.Errorf("close listener %s on %s: %w", addr, hostName, err)
		}
		return nil
	})
	return ln, nil
}

// Close tears the lab down: OnClose hooks, then every started process
// (SIGTERM to its process group, SIGKILL after a grace period, always
// waited for), then netlink handles and namespaces. It is idempotent and
// returns the first call's result on later calls.
func (l *Lab) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return l.closeErr
	}
	l.closed = true
	hooks := l.onClose
	procs := l.procs
	handles := l.handles
	l.handles = nil
	l.mu.Unlock()

	var errs []error
	for i := len(hooks) - 1; i >= 0; i-- {
		if err := hooks[i](); err != nil {
			errs = append(errs, err)
		}
	}
	for _, p := range procs {
		if err := p.killGroup(syscall.SIGTERM); err != nil {
			errs = append(errs, err)
		}
	}
	deadline := time.NewTimer(stopGrace)
	for _, p := range procs {
		select {
		case <-p.Done():
		case <-deadline.C:
		}
	}
	deadline.Stop()
	for _, p := range procs {
		if err := p.killGroup(syscall.SIGKILL); err != nil {
			errs = append(errs, err)
		}
		<-p.Done()
	}
	for _, nh := range handles {
		nh.Close()
	}
	for i := len(l.order) - 1; i >= 0; i-- {
		h := l.hosts[l.order[i]]
		if h.ns.IsOpen() {
			if err := h.ns.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close netns handle %s: %w", h.nsName, err))
			}
		}
		if err := deleteNamed(h.nsName); err != nil {
			errs = append(errs, err)
		}
	}
	l.mu.Lock()
	l.closeErr = errors.Join(errs...)
	l.mu.Unlock()
	return l.closeErr
}

// killGroup signals the process group the process leads.
func (p *Process) killGroup(sig syscall.Signal) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if err := unix.Kill(-p.Pid(), sig); err != nil && !errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("signal %v to %s on %s (pgid %d): %w", sig, p.argv[0], p.host, p.Pid(), err)
	}
	return nil
}
