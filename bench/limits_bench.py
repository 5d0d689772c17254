#!/usr/bin/env python3
"""What the fences cost on create -> running (issue 15): the default limits
(cgroup limits, a sized ext4 layer on a loop device, sized /ramdisk and
/dev/shm) and the network rules (nftables isolation and NAT), each against
the same run without them. Five daemons, one per variant: default,
--no-limits, --no-firewall, both off, and --ipv6 off (the default is auto:
IPv6 on where the host has an IPv6 default route); `crun run /bin/true` of the same
rootfs is the reference, in the same loop.

Every round times one create -> running on each daemon (in a new random
order each round, so that neither the machine's noise nor the tail of the
previous create favours a variant), then deletes it and waits until the
container is gone and the daemon's background work is done (the spare
layer taken is made again): what is timed is the create path itself. The
CPU that each variant spends per container, background work included, is
read from /proc (utime + stime of hoodyd and of the children it reaped:
crun, mkfs), which the load of the machine hardly moves.

    bench/limits_bench.py [-n 30] [--only limits|rules|ipv6]
"""
import argparse
import glob
import os
import random
import re
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_bench import (Client, busybox_rootfs, create_one, ms, pct,  # noqa: E402
                       time_crun, wait_running)
from hoody_test import Daemon  # noqa: E402

VARIANTS = {
    "default": ("default (limits and rules)", []),
    "nolimits": ("`--no-limits`", ["--no-limits"]),
    "norules": ("`--no-firewall`", ["--no-firewall"]),
    "none": ("`--no-limits --no-firewall`", ["--no-limits", "--no-firewall"]),
    # the default is --ipv6 auto: on where the host has an IPv6 default route
    "noipv6": ("`--ipv6 off`", ["--ipv6", "off"]),
}
SPARES = 2  # LAYER_SPARES in src/runtime/layer.c
SETTLE_S = 10


def cpu_ticks(pid):
    """utime + stime + cutime + cstime of pid, in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15])


def settle(d, cl, cid):
    """Deletes cid and waits until it is gone and the spare pool is full
    again (a daemon without limits keeps none)."""
    cl.call("DELETE", f"/api/v1/containers/{cid}")
    deadline = time.time() + SETTLE_S
    while time.time() < deadline:
        s, _ = cl.call("GET", f"/api/v1/containers/{cid}")
        if s == 404:
            break
        time.sleep(0.002)
    limited = "--no-limits" not in d.extra
    while limited and time.time() < deadline:
        if len(glob.glob(os.path.join(d.state, "layers", "*.ready"))) >= SPARES:
            break
        time.sleep(0.002)


def timed_create(cl, pid, name):
    t = time.perf_counter()
    c = create_one(cl, pid, name, bypass_prespawn=True)
    wait_running(cl, c["id"])
    return time.perf_counter() - t, c["id"]


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def run(keys, n):
    rootfs = busybox_rootfs()
    times = {k: [] for k in keys}
    times["crun"] = []
    cpu = {k: 0 for k in keys}
    daemons = {k: Daemon(extra_args=VARIANTS[k][1] + ["--log-level", "debug"]) for k in keys}
    phases = {}
    loads = [loadavg()]
    try:
        clients = {}
        for k, d in daemons.items():
            d.start()
            cl = Client(d)
            _, r = cl.call("POST", "/api/v1/projects", {"alias": "bench"})
            clients[k] = (cl, r["data"]["id"])
            # the first limited create formats the layer template
            _, cid = timed_create(*clients[k], "warm")
            settle(d, cl, cid)
        for i in range(n):
            order = list(keys)
            random.shuffle(order)
            for k in order:
                d, (cl, pid) = daemons[k], clients[k]
                before = cpu_ticks(d.proc.pid)
                took, cid = timed_create(cl, pid, f"b-{i}")
                settle(d, cl, cid)
                cpu[k] += cpu_ticks(d.proc.pid) - before
                times[k].append(took)
            times["crun"] += time_crun(rootfs, 1)
            loads.append(loadavg())
        phases = {k: start_phases(d.log_path) for k, d in daemons.items()}
    finally:
        for d in daemons.values():
            d.cleanup()
    return times, cpu, loads, phases


PHASE_RE = re.compile(r"container \S+: started in ([0-9.]+) ms:(.*)")


def start_phases(log_path):
    """{phase: [ms, ...]} from hoodyd's debug lines "started in", the warm-up
    create left out."""
    out = {}
    with open(log_path, errors="replace") as f:
        lines = [m for m in map(PHASE_RE.search, f) if m][1:]
    for m in lines:
        out.setdefault("total", []).append(float(m.group(1)))
        words = m.group(2).split()
        for name, v in zip(words[::2], words[1::2]):
            out.setdefault(name, []).append(float(v))
    return out


def report_phases(keys, phases):
    names = ["layer", "rootfs", "network", "ramdisk", "files", "crun", "total"]
    print("\nInside hoodyd (debug log), median ms per step of the start:\n")
    print("| variant | " + " | ".join(names) + " |\n| --- |" + " --- |" * len(names))
    for k in keys:
        cells = [f"{statistics.median(phases[k][n]):.2f}" if phases[k].get(n) else "-"
                 for n in names]
        print(f"| {VARIANTS[k][0]} | " + " | ".join(cells) + " |")


def report(keys, times, cpu, loads, n):
    tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
    print(f"load average (1 min) during the run: {min(loads):.1f} to {max(loads):.1f}, "
          f"median {statistics.median(loads):.1f}\n")
    print("| create -> running | median | p95 | / crun run | hoodyd CPU per container |\n"
          "| --- | --- | --- | --- | --- |")
    crun = statistics.median(times["crun"])
    for k in keys:
        v = times[k]
        print(f"| {VARIANTS[k][0]} | {ms(statistics.median(v))} | {ms(pct(v, 95))} | "
              f"{statistics.median(v) / crun:.2f} | {cpu[k] * tick_ms / n:.1f} ms |")
    v = times["crun"]
    print(f"| `crun run /bin/true` (reference) | {ms(crun)} | {ms(pct(v, 95))} | 1.00 | |")
    print()
    med = {k: statistics.median(times[k]) for k in keys}
    for num, den, what in (("default", "nolimits", "limits"), ("default", "norules", "rules"),
                           ("default", "none", "limits and rules"),
                           ("norules", "none", "limits alone"),
                           ("nolimits", "none", "rules alone"),
                           ("default", "noipv6", "IPv6 (addresses, routes and rules)")):
        if num in med and den in med:
            print(f"cost of {what}: {num} / {den} (medians) = **{med[num] / med[den]:.2f}**"
                  f" (CPU {cpu[num] / max(cpu[den], 1):.2f})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--only", choices=("limits", "rules", "ipv6"))
    a = ap.parse_args()
    keys = {"limits": ["default", "nolimits"], "rules": ["default", "norules"],
            "ipv6": ["default", "noipv6"]}.get(
        a.only, list(VARIANTS))
    times, cpu, loads, phases = run(keys, a.n)
    report(keys, times, cpu, loads, a.n)
    report_phases(keys, phases)


if __name__ == "__main__":
    main()
