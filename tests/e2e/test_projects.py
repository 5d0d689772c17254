"""Projects, servers (rentals), public images and realms end to end: shapes
and types, every validation error, pagination and sorting, ownership (another
user's project is 404), permissions, realm hosts and realm-bound tokens,
cascading delete, server capacity and identity across restarts."""
import hashlib
import random
import re

from hoody_test import Daemon, check, main

D = None
ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")
R1 = "111111111111111111111111"
R2 = "222222222222222222222222"
R3 = "333333333333333333333333"
MISSING = "ffffffffffffffffffffffff"
PROJECT_KEYS = {"id", "user_id", "alias", "color", "max_containers", "realm_ids", "is_default",
                "container_count", "created_at", "updated_at"}


def host(realm):
    return {"Host": f"{realm}.api.hoody.local"}


def create(body, tok=..., **kw):
    return D.post("/api/v1/projects", body, token=tok, **kw)


def created(body, tok=..., **kw):
    r = create(body, tok, **kw)
    check(r.status == 201, r)
    return r.data


def is_error(r, status, code, mentions=None):
    ok = r.status == status and r.code == code and r.json.get("statusCode") == status
    if ok and mentions:
        ok = mentions in r.json.get("message", "")
    return ok


def check_project_shape(p):
    check(set(p) >= PROJECT_KEYS, f"project keys: {sorted(p)}")
    check(HEX24.match(p["id"]) and HEX24.match(p["user_id"]), p)
    check(isinstance(p["alias"], str) and re.match(r"^#[0-9A-F]{3}([0-9A-F]{3})?$", p["color"]), p)
    check(p["max_containers"] is None or (type(p["max_containers"]) is int
                                          and p["max_containers"] >= 1), p)
    check(isinstance(p["realm_ids"], list) and all(HEX24.match(x) for x in p["realm_ids"]), p)
    check(p["is_default"] in (True, False) and type(p["container_count"]) is int, p)
    check(ISO.match(p["created_at"]) and ISO.match(p["updated_at"]), p)


def new_token(tok=..., **fields):
    r = D.post("/api/v1/auth/tokens", fields, token=tok)
    check(r.status == 201, r)
    return r.data["token"]


def list_all(tok=..., query="", **kw):
    r = D.get(f"/api/v1/projects?limit=100{query}", token=tok, **kw)
    check(r.status == 200, r)
    return r.data["projects"]


# ---------------------------------------------------------------- projects


def test_create_and_get():
    r = create({"alias": "client-acme", "color": "#e74c3c", "max_containers": 5,
                "realm_ids": [R1, R1.upper(), R2]})
    check(r.status == 201 and r.json["statusCode"] == 201, r)
    check(r.json["message"] == "Project created successfully", r)
    p = r.data
    check_project_shape(p)
    check(p["alias"] == "client-acme" and p["color"] == "#E74C3C", p)
    check(p["max_containers"] == 5 and p["realm_ids"] == [R1, R2], p)
    check(p["is_default"] is False and p["container_count"] == 0, p)

    r = D.get(f"/api/v1/projects/{p['id']}")
    check(r.status == 200 and r.data == p, (r, p))
    r = D.get(f"/api/v1/projects/{p['id']}/")
    check(r.status == 200 and r.data["id"] == p["id"], "trailing slash tolerated")
    r = D.get(f"/api/v1/projects/{p['id']}?include_permissions=true")
    check(r.status == 200 and r.data["permissions"] == [], r)

    # defaults: random color, unlimited, no realms; '#' optional and short form kept
    q = created({"alias": "plain"}, )
    check_project_shape(q)
    check(re.match(r"^#[0-9A-F]{6}$", q["color"]) and q["max_containers"] is None, q)
    check(q["realm_ids"] == [], q)
    r = D.post("/api/v1/projects/", {"alias": "short-color", "color": "abc",
                                     "max_containers": None, "realm_ids": None})
    check(r.status == 201 and r.data["color"] == "#ABC", r)
    check(r.data["max_containers"] is None and r.data["realm_ids"] == [], r)
    check(created({"alias": "x" * 100})["alias"] == "x" * 100, "100 characters")
    check(created({"alias": "été à Paris ☀"})["alias"] == "été à Paris ☀", "unicode alias")

    ids = {x["id"] for x in list_all()}
    check({p["id"], q["id"]} <= ids, ids)


