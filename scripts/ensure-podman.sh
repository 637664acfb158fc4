#!/bin/sh
# ensure-podman.sh makes sure a rootful Podman API service answers for each
# network backend named in its arguments (netavark, cni; both when none):
# on unix:///run/dce-podman-<backend>.sock, with its own storage
# (/var/lib/dce-podman-<backend>, /run/dce-podman-<backend>), its own network
# configuration and events log, so that it shares nothing with the host's own
# podman state nor with the other backend.
#
# It is idempotent: a service that already answers is left alone. Otherwise,
# as root, it installs Debian's podman, netavark, aardvark-dns and
# containernetworking-plugins when missing, starts
# "podman ... system service --time=0" in the background (log in
# /var/log/dce-podman-<backend>.log, PID in /run/dce-podman-<backend>.pid)
# and waits up to $DCE_PODMAN_WAIT seconds for the API to answer.
# On failure it prints why on stderr and exits 1.
set -u

WAIT=${DCE_PODMAN_WAIT:-60}

say() { echo "ensure-podman: $*" >&2; }

backends=${*:-netavark cni}
for b in $backends; do
	case $b in
	netavark | cni) ;;
	*)
		say "unknown network backend $b (want netavark or cni)"
		exit 1
		;;
	esac
done

# answers is true when the Podman API on socket $1 answers a ping.
answers() {
	[ -S "$1" ] || return 1
	curl -fsS --max-time 5 --unix-socket "$1" http://localhost/_ping 2>/dev/null | grep -q OK
}

all_answer=true
for b in $backends; do
	answers "/run/dce-podman-$b.sock" || all_answer=false
done
if $all_answer; then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	say "the Podman services ($backends) do not answer and starting them needs root (uid $(id -u))"
	exit 1
fi

need=
command -v podman >/dev/null 2>&1 || need="$need podman"
command -v curl >/dev/null 2>&1 || need="$need curl"
[ -x /usr/lib/podman/netavark ] || need="$need netavark"
[ -x /usr/lib/podman/aardvark-dns ] || need="$need aardvark-dns"
[ -x /usr/lib/cni/bridge ] || need="$need containernetworking-plugins"
if [ -n "$need" ]; then
	if ! command -v apt-get >/dev/null 2>&1; then
		say "missing$need and apt-get is not available to install them"
		exit 1
	fi
	say "installing$need with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	# shellcheck disable=SC2086 # the package names are words
	if ! { apt-get update -q && apt-get install -y -q --no-install-recommends $need; } >&2; then
		say "apt-get install$need failed"
		exit 1
	fi
fi

# Without systemd as init, podman's systemd cgroup manager and journald
# events cannot work: cgroupfs and a file of events instead.
cgroups=
events=
if [ ! -d /run/systemd/system ]; then
	cgroups="--cgroup-manager cgroupfs"
	events="--events-backend file"
fi

for b in $backends; do
	sock=/run/dce-podman-$b.sock
	if answers "$sock"; then
		continue
	fi
	root=/var/lib/dce-podman-$b
	run=/run/dce-podman-$b
	log=/var/log/dce-podman-$b.log
	pidfile=/run/dce-podman-$b.pid
	if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
		say "podman service of $b (pid $(cat "$pidfile")) exists; waiting for it to answer"
		pid=$(cat "$pidfile")
	else
		mkdir -p "$root/networks" "$run/tmp" "$(dirname "$log")"
		rm -f "$sock"
		say "starting the podman service of $b on $sock (log $log, pid file $pidfile)"
		# setsid and the redirections detach the service from the caller,
		# and / is its working directory: conmon fails to start containers
		# once the directory the service started in is removed (a checkout
		# of the project deleted after a test run).
		cd /
		# shellcheck disable=SC2086 # $cgroups and $events are flags
		setsid podman --root "$root" --runroot "$run" --tmpdir "$run/tmp" \
			--network-backend "$b" --network-config-dir "$root/networks" \
			$cgroups $events \
			system service --time=0 "unix://$sock" >>"$log" 2>&1 </dev/null &
		pid=$!
		echo "$pid" >"$pidfile"
	fi
	i=0
	until answers "$sock"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			say "podman service of $b (pid $pid) exited; last lines of $log:"
			tail -n 20 "$log" >&2 2>/dev/null
			exit 1
		fi
		if [ "$i" -ge "$WAIT" ]; then
			say "the podman service of $b did not answer on $sock within ${WAIT}s"
			tail -n 20 "$log" >&2 2>/dev/null
			exit 1
		fi
		sleep 1
		i=$((i + 1))
	done
	say "podman service of $b (pid $pid) answers on $sock"
done
exit 0
