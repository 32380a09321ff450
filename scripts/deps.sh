#!/usr/bin/env bash
# Installs the Debian packages the build, the tests and the demo need, only
# those that are missing, fetches promtool (scripts/promtool.sh) and FRR's
# bgpd (scripts/frr.sh), and downloads the Go modules. Idempotent; needs
# root on a machine that lacks a package, promtool or bgpd.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(qemu-system-x86 busybox-static xz-utils nftables ipvsadm keepalived
      tcpdump curl iproute2 arping lintian rpmlint rpm systemd make git ca-certificates)
pkgs+=(gnuplot-nox) # make docs: the figures of docs/img (e2e/cmd/plots)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing ${missing[*]}"
	if [ "$(id -u)" != 0 ]; then
		echo "deps: missing Debian packages (${missing[*]}) and not root; run as root" >&2
		exit 1
	fi
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	# keepalived is a test peer only: never let Debian's unit run it on the host.
	systemctl disable keepalived >/dev/null 2>&1 || true
	systemctl stop keepalived >/dev/null 2>&1 || true
fi
# promtool (e2e/monitoring: check and test the alert rules) and prometheus
# (e2e/promlab: the lab's Prometheus), unpacked from Debian's prometheus
# package by scripts/promtool.sh in one fetch, never installed: the package
# would start a Prometheus server.
scripts/prometheus.sh --version >/dev/null
# FRR's bgpd and zebra (director/bgp's test router, the BGP lab's ECMP
# router in e2e/prodlab), unpacked from Debian's frr
# package by scripts/frr.sh, never installed: the package would start FRR.
scripts/frr.sh --version >/dev/null
command -v go >/dev/null || { echo "deps: Go 1.26 is required (go not on PATH)" >&2; exit 1; }
go mod download
