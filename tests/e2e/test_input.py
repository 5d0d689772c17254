"""Input that used to slip through (issue 16 item 6, and the SSH key part of
item 7), each written as the attack: %0a in a URL path forging log lines,
%00 truncating path parameters, invalid UTF-8 answered 500, an environment
too large for any container to start with, and SSH keys unique across users
but not per blob."""
import socket
import time

from hoody_test import Daemon, check, main

D = None
ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4f"


def raw(path, method="GET", token=True):
    """One request with the path sent byte for byte; returns (status, body)."""
    auth = f"Authorization: Bearer {D.token}\r\n" if token else ""
    req = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{auth}"
           "Content-Length: 0\r\nConnection: close\r\n\r\n").encode("latin-1")
    with socket.create_connection(("127.0.0.1", D.port), timeout=10) as s:
        s.sendall(req)
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    head, _, body = out.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body.decode(errors="replace")


def alive():
    r = D.get("/api/v1/users/me")
    check(r.status == 200, f"daemon stopped serving: {r}")


def test_newline_cannot_forge_log_lines():
    forged = "FORGED-7f3a ERROR admin token leaked"
    for enc in ("%0a", "%0d%0a", "%0d", "%0A"):
        status, body = raw(f"/api/v1/users/me{enc}2026-01-01T00:00:00Z%20{forged.replace(' ', '%20')}",
                           token=False)
        check(status == 400 and "control character" in body, (enc, status, body))
    # even a path that is logged as is (unknown route) cannot start a line
    alive()
    D.log.flush()
    with open(D.log_path, "rb") as f:
        lines = f.read().splitlines()
    check(not any(b"FORGED-7f3a" in ln and not ln.startswith(b"20") for ln in lines),
          "a log line starts with client text")
    check(not any(ln.startswith(b"2026-01-01T00:00:00Z") for ln in lines),
          "a forged timestamp begins a log line")


def test_nul_refused_not_truncated():
    # was: /users/me%00/x answered as /users/me
    for path in ("/api/v1/users/me%00/x", "/api/v1/users/me%00", "/api/v1/containers?limit=1%00junk"):
        status, body = raw(path)
        check(status == 400 and "NUL" in body, (path, status, body))
    # a snapshot "name%00junk" must not restore "name"
    pid = D.new_project()
    c = D.create_container(pid)
    r = D.post(f"/api/v1/containers/{c['id']}/snapshots", {"alias": "nul"})
    check(r.status in (200, 201, 202), r)
    name = (r.data.get("snapshot") or {}).get("name")
    check(name, r)
    status, body = raw(f"/api/v1/containers/{c['id']}/snapshots/{name}%00junk", method="PUT")
    check(status == 400 and "NUL" in body, (status, body))
    logs = D.get(f"/api/v1/containers/{c['id']}/status-logs").data
    check("restor" not in str(logs).lower(), logs)
    alive()


def test_invalid_utf8_is_400():
    for enc in ("%ff", "%c3%28", "%c0%af", "%ed%a0%80", "%f8%88%80%80%80", "%e2%82"):
        for path in (f"/api/v1/containers/{enc}", f"/api/v1/nowhere/{enc}",
                     f"/api/v1/projects/{enc}/containers"):
            status, body = raw(path)
            check(status == 400 and "UTF-8" in body, (path, status, body))
    # valid UTF-8 still routes (404 for a route that does not exist)
    status, _ = raw("/api/v1/nowhere/%c3%a9t%c3%a9")
    check(status == 404, status)
    alive()


ENV_LIMIT = 256 * 1024


