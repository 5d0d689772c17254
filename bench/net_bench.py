#!/usr/bin/env python3
"""What the network rules cost (firewall.c): create -> running through the
API on two daemons, one with the default nftables isolation and one with
--no-firewall, interleaved so that the machine's noise hits both alike.
Each create is deleted at once, so deletes (which remove the rules) run
in the background of the next create, as they would on a busy server.

    bench/net_bench.py [-n 30]
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from api_bench import Client  # noqa: E402
from hoody_test import Daemon  # noqa: E402
from userns_bench import one, report  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    a = ap.parse_args()
    times = {"rules": [], "none": []}
    with Daemon() as rules, Daemon(extra_args=["--no-firewall"]) as none:
        clients = {}
        for key, d in (("rules", rules), ("none", none)):
            cl = Client(d)
            _, r = cl.call("POST", "/api/v1/projects", {"alias": "bench"})
            clients[key] = (cl, r["data"]["id"])
            one(*clients[key], "warm")  # the first builds the tables
        for i in range(a.n):
            for key in ("rules", "none"):
                times[key].append(one(*clients[key], f"b-{i}"))
    report(times, (("rules", "default (nftables isolation, NAT)"),
                   ("none", "`--no-firewall`")), "rules", "none")

if __name__ == "__main__":
    main()
