"""Authentication end to end: JWT sessions (login, refresh, logout, me), hdy_
auth tokens (CRUD, secret shown once, validation, expiry, disabling,
permissions, realms, IP allow-lists), banned accounts and admin endpoints."""
import glob
import hashlib
import os
import subprocess
import time

from hoody_test import BIN, Daemon, check, expiring, main

D = None
REALM_A = "aaaaaaaaaaaaaaaaaaaaaaaa"
REALM_B = "bbbbbbbbbbbbbbbbbbbbbbbb"


def login(name, pw=None):
    pw = pw or "Passw0rd-" + name
    return D.post("/api/v1/users/auth/login", {"username": name, "password": pw}, token=None)


def new_token(tok=..., **fields):
    r = D.post("/api/v1/auth/tokens", fields, token=tok)
    check(r.status == 201, r)
    return r.data


def me(tok, **kw):
    return D.get("/api/v1/users/me", token=tok, **kw)


def user_id(name):
    r = D.post("/api/v1/users/auth/login", {"username": name, "password": "Passw0rd-" + name},
               token=None)
    check(r.status == 200, r)
    return r.data["user"]["id"]


def test_login_refresh_logout():
    jwt = D.new_user("alice")
    r = D.get("/api/v1/users/auth/me", token=jwt)
    check(r.status == 200 and r.data["username"] == "alice" and not r.data["is_admin"], r)
    check(me(jwt).data["id"] == r.data["id"], "GET /users/me is an alias of /users/auth/me")

    r = login("alice")
    check(r.status == 200, r)
    s = r.data
    for k in ("token", "refreshToken", "expires_at", "expires_in", "refresh_expires_at",
              "refresh_expires_in", "user"):
        check(k in s, f"login data lacks {k}: {s}")
    check(s["expires_in"] == 86400 and s["refresh_expires_in"] == 604800, s)
    check("password_hash" not in s["user"], s["user"])

    # refresh: body and bearer, as the reference's gotcha says; each refresh
    # token works once (rotation: test_auth_holes.test_refresh_rotation)
    r = D.post("/api/v1/users/auth/refresh", {"refreshToken": s["refreshToken"]},
               token=s["refreshToken"])
    check(r.status == 200 and r.data["token"] != s["token"], r)
    fresh = r.data["token"]
    check(me(fresh).status == 200, "refreshed JWT works")
    # only the body, then only the header
    r = D.post("/api/v1/users/auth/refresh", {"refreshToken": r.data["refreshToken"]},
               token=None)
    check(r.status == 200, f"refresh with body only: {r}")
    r = D.post("/api/v1/users/auth/refresh", token=r.data["refreshToken"])
    check(r.status == 200, f"refresh with header only: {r}")
    fresh = r.data["token"]
    # an access token is not a refresh token, and the reverse
    r = D.post("/api/v1/users/auth/refresh", {"refreshToken": s["token"]}, token=None)
    check(r.status == 401 and r.code == "INVALID_TOKEN", r)
    r = me(s["refreshToken"])
    check(r.status == 401 and r.code == "INVALID_TOKEN", r)

    # an hdy_ token survives logout, JWTs do not
    hdy = new_token(tok=jwt)["token"]
    r = D.post("/api/v1/users/auth/logout", token=fresh)
    check(r.status == 200, r)
    for t in (jwt, fresh, s["token"]):
        r = me(t)
        check(r.status == 401 and r.code == "INVALID_TOKEN", r)
    r = D.post("/api/v1/users/auth/refresh", {"refreshToken": s["refreshToken"]}, token=None)
    check(r.status == 401, r)
    check(me(hdy).status == 200, "hdy_ token still works after logout")
    check(me(login("alice").data["token"]).status == 200, "a new login works after logout")


