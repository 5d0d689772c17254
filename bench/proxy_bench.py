#!/usr/bin/env python3
"""Proxy benchmark: hoodyd's hostname proxy next to nginx (Debian's package)
configured as a reverse proxy to the same server in the same container,
measured in the same run with wrk (this machine is noisy: only same-run
comparisons mean anything).

The upstream is hoody-upstream (tests/tools/upstream.c), a single-threaded
epoll server, inside a busybox container; nginx reaches it at the
container's address with upstream keepalive (its best configuration), our
proxy from inside the container's network namespace. Both run one worker
per CPU; hoodyd's loops are pinned to their CPU and take the connections
that CPU received (docs/ARCHITECTURE.md), nginx's workers are not pinned
(worker_cpu_affinity is off by default) and the kernel hashes connections
over them. The container's port is made public (default allow), so the proxy
does its full per-request work: hostname resolution and an access decision
read from the database.

Measures: requests/s (wrk -t2 -c64), p50 latency at one connection and
what each proxy adds to the direct p50, WebSocket echo round trip, 10,000
idle WebSockets held (RSS of hoodyd per connection) and how long a route
change takes to be served (a new alias, a new container).

    bench/proxy_bench.py [--seconds 10] [--rounds 3] [--idle 10000] [--update-doc docs/PERFORMANCE.md]
"""
import argparse
import random
import json
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
os.environ.setdefault("HOODY_BIN_DIR", os.path.join(ROOT, "build", "bin"))
os.environ.setdefault("HOODY_TEST_STATE", os.path.join(ROOT, "build", "test-state"))
from hoody_test import free_port  # noqa: E402
from proxy_util import (DOMAIN, SERVER, ProxyDaemon, relay_pids, request, rss_kib,  # noqa: E402
                        start_upstream, ws_connect, ws_recv, ws_send)

BEGIN, END = "<!-- proxy_bench:begin -->", "<!-- proxy_bench:end -->"
UPSTREAM_PORT = 9000


def container_ip(d, cid):
    out = subprocess.run(["nsenter", f"--net={d.run_dir}/netns/{cid}", "ip", "-4", "-o", "addr"],
                         capture_output=True, text=True).stdout
    return next(m.group(1) for m in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
                if not m.group(1).startswith("127."))