def test_validation_errors():
    before = D.get("/api/v1/projects").data["pagination"]["total"]
    bad = [
        ({}, "alias"),
        ({"alias": ""}, "alias"),
        ({"alias": "x" * 101}, "alias"),
        ({"alias": 5}, "alias"),
        ({"alias": None}, "alias"),
        ({"alias": "   "}, "alias"),
        ({"alias": "a\nb"}, "alias"),
        ({"alias": "ok", "color": "red"}, "color"),
        ({"alias": "ok", "color": "#12345"}, "color"),
        ({"alias": "ok", "color": "#1234567"}, "color"),
        ({"alias": "ok", "color": 123}, "color"),
        ({"alias": "ok", "max_containers": 0}, "max_containers"),
        ({"alias": "ok", "max_containers": -1}, "max_containers"),
        ({"alias": "ok", "max_containers": "5"}, "max_containers"),
        ({"alias": "ok", "max_containers": 1.5}, "max_containers"),
        ({"alias": "ok", "max_containers": True}, "max_containers"),
        ({"alias": "ok", "realm_ids": R1}, "realm_ids"),
        ({"alias": "ok", "realm_ids": ["short"]}, "realm_ids"),
        ({"alias": "ok", "realm_ids": [1]}, "realm_ids"),
        ({"alias": "ok", "realm_ids": [f"{i:024x}" for i in range(51)]}, "realm_ids"),
        ({"alias": "ok", "bogus": 1}, "bogus"),
        ({"alias": "ok", "is_default": True}, "is_default"),
    ]
    for body, field in bad:
        r = create(body)
        check(is_error(r, 400, "VALIDATION_ERROR", field), (body, r))
    for raw in (b"[1]", b"\"alias\"", b"{\"alias\": "):
        r = D.request("POST", "/api/v1/projects", raw=raw,
                      headers={"Content-Type": "application/json"})
        check(r.status == 400 and r.code == "VALIDATION_ERROR", (raw, r))
    check(created({"alias": "ok", "realm_ids": [f"{i:024x}" for i in range(50)]}), "50 realms")
    after = D.get("/api/v1/projects").data["pagination"]["total"]
    check(after == before + 1, f"rejected bodies created nothing ({before} -> {after})")

    # ids
    p = created({"alias": "id-checks"})["id"]
    for bad_id in ("xyz", p[:-1], p + "0", p.upper(), "g" * 24):
        for method in ("GET", "PUT", "PATCH", "DELETE"):
            r = D.request(method, f"/api/v1/projects/{bad_id}",
                          {"alias": "z"} if method in ("PUT", "PATCH") else None)
            check(is_error(r, 400, "INVALID_ID_FORMAT"), (method, bad_id, r))
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        r = D.request(method, f"/api/v1/projects/{MISSING}",
                      {"alias": "z"} if method in ("PUT", "PATCH") else None)
        check(is_error(r, 404, "RESOURCE_NOT_FOUND"), (method, r))

    # duplicates
    created({"alias": "dup"})
    r = create({"alias": "dup"})
    check(is_error(r, 409, "CONFLICT"), r)
    r = D.put(f"/api/v1/projects/{p}", {"alias": "dup"})
    check(is_error(r, 409, "CONFLICT"), r)
    r = D.patch(f"/api/v1/projects/{p}", {"alias": "dup"})
    check(is_error(r, 409, "CONFLICT"), r)
    check(D.get(f"/api/v1/projects/{p}").data["alias"] == "id-checks", "conflict changed nothing")
    check(create({"alias": "Dup"}).status == 201, "aliases are case-sensitive")

    # list query parameters
    for q in ("limit=0", "limit=101", "limit=abc", "page=0", "page=-1", "sort_by=name",
              "sort_order=up", "realm_id=xyz"):
        r = D.get(f"/api/v1/projects?{q}")
        check(is_error(r, 400, "VALIDATION_ERROR", q.split("=")[0]), (q, r))
    r = D.get(f"/api/v1/projects/{p}?include_permissions=maybe")
    check(is_error(r, 400, "VALIDATION_ERROR"), r)
    r = D.delete(f"/api/v1/projects/{p}?include_deleted_items=perhaps")
    check(is_error(r, 400, "VALIDATION_ERROR"), r)
    check(D.get(f"/api/v1/projects/{p}").status == 200, "bad flag deleted nothing")


