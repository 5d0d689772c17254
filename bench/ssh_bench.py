#!/usr/bin/env python3
"""SSH front door benchmark: `ssh host true` into a busybox container, round
trip as the user sees it (a new OpenSSH client process, key exchange,
public-key login, the platform's key lookup, `crun exec`, exit status), and
the same command over an already open connection (OpenSSH ControlMaster), so
the cost of one exec channel alone. Next to it, `crun exec <id> true`
measured in the same run (this machine is noisy: only same-run comparisons
mean anything).

    bench/ssh_bench.py [-n 30]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("HOODY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
os.environ.setdefault("HOODY_TEST_STATE", os.path.join(ROOT, "build", "test-state"))
from hoody_test import Daemon, free_port  # noqa: E402


def timed(n, argv):
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True)
        out.append((time.perf_counter() - t) * 1000)
        if r.returncode != 0:
            sys.exit(f"{argv}: {r.returncode} {r.stderr!r}")
    return out


def row(name, ms):
    ms = sorted(ms)
    p95 = ms[min(len(ms) - 1, int(len(ms) * 0.95))]
    print(f"| {name} | {statistics.median(ms):.1f} ms | {p95:.1f} ms | {len(ms)} |")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    n = ap.parse_args().n
    tmp = tempfile.mkdtemp(prefix="hoody-ssh-bench-")
    key = os.path.join(tmp, "k")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    port = free_port()
    d = Daemon(["--ssh-listen", f"127.0.0.1:{port}", "--log-level", "warn"]).start()
    try:
        pid = d.new_project()
        with open(key + ".pub") as f:
            cid = d.create_container(pid, ssh_public_key=f.read().strip())["id"]
        base = ["ssh", "-i", key, "-p", str(port), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes",
                "-o", "LogLevel=ERROR", "-T"]
        ctl = os.path.join(tmp, "ctl")
        master = subprocess.Popen(base + ["-o", "ControlMaster=yes", "-o", f"ControlPath={ctl}",
                                          "-N", "root@127.0.0.1"], stdin=subprocess.DEVNULL)
        while not os.path.exists(ctl):
            time.sleep(0.05)
        timed(3, base + ["root@127.0.0.1", "true"])  # warm the caches
        print("| what | median | p95 | n |\n| --- | --- | --- | --- |")
        row("`ssh host true`: new connection, login, exec", timed(n, base + ["root@127.0.0.1", "true"]))
        row("`true` over an open connection (one exec channel)",
            timed(n, base + ["-o", f"ControlPath={ctl}", "root@127.0.0.1", "true"]))
        row("`ssh -O check` over that connection (the client alone, no server work)",
            timed(n, base + ["-o", f"ControlPath={ctl}", "-O", "check", "root@127.0.0.1"]))
        row("`crun exec <id> true` (reference)",
            timed(n, ["crun", "--root", f"{d.run_dir}/crun", "exec", cid, "true"]))
        master.kill()
        master.wait()
    finally:
        d.cleanup()


if __name__ == "__main__":
    main()