def test_login_failures():
    D.new_user("carol")
    r = login("carol", "Wrong-passw0rd")
    check(r.status == 401 and r.code == "INVALID_CREDENTIALS", r)
    r = login("nobody-here")
    check(r.status == 401 and r.code == "INVALID_CREDENTIALS", r)
    r = D.post("/api/v1/users/auth/login", {"username": "carol"}, token=None)
    check(r.status == 400 and "password" in r.json["message"], r)
    r = D.post("/api/v1/users/auth/login", {"password": "x"}, token=None)
    check(r.status == 400 and r.code == "VALIDATION_ERROR", r)
    r = D.post("/api/v1/users/auth/login", {"username": ["carol"], "password": "x"}, token=None)
    check(r.status == 400 and "username" in r.json["message"], r)


def test_auth_header_errors():
    r = D.get("/api/v1/users/me", token=None)
    check(r.status == 401 and r.code == "MISSING_TOKEN", r)
    check(r.json["message"] == "Authentication token required", r)
    for hdr in ("Bearer garbage", "Bearer hdy_" + "x" * 43, "Basic YWRtaW46YWRtaW4=",
                "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."):
        r = D.get("/api/v1/users/me", token=None, headers={"Authorization": hdr})
        check(r.status == 401 and r.code == "INVALID_TOKEN", (hdr, r))
    # a JWT whose payload was altered fails its signature
    jwt = login("alice").data["token"]
    head, body, sig = jwt.split(".")
    forged = ".".join([head, body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1], sig])
    r = me(forged)
    check(r.status == 401 and r.code == "INVALID_TOKEN", r)
    # bare hdy_ (no Bearer) is accepted
    r = D.get("/api/v1/users/me", token=None, headers={"Authorization": D.token})
    check(r.status == 200, r)


def test_token_crud_and_secret_once():
    jwt = login("alice").data["token"]
    t = new_token(tok=jwt, alias="ci deploy_1", permission_template="read_only")
    secret = t["token"]
    check(secret.startswith("hdy_") and len(secret) >= 44, t)
    check(t["prefix"] == "hdy_" and t["alias"] == "ci deploy_1", t)
    check(t["permissions"]["containers"]["read"] is True, t)
    check(t["permissions"]["containers"]["create"] is False, t)
    for k in ("id", "alias", "prefix", "public_key", "ip_whitelist", "realm_ids",
              "allow_no_realm", "permissions", "expires_at", "is_enabled", "vault_access",
              "event_access", "last_used_at", "last_used_ip", "created_at", "updated_at"):
        check(k in t, f"token lacks {k}")
    check(t["ip_whitelist"] == ["*"] and t["realm_ids"] == [] and t["expires_at"] is None, t)

    r = D.get("/api/v1/auth/tokens", token=jwt)
    check(r.status == 200 and isinstance(r.data, list), r)
    check(any(x["id"] == t["id"] for x in r.data), r)
    check(all("token" not in x for x in r.data), "list never returns secrets")
    r = D.get(f"/api/v1/auth/tokens/{t['id']}", token=jwt)
    check(r.status == 200 and "token" not in r.data and r.data["alias"] == "ci deploy_1", r)

    # the secret works, and is nowhere in the database files
    check(me(secret).status == 200, "new token authenticates")
    D.get(f"/api/v1/auth/tokens/{t['id']}", token=secret)  # a use that touches last_used
    blob = b"".join(open(p, "rb").read() for p in glob.glob(os.path.join(D.state, "hoody.db*")))
    check(secret.encode() not in blob, "secret found in the sqlite files")
    check(hashlib.sha256(secret.encode()).hexdigest().encode() in blob, "hash is stored")

    r = D.put(f"/api/v1/auth/tokens/{t['id']}", {"alias": "renamed"}, token=jwt)
    check(r.status == 200 and r.data["alias"] == "renamed" and "token" not in r.data, r)
    r = D.get(f"/api/v1/auth/tokens/{t['id']}", token=secret)
    check(r.status == 200 and r.data["last_used_ip"] == "127.0.0.1", r)
    check(r.data["last_used_at"] is not None, r)

    # another user sees nothing of it
    bob = D.new_user("bob")
    r = D.get(f"/api/v1/auth/tokens/{t['id']}", token=bob)
    check(r.status == 404, r)
    check(D.delete(f"/api/v1/auth/tokens/{t['id']}", token=bob).status == 404, "bob cannot delete")

    r = D.delete(f"/api/v1/auth/tokens/{t['id']}", token=jwt)
    check(r.status == 200, r)
    check(D.get(f"/api/v1/auth/tokens/{t['id']}", token=jwt).status == 404, "deleted")
    r = me(secret)
    check(r.status == 401 and r.code == "INVALID_TOKEN", r)
    r = D.get("/api/v1/auth/tokens/not-an-id", token=jwt)
    check(r.status == 400 and r.code == "INVALID_ID_FORMAT", r)


