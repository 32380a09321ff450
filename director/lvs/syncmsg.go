package lvs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// The IPVS connection-synchronisation protocol, version 1, as the kernel's
// master sync daemon sends it and its backup daemon reads it
// (net/netfilter/ipvs/ip_vs_sync.c: struct ip_vs_sync_mesg,
// ip_vs_sync_v4, ip_vs_sync_v6, ip_vs_sync_conn(), and the receive path
// ip_vs_process_message(), ip_vs_proc_sync_conn(), ip_vs_proc_conn();
// flags from include/uapi/linux/ip_vs.h, states from include/net/ip_vs.h).
// All fields are in network byte order.
//
// A message (one UDP datagram):
//
//	0       reserved, 0 (a version 0 message has its connection count here)
//	1       sync ID
//	2..3    size of the whole message, header included
//	4       number of connection entries (one byte: at most 255)
//	5       version, 1
//	6..7    spare, 0
//	8...    the entries, each starting on a 4-byte boundary
//
// An entry:
//
//	0       type: 0 IPv4, bit 0 set IPv6
//	1       protocol (IPPROTO_*; 0 for a firewall-mark template)
//	2..3    ver_size: version in the top 4 bits (0), entry size in the low 12
//	4..7    flags (IP_VS_CONN_F_*)
//	8..9    state (the protocol's state number)
//	10..11  client port
//	12..13  virtual port
//	14..15  destination port
//	16..19  firewall mark
//	20..23  timeout, seconds
//	24...   client, virtual and destination address (4 or 16 bytes each):
//	        36 bytes in all for IPv4, 72 for IPv6
//	then    options: type, length (1..255), data; the kernel's master sends
//	        the sequence-adjust data (type 1, NAT only) and a persistence
//	        engine's data (type 2) and name (type 3).
//
// The backup drops the whole message when the size is not the datagram's
// length, when a sync ID is set on it and the message's differs, when an
// entry runs past the end, has a version other than 0, an unknown type, a
// size below its fixed part, or an option that is empty, too long (data
// above 255, name above 16 bytes), repeated or runs past the entry. It
// drops one entry (and goes on) for an unknown protocol, a state number
// the protocol does not have, an unknown mandatory option, or persistence
// data without a persistence engine's name or with one it has not loaded.
// The encoder below never produces any of these.

// Message layout and protocol constants.
const (
	syncVersion    = 1  // SYNC_PROTO_VER
	syncHeaderLen  = 8  // sizeof(struct ip_vs_sync_mesg)
	syncEntryLenV4 = 36 // sizeof(struct ip_vs_sync_v4)
	syncEntryLenV6 = 72 // sizeof(struct ip_vs_sync_v6)
	syncTypeInet6  = 1  // STYPE_F_INET6
	syncVerShift   = 12 // SVER_SHIFT
	syncSizeMask   = 0x0fff
	syncMaxConns   = 255 // nr_conns is one byte

	syncOptSeq       = 1    // IPVS_OPT_SEQ_DATA
	syncOptPEData    = 2    // IPVS_OPT_PE_DATA
	syncOptPEName    = 3    // IPVS_OPT_PE_NAME
	syncOptOptional  = 0x40 // IPVS_OPT_F_PARAM: an option the receiver may ignore
	syncSeqOptLen    = 24   // sizeof(struct ip_vs_sync_conn_options): two ip_vs_seq
	syncPENameMaxLen = 16   // IP_VS_PENAME_MAXLEN
	syncPEDataMaxLen = 255  // IP_VS_PEDATA_MAXLEN

	// syncMinMaxLen is the smallest message size the encoder accepts: a
	// header and the largest entry (IPv6, sequence data, persistence data
	// and name) with its padding.
	syncMinMaxLen = syncHeaderLen + syncEntryLenV6 + 2 + syncSeqOptLen + 2 + syncPEDataMaxLen + 2 + syncPENameMaxLen + 3
	// syncMaxMaxLen is the largest: the size field is 16 bits, and a UDP
	// payload over IPv4 is at most 65507 bytes.
	syncMaxMaxLen = 65507
)