def test_update_put_and_patch():
    p = created({"alias": "upd", "color": "#111111", "max_containers": 2, "realm_ids": [R1]})
    pid = p["id"]
    r = D.put(f"/api/v1/projects/{pid}", {"color": "#222222"})
    check(is_error(r, 400, "VALIDATION_ERROR", "alias"), "PUT needs alias")
    r = D.put(f"/api/v1/projects/{pid}", {"alias": "upd", "unknown": 1})
    check(is_error(r, 400, "VALIDATION_ERROR", "unknown"), r)
    for body in ({"color": "nope"}, {"max_containers": 0}, {"realm_ids": ["x"]},
                 {"alias": ""}):
        r = D.patch(f"/api/v1/projects/{pid}", body)
        check(is_error(r, 400, "VALIDATION_ERROR"), (body, r))
    check(D.get(f"/api/v1/projects/{pid}").data == p, "rejected updates changed nothing")

    r = D.put(f"/api/v1/projects/{pid}", {"alias": "upd-2", "color": "333"})
    check(r.status == 200 and r.json["message"] == "Project updated successfully", r)
    u = r.data
    check_project_shape(u)
    check(u["alias"] == "upd-2" and u["color"] == "#333", u)
    check(u["max_containers"] == 2 and u["realm_ids"] == [R1], "PUT keeps omitted fields")
    check(u["created_at"] == p["created_at"] and u["updated_at"] >= p["updated_at"], u)

    r = D.patch(f"/api/v1/projects/{pid}", {"max_containers": None, "realm_ids": [R2, R3]})
    check(r.status == 200, r)
    u = r.data
    check(u["alias"] == "upd-2" and u["color"] == "#333", "PATCH is partial")
    check(u["max_containers"] is None and u["realm_ids"] == [R2, R3], u)
    r = D.patch(f"/api/v1/projects/{pid}", {"max_containers": 7, "color": None})
    check(r.status == 200 and r.data["max_containers"] == 7 and r.data["color"] == "#333", r)
    r = D.patch(f"/api/v1/projects/{pid}", {})
    check(r.status == 200 and r.data["alias"] == "upd-2", r)
    r = D.patch(f"/api/v1/projects/{pid}", {"realm_ids": None})
    check(r.status == 200 and r.data["realm_ids"] == [], r)
    check(D.get(f"/api/v1/projects/{pid}").data == r.data, "GET shows the update")


