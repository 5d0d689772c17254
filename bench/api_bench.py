#!/usr/bin/env python3
"""API benchmark: a real hoodyd on loopback, timed through HTTP with one
keep-alive connection, next to `crun run` of the same busybox rootfs in the
same run (the machine is noisy: ratios are what compare).

Measures: create -> running (bypass_prespawn) next to `crun run` and
`podman run --rm` of the same rootfs, a prespawn claim, each operation,
GET throughput with wrk, a burst of 100 creates, 500 running containers
(density), and list/get latency as the database grows to 1k, 10k and 100k
container rows. Prints Markdown tables; with --markdown FILE writes them.

    bench/api_bench.py [-n 50] [--markdown out.md] [--quick]
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


CONN_TIMEOUT_S = 30  # hoodyd's --conn-timeout default (src/daemon/config.c)
STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def conn_timeout(d):
    """The --conn-timeout the daemon runs with: it closes a connection
    silent that long."""
    args = list(d.extra)
    for i, a in enumerate(args):
        if a == "--conn-timeout" and i + 1 < len(args):
            return int(args[i + 1])
        if a.startswith("--conn-timeout="):
            return int(a.split("=", 1)[1])
    return CONN_TIMEOUT_S


class Client:
    """One keep-alive connection, as an API client holds it. hoodyd closes a
    connection silent for --conn-timeout, and a bench section can leave it
    silent that long (podman's turn idles it ~40 s on a slow host). So the
    client never reuses a connection silent for half the server's timeout,
    and when the server closed a reused connection before answering (the
    request was not read) it reconnects and sends it once more."""

    def __init__(self, d):
        self.port = d.port
        self.idle_max = conn_timeout(d) / 2
        self.c = None
        self.last = 0.0
        self.h = {"Authorization": f"Bearer {d.token}", "Content-Type": "application/json"}

    def connect(self):
        """True when it opened a new connection."""
        if self.c is not None and time.monotonic() - self.last < self.idle_max:
            return False
        if self.c is not None:
            self.c.close()
        self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        return True

    def send(self, method, path, body):
        self.c.request(method, path, json.dumps(body) if body is not None else None, self.h)
        r = self.c.getresponse()
        data = json.loads(r.read() or b"null")
        self.last = time.monotonic()
        return r.status, data

    def call(self, method, path, body=None):
        fresh = self.connect()
        try:
            return self.send(method, path, body)
        except STALE:
            self.c.close()
            self.c = None
            if fresh:
                raise
        self.connect()
        return self.send(method, path, body)


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


def time_podman(rootfs, n):
    """`podman run --rm` of /bin/true on the same rootfs, imported once."""
    img = "localhost/hoody-bench-busybox"
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    subprocess.run(["podman", "import", "-", img], stdin=tar.stdout, check=True,
                   capture_output=True)
    tar.wait()
    args = ["podman", "run", "--rm", "--ulimit", "nofile=1024:1024", "--ulimit",
            "nproc=1024:1024", img, "/bin/true"]
    if subprocess.run(args, capture_output=True).returncode != 0:
        args.insert(3, "--network=none")  # no CNI/netavark config on this host
    out = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run(args, check=True, capture_output=True)
        out.append(time.perf_counter() - t)
    return out, "--network=none" in args


def busybox_rootfs():
    rootfs = os.path.join(IMAGE_DIR, "busybox", "rootfs")
    if not os.path.isdir(rootfs):
        raise SystemExit(f"no busybox image at {rootfs}: run make test or hoodyd images build busybox")
    return rootfs


def create_one(cl, pid, name, **extra):
    body = {"container_image": "busybox", "hoody_kit": False, "name": name}
    body.update(extra)
    s, r = cl.call("POST", f"/api/v1/projects/{pid}/containers", body)
    assert s == 201, r
    return r["data"]


def latency(cl, path, n=200):
    v = []
    for _ in range(n):
        t = time.perf_counter()
        s, _ = cl.call("GET", path)
        v.append(time.perf_counter() - t)
        assert s == 200, path
    return v


def ms(x):
    return f"{x * 1000:.2f} ms"


def section_lifecycle(d, cl, pid, n, quick):
    """Create -> running against crun and podman; operations; claims."""
    rows = []
    rootfs = busybox_rootfs()
    create, crun, ids = [], [], []
    for i in range(n):  # interleaved with crun so noise hits both alike
        t = time.perf_counter()
        c = create_one(cl, pid, f"bench-{i}", bypass_prespawn=True)
        wait_running(cl, c["id"])
        create.append(time.perf_counter() - t)
        ids.append(c["id"])
        crun += time_crun(rootfs, 1)
    podman, nonet = time_podman(rootfs, 10 if quick else min(n, 30))
    rows += [row("create -> running (API, bypass_prespawn)", create),
             row("`crun run /bin/true` (reference)", crun),
             row("`podman run --rm /bin/true`" + (" (--network=none)" if nonet else ""), podman)]
    for opname in ("stop", "start", "restart", "pause", "resume"):
        v = []
        for cid in ids:
            t = time.perf_counter()
            s, r = cl.call("POST", f"/api/v1/containers/{cid}/{opname}")
            v.append(time.perf_counter() - t)
            assert s == 200, r
        rows.append(row(f"{opname} (API, answered when done)", v))
    v = []
    for cid in ids:
        t = time.perf_counter()
        cl.call("DELETE", f"/api/v1/containers/{cid}")
        while cl.call("GET", f"/api/v1/containers/{cid}")[0] != 404:
            time.sleep(0.0005)
        v.append(time.perf_counter() - t)
    rows.append(row("delete -> gone (API)", v))
    claims, fallbacks = [], 0
    for i in range(n):  # every claim warm: wait for a ready member first
        while cl.call("GET", "/api/v1/admin/prespawn")[1]["data"]["pools"][0]["ready"] < 1:
            time.sleep(0.002)
        t = time.perf_counter()
        c = create_one(cl, pid, f"claim-{i}")
        took = time.perf_counter() - t
        ids.append(c["id"])
        if c["status"] == "running":
            claims.append(took)
        else:  # the pool was raced empty: a normal create, not a claim
            fallbacks += 1
    rows.append(row("prespawn claim -> running (API)" +
                    (f" ({fallbacks} of {n} fell back to a normal create)" if fallbacks else ""),
                    claims))
    rows.append(row("snapshot of a 100 MiB layer (API)", snapshot_times(d, cl, ids[n])))
    for cid in ids[n:]:
        cl.call("DELETE", f"/api/v1/containers/{cid}")
    med = {r[0]: r[1] for r in rows}
    ratios = {"create / crun": med[rows[0][0]] / med[rows[1][0]],
              "podman / create": med[rows[2][0]] / med[rows[0][0]]}
    return rows, ratios


def snapshot_times(d, cl, cid, count=5):
    """Snapshots of a running container whose layer holds 100 MiB (what
    e2e/test_snapshots checks they hold; their time is measured here)."""
    subprocess.run(["crun", "--root", f"{d.run_dir}/crun", "exec", cid, "/bin/sh", "-c",
                    "dd if=/dev/urandom of=/root/big bs=1M count=100 2>/dev/null; sync"],
                   check=True, stdin=subprocess.DEVNULL)
    v = []
    for i in range(count):
        t = time.perf_counter()
        s, r = cl.call("POST", f"/api/v1/containers/{cid}/snapshots", {"alias": f"bench-{i}"})
        v.append(time.perf_counter() - t)
        assert s == 201, r
    return v


def wrk_get(d, cid, seconds):
    lua = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
    lua.write(f'wrk.headers["Authorization"] = "Bearer {d.token}"\n')
    lua.close()
    r = subprocess.run(["wrk", "-t2", "-c64", f"-d{seconds}s", "-s", lua.name,
                        f"{d.base}/api/v1/containers/{cid}"], capture_output=True, text=True)
    os.unlink(lua.name)
    rps = next((float(l.split()[1]) for l in r.stdout.splitlines()
                if l.startswith("Requests/sec")), 0.0)
    non2xx = next((l for l in r.stdout.splitlines() if "Non-2xx" in l), "")
    return rps, non2xx


def section_burst(d, pid, count=100, prefix="burst"):
    import threading
    errors, ids = [], []
    lock = threading.Lock()

    def one(i):
        try:
            c = Client(d)
            data = create_one(c, pid, f"{prefix}-{i}", bypass_prespawn=True)
            with lock:
                ids.append(data["id"])
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors.append(repr(e))
    t = time.perf_counter()
    ts = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for x in ts:
        x.start()
    for x in ts:
        x.join()
    cl = Client(d)
    for cid in ids:
        wait_running(cl, cid)
    took = time.perf_counter() - t
    return ids, took, errors


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(next(l for l in f if l.startswith("VmRSS")).split()[1])


def mem_available_kib():
    with open("/proc/meminfo") as f:
        return int(next(l for l in f if l.startswith("MemAvailable")).split()[1])


def cgroup_mem(cid):
    try:
        with open(f"/sys/fs/cgroup/memory/hoody/{cid}/memory.usage_in_bytes") as f:
            return int(f.read())
    except OSError:
        return 0


def settle():
    """Page cache out of the way, so MemAvailable moves with what we make."""
    subprocess.run(["sync"])
    with open("/proc/sys/vm/drop_caches", "w") as f:
        f.write("3\n")
    time.sleep(1)


def section_density(d, cl, pid, count, anchor):
    base_get = latency(cl, f"/api/v1/containers/{anchor}", 200)
    base_list = latency(cl, f"/api/v1/projects/{pid}/containers?limit=100", 100)
    settle()
    rss0, avail0 = rss_kib(d.proc.pid), mem_available_kib()
    ids = []
    for b in range(0, count, 100):
        got, _, errs = section_burst(d, pid, min(100, count - b), f"dense{b}")
        assert not errs, errs[:3]
        ids += got
    settle()
    rss1, avail1 = rss_kib(d.proc.pid), mem_available_kib()
    own = sum(cgroup_mem(c) for c in ids) / 1024
    per = ((avail0 - avail1) - own) / len(ids)
    lst = latency(cl, f"/api/v1/projects/{pid}/containers?limit=100", 100)
    get = latency(cl, f"/api/v1/containers/{ids[0]}", 200)
    return {"count": len(ids), "rss0": rss0, "rss1": rss1, "own_kib": own,
            "per_container_kib": per, "list": lst, "get": get, "ids": ids,
            "base_get": base_get, "base_list": base_list}


def insert_rows(state, count, template_id):
    """Adds `count` container rows (status failed: recovery leaves them) to
    the stopped daemon's database, cloned from a real row."""
    import sqlite3
    con = sqlite3.connect(os.path.join(state, "hoody.db"))
    cols = [r[1] for r in con.execute("PRAGMA table_xinfo(containers)") if r[6] == 0]
    row = dict(zip(cols, con.execute(f"SELECT {', '.join(cols)} FROM containers WHERE id = ?",
                                     (template_id,)).fetchone()))
    base = int(time.time() * 1000)
    batch = []
    for i in range(count):
        r = dict(row)
        r["id"] = os.urandom(12).hex()
        r["name"] = f"row-{r['id'][:12]}"
        r["status"] = "failed"
        r["failure_reason"] = "bench row"
        r["ssh_public_key"] = None
        r["created_at"] = r["updated_at"] = base - i
        batch.append(tuple(r[c] for c in cols))
    con.executemany(f"INSERT INTO containers ({', '.join(cols)}) VALUES "
                    f"({', '.join('?' * len(cols))})", batch)
    con.commit()
    con.close()


def section_growth(d, pid, sizes):
    cl = Client(d)
    keep = create_one(cl, pid, "growth-anchor", bypass_prespawn=True)
    wait_running(cl, keep["id"])
    out, have = [], 1
    for size in sizes:
        d.stop()
        insert_rows(d.state, size - have, keep["id"])
        have = size
        d.start()
        cl = Client(d)
        get = latency(cl, f"/api/v1/containers/{keep['id']}", 200)
        first = latency(cl, f"/api/v1/projects/{pid}/containers?limit=100", 100)
        deep = latency(cl, f"/api/v1/projects/{pid}/containers?limit=100&page={max(1, size // 200)}", 50)
        out.append((size, get, first, deep))
    return out, keep["id"]


def run(n, quick):
    out = {}
    with Daemon(extra_args=["--prespawn", "busybox=4", "--workers", "32"]) as d:
        cl = Client(d)
        _, r = cl.call("POST", "/api/v1/projects", {"alias": "bench"})
        pid = r["data"]["id"]
        out["lifecycle"] = section_lifecycle(d, cl, pid, n, quick)
        anchor = create_one(cl, pid, "wrk-target", bypass_prespawn=True)
        wait_running(cl, anchor["id"])
        out["wrk"] = wrk_get(d, anchor["id"], 5 if quick else 10)
        ids, took, errors = section_burst(d, pid, 100)
        out["burst"] = (len(ids), took, errors)
        for cid in ids:
            cl.call("DELETE", f"/api/v1/containers/{cid}")
        # pools off for the rest: only the containers measured run
        cl.call("PUT", "/api/v1/admin/prespawn", {"pools": []})
        dens = section_density(d, cl, pid, 100 if quick else 500, anchor["id"])
        out["density"] = dens
        for cid in dens["ids"]:
            cl.call("DELETE", f"/api/v1/containers/{cid}")
        for cid in dens["ids"]:
            while cl.call("GET", f"/api/v1/containers/{cid}")[0] != 404:
                time.sleep(0.01)
        out["growth"] = section_growth(d, pid, [1000, 10000] if quick else [1000, 10000, 100000])
    return out


def render(out):
    rows, ratios = out["lifecycle"]
    L = ["### Lifecycle through the API", "",
         "| what | median | p95 | n |", "| --- | --- | --- | --- |"]
    L += [f"| {name} | {ms(med)} | {ms(p95)} | {cnt} |" for name, med, p95, cnt in rows]
    L += ["", f"Ratios of medians: create-to-running / `crun run` = "
          f"**{ratios['create / crun']:.2f}**; `podman run` / create-to-running = "
          f"**{ratios['podman / create']:.1f}x**.", ""]
    rps, non2xx = out["wrk"]
    L += ["### Throughput", "",
          f"`wrk -t2 -c64` on `GET /api/v1/containers/{{id}}` with a real token: "
          f"**{rps:,.0f} requests/s**{' (' + non2xx.strip() + ')' if non2xx else ''}.", ""]
    count, took, errors = out["burst"]
    L += ["### Burst", "",
          f"100 creates sent at once (100 client threads, bypass_prespawn): {count} reached "
          f"running in {took:.2f} s = **{count / took:.0f} creates/s** end to end"
          f"{'; errors: ' + '; '.join(errors[:3]) if errors else ''}.", ""]
    dn = out["density"]
    L += ["### Density", "",
          f"{dn['count']} running busybox containers: hoodyd RSS {dn['rss0'] / 1024:.1f} MiB -> "
          f"{dn['rss1'] / 1024:.1f} MiB; host memory per container beyond its own cgroup's "
          f"usage (MemAvailable drop minus the containers' memory.usage_in_bytes, / count): "
          f"**{dn['per_container_kib'] / 1024:.2f} MiB**.", "",
          "| | empty: median / p95 | with them running: median / p95 |", "| --- | --- | --- |",
          f"| GET /api/v1/containers/{{id}} | {ms(statistics.median(dn['base_get']))} / {ms(pct(dn['base_get'], 95))} | {ms(statistics.median(dn['get']))} / {ms(pct(dn['get'], 95))} |",
          f"| GET a page of 100 of the project's containers | {ms(statistics.median(dn['base_list']))} / {ms(pct(dn['base_list'], 95))} | {ms(statistics.median(dn['list']))} / {ms(pct(dn['list'], 95))} |",
          ""]
    L += ["### Growth of the database", "",
          "| container rows | get median | list page 1 of 100, median | list deep page, median |",
          "| --- | --- | --- | --- |"]
    for size, get, first, deep in out["growth"][0]:
        L.append(f"| {size:,} | {ms(statistics.median(get))} | {ms(statistics.median(first))} | "
                 f"{ms(statistics.median(deep))} |")
    return "\n".join(L) + "\n"


BEGIN, END = "<!-- api_bench: begin (written by bench/api_bench.py) -->", "<!-- api_bench: end -->"


def machine():
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                if l.startswith("model name")), "?")
    mem = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1])
    crun = subprocess.run(["crun", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    podman = subprocess.run(["podman", "--version"], capture_output=True, text=True).stdout.strip()
    return (f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs ({cpu}), "
            f"{mem / 2**20:.0f} GiB RAM, kernel {os.uname().release}, {crun}, {podman}")


def update_doc(path, text, n):
    body = (f"{BEGIN}\n\nMeasured {machine()}; `make bench` (n = {n}), "
            f"RelWithDebInfo build, other work on the machine as usual.\n\n{text}\n{END}")
    doc = open(path).read() if os.path.exists(path) else "# Performance\n"
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + body + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n## API\n\n" + body + "\n"
    with open(path, "w") as f:
        f.write(doc)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=50)
    ap.add_argument("--markdown", help="write the tables to this file")
    ap.add_argument("--update-doc", help="replace the api_bench section of this Markdown file")
    ap.add_argument("--quick", action="store_true", help="smaller counts, for a try")
    a = ap.parse_args()
    text = render(run(a.n, a.quick))
    print(text)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(text)
    if a.update_doc:
        update_doc(a.update_doc, text, a.n)


if __name__ == "__main__":
    main()
