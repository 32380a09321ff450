package lvs

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/mdlayher/genetlink"
	"github.com/mdlayher/netlink"
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
	batchSize    = 64
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

// encodeOp builds the generic netlink message (header and attributes) of
// one operation. The service is always sent in full; the kernel only reads
// its identity for destination and delete commands.
func encodeOp(op Op) ([]byte, error) {
	cmd := opCommand(op.Kind)
	if cmd == 0 {
		return nil, fmt.Errorf("unknown operation kind %d", op.Kind)
	}
	s := op.Service.normalized()
	ae := netlink.NewAttributeEncoder()
	ae.Nested(cmdAttrService, func(n *netlink.AttributeEncoder) error {
		af := uint16(unix.AF_INET)
		if s.ipv6() {
			af = unix.AF_INET6
		}
		n.Uint16(svcAttrAF, af)
		if s.FWMark != 0 {
			n.Uint32(svcAttrFWMark, s.FWMark)
		} else {
			n.Uint16(svcAttrProtocol, uint16(s.Protocol))
			n.Bytes(svcAttrAddr, s.Addr.AsSlice())
			n.Bytes(svcAttrPort, binary.BigEndian.AppendUint16(nil, s.Port))
		}
		n.String(svcAttrSchedName, s.Scheduler)
		flags := binary.NativeEndian.AppendUint32(nil, uint32(s.Flags))
		flags = binary.NativeEndian.AppendUint32(flags, 0xffffffff)
		n.Bytes(svcAttrFlags, flags)
		n.Uint32(svcAttrTimeout, s.Timeout)
		if s.ipv6() {
			n.Uint32(svcAttrNetmask, uint32(s.Netmask))
		} else {
			n.Bytes(svcAttrNetmask, binary.BigEndian.AppendUint32(nil, ^uint32(0)<<(32-s.Netmask)))
		}
		return nil
	})
	switch op.Kind {
	case AddDestination, UpdateDestination, DelDestination:
		d := op.Dest
		a := d.Addr.Unmap()
		ae.Nested(cmdAttrDest, func(n *netlink.AttributeEncoder) error {
			n.Bytes(destAttrAddr, a.AsSlice())
			n.Bytes(destAttrPort, binary.BigEndian.AppendUint16(nil, d.Port))
			n.Uint32(destAttrFwd, d.Forward.connFlags())
			n.Uint32(destAttrWeight, uint32(d.Weight))
			n.Uint32(destAttrUThresh, d.UpperThreshold)
			n.Uint32(destAttrLThresh, d.LowerThreshold)
			af := uint16(unix.AF_INET)
			if a.Is6() {
				af = unix.AF_INET6
			}
			n.Uint16(destAttrAF, af)
			return nil
		})
	}
	attrs, err := ae.Encode()
	if err != nil {
		return nil, err
	}
	return genetlink.Message{Header: genetlink.Header{Command: cmd, Version: ipvsGenlVersion}, Data: attrs}.MarshalBinary()
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
	msgs := make([]netlink.Message, 0, len(ops))
	idx := make([]int, 0, len(ops)) // msgs[j] carries ops[idx[j]]
	for i, op := range ops {
		b, err := encodeOp(op)
		if err != nil {
			fail(i, err)
			continue
		}
		msgs = append(msgs, netlink.Message{Header: netlink.Header{Type: netlink.HeaderType(k.family), Flags: netlink.Request}, Data: b})
		idx = append(idx, i)
	}
	if len(msgs) == 0 {
		return
	}
	msgs[len(msgs)-1].Header.Flags |= netlink.Acknowledge
	sent, err := k.bc.SendMessages(msgs)
	if err != nil {
		for _, i := range idx {
			fail(i, err)
		}
		return
	}
	bySeq := make(map[uint32]int, len(sent))
	for j, m := range sent {
		bySeq[m.Header.Sequence] = idx[j]
	}
	last := sent[len(sent)-1].Header.Sequence
	if err := k.readAcks(bySeq, last, fail); err != nil {
		// The last reply never came: whatever was not reported failed has
		// an unknown outcome. The next reconciliation re-reads the table.
		for _, i := range idx {
			if errs[i] == nil {
				errs[i] = &OpError{Op: ops[i], Err: fmt.Errorf("outcome unknown: %w", err)}
			}
		}
	}
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