def test_pagination_and_sorting():
    tok = D.new_user("pager")
    aliases = [f"p-{i:02d}" for i in range(30)]
    random.shuffle(aliases)
    made = [created({"alias": a}, tok) for a in aliases]

    r = D.get("/api/v1/projects", token=tok)
    check(r.status == 200 and r.json["message"] == "Projects retrieved successfully", r)
    pg = r.data["pagination"]
    check(pg == {"total": 30, "page": 1, "limit": 10, "totalPages": 3}, pg)
    check(len(r.data["projects"]) == 10, "default limit 10")

    seen = []
    for page in (1, 2, 3):
        r = D.get(f"/api/v1/projects?page={page}&limit=10", token=tok)
        check(r.data["pagination"]["page"] == page, r.data["pagination"])
        seen += r.data["projects"]
    check(len(seen) == 30 and len({p["id"] for p in seen}) == 30, "pages partition the list")
    stamps = [p["created_at"] for p in seen]
    check(stamps == sorted(stamps, reverse=True), "default order: created_at desc")
    check([p["id"] for p in seen] == [p["id"] for p in reversed(made)], "newest first")
    r = D.get("/api/v1/projects?page=4", token=tok)
    check(r.data["projects"] == [] and r.data["pagination"]["total"] == 30, r)
    r = D.get("/api/v1/projects?limit=7", token=tok)
    check(r.data["pagination"]["totalPages"] == 5 and len(r.data["projects"]) == 7, r)

    got = [p["alias"] for p in list_all(tok, "&sort_by=alias&sort_order=asc")]
    check(got == sorted(aliases), got)
    got = [p["alias"] for p in list_all(tok, "&sort_by=alias&sort_order=desc")]
    check(got == sorted(aliases, reverse=True), got)
    got = [p["id"] for p in list_all(tok, "&sort_by=id&sort_order=asc")]
    check(got == sorted(got) and len(got) == 30, got)
    got = [p["created_at"] for p in list_all(tok, "&sort_by=created_at&sort_order=asc")]
    check(got == sorted(got), got)
    # alias order across pages
    first = D.get("/api/v1/projects?sort_by=alias&sort_order=asc&limit=5&page=2", token=tok)
    check([p["alias"] for p in first.data["projects"]] == sorted(aliases)[5:10], first)

    target = made[3]["id"]
    check(D.patch(f"/api/v1/projects/{target}", {"color": "#ABCDEF"}, token=tok).status == 200,
          "touch")
    r = D.get("/api/v1/projects?sort_by=updated_at", token=tok)
    check(r.data["projects"][0]["id"] == target, "most recently updated first")
    r = D.get("/api/v1/projects?sort_by=updated_at&sort_order=asc&limit=100", token=tok)
    check(r.data["projects"][-1]["id"] == target, "and last ascending")


def test_other_users_get_404():
    a = D.new_user("owner-a")
    b = D.new_user("other-b")
    p = created({"alias": "secret", "color": "#123456"}, a)
    pid = p["id"]
    for method, body in (("GET", None), ("PUT", {"alias": "stolen"}), ("PATCH", {"alias": "x"}),
                         ("DELETE", None)):
        r = D.request(method, f"/api/v1/projects/{pid}", body, token=b)
        check(is_error(r, 404, "RESOURCE_NOT_FOUND"), (method, r))
    r = D.get(f"/api/v1/projects/{pid}/containers", token=b)
    check(r.status == 404, r)
    r = D.post(f"/api/v1/projects/{pid}/containers",
               {"container_image": "busybox", "server_id": D.server_id()}, token=b)
    check(r.status == 404, r)
    check(pid not in {x["id"] for x in list_all(b)}, "not in B's list")
    check(created({"alias": "secret"}, b)["user_id"] != p["user_id"], "aliases are per user")
    r = D.get(f"/api/v1/projects/{pid}", token=a)
    check(r.status == 200 and r.data == p, "A's project untouched")
    # an admin is no exception: another user's project is still 404 for it
    check(D.get(f"/api/v1/projects/{pid}").status == 404, "admin sees only its own")


def test_permissions():
    ro = new_token(permission_template="read_only")
    p = created({"alias": "perm"})
    check(D.get(f"/api/v1/projects/{p['id']}", token=ro).status == 200, "read_only reads")
    check(D.get("/api/v1/projects", token=ro).status == 200, "read_only lists")
    for method, path, body in (("POST", "/api/v1/projects", {"alias": "nope"}),
                               ("PUT", f"/api/v1/projects/{p['id']}", {"alias": "nope"}),
                               ("PATCH", f"/api/v1/projects/{p['id']}", {"color": "#fff"}),
                               ("DELETE", f"/api/v1/projects/{p['id']}", None)):
        r = D.request(method, path, body, token=ro)
        check(is_error(r, 403, "INSUFFICIENT_PERMISSIONS"), (method, r))
    check(D.get(f"/api/v1/projects/{p['id']}").data == p, "refused calls changed nothing")
    ext = new_token(permissions={"projects": {"create": True}})
    check(D.get("/api/v1/projects", token=ext).status == 403, "no projects.read")
    check(create({"alias": "by-leaf"}, ext).status == 201, "projects.create alone creates")
    check(D.get("/api/v1/realms", token=ext).status == 403, "realms need resources.realms")
    check(D.get("/api/v1/projects", token=None).status == 401, "no token")


