package lvs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
	"github.com/moby/ipvs"
	"golang.org/x/sys/unix"
)

// ErrNoIPVS is wrapped by the error [Open] returns when the kernel has no
// IPVS (the ip_vs module is neither built in nor loadable).
var ErrNoIPVS = errors.New("ipvs: the kernel has no IPVS (ip_vs)")

// ipvsFamilyName is the generic netlink family of IPVS (IPVS_GENL_NAME).
const ipvsFamilyName = "IPVS"

// Kernel is the real [Client]: the IPVS table of one network namespace.
// Its sockets are opened once, by [Open], for the whole run: one netlink
// socket through github.com/moby/ipvs for reads and single operations, one
// generic-netlink socket (github.com/mdlayher/genetlink) for what moby/ipvs
// lacks (sync daemon, version), and one for batches ([Kernel.Execute]).
// It is safe for concurrent use; table calls are serialised.
type Kernel struct {
	mu     sync.Mutex
	h      *ipvs.Handle
	gc     *genetlink.Conn
	bc     *netlink.Conn // batches (see Execute)
	buf    []byte        // batch reply buffer
	family uint16
	seq    uint32 // of the batch socket's requests
	wbuf   []byte // the batch being written
	log    *slog.Logger
}

var _ Client = (*Kernel)(nil)

// Open connects to IPVS in the network namespace bound at netnsPath (for
// example /run/netns/NAME), or in the calling thread's namespace when
// netnsPath is empty.
//
// It first resolves the "IPVS" generic netlink family itself: on a kernel
// without ip_vs, moby/ipvs would otherwise accept every call and do nothing.
// Resolving the family also makes a kernel with MODULE_ALIAS_GENL_FAMILY
// (5.16 and later, Debian 12's 6.1 included) load ip_vs on demand. If it
// cannot be resolved, the error wraps [ErrNoIPVS] and says whether the
// module exists but is not loaded or does not exist at all.
func Open(netnsPath string, logger *slog.Logger) (*Kernel, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg := &netlink.Config{}
	if netnsPath != "" {
		f, err := os.Open(netnsPath)
		if err != nil {
			return nil, fmt.Errorf("ipvs: open network namespace %s: %w", netnsPath, err)
		}
		defer f.Close()
		cfg.NetNS = int(f.Fd())
	}
	gc, err := genetlink.Dial(cfg)
	if err != nil {
		return nil, fmt.Errorf("ipvs: generic netlink socket: %w", err)
	}
	fam, err := gc.GetFamily(ipvsFamilyName)
	if err != nil {
		gc.Close()
		if errors.Is(err, os.ErrNotExist) {
			return nil, diagnoseNoIPVS()
		}
		return nil, fmt.Errorf("ipvs: resolve generic netlink family %q: %w", ipvsFamilyName, err)
	}
	bc, err := netlink.Dial(unix.NETLINK_GENERIC, cfg)
	if err != nil {
		gc.Close()
		return nil, fmt.Errorf("ipvs: netlink socket for batches: %w", err)
	}
	_ = bc.SetReadBuffer(1 << 20) // best effort: room for a batch's error replies
	// Only now, with the family known to exist, let moby/ipvs resolve it:
	// it does so once per process and never retries.
	h, err := ipvs.New(netnsPath)
	if err != nil {
		gc.Close()
		bc.Close()
		return nil, fmt.Errorf("ipvs: netlink socket: %w", err)
	}
	k := &Kernel{h: h, gc: gc, bc: bc, buf: make([]byte, 1<<16), family: fam.ID, log: logger}
	return k, nil
}

// Close releases both sockets. The kernel table is left as it is.
func (k *Kernel) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.h != nil {
		k.h.Close()
		k.h = nil
	}
	return errors.Join(k.bc.Close(), k.gc.Close())
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return "unknown"
	}
	return unix.ByteSliceToString(u.Release[:])
}

