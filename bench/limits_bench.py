#!/usr/bin/env python3
"""What resource limits cost: create -> running through the API on two
daemons, one with the default limits (cgroup limits, a sized ext4 layer on a
loop device, sized /ramdisk and /dev/shm) and one with --no-limits,
interleaved so that the machine's noise hits both alike.

    bench/limits_bench.py [-n 30]
"""
import argparse
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_bench import Client, ms, pct  # noqa: E402
from hoody_test import Daemon  # noqa: E402
from userns_bench import one  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    a = ap.parse_args()
    times = {"limits": [], "none": []}
    with Daemon() as limited, Daemon(extra_args=["--no-limits"]) as free:
        clients = {}
        for key, d in (("limits", limited), ("none", free)):
            cl = Client(d)
            _, r = cl.call("POST", "/api/v1/projects", {"alias": "bench"})
            clients[key] = (cl, r["data"]["id"])
            one(*clients[key], "warm")  # the first limited one formats the layer template
        for i in range(a.n):
            for key in ("limits", "none"):
                times[key].append(one(*clients[key], f"b-{i}"))
    print("| create -> running | median | p95 | n |\n| --- | --- | --- | --- |")
    for key, label in (("none", "`--no-limits`"), ("limits", "default limits")):
        v = times[key]
        print(f"| {label} | {ms(statistics.median(v))} | {ms(pct(v, 95))} | {len(v)} |")
    ratio = statistics.median(times["limits"]) / statistics.median(times["none"])
    print(f"\nlimits / no limits (medians) = **{ratio:.2f}**")


if __name__ == "__main__":
    main()
