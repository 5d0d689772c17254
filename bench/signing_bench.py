#!/usr/bin/env python3
"""What response signing (X-Hoody-Signature, Ed25519) costs on the API's
throughput: `wrk -t2 -c64` on the same routes of two real hoodyd, one that
signs and one started with --no-signing-key, in the same run. Besides
requests/s (which a busy machine drags down), it reports hoodyd's own CPU time
per request (utime + stime of all its threads over the run, /proc/<pid>/stat):
that figure hardly depends on what else runs, and the throughput of an idle
machine scales with its inverse.

- GET /containers/{id}: the figure of api_bench.py. Repeated answers are
  identical within a second, so after the first one their signature comes
  from the per-thread cache (Ed25519 is deterministic).
- GET /containers/{id}/stats: the body changes on every call (cpu time,
  processing_time), so every answer is signed afresh: the uncached cost.

    bench/signing_bench.py [-d 10]
"""
import argparse
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "bench"))
os.environ.setdefault("HOODY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
os.environ.setdefault("HOODY_TEST_STATE", os.path.join(ROOT, "build", "test-state"))
from api_bench import Client, create_one, wait_running  # noqa: E402
from hoody_test import Daemon  # noqa: E402


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(d, path, seconds):
    cpu0 = cpu_seconds(d.proc.pid)
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(f'wrk.headers["Authorization"] = "Bearer {d.token}"\n')
    lua.close()
    r = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "-s", lua.name, d.base + path],
                       capture_output=True, text=True)
    os.unlink(lua.name)
    cpu = cpu_seconds(d.proc.pid) - cpu0
    rps = next((float(l.split()[1]) for l in r.stdout.splitlines()
                if l.startswith("Requests/sec")), 0.0)
    non2xx = next((l.strip() for l in r.stdout.splitlines() if "Non-2xx" in l), "")
    return rps, non2xx, cpu * 1e6 / max(1.0, rps * seconds)


def measure(extra, seconds):
    with Daemon(extra_args=extra) as d:
        cl = Client(d)
        _, r = cl.call("POST", "/api/v1/projects", {"alias": "sign-bench"})
        c = create_one(cl, r["data"]["id"], "sign-target", bypass_prespawn=True)
        wait_running(cl, c["id"])
        cl.c.request("GET", f"/api/v1/containers/{c['id']}", headers=cl.h)
        resp = cl.c.getresponse()
        resp.read()
        signed = resp.getheader("X-Hoody-Signature") is not None
        get = wrk(d, f"/api/v1/containers/{c['id']}", seconds)
        stats = wrk(d, f"/api/v1/containers/{c['id']}/stats", seconds)
        cl.call("DELETE", f"/api/v1/containers/{c['id']}")
        return signed, get, stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-d", type=int, default=10, help="seconds per wrk run")
    a = ap.parse_args()
    on = measure([], a.d)
    off = measure(["--no-signing-key"], a.d)
    assert on[0] and not off[0], "signing state is not what the run expects"
    print("| route | signed: req/s, hoodyd CPU per request | unsigned (--no-signing-key) |"
          " CPU signed / unsigned |")
    print("| --- | --- | --- | --- |")
    for name, i in (("`GET /containers/{id}` (repeat answers: cached signature)", 1),
                    ("`GET /containers/{id}/stats` (every answer differs)", 2)):
        (s, sn, sc), (u, un, uc) = on[i], off[i]
        note = " ".join(x for x in (sn, un) if x)
        print(f"| {name} | {s:,.0f}/s, {sc:.1f} us | {u:,.0f}/s, {uc:.1f} us | "
              f"{sc / uc if uc else 0:.2f} |" + (f" {note}" if note else ""))


if __name__ == "__main__":
    main()
