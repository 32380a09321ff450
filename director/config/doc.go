// Package config is the tandem-director configuration: one model (Config)
// and two readers that produce it.
//
//   - The native format is a strict, documented YAML file
//     (/etc/tandem/director.yaml, see docs/config-director.md). It carries
//     everything, including the director-only settings (heartbeat, drain,
//     control socket, metrics, IPVS sysctls, logging).
//   - The keepalived.conf reader accepts the subset of keepalived's syntax an
//     LVS-DR user relies on (global_defs, include, vrrp_instance,
//     virtual_server, real_server, HTTP_GET, SSL_GET, TCP_CHECK), and every
//     keyword of the seed's example verbatim. The director-only settings take
//     their defaults.
//
// Both readers are strict: an unknown or unsupported keyword or key is an
// error naming it, with the file and line it came from; nothing is silently
// ignored. Load detects the format by content, not by file name.
//
// The model is plain data (net/netip addresses, time.Duration) meant to be
// consumed by the vrrp, lvs, checks and pool packages. Every element keeps
// the source position (Pos) it was read from so that Validate and the
// packages acting on it can cite it. MarshalNative writes a model back as
// native YAML (tandem-director show-config, the migration path from
// keepalived), and Diff compares two models for a reload: parse, validate,
// diff, apply only the difference.
//
// The VRRP keywords follow RFC 3768 (VRRPv2) and RFC 5798 (VRRPv3) as
// keepalived implements them; the virtual-server keywords map onto Linux
// IPVS (ipvsadm(8)).
package config
