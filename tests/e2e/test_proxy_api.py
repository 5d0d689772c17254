"""Proxy management on the platform API (kit-api.md §3) against a real hoodyd:
permission documents under If-Match (428/412, PUT and PATCH), their
validation and views, project documents, the proxy fields of the container
object, aliases (validation, reserved names, uniqueness per server, expiry,
state, events), tenancy, and the `hoody proxy` CLI including the seeds'
`hoody proxy delete` after the container is gone.

Requests through the front door itself are tested with the edge (src/proxy)."""
import json
import os
import re
import subprocess
import tempfile
import time

from hoody_test import BIN, Daemon, check, expiring, main

HOODY = os.path.join(BIN, "hoody")
HEX48 = re.compile(r"^[0-9a-f]{48}$")
D = None
PID = CID = None


def expect(r, status, code=None):
    check(r.status == status and (code is None or r.code == code),
          f"want {status} {code or ''}, got {r.status}: {r.raw[:400]}")
    return r


def perms(cid=None):
    return f"/api/v1/containers/{cid or CID}/proxy"


def version(path):
    r = expect(D.get(path), 200)
    return r.data["file_version"]


def write(method, path, body=None, ver=..., token=..., doc=None):
    """A document write with If-Match of the current version (ver=None: no header)."""
    if ver is ...:
        ver = version(doc or perms() + "/permissions")
    headers = {} if ver is None else {"If-Match": ver if isinstance(ver, str) else f"file:v{ver}"}
    return D.request(method, path, body, headers=headers, token=token)


def test_document_concurrency():
    base = perms() + "/permissions"
    r = expect(D.get(base), 200)
    check(r.data["file_version"] == 0 and r.data["etag"] == "file:v0", r.data)
    check(r.data["exists"] is False and r.data["default"] == "deny", "private by default")
    check(r.data["container"] == CID and r.data["project"] == PID, r.data)
    check(r.headers.get("ETag") == '"file:v0"', r.headers)
    doc = {"project": PID, "container": CID, "default": "deny",
           "groups": {"ops": {"header": "X-Key", "value": "s3cret"}},
           "permissions": {"ops": {"terminal": 2, "http": "8000-8100"}}}
    # missing If-Match 428, stale or malformed 412; nothing changes
    expect(write("PUT", base, doc, ver=None), 428, "PRECONDITION_REQUIRED")
    for bad in ("file:v1", "v0", "file:v", "file:vx", "file:v01", "*", "file:v0 "):
        expect(write("PUT", base, doc, ver=bad), 412, "PRECONDITION_FAILED")
    check(version(base) == 0, "a refused write changed the version")
    r = expect(write("PUT", base, doc, ver=0), 200)
    check(r.data["file_version"] == 1 and r.data["etag"] == "file:v1", r.data)
    check(r.data["groups"] == doc["groups"] and r.data["permissions"] == doc["permissions"], r.data)
    check(r.headers.get("ETag") == '"file:v1"', r.headers)
    # the quoted ETag form is accepted as If-Match too; PATCH is the same verb
    doc["default"] = "allow"
    r = expect(write("PATCH", base, doc, ver='"file:v1"'), 200)
    check(r.data["file_version"] == 2 and r.data["default"] == "allow", r.data)
    expect(write("PATCH", base, doc, ver=1), 412)
    # every view reports the same counter
    for view in ("/settings", "/hooks", "/groups", "/services"):
        check(version(perms() + view) == 2, view)


