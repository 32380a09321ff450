package vm

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Environment variables read by this package.
const (
	// EnvCache overrides the cache directory.
	EnvCache = "TANDEM_VM_CACHE"
	// EnvKernelPkg pins the kernel package (e.g. linux-image-6.1.0-56-amd64)
	// instead of resolving linux-image-amd64's dependency.
	EnvKernelPkg = "TANDEM_VM_KERNEL_PKG"
	// EnvAccel forces the accelerator: "tcg" or "kvm".
	EnvAccel = "TANDEM_VM_ACCEL"
)

// cacheFormat is bumped when the layout of a cached kernel changes.
const cacheFormat = "1"

// initramfsModules are loaded by the initramfs to reach the root over 9p.
var initramfsModules = []string{"virtio_pci", "9pnet_virtio", "9p", "overlay"}

// CacheDir returns the cache directory: $TANDEM_VM_CACHE, else
// $XDG_CACHE_HOME/tandem-vm, else /var/cache/tandem-vm.
func CacheDir() string {
	if d := os.Getenv(EnvCache); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "tandem-vm")
	}
	return "/var/cache/tandem-vm"
}

// Kernel is a prepared guest kernel: everything Run needs to boot.
type Kernel struct {
	// Version is the kernel release, e.g. "6.1.0-56-amd64".
	Version string
	// Image is the file passed to QEMU's -kernel: the ELF vmlinux with a
	// PVH entry.
	Image string
	// Initramfs is the gzipped newc initramfs.
	Initramfs string
	// ModulesDir is the host path of lib/modules/VERSION, bind-mounted onto
	// the guest's /lib/modules/VERSION.
	ModulesDir string
}

// PrepareOptions configure Prepare.
type PrepareOptions struct {
	// CacheDir defaults to CacheDir().
	CacheDir string
	// Log receives progress lines (downloads, builds); nil discards them.
	Log io.Writer
}

