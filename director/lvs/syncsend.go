package lvs

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/tandemlb/tandem/shared/logging"
)

// DefaultSyncGroup is the kernel's sync multicast group and port
// (IP_VS_SYNC_GROUP, IP_VS_SYNC_PORT), what a daemon started without
// either uses.
var DefaultSyncGroup = netip.MustParseAddrPort("224.0.0.81:8848")

// Defaults of the sender's pacing and bound.
const (
	// defaultSyncBurst messages go out back to back, then the sender
	// pauses defaultSyncPause: 16 messages of 40 IPv4 entries (1472
	// bytes) each are about 37 kB, a sixth of a receiver's default
	// socket buffer (net.core.rmem_default, 208 kB, which the kernel's
	// backup socket keeps unless sync_sock_size is set), and 640
	// connections for its sync thread to add per pause. 100,000
	// connections are 2,500 messages: about 160 pauses, 0.2 s.
	defaultSyncBurst = 16
	defaultSyncPause = time.Millisecond
	// defaultSyncTimeout bounds one SendConns call.
	defaultSyncTimeout = 5 * time.Second
	// kernelMasterMTU is the MTU the kernel's master daemon sizes its
	// messages for, whatever the interface's (start_sync_thread); a
	// backup's buffer is never smaller.
	kernelMasterMTU = 1500
	ipv4UDPHeaders  = 20 + 8
	ipv6UDPHeaders  = 40 + 8
)

// SyncSenderConfig configures a SyncSender.
type SyncSenderConfig struct {
	// Interface is the sync interface (config.ConnSync.Interface).
	Interface string
	// SyncID is the sync ID of the pair; the peer's backup drops
	// messages of another (unless its own is 0).
	SyncID uint8
	// Group is the sync daemon's multicast group and port; zero:
	// 224.0.0.81:8848 (IPv4), as the kernel's default.
	Group netip.AddrPort
	// MaxLen is the largest message (UDP payload); zero: as the kernel's
	// master, 1500 bytes (or the interface's MTU if smaller) less the IP
	// and UDP headers: 1472 for IPv4.
	MaxLen int
	// Burst messages are sent back to back, then the sender pauses for
	// Pause, so that the peer's socket buffer does not overflow. Zero:
	// 16 and 1 ms.
	Burst int
	Pause time.Duration
	// Timeout bounds one SendConns call; zero: 5 s.
	Timeout time.Duration
	// Logger gets a line per call; nil: none.
	Logger *slog.Logger
}

// SyncSender sends the connection table to the peer's backup sync daemon
// in the kernel's own sync protocol (see EncodeSyncMessages): for a
// planned hand-over, after the VIPs are gone and before the priority-0
// advert, so that the new master knows the connections the kernel's
// master daemon had not yet synced (it sends a connection only after its
// third packet, and a buffer when full or about 2 s old).
type SyncSender struct {
	cfg    SyncSenderConfig
	conn   *net.UDPConn
	maxLen int
	log    *slog.Logger
	// pause waits between bursts; a test replaces it.
	pause func(ctx context.Context, d time.Duration) error
}