def test_realm_hosts_and_tokens():
    tok = D.new_user("realmer")
    p1 = created({"alias": "in-r1", "realm_ids": [R1]}, tok)
    p2 = created({"alias": "in-r2", "realm_ids": [R2]}, tok)
    p0 = created({"alias": "no-realm"}, tok)

    # a realm host: creation joins the realm, lists and gets see only that realm
    p3 = created({"alias": "made-on-r1", "realm_ids": [R3]}, tok, headers=host(R1))
    check(p3["realm_ids"] == [R3, R1], p3)
    got = {p["id"] for p in list_all(tok, headers=host(R1))}
    check(got == {p1["id"], p3["id"]}, got)
    check(D.get(f"/api/v1/projects/{p2['id']}", token=tok, headers=host(R1)).status == 404,
          "other realm hidden on a realm host")
    check(D.get(f"/api/v1/projects/{p0['id']}", token=tok, headers=host(R1)).status == 404,
          "realm-less hidden on a realm host")
    got = {p["id"] for p in list_all(tok, "&realm_id=" + R2)}
    check(got == {p2["id"]}, got)
    got = {p["id"] for p in list_all(tok, "&realm_id=" + R3, headers=host(R1))}
    check(got == {p3["id"]}, f"both realms must match on a realm host: {got}")
    got = list_all(tok, "&realm_id=" + R2, headers=host(R1))
    check(got == [], got)
    r = D.get("/api/v1/projects?limit=1", token=tok, headers=host(R1))
    check(r.data["pagination"]["total"] == 2, r)

    # a token bound to R2 sees only R2, cannot set realm_ids, and what it creates joins R2
    t2 = new_token(tok, realm_ids=[R2], permission_template="full_access")
    got = {p["id"] for p in list_all(t2)}
    check(got == {p2["id"]}, got)
    check(D.get(f"/api/v1/projects/{p1['id']}", token=t2).status == 404, "outside its realm")
    check(D.delete(f"/api/v1/projects/{p1['id']}", token=t2).status == 404, "cannot delete")
    r = create({"alias": "t2-realms", "realm_ids": [R2]}, t2)
    check(is_error(r, 403, "INSUFFICIENT_PERMISSIONS"), r)
    r = D.patch(f"/api/v1/projects/{p2['id']}", {"realm_ids": []}, token=t2)
    check(is_error(r, 403, "INSUFFICIENT_PERMISSIONS"), r)
    p4 = created({"alias": "by-t2"}, t2)
    check(p4["realm_ids"] == [R2], p4)
    check(D.patch(f"/api/v1/projects/{p2['id']}", {"color": "#0f0"}, token=t2).status == 200,
          "may update inside its realm")

    # a token bound to two realms: the list is filtered and paginated exactly
    t12 = new_token(tok, realm_ids=[R1, R2], permission_template="full_access")
    got = [p["id"] for p in list_all(t12, "&sort_by=alias&sort_order=asc")]
    check(got == [p4["id"], p1["id"], p2["id"], p3["id"]], got)
    r = D.get("/api/v1/projects?limit=3&page=2&sort_by=alias&sort_order=asc", token=t12)
    check(r.data["pagination"]["total"] == 4 and [p["id"] for p in r.data["projects"]] ==
          [p3["id"]], r)


