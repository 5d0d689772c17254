"""hoodyd on a real cgroup v2 host (scripts/vm-cgroup2.sh runs this inside a
VM booted with cgroup_no_v1=all): what the fake trees of
tests/unit/test_cgroup.c stand in for, on the kernel. The OOM kill, the
fork bomb and the CPU quota are tests/e2e/test_limits.py's, run after this
in the same VM. Fails on a v1 host: it proves nothing there."""
import json
import os
import subprocess

from hoody_test import CGROUP_ROOT, CGROUP_V2, Daemon, cgroup_dir, check, main

MiB = 1 << 20
V2_CPU_PERIOD = 100000


def text(path):
    with open(path) as f:
        return f.read().strip()


def words(path):
    return set(text(path).split())


def crun_weight(shares):
    """crun 1.8.1's cpu.shares -> cpu.weight (2..262144 -> 1..10000)."""
    return 1 + (shares - 2) * 9999 // 262142


def init_pid(d, cid):
    r = subprocess.run(["crun", "--root", f"{d.run_dir}/crun", "state", cid],
                       capture_output=True, text=True)
    check(r.returncode == 0, r.stderr)
    return json.loads(r.stdout)["pid"]


def test_host_is_v2():
    check(CGROUP_V2, f"{CGROUP_ROOT} is not a cgroup2 root")
    with open("/proc/mounts") as f:
        fs = [line.split()[2] for line in f if line.split()[1].startswith(CGROUP_ROOT)]
    check(fs == ["cgroup2"], f"cgroup mounts under {CGROUP_ROOT}: {fs}")
    ctl = words(f"{CGROUP_ROOT}/cgroup.controllers")
    check({"cpu", "memory", "pids", "io"} <= ctl, ctl)
    print(f"  controllers: {sorted(ctl)}")


def test_no_limits_leaves_root_alone():
    """Run first, on a fresh boot: with --no-limits hoodyd neither makes
    hoody/ nor enables controllers (crun makes its path at a start)."""
    parent = cgroup_dir("memory")
    check(not os.path.exists(parent), f"{parent} there before any hoodyd")
    before = text(f"{CGROUP_ROOT}/cgroup.subtree_control")
    with Daemon(["--no-limits"]):
        check(not os.path.exists(parent), f"hoodyd --no-limits made {parent}")
        after = text(f"{CGROUP_ROOT}/cgroup.subtree_control")
        check(after == before, f"--no-limits changed subtree_control: {before!r} -> {after!r}")


LIMITS = ["--memory-limit", "64M", "--swap-limit", "16M", "--pids-limit", "48",
          "--cpu-limit", "250", "--cpu-shares", "2048", "--io-weight", "300",
          "--host-memory-reserve", "512M"]


def check_files(d, cid):
    lim = d.get(f"/api/v1/containers/{cid}").data["limits"]
    cg = cgroup_dir("memory", cid)
    print(f"  limits: {lim}")
    check(lim["memory_bytes"] == 64 * MiB and lim["pids"] == 48 and lim["cpu_millis"] == 250, lim)
    check(int(text(f"{cg}/memory.max")) == lim["memory_bytes"], text(f"{cg}/memory.max"))
    swap = f"{cg}/memory.swap.max"
    check(os.path.exists(swap), "no memory.swap.max: swap accounting off in the VM kernel")
    check(int(text(swap)) == lim["swap_bytes"] == 16 * MiB, (text(swap), lim))
    check(text(f"{cg}/pids.max") == str(lim["pids"]), text(f"{cg}/pids.max"))
    quota = lim["cpu_millis"] * V2_CPU_PERIOD // 1000
    check(text(f"{cg}/cpu.max") == f"{quota} {V2_CPU_PERIOD}", text(f"{cg}/cpu.max"))
    check(int(text(f"{cg}/cpu.weight")) == crun_weight(lim["cpu_shares"]),
          (text(f"{cg}/cpu.weight"), lim["cpu_shares"]))
    s = d.get(f"/api/v1/containers/{cid}/stats").data
    print(f"  stats: memory {s['memory']}, processes {s['processes']}, allocated {s['allocated']}")
    check(s["memory"]["usage"] > 0 and s["processes"] >= 1, s)
    check(s["allocated"]["memory_bytes"] == 64 * MiB, s["allocated"])
    # guest.sh puts the disks on BFQ: the weight must be applied, and shown
    bfq = f"{cg}/io.bfq.weight"
    check(os.path.exists(bfq), "no io.bfq.weight: BFQ not loaded in the guest")
    check(s["allocated"]["io_weight"] == lim["io_weight"] == 300, (s["allocated"], lim))
    check(text(bfq).split()[:2] == ["default", "300"], text(bfq))