def test_token_validation():
    jwt = login("alice").data["token"]
    cases = [
        ({"alias": 5}, "alias"),
        ({"alias": "bad/alias"}, "alias"),
        ({"alias": "x" * 255}, "alias"),
        ({"permission_template": "god_mode"}, "permission_template"),
        ({"permissions": {"containers": {"fly": True}}}, "permissions"),
        ({"permissions": {"containers": {"create": "yes"}}}, "permissions"),
        ({"permissions": []}, "permissions"),
        ({"realm_ids": ["xyz"]}, "realm_ids"),
        ({"realm_ids": "aaaaaaaaaaaaaaaaaaaaaaaa"}, "realm_ids"),
        ({"ip_whitelist": ["999.1.1.1"]}, "ip_whitelist"),
        ({"ip_whitelist": 42}, "ip_whitelist"),
        ({"expires_at": "next tuesday"}, "expires_at"),
        ({"expires_at": int(time.time()) - 60}, "expires_at"),
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"allow_no_realm": "yes"}, "allow_no_realm"),
        ({"vault_access": 1}, "vault_access"),
        ({"public_key": "abc"}, "public_key"),
    ]
    before = len(D.get("/api/v1/auth/tokens", token=jwt).data)
    for body, field in cases:
        r = D.post("/api/v1/auth/tokens", body, token=jwt)
        check(r.status == 400 and r.code == "VALIDATION_ERROR", (body, r))
        check(field in r.json["message"], (body, r.json["message"]))
    check(len(D.get("/api/v1/auth/tokens", token=jwt).data) == before, "nothing was created")

    # accepted forms
    t = new_token(tok=jwt, ip_whitelist="127.0.0.1, 10.0.0.0/8", expires_at="tomorrow",
                  realm_ids=[REALM_A, REALM_A], permissions={"containers": True})
    check(t["ip_whitelist"] == ["127.0.0.1", "10.0.0.0/8"], t)
    check(t["realm_ids"] == [REALM_A], t)
    check(t["expires_at"] is not None, t)
    check(t["permissions"]["containers"]["actions"]["exec"] is True, t)
    check(t["permissions"]["projects"]["read"] is False, t)
    check(t["alias"], "a default alias is generated")
    r = D.put(f"/api/v1/auth/tokens/{t['id']}", {"is_enabled": "no"}, token=jwt)
    check(r.status == 400 and "is_enabled" in r.json["message"], r)


def test_read_only_token_limits():
    ro = new_token(permission_template="read_only")["token"]  # an admin's token
    r = D.post("/api/v1/auth/tokens", {"alias": "escalate"}, token=ro)
    check(r.status == 403 and r.code == "INSUFFICIENT_PERMISSIONS", r)
    r = D.post("/api/v1/users", {"username": "mallory", "password": "Passw0rd-mal"}, token=ro)
    check(r.status == 403 and r.code == "INSUFFICIENT_PERMISSIONS", r)
    check(D.get("/api/v1/users/me", token=ro).status == 200, "reads still work")
    # a dev_team token can create containers but not tokens
    dev = new_token(permission_template="dev_team")["token"]
    r = D.post("/api/v1/auth/tokens", {}, token=dev)
    check(r.status == 403, r)
    # a token holding create_tokens cannot grant what it lacks
    mid = new_token(permissions={"resources": {"create_tokens": True, "read_account": True}})
    r = D.post("/api/v1/auth/tokens", {"permission_template": "full_access"}, token=mid["token"])
    check(r.status == 403 and r.code == "INSUFFICIENT_PERMISSIONS", r)
    r = D.post("/api/v1/auth/tokens", {}, token=mid["token"])
    check(r.status == 201 and r.data["permissions"] == mid["permissions"], r)
    # a non-admin user is refused on admin endpoints
    alice = login("alice").data["token"]
    r = D.post("/api/v1/users", {"username": "eve", "password": "Passw0rd-eve"}, token=alice)
    check(r.status == 403 and r.code == "INSUFFICIENT_PERMISSIONS", r)


