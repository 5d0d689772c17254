"""What a client generated from the public Hoody API relies on (issue 17):
env PATCH, rental objects, servers/available, tokens/me nesting, fields the
public API defines, 404 (not 405) for sub-resources this server lacks, token
copy and realm edits, image fields, login defaults, stats of a stopped
container, realm_id on single resources. Shapes follow
shared/reference/hoody-api.md field by field."""
import os
import re
import struct
import zlib

from hoody_test import Daemon, check, main

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
HEX24 = re.compile(r"^[0-9a-f]{24}$")
MISSING = "ffffffffffffffffffffffff"
R1, R2 = "a1" * 12, "b2" * 12

D = None


def is_error(r, status, code, mentions=None):
    ok = r.status == status and r.code == code and (r.json or {}).get("statusCode") == status
    if ok and mentions:
        ok = mentions in r.json.get("message", "")
    return ok


def host(realm):
    return {"Host": f"{realm}.api.hoody.local"}


def new_token(tok=..., **fields):
    r = D.post("/api/v1/auth/tokens", fields, token=tok)
    check(r.status == 201, r)
    return r.data


def new_user_id(name):
    """(user id, JWT) of a fresh user."""
    jwt = D.new_user(name)
    return D.get("/api/v1/users/me", token=jwt).data["id"], jwt


# ---------------------------------------------------------------- item 1

def test_env_patch():
    pid = D.new_project()
    c = D.create_container(pid)
    url = f"/api/v1/containers/{c['id']}/env"
    r = D.patch(f"{url}/GREETING", {"value": "hello"})
    check(r.status == 200 and r.data["environment_vars"]["GREETING"] == "hello", r)
    check(D.get(url).data["environment_vars"]["GREETING"] == "hello", "stored")
    r = D.patch(f"{url}/GREETING", {"value": "again"})
    check(r.status == 200 and r.data["environment_vars"]["GREETING"] == "again", r)
    # bad input changes nothing
    check(is_error(D.patch(f"{url}/HOODY_X", {"value": "v"}), 400, "RESERVED_ENV_PREFIX"), "prefix")
    check(is_error(D.patch(f"{url}/1BAD", {"value": "v"}), 400, "INVALID_ENV_KEY"), "key")
    check(is_error(D.patch(f"{url}/GREETING", {"value": 5}), 400, "VALIDATION_ERROR"), "type")
    check(is_error(D.patch(f"{url}/GREETING", {"value": "x", "extra": 1}), 400,
                   "VALIDATION_ERROR"), "unknown field")
    check(D.get(url).data["environment_vars"]["GREETING"] == "again", "unchanged")
    other = D.new_user("env-stranger")
    check(is_error(D.patch(f"{url}/GREETING", {"value": "x"}, token=other), 404,
                   "CONTAINER_NOT_FOUND"), "other tenant")
    check(D.delete(f"/api/v1/containers/{c['id']}").status == 200, "cleanup")


# ---------------------------------------------------------------- item 2

RENTAL_KEYS = {"id", "server_id", "status", "is_free_tier", "pool_id", "rental_start",
               "rental_end", "remaining_days", "amount", "setup_fee_cents", "total_paid_cents",
               "renewal_pricing_frozen", "server"}
FLAT_KEYS = {"server_name", "name", "is_ready", "is_free", "country", "region", "city",
             "datacenter", "specs", "container_capacity", "expires_at", "created_at"}
SERVER_KEYS = {"id", "name", "country", "region", "city", "datacenter", "model", "is_vm",
               "container_capacity", "specs"}


def host_disks():
    """Whole disks as /sys/block lists them (the same rule as the daemon's)."""
    skip = ("loop", "ram", "zram", "dm-", "md", "sr", "nbd", "fd")
    out = {}
    for name in os.listdir("/sys/block"):
        if name.startswith(skip):
            continue
        with open(f"/sys/block/{name}/size") as f:
            sectors = int(f.read())
        if sectors > 0:
            out[name] = round(sectors * 512 / 1e9)
    return out


