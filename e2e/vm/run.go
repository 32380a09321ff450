package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultModules returns the modules loaded before the command when Options.Modules is nil.
func DefaultModules() []string { return []string{"ip_vs"} }

// runLockPath is the machine-wide lock that serialises guests (see Run);
// maxLockWait bounds the wait for it (the longest suite, the scenarios, has
// a 30-minute guest timeout).
const (
	runLockPath = "/run/lock/tandem-vm-run.lock"
	maxLockWait = 45 * time.Minute
)

// DefaultTimeout bounds a run when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Minute

// consoleTail is how many console lines a Result keeps.
const consoleTail = 200

// ErrTimeout is wrapped by Run's error when the hard timeout (or the
// context) killed QEMU.
var ErrTimeout = errors.New("vm: timed out; QEMU killed")

// Options configure one guest run.
type Options struct {
	// Command is the argv run inside the guest. Command[0] is a path in the
	// host's filesystem (the guest sees the host's root read-only), e.g. a
	// test binary built with CGO_ENABLED=0 go test -c.
	Command []string
	// Env is added to the command's environment, which otherwise holds only
	// HOME, PATH, TERM and TANDEM_IN_VM=1.
	Env map[string]string
	// Dir is the command's working directory in the guest; "/" if empty.
	Dir string
	// Timeout bounds the guest from QEMU's start to its exit (boot
	// included, the first run's download and build not); DefaultTimeout if
	// zero. When it expires QEMU is killed.
	Timeout time.Duration
	// Stdout receives the command's stdout and stderr, one Write per line,
	// as the guest produces them. Optional.
	Stdout io.Writer
	// Console receives the guest's console (kernel and init messages), one
	// Write per line. Optional; the tail is kept in Result.Console anyway.
	Console io.Writer
	// Log receives progress lines from Prepare. Optional.
	Log io.Writer
	// Modules are loaded with modprobe before the command; DefaultModules()
	// when nil. Others load on demand.
	Modules []string
	// MemoryMB is the guest's memory; 1024 if zero.
	MemoryMB int
	// CPUs is the guest's CPU count; 2 if zero.
	CPUs int
	// Systemd boots the host's systemd as PID 1 and runs the command from a
	// oneshot unit (tandem-vm.service); /tmp is then a fresh tmpfs, so the
	// command must live elsewhere (e.g. /var/tmp or the work tree).
	Systemd bool
	// CacheDir overrides CacheDir().
	CacheDir string
}

// Result describes a finished run.
type Result struct {
	// ExitCode is the command's exit status inside the guest.
	ExitCode int
	// Output is the command's combined stdout and stderr.
	Output []byte
	// Console is the tail of the guest console.
	Console string
	// Kernel is the guest kernel version.
	Kernel string
	// Accel is the accelerator used: "kvm" or "tcg".
	Accel string
	// Boot is the time from starting QEMU to the command starting.
	Boot time.Duration
	// Wall is the time from starting QEMU to its exit.
	Wall time.Duration
	// PID was QEMU's process ID (it has exited and been waited for when Run
	// returns).
	PID int
}

