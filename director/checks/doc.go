// Package checks implements keepalived 2.2's real-server health checks:
// HTTP_GET and SSL_GET (URL path, expected status code, optional MD5
// digest of the body as keepalived's genhash computes it), TCP_CHECK,
// MISC_CHECK (a program; misc_dynamic weights), PING_CHECK (ICMP echo),
// UDP_CHECK, DNS_CHECK, SMTP_CHECK and FILE_CHECK (a track_file's value),
// with keepalived's connect_timeout, delay_loop, retry (nb_get_retry) and
// delay_before_retry semantics.
//
// Every read from a real server is bounded in size and in time: a
// hostile server cannot grow the director's memory nor hold a probe past
// its timeout. HTTP_GET and SSL_GET read at most [MaxHeader] (64 KiB) of
// status line and header, and for a digest at most the body bound
// ([DefaultMaxBody], 4 MiB); SMTP_CHECK at most 32 reply lines of 512
// bytes; UDP_CHECK, DNS_CHECK and PING_CHECK one datagram into a fixed
// buffer; FILE_CHECK 127 bytes; MISC_CHECK keeps [DefaultMiscOutput]
// bytes of output. Going past a bound fails the attempt with a reason
// that names it ("response header larger than 64 KiB from
// 10.0.0.11:80").
//
// A [Probe] does one attempt against one real server. A [Checker] runs a
// probe on a schedule with an injected clock (shared/clock) and reports
// every attempt as a [Result]; the result says whether the checker's
// verdict (up or down) changed, which is what the pool package consumes.
//
// Scheduling, as in keepalived 2.x (check_tcp.c, tcp_epilog):
//
//   - A success makes the checker up (at once, whatever came before) and
//     the next attempt comes delay_loop later.
//   - A failure is retried after delay_before_retry, up to retry times; the
//     retry+1-th consecutive failure makes the checker down and the next
//     attempt comes delay_loop later. With retry 1 (the default) a server
//     goes down after 2 consecutive failures, 1 delay_before_retry apart.
//   - Retries also happen while the checker is down; they change nothing
//     until a success.
//   - The checker starts up, or down with alpha. A result is a change when
//     the verdict differs from the one before, and (as in keepalived) for
//     a very first attempt that is not retried.
//
// Defaults are keepalived's: connect_timeout 5 s, retry 1,
// delay_before_retry 1 s, delay_loop 60 s; MISC_CHECK retries 0 times and
// DNS_CHECK 3 times, waiting a delay_loop ([MiscDefaultRetry],
// [DNSDefaultRetry]).
//
// A probe that is a [WeightedProbe] (MISC_CHECK with misc_dynamic,
// FILE_CHECK with a weight) also asks for a weight for the server: the
// [Result] carries it as an absolute value (WeightSet, Weight,
// WeightChanged).
package checks
