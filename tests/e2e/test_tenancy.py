"""Tenancy and permission leaves over every route, read from the route
registrations in src/api: another user gets 404 (never 403, never data) on
each of A's resources, a non-admin gets 403 on admin routes, A's own token
that lacks a route's declared leaf gets 403 on it (and changes nothing), and
zero-permission and read_only tokens get 403 wherever they must. A route
added later is covered without editing this file (it fails until it is
classified, and it cannot be registered without a leaf)."""
import glob
import os
import re

from hoody_test import Daemon, check, main
from test_containers import expect

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src", "api")
ROUTE = re.compile(r'api_route\(srv, "([A-Z]+)", "([^"]+)", \w+,\s*([A-Z_|0-9 ]+),\s*'
                   r'("[a-z_.]+"|PERM_ANY|NULL)\)')
ANY_ROUTE = re.compile(r'\bapi_route\(srv,')

# Routes whose {id} names something shared by everyone (servers, images):
# not a tenancy question.
SHARED = ("/api/v1/servers/{id}", "/api/v1/rentals/{id}", "/api/v1/images/public/{id}",
          "/api/v1/servers/{id}/available-commands", "/api/v1/images/{id}/icon")

# Bodies that pass validation, so that only ownership can refuse them.
BODIES = {
    "/auth/tokens/{id}/copy": {},
    "/add-realm": {"realm_id": "a" * 24},
    "/remove-realm": {"realm_id": "a" * 24},
    "/copy": {"target_project_id": None},  # filled with B's own project
    "/env/{key}": {"value": "v"},
    "/env": {"K": "v"},
    "/alias": {"alias": "x"},
    "/api/v1/projects/{id}": {"alias": "stolen"},
    "/api/v1/containers/{id}": {"comment": "stolen"},
    "/api/v1/auth/tokens/{id}": {"alias": "stolen"},
    "/api/v1/users/{id}": {"alias": "stolen"},
    "/api/v1/users": {"username": "intruder", "password": "Passw0rd-intruder"},
    "/api/v1/admin/prespawn": {"pools": []},
    "/api/v1/projects/{id}/containers": {"container_image": "busybox", "hoody_kit": False},
    "/api/v1/projects": {"alias": "intruder"},
    "/api/v1/auth/tokens": {"alias": "intruder"},
    "/api/v1/events/cleanup": {"retention_days": 1},
    "/api/v1/events": {},
    "/snapshots": {"alias": "intruder"},
}


def routes_with_leaves():
    """(method, pattern, flags, leaf) of every registration; leaf is None for
    public routes, "*" for PERM_ANY."""
    out = []
    for path in sorted(glob.glob(os.path.join(SRC, "*.c"))):
        text = open(path).read()
        found = ROUTE.findall(text)
        check(len(found) == len(ANY_ROUTE.findall(text)),
              f"{path}: a route registration this test cannot read (or without a leaf)")
        for method, pattern, flags, leaf in found:
            leaf = None if leaf == "NULL" else "*" if leaf == "PERM_ANY" else leaf.strip('"')
            check((leaf is None) == ("ROUTE_PUBLIC" in flags), f"{method} {pattern}: {leaf}")
            out.append((method, pattern, flags, leaf))
    check(len(out) > 50, f"only {len(out)} routes found in {SRC}")
    return out


def routes():
    return [(m, p, f) for m, p, f, _ in routes_with_leaves()]


def body_for(pattern, b_project):
    for suffix, body in BODIES.items():
        if pattern.endswith(suffix):
            body = dict(body)
            if "target_project_id" in body:
                body["target_project_id"] = b_project
            return body
    return None


