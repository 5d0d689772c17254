"""Who may reach a container URL, through the real proxy listener (kit-api.md
§2, docs/PROXY.md): the owner's claim pair, other users' claims, each group
type granting exactly what its rules say, ?token= on WebSocket upgrades,
default allow, the enable_proxy kill switch, project documents under
container ones, the API token refused unless a group names it, the
--proxy-open-default setting, and aliases (target_path, allow_path_override,
disabled, expired, renamed, deleted). Transport (streaming, TLS, WebSocket
frames, limits) is tested in test_proxy_edge.py."""
import base64
import hashlib
import hmac
import json
import time

from hoody_test import check, expiring, main
from proxy_util import ProxyDaemon, request, start_upstream, ws_connect

D = None
PID = CID = None
BOB = BOB_PID = BOB_CID = None


def host(segment, cid=None, pid=None):
    return D.host(pid or PID, cid or CID, segment)


def get(segment, path="/hello", headers=None, cid=None, pid=None, h=None):
    return request(D.proxy_port, h or host(segment, cid, pid), path=path, headers=headers)


def expect(r, status, code=None):
    check(r.status == status and (code is None or (r.json or {}).get("code") == code),
          f"want {status} {code or ''}, got {r}")
    if status >= 400:  # the JSON error envelope of kit-api.md 2.4
        check(r.json and r.json.get("statusCode") == status and r.json.get("message"), r)
    return r


def put_doc(doc, cid=None, project=False):
    base = (f"/api/v1/projects/{PID}" if project else f"/api/v1/containers/{cid or CID}") + \
        "/proxy/permissions"
    v = D.get(base).data["file_version"]
    r = D.put(base, doc, headers={"If-Match": f"file:v{v}"})
    check(r.status == 200, r)


def delete_doc(cid=None, project=False):
    base = (f"/api/v1/projects/{PID}" if project else f"/api/v1/containers/{cid or CID}") + \
        "/proxy/permissions"
    cur = D.get(base).data
    if cur["exists"]:
        r = D.delete(base, headers={"If-Match": f"file:v{cur['file_version']}"})
        check(r.status == 200, r)


def test_owner_and_strangers():
    expect(get("http-9000"), 401, "MISSING_TOKEN")
    r = expect(get("http-9000", headers=D.claim_headers(CID)), 200)
    check(r.body == b"hello\n", r)
    # the platform API token is no Kit credential
    expect(get("http-9000", headers={"Authorization": f"Bearer {D.token}"}), 401, "INVALID_TOKEN")
    # bob's valid claim is for his container; alice's claim with bob's token
    expect(get("http-9000", headers=D.claim_headers(BOB_CID, token=BOB)), 403)
    mine = D.claim_headers(CID)
    expect(get("http-9000", headers=dict(mine, **{"X-Hoody-Token": BOB})), 403)
    expect(get("http-9000", headers=dict(mine, **{"X-Hoody-Token": "hdy_" + "x" * 43})), 401)
    broken = json.loads(mine["X-Hoody-Container-Claim"])
    broken["payload_b64"] = broken["payload_b64"][:-2] + ("AA" if broken["payload_b64"][-2:] != "AA"
                                                          else "BB")
    expect(get("http-9000", headers=dict(mine, **{"X-Hoody-Container-Claim": json.dumps(broken)})),
           401)
    # bob's own container answers his claim, not alice's
    start_upstream(D, BOB_CID, 9000)
    expect(get("http-9000", cid=BOB_CID, pid=BOB_PID, headers=D.claim_headers(BOB_CID, token=BOB)),
           200)
    expect(get("http-9000", cid=BOB_CID, pid=BOB_PID, headers=mine), 403)
    # names that are not ours: another server, another project, unknown ids, bad segments
    expect(get("http-9000", h=f"{PID}-{CID}-http-9000.node-other.containers.hoody.local"), 404)
    expect(get("http-9000", pid=BOB_PID, headers=mine), 404)
    expect(get("http-9000", cid="0123456789abcdef01234567", headers=mine), 404)
    expect(get("http-0", headers=mine), 404)
    expect(get("editor-1", headers=mine), 404)
    # a Kit service the owner may reach: the container's agent answers
    expect(get("terminal-1", path="/api/v1/terminal/health", headers=mine), 200)


