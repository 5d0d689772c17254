"""Snapshots on real busybox containers: capture, restore, alias, delete,
expiry, sharing, survival of the container's deletion, and bad input."""
import os
import re
import time

from hoody_test import Daemon, check, main
from test_containers import cpath, db, db_write, expect, init_pid, wait_gone
from test_operations import counter, crun_exec, op, read_in

NAME = re.compile(r"^snap-\d{8}-\d{6}-[0-9a-f]{8}$")
ITEM = {"name", "alias", "created_at", "last_used_at", "expires_at", "stateful", "size"}


def snaps(cid):
    return f"/api/v1/containers/{cid}/snapshots"


def test_capture_restore_cycle():
    with Daemon() as d:
        pid = d.new_project()
        cid = d.create_container(pid, hoody_kit=False)["id"]
        crun_exec(d, cid, "echo one > /root/f; "
                          "dd if=/dev/urandom of=/root/big bs=1M count=100 2>/dev/null; sync")
        # a counting loop keeps writing while the snapshot is taken
        crun_exec(d, cid, "i=0; while true; do i=$((i+1)); echo $i > /root/n; sleep 0.05; done",
                  detach=True)
        time.sleep(0.3)
        # (its time is measured by bench/api_bench.py, not bounded here)
        r = d.post(snaps(cid), {"alias": "before change", "expiry": 7})
        expect(r, 201)
        s1 = r.data["snapshot"]
        check(set(s1) == ITEM and NAME.match(s1["name"]) and s1["alias"] == "before change", s1)
        check(s1["stateful"] is False and s1["size"] >= 100 * 2**20 and s1["last_used_at"] is None, s1)
        check(r.data["container_id"] == cid and r.data["project_id"] == pid, r.data)
        check(s1["expires_at"] > s1["created_at"], s1)
        check(d.get(cpath(d, cid)).data["status"] == "running", "running after capture")
        n_after = counter(d, cid)
        time.sleep(0.3)
        check(counter(d, cid) > n_after, "the container was thawed")

        # unchanged data is shared: a second snapshot costs only what changed
        crun_exec(d, cid, "echo two > /root/f; rm /bin/ls; echo new > /root/g")
        r = d.post(snaps(cid))
        expect(r, 201)
        s2 = r.data["snapshot"]
        check(s2["size"] < 2 * 2**20 and s2["alias"] is None and s2["expires_at"] is None, s2)
        big = f"{d.state}/snapshots/{cid}"
        st1 = os.stat(f"{big}/{s1['name']}/root/big")
        st2 = os.stat(f"{big}/{s2['name']}/root/big")
        check(st1.st_ino == st2.st_ino, "unchanged file is one inode in both snapshots")

        r = d.get(snaps(cid))
        expect(r, 200)
        check(r.data["snapshot_count"] == 2 and r.data["max_snapshots"] == 100, r.data)
        check([s["name"] for s in r.data["snapshots"]] == [s1["name"], s2["name"]], r.data)

        # restore rolls the files back (a deleted file returns, a new one goes)
        # and starts the container again because it was running
        old_init = init_pid(d, cid)
        r = d.put(f"{snaps(cid)}/{s1['name']}")
        expect(r, 200)
        check(r.data["success"] is True and r.data["snapshot"]["last_used_at"], r.data)
        c = d.get(cpath(d, cid)).data
        check(c["status"] == "running" and init_pid(d, cid) not in (None, old_init), c["status"])
        check(c["snapshot_count"] == 2 and c["last_used_snapshot"] == s1["name"],
              (c["snapshot_count"], c["last_used_snapshot"]))
        listed = d.get(f"/api/v1/projects/{pid}/containers").data["containers"][0]
        check(listed["snapshot_count"] == 2, listed["snapshot_count"])
        check(read_in(d, cid, "/root/f") == "one\n", read_in(d, cid, "/root/f"))
        check(read_in(d, cid, "/root/g") is None, "file made after the snapshot is gone")
        check(os.path.exists(f"/proc/{init_pid(d, cid)}/root/bin/ls"), "deleted file is back")
        # the container never writes into a snapshot
        crun_exec(d, cid, "echo three > /root/f")
        check(open(f"{big}/{s1['name']}/root/f").read() == "one\n", "snapshot unchanged")
        with db(d) as con:
            logs = con.execute("SELECT from_status, to_status FROM status_logs WHERE "
                               "container_id = ? ORDER BY transition_time, rowid", (cid,)).fetchall()
        check(logs[-2:] == [("running", "stopped"), ("stopped", "running")], logs)

        # PATCH restores too; a stopped container stays stopped
        expect(op(d, cid, "stop"), 200)
        expect(d.patch(f"{snaps(cid)}/{s2['name']}"), 200)
        check(d.get(cpath(d, cid)).data["status"] == "stopped", "stays stopped")
        expect(op(d, cid, "start"), 200)
        check(read_in(d, cid, "/root/f") == "two\n" and read_in(d, cid, "/root/g") == "new\n",
              "second snapshot restored")

        # alias: set, clear (PUT and PATCH)
        r = d.put(f"{snaps(cid)}/{s2['name']}/alias", {"alias": "keep me"})
        expect(r, 200)
        check(r.data["snapshot"]["alias"] == "keep me", r.data)
        r = d.patch(f"{snaps(cid)}/{s2['name']}/alias", {"alias": None})
        check(r.data["snapshot"]["alias"] is None, r.data)

        # delete: gone from the list and the disk; again is 404
        r = d.delete(f"{snaps(cid)}/{s1['name']}")
        expect(r, 200)
        check(r.data == {"container_id": cid, "project_id": pid, "snapshot_name": s1["name"]}, r.data)
        check(not os.path.exists(f"{big}/{s1['name']}"), "files removed")
        check(os.stat(f"{big}/{s2['name']}/root/big").st_size == 100 * 2**20, "shared data kept")
        expect(d.delete(f"{snaps(cid)}/{s1['name']}"), 404, "RESOURCE_NOT_FOUND")
        check([s["name"] for s in d.get(snaps(cid)).data["snapshots"]] == [s2["name"]], "list")

        # snapshots stay after the container is deleted (the seeds)
        expect(d.delete(cpath(d, cid)), 200)
        wait_gone(d, cid)
        check(os.path.exists(f"{big}/{s2['name']}/root/big"), "files outlive the container")
        with db(d) as con:
            rows = con.execute("SELECT name FROM snapshots WHERE container_id = ?", (cid,)).fetchall()
        check(rows == [(s2["name"],)], rows)


