#!/usr/bin/env python3
"""Kit benchmark (docs/PERFORMANCE.md "Kit"): everything through the hostname
proxy and the container's hoody-kit, the way a browser or the CLI reaches it.

  * keystroke echo round trip: one byte of INPUT on the terminal WebSocket
    until its echo arrives in an OUTPUT frame (`cat` in a PTY: line
    discipline echo), median and p99;
  * execute of `true` end to end (POST /api/v1/terminal/execute, wait=true,
    keep-alive connection), median and p99;
  * 1 GiB upload and download through the proxy against `cp` of the same
    file on the same disk (the container's layer), as ratios;
  * RSS of an idle hoody-kit, and after the above;
  * ?hash of that file (against sha256sum on the host) and ?lines=-20 of
    it (a tail counts every line);
  * what N Kit containers cost the host beyond N plain ones (issue 14 asks
    for 500: --density 500): per container the PSS of its processes, its
    memory cgroup (user + kernel) and create time; for all N the host's
    MemAvailable drop, hoodyd's RSS growth, host mounts, the time until
    every agent answers, the idle CPU of all their processes, delete time.
    Both kinds are created `--workers` at a time, measured, then deleted.

    bench/kit_bench.py [--keys 500] [--execs 300] [--gib 1] [--density 20]
                       [--workers 4] [--idle 10] [--only keys,execs,files,density]
"""
import argparse
import asyncio
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("HOODY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
os.environ.setdefault("HOODY_TEST_STATE", os.path.join(ROOT, "build", "test-state"))
from kit_util import Kit, init, kit_pids, read_until  # noqa: E402
from proxy_util import ProxyDaemon, init_pid, rss_kib  # noqa: E402


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p / 100))]


def ms(v):
    return f"{statistics.median(v) * 1000:.2f} ms median, {pct(v, 99) * 1000:.2f} ms p99"


async def keystrokes(k, n):
    async with k.ws("?terminal_id=77") as ws:
        await init(ws)
        await ws.send(b"0exec cat\r")
        await asyncio.sleep(0.5)
        while True:  # drain the prompt and the echo of the command
            try:
                await asyncio.wait_for(ws.recv(), 0.3)
            except asyncio.TimeoutError:
                break
        out = []
        for i in range(n):
            ch = bytes([97 + i % 26])
            t = time.perf_counter()
            await ws.send(b"0" + ch)
            await read_until(ws, ch)
            out.append(time.perf_counter() - t)
            if i % 60 == 59:
                await ws.send(b"0\r")
                await read_until(ws, b"\n")  # cat's echo and its copy of the line
        return out


def executes(k, n):
    c = http.client.HTTPConnection("127.0.0.1", k.d.proxy_port, timeout=60)
    h = dict(k.owner, Host=k.host("terminal-0"), **{"Content-Type": "application/json"})
    body = json.dumps({"command": "true"})
    out = []
    for _ in range(n + 10):
        t = time.perf_counter()
        c.request("POST", "/api/v1/terminal/execute?terminal_id=0&ephemeral=true", body, h)
        r = c.getresponse()
        data = r.read()
        out.append(time.perf_counter() - t)
        assert r.status == 200 and json.loads(data)["data"]["exit_code"] == 0, data
    c.close()
    return out[10:]


def upload(k, path, size):
    import socket
    s = socket.create_connection(("127.0.0.1", k.d.proxy_port))
    head = [f"PUT {path} HTTP/1.1", f"Host: {k.host('files-1')}", f"Content-Length: {size}",
            "Content-Type: application/json", "Connection: close"] + [f"{a}: {b}" for a, b in k.owner.items()]
    block = os.urandom(1 << 20)
    t = time.perf_counter()
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    for _ in range(size >> 20):
        s.sendall(block)
    reply = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        reply += b
    dt = time.perf_counter() - t
    s.close()
    assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
    return dt


def download(k, path, size):
    import socket
    s = socket.create_connection(("127.0.0.1", k.d.proxy_port))
    head = [f"GET {path} HTTP/1.1", f"Host: {k.host('files-1')}", "Connection: close"] + \
        [f"{a}: {b}" for a, b in k.owner.items()]
    buf = bytearray(4 << 20)
    t = time.perf_counter()
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    n = 0
    while True:
        k_ = s.recv_into(buf)
        if not k_:
            break
        n += k_
    dt = time.perf_counter() - t
    s.close()
    assert n > size, n
    return dt


def cp_time(src, dst):
    t = time.perf_counter()
    subprocess.run(["cp", src, dst], check=True)
    return time.perf_counter() - t


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def procs_by_pidns():
    """{pid namespace: [host pids]} in one pass over /proc."""
    out = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                out.setdefault(os.readlink(f"/proc/{p}/ns/pid"), []).append(int(p))
            except OSError:
                pass
    return out