def check_server_object(s, sid, used, cap=None):
    check(set(s) == SERVER_KEYS, f"server keys {sorted(s)}")
    check(s["id"] == sid and isinstance(s["name"], str) and s["name"], s)
    for k in ("country", "region", "city", "datacenter", "model"):
        check(isinstance(s[k], str), (k, s[k]))
    check(type(s["is_vm"]) is bool, s)
    cc = s["container_capacity"]
    check(set(cc) == {"used", "max"} and cc["used"] == used, (cc, used))
    check(type(cc["max"]) is int and cc["max"] >= 1 and (cap is None or cc["max"] == cap), cc)
    sp = s["specs"]
    check(set(sp) == {"cpu", "ram", "disks", "network", "additional"}, sp)
    cpu = sp["cpu"]
    check(set(cpu) == {"model", "cores", "threads", "score", "score_type"}, cpu)
    with open("/proc/cpuinfo") as f:
        threads = sum(1 for line in f if line.startswith("processor"))
    check(cpu["threads"] == threads and 1 <= cpu["cores"] <= threads, (cpu, threads))
    check(isinstance(cpu["model"], str) and type(cpu["score"]) is int, cpu)
    check(isinstance(cpu["score_type"], str), cpu)
    ram = sp["ram"]
    check(set(ram) == {"capacity_gb", "type", "speed_mhz"}, ram)
    with open("/proc/meminfo") as f:
        kb = int(f.readline().split()[1])
    check(abs(ram["capacity_gb"] - kb / 1048576) <= 1, (ram, kb))
    check(isinstance(ram["type"], str) and type(ram["speed_mhz"]) is int, ram)
    dk = sp["disks"]
    check(set(dk) == {"config", "total_gb", "summary"} and isinstance(dk["summary"], str), dk)
    for d in dk["config"]:
        check(set(d) == {"count", "capacity_gb", "type", "interface", "model"}, d)
        check(d["count"] >= 1 and d["type"] in ("NVMe", "SSD", "HDD"), d)
    disks = host_disks()
    check(sum(d["count"] for d in dk["config"]) == len(disks), (dk, disks))
    check(dk["total_gb"] == sum(disks.values()) ==
          sum(d["count"] * d["capacity_gb"] for d in dk["config"]), (dk, disks))
    net = sp["network"]
    check(set(net) == {"bandwidth_mbps", "bandwidth_formatted", "traffic_tb",
                       "traffic_unlimited"}, net)
    check(type(net["bandwidth_mbps"]) is int and isinstance(net["bandwidth_formatted"], str), net)
    check(net["traffic_unlimited"] is True, net)
    add = sp["additional"]
    check(set(add) == {"ipv4_count", "ipv6_enabled"} and type(add["ipv4_count"]) is int, add)
    check(type(add["ipv6_enabled"]) is bool, add)


def check_rental(r, sid, used, one=False, cap=None):
    want = RENTAL_KEYS | FLAT_KEYS | ({"usage_days", "hold_days"} if one else set())
    check(set(r) == want, f"rental keys: {sorted(set(r) ^ want)}")
    check(r["id"] == sid and r["server_id"] == sid and HEX24.match(sid), r)
    check(r["status"] == "active" and r["is_free_tier"] is True, r)
    check(r["pool_id"] is None and r["rental_end"] is None and r["remaining_days"] is None, r)
    check(ISO.match(r["rental_start"]) and r["rental_start"] == r["created_at"], r)
    for k in ("amount", "setup_fee_cents", "total_paid_cents"):
        check(r[k] == 0 and type(r[k]) is int, (k, r[k]))
    check(r["renewal_pricing_frozen"] is False, r)
    if one:
        check(type(r["usage_days"]) is int and r["usage_days"] >= 0, r)
        check(type(r["hold_days"]) is int and r["hold_days"] >= 0, r)
    check_server_object(r["server"], sid, used, cap)
    # the flat fields of earlier versions stay and agree
    check(r["server_name"] == r["name"] == r["server"]["name"], r)
    check(r["container_capacity"] == r["server"]["container_capacity"], r)
    for k in ("country", "region", "city", "datacenter"):
        check(r[k] == r["server"][k], (k, r))