def test_document_operations():
    base = perms() + "/permissions"
    r = expect(write("PATCH", base + "/default", {"default": "deny"}), 200)
    check(r.data["default"] == "deny", r.data)
    r = expect(write("PATCH", base + "/state", {"enable_proxy": False}), 200)
    check(r.data["enable_proxy"] is False, r.data)
    r = expect(D.get(perms() + "/settings"), 200)
    check(r.data["enable_proxy"] is False and r.data["default"] == "deny", r.data)
    r = expect(write("PUT", perms() + "/settings", {"enable_proxy": True}), 200)
    check(r.data["enable_proxy"] is True and r.data["default"] == "deny", r.data)
    expect(write("PUT", perms() + "/settings", {}), 400)
    # groups of each type
    r = expect(write("PUT", base + "/groups/team/password",
                     {"username": "ann", "password": "plain pw", "salt": "s1"}), 200)
    pw = r.data["groups"]["team"]
    check(re.match(r"^[0-9a-f]{64}$", pw["password"]) and pw["password"] != "plain pw", pw)
    check(pw["algorithm"] == "sha256", pw)
    expect(write("PATCH", base + "/groups/sso/jwt",
                 {"secret": "k", "algorithm": "HS256", "sources": ["header:Authorization"],
                  "claims": {"role": "dev"}}), 200)
    expect(write("PUT", base + "/groups/lan/ip", {"range": "10.1.0.0/16"}), 200)
    r = expect(write("PUT", base + "/permissions/team", {"program": "files", "access": True}), 200)
    check(r.data["permissions"]["team"] == {"files": True}, r.data)
    expect(write("PUT", base + "/permissions/team", {"program": "terminal", "access": [1, 3]}), 200)
    expect(write("PUT", base + "/permissions/lan", {"program": "http", "access": "*"}), 200)
    r = expect(D.get(perms() + "/groups"), 200)
    counts = {g["name"]: g["auth_rule_count"] for g in r.data["groups"]}
    check(counts == {"ops": 2, "team": 2, "sso": 0, "lan": 1}, counts)
    r = expect(D.get(perms() + "/services"), 200)
    check(set(r.data["services"]) == {"terminal", "http", "files"}, r.data)
    r = expect(D.get(perms() + "/services/terminal"), 200)
    check(r.data["permissions_raw"] == {"ops": 2, "team": [1, 3]}, r.data)
    check(r.data["is_reject_listed"] is False and r.data["effective_default"] == "deny", r.data)
    check(D.get(perms() + "/services/logs").data["is_reject_listed"] is True, "logs has no hooks")
    # rules of a group that does not exist: 404 "Group not found"
    r = expect(write("PUT", base + "/permissions/ghost", {"program": "http", "access": True}), 404)
    check("Group not found" in r.json["message"], r.json)
    expect(write("DELETE", base + "/permissions/team/terminal"), 200)
    expect(write("DELETE", base + "/permissions/team/terminal"), 404)
    r = expect(write("DELETE", base + "/permissions/team"), 200)
    check("team" not in r.data["permissions"] and "team" in r.data["groups"], r.data)
    r = expect(write("DELETE", base + "/groups/lan"), 200)
    check("lan" not in r.data["groups"] and "lan" not in r.data["permissions"], r.data)
    expect(write("DELETE", base + "/groups/lan"), 404)
    expect(write("PUT", base + "/groups/x/oauth", {"value": "v"}), 404)


def test_document_validation():
    base = perms() + "/permissions"
    v = version(base)
    bad = [
        (base, {"groups": {"bad name": {"range": "10.0.0.0/8"}}}),
        (base, {"groups": {"g" * 51: {"range": "10.0.0.0/8"}}}),
        (base, {"groups": {"g": {"header": "X", "cookie": "c", "value": "v"}}}),
        (base, {"groups": {"g": {"header": "X", "value": "v", "extra": 1}}}),
        (base, {"groups": {"g": {"value": "v"}}}),
        (base, {"groups": {"g": {"username": "a", "password": "b"}}}),  # no salt
        (base, {"groups": {"g": {"range": "10.0.0.0/33"}}}),
        (base, {"groups": {"g": {"range": "::/0"}}}),
        (base, {"groups": {"g": {"secret": "s", "algorithm": "none", "sources": ["header:A"]}}}),
        (base, {"groups": {"g": {"secret": "s", "algorithm": "HS256", "sources": []}}}),
        (base, {"groups": {"g": {"secret": "s", "algorithm": "HS256", "sources": ["param:t"]}}}),
        (base, {"groups": {"g": {"secret": "not a pem", "algorithm": "RS256",
                                 "sources": ["header:A"]}}}),
        (base, {"groups": {"g": {"range": "10.0.0.0/8"}}, "permissions": {"g": {"files": 2}}}),
        (base, {"groups": {"g": {"range": "10.0.0.0/8"}}, "permissions": {"g": {"http": "9-1"}}}),
        (base, {"groups": {"g": {"range": "10.0.0.0/8"}}, "permissions": {"g": {"http": -1}}}),
        (base, {"groups": {"g": {"range": "10.0.0.0/8"}}, "permissions": {"g": {"HTTP": 1}}}),
        (base, {"groups": {}, "permissions": {"nobody": {"http": True}}}),
        (base, {"default": "maybe"}),
        (base, {"enable_proxy": "yes"}),
        (base, {"container": "0123456789abcdef01234567"}),
        (base, {"project": "0123456789abcdef01234567"}),
        (base, {"surprise": True}),
        (base, {"hooks": {"logs": [{"script": {"path": "/x"}}]}}),
        (base + "/default", {"default": "open"}),
        (base + "/state", {"enable_proxy": 1}),
        (base + "/groups/g/token", {"param": "p", "value": ""}),
    ]
    for path, body in bad:
        expect(write("PUT", path, body, ver=v), 400)
    check(version(base) == v, "a refused write changed the version")
    # a body that is no JSON object
    r = D.request("PUT", base, raw=b"[1]", headers={"If-Match": f"file:v{v}",
                                                    "Content-Type": "application/json"})
    expect(r, 400)


