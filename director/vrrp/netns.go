package vrrp

import (
	"github.com/vishvananda/netns"

	"github.com/tandemlb/tandem/shared/nsutil"
)

// inNetNS runs f inside ns (see nsutil.Do).
func inNetNS(ns netns.NsHandle, f func() error) error { return nsutil.Do(ns, f) }

// nsSet reports whether ns names a namespace. The zero value (fd 0) does
// not: an Options left empty means the current namespace.
func nsSet(ns netns.NsHandle) bool { return ns > 0 }
