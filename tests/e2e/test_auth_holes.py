"""Holes found by probing as an attacker (issue 16), each written as the
attack: realm escapes through snapshots and project deletes, token
restrictions shed by delegation or self-update, refresh-token reuse, event
streams that outlive a ban, a logout or their token, usernames that differ
only by case, and snapshots of deleted containers nobody could remove."""
import json
import os
import re
import socket
import subprocess
import time

from hoody_test import BIN, IMAGE_DIR, Daemon, check, main
from test_containers import REALM_A, REALM_B, expect, new_project

SNAP_NAME = re.compile(r"^snap-\d{8}-\d{6}-[0-9a-f]{8}$")


def snapshot(d, cid, token=...):
    r = d.post(f"/api/v1/containers/{cid}/snapshots", {}, token=token)
    expect(r, 201)
    return r.data["snapshot"]["name"]


def delete_container(d, cid, token=...):
    expect(d.delete(f"/api/v1/containers/{cid}", token=token), 200)
    for _ in range(600):
        if d.get(f"/api/v1/containers/{cid}", token=token).status == 404:
            return
        time.sleep(0.05)
    check(False, f"container {cid} was not deleted")


def test_realm_copy_and_sync():
    """A token of realm A cannot copy a snapshot of a realm-B container, while
    the container lives or after it is gone, nor sync a realm-A copy from its
    realm-B source."""
    with Daemon() as d:
        pr = new_project(d, realm_ids=[REALM_A, REALM_B])
        x = d.create_container(pr, realm_ids=[REALM_A], hoody_kit=False)
        y = d.create_container(pr, realm_ids=[REALM_B], hoody_kit=False)
        snap = snapshot(d, y["id"])
        ta = d.post("/api/v1/auth/tokens", {"realm_ids": [REALM_A]}).data["token"]
        # an admin's copy of y, moved into realm A: its source stays in B
        r = d.post(f"/api/v1/containers/{y['id']}/copy", {"target_project_id": pr,
                                                           "name": "copy-in-a"})
        expect(r, 201)
        z = d.wait_status(r.data["id"], "running")
        expect(d.patch(f"/api/v1/containers/{z['id']}", {"realm_ids": [REALM_A]}), 200)
        expect(d.post(f"/api/v1/containers/{z['id']}/sync", token=ta), 404,
               "SOURCE_CONTAINER_NOT_FOUND")
        check(d.get(f"/api/v1/containers/{z['id']}").data["status"] == "running", "synced")
        copy = {"target_project_id": pr, "source_snapshot": snap}
        expect(d.post(f"/api/v1/containers/{y['id']}/copy", copy, token=ta), 404)
        delete_container(d, y["id"])
        expect(d.post(f"/api/v1/containers/{y['id']}/copy", copy, token=ta), 404)
        names = [c["name"] for c in d.get("/api/v1/containers?limit=100").data["containers"]]
        check(len(names) == 2, f"a copy was made: {names}")
        # the same copy by an unrestricted credential works: the path is real
        r = d.post(f"/api/v1/containers/{y['id']}/copy", dict(copy, name="allowed-copy"),
                   token=d.token)
        expect(r, 201)
        d.wait_status(r.data["id"], "running")
        expect(d.get(f"/api/v1/containers/{x['id']}", token=ta), 200)


def test_realm_project_delete():
    """A token of realm A cannot delete a project that also holds a container
    of realm B (the B container would go with it)."""
    with Daemon() as d:
        pr = new_project(d, realm_ids=[REALM_A, REALM_B])
        x = d.create_container(pr, realm_ids=[REALM_A], hoody_kit=False)
        y = d.create_container(pr, realm_ids=[REALM_B], hoody_kit=False)
        ta = d.post("/api/v1/auth/tokens", {"realm_ids": [REALM_A]}).data["token"]
        r = d.delete(f"/api/v1/projects/{pr}", token=ta)
        expect(r, 403, "INSUFFICIENT_PERMISSIONS", "realm")
        for c in (x, y):
            check(d.get(f"/api/v1/containers/{c['id']}").data["status"] == "running", c["id"])
        check(d.get(f"/api/v1/projects/{pr}").status == 200, "project survived")
        # a project wholly inside the token's realms it may delete
        pa = new_project(d, realm_ids=[REALM_A])
        d.create_container(pa, realm_ids=[REALM_A], hoody_kit=False)
        expect(d.delete(f"/api/v1/projects/{pa}", token=ta), 200)