def check_parent(d):
    parent = cgroup_dir("memory")
    root_ctl = words(f"{CGROUP_ROOT}/cgroup.subtree_control")
    check({"cpu", "io", "memory", "pids"} <= root_ctl, f"root subtree_control {root_ctl}")
    with open("/proc/meminfo") as f:
        ram = int(f.readline().split()[1]) * 1024
    with open("/proc/sys/kernel/pid_max") as f:
        pid_max = int(f.read())
    mem = text(f"{parent}/memory.max")
    check(mem != "max" and abs(int(mem) - (ram - 512 * MiB)) < 64 * MiB, (mem, ram))
    check(int(text(f"{parent}/pids.max")) == pid_max * 3 // 4, text(f"{parent}/pids.max"))
    # hoodyd itself is not in the containers' parent: their cap is not its own
    own = text(f"/proc/{d.proc.pid}/cgroup")
    check(":/hoody" not in own, f"hoodyd runs in {own}")


def test_limits_in_v2_files_and_parent():
    with Daemon(LIMITS) as d:
        pid = d.new_project()
        cid = d.create_container(pid, name="limited")["id"]
        check(text(f"/proc/{init_pid(d, cid)}/cgroup") == f"0::/hoody/{cid}")
        check_files(d, cid)
        check_parent(d)


def test_pause_restart_readopt_delete():
    with Daemon(LIMITS) as d:
        pid = d.new_project()
        cid = d.create_container(pid, name="kept")["id"]
        cg = cgroup_dir("memory", cid)
        pid0 = init_pid(d, cid)
        check(d.post(f"/api/v1/containers/{cid}/pause").status == 200)
        d.wait_status(cid, "paused")
        check(text(f"{cg}/cgroup.freeze") == "1")
        check(d.post(f"/api/v1/containers/{cid}/resume").status == 200)
        d.wait_status(cid, "running")
        check(text(f"{cg}/cgroup.freeze") == "0")
        d.restart()
        # the same container, its process and its cgroup, adopted not re-made
        c = d.get(f"/api/v1/containers/{cid}").data
        check(c["status"] == "running", c["status"])
        check(init_pid(d, cid) == pid0, "a new init after the daemon's restart")
        check(text(f"/proc/{pid0}/cgroup") == f"0::/hoody/{cid}")
        check_files(d, cid)
        check_parent(d)
        check(d.delete(f"/api/v1/containers/{cid}").status == 200)
        d.wait_all_gone()
        check(not os.path.exists(cg), f"{cg} left after delete")


class NoSysResource(Daemon):
    """hoodyd without CAP_SYS_RESOURCE (as inside an unprivileged container)."""

    def args(self):
        return ["setpriv", "--bounding-set=-sys_resource", "--inh-caps=-sys_resource"] + \
            super().args()


class NoSysResourceMemlockUnlimited(NoSysResource):
    """The same with RLIMIT_MEMLOCK unlimited already (LimitMEMLOCK=infinity)."""

    def args(self):
        return ["prlimit", "--memlock=unlimited:unlimited"] + super().args()


def test_without_cap_sys_resource():
    """crun 1.8.1 raises RLIMIT_MEMLOCK before loading a container's device
    filter: without CAP_SYS_RESOURCE every start failed with "setrlimit
    (RLIM_MEMLOCK): Operation not permitted" (seen in this VM); hoodyd now
    refuses to start, saying why."""
    d = NoSysResource()
    try:
        d.start()
        d.cleanup()
        check(False, "hoodyd started without CAP_SYS_RESOURCE on cgroup v2")
    except RuntimeError as e:
        check("CAP_SYS_RESOURCE" in str(e) and d.exit_status != 0, e)
        print(f"  refused: {str(e)[-220:]}")
    # the control: with the limit unlimited already, crun needs no raise
    with NoSysResourceMemlockUnlimited() as d:
        with open(f"/proc/{d.proc.pid}/status") as f:
            eff = int(next(x for x in f if x.startswith("CapEff")).split()[1], 16)
        check(not eff & (1 << 24), f"CapEff {eff:x} has CAP_SYS_RESOURCE")
        pid = d.new_project()
        d.create_container(pid, name="nocap")


if __name__ == "__main__":
    main([test_host_is_v2, test_no_limits_leaves_root_alone, test_limits_in_v2_files_and_parent,
          test_pause_restart_readopt_delete, test_without_cap_sys_resource])
