"""Containers API end to end, on real busybox containers: create (every field,
default and error), get (the reference's object), list (pagination, sorting,
filters), update, delete (nothing left on the host), quotas and limits under
concurrency, isolation between users, tokens and realms, and a restart of
hoodyd (records kept, running containers adopted, crashes recovered)."""
import base64
import hashlib
import os
import re
import shutil
import signal
import sqlite3
import struct
import tempfile
import threading
import time

from hoody_test import IMAGE_DIR, Daemon, cgroup_dirs, check, main

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")
KIT = ["terminal", "display", "files", "exec", "sqlite", "cron", "pipe", "notifications", "curl",
       "browser", "code", "daemon", "tunnel", "workspaces", "ssh", "proxy"]
DEV_KIT = ["agent", "logs"]
# hostname segments of kit-api.md §1.3: instance 1, n-1 for notifications, ssh/proxy un-indexed
SEGMENT = {k: f"{k}-1" for k in KIT + DEV_KIT}
SEGMENT.update({"notifications": "n-1", "ssh": "ssh", "proxy": "proxy"})
REALM_A = "aaaaaaaaaaaaaaaaaaaaaaaa"
REALM_B = "bbbbbbbbbbbbbbbbbbbbbbbb"
NOPE = "ffffffffffffffffffffffff"
NULL = type(None)

# The reference's container object (§3): field -> allowed JSON types.
FIELDS = {
    "id": str, "project_id": str, "project_alias": (str, NULL), "server_id": str,
    "server_name": str, "subserver_name": str, "server": dict, "ssh_hostname": str,
    "name": str, "color": str, "container_image": str, "ai": bool, "hoody_kit": bool,
    "dev_kit": bool, "kvm": bool, "autostart": bool, "ramdisk_scope": str, "ramdisk": bool,
    "prespawn": bool, "is_default": bool, "status": str, "environment_vars": dict,
    "volumes": dict, "ssh_public_key": (str, NULL), "ssh_key_fingerprint": (str, NULL),
    "comment": (str, NULL), "source_container_id": (str, NULL), "server_expired": bool,
    "server_expired_at": (str, NULL), "server_expired_reason": (str, NULL),
    "created_at": str, "updated_at": str, "realm_ids": list, "snapshot_count": int,
    "last_used_snapshot": (str, NULL), "warnings": list, "pool_id": (str, NULL),
    "has_proxy_permissions": bool, "proxy_permissions_scope": str, "has_proxy_domains": bool,
    "proxy_domains_count": int, "urls": dict, "failure_reason": (str, NULL),
}
SERVER_FIELDS = ["name", "country", "country_name", "city", "region", "datacenter", "is_free",
                 "paid_subserver", "specs", "expires_at"]


# ---------------------------------------------------------------- helpers

def make_key(comment="test@hoody"):
    """A well-formed ssh-ed25519 public key with a random 32-byte point."""
    t = b"ssh-ed25519"
    blob = struct.pack(">I", len(t)) + t + struct.pack(">I", 32) + os.urandom(32)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()} {comment}".strip()