def test_rental_shape():
    sid = D.server_id()
    uid, jwt = new_user_id("renter")
    stranger = D.new_user("renter-stranger")
    pid = D.new_project(token=jwt)
    c = D.create_container(pid, token=jwt)
    admin_used = D.get("/api/v1/servers").data[0]["container_capacity"]["used"]
    check(admin_used >= 1, "the admin sees every tenant's containers")
    for path in ("/api/v1/servers", "/api/v1/rentals"):
        r = D.get(path, token=jwt)
        check(r.status == 200 and isinstance(r.data, list) and len(r.data) == 1, r)
        check_rental(r.data[0], sid, used=1)
        r = D.get(f"{path}/{sid}", token=jwt)
        check(r.status == 200, r)
        check_rental(r.data, sid, used=1, one=True)
        # another tenant sees only its own count: none
        check_rental(D.get(f"{path}/{sid}", token=stranger).data, sid, used=0, one=True)
        check(is_error(D.get(f"{path}/nope", token=jwt), 400, "INVALID_ID_FORMAT"), path)
        check(is_error(D.get(f"{path}/{MISSING}", token=jwt), 404, "RESOURCE_NOT_FOUND"), path)
    check(D.get("/api/v1/servers", token=None).status == 401, "needs auth")
    # the container's server member has string locations too
    got = D.get(f"/api/v1/containers/{c['id']}", token=jwt).data["server"]
    check(all(isinstance(got[k], str) for k in ("country", "country_name", "region", "city",
                                                "datacenter")), got)
    check(D.delete(f"/api/v1/containers/{c['id']}", token=jwt).status == 200, "cleanup")


def test_location_and_cap_from_config():
    loc = ["--server-country", "DE", "--server-region", "eu-central", "--server-city", "Berlin",
           "--server-datacenter", "fra1", "--server-max-containers", "7"]
    with Daemon(extra_args=loc) as d:
        r = d.get("/api/v1/servers").data[0]
        check((r["country"], r["region"], r["city"], r["datacenter"]) ==
              ("DE", "eu-central", "Berlin", "fra1"), r)
        s = r["server"]
        check((s["country"], s["city"]) == ("DE", "Berlin"), s)
        check(s["container_capacity"] == {"used": 0, "max": 7}, s)
        a = d.get("/api/v1/servers/available?country=de&region=EU-CENTRAL")
        check(a.status == 200 and len(a.data) == 1 and a.data[0]["id"] == r["id"], a)
        check(d.get("/api/v1/servers/available?country=FR").data == [], "country filter")


# ---------------------------------------------------------------- servers/available

def test_servers_available():
    sid = D.server_id()
    jwt = D.new_user("market")
    r = D.get("/api/v1/servers/available", token=jwt)
    check(r.status == 200 and isinstance(r.data, list) and len(r.data) == 1, r)
    s = r.data[0]
    check(s["server_id"] == sid and s["is_free"] is True and s["price_per_day"] == 0, s)
    s = {k: v for k, v in s.items() if k not in ("server_id", "is_free", "price_per_day")}
    check_server_object(s, sid, used=0)
    ram = s["specs"]["ram"]["capacity_gb"]
    cores = s["specs"]["cpu"]["cores"]
    kinds = ",".join(d["type"] for d in s["specs"]["disks"]["config"])

    def ids(query):
        r = D.get(f"/api/v1/servers/available?{query}", token=jwt)
        check(r.status == 200, (query, r))
        return [x["id"] for x in r.data]

    check(ids(f"min_ram_gb={ram}") == [sid], "enough RAM")
    check(ids(f"min_ram_gb={ram + 1}") == [], "too little RAM")
    check(ids(f"min_cpu_cores={cores}") == [sid] and ids(f"min_cpu_cores={cores + 1}") == [],
          "cores")
    check(ids(f"disk_types={kinds.lower()}") == [sid], "disk types, any case")
    check(ids("disk_types=tape") == [], "no tape")
    check(ids("max_price_per_day=0&unlimited_traffic_only=true&min_traffic_tb=5") == [sid],
          "free and unmetered")
    check(ids("featured_only=true") == [], "nothing featured")
    check(ids("country=ZZ") == [], "unknown country")
    for bad in ("min_ram_gb=abc", "min_cpu_cores=-1", "max_price_per_day=-1",
                "min_traffic_tb=x", "featured_only=maybe", "country=" + "x" * 201):
        check(is_error(D.get(f"/api/v1/servers/available?{bad}", token=jwt), 400,
                       "VALIDATION_ERROR"), bad)
    check(D.get("/api/v1/servers/available", token=None).status == 401, "needs auth")

    # item 11: maintenance commands
    r = D.get(f"/api/v1/servers/{sid}/available-commands", token=jwt)
    check(r.status == 200 and r.data == [], r)
    check(is_error(D.get("/api/v1/servers/nope/available-commands"), 400,
                   "INVALID_ID_FORMAT"), "bad id")
    check(is_error(D.get(f"/api/v1/servers/{MISSING}/available-commands"), 404,
                   "RESOURCE_NOT_FOUND"), "unknown server")