def test_hooks():
    base = perms() + "/hooks/terminal"
    hook = {"match": {"method": ["GET", "POST"], "path": "/api/*"},
            "script": {"path": "/hooks/check.sh"}, "timeout": 2000}
    r = expect(write("POST", base, hook), 201)
    h1 = r.data["hook"]
    check(re.match(r"^[0-9A-HJKMNP-TV-Z]{26}$", h1["id"]) and h1["position"] == 0, h1)
    expect(write("POST", base, {"match": {}, "script": {}}), 422)
    expect(write("POST", base, {"script": {"path": "/x"}, "timeout": 0}), 400)
    expect(write("POST", perms() + "/hooks/proxy", hook), 400)
    expect(write("POST", base, hook, ver=None), 428)
    h2 = expect(write("POST", base, dict(hook, position=0)), 201).data["hook"]
    check(h2["position"] == 0, h2)
    r = expect(D.get(base), 200)
    check([h["id"] for h in r.data["hooks"]] == [h2["id"], h1["id"]], r.data)
    r = expect(write("PATCH", f"{base}/{h2['id']}/position", {"position": 5}), 200)
    check(r.data["hook"]["position"] == 1, r.data)
    r = expect(write("PUT", f"{base}/{h1['id']}", {"script": {"path": "/y"}}), 200)
    check(r.data["hook"]["id"] == h1["id"] and r.data["hook"]["script"]["path"] == "/y", r.data)
    check(expect(D.get(f"{base}/{h1['id']}"), 200).data["hook"]["position"] == 0, "kept")
    expect(D.get(f"{base}/01ARZ3NDEKTSV4RRFFQ69G5FAV"), 404)
    expect(write("DELETE", f"{base}/{h1['id']}"), 200)
    for _ in range(7):
        expect(write("POST", base, hook), 201)
    expect(write("POST", base, hook), 400)  # the ninth of one service
    r = expect(write("DELETE", base), 200)
    check(r.data["removed"] == 8, r.data)
    check(expect(D.get(perms() + "/hooks"), 200).data["hooks"] == {}, "cleared")