def test_environment_total_limit():
    pid = D.new_project()
    # the attack: 200 variables of 65,000 characters (13 MB), sent in
    # bodies under the body limit: at create, then grown through PUT /env
    big = {f"V{i}": "x" * 65000 for i in range(12)}
    r = D.post(f"/api/v1/projects/{pid}/containers",
               {"container_image": "busybox", "bypass_prespawn": True, "environment_vars": big})
    check(r.status == 400 and str(ENV_LIMIT) in r.json["message"], r)
    r = D.get(f"/api/v1/projects/{pid}/containers")
    check(r.status == 200 and not r.data["containers"], r)
    s = D.create_container(pid, wait=True)
    statuses = []
    for step in range(0, 200, 2):
        r = D.put(f"/api/v1/containers/{s['id']}/env",
                  {f"V{i}": "x" * 65000 for i in range(step, step + 2)})
        check(r.status in (200, 202) or str(ENV_LIMIT) in r.json["message"], r)
        statuses.append(r.status)
    fit = ENV_LIMIT // (65000 + len("V00") + 2) // 2  # PUTs that fit ("KEY=value\0")
    check(statuses.count(400) == 100 - fit, f"growing PUT statuses: {statuses}")
    r = D.get(f"/api/v1/containers/{s['id']}/env")
    check(r.status == 200 and len(r.data["environment_vars"]) == 2 * fit, r)
    # just under the limit: the container starts and sees its variables
    per = 65000
    n = ENV_LIMIT // (per + 8)
    fits = {f"F{i}": "y" * per for i in range(n)}
    c = D.create_container(pid, environment_vars=fits)
    check(c["status"] == "running", c)
    # growing it past the limit through PUT /env is refused, nothing changes
    r = D.put(f"/api/v1/containers/{c['id']}/env", {"EXTRA": "z" * per})
    check(r.status == 400 and str(ENV_LIMIT) in r.json["message"], r)
    r = D.get(f"/api/v1/containers/{c['id']}/env")
    check(r.status == 200 and "EXTRA" not in r.data["environment_vars"], r)
    check(len(r.data["environment_vars"]) == n, len(r.data["environment_vars"]))
    # and it restarts with them
    r = D.post(f"/api/v1/containers/{c['id']}/restart")
    check(r.status == 200, r)
    D.wait_status(c["id"], "running")


def test_ssh_key_unique_per_user_by_blob():
    pid = D.new_project()
    a = D.create_container(pid, ssh_public_key=ED25519 + " alice@laptop")
    # same user, same blob, other comment (or none): the same key
    for other in (ED25519 + " alice@desktop", ED25519, "  " + ED25519 + "\tx "):
        r = D.post(f"/api/v1/projects/{pid}/containers",
                   {"container_image": "busybox", "bypass_prespawn": True, "ssh_public_key": other})
        check(r.status in (400, 409), (other, r))
        if r.status == 409:
            check(r.code == "SSH_PUBLIC_KEY_IN_USE", r)
    # also through an update of another of the user's containers
    b = D.create_container(pid)
    r = D.patch(f"/api/v1/containers/{b['id']}", {"ssh_public_key": ED25519 + " other-comment"})
    check(r.status == 409 and r.code == "SSH_PUBLIC_KEY_IN_USE", r)
    # the container's own key under a new comment is fine
    r = D.patch(f"/api/v1/containers/{a['id']}", {"ssh_public_key": ED25519 + " renamed"})
    check(r.status == 200, r)
    # another user may use the same key: no squatting, no probing
    tok = D.new_user("ssh-other")
    pid2 = D.new_project(token=tok)
    r = D.post(f"/api/v1/projects/{pid2}/containers",
               {"container_image": "busybox", "bypass_prespawn": True,
                "ssh_public_key": ED25519 + " alice@laptop"}, token=tok)
    check(r.status == 201, r)
    # a deleted container releases its key
    r = D.delete(f"/api/v1/containers/{a['id']}")
    check(r.status in (200, 202), r)
    # deletion is asynchronous: poll until the key is free
    deadline = time.time() + 30
    while time.time() < deadline:
        r = D.patch(f"/api/v1/containers/{b['id']}", {"ssh_public_key": ED25519 + " now-free"})
        if r.status == 200:
            break
        time.sleep(0.1)
    check(r.status == 200, r)


def run():
    global D
    with Daemon() as d:
        D = d
        main([test_newline_cannot_forge_log_lines, test_nul_refused_not_truncated,
              test_invalid_utf8_is_400, test_environment_total_limit,
              test_ssh_key_unique_per_user_by_blob])


if __name__ == "__main__":
    run()