// Connection flags (IP_VS_CONN_F_*) a sync entry carries. The forwarding
// method's values are connFlagDR and its siblings (types.go).
const (
	ConnFlagSync     = 0x0020 // IP_VS_CONN_F_SYNC: created by sync (set by the receiver)
	ConnFlagHashed   = 0x0040 // IP_VS_CONN_F_HASHED: never sent
	ConnFlagNoOutput = 0x0080 // IP_VS_CONN_F_NOOUTPUT: every method but NAT
	ConnFlagInactive = 0x0100 // IP_VS_CONN_F_INACTIVE: not ESTABLISHED (UDP and templates always)
	ConnFlagSeqMask  = 0x0600 // IP_VS_CONN_F_OUT_SEQ | IP_VS_CONN_F_IN_SEQ
	ConnFlagNoCPort  = 0x0800 // IP_VS_CONN_F_NO_CPORT
	ConnFlagTemplate = 0x1000 // IP_VS_CONN_F_TEMPLATE: a persistence template

	// ConnFlagBackupMask is IP_VS_CONN_F_BACKUP_MASK: the flags the
	// backup keeps from an entry; it drops the others.
	ConnFlagBackupMask = connFwdMask | ConnFlagNoOutput | ConnFlagInactive | ConnFlagSeqMask | ConnFlagNoCPort | ConnFlagTemplate
)

// The forwarding method of a connection's destination, under the names the
// sync sender's callers use; the same type and values as a destination's.
const (
	ForwardRoute  = DR     // direct routing, the default
	ForwardMasq   = NAT    // masquerading
	ForwardTunnel = Tunnel // IP-in-IP
	ForwardLocal  = Local  // the destination is local to the director
)

// IANA protocol numbers of the entries; 0 is a firewall-mark template's.
const (
	protoIP   = 0
	protoTCP  = uint8(TCP)
	protoUDP  = uint8(UDP)
	protoSCTP = uint8(SCTP)
)

// The state names /proc/net/ip_vs_conn prints, in the order of the
// kernel's state numbers (include/net/ip_vs.h; the name tables of
// ip_vs_proto_tcp.c, ip_vs_proto_udp.c, ip_vs_proto_sctp.c and, for
// templates, ip_vs_proto.c). The length of each is the protocol's number
// of states: the backup drops an entry whose state is not below it.
var (
	tcpStates = []string{"NONE", "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT", "TIME_WAIT",
		"CLOSE", "CLOSE_WAIT", "LAST_ACK", "LISTEN", "SYNACK"}
	udpStates  = []string{"UDP"}
	sctpStates = []string{"NONE", "INIT1", "INIT", "C-SENT", "C-REPLIED", "C-WAIT", "COOKIE",
		"C-ECHOED", "ESTABLISHED", "S-SENT", "S-RECEIVED", "S-ACK-SENT", "REJECTED", "CLOSED"}
	templateStates = []string{"NONE", "ASSURED"}
)

const (
	tcpEstablished  = 1 // IP_VS_TCP_S_ESTABLISHED
	sctpEstablished = 8 // IP_VS_SCTP_S_ESTABLISHED
)

// protoStates returns the state names of a protocol, nil for one the
// backup does not know (ip_vs_proto_get finds no handler for it).
func protoStates(proto uint8, template bool) []string {
	if template {
		return templateStates
	}
	switch proto {
	case protoTCP:
		return tcpStates
	case protoUDP:
		return udpStates
	case protoSCTP:
		return sctpStates
	}
	return nil
}

func protoName(proto uint8) string {
	switch proto {
	case protoIP:
		return "IP"
	case protoTCP:
		return "TCP"
	case protoUDP:
		return "UDP"
	case protoSCTP:
		return "SCTP"
	}
	return fmt.Sprintf("IP_%d", proto)
}

// SyncSeq is the sequence-adjust data of a masqueraded connection whose
// payload the director rewrote (struct ip_vs_sync_conn_options).
type SyncSeq struct {
	InInit, InDelta, InPrevDelta    uint32
	OutInit, OutDelta, OutPrevDelta uint32
}