# ---------------------------------------------------------------- item 6

RESTRICTION_KEYS = {"has_realm_restrictions", "requires_realm_scope", "allowed_realm_ids",
                    "allow_no_realm", "active_realm_id"}


def test_tokens_me():
    plain = new_token(alias="plain")
    r = D.get("/api/v1/auth/tokens/me", token=plain["token"])
    check(r.status == 200 and set(r.data) == {"token", "restrictions"}, r)
    check(r.data["token"]["id"] == plain["id"] and "token" not in r.data["token"], r)
    check(r.data["token"]["alias"] == "plain" and r.data["token"]["prefix"] == "hdy_", r)
    rs = r.data["restrictions"]
    check(set(rs) == RESTRICTION_KEYS, rs)
    check(rs == {"has_realm_restrictions": False, "requires_realm_scope": False,
                 "allowed_realm_ids": [], "allow_no_realm": True, "active_realm_id": None}, rs)

    bound = new_token(realm_ids=[R1])
    r = D.get("/api/v1/auth/tokens/me", token=bound["token"], headers=host(R1))
    check(r.status == 200 and r.data["token"]["id"] == bound["id"], r)
    check(r.data["restrictions"] == {"has_realm_restrictions": True, "requires_realm_scope": True,
                                     "allowed_realm_ids": [R1], "allow_no_realm": True,
                                     "active_realm_id": R1}, r.data)
    scoped = new_token(allow_no_realm=False)
    r = D.get("/api/v1/auth/tokens/me", token=scoped["token"], headers=host(R2))
    check(r.status == 200, r)
    rs = r.data["restrictions"]
    check(rs["requires_realm_scope"] is True and rs["has_realm_restrictions"] is False, rs)
    check(rs["active_realm_id"] == R2 and rs["allow_no_realm"] is False, rs)
    # a session is not a token
    jwt = D.new_user("me-session")
    check(is_error(D.get("/api/v1/auth/tokens/me", token=jwt), 400, "VALIDATION_ERROR"), "jwt")
    check(D.get("/api/v1/auth/tokens/me", token=None).status == 401, "no auth")


# ---------------------------------------------------------------- item 7

