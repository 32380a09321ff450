#!/bin/sh
# @PKG@ package script before removal: Debian prerm and RPM %preun.
# Generated from packaging/scripts/preremove.sh by packaging/build.sh.
#   deb: prerm remove | upgrade NEW-VERSION | deconfigure | failed-upgrade
#   rpm: %preun N, N = instances left afterwards (0 erase, 1 upgrade)
# An upgrade does nothing here: the new version's postinst/%post restarts
# the service. A removal stops it. The agent's stop leaves the VIPs on lo and
# its ARP table in place; they go on purge (deb) or erase (rpm), which runs
# `tandem-backend cleanup`.
set -e

root=${DPKG_ROOT:-} # dpkg --root prefix; see postinstall
pkg=@PKG@
unit=$pkg.service
bin=$root/usr/sbin/$pkg
state=$root/var/lib/$pkg

case "$1" in
remove | deconfigure)
	if [ -d "$root/run/systemd/system" ] && command -v deb-systemd-invoke >/dev/null 2>&1; then
		deb-systemd-invoke stop "$unit" >/dev/null || true
	fi
	if [ "$pkg" = tandem-backend ] && [ "$1" = remove ]; then
		# dpkg deletes the binary before a purge runs postrm purge, which
		# still needs `tandem-backend cleanup`: keep a link to it.
		mkdir -p "$state"
		ln -f "$bin" "$state/.purge-helper" 2>/dev/null ||
			cp -p "$bin" "$state/.purge-helper" || true
	fi
	;;
0)
	# rpm erase: there is no purge, so this is also the cleanup.
	systemctl --no-reload disable --now "$unit" >/dev/null 2>&1 || true
	if [ "$pkg" = tandem-backend ] && [ -d "$root/run/systemd/system" ]; then
		"$bin" cleanup || echo "$pkg: cleanup failed; VIPs on lo or the ARP table may be left" >&2
	fi
	;;
esac
exit 0