// NewSyncSender opens the sender's socket in the calling thread's network
// namespace: UDP, bound to the interface (SO_BINDTODEVICE, which needs
// CAP_NET_RAW), connected to the group, multicast out of the interface
// with TTL 1 (hop limit 1) and no loopback, so that a backup daemon of
// this host does not take the table back.
func NewSyncSender(cfg SyncSenderConfig) (*SyncSender, error) {
	if cfg.Interface == "" || len(cfg.Interface) > ifNameMax {
		return nil, fmt.Errorf("ipvs sync sender: interface name %q: want 1-%d bytes", cfg.Interface, ifNameMax)
	}
	if !cfg.Group.IsValid() {
		cfg.Group = DefaultSyncGroup
	}
	if g := cfg.Group.Addr(); !g.IsMulticast() || g.Zone() != "" || cfg.Group.Port() == 0 {
		return nil, fmt.Errorf("ipvs sync sender: group %v is not a multicast address and port", cfg.Group)
	}
	cfg.Group = netip.AddrPortFrom(cfg.Group.Addr().Unmap(), cfg.Group.Port())
	if cfg.Burst <= 0 {
		cfg.Burst = defaultSyncBurst
	}
	if cfg.Pause <= 0 {
		cfg.Pause = defaultSyncPause
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = defaultSyncTimeout
	}
	ifi, err := net.InterfaceByName(cfg.Interface)
	if err != nil {
		return nil, fmt.Errorf("ipvs sync sender: interface %s: %w", cfg.Interface, err)
	}
	maxLen := cfg.MaxLen
	if maxLen == 0 {
		maxLen = syncMaxLen(ifi.MTU, cfg.Group.Addr().Is6())
	}
	if maxLen < syncMinMaxLen || maxLen > syncMaxMaxLen {
		return nil, fmt.Errorf("ipvs sync sender: message size %d (interface %s MTU %d) outside %d-%d", maxLen, cfg.Interface, ifi.MTU, syncMinMaxLen, syncMaxMaxLen)
	}
	network := "udp4"
	if cfg.Group.Addr().Is6() {
		network = "udp6"
	}
	var optErr error
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		err := rc.Control(func(fd uintptr) {
			optErr = setSyncSockopts(int(fd), ifi, cfg.Group.Addr().Is6())
		})
		if err != nil {
			return err
		}
		return optErr
	}}
	c, err := d.Dial(network, cfg.Group.String())
	if err != nil {
		return nil, fmt.Errorf("ipvs sync sender: socket to %v on %s: %w", cfg.Group, cfg.Interface, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &SyncSender{cfg: cfg, conn: c.(*net.UDPConn), maxLen: maxLen, log: log, pause: sleepCtx}, nil
}

// syncMaxLen is the kernel master's message size: an MTU of 1500 (or the
// interface's if smaller, so that nothing is fragmented) less the headers.
func syncMaxLen(mtu int, v6 bool) int {
	if mtu <= 0 || mtu > kernelMasterMTU {
		mtu = kernelMasterMTU
	}
	if v6 {
		return mtu - ipv6UDPHeaders
	}
	return mtu - ipv4UDPHeaders
}

func setSyncSockopts(fd int, ifi *net.Interface, v6 bool) error {
	if err := unix.SetsockoptString(fd, unix.SOL_SOCKET, unix.SO_BINDTODEVICE, ifi.Name); err != nil {
		return fmt.Errorf("SO_BINDTODEVICE %s: %w", ifi.Name, err)
	}
	if v6 {
		for _, o := range []struct {
			name string
			opt  int
			val  int
		}{{"IPV6_MULTICAST_IF", unix.IPV6_MULTICAST_IF, ifi.Index}, {"IPV6_MULTICAST_HOPS", unix.IPV6_MULTICAST_HOPS, 1}, {"IPV6_MULTICAST_LOOP", unix.IPV6_MULTICAST_LOOP, 0}} {
			if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o.opt, o.val); err != nil {
				return fmt.Errorf("%s: %w", o.name, err)
			}
		}
		return nil
	}
	if err := unix.SetsockoptIPMreqn(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_IF, &unix.IPMreqn{Ifindex: int32(ifi.Index)}); err != nil {
		return fmt.Errorf("IP_MULTICAST_IF %s: %w", ifi.Name, err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_TTL, 1); err != nil {
		return fmt.Errorf("IP_MULTICAST_TTL: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_MULTICAST_LOOP, 0); err != nil {
		return fmt.Errorf("IP_MULTICAST_LOOP: %w", err)
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// MaxLen is the size of the largest message the sender sends.
func (s *SyncSender) MaxLen() int { return s.maxLen }

// SendConns sends conns to the peer's backup sync daemon as IPVS sync
// protocol version 1 messages (each at most the interface MTU), as the
// kernel's master daemon would; fwd gives each connection's forwarding
// method (nil: ForwardRoute). Returns the number of connections and
// messages sent. Connections the kernel cannot sync (see
// SyncConnFromConn) are skipped and logged; len(conns) less the count
// returned is their number, when err is nil.
func (s *SyncSender) SendConns(conns []Conn, fwd func(Conn) Forward) (sent, messages int, err error) {
	return s.SendConnsInfo(conns, func(c Conn) ConnInfo {
		if fwd == nil {
			return ConnInfo{Forward: ForwardRoute}
		}
		return ConnInfo{Forward: fwd(c)}
	})
}

// SendConnsInfo is SendConns with all a connection's entry needs that the
// table does not show (info may be nil: direct routing, no firewall mark).
func (s *SyncSender) SendConnsInfo(conns []Conn, info func(Conn) ConnInfo) (sent, messages int, err error) {
	start := time.Now()
	entries, skipped, first := syncEntries(conns, info)
	if skipped > 0 {
		s.log.Warn("ipvs sync: connections the kernel cannot sync are not sent", "count", skipped, logging.Err(first))
	}
	msgs, err := EncodeSyncMessages(s.cfg.SyncID, entries, s.maxLen)
	if err != nil {
		return 0, 0, err // unreachable: syncEntries keeps only entries that pass Check
	}
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(s.cfg.Timeout))
	defer cancel()
	deadline, _ := ctx.Deadline()
	if err := s.conn.SetWriteDeadline(deadline); err != nil {
		return 0, 0, fmt.Errorf("ipvs sync: write deadline: %w", err)
	}
	messages, err = sendPaced(ctx, s.conn, msgs, s.cfg.Burst, s.cfg.Pause, s.pause)
	for _, m := range msgs[:messages] {
		sent += int(m[4])
	}
	s.log.Info("ipvs sync: connection table sent", "interface", s.cfg.Interface, "group", s.cfg.Group.String(),
		"syncid", s.cfg.SyncID, "conns", sent, "skipped", skipped,
		"messages", messages, "duration", time.Since(start).Round(time.Microsecond))
	if err != nil {
		return sent, messages, fmt.Errorf("ipvs sync: sent %d of %d messages to %v on %s: %w", messages, len(msgs), s.cfg.Group, s.cfg.Interface, err)
	}
	return sent, messages, nil
}

// syncEntries maps the table to sync entries; it returns the number of
// connections skipped and the first one's reason.
func syncEntries(conns []Conn, info func(Conn) ConnInfo) (entries []SyncConn, skipped int, first error) {
	entries = make([]SyncConn, 0, len(conns))
	for _, c := range conns {
		ci := ConnInfo{Forward: ForwardRoute}
		if info != nil {
			ci = info(c)
		}
		sc, err := SyncConnFromConn(c, ci)
		if err != nil {
			if skipped == 0 {
				first = fmt.Errorf("%s %v -> %v: %w", c.Protocol, c.Client, c.Virtual, err)
			}
			skipped++
			continue
		}
		entries = append(entries, sc)
	}
	return entries, skipped, first
}

// sendPaced writes msgs, pausing after every burst of them; it returns the
// number written.
func sendPaced(ctx context.Context, w interface{ Write([]byte) (int, error) }, msgs [][]byte, burst int, pause time.Duration, wait func(context.Context, time.Duration) error) (int, error) {
	for i, m := range msgs {
		if i > 0 && i%burst == 0 {
			if err := wait(ctx, pause); err != nil {
				return i, err
			}
		}
		if _, err := w.Write(m); err != nil {
			return i, err
		}
	}
	return len(msgs), nil
}

// Close closes the socket.
func (s *SyncSender) Close() error { return s.conn.Close() }
