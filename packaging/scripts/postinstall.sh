#!/bin/sh
# @PKG@ package script after install: Debian postinst and RPM %post.
# Generated from packaging/scripts/postinstall.sh by packaging/build.sh.
#   deb: postinst configure [OLD-VERSION] | abort-upgrade | abort-remove | abort-deconfigure
#   rpm: %post N, N = instances installed after this one (1 install, 2 upgrade)
# What it does (docs/packaging.md):
#   - creates /etc/tandem/heartbeat.key (random, 0600, root) if absent;
#   - director: loads the modules of modules-load.d and applies sysctl.d;
#   - first install: enables the service;
#   - starts (install) or restarts (upgrade) the service, but only when
#     `@PKG@ check-config` accepts the configuration; otherwise it says why
#     and leaves a running old version alone.
set -e

# DPKG_ROOT: dpkg's --root/--instdir prefix (empty on a normal install; an
# RPM --root install runs the script chrooted instead). packaging_test.go
# also uses it to run the scripts against a scratch tree.
root=${DPKG_ROOT:-}
pkg=@PKG@
unit=$pkg.service
bin=$root/usr/sbin/$pkg
key=$root/etc/tandem/heartbeat.key

case "$1" in
configure)
	format=deb
	if [ -n "$2" ]; then action=upgrade; else action=install; fi
	;;
abort-upgrade | abort-remove | abort-deconfigure)
	format=deb
	action=upgrade
	;;
1)
	format=rpm
	action=install
	;;
[0-9]*)
	format=rpm
	action=upgrade
	;;
*)
	exit 0
	;;
esac

say() {
	echo "$pkg: $*" >&2
}

# config_path prints the configuration file the service uses: TANDEM_CONFIG
# from the environment files the unit reads (the last one set wins, as in
# systemd), else the default.
config_path() {
	c=/etc/tandem/@CONF@
	for f in "$root/etc/default/$pkg" "$root/etc/sysconfig/$pkg"; do
		[ -r "$f" ] || continue
		v=$(sed -n 's/^[[:space:]]*TANDEM_CONFIG=//p' "$f" | tail -n 1 |
			sed -e 's/^"\(.*\)"$/\1/' -e "s/^'\(.*\)'\$/\1/")
		if [ -n "$v" ]; then c=$v; fi
	done
	echo "$c"
}

make_key() {
	[ -e "$key" ] && return 0
	mkdir -p "$root/etc/tandem"
	old_umask=$(umask)
	umask 077
	tmp=$key.tmp.$$
	od -An -vtx1 -N32 /dev/urandom | tr -d ' \n' >"$tmp"
	echo >>"$tmp"
	chmod 0600 "$tmp"
	mv -f "$tmp" "$key"
	umask "$old_umask"
	say "created $key (random). Every director and agent of a cluster needs the same key: copy one to all."
}

# live is true on a running systemd system (not in a chroot or an image build).
live() {
	[ -d "$root/run/systemd/system" ]
}

# first_existing NAME DIR...: the first DIR/NAME that exists; systemd lets
# /etc and /run override /usr/lib by file name.
first_existing() {
	name=$1
	shift
	for d in "$@"; do
		if [ -e "$d/$name" ]; then
			echo "$d/$name"
			return 0
		fi
	done
	return 1
}

director_kernel_setup() {
	if m=$(first_existing tandem-director.conf "$root/etc/modules-load.d" "$root/run/modules-load.d" "$root/usr/lib/modules-load.d"); then
		"$root/lib/systemd/systemd-modules-load" "$m" 2>/dev/null || true
		# modprobe what systemd-modules-load could not load (it needs
		# kmod's binary index, which a minimal root may lack).
		missing=
		for mod in $(sed -e 's/#.*//' "$m"); do
			[ -d "$root/sys/module/$mod" ] || modprobe "$mod" 2>/dev/null || missing="$missing $mod"
		done
		if [ -n "$missing" ]; then
			say "could not load kernel modules:$missing (listed in $m; is IPVS built for this kernel?)"
		fi
	fi
	if s=$(first_existing 60-tandem-director.conf "$root/etc/sysctl.d" "$root/run/sysctl.d" "$root/usr/lib/sysctl.d"); then
		"$root/lib/systemd/systemd-sysctl" "$s" ||
			say "could not apply $s (is ip_vs loaded?)"
	fi
	if systemctl --quiet is-active keepalived.service 2>/dev/null; then
		say "keepalived is running on this host. Do not let both speak VRRP for the same virtual_router_id or manage the same virtual servers: stop keepalived before starting $pkg (docs/packaging.md, \"keepalived\")."
	fi
}

enable_unit() {
	if [ "$format" = deb ]; then
		# As debhelper's dh_installsystemd does: re-enable unless the admin
		# disabled it (was-enabled is true on a first install).
		if command -v deb-systemd-helper >/dev/null 2>&1; then
			deb-systemd-helper unmask "$unit" >/dev/null || true
			if deb-systemd-helper --quiet was-enabled "$unit"; then
				deb-systemd-helper enable "$unit" >/dev/null || true
			else
				deb-systemd-helper update-state "$unit" >/dev/null || true
			fi
		fi
	elif [ "$action" = install ]; then
		systemctl enable "$unit" >/dev/null 2>&1 || true
	fi
}

# start_unit starts (install) or restarts (upgrade) the unit if it is
# enabled, or running; a disabled, stopped unit is left alone.
start_unit() {
	verb=start
	if [ "$action" = upgrade ]; then verb=restart; fi
	if [ "$format" = deb ] && command -v deb-systemd-invoke >/dev/null 2>&1; then
		# Also honours policy-rc.d.
		deb-systemd-invoke "$verb" "$unit" >/dev/null
		return
	fi
	if systemctl --quiet is-enabled "$unit" 2>/dev/null ||
		systemctl --quiet is-active "$unit" 2>/dev/null; then
		systemctl "$verb" "$unit"
	fi
}

make_key
if [ "$format" = deb ] && [ -e "$root/var/lib/$pkg/.purge-helper" ]; then
	# Left by a remove (see preremove) for a purge that did not come.
	rm -f "$root/var/lib/$pkg/.purge-helper"
fi
enable_unit
if ! live; then
	exit 0
fi
systemctl --system daemon-reload >/dev/null 2>&1 || true
if [ "$pkg" = tandem-director ]; then
	director_kernel_setup
fi

conf=$(config_path)
if out=$("$bin" check-config "$conf" 2>&1); then
	if ! start_unit; then
		say "could not ${verb:-start} $unit; see: systemctl status $unit; journalctl -u $unit"
	fi
	exit 0
fi

# Not started: explain, indented, at most 20 lines of check-config.
msg=$(printf '%s\n' "$out" | head -n 20 | sed 's/^/    /')
if [ "$action" = install ]; then
	say "enabled, but not started: $conf is not a usable configuration yet:"
	echo "$msg" >&2
	say "edit it (the shipped file is a commented example; see $pkg(8)),"
	say "check it with: $pkg check-config $conf"
	say "then start the service: systemctl start $unit"
else
	say "NOT restarted: $conf does not pass the new version's check:"
	echo "$msg" >&2
	if systemctl --quiet is-active "$unit" 2>/dev/null; then
		say "the previous version keeps running until you fix it and run: systemctl restart $unit"
	else
		say "fix it, then run: systemctl start $unit"
	fi
fi
exit 0