def test_every_route():
    with Daemon() as d:
        pa = d.new_project()
        c = d.create_container(pa, hoody_kit=False, name="a-secret")
        r = d.post(f"/api/v1/containers/{c['id']}/snapshots", {"alias": "a-snap"})
        snap = r.data["snapshot"]["name"]
        tok = d.post("/api/v1/auth/tokens", {"alias": "a-token"}).data["id"]
        ev = d.get(f"/api/v1/events?container_id={c['id']}").data["events"][0]["id"]
        b = d.new_user("tenantb")
        pb = d.new_project(token=b)
        alias = d.post("/api/v1/proxy/aliases", {"container_id": c["id"], "program": "http",
                                                 "alias": "a-secret-alias"}).data["id"]
        ids = {"/api/v1/containers/": c["id"], "/api/v1/projects/": pa,
               "/api/v1/auth/tokens/": tok, "/api/v1/events/": ev, "/api/v1/users/": "0" * 24,
               "/api/v1/snapshots/orphaned/": c["id"], "/api/v1/proxy/aliases/": alias}
        checked = 0
        for method, pattern, flags in routes():
            if "{" not in pattern and "ROUTE_ADMIN" not in flags:
                continue  # collections: B's own view (tested per resource)
            if pattern in SHARED:
                continue
            prefix = next((p for p in ids if pattern.startswith(p)), None)
            check(prefix or "ROUTE_ADMIN" in flags, f"unclassified route {method} {pattern}")
            path = pattern.replace("{id}", ids.get(prefix, "0" * 24), 1)
            path = path.replace("{operation}", "stop").replace("{name}", snap).replace("{key}", "K")
            body = body_for(pattern, pb) if method in ("POST", "PUT", "PATCH") else None
            r = d.request(method, path, body, token=b)
            want = 403 if "ROUTE_ADMIN" in flags else 404
            if pattern.endswith("/{operation}") and method != "POST":
                want = 405  # an operation's other methods, whoever asks
            check(r.status == want, f"{method} {path} as another user: want {want}, got {r}")
            check(a_secret_absent(r), f"{method} {path} leaked: {r.raw[:200]}")
            checked += 1
        check(checked >= 35, f"only {checked} routes checked")
        # A's resources are untouched by all of it
        got = d.get(f"/api/v1/containers/{c['id']}").data
        check(got["status"] == "running" and got["comment"] is None and
              got["environment_vars"] == {}, got)
        expect(d.get(f"/api/v1/containers/{c['id']}/snapshots"), 200)
        check(len(d.get(f"/api/v1/containers/{c['id']}/snapshots").data["snapshots"]) == 1, "snap")
        check(d.get(f"/api/v1/projects/{pa}").data["alias"] != "stolen", "project")
        a = d.get(f"/api/v1/proxy/aliases/{alias}")
        check(a.status == 200 and a.data["alias"] == "a-secret-alias" and a.data["enabled"], a)


def tree_without(template_tree, leaf):
    """The full tree with one leaf false."""
    import copy
    t = copy.deepcopy(template_tree)
    node = t
    parts = leaf.split(".")
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = False
    return t


def set_all(tree, value):
    return {k: set_all(v, value) if isinstance(v, dict) else value for k, v in tree.items()}


class World:
    """A's resources, addressed by route pattern."""

    def __init__(self, d):
        self.d = d
        self.pa = d.new_project()
        self.c = d.create_container(self.pa, hoody_kit=False, name="a-secret")
        r = d.post(f"/api/v1/containers/{self.c['id']}/snapshots", {"alias": "a-snap"})
        check(r.status == 201, r)
        self.snap = r.data["snapshot"]["name"]
        self.tok = d.post("/api/v1/auth/tokens", {"alias": "a-token"}).data["id"]
        self.ev = d.get(f"/api/v1/events?container_id={self.c['id']}").data["events"][0]["id"]
        me = d.get("/api/v1/users/me").data["id"]
        self.alias = d.post("/api/v1/proxy/aliases", {"container_id": self.c["id"],
                                                      "program": "http"}).data["id"]
        self.ids = {"/api/v1/containers/": self.c["id"], "/api/v1/projects/": self.pa,
                    "/api/v1/auth/tokens/": self.tok, "/api/v1/events/": self.ev,
                    "/api/v1/users/": me, "/api/v1/snapshots/orphaned/": self.c["id"],
                    "/api/v1/servers/": d.server_id(), "/api/v1/rentals/": d.server_id(),
                    "/api/v1/images/public/": "0" * 24, "/api/v1/proxy/aliases/": self.alias}

    def path(self, pattern):
        prefix = next((p for p in self.ids if pattern.startswith(p)), None)
        path = pattern.replace("{id}", self.ids.get(prefix, "0" * 24), 1)
        return path.replace("{operation}", "stop").replace("{name}", self.snap).replace(
            "{key}", "K")

    def body(self, method, pattern):
        if method not in ("POST", "PUT", "PATCH"):
            return None
        body = body_for(pattern, self.pa)
        return body if body is not None else {}

    def unchanged(self):
        d, c = self.d, self.c
        got = d.get(f"/api/v1/containers/{c['id']}").data
        check(got["status"] == "running" and got["comment"] is None and
              got["environment_vars"] == {}, got)
        snaps = d.get(f"/api/v1/containers/{c['id']}/snapshots").data["snapshots"]
        check([s["alias"] for s in snaps] == ["a-snap"], snaps)
        check(d.get(f"/api/v1/projects/{self.pa}").data["alias"] != "stolen", "project")
        check(d.get(f"/api/v1/events/{self.ev}").status == 200, "events erased")
        check(d.get(f"/api/v1/auth/tokens/{self.tok}").status == 200, "token deleted")
        check(d.get(f"/api/v1/proxy/aliases/{self.alias}").status == 200, "alias deleted")
        names = [p["alias"] for p in d.get("/api/v1/projects?limit=100").data["projects"]]
        check("intruder" not in names, names)
        check(d.post("/api/v1/users/auth/login", {"username": "intruder", "password":
                                                  "Passw0rd-intruder"}, token=None).status
              == 401, "a user was created")