// SyncConn is one entry of a sync message.
type SyncConn struct {
	// Protocol is the IANA protocol number (0 for a firewall-mark template).
	Protocol uint8
	// Flags are IP_VS_CONN_F_* flags: the forwarding method, ConnFlagNoOutput,
	// ConnFlagInactive, ConnFlagTemplate, ...
	Flags uint32
	// State is the protocol's state number (for a template: 0 NONE, 1 ASSURED).
	State uint16
	// Client, Virtual and Dest are of one address family.
	Client, Virtual, Dest netip.AddrPort
	// FWMark is the firewall mark of the connection's packets (of a
	// firewall-mark service), 0 if none.
	FWMark uint32
	// Timeout is the seconds the backup keeps the entry without traffic.
	Timeout uint32
	// Seq is the sequence-adjust data, sent when set.
	Seq *SyncSeq
	// PEName and PEData are the persistence engine's name and data (e.g.
	// "sip" and a Call-ID), both set or both empty.
	PEName, PEData string
}

// Template reports whether the entry is a persistence template.
func (c SyncConn) Template() bool { return c.Flags&ConnFlagTemplate != 0 }

// Is6 reports whether the entry is an IPv6 one.
func (c SyncConn) Is6() bool { return c.Client.Addr().Is6() }

func (c SyncConn) size() int {
	n := syncEntryLenV4
	if c.Is6() {
		n = syncEntryLenV6
	}
	if c.Seq != nil {
		n += 2 + syncSeqOptLen
	}
	if c.PEData != "" {
		n += 2 + len(c.PEData) + 2 + len(c.PEName)
	}
	return n
}

// Errors of the encoder and decoder.
var (
	// ErrSyncConn is wrapped by the reason an entry cannot be sent, or
	// would be dropped by the backup.
	ErrSyncConn = errors.New("ipvs sync: connection not sendable")
	// ErrSyncMessage is wrapped by the reason a message is malformed.
	ErrSyncMessage = errors.New("ipvs sync: bad message")
)

// Check reports why the backup would drop the entry (or the message with
// it), nil if it would take it.
func (c SyncConn) Check() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrSyncConn, fmt.Sprintf(format, args...))
	}
	a := c.Client.Addr()
	if !a.IsValid() || a.Zone() != "" || a.Is4In6() {
		return bad("client address %v is neither IPv4 nor IPv6", a)
	}
	for what, b := range map[string]netip.Addr{"virtual": c.Virtual.Addr(), "destination": c.Dest.Addr()} {
		if !b.IsValid() || b.Zone() != "" || b.Is4In6() || b.Is4() != a.Is4() {
			return bad("%s address %v is not of the client's family (%v)", what, b, a)
		}
	}
	states := protoStates(c.Protocol, c.Template())
	if states == nil {
		return bad("protocol %s is not one the backup knows", protoName(c.Protocol))
	}
	if int(c.State) >= len(states) {
		what := protoName(c.Protocol)
		if c.Template() {
			what = "template"
		}
		return bad("state %d is not a %s state (0-%d)", c.State, what, len(states)-1)
	}
	if c.Flags&ConnFlagBackupMask != c.Flags {
		return bad("flags %#x outside those the backup keeps (%#x)", c.Flags, ConnFlagBackupMask)
	}
	if (c.PEName == "") != (c.PEData == "") {
		return bad("persistence engine name %q and data %q: need both or neither", c.PEName, c.PEData)
	}
	if len(c.PEName) > syncPENameMaxLen {
		return bad("persistence engine name %q longer than %d bytes", c.PEName, syncPENameMaxLen)
	}
	if len(c.PEData) > syncPEDataMaxLen {
		return bad("persistence engine data of %d bytes, above %d", len(c.PEData), syncPEDataMaxLen)
	}
	return nil
}

