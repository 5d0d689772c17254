"""Every public event type (reference §13) that hoodyd has an action for is
produced by that action, in the right user's log; one event is deleted by
id; cleanup answers its cutoff_date."""
import datetime
import shutil
import time

from hoody_test import Daemon, check, main
from test_containers import broken_image_dir, cpath, expect, make_key, post_container, wait_gone
from test_operations import op


def types_of(d, token=..., **filters):
    q = "&".join(f"{k}={v}" for k, v in filters.items())
    r = d.get(f"/api/v1/events?sort_order=asc&limit=500&{q}", token=token)
    expect(r, 200)
    return [e["event_type"] for e in r.data["events"]], r.data["events"]


def check_has(types, wanted, what):
    missing = [t for t in wanted if t not in types]
    check(not missing, f"{what}: missing {missing} in {types}")


def test_container_event_types():
    with Daemon() as d:
        pid = d.new_project()
        cid = d.create_container(pid, hoody_kit=False, name="typed")["id"]
        expect(op(d, cid, "stop"), 200)
        expect(op(d, cid, "start"), 200)
        c = d.get(cpath(d, cid)).data
        auto, ram = c["autostart"], c["ramdisk"]
        expect(d.patch(cpath(d, cid), {"name": "typed-2", "autostart": not auto}), 200)
        expect(d.patch(cpath(d, cid), {"autostart": auto, "ssh_public_key": make_key()}), 200)
        expect(d.patch(cpath(d, cid), {"ssh_public_key": None}), 200)
        expect(d.patch(cpath(d, cid), {"ramdisk": not ram}), 200)
        r = d.post(f"/api/v1/containers/{cid}/snapshots", {"alias": "one"})
        expect(r, 201)
        snap = r.data["snapshot"]["name"]
        expect(d.put(f"/api/v1/containers/{cid}/snapshots/{snap}/alias", {"alias": "two"}), 200)
        expect(d.put(f"/api/v1/containers/{cid}/snapshots/{snap}"), 200)
        expect(d.delete(f"/api/v1/containers/{cid}/snapshots/{snap}"), 200)
        expect(d.delete(cpath(d, cid)), 200)
        wait_gone(d, cid)
        types, events = types_of(d, container_id=cid)
        check_has(types, [
            "container.creating", "container.running", "container.stopped", "container.renamed",
            "container.autostart_enabled", "container.autostart_disabled",
            "container.ssh_key.added", "container.ssh_key.removed", "container.resource_updated",
            "container.snapshot.created", "container.snapshot.renamed",
            "container.snapshot.restored", "container.snapshot.deleted", "container.deleting",
            "container.deleted"], "container")
        res = next(e for e in events if e["event_type"] == "container.resource_updated")
        check(res["payload"]["resources"] == ["ramdisk"] and res["payload"]["ramdisk"] is (not ram),
              res)
        ren = next(e for e in events if e["event_type"] == "container.renamed")
        check(ren["payload"]["old_name"] == "typed" and ren["payload"]["name"] == "typed-2", ren)
        # another user's log has none of it
        bob = d.new_user("bob")
        types, _ = types_of(d, token=bob, container_id=cid)
        check(types == [], types)


def test_container_failed():
    imgs = broken_image_dir()
    try:
        with Daemon(extra_args=["--image-dir", imgs]) as d:
            pid = d.new_project()
            r = post_container(d, pid, container_image="broken", name="doomed")
            expect(r, 201)
            cid = r.data["id"]
            d.wait_status(cid, "failed")
            types, _ = types_of(d, container_id=cid)
            check_has(types, ["container.creating", "container.failed"], "failed create")
    finally:
        shutil.rmtree(imgs, ignore_errors=True)


def test_project_token_and_user_event_types():
    with Daemon() as d:
        pid = d.new_project(alias="evp")
        expect(d.patch(f"/api/v1/projects/{pid}", {"alias": "evp-2"}), 200)
        expect(d.delete(f"/api/v1/projects/{pid}"), 200)
        types, _ = types_of(d, resource_id=pid)
        check(types == ["project.created", "project.updated", "project.deleted"], types)

        r = d.post("/api/v1/auth/tokens", {"alias": "evt"})
        expect(r, 201)
        tid = r.data["id"]
        expect(d.put(f"/api/v1/auth/tokens/{tid}", {"is_enabled": False}), 200)
        expect(d.put(f"/api/v1/auth/tokens/{tid}", {"is_enabled": True}), 200)
        expect(d.put(f"/api/v1/auth/tokens/{tid}", {"alias": "evt-2"}), 200)
        expect(d.delete(f"/api/v1/auth/tokens/{tid}"), 200)
        types, events = types_of(d, resource_id=tid)
        check(types == ["auth.token.created", "auth.token.updated", "auth.token.disabled",
                        "auth.token.updated", "auth.token.enabled", "auth.token.updated",
                        "auth.token.deleted"], types)
        check(all(e["resource_type"] == "auth_token" for e in events), events)
        check(all("token" not in e["payload"] for e in events), events)

        bob = d.new_user("bob")
        r = d.get("/api/v1/users/auth/me", token=bob)
        bob_id = r.data.get("id") or r.data["user"]["id"]
        types, _ = types_of(d, token=bob, resource_id=bob_id)
        check(types == ["user.created"], types)
        expect(d.put(f"/api/v1/users/{bob_id}", {"is_admin": True}), 200)
        expect(d.put(f"/api/v1/users/{bob_id}", {"is_banned": True}), 200)
        expect(d.put(f"/api/v1/users/{bob_id}", {"is_banned": False}), 200)
        # the administrator's own log shows what it did to bob
        types, events = types_of(d, resource_id=bob_id)
        check(types == ["user.role_changed", "user.banned", "user.unbanned"], types)
        check(events[0]["payload"]["is_admin"] is True and events[0]["resource_type"] == "account",
              events)


def test_delete_one_event_and_cleanup_cutoff():
    with Daemon() as d:
        d.new_project(alias="ev-del")
        _, events = types_of(d, event_type="project.created")
        eid = events[0]["id"]
        bob = d.new_user("bob")
        # another user's event is not found, not deleted
        r = d.delete(f"/api/v1/events/{eid}", token=bob)
        check(r.status == 404, r)
        r = d.delete("/api/v1/events/not-an-id")
        check(r.status == 400 and r.code == "INVALID_ID_FORMAT", r)
        r = d.delete(f"/api/v1/events/{eid}")
        check(r.status == 200 and r.data["id"] == eid and r.data["deleted_count"] == 1, r)
        check(d.get(f"/api/v1/events/{eid}").status == 404, "deleted event still there")
        check(d.delete(f"/api/v1/events/{eid}").status == 404, "deleted twice")

        before = time.time()
        r = d.post("/api/v1/events/cleanup", {"retention_days": 7})
        after = time.time()
        check(r.status == 200 and r.data["retention_days"] == 7, r)
        cutoff = datetime.datetime.fromisoformat(r.data["cutoff_date"].replace("Z", "+00:00"))
        c = cutoff.timestamp()
        check(before - 7 * 86400 - 1 <= c <= after - 7 * 86400 + 1, (r.data, before))
        r = d.post("/api/v1/events/cleanup", {"retention_days": 0})
        check(r.status == 400, r)


if __name__ == "__main__":
    main([test_container_event_types, test_container_failed,
          test_project_token_and_user_event_types, test_delete_one_event_and_cleanup_cutoff])
