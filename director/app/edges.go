package app

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"

	"github.com/tandemlb/tandem/director/lvs"
	"github.com/tandemlb/tandem/director/vrrp"
)

// The director's edges: every place where director/app touches the kernel
// or the OS goes through an Options field, so that the wiring runs on
// fakes without root (harness_test.go). nil means the real one.
//
//	Options.OpenIPVS    the IPVS table and sync daemons (lvs.Open)
//	Options.NewVRRP     the VRRP drivers: raw sockets, VIPs, routes (vrrp.NewDriver)
//	Options.Links       the links of weighted track_interface lines (netlink)
//	Options.Static      static_ipaddress, static_routes, static_rules (netlink)
//	Options.TrackExec   vrrp_script programs; Options.ProcFS: vrrp_track_process (/proc)
//	Options.Mailer      smtp_alert (SMTP)
//	Options.SysctlRoot  /proc/sys: the IPVS sysctls and net.ipv4.ip_forward
//	Options.Interfaces  whether an interface exists, its addresses (netlink; this file)
//	Options.Firewall    the nftables ruleset the VRRP warning reads (this file)
//	Options.Host        IPVS scheduler modules, processes by name (/proc, /lib/modules; this file)
//	Options.HandOver    the connection table sent to the peer on a release (/proc, UDP multicast; this file)
//
// The heartbeat (UDP) and metrics (TCP) listeners and the control socket
// are real sockets: tests bind them on 127.0.0.1 and in a temporary
// directory, which needs no root.

// Interfaces is what the director reads of the host's network interfaces
// outside the VRRP drivers: whether one exists (the error of a failed
// instance or sync daemon names a missing interface), the addresses on one
// (the VIPs a previous run left), and the address manager an instance
// that starts with such VIPs keeps them with. hostInterfaces is the real
// one.
type Interfaces interface {
	// Exists reports whether the interface name exists in the director's
	// network namespace.
	Exists(name string) bool
	// Addrs lists the addresses on the interface name: the IPv6 ones when
	// v6, else the IPv4 ones.
	Addrs(name string, v6 bool) ([]netip.Addr, error)
	// OpenAddrs opens a manager of VIPs in the director's network
	// namespace; the caller closes it.
	OpenAddrs() (AddrCloser, error)
}

// AddrCloser is a vrrp.AddrManager that holds a handle until Close.
type AddrCloser interface {
	vrrp.AddrManager
	Close()
}

// Firewall reads the host's firewall ruleset: the chains of the ip and
// inet tables, which vrrpFindings walks as a VRRP advert would.
// nftFirewall is the real one.
type Firewall interface {
	Chains() ([]FirewallChain, error)
}

// HostInfo answers the start-up checks about the host that are neither
// an interface nor the firewall. osHost is the real one. (ip_forward is a
// sysctl: it is read under Options.SysctlRoot.)
type HostInfo interface {
	// CheckScheduler returns why the IPVS scheduler name cannot be used
	// (its module neither loaded nor installed), nil when it can.
	CheckScheduler(name string) error
	// ProcessesNamed lists the PIDs of the processes whose comm is name,
	// in the director's network namespace.
	ProcessesNamed(name string) []string
}

// hostInterfaces is Interfaces of the current network namespace.
type hostInterfaces struct{}

func (hostInterfaces) Exists(name string) bool {
	_, err := net.InterfaceByName(name)
	return err == nil
}

func (hostInterfaces) Addrs(name string, v6 bool) ([]netip.Addr, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	fam := netlink.FAMILY_V4
	if v6 {
		fam = netlink.FAMILY_V6
	}
	addrs, err := netlink.AddrList(link, fam)
	if err != nil {
		return nil, err
	}
	out := make([]netip.Addr, 0, len(addrs))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			out = append(out, ip.Unmap())
		}
	}
	return out, nil
}

func (hostInterfaces) OpenAddrs() (AddrCloser, error) { return vrrp.NewNetlinkAddrs(0) }