def test_delete_cascades_to_containers():
    sid = D.server_id()
    p = created({"alias": "doomed"})
    c1 = D.create_container(p["id"], name="doomed-one", server_id=sid)
    c2 = D.create_container(p["id"], name="doomed-two", server_id=sid)
    r = D.get(f"/api/v1/projects/{p['id']}")
    check(r.data["container_count"] == 2, r)
    r = D.delete(f"/api/v1/projects/{p['id']}?include_deleted_items=true")
    check(r.status == 200 and r.json["message"] == "Project deleted successfully", r)
    check(r.data["deleted"] == {"containers": 2, "permissions": 0, "aliases": 0}, r)
    items = sorted((c["id"], c["name"]) for c in r.data["deleted_items"]["containers"])
    check(items == sorted([(c1["id"], "doomed-one"), (c2["id"], "doomed-two")]), items)
    check(D.get(f"/api/v1/projects/{p['id']}").status == 404, "project gone")
    for c in (c1, c2):
        check(D.get(f"/api/v1/containers/{c['id']}").status == 404, "container gone")
    r = D.get("/api/v1/containers?limit=100&include_deleting=true")
    check(not {c1["id"], c2["id"]} & {c["id"] for c in r.data["containers"]}, r)

    q = created({"alias": "empty"})
    r = D.delete(f"/api/v1/projects/{q['id']}")
    check(r.status == 200 and r.data == {"deleted": {"containers": 0, "permissions": 0,
                                                     "aliases": 0}}, r)
    check(is_error(D.delete(f"/api/v1/projects/{q['id']}"), 404, "RESOURCE_NOT_FOUND"), "twice")
    check(created({"alias": "doomed"})["alias"] == "doomed", "alias free again")


def test_container_count_and_project_limit():
    sid = D.server_id()
    p = created({"alias": "limited", "max_containers": 1})
    c = D.create_container(p["id"], server_id=sid)
    r = D.get(f"/api/v1/projects/{p['id']}")
    check(r.data["container_count"] == 1, r)
    check(any(x["id"] == p["id"] and x["container_count"] == 1 for x in list_all()),
          "list counts too")
    r = D.post(f"/api/v1/projects/{p['id']}/containers",
               {"container_image": "busybox", "server_id": sid, "bypass_prespawn": True})
    check(is_error(r, 400, "PROJECT_CONTAINER_LIMIT"), r)
    check(D.patch(f"/api/v1/projects/{p['id']}", {"max_containers": None}).status == 200, "lift")
    c2 = D.create_container(p["id"], server_id=sid)
    check(D.get(f"/api/v1/projects/{p['id']}").data["container_count"] == 2, "two")
    for x in (c, c2):
        check(D.delete(f"/api/v1/containers/{x['id']}").status == 200, x)


# ---------------------------------------------------------------- servers

SERVER_KEYS = {"id", "server_id", "server_name", "name", "status", "is_ready", "is_free",
               "is_free_tier", "country", "region", "city", "datacenter", "specs",
               "container_capacity", "expires_at", "created_at"}


def check_server_shape(s, name="node-local", cap=None):
    check(set(s) >= SERVER_KEYS, f"server keys: {sorted(s)}")
    check(HEX24.match(s["id"]) and s["server_id"] == s["id"], s)
    check(s["server_name"] == name and s["name"] == name, s)
    check(s["status"] == "active" and s["is_ready"] is True, s)
    check(s["is_free"] is True and s["is_free_tier"] is True and s["expires_at"] is None, s)
    sp = s["specs"]
    check(set(sp) == {"cpu_cores", "ram_gb", "disk_gb", "shared_compute"}, sp)
    check(all(type(sp[k]) is int and sp[k] >= 1 for k in ("cpu_cores", "ram_gb", "disk_gb")), sp)
    check(sp["shared_compute"] is True, sp)
    cc = s["container_capacity"]
    check(set(cc) == {"used", "max"} and type(cc["used"]) is int and cc["used"] >= 0, cc)
    # uncapped: what the host's memory holds, a number all the same
    check(cc["max"] == cap if cap else type(cc["max"]) is int and cc["max"] >= 1, cc)
    check(ISO.match(s["created_at"]), s)