// Run prepares the kernel (see Prepare), boots the guest, runs
// opts.Command and powers off. The error is non-nil when the command could
// not be run to completion (no qemu, boot failure, timeout); the command's
// own failure is a non-zero Result.ExitCode with a nil error.
func Run(ctx context.Context, opts Options) (Result, error) {
	var res Result
	if len(opts.Command) == 0 {
		return res, fmt.Errorf("vm: empty command")
	}
	if !filepath.IsAbs(opts.Command[0]) {
		return res, fmt.Errorf("vm: command %q: want an absolute host path", opts.Command[0])
	}
	if _, err := os.Stat(opts.Command[0]); err != nil {
		return res, fmt.Errorf("vm: command: %w", err)
	}
	if opts.Systemd && strings.HasPrefix(filepath.Clean(opts.Command[0]), "/tmp/") {
		return res, fmt.Errorf("vm: command %s: systemd mounts a fresh /tmp in the guest; put it elsewhere", opts.Command[0])
	}
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		return res, fmt.Errorf("vm: qemu-system-x86_64 not found (install Debian's qemu-system-x86): %w", err)
	}
	k, err := Prepare(ctx, PrepareOptions{CacheDir: opts.CacheDir, Log: opts.Log})
	if err != nil {
		return res, err
	}
	// One guest at a time on this machine: TCG guests share two cores, and
	// two at once make both slow enough to break timing-sensitive tests.
	// A second caller waits here, not in QEMU: until ctx ends, and at most
	// maxLockWait (callers pass context.Background()).
	lockCtx, cancelLock := context.WithTimeout(ctx, maxLockWait)
	unlock, err := lockFile(lockCtx, runLockPath)
	cancelLock()
	if err != nil {
		return res, fmt.Errorf("vm: waiting for the other guest to finish (at most %s): %w", maxLockWait, err)
	}
	defer unlock()
	timeout := opts.Timeout
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	res.Kernel = k.Version

	rundir, err := os.MkdirTemp("", "tandem-vm-run-")
	if err != nil {
		return res, fmt.Errorf("vm: run dir: %w", err)
	}
	defer os.RemoveAll(rundir)
	if err := os.Chmod(rundir, 0o755); err != nil {
		return res, fmt.Errorf("vm: run dir: %w", err)
	}
	modules := opts.Modules
	if modules == nil {
		modules = DefaultModules()
	}
	stage2, err := stage2Script(&opts, modules)
	if err != nil {
		return res, err
	}
	if err := os.WriteFile(filepath.Join(rundir, "stage1.sh"), []byte(stage1Script(k, opts.Systemd)), 0o755); err != nil {
		return res, fmt.Errorf("vm: %w", err)
	}
	if err := os.WriteFile(filepath.Join(rundir, "stage2.sh"), []byte(stage2), 0o755); err != nil {
		return res, fmt.Errorf("vm: %w", err)
	}

	accel, accelArgs := accelerator()
	res.Accel = accel
	mem, cpus := opts.MemoryMB, opts.CPUs
	if mem == 0 {
		mem = 1024
	}
	if cpus == 0 {
		cpus = 2
	}
	appendLine := "console=ttyS0 panic=-1 mitigations=off rdinit=/init quiet loglevel=4"
	if opts.Systemd {
		appendLine += " systemd.unit=tandem-vm.target systemd.getty_auto=0 systemd.show_status=0"
	}
	args := []string{
		"-nodefaults", "-no-user-config", "-no-reboot", "-display", "none",
		"-m", strconv.Itoa(mem), "-smp", strconv.Itoa(cpus), "-machine", "q35",
	}
	args = append(args, accelArgs...)
	if _, err := os.Stat("/usr/share/qemu/qboot.rom"); err == nil {
		args = append(args, "-bios", "/usr/share/qemu/qboot.rom")
	}
	args = append(args,
		"-kernel", k.Image, "-initrd", k.Initramfs, "-append", appendLine,
		// ttyS0: console; ttyS1: the command's output. Both are pipes passed
		// as fds 3 and 4.
		"-serial", "file:/dev/fd/3", "-serial", "file:/dev/fd/4",
		"-virtfs", "local,path=/,mount_tag=hostroot,security_model=passthrough,multidevs=remap,readonly=on",
		"-virtfs", "local,path="+rundir+",mount_tag=rw0,security_model=passthrough,multidevs=remap",
	)

	conR, conW, err := os.Pipe()
	if err != nil {
		return res, fmt.Errorf("vm: %w", err)
	}
	defer conR.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		conW.Close()
		return res, fmt.Errorf("vm: %w", err)
	}
	defer outR.Close()
	var qemuOut bytes.Buffer
	cmd := exec.Command(qemu, args...)
	cmd.ExtraFiles = []*os.File{conW, outW}
	cmd.Stdout = &qemuOut
	cmd.Stderr = &qemuOut
	// QEMU dies with us. Pdeathsig follows the thread that forks, so keep
	// this goroutine on that thread until QEMU has exited.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()

	start := time.Now()
	err = cmd.Start()
	conW.Close()
	outW.Close()
	if err != nil {
		return res, fmt.Errorf("vm: start %s: %w", qemu, err)
	}
	res.PID = cmd.Process.Pid

	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		conLines  []string
		bootAt    time.Duration
		outputBuf bytes.Buffer
	)
	wg.Add(2)
	go func() {
		defer wg.Done()
		readLines(conR, func(line string) {
			if opts.Console != nil {
				_, _ = io.WriteString(opts.Console, line+"\n")
			}
			mu.Lock()
			defer mu.Unlock()
			if strings.Contains(line, markerStart) && bootAt == 0 {
				bootAt = time.Since(start)
			}
			conLines = append(conLines, line)
			if len(conLines) > consoleTail {
				conLines = conLines[len(conLines)-consoleTail:]
			}
		})
	}()
	go func() {
		defer wg.Done()
		readLines(outR, func(line string) {
			if opts.Stdout != nil {
				_, _ = io.WriteString(opts.Stdout, line+"\n")
			}
			mu.Lock()
			outputBuf.WriteString(line + "\n")
			mu.Unlock()
		})
	}()

	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	var waitErr error
	timedOut := false
	select {
	case waitErr = <-waitc:
	case <-ctx.Done():
		// Hard stop: kill QEMU by PID and wait for it.
		timedOut = true
		var killErr error
		if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
			killErr = fmt.Errorf("vm: kill qemu pid %d: %w", cmd.Process.Pid, err)
		}
		<-waitc
		waitErr = errors.Join(fmt.Errorf("%w after %v (pid %d): %w", ErrTimeout, time.Since(start).Round(time.Millisecond), cmd.Process.Pid, ctx.Err()), killErr)
	}
	wg.Wait()
	res.Wall = time.Since(start)
	mu.Lock()
	res.Output = outputBuf.Bytes()
	res.Console = strings.Join(conLines, "\n")
	res.Boot = bootAt
	mu.Unlock()

	if timedOut {
		return res, fmt.Errorf("%w\n--- guest console (tail) ---\n%s", waitErr, res.Console)
	}
	b, rerr := os.ReadFile(filepath.Join(rundir, "exit"))
	if rerr != nil {
		return res, fmt.Errorf("vm: the guest reported no exit status (qemu: %v): %s\n--- guest console (tail) ---\n%s",
			waitErr, bytes.TrimSpace(qemuOut.Bytes()), res.Console)
	}
	code, perr := strconv.Atoi(strings.TrimSpace(string(b)))
	if perr != nil {
		return res, fmt.Errorf("vm: bad exit status %q from the guest: %w", b, perr)
	}
	res.ExitCode = code
	return res, nil
}