def test_accepted_fields():
    t = new_token(alias="store", public_storage={"theme": "dark", "n": [1, 2]}, otp_code="123456")
    check(t["public_storage"] == {"theme": "dark", "n": [1, 2]}, t)
    check(D.get(f"/api/v1/auth/tokens/{t['id']}").data["public_storage"] == t["public_storage"],
          "stored")
    r = D.put(f"/api/v1/auth/tokens/{t['id']}", {"public_storage": "text", "otp_code": "ABCDE12345"})
    check(r.status == 200 and r.data["public_storage"] == "text", r)
    r = D.patch(f"/api/v1/auth/tokens/{t['id']}", {"public_storage": None})
    check(r.status == 200 and r.data["public_storage"] is None, r)
    for bad in ({"otp_code": "12"}, {"otp_code": 123456}, {"otp_code": "12 456"},
                {"public_storage": "x" * 70000}):
        check(is_error(D.post("/api/v1/auth/tokens", bad), 400, "VALIDATION_ERROR"), bad)
    check(is_error(D.post("/api/v1/auth/tokens", {"no_such_field": 1}), 400, "VALIDATION_ERROR"),
          "truly unknown fields are still refused")
    # deny_reauthorization on update has its create meaning
    r = D.patch(f"/api/v1/auth/tokens/{t['id']}", {"deny_reauthorization": True})
    check(r.status == 200 and r.data["permissions"]["resources"]["create_tokens"] is False, r)
    check(r.data["permissions"]["resources"]["vault"] is False and r.data["expires_at"], r)
    check(r.data["permissions"]["containers"]["read"] is True, "the rest is kept")

    uid, _ = new_user_id("with-metadata")
    key = "ab" * 32
    r = D.put(f"/api/v1/users/{uid}", {"metadata": {"team": "blue"}, "public_key": key.upper()})
    check(r.status == 200 and r.data["metadata"] == {"team": "blue"}, r)
    check(r.data["public_key"] == key, r)
    r = D.get(f"/api/v1/users/{uid}")
    check(r.data["metadata"] == {"team": "blue"} and r.data["public_key"] == key, r)
    r = D.patch(f"/api/v1/users/{uid}", {"public_key": None, "metadata": None})
    check(r.status == 200 and r.data["public_key"] is None and r.data["metadata"] == {}, r)
    for bad in ({"metadata": [1]}, {"metadata": "x"}, {"public_key": "zz" * 32},
                {"public_key": "ab"}, {"metadata": {"x": "y" * 20000}}):
        check(is_error(D.put(f"/api/v1/users/{uid}", bad), 400, "VALIDATION_ERROR"), bad)

    r = D.post("/api/v1/users", {"username": "meta-create", "password": "Passw0rd-x",
                                 "metadata": {"a": 1}, "public_key": key})
    check(r.status == 201 and r.data["metadata"] == {"a": 1} and r.data["public_key"] == key, r)

    # login's browser-flow options
    body = {"username": "meta-create", "password": "Passw0rd-x"}
    r = D.post("/api/v1/users/auth/login", dict(body, response_mode="tokens", client="sdk",
                                                code_challenge="abc"), token=None)
    check(r.status == 200 and r.data["token"], r)
    r = D.post("/api/v1/users/auth/login", dict(body, response_mode="intent"), token=None)
    check(r.status == 200 and r.data["token"], "intent is answered with tokens")
    r = D.post("/api/v1/users/auth/login", dict(body, response_mode="bogus"), token=None)
    check(is_error(r, 400, "VALIDATION_ERROR"), r)


# ---------------------------------------------------------------- item 8

def test_404_instead_of_405():
    pid = D.new_project()
    c = D.create_container(pid)
    base = f"/api/v1/containers/{c['id']}"
    for sub in ("network", "firewall", "storage", "proxy", "bogus"):
        for method in ("GET", "PUT", "PATCH", "DELETE", "POST"):
            r = D.request(method, f"{base}/{sub}")
            check(is_error(r, 404, "ROUTE_NOT_FOUND"), (method, sub, r))
    for path in ("network/start", "firewall/rules", "storage/shares"):
        check(is_error(D.get(f"{base}/{path}"), 404, "ROUTE_NOT_FOUND"), path)
    # an operation with the wrong method stays a 405 naming POST
    r = D.get(f"{base}/start")
    check(is_error(r, 405, "METHOD_NOT_ALLOWED") and r.headers.get("Allow") == "POST", r)
    check(D.get(f"{base}/stats").status == 200, "literal routes still win")
    check(D.get(f"{base}/status-logs").status == 200, "status logs")
    # kvm: this server has none
    for method in ("PUT", "PATCH"):
        check(is_error(D.request(method, f"{base}/kvm", {"kvm": True}), 403,
                       "INSUFFICIENT_PERMISSIONS", "KVM"), method)
        check(is_error(D.request(method, f"{base}/kvm", {}), 403, "INSUFFICIENT_PERMISSIONS",
                       "KVM"), "absent means enable")
    r = D.put(f"{base}/kvm", {"kvm": False})
    check(r.status == 200 and r.data == {"container_id": c["id"], "project_id": pid,
                                         "kvm": False}, r)
    check(is_error(D.put(f"{base}/kvm", {"kvm": "yes"}), 400, "VALIDATION_ERROR"), "type")
    check(is_error(D.put(f"{base}/kvm", {"kvm": True, "enabled": False}), 400,
                   "VALIDATION_ERROR"), "disagree")
    check(is_error(D.put(f"{base}/kvm", {"other": 1}), 400, "VALIDATION_ERROR"), "unknown")
    check(is_error(D.put("/api/v1/containers/nope/kvm", {"kvm": True}), 400,
                   "INVALID_ID_FORMAT"), "bad id")
    check(is_error(D.put(f"/api/v1/containers/{MISSING}/kvm", {"kvm": True}), 404,
                   "CONTAINER_NOT_FOUND"), "missing")
    other = D.new_user("kvm-stranger")
    check(is_error(D.put(f"{base}/kvm", {"kvm": False}, token=other), 404,
                   "CONTAINER_NOT_FOUND"), "other tenant")
    check(D.get(base).data["kvm"] is False, "unchanged")
    check(D.delete(base).status == 200, "cleanup")


