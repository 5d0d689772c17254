"""Shared harness for end-to-end tests: a real hoodyd on a loopback port with
its own state dir, run dir, bridge and subnet, driven over plain HTTP.

Each test file does:
    from hoody_test import Daemon, check
    with Daemon() as d:
        r = d.post("/api/v1/projects", {"alias": "p1"})
        check(r.status == 201, r)
"""
import fcntl
import json
import os
import re
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

BIN = os.environ.get("HOODY_BIN_DIR") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bin")
TEST_STATE = os.environ.get("HOODY_TEST_STATE") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "test-state")
IMAGE_DIR = os.path.join(TEST_STATE, "images")

FAILURES = []

# Every test daemon's subnet is 10.N.0.0/16. Tests run side by side (ctest -j,
# or two clones' make test at once) and a daemon killed mid-test leaves its
# bridge behind, so N is one no interface holds and no other test process
# has reserved: a lock file held for this process's life. Two bridges with
# one subnet route the host's packets to the wrong one (a test then waits
# for a container that is never reached). The integration tests claim
# from the same pool (tests/integration/testnet.h); 198-255 are left to
# developers.
NET_LOCK_DIR = "/run/hoody-test-nets"


def reserve_subnet():
    os.makedirs(NET_LOCK_DIR, exist_ok=True)
    held = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used = {int(n) for n in re.findall(r"inet 10\.(\d+)\.", held)}
    free = [n for n in range(2, 198) if n not in used]
    random.shuffle(free)
    for n in free:
        fd = os.open(os.path.join(NET_LOCK_DIR, str(n)), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return n, fd
        except BlockingIOError:
            os.close(fd)
    raise RuntimeError("no free 10.N.0.0/16 subnet for a test daemon")


# hoodyd's cgroups (src/runtime/cgroup.c): on cgroup v1 one hierarchy per
# controller, <root>/<controller>/hoody/<id>; on v2 one unified tree,
# <root>/hoody/<id>, told apart by the cgroup.controllers only a cgroup2
# root has. Tests name files the v1 way and get v1's values on both, so one
# assertion holds on either host (scripts/vm-cgroup2.sh runs them on v2).
CGROUP_ROOT = "/sys/fs/cgroup"
CGROUP_V2 = os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))
V1_UNLIMITED = "9223372036854771712"  # what v1 shows for "no limit" (memory)


def cgroup_dir(ctrl, cid=""):
    """hoodyd's parent cgroup in ctrl's hierarchy, or container cid's under it."""
    parent = f"{CGROUP_ROOT}/hoody" if CGROUP_V2 else f"{CGROUP_ROOT}/{ctrl}/hoody"
    return f"{parent}/{cid}" if cid else parent


def cgroup_dirs(ctrls, cid=""):
    """cgroup_dir of each controller, once per distinct directory (v2: one)."""
    return list(dict.fromkeys(cgroup_dir(c, cid) for c in ctrls))


def _cg_text(ctrl, cid, name):
    with open(f"{cgroup_dir(ctrl, cid)}/{name}") as f:
        return f.read()


def _v2_max(text, v1_none):
    text = text.strip()
    return v1_none if text == "max" else text


def _v2_cpu_max(cid, field):
    quota, period = _cg_text("cpu", cid, "cpu.max").split()
    return "-1" if field == 0 and quota == "max" else (quota, period)[field]


def _v2_memsw(cid):
    mem = _v2_max(_cg_text("memory", cid, "memory.max"), "max")
    swap = _v2_max(_cg_text("memory", cid, "memory.swap.max"), "max")
    return V1_UNLIMITED if "max" in (mem, swap) else str(int(mem) + int(swap))


def _v2_cpuacct_usage(cid):
    stat = _cg_text("cpu", cid, "cpu.stat")
    return str(int(stat.split("usage_usec ")[1].split()[0]) * 1000)


# v1 file -> its v2 reading, in v1's units and words.
_V2_AS_V1 = {
    "memory.limit_in_bytes": lambda cid: _v2_max(_cg_text("memory", cid, "memory.max"), V1_UNLIMITED),
    "memory.memsw.limit_in_bytes": _v2_memsw,
    "memory.usage_in_bytes": lambda cid: _cg_text("memory", cid, "memory.current"),
    "cpu.cfs_quota_us": lambda cid: _v2_cpu_max(cid, 0),
    "cpu.cfs_period_us": lambda cid: _v2_cpu_max(cid, 1),
    "cpuacct.usage": _v2_cpuacct_usage,
}