def test_token_group_rules():
    put_doc({"default": "deny", "groups": {"ops": {"header": "X-Key", "value": "s3cret"}},
             "permissions": {"ops": {"terminal": 2, "http": 9000}}})
    key = {"X-Key": "s3cret"}
    expect(get("http-9000", headers=key), 200)
    expect(get("http-9001", headers=key), 403)          # decided before any backend
    expect(get("terminal-2", path="/api/v1/terminal/health", headers=key), 200)  # reaches the Kit
    expect(get("terminal-1", headers=key), 403)
    expect(get("terminal-2", path="/?terminal_id=1", headers=key), 403)  # §1.4: session 1
    expect(get("files-1", headers=key), 403)
    expect(get("http-9000", headers={"X-Key": "wrong"}), 401, "INVALID_TOKEN")
    expect(get("http-9000"), 401, "MISSING_TOKEN")
    # the owner's claim still works under a document
    expect(get("http-9000", headers=D.claim_headers(CID)), 200)
    # ?token= counts on a WebSocket upgrade only
    expect(get("http-9000", path="/hello?token=s3cret"), 401)
    s, status, head = ws_connect(D.proxy_port, host("http-9000"), path="/ws?token=s3cret",
                                 protocols=["tty"])
    s.close()
    # past the proxy: the test server matches "/ws" exactly, so it answers
    # the query-carrying path with its own plain-text 404 (not the JSON
    # envelope of a refusal)
    check((status == 101 and "tty" in head) or
          (status == 404 and "text/plain" in head and "statusCode" not in head), head)
    s, status, head = ws_connect(D.proxy_port, host("http-9000"), path="/ws", protocols=["tty"])
    s.close()
    check(status == 401, head)


def test_password_jwt_ip_groups():
    salt = "pepper"
    hashed = hashlib.sha256((salt + "open sesame").encode()).hexdigest()
    put_doc({"groups": {"team": {"username": "ann", "password": "open sesame", "salt": salt},
                        "hashed": {"username": "bo", "password": hashed, "salt": salt},
                        "sso": {"secret": "k3y", "algorithm": "HS256",
                                "sources": ["header:Authorization", "cookie:session"],
                                "claims": {"role": "dev"}},
                        "lan": {"range": "127.0.0.0/8"}},
             "permissions": {"team": {"http": [9000, 9100]}, "hashed": {"http": "9000-9001"},
                             "sso": {"http": True}, "lan": {"ssh": True}}})

    def basic(u, p):
        return {"Authorization": "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode()}
    expect(get("http-9000", headers=basic("ann", "open sesame")), 200)
    expect(get("http-9000", headers=basic("bo", "open sesame")), 200)
    expect(get("http-9000", headers=basic("ann", "open sesame!")), 401)
    expect(get("http-9002", headers=basic("ann", "open sesame")), 403)

    def jwt(claims, secret="k3y"):
        def b64(o):
            return base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
        msg = b64({"alg": "HS256", "typ": "JWT"}) + "." + b64(claims)
        sig = hmac.new(secret.encode(), msg.encode(), hashlib.sha256).digest()
        return msg + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    good = jwt({"role": "dev", "exp": int(time.time()) + 300})
    expect(get("http-9000", headers={"Authorization": f"Bearer {good}"}), 200)
    expect(get("http-9000", headers={"Cookie": f"a=b; session={good}"}), 200)
    expect(get("http-9000", headers={"Authorization": "Bearer " + jwt({"role": "ops"})}), 401)
    expect(get("http-9000", headers={"Authorization": "Bearer " + jwt({"role": "dev"}, "x")}), 401)
    expect(get("http-9000", headers={"Authorization": "Bearer " + jwt(
        {"role": "dev", "exp": int(time.time()) - 10})}), 401)
    # the ip group covers loopback but grants ssh only: http stays closed
    expect(get("http-9000"), 401)
    r = get("ssh")
    check(r.status != 401 and r.status != 403 and r.status != 404, r)


def test_default_kill_switch_and_project():
    put_doc({"default": "allow"})
    expect(get("http-9000"), 200)
    put_doc({"default": "allow", "enable_proxy": False})
    expect(get("http-9000"), 403)
    expect(get("http-9000", headers=D.claim_headers(CID)), 403)  # the owner too
    # the API token reaches the Kit when a group names it
    put_doc({"groups": {"api": {"header": "Authorization", "value": D.token}},
             "permissions": {"api": {"http": 9000}}})
    expect(get("http-9000", headers={"Authorization": f"Bearer {D.token}"}), 200)
    # a project document applies to containers without one ...
    delete_doc()
    put_doc({"default": "allow"}, project=True)
    expect(get("http-9000"), 200)
    put_doc({"default": "allow", "enable_proxy": False}, project=True)
    expect(get("http-9000"), 403)
    # ... and the container's own document comes first
    put_doc({"default": "deny", "enable_proxy": True,
             "groups": {"ops": {"param": "k", "value": "v"}}, "permissions": {"ops": {"http": True}}})
    expect(get("http-9000"), 401)
    check(expect(get("http-9000", path="/bytes/3?k=v"), 200).body == b"xxx", "param group")
    delete_doc()
    delete_doc(project=True)
    expect(get("http-9000"), 401)  # private again


def alias(body):
    r = D.post("/api/v1/proxy/aliases", dict(body, container_id=CID))
    check(r.status == 201, r)
    return r.data


def test_aliases():
    put_doc({"default": "allow"})
    a = alias({"alias": "fixed-page", "program": "http-9000", "target_path": "/headers",
               "allow_path_override": False})
    ah = f"fixed-page.node-local.containers.hoody.local"
    r = expect(get(None, path="/anything/else", h=ah), 200)
    check(r.body.startswith(b"GET /headers HTTP/1.1"), r)
    b = alias({"alias": "bytes", "program": "http", "port": 9000, "target_path": "/bytes"})
    r = expect(get(None, path="/7", h="bytes.node-local.containers.hoody.local"), 200)
    check(r.body == b"x" * 7, r)
    # an alias does not change who may reach the program
    delete_doc()
    expect(get(None, path="/7", h="bytes.node-local.containers.hoody.local"), 401)
    expect(get(None, path="/7", h="bytes.node-local.containers.hoody.local",
               headers=D.claim_headers(CID)), 200)
    put_doc({"default": "allow"})
    # disabled, renamed, expired, deleted: 404 at once
    D.patch(f"/api/v1/proxy/aliases/{a['id']}/state", {"enabled": False})
    expect(get(None, h=ah), 404)
    D.patch(f"/api/v1/proxy/aliases/{a['id']}/state", {"enabled": True})
    expect(get(None, h=ah), 200)
    D.patch(f"/api/v1/proxy/aliases/{a['id']}", {"alias": "fixed-page-2"})
    expect(get(None, h=ah), 404)
    expect(get(None, h="fixed-page-2.node-local.containers.hoody.local"), 200)
    def brief(at, attempt):
        soon = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(at)) + ".000Z"
        alias({"alias": f"brief{attempt}", "program": "http-9000", "expires_at": soon})
        return f"brief{attempt}.node-local.containers.hoody.local"
    bh = expiring(brief, lambda bh: get(None, path="/hello", h=bh).status == 200)
    expect(get(None, path="/hello", h=bh), 404)
    D.delete(f"/api/v1/proxy/aliases/{b['id']}")
    expect(get(None, path="/7", h="bytes.node-local.containers.hoody.local"), 404)
    expect(get(None, h="proxy-x.node-local.containers.hoody.local"), 404)
    delete_doc()