// modulePresent reports whether kernel module name (e.g. "ip_vs_wlc") is
// loaded, built in, or available as a file under /lib/modules/RELEASE, and
// a short description of where it was found or looked for.
func modulePresent(root, release, name string) (bool, string) {
	if _, err := os.Stat(filepath.Join(root, "sys/module", name)); err == nil {
		return true, "loaded"
	}
	modDir := filepath.Join(root, "lib/modules", release)
	if f, err := os.Open(filepath.Join(modDir, "modules.builtin")); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if strings.TrimSuffix(filepath.Base(sc.Text()), ".ko") == name {
				return true, "built in"
			}
		}
	}
	matches, _ := filepath.Glob(filepath.Join(modDir, "kernel/net/netfilter/ipvs", name+".ko*"))
	if len(matches) > 0 {
		return true, "module " + matches[0]
	}
	return false, "not loaded, not built in, no module under " + filepath.Join(modDir, "kernel/net/netfilter/ipvs")
}

func diagnoseNoIPVS() error {
	return diagnoseNoIPVSAt("/", kernelRelease())
}

func diagnoseNoIPVSAt(root, release string) error {
	if ok, where := modulePresent(root, release, "ip_vs"); ok && strings.HasPrefix(where, "module ") {
		return fmt.Errorf("%w: kernel %s has ip_vs as a module (%s) but it is not loaded: load it with `modprobe ip_vs`, or list ip_vs in /etc/modules-load.d/ for boot", ErrNoIPVS, release, strings.TrimPrefix(where, "module "))
	} else if !ok {
		return fmt.Errorf("%w: kernel %s has no ip_vs (%s); IPVS needs a kernel built with CONFIG_IP_VS", ErrNoIPVS, release, where)
	}
	return fmt.Errorf("%w: kernel %s reports ip_vs present but its generic netlink family %q does not resolve", ErrNoIPVS, release, ipvsFamilyName)
}

// CheckScheduler reports an error when the IPVS scheduler module
// ip_vs_NAME is neither loaded, built in, nor installed under
// /lib/modules/RELEASE. The kernel loads a scheduler module on first use, so
// an installed module is enough. The check is advisory (a system without
// /lib/modules, such as a container, cannot tell); the authoritative answer
// is the error of the first NewService, which names the scheduler as well.
func CheckScheduler(name string) error {
	return checkSchedulerAt("/", kernelRelease(), name)
}

func checkSchedulerAt(root, release, name string) error {
	if name == "" {
		name = defaultSched
	}
	if ok, where := modulePresent(root, release, "ip_vs_"+name); !ok {
		return fmt.Errorf("ipvs: scheduler %q is not available on kernel %s: ip_vs_%s %s", name, release, name, where)
	}
	return nil
}

