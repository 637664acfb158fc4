#!/usr/bin/env bash
# Packet capture speed against tcpdump (issue 4). In two namespaces of its
# own (dcq-gen, dcq-sink) joined by a veth on 198.18.250.0/30, a generator
# sends 64-byte frames at 200,000 pkt/s and 1400-byte frames at 1 Gbit/s,
# each for DUR (default 30s). On each load the sink's veth is captured by
# dockcase's capture code (into a bundle, and into a plain pcapng) and by
# `tcpdump -i IF -w FILE`, one after the other. Prints kernel drops, CPU time
# per captured packet (rusage) and, for the plain pcapng and for the bundle,
# the ratio to tcpdump in the same run. It prints; it does not assert.
# Needs root.
#
# Then the socket sampler that collect runs through the capture window
# (issue 14): SAMPLER_NS namespaces of its own (dcq-s1 …), each holding 50
# loopback listeners and 100 connected loopback sockets, beside whatever
# the host has; the sampler runs alone for DUR in the host's namespace, and
# its CPU time per second is printed against each capturer's of each load
# in the same run, as ratios.
#
#	DUR=10          seconds of traffic per run
#	LOADS=64        only the 64-byte load (or 1400)
#	TOOLS="pcapng tcpdump"   only these capturers (bundle, pcapng, tcpdump)
#	PROFILE=DIR     write dockcase's CPU profiles to DIR/<mode>-<size>.pprof
#	SAMPLER_NS=20   namespaces for the socket sampler (0: no sampler run)
#	RATES="89286 178571"   run each load at these packet rates instead of
#	                its own (200,000 pkt/s of 64-byte frames, 1 Gbit/s of
#	                1400-byte ones) and print, per capturer, the highest
#	                rate the generator reached without a kernel drop
#	SNAPSHOT=50     start 50 idle containers on the default bridge and run
#	                `dockcase collect --capture 0 --no-images` over and over
#	                while each capturer runs, as a collection's snapshot
#	                competes with its capture (the row says how many ran)
#
# Each row also shows the generator's CPU (which includes the veth's
# receive path and the kernel's copy into the capture's ring), the CPU the
# rest of the host used meanwhile (other processes, ksoftirqd; rough) and
# the host's idle share: a capturer that drops while "rest cpu" is high
# lost its CPU to something else. Run it under the benchmark lock:
#
#	flock /tmp/dockcase-bench.lock ./scripts/bench-capture.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${DUR:-30}
LOADS=${LOADS:-64 1400}
TOOLS=${TOOLS:-bundle pcapng tcpdump}
PROFILE=${PROFILE:-}
SAMPLER_NS=${SAMPLER_NS:-20}
GEN=dcq-gen SINK=dcq-sink GIF=dcqg0 SIF=dcqs0
SRC=198.18.250.1 DST=198.18.250.2
work=$(mktemp -d /dev/shm/dcq-bench-XXXXXX) # RAM: the disk must not be the bottleneck
hold_pids=()
cleanup() {
	for p in "${hold_pids[@]}"; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	for ((i = 1; i <= SAMPLER_NS; i++)); do
		ip netns del "dcq-s$i" 2>/dev/null || true
	done
	if [ -n "${cap_pid:-}" ]; then
		kill "$cap_pid" 2>/dev/null || true
		wait "$cap_pid" 2>/dev/null || true
	fi
	ip netns del "$GEN" 2>/dev/null || true
	ip netns del "$SINK" 2>/dev/null || true
	snapshot_cleanup
	rm -rf "$work"
}
snap_pid=
snapshot_cleanup() {
	if [ -n "$snap_pid" ]; then
		kill "$snap_pid" 2>/dev/null || true
		wait "$snap_pid" 2>/dev/null || true
		snap_pid=
	fi
	if [ -n "${SNAPSHOT:-}" ]; then
		docker ps -aq --filter name=dcq-snap- | xargs -r docker rm -f >/dev/null 2>&1 || true
		docker rmi dcq-bench-idle:latest >/dev/null 2>&1 || true
	fi
}
trap cleanup EXIT
for ns in "$GEN" "$SINK" $(for ((i = 1; i <= SAMPLER_NS; i++)); do echo "dcq-s$i"; done); do
	if ip netns list | grep -qw "$ns"; then
		echo "namespace $ns exists: remove it first (a previous run?)" >&2
		exit 1
	fi
done
go build -o "$work/capturebench" ./scripts/bench/capturebench
if [ -n "${SNAPSHOT:-}" ]; then
	go build -o "$work/dockcase" ./cmd/dockcase
	# No registry: the image is a static capturebench binary alone.
	mkdir "$work/image"
	CGO_ENABLED=0 go build -o "$work/image/capturebench" ./scripts/bench/capturebench
	tar -C "$work/image" -c capturebench | docker import - dcq-bench-idle:latest >/dev/null
	for i in $(seq -w 1 "$SNAPSHOT"); do
		docker run -d -q --name "dcq-snap-$i" --network bridge dcq-bench-idle:latest /capturebench idle >/dev/null
	done
	echo "snapshot: $(docker ps -q --filter name=dcq-snap- | wc -l) containers running, dockcase collect --capture 0 --no-images in a loop during each capture"