def test_open_default():
    with ProxyDaemon(["--proxy-open-default"]) as d:
        pid = d.new_project(alias="open")
        cid = d.create_container(pid, name="open-c")["id"]
        start_upstream(d, cid, 9000)
        r = request(d.proxy_port, d.host(pid, cid, "http-9000"), path="/hello")
        check(r.status == 200 and r.body == b"hello\n", r)
        doc = d.get(f"/api/v1/containers/{cid}/proxy/permissions").data
        check(doc["default"] == "allow" and doc["exists"] is False, doc)
        # a written document is not affected by the setting
        r = d.put(f"/api/v1/containers/{cid}/proxy/permissions", {"default": "deny"},
                  headers={"If-Match": "file:v0"})
        check(r.status == 200, r)
        r = request(d.proxy_port, d.host(pid, cid, "http-9000"), path="/hello")
        check(r.status == 401, r)


def run_all():
    global D, PID, CID, BOB, BOB_PID, BOB_CID
    with ProxyDaemon() as d:
        D = d
        PID = d.new_project(alias="auth-p")
        CID = d.create_container(PID, name="auth-c")["id"]
        start_upstream(d, CID, 9000)
        BOB = d.new_user("bob-kit")
        BOB_PID = d.new_project(alias="bob-p", token=BOB)
        BOB_CID = d.create_container(BOB_PID, token=BOB, name="bob-c")["id"]
        main([test_owner_and_strangers, test_token_group_rules, test_password_jwt_ip_groups,
              test_default_kill_switch_and_project, test_aliases, test_open_default])


if __name__ == "__main__":
    run_all()
