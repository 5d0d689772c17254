"""Prespawn pools: claims re-own a warm container (name, env, owner), the
filler refills, pool members are invisible and outside quotas, admins set
the targets, users cannot make pool members."""
import os
import subprocess

from hoody_test import Daemon, check, main
from test_containers import cpath, expect, init_pid, wait_until
from test_operations import read_in

POOL = "/api/v1/admin/prespawn"


def pool_state(d):
    r = d.get(POOL)
    expect(r, 200)
    return r.data["pools"]


def wait_ready(d, n, timeout=120):
    return wait_until(f"{n} ready in the pool",
                      lambda: all(p["ready"] >= n for p in pool_state(d)) or None, timeout)


def create(d, pid, token=..., **fields):
    body = {"container_image": "busybox", "hoody_kit": False}
    body.update(fields)
    return d.post(f"/api/v1/projects/{pid}/containers", body, token=token)


def test_claim_and_refill():
    with Daemon(extra_args=["--prespawn", "busybox=2"]) as d:
        check(pool_state(d)[0]["target"] == 2 and pool_state(d)[0]["image"] == "busybox",
              pool_state(d))
        wait_ready(d, 2)
        pid = d.new_project()
        # a claim answers with the container running (its time: bench/api_bench.py)
        r = create(d, pid, name="warm-one", color="#123abc", comment="from the pool",
                   environment_vars={"GREETING": "hello world", "N": "1"})
        expect(r, 201)
        c = r.data
        check(c["status"] == "running" and c["prespawn"] is False, c)
        check(c["name"] == "warm-one" and c["color"] == "#123ABC" and
              c["comment"] == "from the pool" and c["project_id"] == pid, c)
        # really running, under its new name, with the user's environment
        check(init_pid(d, c["id"]), "init runs")
        check(read_in(d, c["id"], "/etc/hostname").strip() == "warm-one", "hostname file")
        uts = subprocess.run(["nsenter", "-t", str(init_pid(d, c["id"])), "-u", "hostname"],
                             capture_output=True, text=True).stdout.strip()
        check(uts == "warm-one", f"kernel hostname {uts!r}")
        etc = read_in(d, c["id"], "/etc/environment")
        check('GREETING="hello world"' in etc and 'N="1"' in etc, etc)
        got = d.get(cpath(d, c["id"])).data
        check(got["status"] == "running" and got["environment_vars"] ==
              {"GREETING": "hello world", "N": "1"} and got["env_sync"]["pending"] is False, got)
        # the container is the user's now: operations, env, delete all work
        expect(d.post(f"/api/v1/containers/{c['id']}/restart"), 200)
        env = open(f"/proc/{init_pid(d, c['id'])}/environ", "rb").read()
        check(b"GREETING=hello world" in env and b"HOSTNAME=warm-one" in env, env)
        # the filler tops the pool up again
        wait_ready(d, 2)
        # the user sees only their own container, with or without include_prespawn
        for q in ("", "?include_prespawn=true"):
            names = [x["name"] for x in d.get(f"/api/v1/containers{q}").data["containers"]]
            check(names == ["warm-one"], names)
        # bypass_prespawn makes a fresh one; so does an empty pool
        r = create(d, pid, name="cold-one", bypass_prespawn=True)
        check(r.status == 201 and r.data["status"] == "creating", r)
        d.wait_status(r.data["id"], "running")
        expect(d.put(POOL, {"pools": [{"image": "busybox", "target": 0}]}), 200)
        wait_until("pool drained", lambda: pool_state(d)[0]["ready"] == 0 or None)
        r = create(d, pid, name="cold-two")
        check(r.status == 201 and r.data["status"] == "creating", r)
        d.wait_status(r.data["id"], "running")
        # and the admin's target survives a restart of hoodyd
        expect(d.put(POOL, {"pools": [{"image": "busybox", "target": 1},
                                      {"image": "busybox", "hoody_kit": True, "target": 0}]}), 200)
        d.restart()
        check([p["target"] for p in pool_state(d)] == [1, 0], pool_state(d))
        wait_until("refilled after restart", lambda: pool_state(d)[0]["ready"] == 1 or None)


def test_pool_rules():
    with Daemon(extra_args=["--prespawn", "busybox=1"]) as d:
        wait_ready(d, 1)
        pid = d.new_project()
        # users cannot create pool members nor manage pools
        expect(create(d, pid, prespawn=True), 403, "INSUFFICIENT_PERMISSIONS")
        user = d.new_user("pooluser")
        expect(d.get(POOL, token=user), 403)
        expect(d.put(POOL, {"pools": []}, token=user), 403)
        for body in ({"pools": [{"image": "../etc", "target": 1}]},
                     {"pools": [{"image": "busybox", "target": 1001}]},
                     {"pools": [{"image": "busybox"}]},
                     {"pools": [{"image": "busybox", "target": 1, "x": 1}]},
                     {"pools": "busybox"}, {"other": 1}):
            expect(d.put(POOL, body), 400, "VALIDATION_ERROR")
        check(pool_state(d)[0]["target"] == 1, "refusals changed nothing")
        # pool members do not count against quotas: a user with a quota of one
        # claims one, then the quota holds
        uid = d.get("/api/v1/users/me", token=user).data["id"]
        expect(d.patch(f"/api/v1/users/{uid}", {"max_containers": 1}), 200)
        upid = d.new_project(token=user)
        r = create(d, upid, token=user, name="mine")
        check(r.status == 201 and r.data["status"] == "running", r)
        wait_ready(d, 1)
        expect(create(d, upid, token=user, name="second"), 422, "QUOTA_EXCEEDED")
        check(pool_state(d)[0]["ready"] == 1, "a refused claim leaves the pool alone")
        # other users never see pool members or each other's claims
        names = [x["name"] for x in d.get("/api/v1/containers?include_prespawn=true").data["containers"]]
        check("mine" not in names and not any(n.startswith("prespawn-") for n in names), names)


if __name__ == "__main__":
    main([test_claim_and_refill, test_pool_rules])
