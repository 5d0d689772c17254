"""Copy and sync on real containers: a copy has the source's files and
settings but not its SSH key, runs on its own, follows its source on sync,
can start from a snapshot, even one of a deleted source."""
import os

from hoody_test import Daemon, check, main
from test_containers import cpath, expect, init_pid, make_key, wait_gone
from test_operations import crun_exec, op, read_in


def copy(d, cid, token=..., **body):
    return d.post(f"/api/v1/containers/{cid}/copy", body, token=token)


def test_copy_sync_and_snapshots():
    with Daemon() as d:
        p1, p2 = d.new_project(), d.new_project()
        src = d.create_container(p1, hoody_kit=False, name="source", color="#abcdef",
                                 environment_vars={"FROM": "source"},
                                 ssh_public_key=make_key())["id"]
        crun_exec(d, src, "echo one > /root/f; dd if=/dev/urandom of=/root/blob bs=1M count=5 "
                          "2>/dev/null; sync")
        r = copy(d, src, target_project_id=p2, name="the-copy")
        expect(r, 201)
        c = r.data
        check(c["status"] == "copying" and c["source_container_id"] == src and
              c["project_id"] == p2 and len(c["operation_id"]) == 32, c)
        check(c["copy_firewall_rules"] is False and c["copy_network_rules"] is False, c)
        cp = d.wait_status(c["id"], "running")
        check(cp["ssh_public_key"] is None and cp["environment_vars"] == {"FROM": "source"} and
              cp["color"] == "#ABCDEF" and cp["container_image"] == "busybox", cp)
        check(read_in(d, cp["id"], "/root/f") == "one\n", "file copied")
        a = open(f"/proc/{init_pid(d, src)}/root/root/blob", "rb").read()
        b = open(f"/proc/{init_pid(d, cp['id'])}/root/root/blob", "rb").read()
        check(a == b and len(a) == 5 * 2**20, "blob copied byte for byte")

        # independent: changes on either side stay there; stopping the source
        # leaves the copy running
        crun_exec(d, cp["id"], "echo mine > /root/f; echo only-copy > /root/g")
        check(read_in(d, src, "/root/f") == "one\n", "source untouched")
        expect(op(d, src, "stop"), 200)
        check(d.get(cpath(d, cp["id"])).data["status"] == "running" and init_pid(d, cp["id"]),
              "copy runs alone")
        expect(op(d, src, "start"), 200)

        # sync carries the source's new state over (the copy's own changes go)
        crun_exec(d, src, "echo two > /root/f; echo new > /root/h")
        r = d.post(f"/api/v1/containers/{cp['id']}/sync")
        expect(r, 200)
        check(r.data["status"] == "copying" and r.data["source_container_id"] == src and
              len(r.data["operation_id"]) == 32, r.data)
        d.wait_status(cp["id"], "running")
        check(read_in(d, cp["id"], "/root/f") == "two\n" and read_in(d, cp["id"], "/root/h") ==
              "new\n" and read_in(d, cp["id"], "/root/g") is None, "synced")
        expect(d.post(f"/api/v1/containers/{src}/sync"), 409, "CONTAINER_NOT_COPIED")

        # from a snapshot: the snapshot's files, not the current ones
        r = d.post(f"/api/v1/containers/{src}/snapshots", {"alias": "at-two"})
        snap = r.data["snapshot"]["name"]
        crun_exec(d, src, "echo three > /root/f")
        r = copy(d, src, target_project_id=p2, source_snapshot=snap)
        expect(r, 201)
        s1 = d.wait_status(r.data["id"], "running")
        check(read_in(d, s1["id"], "/root/f") == "two\n", read_in(d, s1["id"], "/root/f"))
        expect(copy(d, src, target_project_id=p2, source_snapshot="snap-19990101-000000"), 404,
               "RESOURCE_NOT_FOUND")

        # the source is deleted: its snapshot still seeds a copy; sync has no source
        expect(d.delete(cpath(d, src)), 200)
        wait_gone(d, src)
        expect(copy(d, src, target_project_id=p2), 404, "SOURCE_CONTAINER_NOT_FOUND")
        r = copy(d, src, target_project_id=p2, source_snapshot=snap, name="from-the-grave")
        expect(r, 201)
        g = d.wait_status(r.data["id"], "running")
        check(read_in(d, g["id"], "/root/f") == "two\n", "seeded from the deleted one's snapshot")
        expect(d.post(f"/api/v1/containers/{cp['id']}/sync"), 404, "SOURCE_CONTAINER_NOT_FOUND")


def test_copy_rules():
    with Daemon() as d:
        p1, p2 = d.new_project(), d.new_project()
        src = d.create_container(p1, hoody_kit=False, name="src-one")["id"]
        d.create_container(p2, hoody_kit=False, name="taken", wait=False)
        for body, status, code in (({}, 400, "VALIDATION_ERROR"),
                                   ({"target_project_id": "nothex"}, 400, "INVALID_ID_FORMAT"),
                                   ({"target_project_id": p2, "bogus": 1}, 400, "VALIDATION_ERROR"),
                                   ({"target_project_id": p2, "name": "a!"}, 400,
                                    "INVALID_CONTAINER_NAME"),
                                   ({"target_project_id": p2, "kvm": True}, 403,
                                    "INSUFFICIENT_PERMISSIONS"),
                                   ({"target_project_id": p2, "name": "taken"}, 409,
                                    "CONTAINER_NAME_IN_USE"),
                                   ({"target_project_id": "0" * 24}, 404, None)):
            expect(copy(d, src, **body), status, code)
        expect(copy(d, "0" * 24, target_project_id=p2), 404, "SOURCE_CONTAINER_NOT_FOUND")
        expect(d.post("/api/v1/containers/nothex/copy", {"target_project_id": p2}), 400,
               "INVALID_ID_FORMAT")
        names = sorted(c["name"] for c in d.get(f"/api/v1/projects/{p2}/containers").data["containers"])
        check(names == ["taken"], f"refused copies made nothing: {names}")
        # another user can neither copy from nor into what is not theirs
        other = d.new_user("copyother")
        theirs = d.new_project(token=other)
        expect(copy(d, src, token=other, target_project_id=theirs), 404, "SOURCE_CONTAINER_NOT_FOUND")
        expect(copy(d, src, target_project_id=theirs), 404, None)
        expect(d.post(f"/api/v1/containers/{src}/sync", token=other), 404, "CONTAINER_NOT_FOUND")
        # and a plain copy into a second project works
        r = copy(d, src, target_project_id=p2)
        expect(r, 201)
        d.wait_status(r.data["id"], "running")
        cdir = f"{d.state}/containers/{r.data['id']}"
        # its own sized filesystem (docs/SECURITY.md), or the host's with --disk-limit 0
        check(os.path.isdir(f"{cdir}/layer/upper/") or os.path.isdir(f"{cdir}/upper/"),
              "copy has a layer")


if __name__ == "__main__":
    main([test_copy_sync_and_snapshots, test_copy_rules])