def container_procs(d, ids):
    """{container id: its host pids} (hoody-init, hoody-kit, ...)."""
    by_ns = procs_by_pidns()
    out = {}
    for cid in ids:
        ns = os.readlink(f"/proc/{init_pid(d, cid)}/ns/pid")
        out[cid] = by_ns.get(ns, [])
    return out


def cgroup_kib(cid):
    """The container's memory cgroup: usage (user + kernel) and its kernel part."""
    for base, use, kmem in ((f"/sys/fs/cgroup/memory/hoody/{cid}", "memory.usage_in_bytes",
                             "memory.kmem.usage_in_bytes"),
                            (f"/sys/fs/cgroup/hoody/{cid}", "memory.current", None)):
        try:
            with open(f"{base}/{use}") as f:
                u = int(f.read()) // 1024
        except OSError:
            continue
        k = 0
        if kmem:
            try:
                with open(f"{base}/{kmem}") as f:
                    k = int(f.read()) // 1024
            except OSError:
                pass
        return u, k
    return 0, 0


def meminfo_kib(key):
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def host_mounts(ids):
    """Mounts of the host's namespace that name one of these containers (other
    sessions on the machine mount and unmount their own meanwhile)."""
    ids = set(ids)
    with open("/proc/1/mountinfo") as f:
        return sum(1 for line in f if ids & set(re.findall(r"[0-9a-f]{24}", line)))


def cpu_ticks(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError):
            pass
    return total


def kit_answers(d, cid):
    """The agent answers its health route on its socket (what the proxy uses)."""
    import socket
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    try:
        s.connect(f"{d.run_dir}/kit/{cid}/kit.sock")
        s.sendall(b"GET /api/v1/terminal/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False
    finally:
        s.close()


def one_kind(d, n, kit, workers, idle_s):
    """n containers of one kind: create (workers at a time), measure, delete."""
    from concurrent.futures import ThreadPoolExecutor
    p = d.new_project()
    avail0, daemon0 = meminfo_kib("MemAvailable"), rss_kib(d.proc.pid)

    def create(_):
        t = time.perf_counter()
        cid = d.create_container(p, hoody_kit=kit, wait=True)["id"]
        return cid, time.perf_counter() - t
    t0 = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        made = list(ex.map(create, range(n)))
    wall = time.perf_counter() - t0
    ids = [c for c, _ in made]
    ready = wall
    if kit:  # every agent answering before measuring
        left = set(ids)
        while left:
            left = {cid for cid in left if not kit_answers(d, cid)}
            if left:
                time.sleep(0.2)
        ready = time.perf_counter() - t0
    time.sleep(5)  # let the starts settle
    procs = container_procs(d, ids)
    pids = [p_ for v in procs.values() for p_ in v]
    c0 = cpu_ticks(pids)
    time.sleep(idle_s)
    idle_ticks = cpu_ticks(pids) - c0
    row = {
        "create_ms": statistics.median([t for _, t in made]) * 1000,
        "create_p99_ms": pct([t for _, t in made], 99) * 1000,
        "wall_s": wall, "ready_s": ready,
        "pss": statistics.mean(sum(pss_kib(x) for x in procs[c]) for c in ids),
        "procs": statistics.mean(len(procs[c]) for c in ids),
        "cg": statistics.mean(cgroup_kib(c)[0] for c in ids),
        "kmem": statistics.mean(cgroup_kib(c)[1] for c in ids),
        "host_mib": (avail0 - meminfo_kib("MemAvailable")) / 1024,
        "mounts": host_mounts(ids),
        "daemon_kib": rss_kib(d.proc.pid) - daemon0,
        "idle_cpu_pct": idle_ticks / os.sysconf("SC_CLK_TCK") / idle_s * 100,
    }
    t = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(lambda c: d.delete(f"/api/v1/containers/{c}"), ids))
    d.wait_all_gone(timeout=max(60, n))
    row["delete_s"] = time.perf_counter() - t
    print(f"  {'kit' if kit else 'plain'}: {row}", flush=True)
    return row