// appendSyncConn appends the entry's bytes (without padding).
func appendSyncConn(b []byte, c SyncConn) []byte {
	typ := byte(0)
	if c.Is6() {
		typ = syncTypeInet6
	}
	b = append(b, typ, c.Protocol)
	b = binary.BigEndian.AppendUint16(b, uint16(c.size())&syncSizeMask) // version 0
	b = binary.BigEndian.AppendUint32(b, c.Flags)
	b = binary.BigEndian.AppendUint16(b, c.State)
	b = binary.BigEndian.AppendUint16(b, c.Client.Port())
	b = binary.BigEndian.AppendUint16(b, c.Virtual.Port())
	b = binary.BigEndian.AppendUint16(b, c.Dest.Port())
	b = binary.BigEndian.AppendUint32(b, c.FWMark)
	b = binary.BigEndian.AppendUint32(b, c.Timeout)
	for _, a := range []netip.Addr{c.Client.Addr(), c.Virtual.Addr(), c.Dest.Addr()} {
		b = append(b, a.AsSlice()...)
	}
	if s := c.Seq; s != nil {
		b = append(b, syncOptSeq, syncSeqOptLen)
		for _, v := range []uint32{s.InInit, s.InDelta, s.InPrevDelta, s.OutInit, s.OutDelta, s.OutPrevDelta} {
			b = binary.BigEndian.AppendUint32(b, v)
		}
	}
	if c.PEData != "" {
		b = append(b, syncOptPEData, byte(len(c.PEData)))
		b = append(b, c.PEData...)
		b = append(b, syncOptPEName, byte(len(c.PEName)))
		b = append(b, c.PEName...)
	}
	return b
}

// EncodeSyncMessages packs conns, in order, into version 1 sync messages
// of at most maxLen bytes each (the UDP payload) and at most 255 entries,
// padding each entry to 4 bytes as the kernel does. Every entry must pass
// Check; maxLen must leave room for the largest entry (at least 384).
func EncodeSyncMessages(syncID uint8, conns []SyncConn, maxLen int) ([][]byte, error) {
	if maxLen < syncMinMaxLen || maxLen > syncMaxMaxLen {
		return nil, fmt.Errorf("ipvs sync: message size %d outside %d-%d", maxLen, syncMinMaxLen, syncMaxMaxLen)
	}
	for i, c := range conns {
		if err := c.Check(); err != nil {
			return nil, fmt.Errorf("entry %d (%s %v -> %v): %w", i, protoName(c.Protocol), c.Client, c.Virtual, err)
		}
	}
	var msgs [][]byte
	var cur []byte
	flush := func() {
		if cur == nil {
			return
		}
		binary.BigEndian.PutUint16(cur[2:], uint16(len(cur)))
		msgs = append(msgs, cur)
		cur = nil
	}
	for _, c := range conns {
		pad := 0
		if cur != nil {
			pad = (4 - len(cur)%4) % 4
			if len(cur)+pad+c.size() > maxLen || cur[4] == syncMaxConns {
				flush()
				pad = 0
			}
		}
		if cur == nil {
			cur = make([]byte, syncHeaderLen, maxLen)
			cur[0] = 0 // reserved
			cur[1] = syncID
			cur[5] = syncVersion // size (2..3) at flush, count (4) below, spare (6..7) 0
		}
		cur = append(cur, make([]byte, pad)...)
		cur = appendSyncConn(cur, c)
		cur[4]++
	}
	flush()
	return msgs, nil
}