def test_snapshot_names_not_guessable():
    with Daemon() as d:
        c = d.create_container(d.new_project(), hoody_kit=False)
        names = [snapshot(d, c["id"]) for _ in range(3)]
        check(all(SNAP_NAME.match(n) for n in names), names)
        check(len({n[-8:] for n in names}) == 3, names)


def new_token(d, tok=..., headers=None, **fields):
    return d.post("/api/v1/auth/tokens", fields, token=tok, headers=headers)


def test_child_tokens_and_self_update():
    """A token that may create tokens cannot hand out, or take for itself,
    more than it holds on any axis."""
    with Daemon() as d:
        far = int(time.time()) + 30 * 86400
        r = new_token(d, permission_template="full_access", event_access=False,
                      ip_whitelist=["127.0.0.0/8"], expires_at="tomorrow")
        expect(r, 201)
        parent, pid = r.data["token"], r.data["id"]
        # leaving fields out inherits the restrictions
        child = new_token(d, parent, alias="child").data
        check(child["event_access"] is False and child["ip_whitelist"] == ["127.0.0.0/8"] and
              child["expires_at"] is not None and child["vault_access"] is False, child)
        expect(d.get("/api/v1/events", token=new_token(d, parent).data["token"]), 403)
        # naming a wider value is refused
        for body, axis in (({"event_access": True}, "event_access"),
                           ({"ip_whitelist": "*"}, "ip_whitelist"),
                           ({"ip_whitelist": ["10.0.0.0/8"]}, "ip_whitelist"),
                           ({"ip_whitelist": ["0.0.0.0/0"]}, "ip_whitelist"),
                           ({"expires_at": None}, "expires_at"),
                           ({"expires_at": far}, "expires_at"),
                           ({"vault_access": True}, "vault_access")):
            expect(new_token(d, parent, **body), 403, "INSUFFICIENT_PERMISSIONS", axis)
        # narrower is fine
        r = new_token(d, parent, ip_whitelist=["127.0.0.1"], permission_template="read_only")
        expect(r, 201)
        # the token cannot lift its own restrictions either
        for body, axis in (({"event_access": True}, "event_access"),
                           ({"ip_whitelist": "*"}, "ip_whitelist"),
                           ({"expires_at": None}, "expires_at"),
                           ({"vault_access": True}, "vault_access")):
            expect(d.put(f"/api/v1/auth/tokens/{pid}", body, token=parent), 403,
                   "INSUFFICIENT_PERMISSIONS", axis)
        expect(d.put(f"/api/v1/auth/tokens/{pid}", {"alias": "renamed"}, token=parent), 200)
        got = d.get(f"/api/v1/auth/tokens/{pid}").data
        check(got["event_access"] is False and got["ip_whitelist"] == ["127.0.0.0/8"] and
              got["expires_at"] is not None and got["alias"] == "renamed", got)
        # permissions: a read_only token may not create tokens at all, and a
        # dev_team-like token may not grant what it lacks
        mid = new_token(d, permissions={"containers": True, "resources": {
            "create_tokens": True}}).data["token"]
        expect(new_token(d, mid, permissions={"projects": True}), 403,
               "INSUFFICIENT_PERMISSIONS", "projects")
        # realms and allow_no_realm
        host = {"Host": f"{REALM_A}.api.hoody.local"}
        rt = new_token(d, realm_ids=[REALM_A], allow_no_realm=False).data["token"]
        expect(new_token(d, rt, headers=host, allow_no_realm=True), 403,
               "INSUFFICIENT_PERMISSIONS", "allow_no_realm")
        expect(new_token(d, rt, headers=host, realm_ids=[REALM_A, REALM_B]), 403)
        r = new_token(d, rt, headers=host)
        expect(r, 201)
        check(r.data["realm_ids"] == [REALM_A] and r.data["allow_no_realm"] is False, r.data)


def login(d, name):
    r = d.post("/api/v1/users/auth/login", {"username": name, "password": "Passw0rd-" + name},
               token=None)
    expect(r, 200)
    return r.data