fi
# snapshots runs collections one after the other until killed, counting
# those that finished; the one under way is interrupted by its PID.
snapshots() {
	local n=0 pid=
	trap 'if [ -n "$pid" ]; then kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; fi; exit 0' TERM
	while :; do
		"$work/dockcase" collect --case BENCHSNAP --capture 0 --no-images --out "$work/snap.tar.zst" >/dev/null 2>&1 &
		pid=$!
		wait "$pid" || true
		pid=
		rm -f "$work/snap.tar.zst" "$work"/snap.tar.zst.*
		n=$((n + 1))
		echo "$n" >"$work/snaps"
	done
}

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

cap_pid=
run() { # tool mode size pps results-file
	local tool=$1 mode=$2 size=$3 pps=$4 res=$5 out="$work/out"
	rm -f "$out"
	local host0 host1
	if [ -n "${SNAPSHOT:-}" ]; then
		echo 0 >"$work/snaps"
		snapshots &
		snap_pid=$!
	fi
	host0=$(head -1 /proc/stat)
	if [ "$tool" = tcpdump ]; then
		ip netns exec "$SINK" "$work/capturebench" tcpdump -iface "$SIF" -dur "$((DUR + 2))s" -out "$out" >"$work/res" &
	else
		local prof=()
		if [ -n "$PROFILE" ]; then
			mkdir -p "$PROFILE"
			prof=(-cpuprofile "$PROFILE/$mode-$size.pprof")
		fi
		ip netns exec "$SINK" "$work/capturebench" dockcase -mode "$mode" -iface "$SIF" -dur "$((DUR + 2))s" -out "$out" "${prof[@]}" >"$work/res" &
	fi
	cap_pid=$!
	sleep 1
	ip netns exec "$GEN" "$work/capturebench" gen -dst "$DST:9" -size "$size" -pps "$pps" -dur "${DUR}s" >"$work/gen"
	wait "$cap_pid"
	cap_pid=
	host1=$(head -1 /proc/stat)
	cat "$work/gen"
	if [ -n "$snap_pid" ]; then
		kill "$snap_pid" 2>/dev/null || true
		wait "$snap_pid" 2>/dev/null || true
		snap_pid=
		echo "snapshots meanwhile: $(cat "$work/snaps") finished"
	fi
	# The capturer's line, with the generator's CPU and what the rest of
	# the host did meanwhile (other processes, ksoftirqd): CPU others took
	# is CPU the capturer could not have.
	python3 - "$work/res" "$work/gen" "$host0" "$host1" "$(getconf CLK_TCK)" <<'EOF' | tee -a "$res"
import json, re, sys
res, gen, h0, h1, hz = sys.argv[1:]
r = json.loads(open(res).read())
r["gen_cpu_s"] = float(re.search(r"cpu ([0-9.]+)s", open(gen).read()).group(1))
r["gen_pps"] = float(re.search(r"= ([0-9]+) pkt/s", open(gen).read()).group(1))
a, b = [list(map(int, h.split()[1:9])) for h in (h0, h1)]
d = [y - x for x, y in zip(a, b)]
idle, busy = d[3] + d[4], d[0] + d[1] + d[2] + d[5] + d[6] + d[7]
r["host_idle_pct"] = 100 * idle / (idle + busy)
# /proc/stat is sampled at each tick, rusage is exact: the difference is
# rough, and never below zero.
r["rest_cpu_s"] = max(0, busy / int(hz) - r["cpu_s"] - r["gen_cpu_s"])
print(json.dumps(r))
EOF
	rm -f "$out"
}

summary() { # label file
	python3 - "$@" <<'EOF'
import json, sys
label, path = sys.argv[1], sys.argv[2]
rows = [json.loads(l) for l in open(path) if l.startswith("{")]
by = {r["tool"]: r for r in rows}
print(f"== {label}")
print(f"{'tool':<16}{'captured':>10}{'received':>10}{'dropped':>9}{'cpu s':>7}{'user':>6}{'sys':>6}{'ns/pkt':>8}{'MB out':>8}"
      f"{'gen cpu':>8}{'rest cpu':>9}{'idle%':>6}")
for r in rows:
    print(f"{r['tool']:<16}{r['captured']:>10}{r['kernel_received']:>10}{r['kernel_dropped']:>9}{r['cpu_s']:>7.2f}{r['user_s']:>6.2f}"
          f"{r['sys_s']:>6.2f}{r['cpu_ns_per_packet']:>8.0f}{r['bytes_written']/1e6:>8.1f}{r['gen_cpu_s']:>8.2f}{r['rest_cpu_s']:>9.2f}{r['host_idle_pct']:>6.0f}")
t = by.get("tcpdump")
notes = {"dockcase-pcapng": "plain pcapng",
         "dockcase-bundle": "zstd bundle as collect --capture writes it; tcpdump -w does not compress"}
for k in ("dockcase-pcapng", "dockcase-bundle"):
    if k not in by:
        continue
    r = by[k]
    ratio = f"{r['cpu_ns_per_packet'] / t['cpu_ns_per_packet']:.2f}x" if t and t["cpu_ns_per_packet"] > 0 else "n/a"
    print(f"ratio {k}/tcpdump CPU per packet: {ratio}, dropped {r['kernel_dropped']} of {r['kernel_received']} ({notes[k]})")
if t:
    print(f"tcpdump dropped {t['kernel_dropped']} of {t['kernel_received']}")
EOF
}