// DecodeSyncMessage reads one version 1 sync message. It refuses what the
// kernel's backup would drop, whole or in part (see the comment at the top
// of this file), so that what it returns is what the backup would take;
// it is stricter in one point: a template's state must be NONE or
// ASSURED (the kernel only logs another). As the kernel does, it keeps
// only the flags of ConnFlagBackupMask and skips unknown optional
// options.
func DecodeSyncMessage(b []byte) (syncID uint8, conns []SyncConn, err error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrSyncMessage, fmt.Sprintf(format, args...))
	}
	if len(b) < syncHeaderLen {
		return 0, nil, bad("%d bytes, shorter than the %d-byte header", len(b), syncHeaderLen)
	}
	if size := int(binary.BigEndian.Uint16(b[2:])); size != len(b) {
		return 0, nil, bad("size field %d, message of %d bytes", size, len(b))
	}
	if b[0] != 0 || b[5] != syncVersion || b[6] != 0 || b[7] != 0 {
		return 0, nil, bad("not a version 1 message (reserved %d, version %d, spare %#04x)", b[0], int8(b[5]), binary.BigEndian.Uint16(b[6:]))
	}
	syncID = b[1]
	n := int(b[4])
	conns = make([]SyncConn, 0, n)
	p := syncHeaderLen
	for i := range n {
		if p+syncEntryLenV4 > len(b) {
			return 0, nil, bad("entry %d at byte %d: fewer than %d bytes left", i, p, syncEntryLenV4)
		}
		vs := binary.BigEndian.Uint16(b[p+2:])
		size := int(vs & syncSizeMask)
		if p+size > len(b) {
			return 0, nil, bad("entry %d at byte %d: size %d runs past the message", i, p, size)
		}
		if v := vs >> syncVerShift; v != 0 {
			return 0, nil, bad("entry %d at byte %d: version %d, want 0", i, p, v)
		}
		c, err := decodeSyncConn(b[p : p+size])
		if err != nil {
			return 0, nil, bad("entry %d at byte %d: %v", i, p, err)
		}
		if err := c.Check(); err != nil {
			return 0, nil, bad("entry %d at byte %d: %v", i, p, err)
		}
		conns = append(conns, c)
		p += (size + 3) &^ 3
	}
	return syncID, conns, nil
}

func decodeSyncConn(e []byte) (SyncConn, error) {
	var c SyncConn
	if len(e) < syncEntryLenV4 {
		return c, fmt.Errorf("size %d below the %d bytes of an IPv4 entry", len(e), syncEntryLenV4)
	}
	alen, fixed := 4, syncEntryLenV4
	switch {
	case e[0]&syncTypeInet6 != 0:
		alen, fixed = 16, syncEntryLenV6
	case e[0] != 0:
		return c, fmt.Errorf("type %d is neither IPv4 (0) nor IPv6", e[0])
	}
	if len(e) < fixed {
		return c, fmt.Errorf("size %d below the %d bytes of an entry of its type", len(e), fixed)
	}
	c.Protocol = e[1]
	c.Flags = binary.BigEndian.Uint32(e[4:]) & ConnFlagBackupMask // the kernel masks the others off
	c.State = binary.BigEndian.Uint16(e[8:])
	c.FWMark = binary.BigEndian.Uint32(e[16:])
	c.Timeout = binary.BigEndian.Uint32(e[20:])
	addr := func(off int) netip.Addr {
		a, _ := netip.AddrFromSlice(e[off : off+alen])
		return a
	}
	c.Client = netip.AddrPortFrom(addr(24), binary.BigEndian.Uint16(e[10:]))
	c.Virtual = netip.AddrPortFrom(addr(24+alen), binary.BigEndian.Uint16(e[12:]))
	c.Dest = netip.AddrPortFrom(addr(24+2*alen), binary.BigEndian.Uint16(e[14:]))
	var havePEData, havePEName bool
	for p := fixed; p < len(e); {
		if p+2 > len(e) {
			return c, fmt.Errorf("option at byte %d: no room for its type and length", p)
		}
		typ, l := e[p], int(e[p+1])
		p += 2
		if l == 0 || p+l > len(e) {
			return c, fmt.Errorf("option %d at byte %d: length %d empty or past the entry", typ, p-2, l)
		}
		data := e[p : p+l]
		switch typ &^ syncOptOptional {
		case syncOptSeq:
			if l != syncSeqOptLen || c.Seq != nil {
				return c, fmt.Errorf("sequence option: length %d (want %d) or repeated", l, syncSeqOptLen)
			}
			u := func(i int) uint32 { return binary.BigEndian.Uint32(data[4*i:]) }
			c.Seq = &SyncSeq{u(0), u(1), u(2), u(3), u(4), u(5)}
		case syncOptPEData:
			if havePEData {
				return c, errors.New("persistence data repeated")
			}
			havePEData, c.PEData = true, string(data)
		case syncOptPEName:
			if l > syncPENameMaxLen || havePEName {
				return c, fmt.Errorf("persistence engine name of %d bytes (at most %d) or repeated", l, syncPENameMaxLen)
			}
			havePEName, c.PEName = true, string(data)
		default:
			if typ&syncOptOptional == 0 {
				return c, fmt.Errorf("unknown mandatory option %d", typ)
			}
		}
		p += l
	}
	if c.PEData == "" {
		c.PEName = "" // a name alone means nothing to the backup
	}
	return c, nil
}

