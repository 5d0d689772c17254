#!/usr/bin/env python3
"""Fair scheduling bench (issue 16 item 5): how much another user's slow work
delays a restart. Root; uses build/bin and the e2e harness (its own daemon,
bridge and subnet).

  (a) the victim's restart on an idle daemon, N times;
  (b) the same restart while another user has 16 stops in flight (each
      waiting on a process that ignores SIGTERM, timeout 600 s) and 32
      wrong-password logins are queued, N times.

Prints the medians and their ratio; exits 1 when the ratio exceeds
--max-ratio (default 4). The tests check the structure (the victim is served
while all the slow work is in flight); this gives the figure for
docs/PERFORMANCE.md."""
import argparse
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
os.environ.setdefault("HOODY_BIN_DIR", os.path.join(HERE, "..", "build", "bin"))
os.environ.setdefault("HOODY_TEST_STATE", os.path.join(HERE, "..", "build", "test-state"))

from hoody_test import Daemon  # noqa: E402
from test_containers import wait_until  # noqa: E402
from test_fairness import STUBBORN, got_term, traps_set  # noqa: E402
from test_operations import crun_exec  # noqa: E402


def restart_times(d, cid, token, n):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = d.post(f"/api/v1/containers/{cid}/restart", token=token)
        out.append(time.perf_counter() - t)
        assert r.status == 200, r
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=10)
    ap.add_argument("--max-ratio", type=float, default=4.0)
    a = ap.parse_args()
    with Daemon(extra_args=["--workers", "16"]) as d:
        bad, good = d.new_user("bench-attacker"), d.new_user("bench-victim")
        pa, pv = d.new_project(token=bad), d.new_project(token=good)
        victim = d.create_container(pv, token=good)
        slow = [d.create_container(pa, token=bad) for _ in range(16)]
        idle = restart_times(d, victim["id"], good, a.n)

        for c in slow:
            crun_exec(d, c["id"], STUBBORN, detach=True)
        wait_until("the traps set", lambda: traps_set(d, [c["id"] for c in slow]))
        threads = [threading.Thread(target=d.post, args=(f"/api/v1/containers/{c['id']}/stop",
                                                         {"timeout": 600}),
                                    kwargs={"token": bad}) for c in slow]
        threads += [threading.Thread(target=d.post, args=("/api/v1/users/auth/login",
                                                          {"username": f"x{i}", "password": "no"}),
                                     kwargs={"token": None}) for i in range(32)]
        for t in threads:
            t.start()
        while sum(got_term(d, c["id"]) for c in slow) < 4:
            time.sleep(0.05)
        busy = restart_times(d, victim["id"], good, a.n)
        in_flight = sum(t.is_alive() for t in threads[:16])
        for c in slow:
            subprocess.run(["crun", "--root", f"{d.run_dir}/crun", "kill", c["id"], "KILL"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for t in threads:
            t.join()

    mi, mb = statistics.median(idle), statistics.median(busy)
    ratio = mb / mi
    print(f"restart, idle daemon:           median {mi * 1000:.0f} ms, max {max(idle) * 1000:.0f} ms")
    print(f"restart, 16 slow stops + 32 logins of another user in flight ({in_flight} stops "
          f"still in flight at the end): median {mb * 1000:.0f} ms, max {max(busy) * 1000:.0f} ms")
    print(f"ratio of medians: {ratio:.2f} (target <= {a.max_ratio})")
    return 0 if ratio <= a.max_ratio else 1


if __name__ == "__main__":
    sys.exit(main())