def test_servers_and_rentals():
    r = D.get("/api/v1/servers")
    check(r.status == 200 and isinstance(r.data, list) and len(r.data) == 1, r)
    s = r.data[0]
    check_server_shape(s)
    with open("/proc/cpuinfo") as f:
        cpus = sum(1 for line in f if line.startswith("processor"))
    check(s["specs"]["cpu_cores"] == cpus, (s["specs"], cpus))
    with open("/proc/meminfo") as f:
        kb = int(f.readline().split()[1])
    check(abs(s["specs"]["ram_gb"] - kb / 1048576) <= 1, (s["specs"], kb))

    def one(d):  # GET one adds the day counters to the list item
        check(type(d.pop("usage_days")) is int and type(d.pop("hold_days")) is int, d)
        return d
    r = D.get(f"/api/v1/servers/{s['id']}")
    check(r.status == 200 and one(r.data) == s, r)
    r = D.get("/api/v1/rentals")
    check(r.status == 200 and r.data == [s], r)
    r = D.get(f"/api/v1/rentals/{s['id']}")
    check(r.status == 200 and one(r.data) == s, r)
    for base in ("servers", "rentals"):
        check(is_error(D.get(f"/api/v1/{base}/nope"), 400, "INVALID_ID_FORMAT"), base)
        check(is_error(D.get(f"/api/v1/{base}/{MISSING}"), 404, "RESOURCE_NOT_FOUND"), base)
    check(D.get("/api/v1/servers", token=None).status == 401, "needs auth")
    other = D.new_user("server-viewer")
    check(D.get("/api/v1/servers", token=other).data[0]["server_id"] == s["id"], "same host")

    # capacity counts live containers of every user
    used = s["container_capacity"]["used"]
    p = created({"alias": "cap"})
    c = D.create_container(p["id"], server_id=s["id"])
    check(D.get(f"/api/v1/servers/{s['id']}").data["container_capacity"]["used"] == used + 1,
          "used +1")
    check(D.delete(f"/api/v1/containers/{c['id']}").status == 200, "delete")
    D.wait_all_gone()
    check(D.get(f"/api/v1/servers/{s['id']}").data["container_capacity"]["used"] == used,
          "used back")


def test_server_identity_and_cap():
    with Daemon(extra_args=["--server-name", "node-test", "--server-max-containers", "3"]) as d:
        s = d.get("/api/v1/servers").data[0]
        check_server_shape(s, name="node-test", cap=3)
        d.restart()
        s2 = d.get("/api/v1/servers").data
        check(len(s2) == 1 and s2[0]["id"] == s["id"], "server id stable across restarts")
        check(s2[0]["created_at"] == s["created_at"], s2)


# ---------------------------------------------------------------- images

IMAGE_KEYS = {"id", "alias", "name", "os", "release", "architecture", "size", "price",
              "rating", "is_default", "prespawn", "added_date"}