def test_snapshot_rules_and_expiry():
    with Daemon() as d:
        pid = d.new_project()
        cid = d.create_container(pid, hoody_kit=False)["id"]
        for body in ({"alias": "x" * 101}, {"alias": ""}, {"alias": 5}, {"expiry": 0},
                     {"expiry": 3651}, {"expiry": "1"}, {"stateful": True}, [1]):
            expect(d.post(snaps(cid), body), 400, "VALIDATION_ERROR")
        check(d.get(snaps(cid)).data["snapshots"] == [], "refusals made nothing")
        expect(d.get(snaps("nothex")), 400, "INVALID_ID_FORMAT")
        expect(d.post(snaps("0" * 24)), 404, "CONTAINER_NOT_FOUND")
        expect(d.put(f"{snaps(cid)}/snap-19990101-000000"), 404, "RESOURCE_NOT_FOUND")
        expect(d.put(f"{snaps(cid)}/..%2F..%2Fetc"), 404)
        r = d.post(snaps(cid), {"alias": "a" * 100, "expiry": 3650})
        expect(r, 201)
        name = r.data["snapshot"]["name"]
        expect(d.put(f"{snaps(cid)}/{name}/alias", {"alias": "y" * 101}), 400, "VALIDATION_ERROR")
        expect(d.put(f"{snaps(cid)}/{name}/alias", {}), 400, "VALIDATION_ERROR")
        expect(d.put(f"{snaps(cid)}/{name}/alias", {"alias": "ok", "x": 1}), 400, "VALIDATION_ERROR")

        # another user sees none of it; a token without the snapshots leaf cannot write
        other = d.new_user("snapother")
        expect(d.get(snaps(cid), token=other), 404, "CONTAINER_NOT_FOUND")
        expect(d.post(snaps(cid), token=other), 404, "CONTAINER_NOT_FOUND")
        expect(d.put(f"{snaps(cid)}/{name}", token=other), 404, "CONTAINER_NOT_FOUND")
        expect(d.delete(f"{snaps(cid)}/{name}", token=other), 404, "CONTAINER_NOT_FOUND")
        r = d.post("/api/v1/auth/tokens", {"alias": "ro", "permissions": {"containers": {"read": True}}})
        ro = r.data["token"]
        expect(d.get(snaps(cid), token=ro), 200)
        expect(d.post(snaps(cid), token=ro), 403, "INSUFFICIENT_PERMISSIONS")
        expect(d.put(f"{snaps(cid)}/{name}", token=ro), 403, "INSUFFICIENT_PERMISSIONS")

        # not while another operation holds the container, nor while it is failed
        d.stop()
        db_write(d, "UPDATE containers SET status = 'failed' WHERE id = ?", cid)
        d.start()
        expect(d.post(snaps(cid)), 409, "OPERATION_STATE_CONFLICT")
        d.stop()
        db_write(d, "UPDATE containers SET status = 'running' WHERE id = ?", cid)

        # expiry is automatic: a snapshot past its date is removed, files and all
        db_write(d, "UPDATE snapshots SET expires_at = 1 WHERE name = ?", name)
        d.start()
        path = f"{d.state}/snapshots/{cid}/{name}"
        deadline = time.time() + 10
        while time.time() < deadline and os.path.exists(path):
            time.sleep(0.1)
        check(not os.path.exists(path), "expired snapshot files removed")
        check(d.get(snaps(cid)).data["snapshots"] == [], "expired snapshot gone from the list")


if __name__ == "__main__":
    main([test_capture_restore_cycle, test_snapshot_rules_and_expiry])
