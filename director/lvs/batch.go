package lvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Batcher is implemented by clients that can execute many operations in
// one round trip. The [Reconciler] uses it when its client has it.
type Batcher interface {
	// Execute performs ops in order and returns one error per op (nil for
	// success). The kernel tries every op even after one failed; an op
	// whose outcome is unknown (interrupted, reply lost) has an error too.
	Execute(ctx context.Context, ops []Op) []error
}

var _ Batcher = (*Kernel)(nil)

// IPVS generic netlink commands and attributes for table operations
// (include/uapi/linux/ip_vs.h), used by the batch path. moby/ipvs encodes
// the same for the one-at-a-time path.
const (
	cmdNewService = 1
	cmdSetService = 2
	cmdDelService = 3
	cmdNewDest    = 5
	cmdSetDest    = 6
	cmdDelDest    = 7

	cmdAttrService = 1
	cmdAttrDest    = 2

	svcAttrAF        = 1  // u16
	svcAttrProtocol  = 2  // u16
	svcAttrAddr      = 3  // 4 or 16 bytes
	svcAttrPort      = 4  // be16
	svcAttrFWMark    = 5  // u32
	svcAttrSchedName = 6  // string
	svcAttrFlags     = 7  // struct ip_vs_flags {u32 flags; u32 mask}
	svcAttrTimeout   = 8  // u32 seconds
	svcAttrNetmask   = 9  // IPv4: be32 mask; IPv6: u32 prefix length
	destAttrAddr     = 1  // 4 or 16 bytes
	destAttrPort     = 2  // be16
	destAttrFwd      = 3  // u32 IP_VS_CONN_F_*
	destAttrWeight   = 4  // u32
	destAttrUThresh  = 5  // u32
	destAttrLThresh  = 6  // u32
	destAttrAF       = 11 // u16 (3.18+)

	// batchSize bounds the operations per sendmsg. Successful operations
	// are not acknowledged; each failure is (with a copy of the request),
	// so a batch must leave room for all of them in the socket's receive
	// buffer.
	batchSize    = 128
	batchTimeout = 30 * time.Second
)

func opCommand(k OpKind) uint8 {
	switch k {
	case AddService:
		return cmdNewService
	case UpdateService:
		return cmdSetService
	case DelService:
		return cmdDelService
	case AddDestination:
		return cmdNewDest
	case UpdateDestination:
		return cmdSetDest
	case DelDestination:
		return cmdDelDest
	}
	return 0
}

// appendOp appends the generic netlink message (header and attributes) of
// op to b without allocating. For 11,000 operations the allocating encoder
// it replaced took about 20 of the 32 ms that validating, planning and
// encoding took natively, and Apply from empty in the guest went from
// 634–733 ms to 361 ms with this one. The service is always sent in full;
// the kernel only reads its identity for destination and delete commands.
// b's length must be a multiple of 4 (attributes are aligned from the
// start of b).
func appendOp(b []byte, op Op) ([]byte, error) {
	cmd := opCommand(op.Kind)
	if cmd == 0 {
		return b, fmt.Errorf("unknown operation kind %d", op.Kind)
	}
	s := op.Service.normalized()
	b = append(b, cmd, ipvsGenlVersion, 0, 0)
	svc := len(b)
	b = attrHeader(b, cmdAttrService|unix.NLA_F_NESTED, 0)
	b = appendServiceKey(b, s)
	b = attrHeader(b, svcAttrSchedName, len(s.Scheduler)+1)
	b = append(b, s.Scheduler...)
	b = pad4(append(b, 0))
	b = attrHeader(b, svcAttrFlags, 8)
	b = binary.NativeEndian.AppendUint32(b, uint32(s.Flags))
	b = binary.NativeEndian.AppendUint32(b, 0xffffffff)
	b = attrU32(b, svcAttrTimeout, s.Timeout)
	if s.ipv6() {
		b = attrU32(b, svcAttrNetmask, uint32(s.Netmask))
	} else {
		b = attrHeader(b, svcAttrNetmask, 4)
		b = binary.BigEndian.AppendUint32(b, ^uint32(0)<<(32-s.Netmask))
	}
	binary.NativeEndian.PutUint16(b[svc:], uint16(len(b)-svc))
	switch op.Kind {
	case AddDestination, UpdateDestination, DelDestination:
		d := op.Dest
		a := d.Addr.Unmap()
		dst := len(b)
		b = attrHeader(b, cmdAttrDest|unix.NLA_F_NESTED, 0)
		b = attrAddr(b, destAttrAddr, a)
		b = attrBE16(b, destAttrPort, d.Port)
		b = attrU32(b, destAttrFwd, d.Forward.connFlags())
		b = attrU32(b, destAttrWeight, uint32(d.Weight))
		b = attrU32(b, destAttrUThresh, d.UpperThreshold)
		b = attrU32(b, destAttrLThresh, d.LowerThreshold)
		af := uint16(unix.AF_INET)
		if a.Is6() {
			af = unix.AF_INET6
		}
		b = attrU16(b, destAttrAF, af)
		binary.NativeEndian.PutUint16(b[dst:], uint16(len(b)-dst))
	}
	return b, nil
}