# ---------------------------------------------------------------- item 11: tokens

def test_token_copy_and_realms():
    orig = new_token(alias="orig", permission_template="read_only", public_storage={"k": 1})
    url = f"/api/v1/auth/tokens/{orig['id']}"
    r = D.post(f"{url}/copy")
    check(r.status == 201, r)
    cp = r.data
    check(cp["id"] != orig["id"] and cp["token"].startswith("hdy_") and
          cp["token"] != orig["token"], cp)
    check(cp["alias"] == "orig-copy" and cp["permissions"] == orig["permissions"], cp)
    check(cp["public_storage"] == {"k": 1} and cp["realm_ids"] == orig["realm_ids"], cp)
    me = D.get("/api/v1/auth/tokens/me", token=cp["token"])
    check(me.status == 200 and me.data["token"]["id"] == cp["id"], "the copy works")
    r = D.post(f"{url}/copy", {"alias": "mine", "expires_at": "tomorrow", "otp_code": "123456"})
    check(r.status == 201 and r.data["alias"] == "mine" and r.data["expires_at"], r)
    # a read-only token cannot copy (no resources.create_tokens)
    check(is_error(D.post(f"/api/v1/auth/tokens/{cp['id']}/copy", token=cp["token"]), 403,
                   "INSUFFICIENT_PERMISSIONS"), "read-only token")

    r = D.post(f"{url}/add-realm", {"realm_id": R1})
    check(r.status == 200 and r.data["realm_ids"] == [R1], r)
    r = D.post(f"{url}/add-realm", {"realm_id": R1, "otp_code": "123456"})
    check(r.status == 200 and r.data["realm_ids"] == [R1], "idempotent")
    r = D.post(f"{url}/add-realm", {"realm_id": R2})
    check(r.data["realm_ids"] == [R1, R2], r)
    r = D.post(f"{url}/remove-realm", {"realm_id": R1})
    check(r.status == 200 and r.data["realm_ids"] == [R2], r)
    r = D.post(f"{url}/remove-realm", {"realm_id": R1})
    check(r.status == 200 and r.data["realm_ids"] == [R2], "removing an absent realm")
    check(D.get(url).data["realm_ids"] == [R2], "stored")
    for bad in (None, {}, {"realm_id": "xyz"}, {"realm_id": 5}, {"realm_id": R1, "x": 1},
                {"realm_id": R1.upper()}):
        for op in ("add-realm", "remove-realm"):
            check(is_error(D.post(f"{url}/{op}", bad), 400, "VALIDATION_ERROR"), (op, bad))
    check(is_error(D.post(f"{url}/copy", {"alias": "bad!alias"}), 400, "VALIDATION_ERROR"), "a")
    check(is_error(D.post(f"{url}/copy", {"permissions": {}}), 400, "VALIDATION_ERROR"), "p")
    for op in ("copy", "add-realm", "remove-realm"):
        body = {"realm_id": R1} if op != "copy" else None
        check(is_error(D.post(f"/api/v1/auth/tokens/{MISSING}/{op}", body), 404,
                       "RESOURCE_NOT_FOUND"), op)
        check(is_error(D.post(f"/api/v1/auth/tokens/nope/{op}", body), 400,
                       "INVALID_ID_FORMAT"), op)
    # another user's token is not found
    other = D.new_user("token-stranger")
    for op in ("copy", "add-realm", "remove-realm"):
        check(D.post(f"{url}/{op}", {"realm_id": R1} if op != "copy" else None,
                     token=other).status == 404, op)
    # a token copies only what it holds itself
    narrow = new_token(permissions={"resources": {"create_tokens": True, "read_account": True}})
    full = new_token(alias="full")
    r = D.post(f"/api/v1/auth/tokens/{full['id']}/copy", token=narrow["token"])
    check(is_error(r, 403, "INSUFFICIENT_PERMISSIONS", "cannot grant"), r)
    r = D.post(f"/api/v1/auth/tokens/{narrow['id']}/copy", token=narrow["token"])
    check(r.status == 201 and r.data["permissions"] == narrow["permissions"], r)
    # a realm-bound token may not move realms
    bound = new_token(realm_ids=[R1])
    r = D.post(f"/api/v1/auth/tokens/{bound['id']}/add-realm", {"realm_id": R2},
               token=bound["token"], headers=host(R1))
    check(is_error(r, 403, "INSUFFICIENT_PERMISSIONS", "realm"), r)