def cgroup_read(ctrl, cid, name):
    """The text of cgroup v1 file name of container cid (ctrl's hierarchy),
    read from the v2 file that holds the same figure on a v2 host. Files
    both have alike (pids.*, cpu.stat's nr_throttled) are read as they are."""
    if CGROUP_V2 and name in _V2_AS_V1:
        return _V2_AS_V1[name](cid)
    return _cg_text(ctrl, cid, name)


def check(cond, what=""):
    """Assert that keeps the test running long enough to clean up."""
    if not cond:
        FAILURES.append(str(what))
        frame = sys._getframe(1)
        print(f"FAIL {frame.f_code.co_filename}:{frame.f_lineno}: {what}", flush=True)
        raise AssertionError(what)


def server_end(port, sock):
    """The server's end of a loopback TCP connection from sock to port, as the
    kernel sees it: (bytes it holds and cannot send yet, bytes received that
    it has not read), or None while it is not established. What a test can
    know of a server's progress without timing it."""
    me = sock.getsockname()[1]
    with open("/proc/net/tcp") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if (int(fields[1].split(":")[1], 16) == port and
                    int(fields[2].split(":")[1], 16) == me and fields[3] == "01"):
                tx, rx = fields[4].split(":")
                return int(tx, 16), int(rx, 16)
    return None


class Resp:
    def __init__(self, status, body, headers):
        self.status = status
        self.raw = body
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def data(self):
        return (self.json or {}).get("data")

    @property
    def code(self):
        return (self.json or {}).get("code")

    def __repr__(self):
        return f"<{self.status} {self.raw[:600]!r}>"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def ensure_image(name="busybox"):
    os.makedirs(IMAGE_DIR, exist_ok=True)
    subprocess.run([os.path.join(BIN, "hoodyd"), "--image-dir", IMAGE_DIR,
                    "--state-dir", os.path.join(TEST_STATE, "image-builder"),
                    "images", "ensure", name], check=True)


# A test daemon's run directory and bridge carry the test process's pid and
# its subnet number: /run/hoody-e2e-<pid>-<n>, hdy<pid % 10000>x<n>.
RUN_DIR_RE = re.compile(r"^hoody-e2e-(\d+)-(\d+)$")


def run_dir_of(pid, n):
    return f"/run/hoody-e2e-{pid}-{n}"


def bridge_of(pid, n):
    return f"hdy{pid % 10000}x{n}"[:15]


