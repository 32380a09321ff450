#!/usr/bin/env bash
# Runs Prometheus's promtool with the given arguments: the one of Debian 12's
# `prometheus` package, unpacked once into $TANDEM_TOOLS_DIR (default
# /usr/local/lib/tandem-tools). The package is never installed (installing it
# would start a Prometheus server): `apt-get download` fetches it into a
# temporary directory, `dpkg-deb -x` unpacks it, and only usr/bin/promtool is
# kept. The first run needs write access to that directory (root for the
# default; scripts/deps.sh does it), and apt-get update is run when the
# package lists do not know the package yet (root only).
#
#   scripts/promtool.sh check rules packaging/monitoring/tandem-alerts.yml
#   scripts/promtool.sh test rules packaging/monitoring/tandem-alerts_test.yml
#
# What the fetch prints goes to stderr; stdout is promtool's.
set -euo pipefail

dir=${TANDEM_TOOLS_DIR:-/usr/local/lib/tandem-tools}
tool=$dir/promtool

fail() {
	echo "promtool.sh: $*" >&2
	exit 1
}

if [ ! -x "$tool" ]; then
	for c in apt-get dpkg-deb; do
		command -v "$c" >/dev/null || fail "$c not found: promtool is fetched from Debian's prometheus package (Debian or Ubuntu only)"
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
	echo "promtool.sh: fetching Debian's prometheus package for promtool into $dir" >&2
	if ! (cd "$tmp" && apt-get download -q prometheus >&2); then
		[ "$(id -u)" = 0 ] || fail "apt-get download prometheus failed (see above); as root this script runs apt-get update first"
		apt-get update -qq >&2
		(cd "$tmp" && apt-get download -q prometheus >&2) || fail "apt-get download prometheus failed after apt-get update"
	fi
	debs=("$tmp"/prometheus_*.deb)
	[ -f "${debs[0]}" ] || fail "apt-get download left no prometheus_*.deb"
	dpkg-deb -x "${debs[0]}" "$tmp/root"
	[ -x "$tmp/root/usr/bin/promtool" ] || fail "${debs[0]##*/} holds no usr/bin/promtool"
	# Copy under a temporary name, then rename: a concurrent run never
	# executes a half-written file.
	cp "$tmp/root/usr/bin/promtool" "$tool.$$"
	chmod 0755 "$tool.$$"
	mv -f "$tool.$$" "$tool"
	echo "promtool.sh: $tool from ${debs[0]##*/}" >&2
	rm -rf "$tmp"
	trap - EXIT
fi
exec "$tool" "$@"
