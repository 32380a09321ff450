package lvs

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// The IPVS connection table as the kernel prints it in
// /proc/net/ip_vs_conn (net/netfilter/ipvs/ip_vs_conn.c,
// ip_vs_conn_seq_show): one header line, then a line per connection, both
// address families in the one file:
//
//	Pro FromIP   FPrt ToIP     TPrt DestIP   DPrt State       Expires PEName PEData
//	TCP C0A80001 D2F4 C0000264 0050 C000020B 0050 ESTABLISHED     897
//	TCP 2001:0db8:0000:0000:0000:0000:0000:0001 D2F4 2001:0db8:...:0064 0050 2001:0db8:...:000b 0050 ESTABLISHED     897
//
// IPv4 addresses are 8 hex digits (the address as a big-endian number),
// IPv6 addresses the full form (%pI6: eight groups of four hex digits),
// ports 4 hex digits, Expires decimal seconds; the destination's family
// may differ from the connection's (its own format). PEName and PEData
// (the persistence engine, e.g. sip and a Call-ID) follow only when set.
// Persistence templates are lines too: client port 0, state NONE.
// ConnTableFile is where the kernel prints the table.
const ConnTableFile = "/proc/net/ip_vs_conn"

// ConnTableThreadFile is the table of the calling thread's network
// namespace (/proc/net follows the process's first thread).
const ConnTableThreadFile = "/proc/thread-self/net/ip_vs_conn"

// Bounds of a table read: MaxConnTable connections (about 150 MB of
// IPv6 lines), lines of at most maxConnLine bytes (an IPv6 line with the
// longest persistence-engine name and data is under 450).
const (
	MaxConnTable = 1 << 20
	maxConnLine  = 1024
)

// ReadConnTable reads and parses the whole connection table of the
// calling thread's network namespace (ConnTableThreadFile), at most
// MaxConnTable connections. The caller's goroutine should be locked to
// its OS thread if threads of the process are in different namespaces.
// See ParseConnTable for what it returns on bad input.
func ReadConnTable() ([]Conn, error) {
	f, err := os.Open(ConnTableThreadFile)
	if err != nil {
		return nil, fmt.Errorf("ipvs connection table: %w", err)
	}
	defer f.Close()
	return ParseConnTable(f, ConnTableThreadFile, MaxConnTable)
}

// ParseConnTable parses a connection table as the kernel prints it (the
// header line first), at most limit connections; name is for errors. It
// returns every connection it could read, and an error, if any, naming the
// first bad line (and how many there were) or saying that the table is
// larger than limit or a line longer than 1024 bytes: a caller handing the
// table over may still send what it got.
func ParseConnTable(r io.Reader, name string, limit int) ([]Conn, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxConnLine)
	var (
		conns    []Conn
		firstBad error
		bad      int
		line     int
	)
	for sc.Scan() {
		line++
		text := sc.Text()
		if line == 1 && strings.HasPrefix(text, "Pro ") {
			continue
		}
		if strings.TrimSpace(text) == "" {
			continue
		}
		if len(conns) == limit {
			return conns, fmt.Errorf("%s: more than %d connections; read the first %d", name, limit, limit)
		}
		c, err := ParseConn(text)
		if err != nil {
			bad++
			if firstBad == nil {
				firstBad = fmt.Errorf("%s line %d: %w", name, line, err)
			}
			continue
		}
		conns = append(conns, c)
	}
	if err := sc.Err(); err != nil {
		return conns, fmt.Errorf("%s after line %d: %w", name, line, err)
	}
	if bad > 1 {
		return conns, fmt.Errorf("%w (and %d more bad lines)", firstBad, bad-1)
	}
	return conns, firstBad
}

// Conn is one IPVS connection (one line of ipvsadm -Lnc).
type Conn struct {
	// Protocol is the kernel's name: TCP, UDP, SCTP, IP (a firewall-mark
	// persistence template), ICMP, ICMPv6, or IP_N.
	Protocol string
	// Client is the client's address and port, Virtual the virtual
	// service's (the VIP the client addressed), Dest the real server's.
	Client, Virtual, Dest netip.AddrPort
	// State is the protocol state (ESTABLISHED, SYN_RECV, FIN_WAIT,
	// TIME_WAIT, CLOSE, ... for TCP; UDP for UDP; NONE for a template).
	State string
	// Expires is the seconds left until the entry expires.
	Expires uint32
	// PEName and PEData are the persistence engine and its data, if any.
	PEName, PEData string
}

// ParseConn reads one line of /proc/net/ip_vs_conn (not the header).
func ParseConn(line string) (Conn, error) {
	f := strings.Fields(line)
	if len(f) < 9 {
		return Conn{}, fmt.Errorf("%d fields, want at least 9 (Pro FromIP FPrt ToIP TPrt DestIP DPrt State Expires)", len(f))
	}
	c := Conn{Protocol: f[0], State: f[7]}
	if !printable(c.Protocol) || !printable(c.State) {
		return Conn{}, errors.New("protocol or state is not printable text")
	}
	var err error
	if c.Client, err = hexAddrPort(f[1], f[2]); err != nil {
		return Conn{}, fmt.Errorf("client: %w", err)
	}
	if c.Virtual, err = hexAddrPort(f[3], f[4]); err != nil {
		return Conn{}, fmt.Errorf("virtual: %w", err)
	}
	if c.Dest, err = hexAddrPort(f[5], f[6]); err != nil {
		return Conn{}, fmt.Errorf("destination: %w", err)
	}
	exp, err := strconv.ParseUint(f[8], 10, 32)
	if err != nil {
		return Conn{}, fmt.Errorf("expires %q is not a number of seconds", f[8])
	}
	c.Expires = uint32(exp)
	if len(f) > 9 {
		c.PEName = f[9]
		c.PEData = strings.Join(f[10:], " ")
		if !printable(c.PEName) || !printable(c.PEData) {
			return Conn{}, errors.New("persistence-engine data is not printable text")
		}
	}
	return c, nil
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return false
		}
	}
	return true
}

// hexAddrPort reads an address (8 hex digits for IPv4, the full IPv6
// form) and a port (4 hex digits).
func hexAddrPort(addr, port string) (netip.AddrPort, error) {
	var a netip.Addr
	switch {
	case len(addr) == 8 && !strings.Contains(addr, ":"):
		v, err := strconv.ParseUint(addr, 16, 32)
		if err != nil {
			return netip.AddrPort{}, fmt.Errorf("address %q is not 8 hex digits", addr)
		}
		a = netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
	case len(addr) == 39 && strings.Count(addr, ":") == 7:
		v, err := netip.ParseAddr(addr)
		if err != nil || !v.Is6() || v.Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("address %q is not a full IPv6 address", addr)
		}
		a = v
	default:
		return netip.AddrPort{}, fmt.Errorf("address %q is neither 8 hex digits nor a full IPv6 address", addr)
	}
	if len(port) != 4 {
		return netip.AddrPort{}, fmt.Errorf("port %q is not 4 hex digits", port)
	}
	p, err := strconv.ParseUint(port, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("port %q is not 4 hex digits", port)
	}
	return netip.AddrPortFrom(a, uint16(p)), nil
}