declare -A pps=([64]=200000 [1400]=89286) # 1400 B × 8 × 89,286/s = 1 Gbit/s
: >"$work/sweep"
for size in $LOADS; do
	for rate in ${RATES:-${pps[$size]}}; do
		res="$work/results-$size-$rate"
		: >"$res"
		echo "-- load: $size-byte frames at $rate pkt/s for ${DUR}s"
		for t in $TOOLS; do
			case $t in
			tcpdump) run tcpdump - "$size" "$rate" "$res" ;;
			*) run dockcase "$t" "$size" "$rate" "$res" ;;
			esac
		done
		summary "$size-byte frames at $rate pkt/s for ${DUR}s" "$res"
		sed "s/^{/{\"size\": $size, \"pps\": $rate, /" "$res" >>"$work/sweep"
	done
done
if [ -n "${RATES:-}" ]; then
	# The rate a capturer kept up with is what the generator reached, which
	# on a loaded host may be below what it was asked for.
	python3 - "$work/sweep" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("== highest rate without kernel drops (the generator's rate)")
for size in sorted({r["size"] for r in rows}):
    for tool in dict.fromkeys(r["tool"] for r in rows):
        mine = [r for r in rows if r["size"] == size and r["tool"] == tool]
        ok = [r for r in mine if r["kernel_dropped"] == 0]
        drops = [r for r in mine if r["kernel_dropped"] > 0]
        best = max(ok, key=lambda r: r["gen_pps"], default=None)
        line = f"{size}-byte {tool:<16}"
        if best:
            line += f" {best['gen_pps']:>9.0f} pkt/s ({best['gen_pps'] * size * 8 / 1e9:.2f} Gbit/s)"
        else:
            line += " none"
        if drops:
            d = min(drops, key=lambda r: r["gen_pps"])
            line += f"; dropped {d['kernel_dropped']} of {d['kernel_received']} at {d['gen_pps']:.0f} pkt/s"
        print(line)
EOF
fi

[ "$SAMPLER_NS" -gt 0 ] || exit 0
for ((i = 1; i <= SAMPLER_NS; i++)); do
	ip netns add "dcq-s$i"
	ip -n "dcq-s$i" link set lo up
	ip netns exec "dcq-s$i" "$work/capturebench" hold -sockets 50 >"$work/hold-$i" &
	hold_pids+=($!)
done
for ((i = 1; i <= SAMPLER_NS; i++)); do
	for _ in $(seq 50); do
		grep -q ready "$work/hold-$i" && break
		sleep 0.1
	done
done
"$work/capturebench" sampler -dur "${DUR}s" >"$work/sampler"
python3 - "$work/sampler" "$SAMPLER_NS" $(for size in $LOADS; do for rate in ${RATES:-${pps[$size]}}; do echo "$size=$work/results-$size-$rate"; done; done) <<'EOF'
import json, sys
s = json.loads(open(sys.argv[1]).read())
nns = int(sys.argv[2])
rate = s["cpu_s"] / s["wall_s"]
print(f"== socket sampler alone for {s['wall_s']:.1f}s: {s['rounds']} rounds over {s['namespaces']} namespaces "
      f"({nns} of the benchmark's, the rest the host's), {s['sockets']} sockets ({s['owned']} owned)")
print(f"sampler cpu {s['cpu_s']:.3f}s (user {s['user_s']:.3f}, sys {s['sys_s']:.3f}) = {1000 * rate:.1f} ms per second, "
      f"{s['cpu_ms_per_round']:.1f} ms per round; {s['steady_cpu_ms_per_round']:.1f} ms per round once every socket's owner is known")
for arg in sys.argv[3:]:
    size, path = arg.split("=", 1)
    for r in (json.loads(l) for l in open(path) if l.startswith("{")):
        crate = r["cpu_s"] / r["wall_s"] if r["wall_s"] > 0 else 0
        ratio = f"{rate / crate:.3f}" if crate > 0 else "n/a"
        print(f"ratio socket-sampler/{r['tool']} CPU per second ({size}-byte load): {ratio} "
              f"({1000 * rate:.1f} vs {1000 * crate:.0f} ms/s)")
EOF
