#!/usr/bin/env bash
# Installs every Debian package hoody needs (build and run time) and prepares
# the host's cgroups. Idempotent: safe to run on every `make`.
#
# --vm: also what `make test-cgroup2` needs (scripts/vm-cgroup2.sh: qemu and
# an ext4 image made from a directory; mmdebstrap is in PKGS already).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config clang git
  libmicrohttpd-dev libjansson-dev libsqlite3-dev libsodium-dev libjwt-dev
  libcurl4-openssl-dev libcmocka-dev libseccomp-dev libssl-dev libnftables-dev nftables libssh-dev libc-ares-dev
  crun busybox-static mmdebstrap iproute2 util-linux procps rsync
  tar gzip zstd openssl sqlite3 curl jq python3 ca-certificates openssh-client
  musl-tools python3-websockets chromium cppcheck clang-format
)

VM_PKGS=(qemu-system-x86 e2fsprogs)
if [ "${1:-}" = "--vm" ]; then
  PKGS+=("${VM_PKGS[@]}")
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: hoody manages containers and must run as root" >&2
  exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The claims tests verify signatures with node's crypto (an implementation
# that is not ours); Debian's nodejs unless a node is already on the PATH.
if ! command -v node >/dev/null 2>&1; then
  echo "setup: installing nodejs"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs >/dev/null
fi

# The socket.io tests use the real socket.io client from npm, pinned by
# tests/socketio/package-lock.json.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends npm >/dev/null
fi
SIO_DIR="$(dirname "$0")/../tests/socketio"
if [ ! -d "$SIO_DIR/node_modules/socket.io-client" ]; then
  echo "setup: npm ci in tests/socketio"
  (cd "$SIO_DIR" && npm ci --no-audit --no-fund --silent)
fi

# crun refuses cgroup "hybrid" mode while any controller sits in the cgroup2
# hierarchy. On hosts with v1 controllers plus a cgroup2 mount, move each
# controller that is still bound to cgroup2 (and not in use there) to its own v1
# hierarchy.
if [ -d /sys/fs/cgroup/unified ] && [ -f /sys/fs/cgroup/unified/cgroup.controllers ]; then
  for c in $(cat /sys/fs/cgroup/unified/cgroup.controllers); do
    mkdir -p "/sys/fs/cgroup/$c"
    if ! grep -q " /sys/fs/cgroup/$c cgroup " /proc/mounts; then
      mount -t cgroup -o "$c" cgroup "/sys/fs/cgroup/$c" || echo "setup: warning: could not mount $c as cgroup v1" >&2
    fi
  done
fi

modprobe overlay 2>/dev/null || true
modprobe veth 2>/dev/null || true
exit 0
