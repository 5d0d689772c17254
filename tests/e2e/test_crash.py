"""Crash safety: hoodyd is SIGKILLed in the middle of 50 concurrent creates,
operations and deletes, then started again. Every container must end in a
true state, the database must agree with the host, nothing may be left
behind, and nothing that was acknowledged may be lost."""
import os
import random
import signal
import subprocess
import threading
import time

from hoody_test import Daemon, cgroup_dirs, check, main
from test_containers import alive, cpath, db, init_pid

SETTLED = ("running", "stopped", "paused", "failed")


def host_view(d):
    """What the host has, by container id: dirs, mounts, cgroups, crun state."""
    dirs = set(os.listdir(f"{d.state}/containers")) if os.path.isdir(f"{d.state}/containers") else set()
    with open("/proc/mounts") as f:
        mounts = [line.split()[1] for line in f]
    crun_root = f"{d.run_dir}/crun"
    crun = set(os.listdir(crun_root)) if os.path.isdir(crun_root) else set()
    cgroups = set()
    for root in cgroup_dirs(("memory", "pids", "freezer")):
        if os.path.isdir(root):
            cgroups |= set(os.listdir(root))
    return dirs, mounts, crun, cgroups


def veths(d):
    out = subprocess.run(["ip", "-o", "link", "show", "master", d.bridge], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_sigkill_mid_flight():
    with Daemon() as d:
        pid = d.new_project()
        base = [d.create_container(pid, hoody_kit=False, name=f"pre-{i}")["id"] for i in range(20)]
        acked = {"create": [], "delete": [], "op": []}
        lock = threading.Lock()

        def create(i):
            r = d.post(f"/api/v1/projects/{pid}/containers",
                       {"container_image": "busybox", "hoody_kit": False, "bypass_prespawn": True,
                        "name": f"new-{i}"})
            if r.status == 201:
                with lock:
                    acked["create"].append(r.data["id"])

        def delete(cid):
            if d.delete(cpath(d, cid)).status == 200:
                with lock:
                    acked["delete"].append(cid)

        def operate(cid, name):
            if d.post(f"/api/v1/containers/{cid}/{name}").status == 200:
                with lock:
                    acked["op"].append((cid, name))

        jobs = [(create, (i,)) for i in range(20)]
        jobs += [(delete, (cid,)) for cid in base[:15]]
        jobs += [(operate, (cid, random.choice(["stop", "restart", "pause"]))) for cid in base[15:]]
        jobs += [(operate, (cid, "stop")) for cid in base[:10]]  # races the deletes
        random.shuffle(jobs)

        def guarded(fn, args):
            try:
                fn(*args)
            except OSError:
                pass  # the daemon died under it: not acknowledged
        ts = [threading.Thread(target=guarded, args=j) for j in jobs]
        for t in ts:
            t.start()
        time.sleep(random.uniform(0.05, 0.25))
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        d.proc = None
        for t in ts:
            t.join()
        check(len(jobs) == 50, len(jobs))

        d.start()
        # recovery finishes what was under way: no transient state remains
        deadline = time.time() + 120  # a deadlock guard
        while time.time() < deadline:
            with db(d) as con:
                busy = con.execute("SELECT count(*) FROM containers WHERE status NOT IN "
                                   "('running', 'stopped', 'paused', 'failed')").fetchone()[0]
            if busy == 0:
                break
            time.sleep(0.1)
        check(busy == 0, f"{busy} containers still mid-operation after recovery")
        time.sleep(0.5)

        with db(d) as con:
            rows = dict(con.execute("SELECT id, status FROM containers").fetchall())
            reasons = dict(con.execute("SELECT id, failure_reason FROM containers "
                                       "WHERE status = 'failed'").fetchall())
        # nothing acknowledged is lost
        for cid in acked["create"]:
            check(cid in rows, f"acknowledged create {cid} lost")
        for cid in acked["delete"]:
            check(cid not in rows, f"acknowledged delete {cid} not carried out")
        # every row tells the truth about the host
        for cid, status in rows.items():
            check(status in SETTLED, (cid, status))
            if status == "failed":
                check(reasons.get(cid), f"{cid} failed without a reason")
            up = init_pid(d, cid) is not None
            check(up == (status in ("running", "paused")), f"{cid}: row {status}, init alive {up}")
            if status in ("running", "paused"):
                r = subprocess.run(["crun", "--root", f"{d.run_dir}/crun", "state", cid],
                                   capture_output=True, text=True)
                check(r.returncode == 0 and (status == "paused") == ('"paused"' in r.stdout),
                      (cid, status, r.stdout))
        # nothing orphaned on the host
        dirs, mounts, crun, cgroups = host_view(d)
        live = {cid for cid, s in rows.items() if s in ("running", "paused")}
        check(dirs <= set(rows), f"container dirs without a row: {dirs - set(rows)}")
        check(crun <= live, f"crun state without a running container: {crun - live}")
        # cgroups are host-wide: judge only this daemon's containers
        ours = set(rows) | set(base) | set(acked["create"]) | set(acked["delete"])
        check(cgroups & ours <= live, f"cgroups without a running container: {(cgroups & ours) - live}")
        gone = set(acked["delete"])
        check(not any(cid in m for m in mounts for cid in gone), "mounts of deleted containers")
        # a stopped container keeps its network namespace and veth (same
        # address, fast start); only delete removes them
        kept = {cid for cid, st in rows.items() if st in ("running", "paused", "stopped")}
        # (a deleted one's veth goes with its namespace, asynchronously: on a
        # host busy with another test run that has lagged seconds)
        deadline = time.time() + 120
        while len(veths(d)) != len(kept) and time.time() < deadline:
            time.sleep(0.2)
        check(len(veths(d)) == len(kept), f"{len(veths(d))} veths for {len(kept)} containers on "
                                          f"the host: {sorted(rows.values())}")
        # and the daemon serves normally afterwards
        c = d.create_container(pid, hoody_kit=False, name="after-crash")
        check(c["status"] == "running" and alive(init_pid(d, c["id"])), c)


if __name__ == "__main__":
    main([test_sigkill_mid_flight])
