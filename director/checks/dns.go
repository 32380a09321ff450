package checks

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
)

// DNS_CHECK defaults, keepalived's.
const (
	// DNSDefaultType is SOA.
	DNSDefaultType = DNSTypeSOA
	// DNSDefaultName is the root.
	DNSDefaultName = "."
	// DNSDefaultRetry is keepalived's retry default for DNS_CHECK (3, not
	// 1); its delay_before_retry defaults to the delay_loop.
	DNSDefaultRetry = 3
	// dnsReadSize bounds what is read of a reply: only the header is
	// looked at.
	dnsReadSize = 768
)

// DNS query types keepalived's DNS_CHECK accepts.
const (
	DNSTypeA     uint16 = 1
	DNSTypeNS    uint16 = 2
	DNSTypeCNAME uint16 = 5
	DNSTypeSOA   uint16 = 6
	DNSTypeMX    uint16 = 15
	DNSTypeTXT   uint16 = 16
	DNSTypeAAAA  uint16 = 28
)

var dnsTypes = map[string]uint16{
	"A": DNSTypeA, "NS": DNSTypeNS, "CNAME": DNSTypeCNAME, "SOA": DNSTypeSOA,
	"MX": DNSTypeMX, "TXT": DNSTypeTXT, "AAAA": DNSTypeAAAA,
}

// ParseDNSType maps DNS_CHECK's type keyword (A, NS, CNAME, SOA, MX, TXT,
// AAAA; any case) to its code.
func ParseDNSType(s string) (uint16, error) {
	if t, ok := dnsTypes[strings.ToUpper(s)]; ok {
		return t, nil
	}
	return 0, fmt.Errorf("unknown DNS type %q (want A, NS, CNAME, SOA, MX, TXT or AAAA)", s)
}

// ValidateDNSName checks DNS_CHECK's name: "." or dot-separated labels
// of 1 to 63 bytes, with an optional final dot, 253 bytes at most.
// keepalived rejects empty labels too.
func ValidateDNSName(name string) error {
	if name == "." {
		return nil
	}
	n := strings.TrimSuffix(name, ".")
	if n == "" {
		return errors.New("empty DNS name")
	}
	if len(n) > 253 {
		return fmt.Errorf("DNS name longer than 253 bytes")
	}
	for _, l := range strings.Split(n, ".") {
		switch {
		case l == "":
			return fmt.Errorf("DNS name %q has an empty label", name)
		case len(l) > 63:
			return fmt.Errorf("DNS name %q has a label longer than 63 bytes", name)
		}
	}
	return nil
}

// DNSCheck is keepalived's DNS_CHECK: a query for Query and Type over UDP
// (recursion desired); the server passes when a response with the
// query's id arrives with RCODE 0 (NOERROR) within connect_timeout. As in
// keepalived the answer section is not looked at (an empty NOERROR
// answer passes), datagrams shorter than a header, with another id or
// that are not responses are ignored, and any other RCODE fails.
type DNSCheck struct {
	Conn
	// Type is the query type (see ParseDNSType); 0 means SOA.
	Type uint16
	// Query is the name queried (keepalived's name); "" means ".".
	Query string
}

// Name returns "DNS_CHECK".
func (DNSCheck) Name() string { return "DNS_CHECK" }

// Probe sends one query and waits for its response.
func (d DNSCheck) Probe(ctx context.Context) error {
	id := uint16(rand.N(1 << 16))
	q, err := d.query(id)
	if err != nil {
		return err
	}
	conn, _, err := d.dialUDP(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := closeOnDone(ctx, conn)
	defer stop()
	if _, err := conn.Write(q); err != nil {
		return describeNetErr("send", d.timeout(), err)
	}
	buf := make([]byte, dnsReadSize)
	for {
		n, err := conn.Read(buf)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrDeadlineExceeded) && ctx.Err() == nil:
			return fmt.Errorf("no response within %s", d.timeout())
		case errors.Is(err, syscall.ECONNREFUSED):
			return errors.New("port unreachable (ICMP)")
		default:
			return describeNetErr("receive", d.timeout(), err)
		}
		if done, err := dnsVerdict(buf[:n], id); done {
			return err
		}
	}
}

// query builds the DNS query message with id.
func (d DNSCheck) query(id uint16) ([]byte, error) {
	name := d.Query
	if name == "" {
		name = DNSDefaultName
	}
	if err := ValidateDNSName(name); err != nil {
		return nil, err
	}
	typ := d.Type
	if typ == 0 {
		typ = DNSDefaultType
	}
	q := make([]byte, 12, 12+len(name)+2+4)
	binary.BigEndian.PutUint16(q[0:], id)
	binary.BigEndian.PutUint16(q[2:], 0x0100) // RD
	binary.BigEndian.PutUint16(q[4:], 1)      // QDCOUNT
	if name != "." {
		for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
			q = append(q, byte(len(l)))
			q = append(q, l...)
		}
	}
	q = append(q, 0) // root label
	q = binary.BigEndian.AppendUint16(q, typ)
	q = binary.BigEndian.AppendUint16(q, 1) // class IN
	return q, nil
}

var dnsRcodes = [...]string{1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}

// dnsVerdict judges one datagram received for query id: done is false
// when the datagram is to be ignored (too short, another id, not a
// response), otherwise err is the verdict.
func dnsVerdict(b []byte, id uint16) (done bool, err error) {
	if len(b) < 12 || binary.BigEndian.Uint16(b) != id {
		return false, nil
	}
	flags := binary.BigEndian.Uint16(b[2:])
	if flags&0x8000 == 0 { // QR: a query, not a response
		return false, nil
	}
	if rc := int(flags & 0x000f); rc != 0 {
		if rc < len(dnsRcodes) && dnsRcodes[rc] != "" {
			return true, fmt.Errorf("response rcode %d (%s)", rc, dnsRcodes[rc])
		}
		return true, fmt.Errorf("response rcode %d", rc)
	}
	return true, nil
}