def test_expired_and_disabled_tokens():
    t = expiring(lambda at, _: new_token(expires_at=at), lambda t: me(t["token"]).status == 200)
    r = me(t["token"])
    check(r.status == 401 and r.code == "TOKEN_EXPIRED", r)

    t = new_token()
    check(me(t["token"]).status == 200, "enabled")
    r = D.put(f"/api/v1/auth/tokens/{t['id']}", {"is_enabled": False})
    check(r.status == 200 and r.data["is_enabled"] is False, r)
    r = me(t["token"])
    check(r.status == 401 and r.code == "INVALID_TOKEN", r)
    check(D.patch(f"/api/v1/auth/tokens/{t['id']}", {"is_enabled": True}).status == 200, "PATCH")
    check(me(t["token"]).status == 200, "re-enabled")


def test_banned_user():
    jwt = D.new_user("dave")
    hdy = new_token(tok=jwt)["token"]
    uid = user_id("dave")
    r = D.put(f"/api/v1/users/{uid}", {"is_banned": True})
    check(r.status == 200 and r.data["is_banned"] is True, r)
    for t in (hdy, jwt):
        r = D.get("/api/v1/auth/tokens", token=t)
        check(r.status in (401, 403), r)
    r = me(hdy)
    check(r.status == 403 and r.code == "ACCOUNT_BANNED", r)
    r = login("dave")
    check(r.status == 403 and r.code == "ACCOUNT_BANNED", r)
    check(D.put(f"/api/v1/users/{uid}", {"is_banned": False}).status == 200, "unban")
    check(me(hdy).status == 200, "token works after unban")
    # an admin cannot ban themselves
    admin_id = me(D.token).data["id"]
    r = D.put(f"/api/v1/users/{admin_id}", {"is_banned": True})
    check(r.status == 400, r)


def test_admin_users():
    r = D.post("/api/v1/users", {"username": "erin", "password": "Passw0rd-erin",
                                 "email": "Erin@Example.com", "is_admin": False})
    check(r.status == 201 and r.data["email"] == "erin@example.com", r)
    uid = r.data["id"]
    r = D.post("/api/v1/users", {"username": "erin", "password": "Passw0rd-erin"})
    check(r.status == 409, r)
    for body, field in [({"username": "x", "password": "Passw0rd-1"}, "username"),
                        ({"username": "frank"}, "password"),
                        ({"username": "frank", "password": "short"}, "password"),
                        ({"username": "frank", "password": "alllowercase1"}, "password"),
                        ({"username": "frank", "password": "Passw0rd-f", "email": "nope"},
                         "email")]:
        r = D.post("/api/v1/users", body)
        check(r.status == 400 and field in r.json["message"], (body, r))
    r = D.post("/api/v1/users/auth/login", {"email": "ERIN@example.com",
                                            "password": "Passw0rd-erin"}, token=None)
    check(r.status == 200, r)
    r = D.put(f"/api/v1/users/{uid}", {"max_containers": 3})
    check(r.status == 200 and r.data["max_containers"] == 3, r)
    r = D.get(f"/api/v1/users/{uid}")
    check(r.status == 200 and r.data["username"] == "erin", r)
    r = D.get("/api/v1/users/ffffffffffffffffffffffff")
    check(r.status == 404, r)