def fingerprint(key):
    blob = base64.b64decode(key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def cpath(d, cid):
    return f"/api/v1/containers/{cid}"


def create_path(pid):
    return f"/api/v1/projects/{pid}/containers"


def expect(r, status, code=None, mentions=None):
    check(r.status == status, f"want {status}: {r}")
    if code:
        check(r.code == code, f"want {code}: {r}")
        check(r.json.get("statusCode") == status and "message" in r.json, r)
    if mentions:
        check(mentions.lower() in (r.json or {}).get("message", "").lower(),
              f"message should mention {mentions!r}: {r}")


def post_container(d, pid, token=..., **fields):
    body = {"container_image": "busybox", "bypass_prespawn": True}
    body.update(fields)
    return d.post(create_path(pid), body, token=token)


def is_type(v, types):
    types = types if isinstance(types, tuple) else (types,)
    if isinstance(v, bool):
        return bool in types
    return any(t is not bool and isinstance(v, t) for t in types)


def check_object(c):
    for k, types in FIELDS.items():
        check(k in c, f"container lacks {k}: {sorted(c)}")
        check(is_type(c[k], types), f"{k} has type {type(c[k]).__name__}: {c[k]!r}")
    for k in ("id", "project_id", "server_id"):
        check(HEX24.match(c[k]), f"{k} {c[k]!r}")
    for k in ("created_at", "updated_at"):
        check(ISO.match(c[k]), f"{k} {c[k]!r}")
    check(re.match(r"^#[0-9A-F]{6}$", c["color"]) or re.match(r"^#[0-9A-F]{3}$", c["color"]),
          c["color"])
    check(c["kvm"] is False and c["is_default"] is False and c["ramdisk_scope"] == "container", c)
    check(c["snapshot_count"] == 0 and c["last_used_snapshot"] is None and c["pool_id"] is None, c)
    check(c["proxy_permissions_scope"] == "none" and c["proxy_domains_count"] == 0, c)
    check(all(isinstance(x, str) and HEX24.match(x) for x in c["realm_ids"]), c["realm_ids"])
    for k in SERVER_FIELDS:
        check(k in c["server"], f"server lacks {k}: {c['server']}")
    check(c["server_name"] == c["server"]["name"], c)


def db(d):
    return sqlite3.connect(f"file:{d.state}/hoody.db?mode=ro", uri=True, timeout=10)


def db_write(d, sql, *args):
    """Only while hoodyd is stopped: edits the state to simulate a crash."""
    con = sqlite3.connect(f"{d.state}/hoody.db", timeout=10)
    con.execute("PRAGMA foreign_keys=ON")
    con.execute(sql, args)
    con.commit()
    con.close()


def status_logs(d, cid):
    with db(d) as con:
        return con.execute("SELECT from_status, to_status, duration_ms, triggered_by, metadata "
                           "FROM status_logs WHERE container_id = ? "
                           "ORDER BY transition_time, rowid", (cid,)).fetchall()


def init_pid(d, cid):
    try:
        with open(f"{d.state}/containers/{cid}/init.pid") as f:
            pid = int(f.read().strip())
    except (OSError, ValueError):
        return None
    # a killed init whose reaper went away stays a zombie for a while
    return pid if alive(pid) else None


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def host_traces(d, cid):
    """Everything of container cid still on the host."""
    found = []
    with open("/proc/mounts") as f:
        found += [line.split()[1] for line in f if cid in line]
    for p in cgroup_dirs(("memory", "pids", "cpu", "cpuacct", "freezer", "devices", "blkio"), cid):
        if os.path.exists(p):
            found.append(p)
    for root in (d.run_dir, f"{d.state}/containers"):
        for dirpath, dirnames, filenames in os.walk(root):
            found += [os.path.join(dirpath, n) for n in dirnames + filenames if cid in n]
    return found


# Deadlock guards, not bounds: on a host loaded by another test run, under
# ASan, a deletion or a host change has taken tens of seconds.
def wait_gone(d, cid, token=..., timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = d.get(cpath(d, cid), token=token)
        if r.status == 404:
            return
        time.sleep(0.05)
    check(False, f"{cid} still there: {r}")


def wait_until(what, fn, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    check(False, f"timed out waiting for {what}")


def parallel(fn, items, threads=8):
    out = [None] * len(items)
    lock = threading.Lock()
    todo = list(enumerate(items))

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                i, it = todo.pop()
            out[i] = fn(it)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def user_id(d, token):
    r = d.get("/api/v1/users/me", token=token)
    check(r.status == 200, r)
    return r.data["id"]


def new_project(d, token=..., **fields):
    body = {"alias": f"p-{os.urandom(4).hex()}"}
    body.update(fields)
    r = d.post("/api/v1/projects", body, token=token)
    check(r.status == 201, r)
    return r.data["id"]


# ---------------------------------------------------------------- tests

def test_create_and_object():
    with Daemon(extra_args=["--default-image", "busybox"]) as d:
        pid = d.new_project("objects")
        key = make_key()
        r = post_container(d, pid, name="web-1", color="3498db", ai=False, autostart=False,
                           ramdisk=False, comment="hello", ssh_public_key=key,
                           environment_vars={"NODE_ENV": "production", "EMPTY": "",
                                             "QUOTED": 'say "hi" there'},
                           server_id=d.server_id(), cache=True, cache_image=False,
                           prespawn=False)
        expect(r, 201)
        check(r.json["message"] == "Container created successfully", r)
        check(r.data["status"] == "creating", r)
        check_object(r.data)
        cid = r.data["id"]
        c = d.wait_status(cid, "running")
        check_object(c)
        check(c["name"] == "web-1" and c["color"] == "#3498DB" and c["ai"] is False, c)
        check(c["autostart"] is False and c["ramdisk"] is False and c["comment"] == "hello", c)
        check(c["hoody_kit"] is True and c["dev_kit"] is True, "dev_kit follows hoody_kit")
        check(c["container_image"] == "busybox" and c["project_alias"] == "objects", c)
        check(c["project_id"] == pid and c["server_id"] == d.server_id(), c)
        check(c["ssh_public_key"] == key and c["ssh_key_fingerprint"] == fingerprint(key), c)
        check(c["environment_vars"] == {"NODE_ENV": "production", "EMPTY": "",
                                        "QUOTED": 'say "hi" there'}, c)
        check(c["warnings"] == [] and c["failure_reason"] is None, c)
        # service URLs: {project}-{container}-{segment}.{server}.containers.{domain}
        check(sorted(c["urls"]) == sorted(KIT + DEV_KIT), c["urls"])
        for svc, url in c["urls"].items():
            check(url == f"https://{pid}-{cid}-{SEGMENT[svc]}.{c['server_name']}"
                  ".containers.hoody.local", url)
        check(c["ssh_hostname"] == f"{pid}-{cid}-ssh.{c['server_name']}.containers.hoody.local", c)
        # the environment reached the container: the process env and /etc/environment
        env = open(f"{d.state}/containers/{cid}/rootfs/etc/environment").read()
        check('NODE_ENV="production"' in env, env)
        pid1 = init_pid(d, cid)
        check(pid1, "init runs")
        penv = open(f"/proc/{pid1}/environ", "rb").read().split(b"\0")
        check(b"NODE_ENV=production" in penv and b"HOSTNAME=web-1" in penv, penv)
        # list and get render the same object
        lst = d.get(f"/api/v1/projects/{pid}/containers").data["containers"]
        check(len(lst) == 1 and set(lst[0]) == set(c), (sorted(lst[0]), sorted(c)))
        # status logs: user creation, then the system's running
        logs = status_logs(d, cid)
        check([(f, t, by) for f, t, _, by, _ in logs] ==
              [(None, "creating", "user"), ("creating", "running", "system")], logs)
        check(logs[0][2] in (None, -1) and logs[1][2] >= 0, logs)

        # defaults: name random, color random, image from --default-image, flags true
        r = d.post(create_path(pid), {})
        expect(r, 201)
        c2 = r.data
        check(re.match(r"^[A-Za-z0-9_-]{3,100}$", c2["name"]) and c2["name"] != "rand", c2)
        check(all(c2[k] is True for k in ("ai", "hoody_kit", "dev_kit", "autostart", "ramdisk")),
              c2)
        check(c2["container_image"] == "busybox" and c2["ssh_public_key"] is None, c2)
        check(c2["environment_vars"] == {} and c2["realm_ids"] == [], c2)
        r = post_container(d, pid, name="rand", hoody_kit=False)
        expect(r, 201)
        check(r.data["name"] != "rand" and r.data["dev_kit"] is False and r.data["urls"] == {},
              r.data)
        r = post_container(d, pid, hoody_kit=False, dev_kit=True, container_image=None,
                           color="#abc", comment=None, ssh_public_key=None, realm_ids=None)
        expect(r, 201)
        check(r.data["dev_kit"] is True and r.data["color"] == "#ABC", r.data)
        check(sorted(r.data["urls"]) == [], "no kit, no URLs")
        for x in (c2["id"], r.data["id"]):
            d.wait_status(x, "running")


def test_env_value_limit():
    """The seeds allow values of 65536 characters; they must reach the container."""
    with Daemon() as d:
        pid = d.new_project()
        value = "x" * 65536
        r = post_container(d, pid, hoody_kit=False, environment_vars={"BIG": value})
        expect(r, 201)
        c = wait_until("create done", lambda: (lambda x: x if x["status"] != "creating" else None)(
            d.get(cpath(d, r.data["id"])).data))
        check(c["status"] == "running", f"status {c['status']}: {c['failure_reason']}")
        penv = open(f"/proc/{init_pid(d, c['id'])}/environ", "rb").read().split(b"\0")
        check(("BIG=" + value).encode() in penv, "65536-character value in the process env")


# A default image no test builds: the shared image store of the build dir
# holds debian/13 once any test has built it.
ABSENT_DEFAULT = "absent/13"


def test_validation_errors():
    with Daemon(["--default-image", ABSENT_DEFAULT]) as d:
        pid = d.new_project()
        # no default image in this store: a clear 400, not a hang or a failed container
        check(not os.path.exists(os.path.join(IMAGE_DIR, ABSENT_DEFAULT)), "built by someone")
        r = d.post(create_path(pid), {"bypass_prespawn": True})
        expect(r, 400, "VALIDATION_ERROR", ABSENT_DEFAULT)
        expect(post_container(d, pid, container_image="nosuch/1"), 400, "VALIDATION_ERROR",
               "not available")
        expect(post_container(d, pid, container_image="../etc"), 400, "VALIDATION_ERROR",
               "container_image")
        bad = [
            ({"bogus": 1}, "VALIDATION_ERROR", "bogus"),
            ({"name": 12}, "VALIDATION_ERROR", "name"),
            ({"name": "ab"}, "INVALID_CONTAINER_NAME", None),
            ({"name": "a" * 101}, "INVALID_CONTAINER_NAME", None),
            ({"name": "no spaces"}, "INVALID_CONTAINER_NAME", None),
            ({"name": "dots.no"}, "INVALID_CONTAINER_NAME", None),
            ({"color": "blue"}, "VALIDATION_ERROR", "color"),
            ({"color": 3}, "VALIDATION_ERROR", "color"),
            ({"container_image": 3}, "VALIDATION_ERROR", "container_image"),
            ({"ai": "true"}, "VALIDATION_ERROR", "ai"),
            ({"hoody_kit": 1}, "VALIDATION_ERROR", "hoody_kit"),
            ({"dev_kit": "no"}, "VALIDATION_ERROR", "dev_kit"),
            ({"autostart": None}, "VALIDATION_ERROR", "autostart"),
            ({"ramdisk": []}, "VALIDATION_ERROR", "ramdisk"),
            ({"cache": "x"}, "VALIDATION_ERROR", "cache"),
            ({"cache_image": 0}, "VALIDATION_ERROR", "cache_image"),
            ({"bypass_prespawn": "yes"}, "VALIDATION_ERROR", "bypass_prespawn"),
            ({"environment_vars": ["A=b"]}, "VALIDATION_ERROR", "environment_vars"),
            ({"environment_vars": {"1A": "b"}}, "VALIDATION_ERROR", "environment_vars"),
            ({"environment_vars": {"A-B": "b"}}, "VALIDATION_ERROR", "environment_vars"),
            ({"environment_vars": {"K" * 129: "b"}}, "VALIDATION_ERROR", "environment_vars"),
            ({"environment_vars": {"A": 1}}, "VALIDATION_ERROR", "environment_vars.A"),
            ({"environment_vars": {"A": "x" * 65537}}, "VALIDATION_ERROR", "environment_vars.A"),
            ({"environment_vars": {"A": "é" * 65536}}, "VALIDATION_ERROR", "environment_vars.A"),
            ({"environment_vars": {f"K{i}": "v" for i in range(201)}}, "VALIDATION_ERROR",
             "environment_vars"),
            ({"ssh_public_key": ""}, "VALIDATION_ERROR", "ssh_public_key"),
            ({"ssh_public_key": "not a key"}, "VALIDATION_ERROR", "ssh_public_key"),
            ({"ssh_public_key": 5}, "VALIDATION_ERROR", "ssh_public_key"),
            ({"ssh_public_key": make_key("x" * 17000)}, "VALIDATION_ERROR", "ssh_public_key"),
            ({"comment": "c" * 16001}, "VALIDATION_ERROR", "comment"),
            ({"comment": 5}, "VALIDATION_ERROR", "comment"),
            ({"realm_ids": "x"}, "VALIDATION_ERROR", "realm_ids"),
            ({"realm_ids": ["xyz"]}, "VALIDATION_ERROR", "realm_ids"),
            ({"server_id": "123"}, "VALIDATION_ERROR", "server_id"),
            ({"server_id": 123}, "VALIDATION_ERROR", "server_id"),
            ({"prespawn": "no"}, "VALIDATION_ERROR", "prespawn"),
        ]
        for body, code, mentions in bad:
            expect(post_container(d, pid, **body), 400, code, mentions)
        r = d.post(create_path(pid), raw=b"[1,2]", headers={"Content-Type": "application/json"})
        expect(r, 400, "VALIDATION_ERROR")
        # limits are inclusive
        r = post_container(d, pid, comment="c" * 16000, hoody_kit=False,
                           environment_vars={f"K{i}": "v" for i in range(200)})
        expect(r, 201)
        big = post_container(d, pid, hoody_kit=False, name="a" * 100,
                             environment_vars={"K" * 128: "x" * 30000})
        expect(big, 201)
        expect(post_container(d, pid, prespawn=True), 403, "INSUFFICIENT_PERMISSIONS", "prespawn")
        expect(post_container(d, pid, kvm=True), 403, "INSUFFICIENT_PERMISSIONS", "kvm")
        # ids and existence
        expect(post_container(d, "xyz"), 400, "INVALID_ID_FORMAT")
        expect(post_container(d, "A" * 24), 400, "INVALID_ID_FORMAT")
        expect(post_container(d, NOPE), 404, "RESOURCE_NOT_FOUND")
        expect(post_container(d, pid, server_id=NOPE), 404, "RESOURCE_NOT_FOUND")
        expect(d.get(f"/api/v1/projects/{NOPE}/containers"), 404, "RESOURCE_NOT_FOUND")
        expect(d.get("/api/v1/projects/xyz/containers"), 400, "INVALID_ID_FORMAT")
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            body = {} if method in ("PUT", "PATCH") else None
            expect(d.request(method, cpath(d, "nothex"), body), 400, "INVALID_ID_FORMAT")
            expect(d.request(method, cpath(d, NOPE), body), 404, "CONTAINER_NOT_FOUND")
        # list parameters
        for q in ("page=0", "page=x", "limit=0", "limit=101", "sort_by=bogus", "sort_order=up",
                  "include_deleting=maybe", "include_prespawn=2", "include_expired=yes",
                  "include_proxy_domains=x", "runtime=garbage", "runtime=%7B%22bogus%22%3Atrue%7D",
                  "runtime=%7B%22displays%22%3A1%7D", "realm_id=xyz"):
            expect(d.get(f"/api/v1/containers?{q}"), 400, "VALIDATION_ERROR")
        for q in ("runtime=true", "runtime=false", "runtime=%7B%7D",
                  "runtime=%7B%22displays%22%3Atrue%7D"):
            expect(d.get(f"/api/v1/containers?{q}"), 200)
        expect(d.get(f"{cpath(d, big.data['id'])}?runtime=nope"), 400, "VALIDATION_ERROR")
        # nothing was created by the refused requests
        r = d.get("/api/v1/containers?include_deleting=true")
        check(r.data["pagination"]["total"] == 2, r.data["pagination"])
        for x in r.data["containers"]:
            d.wait_status(x["id"], "running")


def test_uniqueness_and_update():
    with Daemon() as d:
        pid = d.new_project()
        other = d.new_project()
        key = make_key()
        a = d.create_container(pid, name="alpha", ssh_public_key=key)
        expect(post_container(d, pid, name="alpha"), 409, "CONTAINER_NAME_IN_USE")
        # names are per project; keys are per user (compared by type and blob)
        b = d.create_container(other, name="alpha")
        expect(post_container(d, other, name="beta", ssh_public_key=key), 409,
               "SSH_PUBLIC_KEY_IN_USE")
        expect(post_container(d, pid, name="gamma",
                              ssh_public_key="  " + key.replace(" ", "   ") + "\n"), 409,
               "SSH_PUBLIC_KEY_IN_USE")
        c = d.create_container(pid, name="gamma", hoody_kit=False)
        cid = a["id"]

        # every updatable field, with PUT and PATCH alike
        r = d.put(cpath(d, cid), {"name": "alpha-2", "color": "ff0000", "ai": False,
                                  "autostart": False, "ramdisk": False,
                                  "comment": "new comment", "ramdisk_scope": "container"})
        expect(r, 200)
        check(r.json["message"] == "Container updated successfully", r)
        u = r.data
        check_object(u)
        check(u["name"] == "alpha-2" and u["color"] == "#FF0000" and u["ai"] is False, u)
        check(u["autostart"] is False and u["ramdisk"] is False and u["comment"] == "new comment",
              u)
        check(u["updated_at"] > a["updated_at"] and u["created_at"] == a["created_at"], u)
        check(u["status"] == "running" and u["ssh_public_key"] == key, "untouched fields stay")
        # environment: saved, pushed into /etc/environment of the running container
        r = d.patch(cpath(d, cid), {"environment_vars": {"A": "1", "B": "two words"}})
        expect(r, 200)
        check(r.data["environment_vars"] == {"A": "1", "B": "two words"}, r.data)
        check(r.data["env_sync"]["revision"] == 1 and r.data["env_sync"]["applied_revision"] == 1
              and r.data["env_sync"]["pending"] is False, r.data["env_sync"])
        env = open(f"{d.state}/containers/{cid}/rootfs/etc/environment").read()
        check('A="1"' in env and 'B="two words"' in env, env)
        r = d.patch(cpath(d, cid), {"environment_vars": {"A": "1", "B": "two words"}})
        check(r.data["env_sync"]["revision"] == 1, "the same environment is no change")
        # ssh key: same key is a no-op, another container's key is refused, null clears
        expect(d.patch(cpath(d, cid), {"ssh_public_key": key}), 200)
        expect(d.patch(cpath(d, c["id"]), {"ssh_public_key": key}), 409, "SSH_PUBLIC_KEY_IN_USE")
        r = d.patch(cpath(d, cid), {"ssh_public_key": None, "comment": None})
        expect(r, 200)
        check(r.data["ssh_public_key"] is None and r.data["ssh_key_fingerprint"] is None, r.data)
        check(r.data["comment"] is None, r.data)
        k2 = make_key("second")
        r = d.patch(cpath(d, c["id"]), {"ssh_public_key": key})
        expect(r, 200)
        r = d.patch(cpath(d, cid), {"ssh_public_key": k2, "realm_ids": [REALM_A, REALM_A]})
        expect(r, 200)
        check(r.data["ssh_key_fingerprint"] == fingerprint(k2), r.data)
        check(r.data["realm_ids"] == [REALM_A], r.data)
        # names
        expect(d.put(cpath(d, cid), {"name": "gamma"}), 409, "CONTAINER_NAME_IN_USE")
        expect(d.put(cpath(d, b["id"]), {"name": "alpha-2"}), 200)
        expect(d.put(cpath(d, cid), {"name": "x"}), 400, "INVALID_CONTAINER_NAME")
        expect(d.put(cpath(d, cid), {"name": None}), 400, "VALIDATION_ERROR", "name")
        # immutable and unknown fields, wrong types
        for f, v in (("container_image", "busybox"), ("hoody_kit", False), ("dev_kit", False),
                     ("server_id", d.server_id()), ("project_id", pid), ("prespawn", False),
                     ("kvm", False)):
            expect(d.patch(cpath(d, cid), {f: v}), 400, "VALIDATION_ERROR", "cannot be changed")
        for body, mentions in (({"status": "stopped"}, "status"), ({"ai": "no"}, "ai"),
                               ({"color": "#12"}, "color"), ({"comment": "c" * 16001}, "comment"),
                               ({"environment_vars": {"1": "x"}}, "environment_vars"),
                               ({"realm_ids": ["nope"]}, "realm_ids"),
                               ({"ramdisk_scope": "galaxy"}, "ramdisk_scope"),
                               ({"ssh_public_key": " "}, "ssh_public_key")):
            expect(d.put(cpath(d, cid), body), 400, "VALIDATION_ERROR", mentions)
        # the hostname follows the name at the next start (not while running)
        check(open(f"/proc/{init_pid(d, cid)}/environ", "rb").read().count(b"HOSTNAME=alpha\0")
              == 1, "running process keeps its start-time hostname")
        # a stopped container keeps the change for its next start
        s = d.create_container(pid, hoody_kit=False)
        os.kill(init_pid(d, s["id"]), signal.SIGKILL)
        d.wait_status(s["id"], "stopped")
        r = d.patch(cpath(d, s["id"]), {"environment_vars": {"LATER": "yes"}})
        expect(r, 200)
        check(r.data["env_sync"]["pending"] is True and
              [w["type"] for w in r.data["warnings"]] == ["env_sync_pending"], r.data)
        # an update while the container is being deleted: operation in progress
        seen = set()
        for _ in range(10):
            if 409 in seen:
                break
            x = d.create_container(pid, hoody_kit=False)
            expect(d.delete(cpath(d, x["id"])), 200)
            r = d.patch(cpath(d, x["id"]), {"comment": "late"})
            check(r.status in (404, 409), r)
            if r.status == 409:
                check(r.code == "CONTAINER_OPERATION_IN_PROGRESS", r)
                check(r.json["error"] == "CONTAINER_OPERATION_IN_PROGRESS", r)
            seen.add(r.status)
            wait_gone(d, x["id"])
        check(409 in seen, "at least one update raced a running delete")


def test_limits_and_quotas():
    with Daemon(extra_args=["--server-max-containers", "2"]) as d:
        pid = d.new_project()
        a = d.create_container(pid, hoody_kit=False)
        d.create_container(pid, hoody_kit=False)
        expect(post_container(d, pid), 400, "SERVER_CONTAINER_LIMIT")
        expect(d.delete(cpath(d, a["id"])), 200)
        # a container being deleted no longer counts
        expect(post_container(d, pid, hoody_kit=False), 201)
        expect(post_container(d, pid), 400, "SERVER_CONTAINER_LIMIT")

    with Daemon() as d:
        pid = new_project(d, max_containers=2)
        d.create_container(pid, hoody_kit=False)
        d.create_container(pid, hoody_kit=False)
        expect(post_container(d, pid), 400, "PROJECT_CONTAINER_LIMIT")
        # account quota through the admin endpoint
        tb = d.new_user("quota-user")
        expect(d.put(f"/api/v1/users/{user_id(d, tb)}", {"max_containers": 1}), 200)
        bp = new_project(d, token=tb)
        d.create_container(bp, token=tb, hoody_kit=False)
        expect(post_container(d, bp, token=tb), 422, "QUOTA_EXCEEDED")
        # concurrent creates cannot overshoot a limit
        cp = new_project(d, max_containers=5)
        rs = parallel(lambda i: post_container(d, cp, hoody_kit=False, name=f"race-{i}"),
                      list(range(100)), threads=25)
        codes = sorted(r.status for r in rs)
        check(codes.count(201) == 5 and codes.count(400) == 95, codes)
        check(all(r.code == "PROJECT_CONTAINER_LIMIT" for r in rs if r.status == 400), rs)
        r = d.get(f"/api/v1/projects/{cp}/containers?include_deleting=true")
        check(r.data["pagination"]["total"] == 5, r.data["pagination"])
        for c in r.data["containers"]:
            d.wait_status(c["id"], "running")
        # the same name raced: exactly one wins
        np = d.new_project()
        rs = parallel(lambda i: post_container(d, np, hoody_kit=False, name="same"),
                      list(range(10)), threads=10)
        codes = sorted(r.status for r in rs)
        check(codes == [201] + [409] * 9, codes)


def test_isolation_tokens_realms():
    with Daemon() as d:
        pa = d.new_project()
        a = d.create_container(pa, name="mine")
        tb = d.new_user("bob")
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            body = {"comment": "x"} if method in ("PUT", "PATCH") else None
            expect(d.request(method, cpath(d, a["id"]), body, token=tb), 404,
                   "CONTAINER_NOT_FOUND")
        expect(d.get(f"/api/v1/projects/{pa}/containers", token=tb), 404, "RESOURCE_NOT_FOUND")
        expect(post_container(d, pa, token=tb), 404, "RESOURCE_NOT_FOUND")
        r = d.get("/api/v1/containers?include_deleting=true", token=tb)
        check(r.status == 200 and r.data["pagination"]["total"] == 0, r)
        check(d.get(cpath(d, a["id"])).data["status"] == "running", "untouched by bob")
        # bob's own container is his alone
        pb = d.new_project(token=tb)
        b = d.create_container(pb, token=tb, hoody_kit=False)
        expect(d.get(cpath(d, b["id"])), 404, "CONTAINER_NOT_FOUND")
        ids = [c["id"] for c in d.get("/api/v1/containers").data["containers"]]
        check(ids == [a["id"]], ids)

        # token permission leaves
        ro = d.post("/api/v1/auth/tokens", {"permission_template": "read_only"}).data["token"]
        expect(post_container(d, pa, token=ro), 403, "INSUFFICIENT_PERMISSIONS")
        expect(d.patch(cpath(d, a["id"]), {"comment": "x"}, token=ro), 403,
               "INSUFFICIENT_PERMISSIONS")
        expect(d.delete(cpath(d, a["id"]), token=ro), 403, "INSUFFICIENT_PERMISSIONS")
        expect(d.get(cpath(d, a["id"]), token=ro), 200)
        nossh = d.post("/api/v1/auth/tokens", {"permissions": {
            "containers": True, "projects": True}}).data["token"]
        expect(post_container(d, pa, token=nossh, ssh_public_key=make_key()), 403,
               "INSUFFICIENT_PERMISSIONS", "ssh_keys")
        expect(post_container(d, pa, token=nossh, hoody_kit=False), 201)

        # realms: a container's own realm_ids decide what realm tokens see
        pr = new_project(d, realm_ids=[REALM_A])
        x = d.create_container(pr, realm_ids=[REALM_A], hoody_kit=False)
        y = d.create_container(pr, hoody_kit=False)
        ta = d.post("/api/v1/auth/tokens", {"realm_ids": [REALM_A]}).data["token"]
        ids = [c["id"] for c in d.get("/api/v1/containers", token=ta).data["containers"]]
        check(ids == [x["id"]], ids)
        expect(d.get(cpath(d, y["id"]), token=ta), 404, "CONTAINER_NOT_FOUND")
        expect(d.patch(cpath(d, x["id"]), {"realm_ids": []}, token=ta), 403,
               "INSUFFICIENT_PERMISSIONS", "realm")
        expect(d.patch(cpath(d, x["id"]), {"comment": "ok"}, token=ta), 200)
        # created by a realm token off a realm host: the realms it shares with the project
        r = post_container(d, pr, token=ta, hoody_kit=False)
        expect(r, 201)
        check(r.data["realm_ids"] == [REALM_A], r.data)
        z = r.data["id"]
        expect(post_container(d, pr, token=ta, realm_ids=[REALM_B]), 403,
               "INSUFFICIENT_PERMISSIONS")
        # global list realm_id filter
        r = d.get(f"/api/v1/containers?realm_id={REALM_A}")
        check(sorted(c["id"] for c in r.data["containers"]) == sorted([x["id"], z]) and
              r.data["pagination"]["total"] == 2, r.data)
        # on a realm host the scoped realm is merged in; the project must have it
        host = {"Host": f"{REALM_A}.api.hoody.local"}
        r = d.post(create_path(pr), {"container_image": "busybox", "hoody_kit": False,
                                     "realm_ids": [REALM_B]}, headers=host)
        expect(r, 201)
        check(sorted(r.data["realm_ids"]) == sorted([REALM_A, REALM_B]), r.data)
        expect(d.post(create_path(pa), {"container_image": "busybox"}, headers=host), 404,
               "RESOURCE_NOT_FOUND")
        r = d.get("/api/v1/containers", headers=host)
        check(all(REALM_A in c["realm_ids"] for c in r.data["containers"]) and
              r.data["pagination"]["total"] == 3, r.data["pagination"])
        expect(d.get(cpath(d, a["id"]), headers=host), 404, "CONTAINER_NOT_FOUND")


def test_pagination_and_sorting():
    with Daemon() as d:
        p1 = d.new_project()
        p2 = d.new_project()
        n = 250
        names = [f"c-{i:03d}" for i in range(n)]
        start = time.time()
        rs = parallel(lambda nm: post_container(d, p1 if nm < "c-200" else p2, name=nm,
                                                hoody_kit=False), names, threads=8)
        check(all(r.status == 201 for r in rs), [r for r in rs if r.status != 201][:3])
        ids = {r.data["id"] for r in rs}

        def all_running():
            seen = []
            for page in (1, 2, 3):
                r = d.get(f"/api/v1/containers?limit=100&page={page}")
                seen += [c["status"] for c in r.data["containers"]]
            return len(seen) == n and all(s == "running" for s in seen)
        # (a deadlock guard: 250 creates under ASan beside another test run
        # took over 3 minutes)
        wait_until("250 containers running", all_running, timeout=600)
        print(f"    250 containers created and running in {time.time() - start:.1f}s")

        r = d.get("/api/v1/containers")
        check(r.data["pagination"] == {"total": n, "page": 1, "limit": 50, "totalPages": 5},
              r.data["pagination"])
        got = [c["created_at"] for c in r.data["containers"]]
        check(len(got) == 50 and got == sorted(got, reverse=True), "default created_at desc")
        seen = []
        for page, size in ((1, 100), (2, 100), (3, 50), (4, 0)):
            r = d.get(f"/api/v1/containers?limit=100&page={page}&sort_by=name&sort_order=asc")
            check(r.status == 200 and len(r.data["containers"]) == size, (page, r))
            check(r.data["pagination"]["totalPages"] == 3, r.data["pagination"])
            seen += [c["name"] for c in r.data["containers"]]
        check(seen == sorted(names), "name asc over every page, no duplicate or gap")
        r = d.get("/api/v1/containers?limit=100&sort_by=name&sort_order=desc")
        check([c["name"] for c in r.data["containers"]] == sorted(names, reverse=True)[:100],
              "name desc")
        for key in ("id", "status", "created_at", "updated_at"):
            for order in ("asc", "desc"):
                r = d.get(f"/api/v1/containers?limit=100&sort_by={key}&sort_order={order}")
                vals = [c[key] for c in r.data["containers"]]
                check(vals == sorted(vals, reverse=order == "desc"), (key, order))
        r = d.get(f"/api/v1/projects/{p2}/containers?limit=100&sort_by=name&sort_order=asc")
        check([c["name"] for c in r.data["containers"]] == names[200:] and
              r.data["pagination"]["total"] == 50, r.data["pagination"])
        r = d.get(f"/api/v1/projects/{p1}/containers?limit=7&page=29")
        check(len(r.data["containers"]) == 4 and r.data["pagination"]["totalPages"] == 29,
              r.data["pagination"])
        r = d.get("/api/v1/containers?limit=3&include_proxy_domains=true")
        check(all(c["proxy_domains"] == [] for c in r.data["containers"]), r.data)
        r = d.get("/api/v1/containers?limit=3")
        check(all("proxy_domains" not in c for c in r.data["containers"]), "only when asked")
        # runtime info: the container's own processes
        r = d.get("/api/v1/containers?limit=5&runtime=true")
        for c in r.data["containers"]:
            info = c["runtime_info"]
            check(info and any(p["pid"] == 1 for p in info["processes"]), info)
            check(all(k in info for k in ("displays", "services", "network_services",
                                          "terminals")), info)
        r = d.get(f"{cpath(d, c['id'])}?runtime=%7B%22network_services%22%3Atrue%7D")
        check(list(r.data["runtime_info"]) == ["network_services"], r.data["runtime_info"])

        # delete everything; deleting rows hide unless asked for
        rs = parallel(lambda cid: d.delete(cpath(d, cid)), sorted(ids), threads=8)
        check(all(r.status == 200 for r in rs), [r for r in rs if r.status != 200][:3])
        r = d.get("/api/v1/containers")
        check(r.data["pagination"]["total"] == 0, r.data["pagination"])
        wait_until("all deleted", lambda: d.get(
            "/api/v1/containers?include_deleting=true").data["pagination"]["total"] == 0, 180)
        left = [t for cid in list(ids)[:20] for t in host_traces(d, cid)]
        check(not left, left)


def test_delete_leaves_nothing():
    with Daemon() as d:
        pid = d.new_project()
        c = d.create_container(pid)
        cid = c["id"]
        pid1 = init_pid(d, cid)
        check(pid1 and host_traces(d, cid), "a running container has host state")
        r = d.delete(cpath(d, cid))
        expect(r, 200)
        check(r.json["statusCode"] == 200 and
              r.json["message"] == "Container deleted successfully", r)
        r = d.get(cpath(d, cid))
        check(r.status == 404 or r.data["status"] == "deleting", r)
        wait_gone(d, cid)
        check(not alive(pid1), "init is gone")
        check(not host_traces(d, cid), host_traces(d, cid))
        expect(d.delete(cpath(d, cid)), 404, "CONTAINER_NOT_FOUND")

        # delete wins over a create in progress
        r = post_container(d, pid)
        expect(r, 201)
        x = r.data["id"]
        expect(d.delete(cpath(d, x)), 200)
        wait_gone(d, x)
        wait_until("no host traces of the deleted create", lambda: not host_traces(d, x))
        # a second delete of a deleting container is a state conflict (when caught in time)
        y = d.create_container(pid, hoody_kit=False)["id"]
        expect(d.delete(cpath(d, y)), 200)
        r = d.delete(cpath(d, y))
        check(r.status == 404 or (r.status == 409 and r.code == "OPERATION_STATE_CONFLICT"), r)
        wait_gone(d, y)

        # project delete removes its containers for real
        pp = d.new_project()
        cs = [d.create_container(pp, hoody_kit=False)["id"] for _ in range(3)]
        r = d.delete(f"/api/v1/projects/{pp}?include_deleted_items=true")
        expect(r, 200)
        check(r.data["deleted"]["containers"] == 3, r.data)
        check(sorted(x["id"] for x in r.data["deleted_items"]["containers"]) == sorted(cs),
              r.data)
        for x in cs:
            expect(d.get(cpath(d, x)), 404, "CONTAINER_NOT_FOUND")
            check(not host_traces(d, x), host_traces(d, x))


def broken_image_dir():
    """An image store with busybox and "broken", whose rootfs cannot start."""
    root = tempfile.mkdtemp(prefix="hoody-img-")
    os.symlink(os.path.join(os.path.abspath(IMAGE_DIR), "busybox"), os.path.join(root, "busybox"))
    rootfs = os.path.join(root, "broken", "rootfs")
    os.makedirs(rootfs)
    for f in ("etc", ".hoody", "proc", "dev"):
        with open(os.path.join(rootfs, f), "w") as fh:
            fh.write("not a directory\n")
    return root


def test_failed_create():
    imgs = broken_image_dir()
    try:
        with Daemon(extra_args=["--image-dir", imgs]) as d:
            pid = d.new_project()
            r = post_container(d, pid, container_image="broken", name="doomed")
            expect(r, 201)
            cid = r.data["id"]
            c = d.wait_status(cid, "failed")
            check(c["failure_reason"] and c["warnings"] and
                  c["warnings"][0]["message"] == c["failure_reason"], c)
            check_object(c)
            check(not host_traces(d, cid), host_traces(d, cid))
            logs = status_logs(d, cid)
            check([t for _, t, _, _, _ in logs] == ["creating", "failed"] and
                  logs[-1][3] == "system", logs)
            # the failed container keeps its name until deleted
            expect(post_container(d, pid, name="doomed"), 409, "CONTAINER_NAME_IN_USE")
            # updates are not blocked by state
            expect(d.patch(cpath(d, cid), {"comment": "post mortem"}), 200)
            expect(d.delete(cpath(d, cid)), 200)
            wait_gone(d, cid)
            d.create_container(pid, name="doomed")
    finally:
        shutil.rmtree(imgs, ignore_errors=True)


def test_restart_and_recovery():
    with Daemon() as d:
        pid = d.new_project()
        keep = d.create_container(pid, name="keep")
        auto = d.create_container(pid, name="auto", autostart=True)
        manual = d.create_container(pid, name="manual", autostart=False)
        crash = d.create_container(pid, name="crash", hoody_kit=False)
        gone = d.create_container(pid, name="gone", hoody_kit=False)
        redo = d.create_container(pid, name="redo", hoody_kit=False)
        orphan = d.create_container(pid, name="orphan", hoody_kit=False)
        old = d.create_container(pid, name="old", hoody_kit=False)
        pids = {c["id"]: init_pid(d, c["id"]) for c in (keep, auto, manual)}
        check(all(pids.values()), pids)

        # a restart keeps every record and adopts running containers as they are
        before = {c["id"]: c for c in d.get("/api/v1/containers?limit=100").data["containers"]}
        d.restart()
        after = {c["id"]: c for c in d.get("/api/v1/containers?limit=100").data["containers"]}
        check(set(before) == set(after), (sorted(before), sorted(after)))
        for cid, c in after.items():
            check(c["status"] == "running", c)
            for k in ("name", "color", "environment_vars", "created_at", "realm_ids"):
                check(c[k] == before[cid][k], (k, c[k], before[cid][k]))
        for cid, p in pids.items():
            check(init_pid(d, cid) == p, f"{cid}: init pid changed")

        # init dying on its own is noticed: stopped, logged by the system
        os.kill(init_pid(d, crash["id"]), signal.SIGKILL)
        d.wait_status(crash["id"], "stopped")
        logs = status_logs(d, crash["id"])
        check(logs[-1][:2] == ("running", "stopped") and logs[-1][3] == "system", logs)

        # hoodyd down: containers die, rows are left mid-operation, a row disappears
        d.stop()
        for c in (auto, manual):
            os.kill(init_pid(d, c["id"]), signal.SIGKILL)
        time.sleep(0.3)
        db_write(d, "UPDATE containers SET status = 'deleting' WHERE id = ?", gone["id"])
        os.kill(init_pid(d, redo["id"]), signal.SIGKILL)
        db_write(d, "UPDATE containers SET status = 'creating' WHERE id = ?", redo["id"])
        db_write(d, "DELETE FROM containers WHERE id = ?", orphan["id"])
        # the server "old" ran on was terminated: the container is expired, read-only
        db_write(d, "UPDATE containers SET server_expired = 1, server_expired_at = ? "
                    "WHERE id = ?", int(time.time() * 1000), old["id"])
        check(host_traces(d, orphan["id"]), "orphan still on the host")
        d.start()
        # autostart brings back what should run; the database tells only the truth
        a = d.wait_status(auto["id"], "running")
        check(init_pid(d, auto["id"]) not in (None, pids[auto["id"]]), "restarted")
        m = d.get(cpath(d, manual["id"])).data
        check(m["status"] == "stopped", m)
        # its init died while hoodyd ran, but nobody asked it to stop: autostart too
        d.wait_status(crash["id"], "running")
        check(d.get(cpath(d, keep["id"])).data["status"] == "running", "keep")
        check(init_pid(d, keep["id"]) == pids[keep["id"]], "keep: same init")
        wait_gone(d, gone["id"])
        check(not host_traces(d, gone["id"]), host_traces(d, gone["id"]))
        d.wait_status(redo["id"], "running")
        check(init_pid(d, redo["id"]), "redo runs again")
        wait_until("orphan purged", lambda: not host_traces(d, orphan["id"]))
        logs = status_logs(d, auto["id"])
        check(("running", "stopped") in [x[:2] for x in logs] and
              logs[-1][:2] == ("stopped", "running") and logs[-1][3] == "autostart", logs)
        for c in d.get("/api/v1/containers?limit=100").data["containers"]:
            alive = init_pid(d, c["id"]) is not None
            check(alive == (c["status"] == "running"), (c["name"], c["status"], alive))
        check(a["status"] == "running", a)

        # expired: visible only when asked for, refuses changes and deletion
        r = d.get(cpath(d, old["id"]))
        check(r.data["server_expired"] is True and ISO.match(r.data["server_expired_at"]), r.data)
        names = [c["name"] for c in d.get("/api/v1/containers?limit=100").data["containers"]]
        check("old" not in names, names)
        names = [c["name"] for c in
                 d.get("/api/v1/containers?limit=100&include_expired=true").data["containers"]]
        check("old" in names, names)
        expect(d.patch(cpath(d, old["id"]), {"comment": "x"}), 403,
               "OPERATION_NOT_PERMITTED_ON_EXPIRED")
        expect(d.delete(cpath(d, old["id"])), 403, "OPERATION_NOT_PERMITTED_ON_EXPIRED")
        d.stop()
        db_write(d, "UPDATE containers SET server_expired = 0 WHERE id = ?", old["id"])
        d.start()


if __name__ == "__main__":
    main([test_create_and_object, test_env_value_limit, test_validation_errors, test_uniqueness_and_update,
          test_limits_and_quotas, test_isolation_tokens_realms, test_pagination_and_sorting,
          test_delete_leaves_nothing, test_failed_create, test_restart_and_recovery])