// readLines calls fn for each line of r, without the line ending, and for
// a final unterminated line.
func readLines(r io.Reader, fn func(string)) {
	br := bufio.NewReaderSize(r, 64*1024)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			fn(strings.TrimRight(line, "\r\n"))
		}
		if err != nil {
			return
		}
	}
}

// accelerator picks KVM only when it can work: /dev/kvm writable and the
// CPU advertising vmx or svm. EnvAccel overrides.
func accelerator() (string, []string) {
	tcg := []string{"-accel", "tcg,thread=multi", "-cpu", "max"}
	kvm := []string{"-accel", "kvm", "-cpu", "host"}
	switch os.Getenv(EnvAccel) {
	case "tcg":
		return "tcg", tcg
	case "kvm":
		return "kvm", kvm
	}
	if unix.Access("/dev/kvm", unix.R_OK|unix.W_OK) != nil {
		return "tcg", tcg
	}
	cpuinfo, err := os.ReadFile("/proc/cpuinfo")
	if err != nil || !cpuHasVirt(cpuinfo) {
		return "tcg", tcg
	}
	return "kvm", kvm
}

// cpuHasVirt reports whether /proc/cpuinfo lists the vmx or svm flag.
func cpuHasVirt(cpuinfo []byte) bool {
	for _, line := range strings.Split(string(cpuinfo), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		for _, f := range strings.Fields(v) {
			if f == "vmx" || f == "svm" {
				return true
			}
		}
	}
	return false
}