def test_container_object_and_projects():
    c = D.get(f"/api/v1/containers/{CID}").data
    check(c["has_proxy_permissions"] is True and c["proxy_permissions_scope"] == "container", c)
    r = D.get(f"/api/v1/containers/{CID}?include_proxy_permissions=true")
    check(r.data["proxy_permissions"]["container"] == CID, r.data.get("proxy_permissions"))
    check(r.data["project_proxy_permissions"] is None, "no project document yet")
    pbase = f"/api/v1/projects/{PID}/proxy/permissions"
    r = expect(D.get(pbase), 200)
    check("container" not in r.data and "hooks" not in r.data and r.data["file_version"] == 0,
          r.data)
    expect(write("PUT", pbase, {"default": "allow", "hooks": {}}, doc=pbase), 400)
    expect(write("PUT", pbase, {"container": CID}, doc=pbase), 400)
    r = expect(write("PUT", pbase, {"default": "allow", "groups": {"all": {"range": "0.0.0.0/0"}},
                                    "permissions": {"all": {"http": 80}}}, doc=pbase), 200)
    check(r.data["file_version"] == 1 and r.data["project"] == PID, r.data)
    expect(write("PUT", pbase + "/groups/k/token", {"cookie": "k", "value": "v"}, doc=pbase), 200)
    c = D.get(f"/api/v1/containers/{CID}?include_proxy_permissions=true").data
    check(c["proxy_permissions_scope"] == "both", c["proxy_permissions_scope"])
    check(c["project_proxy_permissions"]["default"] == "allow", c["project_proxy_permissions"])
    lst = D.get(f"/api/v1/projects/{PID}/containers?include_proxy_permissions=true").data
    mine = [x for x in lst["containers"] if x["id"] == CID][0]
    check(mine["proxy_permissions_scope"] == "both" and "proxy_permissions" in mine, mine.keys())
    # deleting the container's document leaves the project's
    base = perms() + "/permissions"
    v = version(base)
    r = expect(write("DELETE", base, ver=v), 200)
    check(r.data["file_version"] == v + 1, r.data)
    r = expect(D.get(base), 200)
    check(r.data["exists"] is False and r.data["file_version"] == v + 1, r.data)
    expect(write("DELETE", base), 404)
    c = D.get(f"/api/v1/containers/{CID}").data
    check(c["proxy_permissions_scope"] == "project" and c["has_proxy_permissions"], c)
    expect(write("DELETE", pbase, doc=pbase), 200)
    c = D.get(f"/api/v1/containers/{CID}").data
    check(c["proxy_permissions_scope"] == "none" and not c["has_proxy_permissions"], c)
    # events of every document change
    r = D.get(f"/api/v1/events?event_type=proxy.permissions.updated&limit=500")
    check(any(e["resource_id"] == PID for e in r.data["events"]), "project update event")
    r = D.get(f"/api/v1/events?event_type=proxy.permissions.deleted&limit=500")
    check({e["resource_id"] for e in r.data["events"]} >= {PID, CID}, r.data)


def test_tenancy():
    bob = D.new_user("bob-proxy")
    bpid = D.new_project(alias="bob-p", token=bob)
    base = perms() + "/permissions"
    v = version(base)
    for path in (base, perms() + "/settings", perms() + "/hooks", f"/api/v1/projects/{PID}"
                 "/proxy/permissions"):
        expect(D.get(path, token=bob), 404)
    expect(write("PUT", base, {"default": "allow"}, ver=v, token=bob), 404)
    expect(write("PUT", f"/api/v1/projects/{PID}/proxy/permissions", {"default": "allow"},
                 ver=0, token=bob), 404)
    check(version(base) == v, "bob changed alice's document")
    expect(D.post("/api/v1/proxy/aliases", {"container_id": CID, "program": "http"}, token=bob),
           404)
    # a token without resources.proxy_aliases is refused, with it allowed
    r = D.post("/api/v1/auth/tokens", {"alias": "narrow",
                                       "permissions": {"containers": True, "projects": True}})
    narrow = r.data["token"]
    expect(D.get(base, token=narrow), 403, "INSUFFICIENT_PERMISSIONS")
    expect(D.get("/api/v1/proxy/aliases", token=narrow), 403)
    expect(D.get(f"/api/v1/containers/{CID}?include_proxy_permissions=true", token=narrow), 403)
    expect(D.get(f"/api/v1/projects/{bpid}/proxy/permissions", token=bob), 200)
    expect(D.get("/api/v1/containers/nothex/proxy/permissions"), 400, "INVALID_ID_FORMAT")
    expect(D.get("/api/v1/containers/0123456789abcdef01234567/proxy/permissions"), 404)


def alias(body, status=201, token=...):
    return expect(D.post("/api/v1/proxy/aliases", body, token=token), status)


