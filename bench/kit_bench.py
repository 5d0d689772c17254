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
  * what N kit containers cost the host beyond N plain ones: PSS of every
    process of the container (hoody-init + hoody-kit) and create time, N
    given by --density (500 asked; run smaller on a loaded machine and say
    so: the figure is per container).

    bench/kit_bench.py [--keys 500] [--execs 300] [--gib 1] [--density 20]
"""
import argparse
import asyncio
import http.client
import json
import os
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


def container_pss(d, cid):
    root = init_pid(d, cid)
    ns = os.readlink(f"/proc/{root}/ns/pid")
    total = 0
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                if os.readlink(f"/proc/{p}/ns/pid") == ns:
                    total += pss_kib(int(p))
            except OSError:
                pass
    return total


def density(d, n):
    rows = {}
    for kit in (False, True):
        p = d.new_project()
        ids, t = [], time.perf_counter()
        for _ in range(n):
            ids.append(d.create_container(p, hoody_kit=kit)["id"])
        create = (time.perf_counter() - t) / n
        if kit:  # every agent up before measuring
            for cid in ids:
                while not kit_pids(d, cid):
                    time.sleep(0.05)
            time.sleep(1)
        pss = [container_pss(d, cid) for cid in ids]
        rows[kit] = (create, statistics.mean(pss))
        for cid in ids:
            d.delete(f"/api/v1/containers/{cid}")
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--keys", type=int, default=500)
    ap.add_argument("--execs", type=int, default=300)
    ap.add_argument("--gib", type=int, default=1)
    ap.add_argument("--density", type=int, default=20)
    a = ap.parse_args()
    with ProxyDaemon() as d:
        k = Kit(d)
        k.wait_ready()
        time.sleep(1)
        kp = kit_pids(d, k.cid)[0]
        idle = rss_kib(kp)
        print(f"idle hoody-kit RSS: {idle} KiB", flush=True)
        ks = asyncio.run(keystrokes(k, a.keys))
        print(f"keystroke echo through proxy + kit ({a.keys}): {ms(ks)}", flush=True)
        ex = executes(k, a.execs)
        print(f"execute `true` end to end ({a.execs}): {ms(ex)}", flush=True)
        size = a.gib << 30
        root = f"/proc/{init_pid(d, k.cid)}/root"
        up = upload(k, "/api/v1/files/tmp/big.bin", size)
        down = download(k, "/tmp/big.bin", size)
        cp = cp_time(root + "/tmp/big.bin", root + "/tmp/big-cp.bin")
        os.unlink(root + "/tmp/big-cp.bin")
        os.unlink(root + "/tmp/big.bin")
        gib = size / (1 << 30)
        print(f"{a.gib} GiB upload {up:.2f} s ({gib / up * 1024:.0f} MiB/s), download {down:.2f} s "
              f"({gib / down * 1024:.0f} MiB/s), cp {cp:.2f} s ({gib / cp * 1024:.0f} MiB/s): "
              f"upload/cp {up / cp:.2f}x, download/cp {down / cp:.2f}x", flush=True)
        print(f"hoody-kit RSS after the run: {rss_kib(kp)} KiB", flush=True)
        rows = density(d, a.density)
        (c0, p0), (c1, p1) = rows[False], rows[True]
        print(f"density, {a.density} containers each: plain {p0:.0f} KiB PSS and {c0 * 1000:.0f} ms "
              f"create; kit {p1:.0f} KiB PSS and {c1 * 1000:.0f} ms create; the Kit costs "
              f"{p1 - p0:.0f} KiB and {(c1 - c0) * 1000:.0f} ms per container, "
              f"{(p1 - p0) * 500 / 1024:.0f} MiB for 500 (extrapolated)", flush=True)


if __name__ == "__main__":
    main()