# ---------------------------------------------------------------- item 9: images

IMAGE_KEYS = {"id", "alias", "name", "image_name", "description", "variant", "os", "release",
              "architecture", "size", "price", "rating", "average_rating", "rating_count",
              "icon_url", "is_default", "prespawn", "added_date"}


def test_images():
    r = D.get("/api/v1/images/public?os=busybox")
    check(r.status == 200 and len(r.data["images"]) == 1, r)
    i = r.data["images"][0]
    check(set(i) == IMAGE_KEYS, sorted(set(i) ^ IMAGE_KEYS))
    check(i["image_name"] == "busybox" and isinstance(i["description"], str) and
          i["description"], i)
    check(isinstance(i["variant"], str) and i["rating_count"] == 0, i)
    check(i["average_rating"] is None, i)
    machine = os.uname().machine
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    check(i["architecture"] == arch, (i, machine))
    for name in {arch, machine, arch.upper()}:
        got = D.get(f"/api/v1/images/public?os=busybox&architecture={name}").data["images"]
        check([x["id"] for x in got] == [i["id"]], name)
    wrong = "arm64" if arch == "amd64" else "amd64"
    check(D.get(f"/api/v1/images/public?architecture={wrong}").data["images"] == [], wrong)
    check(i["icon_url"] == f"/api/v1/images/{i['id']}/icon", i)
    r = D.get(i["icon_url"], token=None)
    check(r.status == 200 and r.headers.get("Content-Type") == "image/png", r)
    check(is_error(D.get("/api/v1/images/nope/icon", token=None), 400, "INVALID_ID_FORMAT"), "id")

    # item 11: the user's own imports (none: the operator imports images)
    jwt = D.new_user("image-user")
    r = D.get("/api/v1/images/user", token=jwt)
    check(r.status == 200 and r.data["images"] == [], r)
    check(r.data["pagination"]["total"] == 0 and r.data["pagination"]["limit"] == 20, r)
    check(is_error(D.get("/api/v1/images/user?page=0", token=jwt), 400, "VALIDATION_ERROR"), "p")
    check(is_error(D.get("/api/v1/images/user?sort_by=x", token=jwt), 400, "VALIDATION_ERROR"),
          "sort")
    check(D.get("/api/v1/images/user", token=None).status == 401, "needs auth")


def png_ok(raw):
    """The icon is a PNG that decodes (signature, chunk CRCs, zlib data)."""
    data = raw.encode("latin-1") if isinstance(raw, str) else raw
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return False
    pos = 8
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if zlib.crc32(kind + body) != struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0]:
            return False
        if kind == b"IDAT":
            zlib.decompress(body)
        pos += 12 + n
    return True