def nginx_start(ip, port, workdir):
    conf = os.path.join(workdir, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes {os.cpu_count()};
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
worker_rlimit_nofile 65536;
events {{ worker_connections 30000; }}
http {{
  access_log off;
  client_body_temp_path {workdir}/body;
  proxy_temp_path {workdir}/proxy;
  map $http_upgrade $conn_upgrade {{ default upgrade; '' ''; }}
  upstream up {{ server {ip}:{UPSTREAM_PORT}; keepalive 128; }}
  server {{
    listen 127.0.0.1:{port} reuseport;
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Host $host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $conn_upgrade;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_read_timeout 3600s;
    }}
  }}
}}
""")
    p = subprocess.Popen(["nginx", "-c", conf, "-p", workdir, "-g", "daemon off;"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return p
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nginx did not start: " + open(os.path.join(workdir, "error.log")).read())


def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    v = float(m.group(1))
    return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v


def wrk(url, host, conns, threads, seconds, latency=False):
    args = ["wrk", f"-t{threads}", f"-c{conns}", f"-d{seconds}s", "-H", f"Host: {host}"]
    r = subprocess.run(args + (["--latency"] if latency else []) + [url],
                       capture_output=True, text=True)
    out = r.stdout
    rps = next((float(l.split()[1]) for l in out.splitlines() if l.startswith("Requests/sec")), 0.0)
    p50 = next((ms(l.split()[1]) for l in out.splitlines() if l.strip().startswith("50%")), None)
    errors = next((l.strip() for l in out.splitlines() if "Non-2xx" in l or "Socket errors" in l), "")
    return rps, p50, errors


def ws_rtt(port, host, count=2000):
    s, status, _ = ws_connect(port, host, protocols=["tty"])
    assert status == 101, status
    times = []
    msg = b"x" * 32
    for _ in range(count):
        t = time.perf_counter()
        ws_send(s, msg)
        op, data = ws_recv(s)
        times.append((time.perf_counter() - t) * 1000)
        assert data == msg
    s.close()
    return statistics.median(times)


def nofile_limit(pid):
    for line in open(f"/proc/{pid}/limits"):
        if line.startswith("Max open files"):
            return int(line.split()[3])
    return 1024


def total_rss(pid):
    """hoodyd's RSS and its relay workers' (which hold upgraded connections):
    (sum, {pid: KiB})."""
    each = {w: rss_kib(w) for w in [pid] + relay_pids(pid)}
    return sum(each.values()), each


def idle_websockets(d, host, count):
    """An upgraded WebSocket's two sockets live in a relay worker, not in
    hoodyd, so hoodyd's descriptor limit does not cap the count; this
    client's own limit (one socket each) does."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    count = min(count, hard - 400)
    time.sleep(1)  # the first relay worker is started with the proxy
    before, before_each = total_rss(d.proc.pid)
    socks = []
    t = time.time()
    for i in range(count):
        s, status, _ = ws_connect(d.proxy_port, host, protocols=["tty"])
        if status != 101:
            raise RuntimeError(f"websocket {i}: status {status}")
        socks.append(s)
    opened = time.time() - t
    time.sleep(2)
    after, after_each = total_rss(d.proc.pid)
    hoodyd_fds = len(os.listdir(f"/proc/{d.proc.pid}/fd"))
    # a worker holds two sockets per connection, plus a handful of its own
    held = {w: (len(os.listdir(f"/proc/{w}/fd")) - 5) // 2 for w in after_each if w != d.proc.pid}
    # every 100th still echoes
    for s in socks[::100]:
        ws_send(s, b"ping")
        assert ws_recv(s)[1] == b"ping"
    for s in socks:
        s.close()
    return {"pid": d.proc.pid, "before": before, "after": after, "opened": opened, "count": count,
            "limit": nofile_limit(d.proc.pid), "hoodyd_fds": hoodyd_fds,
            "before_each": before_each, "after_each": after_each, "held": held}


def route_change(d, pid_, cid, count=10):
    """A new alias and a new container: how long after the API's answer the
    proxy routes them. The measure is the first request through the proxy
    (a new connection), sent as soon as the API answered."""
    alias_ms, alias_status = [], set()
    for i in range(count):
        alias = f"bench-{os.getpid()}-{i}"
        r = d.post("/api/v1/proxy/aliases", {"container_id": cid, "alias": alias,
                                              "program": "http", "port": UPSTREAM_PORT})
        t1 = time.perf_counter()
        if r.status != 201:
            alias_status.add(r.status)
            continue
        r2 = request(d.proxy_port, f"{alias}.{SERVER}.containers.{DOMAIN}", path="/hello")
        alias_ms.append((time.perf_counter() - t1) * 1000)
        alias_status.add(r2.status)
    cont_ms, cont_status = [], set()
    for i in range(max(3, count // 3)):
        c = d.create_container(pid_)
        t1 = time.perf_counter()
        r2 = request(d.proxy_port, d.host(pid_, c["id"], "http-9000"), path="/hello")
        cont_ms.append((time.perf_counter() - t1) * 1000)
        cont_status.add(r2.status)
    return [("new alias (POST answered -> its first request answered)", alias_ms, alias_status),
            ("new container (running -> its host name routed; 401: private by default)", cont_ms,
             cont_status)]


def public(d, pid_, cid):
    """default allow: the port answers without credentials (kit-api.md 2.2)."""
    r = d.put(f"/api/v1/containers/{cid}/proxy/permissions",
              {"project": pid_, "container": cid, "groups": {}, "permissions": {},
               "default": "allow"}, headers={"If-Match": "file:v0"})
    if r.status not in (200, 201):
        raise RuntimeError(f"cannot make the port public: {r}")


def start_patiently(d, seconds=180):
    """The test harness gives hoodyd 20 s to listen; on a machine shared with
    other builds its start (the firewall's first sync reads the whole
    nftables ruleset) can take longer, which is no figure of this bench."""
    try:
        d.start()
        return
    except RuntimeError as e:
        if "listen in time" not in str(e):
            raise
    deadline = time.time() + seconds
    while time.time() < deadline and d.proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", d.port), timeout=0.2).close()
            with open(os.path.join(d.state, "admin-token")) as f:
                d.token = f.read().strip()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("hoodyd did not listen in time")


def run(a):
    res = {"rounds": [], "idle_wanted": a.idle}
    workdir = tempfile.mkdtemp(prefix="hoody-proxy-bench-")
    d = ProxyDaemon(["--proxy-max-conns-per-ip", str(a.idle + 1000), "--log-level", "warn"] +
                    (["--proxy-open-default"] if a.open_default else []))
    nginx = None
    try:
        start_patiently(d)
        pid_ = d.new_project()
        c = d.create_container(pid_)
        cid = c["id"]
        start_upstream(d, cid, UPSTREAM_PORT)
        if not a.open_default:
            public(d, pid_, cid)
        ip = container_ip(d, cid)
        host = d.host(pid_, cid, f"http-{UPSTREAM_PORT}")
        if a.idle_only:
            res["idle"] = idle_websockets(d, host, a.idle)
            return res
        ngport = free_port()
        nginx = nginx_start(ip, ngport, workdir)
        targets = {
            "direct": (f"http://{ip}:{UPSTREAM_PORT}/hello", host),
            "nginx": (f"http://127.0.0.1:{ngport}/hello", host),
            "hoody": (f"http://127.0.0.1:{d.proxy_port}/hello", host),
        }
        for name, (url, h) in targets.items():  # warm-up, and a check that all answer
            wrk(url, h, 8, 1, 1)
        for rnd in range(a.rounds):
            row = {}
            order = list(targets.items())
            random.shuffle(order)  # no proxy always runs right after the same neighbour
            for name, (url, h) in order:
                rps, _, err = wrk(url, h, 64, 2, a.seconds)
                row[name] = {"rps": rps, "errors": err}
            # latency: short alternating samples, so a burst of load elsewhere on the
            # machine hits all three alike; the round's p50 is the median sample
            samples = {name: [] for name in targets}
            for _ in range(5):
                random.shuffle(order)
                for name, (url, h) in order:
                    samples[name].append(wrk(url, h, 1, 1, 1, latency=True)[1])
            for name in targets:
                row[name]["p50"] = statistics.median(samples[name])
            res["rounds"].append(row)
            print(json.dumps(row), flush=True)
        res["ws_rtt"] = {"hoody": ws_rtt(d.proxy_port, host),
                         "nginx": ws_rtt(ngport, host)}
        res["route"] = route_change(d, pid_, cid)
        res["idle"] = idle_websockets(d, host, a.idle)
    finally:
        if nginx:
            nginx.terminate()
            nginx.wait()
        d.cleanup()
    return res


def render_idle(res):
    i = res["idle"]
    count, before, after = i["count"], i["before"], i["after"]
    per = (after - before) * 1024 / count
    hpid = i["pid"]
    workers = sorted(p for p in i["after_each"] if p != hpid)

    def mib(each, pid):
        return f"{each[pid] / 1024:.1f} MiB" if pid in each else "not running"

    split = ", ".join(f"worker {n + 1} {mib(i['before_each'], w)} -> {mib(i['after_each'], w)} "
                      f"holding {i['held'][w]:,}" for n, w in enumerate(workers))
    out = [f"{count:,} idle WebSockets held through hoodyd (opened in {i['opened']:.1f} s, "
            "every 100th still echoing afterwards), in "
            f"{len(workers)} relay worker(s): RSS of hoodyd and its workers together "
            f"{before / 1024:.1f} MiB -> {after / 1024:.1f} MiB, **{per / 1024:.2f} KiB per "
            f"connection** (hoodyd {mib(i['before_each'], hpid)} -> {mib(i['after_each'], hpid)}, "
            f"{split}; a worker started during the run counts whole, its code included; a "
            "quiet connection is "
            "its struct in a worker, buffers are taken only while bytes are in flight; the "
            "kernel's socket buffers are not in RSS). hoodyd itself held "
            f"{i['hoodyd_fds']:,} descriptors at the end (limit {i['limit']:,})."]
    if count < res.get("idle_wanted", count):
        out.append(f"Capped at {count:,}: the bench client's own descriptor limit.")
    return out


def render(res):
    if not res["rounds"]:
        return "\n".join(render_idle(res))
    rounds = res["rounds"]

    def med(name, key):
        return statistics.median(r[name][key] for r in rounds)

    def added(name):  # per round against that round's direct p50, then the median
        return statistics.median(r[name]["p50"] - r["direct"]["p50"] for r in rounds)

    out = ["| | requests/s (wrk -t2 -c64) | p50 at 1 connection | added p50 |",
           "| --- | --- | --- | --- |"]
    for name, label in (("direct", "direct to the container (no proxy)"),
                        ("nginx", "nginx 1.22 (Debian), upstream keepalive"),
                        ("hoody", "hoodyd proxy")):
        add = "—" if name == "direct" else f"{added(name):.3f} ms"
        out.append(f"| {label} | {med(name, 'rps'):,.0f} | {med(name, 'p50'):.3f} ms | {add} |")
    ratio = statistics.median(r["hoody"]["rps"] / r["nginx"]["rps"] for r in rounds)
    out.append("")
    out.append(f"Medians of {len(rounds)} rounds. A round runs wrk -t2 -c64 for each target in "
               "random order, then five alternating one-second samples of each at one "
               "connection (the round's p50 is their median; added p50 is that minus the same "
               f"round's direct p50). hoodyd / nginx requests/s, median of the rounds' ratios = "
               f"**{ratio:.2f}**; added p50: hoodyd **{added('hoody'):.3f} ms**, nginx "
               f"**{added('nginx'):.3f} ms**.")
    out.append("")
    out.append("Every round:")
    out.append("")
    out.append("| round | direct r/s | nginx r/s | hoodyd r/s | direct p50 | nginx p50 | hoodyd p50 |")
    out.append("| --- | --- | --- | --- | --- | --- | --- |")
    for i, r in enumerate(rounds, 1):
        out.append(f"| {i} | {r['direct']['rps']:,.0f} | {r['nginx']['rps']:,.0f} | "
                   f"{r['hoody']['rps']:,.0f} | {r['direct']['p50']:.3f} ms | "
                   f"{r['nginx']['p50']:.3f} ms | {r['hoody']['p50']:.3f} ms |")
    errs = {n: r[n]["errors"] for r in rounds for n in r if r[n]["errors"]}
    if errs:
        out.append("")
        out.append(f"wrk reported: {errs}")
    w = res["ws_rtt"]
    out += ["", "### WebSocket", "",
            f"Echo round trip (32-byte text frame, one connection, 2,000 in a row, median, Python "
            f"client): hoodyd **{w['hoody']:.3f} ms**, nginx **{w['nginx']:.3f} ms**."]
    out += [""] + render_idle(res)
    out += ["", "### Route changes", "",
            "| change | served after (median, max of n) | statuses |", "| --- | --- | --- |"]
    for name, times, statuses in res["route"]:
        t = (f"{statistics.median(times):.2f} ms, {max(times):.2f} ms (n = {len(times)})"
             if times else "n/a")
        out.append(f"| {name} | {t} | {', '.join(map(str, sorted(statuses)))} |")
    out.append("")
    out.append("Nothing is reloaded: every request is decided by the platform, whose "
               "per-connection memo is dropped by any database commit, so the first request "
               "after the API's answer is routed. The time is that request's whole round trip "
               "on a new client connection (TCP connect, decision, a backend connection — "
               "the loop's parked one for that container and port when there is one, else a "
               "connect inside the container's namespace — and the answer).")
    return "\n".join(out)


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    ng = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    return f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs ({cpu}), kernel {os.uname().release}, {ng}"


def update_doc(path, text):
    body = f"{BEGIN}\n\nMeasured {machine()}; `bench/proxy_bench.py`.\n\n{text}\n{END}"
    doc = open(path).read()
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + body + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n## Hostname proxy\n\n" + body + "\n"
    with open(path, "w") as f:
        f.write(doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--update-doc")
    ap.add_argument("--idle-only", action="store_true",
                    help="only the idle WebSockets (no nginx, no wrk rounds); not for --update-doc")
    ap.add_argument("--open-default", action="store_true",
                    help="make the port public with --proxy-open-default instead of a document")
    a = ap.parse_args()
    res = run(a)
    text = render(res)
    print(text)
    if a.update_doc:
        update_doc(a.update_doc, text)


if __name__ == "__main__":
    main()
