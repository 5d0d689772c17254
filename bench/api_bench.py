#!/usr/bin/env python3
"""API benchmark: a real hoodyd on loopback, timed through HTTP with one
keep-alive connection, next to `crun run` of the same busybox rootfs in the
same run (the machine is noisy: ratios are what compare).

Measures: create -> running (bypass_prespawn), a prespawn claim, and each
operation (stop, start, restart, pause, resume, delete). Prints a table and,
with --markdown FILE, writes it as a Markdown section.

    bench/api_bench.py [-n 50] [--markdown out.md]
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("HOODY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
os.environ.setdefault("HOODY_TEST_STATE", os.path.join(ROOT, "build", "test-state"))
from hoody_test import IMAGE_DIR, Daemon  # noqa: E402


class Client:
    def __init__(self, d):
        self.c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        self.h = {"Authorization": f"Bearer {d.token}", "Content-Type": "application/json"}

    def call(self, method, path, body=None):
        self.c.request(method, path, json.dumps(body) if body is not None else None, self.h)
        r = self.c.getresponse()
        data = json.loads(r.read() or b"null")
        return r.status, data


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))]


def row(name, v):
    return name, statistics.median(v), pct(v, 95), len(v)


def wait_running(cl, cid):
    while True:
        s, r = cl.call("GET", f"/api/v1/containers/{cid}")
        st = r["data"]["status"]
        if st == "running":
            return
        if st == "failed":
            raise RuntimeError(r["data"]["failure_reason"])
        time.sleep(0.0005)


def make_bundle(rootfs, bundle_root, i):
    b = os.path.join(bundle_root, f"b{i}")
    os.makedirs(b)
    subprocess.run(["crun", "spec"], cwd=b, check=True, capture_output=True)
    with open(os.path.join(b, "config.json")) as f:
        spec = json.load(f)
    spec["root"] = {"path": rootfs, "readonly": True}
    spec["process"]["args"] = ["/bin/true"]
    spec["process"]["terminal"] = False
    spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]
    with open(os.path.join(b, "config.json"), "w") as f:
        json.dump(spec, f)
    return b


def time_crun(rootfs, n):
    root = tempfile.mkdtemp(prefix="hoody-bench-crun-")
    out = []
    try:
        for i in range(n):
            b = make_bundle(rootfs, root, i)
            t = time.perf_counter()
            subprocess.run(["crun", "--root", os.path.join(root, "state"), "run", "-b", b,
                            f"bench{os.getpid()}-{i}"], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
            out.append(time.perf_counter() - t)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return out


def bench(n):
    rows = []
    with Daemon(extra_args=["--prespawn", "busybox=4"]) as d:
        cl = Client(d)
        _, r = cl.call("POST", "/api/v1/projects", {"alias": "bench"})
        pid = r["data"]["id"]
        rootfs = os.path.join(IMAGE_DIR, "busybox", "rootfs")
        if not os.path.isdir(rootfs):
            rootfs = next(os.path.join(IMAGE_DIR, x) for x in os.listdir(IMAGE_DIR)
                          if x.startswith("busybox"))
        # interleaved: each create next to one crun run
        create, crun, ids = [], [], []
        for i in range(n):
            t = time.perf_counter()
            s, r = cl.call("POST", f"/api/v1/projects/{pid}/containers",
                           {"container_image": "busybox", "bypass_prespawn": True,
                            "hoody_kit": False, "name": f"bench-{i}"})
            assert s == 201, r
            wait_running(cl, r["data"]["id"])
            create.append(time.perf_counter() - t)
            ids.append(r["data"]["id"])
            crun += time_crun(rootfs, 1)
        rows += [row("create -> running (API, bypass_prespawn)", create),
                 row("crun run /bin/true (reference)", crun)]
        # operations on the containers just made
        for opname in ("stop", "start", "restart", "pause", "resume"):
            v = []
            for cid in ids:
                t = time.perf_counter()
                s, r = cl.call("POST", f"/api/v1/containers/{cid}/{opname}")
                v.append(time.perf_counter() - t)
                assert s == 200, r
            rows.append(row(f"{opname} (API)", v))
        v = []
        for cid in ids:
            t = time.perf_counter()
            s, _ = cl.call("DELETE", f"/api/v1/containers/{cid}")
            while cl.call("GET", f"/api/v1/containers/{cid}")[0] != 404:
                time.sleep(0.0005)
            v.append(time.perf_counter() - t)
        rows.append(row("delete -> gone (API)", v))
        # claims: wait for a full pool before each, so every claim is warm
        claims = []
        for i in range(n):
            while True:
                _, r = cl.call("GET", "/api/v1/admin/prespawn")
                if r["data"]["pools"][0]["ready"] >= 1:
                    break
                time.sleep(0.002)
            t = time.perf_counter()
            s, r = cl.call("POST", f"/api/v1/projects/{pid}/containers",
                           {"container_image": "busybox", "hoody_kit": False,
                            "name": f"claim-{i}"})
            claims.append(time.perf_counter() - t)
            assert s == 201 and r["data"]["status"] == "running", r
        rows.append(row("prespawn claim -> running (API)", claims))
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--markdown")
    a = ap.parse_args()
    rows = bench(a.n)
    ref = statistics.median([r[1] for r in rows if r[0].startswith("crun")] or [1])
    lines = ["| what | median | p95 | n | median / crun run |", "| --- | --- | --- | --- | --- |"]
    for name, med, p95, cnt in rows:
        lines.append(f"| {name} | {med * 1000:.2f} ms | {p95 * 1000:.2f} ms | {cnt} | "
                     f"{med / ref:.2f} |")
    print("\n".join(lines))
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
