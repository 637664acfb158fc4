#!/usr/bin/env bash
# Installs what dockcase's tests use, from Debian's packages, when missing:
# the Docker engine (started by ensure-docker.sh), Podman with netavark,
# aardvark-dns and the CNI plugins (its services started by ensure-podman.sh
# for the Podman end-to-end tests), tcpdump and tshark/capinfos
# as oracles, iptables/nftables/conntrack as Docker installs them, zstd and
# ssh-keygen for the standard-tool checks. Idempotent; needs root.
set -euo pipefail

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have dockerd   || need+=(docker.io)
have podman    || need+=(podman)
[ -x /usr/lib/podman/netavark ] || need+=(netavark)
[ -x /usr/lib/podman/aardvark-dns ] || need+=(aardvark-dns)
[ -x /usr/lib/cni/bridge ] || need+=(containernetworking-plugins)
have curl      || need+=(curl)
have tcpdump   || need+=(tcpdump)
have tshark    || need+=(tshark)
have capinfos  || need+=(wireshark-common)
have nft       || need+=(nftables)
have iptables  || need+=(iptables)
have conntrack || need+=(conntrack)
have zstd      || need+=(zstd)
have ssh-keygen || need+=(openssh-client)
have sha256sum || need+=(coreutils)
have ip        || need+=(iproute2)
have chromium  || need+=(chromium)
have ssh-agent || need+=(openssh-client)

if ((${#need[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing ${need[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
