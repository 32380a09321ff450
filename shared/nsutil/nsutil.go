// Package nsutil runs code inside a network namespace, so that sockets and
// netlink handles opened there stay bound to it.
package nsutil

import (
	"fmt"
	"runtime"

	"github.com/vishvananda/netns"
)

// Do runs f on an OS thread switched into ns, or directly when ns is not an
// open handle (the current namespace). Sockets opened by f stay bound to ns.
// If the thread cannot be switched back it stays locked, so the runtime
// discards it rather than reuse it in the wrong namespace.
func Do(ns netns.NsHandle, f func() error) error {
	if ns <= 0 {
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
