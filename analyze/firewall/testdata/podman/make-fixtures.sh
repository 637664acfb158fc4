#!/bin/sh
# make-fixtures.sh BACKEND OUTDIR: dumps a rootful Podman host's firewall and
# network data, with BACKEND (netavark or cni), from inside a network
# namespace of its own, so that neither the host's rules nor other tests see
# the bridge or the chains. Two networks (netavark) or one (cni), a beacon-
# and a quiet-role container on them (idle workload), a third publishing a
# port on the namespace's loopback. No traffic is sent. Needs root, podman,
# and the workload image in podman's storage (docker save IMAGE | podman load).
# nsenter, not ip netns exec: the latter remounts /sys, and runc then finds
# no cgroup mount.
set -eu
backend=$1 out=$2
image=${IMAGE:?set IMAGE to the workload image in podman storage}
ns=dcefix-$backend
run=/run/dcefix-$backend
in_ns() { nsenter --net="/run/netns/$ns" "$@"; }
p() { in_ns podman --network-backend "$backend" "$@"; }
lim="--ulimit nofile=4096:4096 --ulimit nproc=4096:4096"
cleanup() {
	set +e
	[ -n "${svc:-}" ] && kill "$svc" && wait "$svc" 2>/dev/null
	for c in beacon quiet published; do p rm -f -t 0 "dcefix-$backend-$c" >/dev/null 2>&1; done
	for n in 1 2; do p network rm -f "dcefix-$backend$n" >/dev/null 2>&1; done
	ip netns del "$ns" 2>/dev/null
	rm -rf "$run"
}
trap cleanup EXIT
mkdir -p "$out" "$run"
ip netns add "$ns"
in_ns ip link set lo up
if [ "$backend" = netavark ]; then
	p network create --disable-dns --subnet 198.18.71.0/24 dcefix-${backend}1 >/dev/null
	p network create --disable-dns --subnet 198.18.72.0/24 dcefix-${backend}2 >/dev/null
	net1=dcefix-${backend}1 net2=dcefix-${backend}2
else
	p network create --disable-dns --subnet 198.18.73.0/24 dcefix-${backend}1 >/dev/null
	net1=dcefix-${backend}1 net2=dcefix-${backend}1
fi
p run -d $lim --name dcefix-$backend-beacon --network "$net1" "$image" >/dev/null
p run -d $lim --name dcefix-$backend-quiet --network "$net2" "$image" >/dev/null
p run -d $lim --name dcefix-$backend-published --network "$net1" -p 127.0.0.1:18080:8080 "$image" /workload -serve :8080 >/dev/null
in_ns iptables-save -c >"$out/iptables.save"
in_ns ip6tables-save -c >"$out/ip6tables.save"
in_ns nft -j list ruleset >"$out/nft.json"
in_ns ip -j addr >"$out/ip-addr.json"
p network inspect "$net1" >"$out/podman-network-inspect.json"
p inspect dcefix-$backend-beacon dcefix-$backend-quiet >"$out/podman-inspect.json"
# The Docker-compatible API, as the collector reads it.
nsenter --net="/run/netns/$ns" podman --network-backend "$backend" system service --time=0 "unix://$run/podman.sock" &
svc=$!
for i in $(seq 50); do [ -S "$run/podman.sock" ] && break; sleep 0.1; done
api() { curl -sf --unix-socket "$run/podman.sock" "http://d/v1.41$1"; }
api "/networks" >"$out/api-networks.json"
api "/containers/json?all=1" >"$out/api-containers.json"
for c in beacon quiet; do api "/containers/dcefix-$backend-$c/json" >"$out/api-inspect-$c.json"; done
api "/version" >"$out/api-version.json"
# Podman's own API: the networks with their bridge names and the backend.
curl -sf --unix-socket "$run/podman.sock" "http://d/v4.0.0/libpod/networks/json" >"$out/libpod-networks.json"
curl -sf --unix-socket "$run/podman.sock" "http://d/v4.0.0/libpod/info" >"$out/libpod-info.json"