// ConnInfo is what a connection's sync entry needs that
// /proc/net/ip_vs_conn does not show.
type ConnInfo struct {
	// Forward is the forwarding method of the connection's destination.
	Forward Forward
	// FWMark is the firewall mark of a connection of a firewall-mark
	// service, 0 otherwise. (A firewall-mark template's is read from its
	// virtual address, where the kernel keeps it.)
	FWMark uint32
}

// SyncConnFromConn makes the sync entry the kernel's master daemon would
// send for a line of /proc/net/ip_vs_conn: the protocol and state numbers
// of their names, the flags the kernel sets on a connection of the given
// forwarding method (the method, ConnFlagNoOutput unless NAT,
// ConnFlagInactive unless ESTABLISHED, and always for UDP and templates),
// and the time left as the timeout (at least 1 s: 0 would give the
// backup's default for the state). A persistence template is a line of
// protocol IP (firewall mark), or with client port 0 and state NONE or
// ASSURED. It refuses, with an error wrapping ErrSyncConn, what the kernel
// cannot sync: protocols other than TCP, UDP, SCTP (and IP templates),
// unknown states, a destination of another address family than the
// client's, persistence-engine fields too long.
func SyncConnFromConn(c Conn, info ConnInfo) (SyncConn, error) {
	sc := SyncConn{Client: c.Client, Virtual: c.Virtual, Dest: c.Dest, FWMark: info.FWMark, Timeout: max(c.Expires, 1)}
	switch c.Protocol {
	case "IP":
		sc.Protocol = protoIP
	case "TCP":
		sc.Protocol = protoTCP
	case "UDP":
		sc.Protocol = protoUDP
	case "SCTP":
		sc.Protocol = protoSCTP
	default:
		return SyncConn{}, fmt.Errorf("%w: protocol %q", ErrSyncConn, c.Protocol)
	}
	template := sc.Protocol == protoIP || c.Client.Port() == 0 && (c.State == "NONE" || c.State == "ASSURED")
	states := protoStates(sc.Protocol, template)
	state := -1
	for i, s := range states {
		if s == c.State {
			state = i
		}
	}
	if state < 0 {
		return SyncConn{}, fmt.Errorf("%w: %s state %q", ErrSyncConn, c.Protocol, c.State)
	}
	sc.State = uint16(state)
	sc.Flags = info.Forward.connFlags()
	if info.Forward != NAT {
		sc.Flags |= ConnFlagNoOutput
	}
	switch {
	case template:
		sc.Flags |= ConnFlagTemplate | ConnFlagInactive
		if sc.Protocol == protoIP {
			// The kernel keeps a firewall-mark template's mark in the
			// first four bytes of its virtual address.
			v := c.Virtual.Addr().AsSlice()
			if len(v) >= 4 {
				sc.FWMark = binary.BigEndian.Uint32(v)
			}
		}
	case sc.Protocol == protoTCP && state == tcpEstablished, sc.Protocol == protoSCTP && state == sctpEstablished:
	default:
		sc.Flags |= ConnFlagInactive
	}
	if c.PEName != "" && c.PEData != "" {
		sc.PEName, sc.PEData = c.PEName, c.PEData
	}
	if err := sc.Check(); err != nil {
		return SyncConn{}, err
	}
	return sc, nil
}

// Conn returns the entry as /proc/net/ip_vs_conn would print it on the
// backup once taken: its protocol and state names, the timeout as Expires.
func (c SyncConn) Conn() Conn {
	out := Conn{Protocol: protoName(c.Protocol), Client: c.Client, Virtual: c.Virtual, Dest: c.Dest, Expires: c.Timeout, PEName: c.PEName, PEData: c.PEData}
	if states := protoStates(c.Protocol, c.Template()); int(c.State) < len(states) {
		out.State = states[c.State]
	} else {
		out.State = "ERR!"
	}
	return out
}
