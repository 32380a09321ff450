package reconcile

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The IPVS getsockopt interface (include/uapi/linux/ip_vs.h), the one
// ipvsadm used before netlink. IP_VS_SO_GET_SERVICES returns every service
// of the socket's network namespace with its number of destinations in a
// single call: the cheapest complete count of the table there is
// (/proc/net/ip_vs prints every destination; netlink needs one dump per
// service).
const (
	ipvsBaseCtl       = 64 + 1024 + 64
	soGetInfo         = ipvsBaseCtl + 1 // struct ip_vs_getinfo
	soGetServices     = ipvsBaseCtl + 2 // struct ip_vs_get_services
	getInfoSize       = 12              // version, size, num_services
	getServicesHeader = 8               // num_services, padded to the entries' 8-byte alignment
	serviceEntrySize  = 104             // struct ip_vs_service_entry on 64-bit Linux
	entryProtocol     = 0               // __u16
	entryFWMark       = 12              // __u32
	entrySched        = 16              // char[IP_VS_SCHEDNAME_MAXLEN]
	schedNameMax      = 16
	entryNumDests     = 44 // unsigned int
	maxDestsPerSvc    = 1 << 20
)

// Counter counts the IPVS services and destinations of one network
// namespace through a raw socket opened there.
type Counter struct {
	fd  int
	buf []byte
}

// OpenCounter opens the counting socket in the namespace bound at nsPath
// (from a thread that joins it and then returns to its own namespace).
func OpenCounter(nsPath string) (*Counter, error) {
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, err}
			return
		}
		defer unix.Close(orig)
		ns, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, err}
			return
		}
		err = unix.Setns(ns, unix.CLONE_NEWNET)
		unix.Close(ns)
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{-1, fmt.Errorf("setns %s: %w", nsPath, err)}
			return
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		if serr := unix.Setns(orig, unix.CLONE_NEWNET); serr != nil {
			// Stay locked: the thread ends with this goroutine.
			if err == nil {
				unix.Close(fd)
			}
			done <- result{-1, fmt.Errorf("setns back: %w", serr)}
			return
		}
		runtime.UnlockOSThread()
		done <- result{fd, err}
	}()
	r := <-done
	if r.err != nil {
		return nil, fmt.Errorf("ipvs counting socket in %s: %w", nsPath, r.err)
	}
	return &Counter{fd: r.fd}, nil
}

// Close closes the socket.
func (c *Counter) Close() error { return unix.Close(c.fd) }

// Count returns the number of services and of destinations.
func (c *Counter) Count() (services, dests int, err error) {
	info := make([]byte, getInfoSize)
	if err := getsockopt(c.fd, soGetInfo, info); err != nil {
		return 0, 0, fmt.Errorf("IP_VS_SO_GET_INFO: %w", err)
	}
	n := int(binary.NativeEndian.Uint32(info[8:]))
	if n == 0 {
		return 0, 0, nil
	}
	size := getServicesHeader + n*serviceEntrySize
	if cap(c.buf) < size {
		c.buf = make([]byte, size)
	}
	buf := c.buf[:size]
	clear(buf)
	binary.NativeEndian.PutUint32(buf, uint32(n))
	if err := getsockopt(c.fd, soGetServices, buf); err != nil {
		return 0, 0, fmt.Errorf("IP_VS_SO_GET_SERVICES for %d services: %w", n, err)
	}
	return decodeServices(buf[getServicesHeader:], n)
}

func getsockopt(fd, opt int, buf []byte) error {
	l := uint32(len(buf))
	_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.IPPROTO_IP, uintptr(opt),
		uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&l)), 0)
	if e != 0 {
		return e
	}
	if int(l) != len(buf) {
		return fmt.Errorf("returned %d bytes, want %d", l, len(buf))
	}
	return nil
}

// decodeServices sums up to n struct ip_vs_service_entry. Entries the
// kernel left empty (the table shrank in between) do not count; an entry
// whose scheduler name is not a short NUL-terminated name means the
// layout is not what this code assumes.
func decodeServices(entries []byte, n int) (services, dests int, err error) {
	if len(entries) < n*serviceEntrySize {
		return 0, 0, fmt.Errorf("%d bytes for %d service entries", len(entries), n)
	}
	for i := range n {
		e := entries[i*serviceEntrySize : (i+1)*serviceEntrySize]
		if binary.NativeEndian.Uint16(e[entryProtocol:]) == 0 && binary.NativeEndian.Uint32(e[entryFWMark:]) == 0 {
			continue
		}
		sched := e[entrySched : entrySched+schedNameMax]
		end := 0
		for end < schedNameMax && sched[end] != 0 {
			if sched[end] < 'a' || sched[end] > 'z' {
				return 0, 0, fmt.Errorf("service entry %d: scheduler name %q: unexpected struct layout", i, sched)
			}
			end++
		}
		if end == 0 || end == schedNameMax {
			return 0, 0, fmt.Errorf("service entry %d: scheduler name %q: unexpected struct layout", i, sched)
		}
		nd := binary.NativeEndian.Uint32(e[entryNumDests:])
		if nd > maxDestsPerSvc {
			return 0, 0, fmt.Errorf("service entry %d: %d destinations: unexpected struct layout", i, nd)
		}
		services++
		dests += int(nd)
	}
	return services, dests, nil
}