def test_icon_decodes():
    import urllib.request
    iid = D.get("/api/v1/images/public?os=busybox").data["images"][0]["id"]
    with urllib.request.urlopen(f"{D.base}/api/v1/images/{iid}/icon") as resp:
        check(png_ok(resp.read()), "placeholder icon is a valid PNG")


# ---------------------------------------------------------------- item 9: login, stats, realms

def test_login_defaults():
    sid = D.server_id()
    pw = "Passw0rd-defaults"
    check(D.post("/api/v1/users", {"username": "defaults", "password": pw}).status == 201, "u")

    def login():
        r = D.post("/api/v1/users/auth/login", {"username": "defaults", "password": pw},
                   token=None)
        check(r.status == 200, r)
        return r.data

    s = login()
    check(s["project"] is None and s["container"] is None, s)
    check(s["server"] is not None and s["server"]["id"] == sid, s)
    check(set(s["server"]) == {"id", "name", "country", "region", "city", "datacenter",
                               "is_ready"}, s["server"])
    check(s["server"]["is_ready"] is True and s["server"]["country"] == "", s["server"])
    jwt = s["token"]
    p1 = D.new_project("first", token=jwt)
    check(login()["project"] == {"id": p1, "alias": "first"}, "only project")
    p2 = D.new_project("second", token=jwt)
    c = D.create_container(p2, token=jwt, name="web")
    s = login()
    check(s["container"] == {"id": c["id"], "name": "web"}, s)
    check(s["project"] == {"id": p2, "alias": "second"} and s["server"]["id"] == sid, s)
    # the most recently used one wins
    c1 = D.create_container(p1, token=jwt, name="api")
    check(login()["container"]["id"] == c1["id"], "newest")
    check(D.post(f"/api/v1/containers/{c['id']}/stop", token=jwt).status == 200, "use web")
    s = login()
    check(s["container"]["id"] == c["id"] and s["project"]["id"] == p2, s)
    for x in (c, c1):
        check(D.delete(f"/api/v1/containers/{x['id']}", token=jwt).status == 200, "cleanup")


def test_stopped_stats_keep_started_at():
    pid = D.new_project()
    c = D.create_container(pid)
    url = f"/api/v1/containers/{c['id']}"
    started = D.get(f"{url}/stats").data["started_at"]
    check(ISO.match(started), started)
    check(D.post(f"{url}/stop").status == 200, "stop")
    s = D.get(f"{url}/stats").data
    check(s["status"] != "Running" and s["started_at"] == started, s)
    check(D.post(f"{url}/start").status == 200, "start")
    again = D.get(f"{url}/stats").data["started_at"]
    check(ISO.match(again) and again > started, (started, again))
    check(D.delete(url).status == 200, "cleanup")


def test_realm_id_scopes_single_resources():
    r = D.post("/api/v1/projects", {"alias": "realm-one", "realm_ids": [R1]})
    check(r.status == 201, r)
    pid = r.data["id"]
    c = D.create_container(pid, realm_ids=[R1])
    for path in (f"/api/v1/projects/{pid}", f"/api/v1/containers/{c['id']}",
                 f"/api/v1/containers/{c['id']}/env", f"/api/v1/containers/{c['id']}/stats"):
        check(D.get(f"{path}?realm_id={R1}").status == 200, path)
        check(D.get(f"{path}?realm_id={R2}").status == 404, path)
        check(is_error(D.get(f"{path}?realm_id=nope"), 400, "VALIDATION_ERROR"), path)
    # a change outside the realm is refused the same way
    check(D.patch(f"/api/v1/containers/{c['id']}?realm_id={R2}", {"comment": "x"}).status == 404,
          "update")
    check(D.get(f"/api/v1/containers/{c['id']}").data.get("comment") is None, "unchanged")
    check(D.delete(f"/api/v1/containers/{c['id']}?realm_id={R1}").status == 200, "cleanup")


if __name__ == "__main__":
    with Daemon() as D:
        main([test_env_patch, test_rental_shape, test_location_and_cap_from_config,
              test_servers_available, test_tokens_me, test_accepted_fields,
              test_404_instead_of_405, test_token_copy_and_realms, test_images,
              test_icon_decodes, test_login_defaults, test_stopped_stats_keep_started_at,
              test_realm_id_scopes_single_resources])
