// Package vm boots Debian's generic kernel (which has ip_vs as modules)
// under QEMU and runs one command inside it, for tests that need a kernel
// feature the host lacks.
//
// The recipe is the one in shared/testbed/README.md:
//
//   - Prepare fetches the kernel package once with apt-get download (the
//     version that linux-image-amd64 depends on), unpacks it, builds the
//     modules index with busybox depmod, extracts the ELF vmlinux from the
//     bzImage (QEMU then boots it through the PVH entry, skipping in-guest
//     decompression) and builds an initramfs (static busybox plus the
//     virtio, 9p and overlay modules). Everything is cached under CacheDir,
//     keyed by kernel version, so only the first run downloads and builds.
//   - Run boots QEMU (KVM when /dev/kvm is writable and the CPU has vmx or
//     svm, TCG otherwise) with the host's root filesystem shared read-only
//     over 9p under a tmpfs overlay (the guest may write anywhere; nothing
//     reaches the host), runs the command with the given environment,
//     streams its output line by line, reads its exit status from a
//     read-write 9p share and always powers off. A hard timeout kills QEMU
//     by PID.
//
// Inside the guest the command runs as root in the initial namespaces, with
// the host's binaries (ip, nft, ipvsadm, tcpdump, ...), kernel modules
// loaded on demand through busybox modprobe, /run a fresh tmpfs, and the
// host's /tmp visible (read-only underneath, writable through the overlay).
// Build test binaries on the host (CGO_ENABLED=0 go test -c) and pass their
// host path: compiling inside the guest is very slow under TCG.
//
// With Options.Systemd the guest boots the host's systemd as PID 1 instead
// and runs the command from a oneshot unit, for package and unit tests.
package vm
