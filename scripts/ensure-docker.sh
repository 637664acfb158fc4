#!/bin/sh
# ensure-docker.sh makes sure a Docker engine answers on /var/run/docker.sock.
#
# It is idempotent: when the engine already answers it exits 0 and touches
# nothing (a running dockerd is never stopped or restarted). Otherwise, as root,
# it installs Debian's docker.io when dockerd is missing, starts dockerd in the
# background (log in $DCE_DOCKERD_LOG, PID in $DCE_DOCKERD_PIDFILE) and waits
# up to $DCE_DOCKERD_WAIT seconds for the socket and an answering API.
# On failure it prints why on stderr and exits 1. DCE_DOCKER_SOCK overrides the
# socket path, for testing the script itself.
set -u

SOCK=${DCE_DOCKER_SOCK:-/var/run/docker.sock}
LOG=${DCE_DOCKERD_LOG:-/var/log/dce-dockerd.log}
PIDFILE=${DCE_DOCKERD_PIDFILE:-/var/run/dce-dockerd.pid}
WAIT=${DCE_DOCKERD_WAIT:-90}

say() { echo "ensure-docker: $*" >&2; }

# engine_answers is true when the API on $SOCK answers a ping. It asks the
# socket directly (not $DOCKER_HOST), since that is the engine the tests use.
engine_answers() {
	[ -S "$SOCK" ] || return 1
	if command -v curl >/dev/null 2>&1; then
		if curl -fsS --max-time 5 --unix-socket "$SOCK" http://localhost/_ping 2>/dev/null | grep -q OK; then
			return 0
		fi
	fi
	if command -v docker >/dev/null 2>&1; then
		if DOCKER_HOST="unix://$SOCK" timeout 10 docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
			return 0
		fi
	fi
	return 1
}

# dockerd_running is true when some dockerd process exists, started by us or
# not; then we wait for it instead of starting a second one.
dockerd_running() {
	for d in /proc/[0-9]*; do
		[ "$(cat "$d/comm" 2>/dev/null)" = dockerd ] && return 0
	done
	return 1
}

wait_for_engine() {
	pid=${1:-}
	i=0
	while [ "$i" -lt "$WAIT" ]; do
		if engine_answers; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			say "dockerd (pid $pid) exited; last lines of $LOG:"
			tail -n 20 "$LOG" >&2 2>/dev/null
			return 1
		fi
		sleep 1
		i=$((i + 1))
	done
	if [ -S "$SOCK" ]; then
		say "$SOCK exists but the API did not answer within ${WAIT}s"
	else
		say "$SOCK did not appear within ${WAIT}s"
	fi
	[ -f "$LOG" ] && tail -n 20 "$LOG" >&2
	return 1
}

if engine_answers; then
	exit 0
fi

if [ "$(id -u)" != 0 ]; then
	say "the Docker engine does not answer on $SOCK and starting it needs root (uid $(id -u))"
	exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
	if ! command -v apt-get >/dev/null 2>&1; then
		say "dockerd is missing and apt-get is not available to install docker.io"
		exit 1
	fi
	say "installing docker.io with apt-get"
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get update -q >&2; then
		say "apt-get update failed"
		exit 1
	fi
	if ! apt-get install -y -q docker.io >&2; then
		say "apt-get install docker.io failed"
		exit 1
	fi
	if ! command -v dockerd >/dev/null 2>&1; then
		say "docker.io is installed but dockerd is not on PATH ($PATH)"
		exit 1
	fi
	# On a systemd host the package starts the service itself.
	if engine_answers; then
		exit 0
	fi
fi

if dockerd_running; then
	say "a dockerd process exists; waiting for it to answer"
	wait_for_engine "" || exit 1
	exit 0
fi

say "starting dockerd (log $LOG, pid file $PIDFILE)"
mkdir -p "$(dirname "$LOG")" "$(dirname "$PIDFILE")"
# setsid and the redirections detach dockerd from the caller: a test harness
# that waits for this script's output must not wait for dockerd too. Its
# working directory is /, not the checkout it was started from, which may be
# deleted while it runs.
cd /
set --
if [ "$SOCK" != /var/run/docker.sock ]; then
	set -- -H "unix://$SOCK"
fi
if command -v setsid >/dev/null 2>&1; then
	setsid dockerd "$@" >>"$LOG" 2>&1 </dev/null &
else
	nohup dockerd "$@" >>"$LOG" 2>&1 </dev/null &
fi
pid=$!
echo "$pid" >"$PIDFILE"
wait_for_engine "$pid" || exit 1
say "dockerd (pid $pid) answers on $SOCK"
exit 0
