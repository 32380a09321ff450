#!/bin/bash
# Captures one advertisement of keepalived 2.2.7 (Debian 12 package) for each
# golden file in this directory: v2 with auth_type PASS, v3 over IPv4 with a
# centisecond interval, v3 over IPv6. Run as root; everything happens in a
# throw-away network namespace (keepalived on veth k0, tcpdump on its peer k1).
# Output: the whole IP packet as tcpdump -x prints it, as hex on one line,
# in NAME.golden in the directory given as $1 (default: this directory).
# TestNetnsKeepalivedCapture runs it into a temporary directory and decodes
# what keepalived sends today.
set -euo pipefail
out=${1:-$(dirname "$0")}
ns=vrrpcap$$
dir=$(mktemp -d)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link add k0 type veth peer name k1
ip -n "$ns" addr add 10.0.0.1/24 dev k0
ip -n "$ns" link set k0 up
ip -n "$ns" link set k1 up
ip -n "$ns" link set lo up
sleep 2 # IPv6 link-local DAD

capture() { # name filter config
	local name=$1 filter=$2
	printf '%s\n' "$3" >"$dir/$name.conf"
	ip netns exec "$ns" timeout 8 tcpdump -l -n -x -c 1 -i k1 "$filter" >"$dir/$name.txt" 2>/dev/null &
	local td=$!
	sleep 0.5
	ip netns exec "$ns" /usr/sbin/keepalived -n -l -P -f "$dir/$name.conf" \
		-p "$dir/$name.pid" -r "$dir/$name.vrrp.pid" -c "$dir/$name.chk.pid" >/dev/null 2>&1 &
	local ka=$!
	wait "$td" || true
	kill "$ka"; wait "$ka" || true
	{
		echo "# keepalived 2.2.7 advertisement, captured by testdata/capture.sh; config:"
		sed 's/^/#   /' "$dir/$name.conf"
		echo "# tcpdump: $(head -1 "$dir/$name.txt")"
		grep -E '^\s+0x' "$dir/$name.txt" | sed -E 's/^\s+0x[0-9a-f]+:\s+//' | tr -d ' \n'
		echo
	} >"$out/$name.golden"
}

capture v2_pass 'ip proto 112' 'vrrp_instance VI_2 {
    state MASTER
    interface k0
    virtual_router_id 51
    priority 150
    advert_int 1
    authentication {
        auth_type PASS
        auth_pass password
    }
    virtual_ipaddress {
        192.0.2.100/24 dev k0
        192.0.2.101/24 dev k0
    }
}'

capture v3_ipv4 'ip proto 112' 'vrrp_instance VI_3 {
    state MASTER
    version 3
    interface k0
    virtual_router_id 52
    priority 100
    advert_int 0.5
    virtual_ipaddress {
        192.0.2.102/24 dev k0
    }
}'

capture v3_ipv6 'ip6 proto 112' 'vrrp_instance VI_6 {
    state MASTER
    version 3
    interface k0
    virtual_router_id 53
    priority 200
    advert_int 1
    virtual_ipaddress {
        fe80::53/64 dev k0
        2001:db8::100/64 dev k0
    }
}'