// nftFirewall is Firewall through nftables in the current network
// namespace. iptables-nft rules are nftables rules and are seen; legacy
// iptables rules are not.
type nftFirewall struct{}

func (nftFirewall) Chains() ([]FirewallChain, error) {
	conn, err := nftables.New()
	if err != nil {
		return nil, fmt.Errorf("nftables: %w", err)
	}
	cs, err := conn.ListChains()
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	var chains []FirewallChain
	for _, c := range cs {
		if c.Table == nil || (c.Table.Family != nftables.TableFamilyIPv4 && c.Table.Family != nftables.TableFamilyINet) {
			continue
		}
		fc := FirewallChain{Table: familyName(c.Table.Family) + " " + c.Table.Name, Name: c.Name}
		if c.Hooknum != nil && *c.Hooknum == *nftables.ChainHookInput {
			fc.Base = true
			fc.PolicyDrop = c.Policy != nil && *c.Policy == nftables.ChainPolicyDrop
		}
		rules, err := conn.GetRules(c.Table, c)
		if err != nil {
			return nil, fmt.Errorf("nftables: rules of %s %s: %w", fc.Table, c.Name, err)
		}
		for _, r := range rules {
			fc.Rules = append(fc.Rules, ruleOf(r.Handle, r.Exprs))
		}
		chains = append(chains, fc)
	}
	return chains, nil
}

func familyName(f nftables.TableFamily) string {
	if f == nftables.TableFamilyINet {
		return "inet"
	}
	return "ip"
}

// osHost is HostInfo of this host: lvs.CheckScheduler, and /proc scanned
// for processes.
type osHost struct{}

func (osHost) CheckScheduler(name string) error    { return lvs.CheckScheduler(name) }
func (osHost) ProcessesNamed(name string) []string { return ProcessesNamed(name) }

// ConnHandOver hands the IPVS connections to the peer's backup sync daemon
// when an instance releases MASTER (vrrp.HandOver: after its VIPs are
// off, before its priority-0 advert). kernelHandOver is the real one.
type ConnHandOver interface {
	// HandOver reads the connection table, keeps what req.Keep says and
	// sends it to the sync daemon's multicast group on req.Interface with
	// req.SyncID, within ctx. Read is the table's size; Conns and
	// Messages what was sent. On an error it still says what it did.
	HandOver(ctx context.Context, req HandOverRequest) (HandOverResult, error)
}

// HandOverRequest is one hand-over: where to send, what to send and what
// each entry needs besides its line of the table.
type HandOverRequest struct {
	Interface string
	SyncID    uint8
	Keep      func(lvs.Conn) bool
	Info      func(lvs.Conn) lvs.ConnInfo
}

// HandOverResult counts what a hand-over read and sent.
type HandOverResult struct {
	Read, Conns, Messages int
}

// kernelHandOver is ConnHandOver through /proc/net/ip_vs_conn and an
// lvs.SyncSender in the current network namespace.
type kernelHandOver struct{}

func (kernelHandOver) HandOver(ctx context.Context, req HandOverRequest) (HandOverResult, error) {
	var res HandOverResult
	table, rerr := lvs.ReadConnTable()
	if rerr != nil && len(table) == 0 {
		return res, rerr
	}
	res.Read = len(table)
	conns := table[:0]
	for _, c := range table {
		if req.Keep == nil || req.Keep(c) {
			conns = append(conns, c)
		}
	}
	if len(conns) == 0 {
		return res, rerr
	}
	timeout := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		if timeout = time.Until(dl); timeout <= 0 {
			return res, ctx.Err()
		}
	}
	s, err := lvs.NewSyncSender(lvs.SyncSenderConfig{Interface: req.Interface, SyncID: req.SyncID, Timeout: timeout})
	if err != nil {
		return res, err
	}
	defer s.Close()
	res.Conns, res.Messages, err = s.SendConnsInfo(conns, req.Info)
	if err == nil {
		err = rerr // a partly read table was sent as far as it was read
	}
	return res, err
}