def refresh(d, rtok):
    return d.post("/api/v1/users/auth/refresh", {"refreshToken": rtok}, token=None)


def test_refresh_rotation():
    """A refresh token works once; presenting it again ends its whole family,
    the access tokens it issued included, but not other logins."""
    with Daemon() as d:
        d.new_user("rotor")
        s1 = login(d, "rotor")
        other = login(d, "rotor")  # another device: another family
        r = refresh(d, s1["refreshToken"])
        expect(r, 200)
        s2 = r.data
        check(s2["refreshToken"] != s1["refreshToken"], "not rotated")
        expect(d.get("/api/v1/users/me", token=s2["token"]), 200)
        # the stolen copy of the first refresh token, presented again
        expect(refresh(d, s1["refreshToken"]), 401, "INVALID_TOKEN")
        expect(refresh(d, s2["refreshToken"]), 401, "INVALID_TOKEN")
        expect(d.get("/api/v1/users/me", token=s2["token"]), 401)
        expect(d.get("/api/v1/users/me", token=s1["token"]), 401)
        # the other device is untouched, and signing in again works
        expect(d.get("/api/v1/users/me", token=other["token"]), 200)
        expect(refresh(d, other["refreshToken"]), 200)
        expect(d.get("/api/v1/users/me", token=login(d, "rotor")["token"]), 200)


class Stream:
    """A raw SSE connection that reports when the server ends it."""

    def __init__(self, d, token):
        self.sock = socket.create_connection(("127.0.0.1", d.port))
        self.sock.sendall((f"GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\n"
                           f"Authorization: Bearer {token}\r\n\r\n").encode())
        self.buf = b""
        self.sock.settimeout(0.2)

    def read(self):
        try:
            chunk = self.sock.recv(65536)
            if not chunk:
                return False
            self.buf += chunk
        except socket.timeout:
            pass
        return b"\r\n0\r\n\r\n" not in self.buf

    def open_after(self, seconds):
        """Whether the stream is still open after reading for that long."""
        end = time.time() + seconds
        while time.time() < end:
            if not self.read():
                return False
        return True

    def saw(self, text):
        return text.encode() in self.buf


def test_streams_end_with_their_credential():
    """A stream opened before a ban, a logout or the deletion of its token
    stops delivering: the server ends it."""
    with Daemon() as d:
        d.new_user("watcher")
        uid = login(d, "watcher")["user"]["id"]
        jwt = login(d, "watcher")["token"]
        tok = d.post("/api/v1/auth/tokens", {"alias": "w"}, token=jwt).data
        keep = Stream(d, d.token)  # the admin's stream must stay open throughout
        s = Stream(d, tok["token"])
        check(s.open_after(1.5) and s.saw(": connected"), s.buf)
        d.new_project(token=jwt)
        check(s.open_after(1.5) and s.saw("project.created"), "no event delivered")
        expect(d.delete(f"/api/v1/auth/tokens/{tok['id']}", token=jwt), 200)
        check(not s.open_after(10), "stream of a deleted token still open")
        # logout
        s = Stream(d, jwt)
        check(s.open_after(1.5), s.buf)
        expect(d.post("/api/v1/users/auth/logout", token=jwt), 200)
        check(not s.open_after(10), "stream of a logged-out session still open")
        # ban
        jwt = login(d, "watcher")["token"]
        tok = d.post("/api/v1/auth/tokens", {"alias": "w2"}, token=jwt).data["token"]
        s1, s2 = Stream(d, jwt), Stream(d, tok)
        check(s1.open_after(1) and s2.open_after(0.5), "streams did not open")
        expect(d.put(f"/api/v1/users/{uid}", {"is_banned": True}), 200)
        check(not s1.open_after(10), "session stream of a banned user still open")
        check(not s2.open_after(10), "token stream of a banned user still open")
        check(keep.open_after(0.5), "an unrelated stream was ended")


