#!/usr/bin/env bash
# hoodyd on a real cgroup v2 kernel (`make test-cgroup2`, not in `make test`).
#
# This host binds every controller to cgroup v1 and cannot move them, so the
# v2 paths of src/runtime/cgroup.c and limits.c are proved in a VM: Debian 12
# (mmdebstrap, linux-image-amd64, crun and hoodyd's runtime libraries), booted
# by qemu under software emulation (no /dev/kvm) with cgroup_no_v1=all and a
# plain init that mounts cgroup2 at /sys/fs/cgroup. The hoodyd built on the
# host (same Debian release, same libraries) goes in on a second disk with
# tests/e2e and tests/vm; inside, tests/vm/cgroup2_checks.py (files, parent,
# --no-limits, pause, restart re-adoption, CAP_SYS_RESOURCE) and
# tests/e2e/test_limits.py run unchanged, then the other e2e tests that read
# cgroups. Slow: minutes of boot and test under TCG.
#
# The rootfs image and kernel are cached in $VM_DIR (build/vm, gitignored);
# `rm -rf build/vm` rebuilds them. The root disk is opened with
# snapshot=on: every run boots the same pristine system.
#
# Environment: BUILD (build dir with bin/, default build), VM_DIR,
# VM_TIMEOUT (seconds for the whole VM run, default 5400), VM_SMP (2),
# VM_MEM (2G), VM_TESTS (test_limits.py test names, and nothing else; default:
# all of it, then the cgroup-reading tests of test_containers, test_crash
# and test_soak, VM_SOAK_CYCLES cycles, default 200).
# Exits non-zero, naming each failed check, on any failure.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${BUILD:-$ROOT/build}"
VM_DIR="${VM_DIR:-$BUILD/vm}"
VM_TIMEOUT="${VM_TIMEOUT:-5400}"
VM_SMP="${VM_SMP:-2}"
VM_MEM="${VM_MEM:-2G}"
VM_TESTS="${VM_TESTS:-}"
VM_SOAK_CYCLES="${VM_SOAK_CYCLES:-200}"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
IMG="$VM_DIR/rootfs.img"

# What hoodyd, crun, the tests and the init need at run time in the guest.
GUEST_PKGS=linux-image-amd64,initramfs-tools,kmod,crun,busybox-static,iproute2,nftables
GUEST_PKGS+=,util-linux,mount,procps,e2fsprogs,rsync,tar,zstd,gzip,python3,ca-certificates
GUEST_PKGS+=,openssl,sqlite3,libmicrohttpd12,libjansson4,libsqlite3-0,libsodium23,libjwt0
GUEST_PKGS+=,libcurl4,libseccomp2,libssl3,libnftables1,libssh-4,libc-ares2

