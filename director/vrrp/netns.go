package vrrp

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// inNetNS runs f on an OS thread switched into ns (the current namespace
// when ns is not open). Sockets opened by f stay bound to ns. If the thread
// cannot be switched back it is left locked, so the runtime discards it.
func inNetNS(ns netns.NsHandle, f func() error) error {
	if !nsSet(ns) {
		return f()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: get current: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(ns); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("netns: enter: %w", err)
			return
		}
		ferr := f()
		if err := netns.Set(orig); err == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// nsSet reports whether ns names a namespace. The zero value (fd 0) does
// not: an Options left empty means the current namespace.
func nsSet(ns netns.NsHandle) bool { return ns > 0 }
