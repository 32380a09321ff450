// Package lvs keeps the kernel's IPVS table (Linux Virtual Server, the
// ip_vs module; see ipvsadm(8)) in line with what the director wants.
//
// The pieces:
//
//   - The desired state: [Service], [Destination], [ServiceSpec], [Desired].
//     These are this package's own small types; the director's config model
//     is mapped onto them by the application.
//   - [Plan], a pure diff from desired and actual state to a list of [Op]s.
//     It only touches services it owns, adopts what the kernel already has
//     (matching entries produce no operation, so a director restart drops no
//     connection), edits services and destinations in place instead of
//     deleting and re-adding them, and adds new destinations before it
//     removes old ones.
//   - [Client], the small interface to the kernel, and [Kernel], its
//     implementation over github.com/moby/ipvs with one netlink socket for
//     the whole run. lvstest.Fake records calls for tests.
//   - [Reconciler], which reads the kernel once, plans and executes, and
//     reports each failed operation without stopping; the next call retries.
//     [Reconciler.ApplyService] reconciles a single service and reads only
//     that service from the kernel: the fast path for a weight change.
//   - [Sysctls], the per-network-namespace IPVS sysctls Tandem relies on
//     (expire_nodest_conn, expire_quiescent_template, conn_reuse_mode).
//   - The IPVS connection-synchronisation daemon (ipvsadm --start-daemon),
//     which moby/ipvs does not cover: [Kernel.StartDaemon],
//     [Kernel.StopDaemon] and [Kernel.Daemons] speak the IPVS generic
//     netlink family directly (include/uapi/linux/ip_vs.h).
//   - The hand-over of the connection table for a planned failover: the
//     kernel's master sync daemon sends a connection only after its third
//     packet, and a buffer when full or about 2 s old, so the newest
//     connections are unknown to the peer when the VIP moves. [ReadConnTable]
//     reads the whole table (/proc/net/ip_vs_conn), and [SyncSender] sends
//     it to the peer's backup daemon in the kernel's own sync protocol,
//     version 1 ([EncodeSyncMessages], [DecodeSyncMessage], checked field by
//     field against net/netfilter/ipvs/ip_vs_sync.c): multicast on the sync
//     interface, TTL 1, no loopback, paced, bounded by a deadline.
//
// The kernel code can only be exercised on a kernel with ip_vs; the tests
// named TestVM* run inside the QEMU guest (see shared/testutil.InVM).
package lvs