// Prepare returns the cached kernel, downloading and building it first if
// needed. Concurrent callers (also in other processes) are serialised by a
// lock file in the cache directory.
func Prepare(ctx context.Context, opts PrepareOptions) (*Kernel, error) {
	dir := opts.CacheDir
	if dir == "" {
		dir = CacheDir()
	}
	logw := opts.Log
	if logw == nil {
		logw = io.Discard
	}
	if strings.ContainsAny(dir, " \t\n'\"\\") {
		return nil, fmt.Errorf("vm cache dir %q: must not contain spaces or quotes (it reaches the guest's kernel command line)", dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("vm cache dir %s: %w", dir, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(dir, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()

	pkg, err := resolveKernelPackage(ctx)
	var kver string
	if err != nil {
		// Offline: fall back to the newest kernel already cached.
		cached := cachedVersions(dir)
		if len(cached) == 0 {
			return nil, err
		}
		kver = cached[len(cached)-1]
		fmt.Fprintf(logw, "vm: %v; using cached kernel %s\n", err, kver)
	} else {
		kver = strings.TrimPrefix(pkg, "linux-image-")
	}
	kdir := filepath.Join(dir, kver)
	if !isReady(kdir) {
		start := time.Now()
		fmt.Fprintf(logw, "vm: preparing kernel %s in %s (first run only)\n", kver, kdir)
		err := buildKernelDir(ctx, dir, pkg, kver, logw)
		var dlErr *downloadError
		if errors.As(err, &dlErr) && os.Getenv(EnvKernelPkg) == "" {
			// Stale package lists name a kernel the mirror no longer has:
			// refresh them, resolve again and retry once.
			fmt.Fprintf(logw, "vm: %v; running apt-get update and retrying\n", err)
			if uerr := run(ctx, "", "apt-get", "update", "-q"); uerr != nil {
				return nil, fmt.Errorf("%w (and apt-get update: %v)", err, uerr)
			}
			if pkg, err = resolveKernelPackage(ctx); err != nil {
				return nil, err
			}
			kver = strings.TrimPrefix(pkg, "linux-image-")
			kdir = filepath.Join(dir, kver)
			if !isReady(kdir) {
				err = buildKernelDir(ctx, dir, pkg, kver, logw)
			}
		}
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(logw, "vm: kernel %s ready in %v\n", kver, time.Since(start).Round(time.Millisecond))
	}
	k := &Kernel{
		Version:    kver,
		Image:      filepath.Join(kdir, "vmlinux"),
		ModulesDir: filepath.Join(kdir, "root", "lib", "modules", kver),
	}
	k.Initramfs, err = ensureInitramfs(kdir, k, logw)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// lockFile takes an exclusive flock on path, polling until ctx ends.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { _ = unix.Flock(int(f.Fd()), unix.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, unix.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

var kernelPkgRe = regexp.MustCompile(`^linux-image-[0-9][^ ]*-amd64$`)

// resolveKernelPackage names the kernel package to use.
func resolveKernelPackage(ctx context.Context) (string, error) {
	if p := os.Getenv(EnvKernelPkg); p != "" {
		if !kernelPkgRe.MatchString(p) {
			return "", fmt.Errorf("%s=%q: want linux-image-VERSION-amd64", EnvKernelPkg, p)
		}
		return p, nil
	}
	out, err := exec.CommandContext(ctx, "apt-cache", "depends", "linux-image-amd64").Output()
	if err != nil {
		return "", fmt.Errorf("apt-cache depends linux-image-amd64: %w", err)
	}
	return parseAptDepends(out)
}

// parseAptDepends picks the versioned kernel package from apt-cache
// depends output.
func parseAptDepends(out []byte) (string, error) {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && (f[0] == "Depends:" || f[0] == "|Depends:") && kernelPkgRe.MatchString(f[1]) {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("apt-cache depends linux-image-amd64: no linux-image-VERSION-amd64 dependency in %q", out)
}

// isReady reports whether a cached kernel directory is complete.
func isReady(kdir string) bool {
	b, err := os.ReadFile(filepath.Join(kdir, "ready"))
	return err == nil && strings.TrimSpace(string(b)) == cacheFormat
}

// cachedVersions lists complete cached kernels, oldest-named first.
func cachedVersions(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		if e.IsDir() && isReady(filepath.Join(dir, e.Name())) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out
}

// buildKernelDir downloads pkg and builds dir/kver atomically.
func buildKernelDir(ctx context.Context, dir, pkg, kver string, logw io.Writer) error {
	kdir := filepath.Join(dir, kver)
	tmp := filepath.Join(dir, kver+".tmp-"+randHex(4))
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("vm cache: %w", err)
	}
	defer os.RemoveAll(tmp)

	deb, err := downloadDeb(ctx, tmp, pkg, logw)
	if err != nil {
		return err
	}
	root := filepath.Join(tmp, "root")
	if err := run(ctx, "", "dpkg-deb", "-x", deb, root); err != nil {
		return err
	}
	if err := os.Remove(deb); err != nil {
		return fmt.Errorf("vm cache: %w", err)
	}
	// usr-merged packages ship usr/lib/modules; the guest binds this
	// directory, so normalise to root/lib/modules.
	mods := filepath.Join(root, "lib", "modules", kver)
	if _, err := os.Stat(mods); err != nil {
		alt := filepath.Join(root, "usr", "lib", "modules", kver)
		if _, err2 := os.Stat(alt); err2 != nil {
			return fmt.Errorf("%s: no lib/modules/%s in the package", pkg, kver)
		}
		if err := os.MkdirAll(filepath.Dir(mods), 0o755); err != nil {
			return fmt.Errorf("vm cache: %w", err)
		}
		if err := os.Rename(alt, mods); err != nil {
			return fmt.Errorf("vm cache: %w", err)
		}
	}
	bb, err := busyboxPath()
	if err != nil {
		return err
	}
	fmt.Fprintf(logw, "vm: busybox depmod %s\n", kver)
	if err := run(ctx, "", bb, "depmod", "-b", root, kver); err != nil {
		return err
	}
	bz, err := os.ReadFile(filepath.Join(root, "boot", "vmlinuz-"+kver))
	if err != nil {
		return fmt.Errorf("%s: kernel image: %w", pkg, err)
	}
	fmt.Fprintf(logw, "vm: extracting ELF vmlinux from the bzImage\n")
	vmlinux, err := extractVmlinux(ctx, bz)
	if err != nil {
		return fmt.Errorf("%s: %w", pkg, err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "vmlinux"), vmlinux, 0o644); err != nil {
		return fmt.Errorf("vm cache: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "ready"), []byte(cacheFormat+"\n"), 0o644); err != nil {
		return fmt.Errorf("vm cache: %w", err)
	}
	_ = os.RemoveAll(kdir) // an incomplete leftover
	if err := os.Rename(tmp, kdir); err != nil {
		return fmt.Errorf("vm cache: install %s: %w", kdir, err)
	}
	return nil
}

// downloadError marks a failed apt-get download.
type downloadError struct {
	pkg string
	err error
}

func (e *downloadError) Error() string { return fmt.Sprintf("download %s: %v", e.pkg, e.err) }
func (e *downloadError) Unwrap() error { return e.err }

// downloadDeb fetches pkg's .deb into dir with apt-get download.
func downloadDeb(ctx context.Context, dir, pkg string, logw io.Writer) (string, error) {
	fmt.Fprintf(logw, "vm: apt-get download %s\n", pkg)
	if err := run(ctx, dir, "apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg); err != nil {
		return "", &downloadError{pkg: pkg, err: err}
	}
	debs, _ := filepath.Glob(filepath.Join(dir, pkg+"_*.deb"))
	if len(debs) != 1 {
		return "", fmt.Errorf("download %s: expected one .deb in %s, found %v", pkg, dir, debs)
	}
	return debs[0], nil
}

// busyboxPath finds a statically linked busybox.
func busyboxPath() (string, error) {
	p, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox not found (install Debian's busybox-static): %w", err)
	}
	f, err := elf.Open(p)
	if err != nil {
		return "", fmt.Errorf("busybox %s: %w", p, err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return "", fmt.Errorf("busybox %s is dynamically linked; install Debian's busybox-static", p)
		}
	}
	return p, nil
}

// ensureInitramfs returns the initramfs for k, building it when its inputs
// (init script, module list, busybox) changed. Callers hold the cache lock.
func ensureInitramfs(kdir string, k *Kernel, logw io.Writer) (string, error) {
	bbPath, err := busyboxPath()
	if err != nil {
		return "", err
	}
	bb, err := os.ReadFile(bbPath)
	if err != nil {
		return "", fmt.Errorf("read busybox: %w", err)
	}
	depf, err := os.Open(filepath.Join(k.ModulesDir, "modules.dep"))
	if err != nil {
		return "", fmt.Errorf("kernel %s: %w", k.Version, err)
	}
	deps, err := parseModulesDep(depf)
	depf.Close()
	if err != nil {
		return "", fmt.Errorf("kernel %s: %w", k.Version, err)
	}
	builtin := map[string]bool{}
	if bf, err := os.Open(filepath.Join(k.ModulesDir, "modules.builtin")); err == nil {
		builtin, err = parseBuiltin(bf)
		bf.Close()
		if err != nil {
			return "", fmt.Errorf("kernel %s: %w", k.Version, err)
		}
	}
	order, err := deps.loadOrder(initramfsModules, builtin)
	if err != nil {
		return "", fmt.Errorf("kernel %s: initramfs modules: %w", k.Version, err)
	}
	h := sha256.New()
	h.Write([]byte(initScript))
	h.Write([]byte(strings.Join(order, "\n")))
	h.Write(bb)
	name := "initramfs-" + hex.EncodeToString(h.Sum(nil))[:12] + ".cpio.gz"
	p := filepath.Join(kdir, name)
	if _, err := os.Stat(p); err == nil {
		return p, nil
	}
	fmt.Fprintf(logw, "vm: building %s (%d modules)\n", name, len(order))
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	cw := &cpioWriter{w: zw}
	for _, d := range []string{"bin", "dev", "proc", "sys", "rw", "modules"} {
		cw.Dir(d, 0o755)
	}
	cw.CharDev("dev/console", 0o600, 5, 1)
	cw.CharDev("dev/null", 0o666, 1, 3)
	cw.File("bin/busybox", 0o755, bb)
	cw.Symlink("bin/sh", "busybox")
	cw.File("init", 0o755, []byte(initScript))
	var names []string
	for _, m := range order {
		data, err := os.ReadFile(filepath.Join(k.ModulesDir, m))
		if err != nil {
			return "", fmt.Errorf("kernel %s: %w", k.Version, err)
		}
		base := filepath.Base(m)
		cw.File("modules/"+base, 0o644, data)
		names = append(names, base)
	}
	cw.File("modules/order", 0o644, []byte(strings.Join(names, "\n")+"\n"))
	if err := cw.Close(); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	if err := zw.Close(); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	tmp := p + ".tmp-" + randHex(4)
	if err := os.WriteFile(tmp, buf.Bytes(), 0o644); err != nil {
		return "", fmt.Errorf("initramfs: %w", err)
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return "", fmt.Errorf("initramfs: %w", err)
	}
	return p, nil
}

// run runs a host command, returning its output in the error.
func run(ctx context.Context, dir string, argv ...string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(argv, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
