#!/usr/bin/env bash
# Runs Prometheus's promtool with the given arguments: the one of Debian 12's
# `prometheus` package, unpacked once into $TANDEM_TOOLS_DIR (default
# /usr/local/lib/tandem-tools). The package is never installed (installing it
# would start a Prometheus server): `apt-get download` fetches it into a
# temporary directory, `dpkg-deb -x` unpacks it, and only usr/bin/promtool
# and usr/bin/prometheus are kept. The first run needs write access to that
# directory (root for the default; scripts/deps.sh does it), and apt-get
# update is run when the package lists do not know the package yet (root
# only).
#
#   scripts/promtool.sh check rules packaging/monitoring/tandem-alerts.yml
#   scripts/promtool.sh test rules packaging/monitoring/tandem-alerts_test.yml
#
# scripts/prometheus.sh runs the server binary (e2e/promlab) through this
# script with TANDEM_PROM_TOOL=prometheus: one fetch serves both, and a
# directory that has one binary but not the other is fetched again.
#
# What the fetch prints goes to stderr; stdout is the tool's.
set -euo pipefail

dir=${TANDEM_TOOLS_DIR:-/usr/local/lib/tandem-tools}
name=${TANDEM_PROM_TOOL:-promtool}
unset TANDEM_PROM_TOOL
bins=(promtool prometheus)

fail() {
	echo "promtool.sh: $*" >&2
	exit 1
}

case $name in
promtool | prometheus) ;;
*) fail "TANDEM_PROM_TOOL=$name: want promtool or prometheus" ;;
esac
tool=$dir/$name

if [ ! -x "$dir/promtool" ] || [ ! -x "$dir/prometheus" ]; then
	for c in apt-get dpkg-deb; do
		command -v "$c" >/dev/null || fail "$c not found: promtool and prometheus are fetched from Debian's prometheus package (Debian or Ubuntu only)"
	done
	mkdir -p "$dir" 2>/dev/null || true
	[ -w "$dir" ] || fail "$tool is missing and $dir is not writable: run scripts/deps.sh (or this script) once as root, or set TANDEM_TOOLS_DIR"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# apt-get download as root hands the download to the _apt user, which
	# must be able to write here.
	if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
		chown _apt "$tmp"
	fi
	echo "promtool.sh: fetching Debian's prometheus package for promtool and prometheus into $dir" >&2
	if ! (cd "$tmp" && apt-get download -q prometheus >&2); then
		[ "$(id -u)" = 0 ] || fail "apt-get download prometheus failed (see above); as root this script runs apt-get update first"
		apt-get update -qq >&2
		(cd "$tmp" && apt-get download -q prometheus >&2) || fail "apt-get download prometheus failed after apt-get update"
	fi
	debs=("$tmp"/prometheus_*.deb)
	[ -f "${debs[0]}" ] || fail "apt-get download left no prometheus_*.deb"
	dpkg-deb -x "${debs[0]}" "$tmp/root"
	for b in "${bins[@]}"; do
		[ -x "$tmp/root/usr/bin/$b" ] || fail "${debs[0]##*/} holds no usr/bin/$b"
	done
	# Copy under a temporary name, then rename: a concurrent run never
	# executes a half-written file.
	for b in "${bins[@]}"; do
		cp "$tmp/root/usr/bin/$b" "$dir/$b.$$"
		chmod 0755 "$dir/$b.$$"
		mv -f "$dir/$b.$$" "$dir/$b"
		echo "promtool.sh: $dir/$b from ${debs[0]##*/}" >&2
	done
	rm -rf "$tmp"
	trap - EXIT
fi
exec "$tool" "$@"