def test_usernames_case_insensitive():
    with Daemon() as d:
        expect(d.post("/api/v1/users", {"username": "Carol", "password": "Passw0rd-Carol"}),
               201)
        for name in ("carol", "CAROL", "cArOl"):
            expect(d.post("/api/v1/users", {"username": name, "password": "Passw0rd-x1"}),
                   409)
        r = d.post("/api/v1/users/auth/login", {"username": "CAROL",
                                               "password": "Passw0rd-Carol"}, token=None)
        expect(r, 200)
        check(r.data["user"]["username"] == "Carol", r.data["user"])
        expect(d.post("/api/v1/users/auth/login", {"username": "carol", "password": "wrong-pw1"},
                      token=None), 401)


def snap_dir(d, cid, name=None):
    return os.path.join(d.state, "snapshots", cid, *([name] if name else []))


def orphans(d, token=...):
    r = d.get("/api/v1/snapshots/orphaned", token=token)
    expect(r, 200)
    return [(s["container_id"], s["name"]) for s in r.data["snapshots"]]


def test_orphaned_snapshots():
    """The snapshots of a deleted container: listed and deleted by their
    owner only (and within the token's realms), and `hoodyd purge` removes
    them while the snapshots of live containers stay."""
    with Daemon() as d:
        b = d.new_user("orphanb")
        p = new_project(d, realm_ids=[REALM_A])
        c = d.create_container(p, realm_ids=[REALM_A], hoody_kit=False)
        live = d.create_container(p, hoody_kit=False)
        s1, s2 = snapshot(d, c["id"]), snapshot(d, c["id"])
        ls = snapshot(d, live["id"])
        check(orphans(d) == [], "a live container's snapshots are not orphans")
        expect(d.delete(f"/api/v1/snapshots/orphaned/{live['id']}/{ls}"), 409)
        delete_container(d, c["id"])
        expect(d.get(f"/api/v1/containers/{c['id']}/snapshots"), 404)
        check(sorted(orphans(d)) == sorted([(c["id"], s1), (c["id"], s2)]), orphans(d))
        # not another user's, not another realm's
        check(orphans(d, b) == [], "another user sees them")
        expect(d.delete(f"/api/v1/snapshots/orphaned/{c['id']}/{s1}", token=b), 404)
        tb = d.post("/api/v1/auth/tokens", {"realm_ids": [REALM_B]}).data["token"]
        check(orphans(d, tb) == [], "another realm's token sees them")
        expect(d.delete(f"/api/v1/snapshots/orphaned/{c['id']}/{s1}", token=tb), 404)
        ta = d.post("/api/v1/auth/tokens", {"realm_ids": [REALM_A]}).data["token"]
        check(len(orphans(d, ta)) == 2, "the realm's own token does not see them")
        expect(d.delete(f"/api/v1/snapshots/orphaned/{c['id']}/bogus%2F..", token=ta), 404)
        expect(d.delete(f"/api/v1/snapshots/orphaned/nothex/{s1}", token=ta), 400)
        r = d.delete(f"/api/v1/snapshots/orphaned/{c['id']}/{s1}", token=ta)
        expect(r, 200)
        check(r.data["snapshot_name"] == s1, r.data)
        check(orphans(d) == [(c["id"], s2)] and not os.path.exists(snap_dir(d, c["id"], s1)),
              orphans(d))
        # purge removes what is left, and keeps the live container's snapshot
        check(os.path.isdir(snap_dir(d, c["id"], s2)), "s2 files missing before purge")
        d.stop()
        subprocess.run([os.path.join(BIN, "hoodyd"), "--state-dir", d.state, "--image-dir",
                        IMAGE_DIR, "--run-dir", d.run_dir, "--bridge", d.bridge, "--subnet",
                        d.subnet, "purge"], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        check(not os.path.exists(snap_dir(d, c["id"], s2)), "purge left an orphaned snapshot")
        check(os.path.isdir(snap_dir(d, live["id"], ls)), "purge removed a live snapshot")
        d.start()
        check(orphans(d) == [], orphans(d))
        r = d.get(f"/api/v1/containers/{live['id']}/snapshots")
        check([s["name"] for s in r.data["snapshots"]] == [ls], r.data)


if __name__ == "__main__":
    main([test_realm_copy_and_sync, test_realm_project_delete, test_snapshot_names_not_guessable,
          test_child_tokens_and_self_update, test_refresh_rotation,
          test_streams_end_with_their_credential, test_usernames_case_insensitive,
          test_orphaned_snapshots])