def test_every_leaf():
    """A's own token lacking exactly a route's leaf is refused on that route
    before anything happens; then tokens with no permission at all, and
    read_only tokens, against every route that needs more than they hold."""
    with Daemon() as d:
        w = World(d)
        full = d.get("/api/v1/auth/tokens/templates").data
        full = next(t["permissions"] for t in (full if isinstance(full, list) else
                                                full.get("templates", []))
                    if t.get("name") == "full_access")
        jwt_user = d.new_user("leafwatch")  # a JWT session that must survive the logouts
        by_leaf, checked = {}, 0
        for method, pattern, flags, leaf in routes_with_leaves():
            if leaf in (None, "*"):
                continue
            if leaf not in by_leaf:
                r = d.post("/api/v1/auth/tokens", {"alias": f"no-{leaf.replace('.', '-')}",
                                                   "permissions": tree_without(full, leaf)})
                check(r.status == 201, r)
                by_leaf[leaf] = r.data["token"]
            r = d.request(method, w.path(pattern), w.body(method, pattern), token=by_leaf[leaf])
            check(r.status == 403 and r.code == "INSUFFICIENT_PERMISSIONS" and
                  (leaf in r.json.get("message", "") or "Administrator" in r.raw),
                  f"{method} {pattern} without {leaf}: {r}")
            checked += 1
        check(checked >= 55, f"only {checked} routes checked")
        w.unchanged()

        zero = d.post("/api/v1/auth/tokens", {"alias": "zero", "permissions":
                                              set_all(full, False)}).data["token"]
        ro = d.post("/api/v1/auth/tokens", {"alias": "ro", "permission_template":
                                            "read_only"}).data["token"]
        ro_leaves = {"containers.read", "projects.read", "resources.events", "resources.realms",
                     "resources.read_account"}
        for method, pattern, flags, leaf in routes_with_leaves():
            if leaf is None or (leaf == "*" and "ROUTE_WRITE" not in flags):
                continue
            path, body = w.path(pattern), w.body(method, pattern)
            r = d.request(method, path, body, token=zero)
            check(r.status == 403, f"{method} {pattern} with no permission: {r}")
            if leaf not in ro_leaves or "ROUTE_WRITE" in flags or "ROUTE_ADMIN" in flags:
                r = d.request(method, path, body, token=ro)
                check(r.status == 403, f"{method} {pattern} with read_only: {r}")
        # what read_only may do, it still may
        for path in ("/api/v1/events", "/api/v1/events/stats", f"/api/v1/events/{w.ev}",
                     "/api/v1/users/me", "/api/v1/users/auth/me"):
            check(d.get(path, token=ro).status == 200, path)
        w.unchanged()
        check(d.get("/api/v1/users/me", token=jwt_user).status == 200, "sessions ended")
        # the leaf is on the route, not only in the platform: an admin's
        # read_only token may not touch the pools
        r = d.put("/api/v1/admin/prespawn", {"pools": []}, token=ro)
        check(r.status == 403, r)


def a_secret_absent(r):
    return "a-secret" not in r.raw and "a-snap" not in r.raw and "a-token" not in r.raw


if __name__ == "__main__":
    main([test_every_route, test_every_leaf])