def test_aliases():
    r = alias({"container_id": CID, "alias": "my-app", "program": "http-3000",
               "target_path": "app/v1", "allow_path_override": False})
    a = r.data
    check(a["program"] == "http" and a["index"] == 3000 and a["target_path"] == "/app/v1", a)
    check(a["allow_path_override"] is False and a["enabled"] is True and a["expires_at"] is None, a)
    check(a["url"] == f"https://my-app.{a['server_name']}.containers.hoody.local", a)
    check(a["container_id"] == CID and a["project_id"] == PID and a["server_id"] == D.server_id(),
          a)
    # random name; port precedence; kit programs with an index; the long notifications name
    r = alias({"container_id": CID, "program": "https-8443", "port": 9443})
    check(HEX48.match(r.data["alias"]) and r.data["index"] == 9443, r.data)
    r = alias({"container_id": CID, "alias": None, "program": "terminal", "index": 2})
    check(r.data["program"] == "terminal" and r.data["index"] == 2, r.data)
    r = alias({"container_id": CID, "alias": "notes-app", "program": "notifications"})
    check(r.data["program"] == "notifications" and r.data["index"] == 1, r.data)
    # validation, reserved names, uniqueness
    for body in ({"program": "http"}, {"container_id": CID}, {"container_id": CID, "program": "ftp"},
                 {"container_id": CID, "program": "http", "alias": "ab"},
                 {"container_id": CID, "program": "http", "alias": "-abc"},
                 {"container_id": CID, "program": "http", "alias": "Abc"},
                 {"container_id": CID, "program": "http", "alias": "a" * 62},
                 {"container_id": CID, "program": "http", "port": 70000},
                 {"container_id": CID, "program": "files", "port": 80},
                 {"container_id": CID, "program": "http", "expires_at": "2001-01-01T00:00:00Z"},
                 {"container_id": CID, "program": "http", "expires_at": "soon"},
                 {"container_id": CID, "program": "http", "target_path": "/a b"},
                 {"container_id": CID, "program": "http", "colour": "red"}):
        alias(body, 400)
    for name in ("proxy", "containers", "workspaces", "proxy-x", "workspaces-1",
                 f"{PID}-{CID}-http-80"):
        r = alias({"container_id": CID, "program": "http", "alias": name}, 400)
        check("reserved" in r.json["message"], r.json)
    alias({"container_id": CID, "program": "http", "alias": "my-app"}, 409)
    other = D.create_container(PID, name="other")["id"]
    alias({"container_id": other, "program": "http", "alias": "my-app"}, 409)
    alias({"container_id": "0123456789abcdef01234567", "program": "http"}, 404)
    alias({"container_id": "zz", "program": "http"}, 400)

    # get, update, state, list filters
    r = expect(D.get(f"/api/v1/proxy/aliases/{a['id']}"), 200)
    check(r.data["container"] == {"id": CID, "name": "proxy-main"}, r.data)
    check(r.data["project"]["id"] == PID and r.data["project"]["alias"] == "proxy-p", r.data)
    r = expect(D.patch(f"/api/v1/proxy/aliases/{a['id']}",
                       {"alias": "my-app-2", "allow_path_override": True, "target_path": None}), 200)
    check(r.data["alias"] == "my-app-2" and r.data["target_path"] is None, r.data)
    check(r.data["allow_path_override"] is True and r.data["index"] == 3000, r.data)
    alias({"container_id": other, "program": "http", "alias": "my-app"})  # the old name is free
    expect(D.patch(f"/api/v1/proxy/aliases/{a['id']}", {"container_id": other}), 400)
    expect(D.patch(f"/api/v1/proxy/aliases/{a['id']}", {"alias": "proxy-1"}), 400)
    expect(D.patch(f"/api/v1/proxy/aliases/{a['id']}/state", {}), 400)
    r = expect(D.patch(f"/api/v1/proxy/aliases/{a['id']}/state", {"enabled": False}), 200)
    check(r.data["enabled"] is False, r.data)
    lst = D.get(f"/api/v1/proxy/aliases?container_id={CID}").data
    check(lst["count"] == 4 and len(lst["aliases"]) == 4, lst)
    off = D.get(f"/api/v1/proxy/aliases?container_id={CID}&enabled=false").data["aliases"]
    check([x["id"] for x in off] == [a["id"]], off)
    check(D.get(f"/api/v1/proxy/aliases?project_id={PID}").data["count"] == 5, "by project")
    expect(D.get("/api/v1/proxy/aliases?enabled=maybe"), 400)
    expect(D.get("/api/v1/proxy/aliases?container_id=xyz"), 400)

    # the container object counts them and lists them on request
    c = D.get(f"/api/v1/containers/{CID}?include_proxy_domains=true").data
    check(c["has_proxy_domains"] is True and c["proxy_domains_count"] == 4, c)
    check(len(c["proxy_domains"]) == 4 and set(c["proxy_domains"][0]) ==
          {"id", "alias", "program", "index", "target_path", "allow_path_override", "expires_at",
           "enabled", "created_at", "updated_at", "url"}, c["proxy_domains"][0])

    # another user sees none of it
    bob = D.new_user("bob-alias")
    check(D.get("/api/v1/proxy/aliases", token=bob).data["count"] == 0, "bob lists alice's")
    expect(D.get(f"/api/v1/proxy/aliases/{a['id']}", token=bob), 404)
    expect(D.delete(f"/api/v1/proxy/aliases/{a['id']}", token=bob), 404)
    expect(D.patch(f"/api/v1/proxy/aliases/{a['id']}/state", {"enabled": True}, token=bob), 404)

    # delete: gone at once
    expect(D.delete(f"/api/v1/proxy/aliases/{a['id']}"), 200)
    expect(D.get(f"/api/v1/proxy/aliases/{a['id']}"), 404)
    expect(D.delete(f"/api/v1/proxy/aliases/{a['id']}"), 404)
    types = {e["event_type"] for e in D.get(f"/api/v1/events?resource_id={a['id']}&limit=50")
             .data["events"]}
    check(types == {"proxy.alias.created", "proxy.alias.updated", "proxy.alias.disabled",
                    "proxy.alias.deleted"}, types)