def density(d, n, workers, idle_s):
    # a round that is not counted: hoodyd's allocator and caches grow on the
    # first containers whatever their kind, which would be charged to plain
    print("  warm-up round (not counted):", flush=True)
    one_kind(d, min(n, 20), False, workers, 1)
    plain = one_kind(d, n, False, workers, idle_s)
    kit = one_kind(d, n, True, workers, idle_s)
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"\n{n} containers of each kind, {workers} creates at a time, load average {' '.join(load)} "
          f"at the end\n")
    print(f"| per container (mean of {n}) | plain | Kit | the Kit adds |\n| --- | --- | --- | --- |")
    for key, name, unit in (("pss", "PSS of its processes", "KiB"), ("procs", "processes", ""),
                            ("cg", "memory cgroup usage (user + kernel)", "KiB"),
                            ("kmem", "of which kernel memory", "KiB"),
                            ("create_ms", "create → running, median", "ms"),
                            ("create_p99_ms", "create → running, p99", "ms")):
        a, b = plain[key], kit[key]
        print(f"| {name} | {a:.0f} {unit} | {b:.0f} {unit} | {b - a:+.0f} {unit} |")
    print(f"\n| all {n} together | plain | Kit | the Kit adds |\n| --- | --- | --- | --- |")
    for key, name, unit, fmt in (("host_mib", "host memory used (MemAvailable drop; other sessions move it too)", "MiB", ".0f"),
                                 ("daemon_kib", "hoodyd RSS growth", "KiB", ".0f"),
                                 ("mounts", "host mounts", "", ".0f"),
                                 ("wall_s", "time to create all", "s", ".1f"),
                                 ("ready_s", "time until all are running (Kit: every agent answers)", "s", ".1f"),
                                 ("idle_cpu_pct", f"CPU of all their processes, idle, over {idle_s} s", "% of a core", ".2f"),
                                 ("delete_s", "time to delete all", "s", ".1f")):
        a, b = plain[key], kit[key]
        print(f"| {name} | {a:{fmt}} {unit} | {b:{fmt}} {unit} | {b - a:+{fmt}} {unit} |")


def timed_get(k, path):
    t = time.perf_counter()
    r = k.req("files-1", path=path, timeout=600)
    assert r.status == 200, r
    return time.perf_counter() - t, r


def files_part(d, k, gib):
    size = gib << 30
    root = f"/proc/{init_pid(d, k.cid)}/root"
    up = upload(k, "/api/v1/files/tmp/big.bin", size)
    down = download(k, "/tmp/big.bin", size)
    cp = cp_time(root + "/tmp/big.bin", root + "/tmp/big-cp.bin")
    os.unlink(root + "/tmp/big-cp.bin")
    g = size / (1 << 30)
    print(f"{gib} GiB upload {up:.2f} s ({g / up * 1024:.0f} MiB/s), download {down:.2f} s "
          f"({g / down * 1024:.0f} MiB/s), cp {cp:.2f} s ({g / cp * 1024:.0f} MiB/s): "
          f"upload/cp {up / cp:.2f}x, download/cp {down / cp:.2f}x", flush=True)
    t_hash, r = timed_get(k, "/tmp/big.bin?hash")
    t = time.perf_counter()
    ref = subprocess.run(["sha256sum", root + "/tmp/big.bin"], capture_output=True, text=True, check=True)
    t_ref = time.perf_counter() - t
    assert ref.stdout.split()[0] == r.body.decode(), (ref.stdout, r.body)
    t_tail, r = timed_get(k, "/api/v1/files/tmp/big.bin?lines=-20")
    print(f"?hash of {gib} GiB through the proxy {t_hash:.2f} s ({g / t_hash * 1024:.0f} MiB/s), "
          f"sha256sum on the host {t_ref:.2f} s; ?lines=-20 (counts every line) {t_tail:.2f} s "
          f"({r.headers['X-Total-Lines']} lines)", flush=True)
    os.unlink(root + "/tmp/big.bin")


PARTS = ("keys", "execs", "files", "density")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=500)
    ap.add_argument("--execs", type=int, default=300)
    ap.add_argument("--gib", type=int, default=1)
    ap.add_argument("--density", type=int, default=20, help="containers of each kind (issue 14: 500)")
    ap.add_argument("--workers", type=int, default=4, help="creates and deletes at a time (density)")
    ap.add_argument("--idle", type=int, default=10, help="seconds of idle CPU measured (density)")
    ap.add_argument("--only", default=",".join(PARTS), help="comma list of " + ", ".join(PARTS))
    a = ap.parse_args()
    parts = set(a.only.split(","))
    if not parts <= set(PARTS):
        ap.error(f"--only takes {', '.join(PARTS)}")
    with ProxyDaemon(["--log-level", "warn"]) as d:
        if parts - {"density"}:
            k = Kit(d)
            k.wait_ready()
            time.sleep(1)
            kp = kit_pids(d, k.cid)[0]
            print(f"idle hoody-kit RSS: {rss_kib(kp)} KiB", flush=True)
            if "keys" in parts:
                ks = asyncio.run(keystrokes(k, a.keys))
                print(f"keystroke echo through proxy + kit ({a.keys}): {ms(ks)}", flush=True)
            if "execs" in parts:
                ex = executes(k, a.execs)
                print(f"execute `true` end to end ({a.execs}): {ms(ex)}", flush=True)
            if "files" in parts:
                files_part(d, k, a.gib)
            print(f"hoody-kit RSS after the run: {rss_kib(kp)} KiB", flush=True)
            d.delete(f"/api/v1/containers/{k.cid}")
            d.wait_all_gone()
        if "density" in parts:
            density(d, a.density, a.workers, a.idle)


if __name__ == "__main__":
    main()