// Services implements [Client]: one dump of the services, then one dump of
// destinations per service.
func (k *Kernel) Services() ([]ServiceState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	svcs, err := k.h.GetServices()
	if err != nil {
		return nil, fmt.Errorf("ipvs: list services: %w", err)
	}
	out := make([]ServiceState, 0, len(svcs))
	for _, ms := range svcs {
		st, err := k.readDests(ms)
		if errors.Is(err, syscall.ESRCH) {
			continue // deleted since the dump
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Service implements [Client].
func (k *Kernel) Service(s Service) (ServiceState, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	ms, err := k.h.GetService(toMobyService(s))
	if err != nil {
		if errors.Is(err, syscall.ESRCH) || errors.Is(err, syscall.ENOENT) {
			return ServiceState{}, fmt.Errorf("ipvs: get service %s: %w (%w)", s.Key(), ErrNotFound, err)
		}
		return ServiceState{}, fmt.Errorf("ipvs: get service %s: %w", s.Key(), err)
	}
	st, err := k.readDests(ms)
	if errors.Is(err, syscall.ESRCH) {
		return ServiceState{}, fmt.Errorf("ipvs: get service %s: %w (%w)", s.Key(), ErrNotFound, err)
	}
	return st, err
}

func (k *Kernel) readDests(ms *ipvs.Service) (ServiceState, error) {
	s, err := fromMobyService(ms)
	if err != nil {
		return ServiceState{}, err
	}
	dests, err := k.h.GetDestinations(ms)
	if err != nil {
		return ServiceState{}, fmt.Errorf("ipvs: list destinations of %s: %w", s.Key(), err)
	}
	st := ServiceState{Service: s, Destinations: make([]DestinationState, 0, len(dests)), Stats: fromMobyStats(ms.Stats)}
	for _, md := range dests {
		d, err := fromMobyDest(md)
		if err != nil {
			return ServiceState{}, fmt.Errorf("ipvs: destination of %s: %w", s.Key(), err)
		}
		st.Destinations = append(st.Destinations, d)
	}
	return st, nil
}

// NewService implements [Client].
func (k *Kernel) NewService(s Service) error {
	return k.svcOp(AddService, s, k.h.NewService)
}

// UpdateService implements [Client]. It edits the service in place
// (scheduler, flags, timeout, netmask); connections are kept.
func (k *Kernel) UpdateService(s Service) error {
	return k.svcOp(UpdateService, s, k.h.UpdateService)
}

// DelService implements [Client]. The kernel removes the service's
// destinations with it.
func (k *Kernel) DelService(s Service) error {
	return k.svcOp(DelService, s, k.h.DelService)
}

// NewDestination implements [Client].
func (k *Kernel) NewDestination(s Service, d Destination) error {
	return k.destOp(AddDestination, s, d, k.h.NewDestination)
}

// UpdateDestination implements [Client]. The whole destination is sent,
// forwarding method included: moby/ipvs sends a zero ConnectionFlags as
// masquerading, which would silently turn a DR destination into NAT.
func (k *Kernel) UpdateDestination(s Service, d Destination) error {
	return k.destOp(UpdateDestination, s, d, k.h.UpdateDestination)
}

// DelDestination implements [Client].
func (k *Kernel) DelDestination(s Service, d Destination) error {
	return k.destOp(DelDestination, s, d, k.h.DelDestination)
}

func (k *Kernel) svcOp(kind OpKind, s Service, fn func(*ipvs.Service) error) error {
	op := Op{Kind: kind, Service: s.normalized()}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := fn(toMobyService(s)); err != nil {
		return &OpError{Op: op, Err: explain(op, err)}
	}
	return nil
}

func (k *Kernel) destOp(kind OpKind, s Service, d Destination, fn func(*ipvs.Service, *ipvs.Destination) error) error {
	op := Op{Kind: kind, Service: s.normalized(), Dest: d}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := fn(toMobyService(s), toMobyDest(d)); err != nil {
		return &OpError{Op: op, Err: explain(op, err)}
	}
	return nil
}

// explain adds what the kernel's terse errno means for op.
func explain(op Op, err error) error {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return err
	}
	switch {
	case errno == syscall.EPERM:
		return fmt.Errorf("%w: needs CAP_NET_ADMIN", err)
	case errno == syscall.ENOENT && (op.Kind == AddService || op.Kind == UpdateService):
		sched := op.Service.normalized().Scheduler
		if cerr := CheckScheduler(sched); cerr != nil {
			return fmt.Errorf("%w: %w", err, cerr)
		}
		return fmt.Errorf("%w: the kernel could not load scheduler module ip_vs_%s", err, sched)
	case errno == syscall.EINVAL && (op.Kind == AddDestination || op.Kind == UpdateDestination):
		return fmt.Errorf("%w: the kernel does not take %s as a unicast address: it is a broadcast or multicast address here, or this network namespace has no local routing table yet (no interface configured)", err, op.Dest.Addr)
	case errno == syscall.ESRCH || (errno == syscall.ENOENT && (op.Kind == UpdateDestination || op.Kind == DelDestination)):
		return fmt.Errorf("%w (%w)", ErrNotFound, err)
	}
	return err
}

func toMobyService(s Service) *ipvs.Service {
	n := s.normalized()
	ms := &ipvs.Service{
		SchedName: n.Scheduler,
		Flags:     uint32(n.Flags),
		Timeout:   n.Timeout,
	}
	if n.ipv6() {
		ms.AddressFamily = syscall.AF_INET6
		// For IPv6 the kernel takes the prefix length as a plain u32.
		ms.Netmask = uint32(n.Netmask)
	} else {
		ms.AddressFamily = syscall.AF_INET
		ms.Netmask = v4Netmask(n.Netmask)
	}
	if n.FWMark != 0 {
		ms.FWMark = n.FWMark
	} else {
		ms.Protocol = uint16(n.Protocol)
		ms.Address = net.IP(n.Addr.AsSlice())
		ms.Port = n.Port
	}
	return ms
}

// v4Netmask encodes an IPv4 prefix length the way moby/ipvs must be given
// it. The kernel reads the netmask attribute as a big-endian mask, moby/ipvs
// writes the uint32 in host order: pass the value whose host-order bytes
// are the mask's network-order bytes (0xffffffff for /32 either way).
func v4Netmask(prefix int) uint32 {
	var be [4]byte
	binary.BigEndian.PutUint32(be[:], ^uint32(0)<<(32-prefix)) // /0 shifts out every bit
	return binary.NativeEndian.Uint32(be[:])
}

func v4Prefix(netmask uint32) int {
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], netmask)
	return bits.LeadingZeros32(^binary.BigEndian.Uint32(b[:]))
}