die() {
	echo "vm-cgroup2: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (mmdebstrap, mkfs)"
for t in qemu-system-x86_64 mmdebstrap mkfs.ext4; do
	command -v "$t" >/dev/null || die "$t missing: run scripts/setup.sh --vm"
done
[ -x "$BUILD/bin/hoodyd" ] || die "$BUILD/bin/hoodyd missing: make build first"

# The guest's PID 1: mounts what systemd would (cgroup2 only), loads the
# modules hoodyd uses, runs the payload's guest.sh, powers off.
write_init() {
	cat >"$1" <<'EOF'
#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
# the initramfs has moved /proc, /sys and /dev here already
mount -t proc proc /proc 2>/dev/null
mount -t sysfs sysfs /sys 2>/dev/null
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mkdir -p /dev/pts /dev/shm /dev/mqueue
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
mount -t cgroup2 -o nsdelegate cgroup2 /sys/fs/cgroup
mount -o remount,rw /
hostname hoody-v2
ip link set lo up
for m in overlay veth bridge loop nf_tables br_netfilter tun; do modprobe "$m" 2>/dev/null; done
mkdir -p /payload
if mount /dev/vdb /payload; then
	sh /payload/guest.sh
	echo "HOODY-VM-EXIT $?"
else
	echo "HOODY-VM-EXIT payload-missing"
fi
sync
echo o >/proc/sysrq-trigger
sleep 30
EOF
	chmod 0755 "$1"
}

build_rootfs() {
	local tree="$VM_DIR/rootfs.tmp"
	echo "vm-cgroup2: building the Debian 12 guest in $VM_DIR (once; minutes)"
	rm -rf "$tree"
	mkdir -p "$VM_DIR"
	nice -n 10 mmdebstrap --variant=apt --mode=root --include="$GUEST_PKGS" \
		bookworm "$tree" "$MIRROR" >"$VM_DIR/mmdebstrap.log" 2>&1 ||
		die "mmdebstrap failed: see $VM_DIR/mmdebstrap.log"
	write_init "$tree/sbin/hoody-vm-init"
	echo "/dev/vda / ext4 rw 0 1" >"$tree/etc/fstab"
	local kernel
	kernel="$(find "$tree/boot" -name 'vmlinuz-*' | sort -V | tail -1)"
	[ -n "$kernel" ] || die "no kernel in the guest's /boot"
	cp "$kernel" "$VM_DIR/vmlinuz"
	cp "$tree/boot/initrd.img-${kernel##*/vmlinuz-}" "$VM_DIR/initrd.img"
	rm -f "$IMG.tmp"
	mkfs.ext4 -q -F -L hoody-v2 -d "$tree" "$IMG.tmp" 8G
	mv "$IMG.tmp" "$IMG"
	rm -rf "$tree"
}

# hoodyd's build, the e2e harness and the v2 checks, on a disk of their own.
build_payload() {
	local dir="$1" img="$2"
	mkdir -p "$dir/tests"
	cp -a "$BUILD/bin" "$dir/bin"
	cp -a "$ROOT/tests/e2e" "$ROOT/tests/vm" "$dir/tests/"
	find "$dir/tests" -name __pycache__ -prune -exec rm -rf {} +
	cat >"$dir/guest.sh" <<EOF
#!/bin/sh
# Runs in the VM (scripts/vm-cgroup2.sh): each check's verdict on one line.
export HOODY_BIN_DIR=/payload/bin HOODY_TEST_STATE=/var/tmp/hoody-test-state
export PYTHONPATH=/payload/tests/e2e PYTHONDONTWRITEBYTECODE=1
echo "HOODY-VM-HOST \$(uname -r) \$(stat -fc %T /sys/fs/cgroup) [\$(cat /sys/fs/cgroup/cgroup.controllers)] cmdline: \$(cat /proc/cmdline)"
# BFQ on the disks, so the I/O weight is applied and checked (io.bfq.weight)
modprobe bfq
for q in /sys/block/vd*/queue/scheduler; do echo bfq >"\$q"; done
fails=0
run() {
	name=\$1; shift
	echo "HOODY-VM-BEGIN \$name"
	if "\$@"; then echo "HOODY-VM-CHECK ok \$name"; else echo "HOODY-VM-CHECK FAIL \$name"; fails=\$((fails + 1)); fi
}
run cgroup2_checks python3 -u /payload/tests/vm/cgroup2_checks.py
run test_limits python3 -u /payload/tests/e2e/test_limits.py $VM_TESTS
# the other e2e tests that read cgroups (hoody_test.cgroup_dirs): what a
# container leaves behind, on v2
if [ -z "$VM_TESTS" ]; then
	run test_containers python3 -u /payload/tests/e2e/test_containers.py test_delete_leaves_nothing \
		test_failed_create test_restart_and_recovery test_pagination_and_sorting
	run test_crash python3 -u /payload/tests/e2e/test_crash.py test_sigkill_mid_flight
	run test_soak env HOODY_SOAK_CYCLES=$VM_SOAK_CYCLES python3 -u /payload/tests/e2e/test_soak.py
fi
exit \$fails
EOF
	rm -f "$img"
	mkfs.ext4 -q -F -L payload -d "$dir" "$img" 1G
}

[ -f "$IMG" ] || build_rootfs

work="$(mktemp -d /tmp/hoody-vm-cgroup2.XXXXXX)"
qpid=""
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then kill "$qpid" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
build_payload "$work/payload" "$work/payload.img"

log="$VM_DIR/last-run.log"
echo "vm-cgroup2: booting (TCG, -smp $VM_SMP, -m $VM_MEM); console in $log"
nice -n 10 timeout --kill-after=30 "$VM_TIMEOUT" qemu-system-x86_64 \
	-machine pc -accel tcg -cpu max -smp "$VM_SMP" -m "$VM_MEM" -nographic -no-reboot \
	-kernel "$VM_DIR/vmlinuz" -initrd "$VM_DIR/initrd.img" \
	-append "root=/dev/vda rw console=ttyS0 init=/sbin/hoody-vm-init cgroup_no_v1=all systemd.unified_cgroup_hierarchy=1 panic=1 quiet" \
	-drive "file=$IMG,format=raw,if=virtio,snapshot=on" \
	-drive "file=$work/payload.img,format=raw,if=virtio" \
	</dev/null >"$log" 2>&1 &
qpid=$!
tail -n +1 -f --pid="$qpid" "$log" | grep --line-buffered -E '^(HOODY-VM|ok |FAIL|[0-9]+ passed)|^  ' || true
wait "$qpid" || echo "vm-cgroup2: qemu exited $? (124: VM_TIMEOUT hit)"
qpid=""

echo "---- summary (real cgroup v2) ----"
grep -E '^HOODY-VM-HOST|^ok |^FAIL|^HOODY-VM-CHECK|^HOODY-VM-EXIT' "$log" | tr -d '\r' || true
exit_line="$(grep -a '^HOODY-VM-EXIT' "$log" | tr -d '\r' | tail -1)"
case "$exit_line" in
"HOODY-VM-EXIT 0") echo "vm-cgroup2: every check passed on cgroup v2" ;;
"") die "the VM never finished its checks (boot failed or timed out): see $log" ;;
*) die "failed on cgroup v2 ($exit_line): see $log" ;;
esac
