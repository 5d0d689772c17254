#!/usr/bin/env python3
"""What user-namespace mode costs: create -> running through the API on two
daemons, one plain and one with --userns, interleaved so that the machine's
noise hits both alike, next to `crun run` of the same rootfs in the same loop.

    bench/userns_bench.py [-n 30]
"""
import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_bench import (Client, busybox_rootfs, create_one, ms, pct,  # noqa: E402
                       time_crun, wait_running)
from hoody_test import Daemon  # noqa: E402


def one(cl, pid, name):
    t = time.perf_counter()
    c = create_one(cl, pid, name, bypass_prespawn=True)
    wait_running(cl, c["id"])
    took = time.perf_counter() - t
    cl.call("DELETE", f"/api/v1/containers/{c['id']}")
    return took


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    a = ap.parse_args()
    rootfs = busybox_rootfs()
    times = {"plain": [], "userns": [], "crun": []}
    with Daemon() as plain, Daemon(extra_args=["--userns"]) as userns:
        clients = {}
        for key, d in (("plain", plain), ("userns", userns)):
            cl = Client(d)
            _, r = cl.call("POST", "/api/v1/projects", {"alias": "bench"})
            clients[key] = (cl, r["data"]["id"])
        one(*clients["userns"], "warm")  # the first one makes the image's idmapped view
        for i in range(a.n):
            for key in ("plain", "userns"):
                times[key].append(one(*clients[key], f"b-{i}"))
            times["crun"] += time_crun(rootfs, 1)
    report(times, (("plain", "plain"), ("userns", "--userns"),
                   ("crun", "`crun run /bin/true` (reference)")), "userns", "plain")


def report(times, rows, num, den):
    """A markdown table of create -> running per row (key, label), and the
    ratio of the medians of times[num] and times[den]."""
    print("| create -> running | median | p95 | n |\n| --- | --- | --- | --- |")
    for key, label in rows:
        v = times[key]
        print(f"| {label} | {ms(statistics.median(v))} | {ms(pct(v, 95))} | {len(v)} |")
    ratio = statistics.median(times[num]) / statistics.median(times[den])
    print(f"\n{num} / {den} (medians) = **{ratio:.2f}**")


if __name__ == "__main__":
    main()