func fromMobyService(ms *ipvs.Service) (Service, error) {
	s := Service{
		Scheduler: ms.SchedName,
		Flags:     ServiceFlags(ms.Flags) &^ flagHashed,
		Timeout:   ms.Timeout,
		FWMark:    ms.FWMark,
	}
	v6 := ms.AddressFamily == syscall.AF_INET6
	if v6 {
		s.Netmask = int(ms.Netmask)
	} else {
		s.Netmask = v4Prefix(ms.Netmask)
	}
	if ms.FWMark != 0 {
		if v6 {
			s.Addr = netip.IPv6Unspecified()
		}
		return s, nil
	}
	a, ok := netip.AddrFromSlice(ms.Address)
	if !ok {
		return Service{}, fmt.Errorf("ipvs: service with unparsable address %v", ms.Address)
	}
	s.Addr = a.Unmap()
	s.Protocol = Protocol(ms.Protocol)
	s.Port = ms.Port
	return s, nil
}

func toMobyDest(d Destination) *ipvs.Destination {
	a := d.Addr.Unmap()
	md := &ipvs.Destination{
		Address:         net.IP(a.AsSlice()),
		Port:            d.Port,
		Weight:          d.Weight,
		ConnectionFlags: d.Forward.connFlags(),
		UpperThreshold:  d.UpperThreshold,
		LowerThreshold:  d.LowerThreshold,
		AddressFamily:   syscall.AF_INET,
	}
	if a.Is6() {
		md.AddressFamily = syscall.AF_INET6
	}
	return md
}

func fromMobyDest(md *ipvs.Destination) (DestinationState, error) {
	a, ok := netip.AddrFromSlice(md.Address)
	if !ok {
		return DestinationState{}, fmt.Errorf("unparsable address %v", md.Address)
	}
	return DestinationState{
		Destination: Destination{
			Addr:           a.Unmap(),
			Port:           md.Port,
			Weight:         md.Weight,
			Forward:        forwardFromConnFlags(md.ConnectionFlags),
			UpperThreshold: md.UpperThreshold,
			LowerThreshold: md.LowerThreshold,
		},
		ActiveConns:   md.ActiveConnections,
		InactiveConns: md.InactiveConnections,
		Stats:         fromMobyStats(ipvs.SvcStats(md.Stats)),
	}, nil
}

// fromMobyStats converts the counters moby/ipvs reads from the kernel's
// IPVS_*_ATTR_STATS attribute.
func fromMobyStats(ms ipvs.SvcStats) Stats {
	return Stats{
		Conns:    uint64(ms.Connections),
		PktsIn:   uint64(ms.PacketsIn),
		PktsOut:  uint64(ms.PacketsOut),
		BytesIn:  ms.BytesIn,
		BytesOut: ms.BytesOut,
		CPS:      uint64(ms.CPS),
		PPSIn:    uint64(ms.PPSIn),
		PPSOut:   uint64(ms.PPSOut),
		BPSIn:    uint64(ms.BPSIn),
		BPSOut:   uint64(ms.BPSOut),
	}
}
