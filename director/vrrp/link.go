package vrrp

import (
	"context"
	"fmt"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// LinkState is one link's state: up means administratively up and running
// (carrier), as keepalived reads it.
type LinkState struct {
	Name string
	Up   bool
}

// LinkWatcher reports link states: the current state of each named link,
// then every change until ctx ends.
type LinkWatcher interface {
	Watch(ctx context.Context, names []string) (initial map[string]bool, updates <-chan LinkState, err error)
}

// NetlinkLinks is the LinkWatcher of the kernel, in namespace NS (the
// current one when NS is not open).
type NetlinkLinks struct{ NS netns.NsHandle }

func linkUp(l netlink.Link) bool {
	f := l.Attrs().RawFlags
	return f&unix.IFF_UP != 0 && f&unix.IFF_RUNNING != 0
}

// Watch implements LinkWatcher.
func (w NetlinkLinks) Watch(ctx context.Context, names []string) (map[string]bool, <-chan LinkState, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	opts := netlink.LinkSubscribeOptions{ErrorCallback: func(error) {}}
	var h *netlink.Handle
	var err error
	if nsSet(w.NS) {
		ns := w.NS
		opts.Namespace = &ns
		h, err = netlink.NewHandleAt(ns)
	} else {
		h, err = netlink.NewHandle()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("vrrp: netlink: %w", err)
	}
	// Subscribe first, then read the current state: no change is lost.
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		h.Close()
		return nil, nil, fmt.Errorf("vrrp: watch links: %w", err)
	}
	initial := map[string]bool{}
	for n := range want {
		l, err := h.LinkByName(n)
		if err != nil {
			h.Close()
			close(done)
			return nil, nil, fmt.Errorf("vrrp: interface %s: %w", n, err)
		}
		initial[n] = linkUp(l)
	}
	h.Close()
	out := make(chan LinkState, 16)
	go func() {
		defer close(out)
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case u, ok := <-ch:
				if !ok {
					return
				}
				name := u.Link.Attrs().Name
				if !want[name] {
					continue
				}
				up := linkUp(u.Link) && u.Header.Type != unix.RTM_DELLINK
				select {
				case out <- LinkState{Name: name, Up: up}:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return initial, out, nil
}
