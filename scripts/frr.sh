#!/usr/bin/env bash
# Runs FRR's bgpd (or vtysh or zebra: TANDEM_FRR_TOOL=vtysh or zebra) of
# Debian 12's `frr` package with the given arguments, for the BGP tests of
# director/bgp and the lab's ECMP router (e2e/prodlab/bgp.go: zebra
# installs bgpd's multipath routes in the router's namespace). The package
# is never installed (it would start FRR's daemons): the first run
# fetches frr and the two libraries bgpd needs
# that a base system lacks (libyang2, libc-ares2) with `apt-get download`,
# unpacks them with `dpkg-deb -x` and keeps bgpd, zebra, vtysh and their
# shared libraries in $TANDEM_TOOLS_DIR/frr (default /usr/local/lib/tandem-tools).
# The first run needs write access there (root for the default); apt-get
# update is run when the package lists do not know frr yet (root only).
#
#   scripts/frr.sh --version
#   TANDEM_FRR_TOOL=vtysh scripts/frr.sh --vty_socket DIR -c 'show bgp summary'
#
# What the fetch prints goes to stderr; stdout is the tool's.
set -euo pipefail

dir=${TANDEM_TOOLS_DIR:-/usr/local/lib/tandem-tools}/frr
name=${TANDEM_FRR_TOOL:-bgpd}
unset TANDEM_FRR_TOOL
pkgs=(frr libyang2 libc-ares2)

fail() {
	echo "frr.sh: $*" >&2
	exit 1
}

case $name in
bgpd | vtysh | zebra) ;;
*) fail "TANDEM_FRR_TOOL=$name: want bgpd, vtysh or zebra" ;;
esac

if [ ! -x "$dir/bgpd" ] || [ ! -x "$dir/vtysh" ] || [ ! -x "$dir/zebra" ] || [ ! -d "$dir/lib" ]; then
	for c in apt-get dpkg-deb; do
		command -v "$c" >/dev/null || fail "$c not found: bgpd is fetched from Debian's frr package (Debian or Ubuntu only)"
	done
	mkdir -p "$(dirname "$dir")" 2>/dev/null || true
	[ -w "$(dirname "$dir")" ] || fail "$dir is missing and its parent is not writable: run this script once as root, or set TANDEM_TOOLS_DIR"
	tmp=$(mktemp -d)
	trap 'rm -rf "$tmp"' EXIT
	# apt-get download as root hands the download to the _apt user.
	if [ "$(id -u)" = 0 ] && id _apt >/dev/null 2>&1; then
		chown _apt "$tmp"
	fi
	echo "frr.sh: fetching Debian's ${pkgs[*]} into $dir" >&2
	if ! (cd "$tmp" && apt-get download -q "${pkgs[@]}" >&2); then
		[ "$(id -u)" = 0 ] || fail "apt-get download ${pkgs[*]} failed (see above); as root this script runs apt-get update first"
		apt-get update -qq >&2
		(cd "$tmp" && apt-get download -q "${pkgs[@]}" >&2) || fail "apt-get download ${pkgs[*]} failed after apt-get update"
	fi
	for p in "${pkgs[@]}"; do
		debs=("$tmp/${p}"_*.deb)
		[ -f "${debs[0]}" ] || fail "apt-get download left no ${p}_*.deb"
		dpkg-deb -x "${debs[0]}" "$tmp/root"
	done
	new=$dir.$$
	rm -rf "$new"
	mkdir -p "$new/lib"
	cp "$tmp/root/usr/lib/frr/bgpd" "$tmp/root/usr/lib/frr/zebra" "$tmp/root/usr/bin/vtysh" "$new/"
	cp -P "$tmp"/root/usr/lib/*/frr/libfrr.so.* "$tmp"/root/usr/lib/*/frr/libfrrcares.so.* \
		"$tmp"/root/usr/lib/*/libyang.so.* "$tmp"/root/usr/lib/*/libcares.so.* "$new/lib/"
	chmod 0755 "$new/bgpd" "$new/zebra" "$new/vtysh"
	# Swap the directory in whole: a concurrent run never sees half of it.
	rm -rf "$dir"
	mv "$new" "$dir"
	rm -rf "$tmp"
	trap - EXIT
	echo "frr.sh: $dir holds bgpd, zebra and vtysh" >&2
fi
# zebra will not start without the vty group FRR was built with (frrvty),
# which only the installed package creates. Where the group is missing,
# zebra runs in a mount namespace of its own whose /etc/group has it
# (root only): the machine's own /etc/group is never changed.
if [ "$name" = zebra ] && [ -z "${TANDEM_FRR_MOUNTNS:-}" ] && ! getent group frrvty >/dev/null; then
	[ "$(id -u)" = 0 ] || fail "zebra needs the group frrvty, or root to give it one in a mount namespace"
	g=$(mktemp)
	cat /etc/group >"$g"
	echo "frrvty:x:0:" >>"$g"
	export TANDEM_FRR_MOUNTNS=1 TANDEM_FRR_TOOL=zebra
	exec unshare --mount --propagation private sh -c 'mount --bind "$0" /etc/group && rm -f "$0" && exec "$@"' "$g" "$0" "$@"
fi
export LD_LIBRARY_PATH=$dir/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
exec "$dir/$name" "$@"