def test_alias_expiry():
    def make(at, _):
        soon = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + ".000Z"
        a = alias({"container_id": CID, "program": "files", "expires_at": soon}).data
        check(a["expires_at"] == soon, a)
        return a

    def live(a):
        got = D.get(f"/api/v1/proxy/aliases?container_id={CID}&expired=false").data["aliases"]
        return a["id"] in [x["id"] for x in got]
    a = expiring(make, live, lambda a: expect(D.delete(f"/api/v1/proxy/aliases/{a['id']}"), 200))
    exp = D.get(f"/api/v1/proxy/aliases?container_id={CID}&expired=true").data["aliases"]
    check([x["id"] for x in exp] == [a["id"]], exp)
    # update accepts unix seconds, ms and null
    later = int(time.time()) + 3600
    r = expect(D.patch(f"/api/v1/proxy/aliases/{a['id']}", {"expires_at": later}), 200)
    check(r.data["expires_at"].startswith(time.strftime("%Y-%m-%dT%H", time.gmtime(later))), r.data)
    r = expect(D.patch(f"/api/v1/proxy/aliases/{a['id']}", {"expires_at": later * 1000}), 200)
    r = expect(D.patch(f"/api/v1/proxy/aliases/{a['id']}", {"expires_at": None}), 200)
    check(r.data["expires_at"] is None, r.data)
    expect(D.patch(f"/api/v1/proxy/aliases/{a['id']}", {"expires_at": 5}), 400)