def pid_alive(pid):
    """A pid reused meanwhile by another process counts as alive: its run
    dir waits for a later sweep."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def run_dir_in_use(path):
    """A process still started with this run dir (a hoodyd that outlived its
    test): its sockets are live."""
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open(f"/proc/{p}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if path.encode() in args:
            return True
    return False


def sweep_dead_runs():
    """Run dirs of test processes that were killed (their harness never
    cleaned up): the host state they name is purged, then the sockets (the
    Kit's kit.sock) and empty directories left in them are removed. Only a
    run whose test process is gone and whose hoodyd is gone too, and only
    while holding its subnet's lock (so no live run is using that subnet,
    nor the bridge name made from it, meanwhile); anything else in the
    directory (a mount, a file) is left alone."""
    os.makedirs(NET_LOCK_DIR, exist_ok=True)
    for name in sorted(os.listdir("/run")):
        m = RUN_DIR_RE.match(name)
        if not m or int(m.group(1)) == os.getpid() or pid_alive(int(m.group(1))):
            continue
        pid, n = int(m.group(1)), int(m.group(2))
        path = os.path.join("/run", name)
        fd = os.open(os.path.join(NET_LOCK_DIR, str(n)), os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # a live run holds subnet n: try again another time
            if not os.path.isdir(path) or run_dir_in_use(path):
                continue  # swept meanwhile by another test process, or in use
            with tempfile.TemporaryDirectory(prefix="hoody-e2e-sweep-") as state:
                subprocess.run([os.path.join(BIN, "hoodyd"), "--state-dir", state,
                                "--image-dir", IMAGE_DIR, "--run-dir", path,
                                "--bridge", bridge_of(pid, n), "--subnet", f"10.{n}.0.0/16",
                                "purge"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            remove_sockets_and_empty_dirs(path)
        finally:
            os.close(fd)


def remove_sockets_and_empty_dirs(top):
    """Unix sockets and empty directories under top, bottom up; never
    below a mount point, never anything else."""
    seen = []
    for root, dirs, files in os.walk(top, topdown=True):
        seen.append(root)
        dirs[:] = [d for d in dirs if not os.path.ismount(os.path.join(root, d))]
        for f in files:
            p = os.path.join(root, f)
            try:
                if stat.S_ISSOCK(os.lstat(p).st_mode):
                    os.unlink(p)
            except OSError:
                pass
    for root in reversed(seen):
        try:
            os.rmdir(root)
        except OSError:
            pass


SWEPT = False


class Daemon:
    """A hoodyd of its own. extra_args are appended to the command line."""

    def __init__(self, extra_args=(), keep_state=None):
        global SWEPT
        if not SWEPT:
            SWEPT = True
            sweep_dead_runs()
        self.n, self.net_lock = reserve_subnet()
        self.port = free_port()
        self.api_addr = "127.0.0.1"  # where the harness connects (a test may listen on ::)
        self.base = f"http://127.0.0.1:{self.port}"
        self.state = keep_state or tempfile.mkdtemp(prefix="hoody-e2e-")
        self.run_dir = run_dir_of(os.getpid(), self.n)
        self.bridge = bridge_of(os.getpid(), self.n)
        self.subnet = f"10.{self.n}.0.0/16"
        self.extra = list(extra_args)
        self.proc = None
        self.exit_status = None  # a start that failed: how hoodyd exited
        self.token = None
        self.log_path = os.path.join(self.state, "hoodyd.log")

    # ---- lifecycle ----
    def args(self):
        return [os.path.join(BIN, "hoodyd"), "--listen", f"127.0.0.1:{self.port}",
                "--state-dir", self.state, "--image-dir", IMAGE_DIR,
                "--run-dir", self.run_dir, "--bridge", self.bridge,
                "--subnet", self.subnet] + self.extra

    def start(self):
        ensure_image("busybox")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=self.log)
        # A liveness bound, not a speed one: a sanitized build on a loaded
        # 2-core machine has taken over 20 s to listen.
        deadline = time.time() + 120
        while time.time() < deadline:
            if self.proc.poll() is not None:
                # read before abandon(): its purge removes the state dir
                why, self.exit_status = self.tail_log(), self.proc.returncode
                self.abandon()
                raise RuntimeError(f"hoodyd exited {self.exit_status}: {why}")
            try:
                with socket.create_connection((self.api_addr, self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.05)
        else:
            why = self.tail_log(10)
            self.abandon()
            raise RuntimeError(f"hoodyd did not listen in time: {why}")
        with open(os.path.join(self.state, "admin-token")) as f:
            self.token = f.read().strip()
        return self

    def stop(self, sig=signal.SIGTERM):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                # a deadlock guard: under ASan on a loaded host the exit
                # (LeakSanitizer's scan included) took over 30 s
                self.proc.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                check(False, "hoodyd did not stop within 120 s of SIGTERM")
        if self.proc and sig == signal.SIGTERM:
            # a clean shutdown exits 0; sanitizer builds report leaks and
            # errors here too
            self.log.flush()
            tail = self.tail_log(40)
            check(self.proc.returncode == 0 and "Sanitizer" not in tail and
                  "runtime error:" not in tail,
                  f"hoodyd exited {self.proc.returncode} after SIGTERM:\n{tail}")
        self.proc = None

    def restart(self):
        self.stop()
        return self.start()

    def cleanup(self):
        """Deletes every container through the API, then the daemon and its dirs."""
        try:
            if self.proc and self.proc.poll() is None and self.token:
                for cid in self.container_ids():
                    self.delete(f"/api/v1/containers/{cid}")
                self.wait_all_gone()
        finally:
            self.stop()
            self.purge()

    def container_ids(self, page_limit=100):
        """The ids of every container (prespawn and expired ones too), page
        by page: listed whole before any is deleted, so no page shifts."""
        ids = []
        for page in range(1, 10001):
            r = self.get(f"/api/v1/containers?page={page}&limit={page_limit}"
                         "&include_prespawn=true&include_expired=true")
            batch = (r.data or {}).get("containers", [])
            ids += [c["id"] for c in batch]
            if len(batch) < page_limit:
                break
        return ids

    def abandon(self):
        """A start that failed (a `with Daemon()` never reaches __exit__):
        the daemon killed and what it made on the host removed."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        self.purge()

    def purge(self):
        """What the daemon made on the host, gone; its state too unless a
        check failed."""
        subprocess.run([os.path.join(BIN, "hoodyd"), "--state-dir", self.state,
                        "--image-dir", IMAGE_DIR, "--run-dir", self.run_dir,
                        "--bridge", self.bridge, "--subnet", self.subnet, "purge"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # purge leaves the (now empty) run directory tree; rmdir only
        # removes empty directories, so nothing still in use can go
        for root, _, _ in os.walk(self.run_dir, topdown=False):
            try:
                os.rmdir(root)
            except OSError:
                pass
        if not FAILURES:
            shutil.rmtree(self.state, ignore_errors=True)
        else:
            print(f"state kept for inspection: {self.state}\n--- log tail ---\n{self.tail_log()}")

    def wait_all_gone(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.get("/api/v1/containers?limit=100&include_deleting=true&include_prespawn=true&include_expired=true")
            if not (r.data or {}).get("containers"):
                return
            time.sleep(0.1)

    def tail_log(self, n=60):
        try:
            with open(self.log_path, "rb") as f:
                return b"\n".join(f.read().splitlines()[-n:]).decode(errors="replace")
        except OSError:
            return ""

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()
        return False

    # ---- HTTP ----
    def request(self, method, path, body=None, token=..., headers=None, raw=None):
        hdrs = dict(headers or {})
        tok = self.token if token is ... else token
        if tok:
            hdrs.setdefault("Authorization", f"Bearer {tok}")
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=120) as resp:
                return Resp(resp.status, resp.read().decode(errors="replace"), resp.headers)
        except urllib.error.HTTPError as e:
            return Resp(e.code, e.read().decode(errors="replace"), e.headers)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, **kw)

    # ---- conveniences ----
    def server_id(self):
        return self.get("/api/v1/servers").data[0]["server_id"]

    def new_project(self, alias=None, token=...):
        alias = alias or f"p-{random.randrange(1 << 30):x}"
        r = self.post("/api/v1/projects", {"alias": alias}, token=token)
        check(r.status == 201, r)
        return r.data["id"]

    def new_user(self, name):
        """Creates a user through the admin endpoint and returns a JWT for it."""
        pw = "Passw0rd-" + name
        r = self.post("/api/v1/users", {"username": name, "password": pw})
        check(r.status == 201, r)
        r = self.post("/api/v1/users/auth/login", {"username": name, "password": pw}, token=None)
        check(r.status == 200, r)
        return r.data["token"]

    def create_container(self, project_id, token=..., wait=True, **fields):
        body = {"container_image": "busybox", "bypass_prespawn": True}
        body.update(fields)
        r = self.post(f"/api/v1/projects/{project_id}/containers", body, token=token)
        check(r.status == 201, r)
        if wait:
            return self.wait_status(r.data["id"], "running", token=token)
        return r.data

    def wait_status(self, cid, status, timeout=180, token=...):
        # a deadlock guard, not a bound: on a host loaded by another test
        # run a create can take a minute
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            last = self.get(f"/api/v1/containers/{cid}", token=token)
            if last.status == 200 and last.data["status"] == status:
                return last.data
            if last.status == 200 and last.data["status"] == "failed" and status != "failed":
                break
            time.sleep(0.05)
        check(False, f"container {cid} did not reach {status}: {last}")


def expiring(make, live, discard=None, lives=(2, 10, 40)):
    """Something that expires: make(expires_at, attempt) creates it to expire
    at that unix second, live(thing) is true when it was served as live.
    Liveness is judged only on an answer that came before expires_at: a host
    too slow for that gets a longer life (the late thing discarded), never a
    verdict on a late answer. Returns the thing once it has expired."""
    for attempt, life in enumerate(lives):
        expires_at = int(time.time()) + life
        thing = make(expires_at, attempt)
        ok = live(thing)
        if time.time() < expires_at:
            check(ok, f"{thing!r} not live before it expired")
            time.sleep(max(0.0, expires_at - time.time()) + 1.1)
            return thing
        if discard:
            discard(thing)
    check(False, f"no answer within {lives[-1]} s of a creation: expiry never checked")


def main(tests):
    """Runs test functions in order; exits non-zero on failure. Names on the
    command line run only those tests (an unknown name fails)."""
    if sys.argv[1:]:
        known = {t.__name__: t for t in tests}
        unknown = [n for n in sys.argv[1:] if n not in known]
        if unknown:
            print(f"FAIL unknown tests: {unknown}", flush=True)
            sys.exit(1)
        tests = [known[n] for n in sys.argv[1:]]
    failed = 0
    for t in tests:
        start = time.time()
        try:
            t()
            print(f"ok   {t.__name__} ({time.time() - start:.1f}s)", flush=True)
        except Exception as e:  # noqa: BLE001 - report and continue
            failed += 1
            print(f"FAIL {t.__name__}: {e!r}", flush=True)
    print(f"{len(tests) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
