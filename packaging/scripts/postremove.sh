#!/bin/sh
# @PKG@ package script after removal: Debian postrm and RPM %postun.
# Generated from packaging/scripts/postremove.sh by packaging/build.sh.
#   deb: postrm remove | purge | upgrade | failed-upgrade | abort-install | abort-upgrade | disappear
#   rpm: %postun N, N = instances left (0 erase, 1 upgrade)
# purge (deb) and erase (rpm) remove the state and runtime directories; the
# agent's purge first runs `tandem-backend cleanup` (VIPs and ARP table).
# deb purge also deletes /etc/tandem/heartbeat.key unless the other Tandem
# package is still installed. An RPM erase keeps it (RPM has no purge, and a
# reinstall then rejoins the cluster with the same key).
set -e

root=${DPKG_ROOT:-} # dpkg --root prefix; see postinstall
pkg=@PKG@
other=@OTHER@
unit=$pkg.service
state=$root/var/lib/$pkg
runtime=$root/run/$pkg

live() {
	[ -d "$root/run/systemd/system" ]
}

remove_state() {
	rm -rf "$state" "$runtime"
}

case "$1" in
remove)
	if live; then
		systemctl --system daemon-reload >/dev/null 2>&1 || true
	fi
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper mask "$unit" >/dev/null || true
	fi
	;;
purge)
	if command -v deb-systemd-helper >/dev/null 2>&1; then
		deb-systemd-helper purge "$unit" >/dev/null || true
		deb-systemd-helper unmask "$unit" >/dev/null || true
	fi
	helper=$state/.purge-helper
	if [ "$pkg" = tandem-backend ] && [ -x "$helper" ] && live; then
		"$helper" cleanup || echo "$pkg: cleanup failed; VIPs on lo or the ARP table may be left" >&2
	fi
	remove_state
	if [ ! -e "$root/usr/sbin/$other" ]; then
		rm -f "$root/etc/tandem/heartbeat.key"
	fi
	rmdir "$root/etc/tandem" 2>/dev/null || true
	;;
0)
	if live; then
		systemctl --system daemon-reload >/dev/null 2>&1 || true
	fi
	remove_state
	;;
[0-9]*)
	if live; then
		systemctl --system daemon-reload >/dev/null 2>&1 || true
	fi
	;;
esac
exit 0