def cli(*args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOODY_")}
    env.update(HOME=tempfile.mkdtemp(prefix="hoody-proxy-cli-"))
    return subprocess.run([HOODY, "--base-url", D.base, "--token", D.token] + list(args),
                          capture_output=True, text=True, env=env, timeout=120)


def ok(p):
    check(p.returncode == 0, f"{p.args[5:]}: rc={p.returncode} {p.stderr} {p.stdout}")
    return p.stdout


def test_cli():
    cid = D.create_container(PID, name="cli-target")["id"]
    a = json.loads(ok(cli("proxy", "create", "-c", cid, "--alias", "cli-app", "--program",
                          "http-8000", "--target-path", "/x", "-o", "json")))
    check(a["alias"] == "cli-app" and a["index"] == 8000 and a["target_path"] == "/x", a)
    out = ok(cli("proxy", "list", "--container-id", cid))
    check("cli-app" in out and a["id"] in out, out)
    check(ok(cli("proxy", "list", "--container-id", cid, "-q")).split() == [a["id"]], "quiet")
    got = json.loads(ok(cli("proxy", "get", a["id"], "-o", "json")))
    check(got["container"]["id"] == cid, got)
    upd = json.loads(ok(cli("proxy", "update", a["id"], "--no-allow-path-override", "-o", "json")))
    check(upd["allow_path_override"] is False, upd)
    check(json.loads(ok(cli("proxy", "disable", a["id"], "-o", "json")))["enabled"] is False, "off")
    check(json.loads(ok(cli("proxy", "enable", a["id"], "-o", "json")))["enabled"] is True, "on")
    p = cli("proxy", "create", "-c", cid, "--alias", "proxy", "--program", "http")
    check(p.returncode == 1 and "reserved" in p.stderr, p.stderr)
    p = cli("proxy", "create", "-c", cid, "--alias", "cli-app", "--program", "http")
    check(p.returncode == 5, p.stderr)  # 409

    # permissions through the CLI: each write reads the version first
    ok(cli("proxy", "permissions", "group", "-c", cid, "ops", "token", "--json",
           '{"header":"X-Key","value":"s3cret"}'))
    ok(cli("proxy", "permissions", "allow", "-c", cid, "ops", "terminal", "2"))
    ok(cli("proxy", "permissions", "allow", cid, "ops", "http", "8000-8100"))
    ok(cli("proxy", "permissions", "default", "-c", cid, "allow"))
    ok(cli("proxy", "permissions", "disable", "-c", cid))
    doc = json.loads(ok(cli("proxy", "permissions", "get", "-c", cid)))
    check(doc["permissions"]["ops"] == {"terminal": 2, "http": "8000-8100"}, doc)
    check(doc["default"] == "allow" and doc["enable_proxy"] is False and doc["file_version"] == 5,
          doc)
    p = cli("proxy", "permissions", "enable", "-c", cid, "--if-match", "file:v1")
    check(p.returncode == 1 and "file:v5" in p.stderr, p.stderr)  # 412 names the version
    ok(cli("proxy", "permissions", "revoke", "-c", cid, "ops", "terminal"))
    ok(cli("proxy", "permissions", "ungroup", "-c", cid, "ops"))
    ok(cli("proxy", "permissions", "default", "--project", PID, "deny"))
    check(D.get(f"/api/v1/projects/{PID}/proxy/permissions").data["exists"] is True, "project")
    ok(cli("proxy", "permissions", "delete", "-c", cid, "-y"))
    check(D.get(f"/api/v1/containers/{cid}/proxy/permissions").data["exists"] is False, "gone")

    # the seeds' safe deletion workflow: delete the container, then its alias
    ok(cli("containers", "delete", cid, "-y"))
    deadline = time.time() + 60
    while D.get(f"/api/v1/containers/{cid}").status != 404 and time.time() < deadline:
        time.sleep(0.1)
    listed = D.get(f"/api/v1/proxy/aliases?container_id={cid}").data["aliases"]
    check([x["id"] for x in listed] == [a["id"]], "the alias outlives its container")
    out = ok(cli("proxy", "delete", a["id"]))
    check("Deleted proxy alias" in out, out)
    expect(D.get(f"/api/v1/proxy/aliases/{a['id']}"), 404)
    p = cli("proxy", "delete", a["id"])
    check(p.returncode == 4, p.stderr)


def run_all():
    global D, PID, CID
    with Daemon() as d:
        D = d
        PID = d.new_project(alias="proxy-p")
        CID = d.create_container(PID, name="proxy-main")["id"]
        tests = [test_document_concurrency, test_document_operations, test_document_validation,
                 test_hooks, test_container_object_and_projects, test_tenancy, test_aliases,
                 test_alias_expiry, test_cli]
        main(tests)


if __name__ == "__main__":
    run_all()
