#!/usr/bin/env python3
"""What the network rules cost (firewall.c, nfnl.c): create -> running
through the API on a default daemon and a --no-firewall one. The same
measurement as bench/limits_bench.py (which `make bench` runs with all four
variants), restricted to these two.

    bench/net_bench.py [-n 30]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from limits_bench import report, report_phases, run  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    a = ap.parse_args()
    keys = ["default", "norules"]
    times, cpu, loads, phases = run(keys, a.n)
    report(keys, times, cpu, loads, a.n)
    report_phases(keys, phases)


if __name__ == "__main__":
    main()