def test_public_images():
    r = D.get("/api/v1/images/public")
    check(r.status == 200, r)
    imgs, pg = r.data["images"], r.data["pagination"]
    check(pg["limit"] == 20 and pg["page"] == 1 and pg["total"] >= 1, pg)
    bb = [i for i in imgs if i["alias"] == "busybox"]
    check(len(bb) == 1, imgs)
    i = bb[0]
    check(set(i) >= IMAGE_KEYS, sorted(i))
    check(i["id"] == hashlib.sha256(b"busybox").hexdigest()[:24], i)
    check(i["os"] == "busybox" and isinstance(i["name"], str) and i["name"], i)
    check(i["architecture"] in ("amd64", "arm64") and type(i["size"]) is int, i)
    check(i["price"] == 0 and i["rating"] is None and i["prespawn"] is False, i)
    check(i["is_default"] is False and ISO.match(i["added_date"]), i)

    r = D.get(f"/api/v1/images/public/{i['id']}")
    check(r.status == 200 and r.data == i, r)
    check(is_error(D.get(f"/api/v1/images/public/{MISSING}"), 404, "RESOURCE_NOT_FOUND"), "404")
    check(is_error(D.get("/api/v1/images/public/busybox"), 400, "INVALID_ID_FORMAT"), "400")

    r = D.get("/api/v1/images/public?os=busybox")
    check(r.data["images"] and all(x["os"] == "busybox" for x in r.data["images"]), r)
    r = D.get("/api/v1/images/public?os=fedora")
    check(r.data["images"] == [] and r.data["pagination"]["total"] == 0, r)
    r = D.get("/api/v1/images/public?search=BUSY")
    check([x["alias"] for x in r.data["images"]] == ["busybox"], r)
    r = D.get("/api/v1/images/public?search=no-such-image")
    check(r.data["images"] == [], r)
    r = D.get("/api/v1/images/public?sort_by=alias&sort_order=asc&limit=100")
    names = [x["alias"] for x in r.data["images"]]
    check(names == sorted(names), names)
    for q in ("sort_by=size", "limit=101", "page=0", "sort_order=sideways", "os=" + "x" * 200):
        check(is_error(D.get(f"/api/v1/images/public?{q}"), 400, "VALIDATION_ERROR"), q)


def test_default_image_flag():
    with Daemon(extra_args=["--default-image", "busybox"]) as d:
        imgs = d.get("/api/v1/images/public?os=busybox").data["images"]
        check(imgs and imgs[0]["is_default"] is True, imgs)


# ---------------------------------------------------------------- realms


def test_realms_union():
    tok = D.new_user("realm-union")
    r = D.get("/api/v1/realms", token=tok)
    check(r.status == 200 and r.data == {"realm_ids": [], "total": 0}, r)
    p = created({"alias": "rp", "realm_ids": [R1, R2]}, tok)
    created({"alias": "rp2", "realm_ids": [R1]}, tok)
    c = D.create_container(p["id"], token=tok, server_id=D.server_id(), realm_ids=[R2])
    new_token(tok, realm_ids=[R3])
    created({"alias": "someone-else", "realm_ids": ["444444444444444444444444"]})

    r = D.get("/api/v1/realms", token=tok)
    check(r.status == 200 and r.json["message"] == "Realms retrieved successfully", r)
    check(r.data == {"realm_ids": [R1, R2, R3], "total": 3}, r)
    r = D.get("/api/v1/realms/?include_usage=true", token=tok)
    u = r.data["usage"]
    check(set(u) == {R1, R2, R3}, u)
    check(u[R1] == {"projects": 2, "containers": 0, "servers": 0, "auth_tokens": 0}, u)
    check(u[R2]["projects"] == 1 and u[R2]["containers"] == 1, u)
    check(u[R3]["auth_tokens"] == 1 and u[R3]["projects"] == 0, u)
    check(is_error(D.get("/api/v1/realms?include_usage=2", token=tok), 400,
                   "VALIDATION_ERROR"), "bad flag")
    # a realm host or a realm-bound token shows only its realms
    r = D.get("/api/v1/realms", token=tok, headers=host(R2))
    check(r.data["realm_ids"] == [R2], r)
    t1 = new_token(tok, realm_ids=[R1], permission_template="read_only")
    check(D.get("/api/v1/realms", token=t1).data["realm_ids"] == [R1], "token realms")
    check(D.delete(f"/api/v1/containers/{c['id']}", token=tok).status == 200, "cleanup")


if __name__ == "__main__":
    with Daemon() as D:
        main([test_create_and_get, test_validation_errors, test_update_put_and_patch,
              test_pagination_and_sorting, test_other_users_get_404, test_permissions,
              test_realm_hosts_and_tokens, test_delete_cascades_to_containers,
              test_container_count_and_project_limit, test_servers_and_rentals,
              test_server_identity_and_cap, test_public_images, test_default_image_flag,
              test_realms_union])