def test_realm_hosts_and_ip_lists():
    host = lambda realm: {"Host": f"{realm}.api.hoody.local"}  # noqa: E731
    t = new_token(realm_ids=[REALM_A])["token"]
    check(me(t, headers=host(REALM_A)).status == 200, "own realm host")
    r = me(t, headers=host(REALM_B))
    check(r.status == 403 and r.code == "INSUFFICIENT_PERMISSIONS", r)
    check(me(t).status == 200, "allow_no_realm defaults to true")
    t = new_token(realm_ids=[REALM_A], allow_no_realm=False)["token"]
    check(me(t).status == 403, "allow_no_realm false needs a realm host")
    check(me(t, headers=host(REALM_A)).status == 200, "on its realm host")
    # a JWT works on any realm host
    check(me(login("alice").data["token"], headers=host(REALM_B)).status == 200, "JWT")
    # a realm-restricted token can only make tokens inside its realms
    rt = new_token(realm_ids=[REALM_A], permission_template="full_access")["token"]
    r = D.post("/api/v1/auth/tokens", {"realm_ids": [REALM_B]}, token=rt)
    check(r.status == 403, r)
    r = D.post("/api/v1/auth/tokens", {}, token=rt)
    check(r.status == 201 and r.data["realm_ids"] == [REALM_A], r)
    # and sees only tokens of its realms
    ids = {x["id"] for x in D.get("/api/v1/auth/tokens", token=rt).data}
    check(r.data["id"] in ids and all(
        REALM_A in x["realm_ids"] for x in D.get("/api/v1/auth/tokens", token=rt).data), ids)

    t = new_token(ip_whitelist=["10.1.2.3"])["token"]
    r = me(t)
    check(r.status == 403, r)
    t = new_token(ip_whitelist=["127.0.0.0/8"])["token"]
    check(me(t).status == 200, "CIDR match")


def test_tokens_me_and_templates():
    t = new_token(alias="self")
    r = D.get("/api/v1/auth/tokens/me", token=t["token"])
    check(r.status == 200 and r.data["token"]["id"] == t["id"], r)
    r = D.get("/api/v1/auth/tokens/templates")
    check(r.status == 200 and {x["name"] for x in r.data} >= {"full_access", "read_only",
                                                              "dev_team", "external_customer",
                                                              "finance_team"}, r)


def test_users_command():
    def hoodyd(*args):
        return subprocess.run([os.path.join(BIN, "hoodyd"), "--state-dir", D.state, *args],
                              capture_output=True, text=True, timeout=60)

    p = hoodyd("users", "add", "zed", "--password", "Passw0rd-zed", "--admin",
               "--email", "zed@example.com")
    check(p.returncode == 0 and len(p.stdout.strip()) == 24, p)
    r = login("zed")
    check(r.status == 200 and r.data["user"]["is_admin"] is True, r)
    check(r.data["user"]["email"] == "zed@example.com", r)
    jwt = r.data["token"]
    check(me(jwt).status == 200, "session works (and is now cached)")
    p = hoodyd("users", "add", "zed", "--password", "Passw0rd-zed")
    check(p.returncode != 0 and "already" in p.stderr, p)
    p = hoodyd("users", "add", "weak", "--password", "weak")
    check(p.returncode != 0 and "password" in p.stderr, p)
    # a new password ends the sessions of that user
    p = hoodyd("users", "passwd", "zed", "--password", "N3w-passw0rd")
    check(p.returncode == 0, p)
    time.sleep(5.1)  # the daemon's identity cache lives 5 s for out-of-process changes
    check(me(jwt).status == 401, "old session ended")
    check(login("zed", "N3w-passw0rd").status == 200, "new password works")
    check(login("zed").status == 401, "old password refused")


if __name__ == "__main__":
    with Daemon() as D:
        main([test_login_refresh_logout, test_login_failures, test_auth_header_errors,
              test_token_crud_and_secret_once, test_token_validation, test_read_only_token_limits,
              test_expired_and_disabled_tokens, test_banned_user, test_admin_users,
              test_realm_hosts_and_ip_lists, test_tokens_me_and_templates,
              test_users_command])
