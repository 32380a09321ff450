package netlab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsDir is where named network namespaces are bind-mounted, as for
// `ip netns`.
const NetnsDir = "/run/netns"

// ensureNetnsDir makes NetnsDir a shared mount point, as `ip netns add`
// does, so labs and `ip netns` coexist.
func ensureNetnsDir() error {
	if err := os.MkdirAll(NetnsDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", NetnsDir, err)
	}
	err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
	if err == nil {
		return nil
	}
	if !errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("make %s shared: %w", NetnsDir, err)
	}
	// Not a mount point yet: bind it onto itself first.
	if err := unix.Mount(NetnsDir, NetnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s onto itself: %w", NetnsDir, err)
	}
	if err := unix.Mount("", NetnsDir, "none", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", NetnsDir, err)
	}
	return nil
}

// createNamed creates a network namespace named name under NetnsDir and
// returns an open handle to it. The calling goroutine's thread is never
// moved: the work happens on a throw-away locked thread.
func createNamed(name string) (netns.NsHandle, error) {
	p := filepath.Join(NetnsDir, name)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
	if err != nil {
		return netns.None(), fmt.Errorf("create netns file %s: %w", p, err)
	}
	f.Close()
	type result struct {
		h   netns.NsHandle
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// This goroutine exits with its thread still locked, so the Go
		// runtime discards the thread instead of reusing it in a foreign
		// namespace.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("unshare netns for %s: %w", name, err)}
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, p, "none", unix.MS_BIND, ""); err != nil {
			ch <- result{err: fmt.Errorf("bind netns %s: %w", p, err)}
			return
		}
		h, err := netns.GetFromPath(p)
		if err != nil {
			ch <- result{err: fmt.Errorf("open netns %s: %w", p, err)}
			return
		}
		ch <- result{h: h}
	}()
	r := <-ch
	if r.err != nil {
		_ = deleteNamed(name)
		return netns.None(), r.err
	}
	return r.h, nil
}

// deleteNamed removes a named namespace, as `ip netns del` does. A missing
// namespace is not an error.
func deleteNamed(name string) error {
	p := filepath.Join(NetnsDir, name)
	if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount netns %s: %w", p, err)
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove netns %s: %w", p, err)
	}
	return nil
}

// doIn runs fn on a fresh locked OS thread that has entered ns. The thread
// is discarded afterwards, so a namespace never leaks into other goroutines.
func doIn(ns netns.NsHandle, what string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := netns.Set(ns); err != nil {
			errc <- fmt.Errorf("enter netns of %s: %w", what, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// writeSysctl writes value to the sysctl key (dotted form) in the calling
// thread's network namespace.
func writeSysctl(key, value string) error {
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

// readSysctl reads the sysctl key (dotted form) in the calling thread's
// network namespace.
func readSysctl(key string) (string, error) {
	p := filepath.Join("/proc/sys", strings.ReplaceAll(key, ".", "/"))
	b, err := os.ReadFile(p)
	if err != nil {
		return "", fmt.Errorf("sysctl %s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// ListNamespaces returns the names under NetnsDir that start with prefix.
func ListNamespaces(prefix string) ([]string, error) {
	ents, err := os.ReadDir(NetnsDir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", NetnsDir, err)
	}
	var out []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}