// appendServiceKey appends the attributes that name s to the kernel: the
// family and either the firewall mark or the protocol, address and port.
func appendServiceKey(b []byte, s Service) []byte {
	af := uint16(unix.AF_INET)
	if s.ipv6() {
		af = unix.AF_INET6
	}
	b = attrU16(b, svcAttrAF, af)
	if s.FWMark != 0 {
		return attrU32(b, svcAttrFWMark, s.FWMark)
	}
	b = attrU16(b, svcAttrProtocol, uint16(s.Protocol))
	b = attrAddr(b, svcAttrAddr, s.Addr.Unmap())
	return attrBE16(b, svcAttrPort, s.Port)
}

// attrHeader appends a netlink attribute header for a payload of n bytes.
func attrHeader(b []byte, typ uint16, n int) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(4+n))
	return binary.NativeEndian.AppendUint16(b, typ)
}

func attrU16(b []byte, typ, v uint16) []byte {
	return pad4(binary.NativeEndian.AppendUint16(attrHeader(b, typ, 2), v))
}

func attrBE16(b []byte, typ, v uint16) []byte {
	return pad4(binary.BigEndian.AppendUint16(attrHeader(b, typ, 2), v))
}

func attrU32(b []byte, typ uint16, v uint32) []byte {
	return binary.NativeEndian.AppendUint32(attrHeader(b, typ, 4), v)
}

func attrAddr(b []byte, typ uint16, a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		return append(attrHeader(b, typ, 4), v[:]...)
	}
	v := a.As16()
	return append(attrHeader(b, typ, 16), v[:]...)
}

// pad4 pads b to a multiple of 4 bytes.
func pad4(b []byte) []byte {
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// Execute implements [Batcher]: up to 64 operations per sendmsg on a
// socket of its own, without acknowledgements except for the last of each
// batch, so a batch costs one system call and one reply. Errors are
// *OpError, explained as for the single-operation methods.
func (k *Kernel) Execute(ctx context.Context, ops []Op) []error {
	errs := make([]error, len(ops))
	k.mu.Lock()
	defer k.mu.Unlock()
	for start := 0; start < len(ops); start += batchSize {
		end := min(start+batchSize, len(ops))
		if err := ctx.Err(); err != nil {
			for i := start; i < len(ops); i++ {
				errs[i] = &OpError{Op: ops[i], Err: err}
			}
			break
		}
		k.executeBatch(ops[start:end], errs[start:end])
	}
	return errs
}

func (k *Kernel) executeBatch(ops []Op, errs []error) {
	fail := func(i int, err error) { errs[i] = &OpError{Op: ops[i], Err: explain(ops[i], err)} }
	// One buffer of netlink messages: header, then the generic netlink
	// message; sequence numbers are ours (the socket is used by nothing
	// else), the last message alone asks for an acknowledgement.
	b := k.wbuf[:0]
	bySeq := make(map[uint32]int, len(ops))
	lastAt := -1 // where the last message sent starts
	for i, op := range ops {
		at := len(b)
		b = append(b, make([]byte, unix.NLMSG_HDRLEN)...)
		var err error
		if b, err = appendOp(b, op); err != nil {
			b = b[:at]
			fail(i, err)
			continue
		}
		k.seq++
		binary.NativeEndian.PutUint32(b[at:], uint32(len(b)-at))
		binary.NativeEndian.PutUint16(b[at+4:], k.family)
		binary.NativeEndian.PutUint16(b[at+6:], unix.NLM_F_REQUEST)
		binary.NativeEndian.PutUint32(b[at+8:], k.seq)
		binary.NativeEndian.PutUint32(b[at+12:], 0)
		bySeq[k.seq] = i
		lastAt = at
	}
	k.wbuf = b
	if lastAt < 0 {
		return
	}
	last := k.seq
	binary.NativeEndian.PutUint16(b[lastAt+6:], unix.NLM_F_REQUEST|unix.NLM_F_ACK)
	if err := k.send(b); err != nil {
		for _, i := range bySeq {
			fail(i, err)
		}
		return
	}
	if err := k.readAcks(bySeq, last, fail); err != nil {
		// The last reply never came: whatever was not reported failed has
		// an unknown outcome. The next reconciliation re-reads the table.
		for _, i := range bySeq {
			if errs[i] == nil {
				errs[i] = &OpError{Op: ops[i], Err: fmt.Errorf("outcome unknown: %w", err)}
			}
		}
	}
}

// send writes one buffer of messages to the kernel.
func (k *Kernel) send(b []byte) error {
	rc, err := k.bc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		serr = unix.Sendto(int(fd), b, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK})
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	return serr
}

// readAcks reads replies until the one for seq last, reporting each error
// reply through fail.
func (k *Kernel) readAcks(bySeq map[uint32]int, last uint32, fail func(int, error)) error {
	if err := k.bc.SetReadDeadline(time.Now().Add(batchTimeout)); err != nil {
		return err
	}
	rc, err := k.bc.SyscallConn()
	if err != nil {
		return err
	}
	buf := k.buf
	for range 1 << 16 { // bounded: each read consumes at least one reply
		var n int
		var rerr error
		if err := rc.Read(func(fd uintptr) bool {
			n, _, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		}); err != nil {
			return err
		}
		if rerr != nil {
			return rerr
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		done := false
		for _, m := range msgs {
			i, ours := bySeq[m.Header.Seq]
			if !ours || m.Header.Type != unix.NLMSG_ERROR || len(m.Data) < 4 {
				continue
			}
			if code := int32(binary.NativeEndian.Uint32(m.Data[:4])); code != 0 {
				fail(i, syscall.Errno(-code))
			}
			if m.Header.Seq == last {
				done = true
			}
		}
		if done {
			return nil
		}
	}
	return errors.New("too many replies")
}
