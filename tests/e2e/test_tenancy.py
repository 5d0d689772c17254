"""Tenancy over every route, read from the route registrations in src/api:
another user gets 404 (never 403, never data) on each of A's resources, a
non-admin gets 403 on admin routes, and a route added later is covered
without editing this file (it fails until it is classified)."""
import glob
import os
import re

from hoody_test import Daemon, check, main
from test_containers import expect

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src", "api")
ROUTE = re.compile(r'api_route\(srv, "([A-Z]+)", "([^"]+)", \w+,\s*([A-Z_|0-9]+)\)')

# Routes whose {id} names something shared by everyone (servers, images):
# not a tenancy question.
SHARED = ("/api/v1/servers/{id}", "/api/v1/rentals/{id}", "/api/v1/images/public/{id}")

# Bodies that pass validation, so that only ownership can refuse them.
BODIES = {
    "/copy": {"target_project_id": None},  # filled with B's own project
    "/env/{key}": {"value": "v"},
    "/env": {"K": "v"},
    "/alias": {"alias": "x"},
    "/api/v1/projects/{id}": {"alias": "stolen"},
    "/api/v1/containers/{id}": {"comment": "stolen"},
    "/api/v1/auth/tokens/{id}": {"alias": "stolen"},
}


def routes():
    out = []
    for path in sorted(glob.glob(os.path.join(SRC, "*.c"))):
        out += ROUTE.findall(open(path).read())
    check(len(out) > 50, f"only {len(out)} routes found in {SRC}")
    return out


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
        ids = {"/api/v1/containers/": c["id"], "/api/v1/projects/": pa,
               "/api/v1/auth/tokens/": tok, "/api/v1/events/": ev, "/api/v1/users/": "0" * 24}
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


def a_secret_absent(r):
    return "a-secret" not in r.raw and "a-snap" not in r.raw and "a-token" not in r.raw


if __name__ == "__main__":
    main([test_every_route])
