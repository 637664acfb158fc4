#!/usr/bin/env bash
# Packet capture speed against tcpdump (issue 4). In two namespaces of its
# own (dcq-gen, dcq-sink) joined by a veth on 198.18.250.0/30, a generator
# sends 64-byte frames at 200,000 pkt/s and 1400-byte frames at 1 Gbit/s,
# each for DUR (default 30s). On each load the sink's veth is captured by
# dockcase's capture code (into a bundle, and into a plain pcapng) and by
# `tcpdump -i IF -w FILE`, one after the other. Prints kernel drops, CPU time
# per captured packet (rusage) and the ratio dockcase/tcpdump. It prints; it
# does not assert. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-30}
GEN=dcq-gen SINK=dcq-sink GIF=dcqg0 SIF=dcqs0
SRC=198.18.250.1 DST=198.18.250.2
work=$(mktemp -d /dev/shm/dcq-bench-XXXXXX) # RAM: the disk must not be the bottleneck
cleanup() {
	ip netns del "$GEN" 2>/dev/null || true
	ip netns del "$SINK" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
for ns in "$GEN" "$SINK"; do
	if ip netns list | grep -qw "$ns"; then
		echo "namespace $ns exists: remove it first (a previous run?)" >&2
		exit 1
	fi
done
go build -o "$work/capturebench" ./scripts/bench/capturebench

ip netns add "$GEN"
ip netns add "$SINK"
ip link add "$GIF" netns "$GEN" type veth peer name "$SIF" netns "$SINK"
ip -n "$GEN" addr add "$SRC/30" dev "$GIF"
ip -n "$SINK" addr add "$DST/30" dev "$SIF"
for ns in "$GEN" "$SINK"; do
	ip -n "$ns" link set lo up
done
ip -n "$GEN" link set "$GIF" up
ip -n "$SINK" link set "$SIF" up
# The sink drops the datagrams after the capture point without answering:
# no ICMP flood back, no receiver competing for the two cores.
ip netns exec "$SINK" nft -f - <<EOF
table inet dcq {
	chain input { type filter hook input priority 0; policy drop; }
}
EOF
# The hard rule: nothing is sent before the route is our own veth.
route=$(ip -n "$GEN" route get "$DST")
case "$route" in
*" dev $GIF "*) ;;
*) echo "ip route get $DST in $GEN = $route: not our veth, refusing to send" >&2; exit 1 ;;
esac
echo "route check: $route" | head -1
echo "kernel $(uname -r), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

run() { # tool mode size pps
	local tool=$1 mode=$2 size=$3 pps=$4 out="$work/out"
	rm -f "$out"
	if [ "$tool" = tcpdump ]; then
		ip netns exec "$SINK" "$work/capturebench" tcpdump -iface "$SIF" -dur "$((DUR + 2))s" -out "$out" >"$work/res" &
	else
		ip netns exec "$SINK" "$work/capturebench" dockcase -mode "$mode" -iface "$SIF" -dur "$((DUR + 2))s" -out "$out" >"$work/res" &
	fi
	local cap=$!
	sleep 1
	ip netns exec "$GEN" "$work/capturebench" gen -dst "$DST:9" -size "$size" -pps "$pps" -dur "${DUR}s"
	wait "$cap"
	cat "$work/res"
	rm -f "$out"
}

declare -A ns
summary() { # label file
	python3 - "$@" <<'EOF'
import json, sys
label, path = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(path) if l.startswith("{")]
by = {r["tool"]: r for r in rows}
print(f"== {label}")
print(f"{'tool':<16}{'captured':>12}{'received':>12}{'dropped':>10}{'cpu s':>8}{'ns/pkt':>9}{'MB written':>12}")
for r in rows:
    print(f"{r['tool']:<16}{r['captured']:>12}{r['kernel_received']:>12}{r['kernel_dropped']:>10}{r['cpu_s']:>8.2f}{r['cpu_ns_per_packet']:>9.0f}{r['bytes_written']/1e6:>12.1f}")
t = by.get("tcpdump")
for k in ("dockcase-bundle", "dockcase-pcapng"):
    if t and k in by and t["cpu_ns_per_packet"] > 0:
        print(f"ratio {k}/tcpdump CPU per packet: {by[k]['cpu_ns_per_packet'] / t['cpu_ns_per_packet']:.2f}x")
EOF
}

for load in "64 200000" "1400 89286"; do
	set -- $load
	res="$work/results-$1"
	: >"$res"
	echo "-- load: $1-byte frames at $2 pkt/s for ${DUR}s"
	for tm in "dockcase bundle" "dockcase pcapng" "tcpdump -"; do
		set -- $load
		size=$1 pps=$2
		set -- $tm
		run "$1" "$2" "$size" "$pps" | tee -a "$res"
	done
	set -- $load
	summary "$1-byte frames at $2 pkt/s" "$res"
done
