"""The `hoody` CLI against a real hoodyd: the seeds' workflows typed as
written, JSON output, configuration discovery, help, and every error path
(exit code + the API's message). The daemon's own API is the ground truth
each CLI effect is checked against.

Endpoints that landed later (env, snapshots, stats, status-logs, events) are
probed first: a daemon that answers ROUTE_NOT_FOUND for one fails the test
(`served`), since a test that cannot run must never pass."""
import base64
import http.client
import json
import os
import queue
import re
import signal
import subprocess
import tempfile
import threading
import time

from hoody_test import BIN, Daemon, check, free_port, main

HOODY = os.path.join(BIN, "hoody")
HOME = tempfile.mkdtemp(prefix="hoody-cli-home-")
EMPTY_STATE = tempfile.mkdtemp(prefix="hoody-cli-state-")
HEX24 = re.compile(r"^[0-9a-f]{24}$")
D = None  # the daemon every test shares


def ssh_key():
    """A well-formed, unique ed25519 public key line."""
    def sshstr(b):
        return len(b).to_bytes(4, "big") + b
    blob = sshstr(b"ssh-ed25519") + sshstr(os.urandom(32))
    return "ssh-ed25519 " + base64.b64encode(blob).decode() + " cli-test"


def run(args, env=None, home=HOME, input=None, timeout=180):
    """Runs hoody with a clean environment: no HOODY_* variable leaks in,
    ~ is a private directory and the admin-token lookup finds nothing."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("HOODY_") and k != "NO_COLOR"}
    e.update(HOME=home, HOODY_STATE_DIR=EMPTY_STATE)
    e.update(env or {})
    return subprocess.run([HOODY] + list(args), capture_output=True, text=True, env=e,
                          input=input, timeout=timeout)


def cli(*args, **kw):
    return run(["--base-url", D.base, "--token", D.token] + list(args), **kw)


def ok(p):
    check(p.returncode == 0, f"{p.args[1:]}: rc={p.returncode}\nstderr: {p.stderr}\nstdout: {p.stdout}")
    return p.stdout


def js(p):
    out = ok(p)
    try:
        return json.loads(out)
    except ValueError:
        check(False, f"{p.args[1:]}: not JSON: {out!r}")


def fails(p, code, *texts):
    """Exit code as documented and the API's words on stderr."""
    check(p.returncode == code and all(t in p.stderr for t in texts),
          f"{p.args[1:]}: want rc={code} with {texts}, got rc={p.returncode}\nstderr: {p.stderr}")
    return p.stderr


def api_error_text(r):
    """The message and code the API gives, as the CLI must print them."""
    check(r.json and r.json.get("message"), r)
    return r.json["message"], r.json.get("code") or r.json.get("error")


def kv(out, key):
    """The value of `key:` in a key/value view."""
    m = re.search(rf"^{re.escape(key)}:\s+(.*)$", out, re.M)
    check(m, f"no {key}: in {out!r}")
    return m.group(1).strip()


def route_missing(r):
    return r.status in (404, 405) and (r.json or {}).get("code") in ("ROUTE_NOT_FOUND",
                                                                       "METHOD_NOT_ALLOWED")


def operation_unknown(r):
    """POST /containers/{id}/<unknown> is the operations route's 400 until a
    literal route (snapshots, copy, sync) lands."""
    return r.status == 400 and "operation must be one of" in (r.json or {}).get("message", "")


def served(missing, what):
    """A route the CLI needs that the daemon does not serve fails the test:
    a test that cannot run must never pass."""
    check(not missing, f"{what}: the daemon does not serve this route")


def busybox(project, *extra):
    """Creates a busybox container through the CLI, waits, returns its id."""
    out = ok(cli("containers", "create", "--project", project, "--image", "busybox", "--wait",
                 "-q", *extra))
    cid = out.strip()
    check(HEX24.match(cid), f"create -q printed {out!r}")
    return cid


# ---------------------------------------------------------------------------

def test_seed_workflow():
    """create-edit-delete.md, 'Complete Workflow Example' and 'Update Workflow',
    typed as written (plus --image busybox: the test image store has only busybox)."""
    out = ok(cli("projects", "create", "--alias", "client-acme", "--color", "#e74c3c"))
    project = kv(out, "id")
    check(HEX24.match(project), out)
    check(kv(out, "alias") == "client-acme" and "#E74C3C" in kv(out, "color").upper(), out)
    r = D.get(f"/api/v1/projects/{project}")
    check(r.status == 200 and r.data["alias"] == "client-acme", r)

    out = ok(cli("servers", "list"))
    lines = out.splitlines()
    check(lines[0].split()[:2] == ["SERVER", "ID"], out)
    server = lines[1].split()[0]
    check(server == D.server_id(), f"{server} != {D.server_id()}")

    key = ssh_key()
    out = ok(cli("containers", "create", "--project", project,
                 "--server-id", server,
                 "--name", "acme-frontend",
                 "--hoody-kit",
                 "--ssh-public-key", key,
                 "--image", "busybox"))
    cid = kv(out, "id")
    check(HEX24.match(cid), out)
    check(kv(out, "name") == "acme-frontend", out)
    c = D.wait_status(cid, "running")
    check(c["hoody_kit"] is True and c["ssh_public_key"] == key and c["server_id"] == server, c)

    out = ok(cli("containers", "get", cid))
    check(kv(out, "status") == "running" and kv(out, "name") == "acme-frontend", out)
    check(kv(out, "project_id") == project, out)

    out = ok(cli("containers", "manage", cid, "stop"))
    check("stopped" in out, out)
    check(D.get(f"/api/v1/containers/{cid}").data["status"] == "stopped", "not stopped")

    ok(cli("containers", "update", cid,
           "--name", "renamed-container",
           "--environment-vars", "NODE_ENV=staging"))
    c = D.get(f"/api/v1/containers/{cid}").data
    check(c["name"] == "renamed-container", c)
    check(c["environment_vars"].get("NODE_ENV") == "staging", c)

    out = ok(cli("containers", "manage", cid, "start"))
    check("running" in out, out)
    D.wait_status(cid, "running")

    # Safe Deletion Workflow
    r = D.post(f"/api/v1/containers/{cid}/snapshots", {"alias": "probe"})
    served(route_missing(r) or operation_unknown(r),
           "snapshots (seed step 1 of the safe deletion workflow)")
    check(r.status == 201, r)
    out = ok(cli("snapshots", "create", "--container", cid,
                 "--alias", "before-deletion-2025-11-09"))
    check(kv(out, "alias") == "before-deletion-2025-11-09", out)
    snaps = D.get(f"/api/v1/containers/{cid}/snapshots").data["snapshots"]
    check(any(s["alias"] == "before-deletion-2025-11-09" for s in snaps), snaps)
    ok(cli("containers", "manage", cid, "stop"))
    out = ok(cli("containers", "delete", cid))
    check(cid in out, out)
    r = D.get(f"/api/v1/containers/{cid}")
    check(r.status == 404 or r.data["status"] in ("deleting", "deleted"), r)


def test_json_and_quiet_output():
    pid = ok(cli("projects", "create", "--alias", "json-out", "-q")).strip()
    check(HEX24.match(pid), pid)
    data = js(cli("projects", "get", pid, "-o", "json"))
    check(data == D.get(f"/api/v1/projects/{pid}").data, data)
    data = js(cli("-o", "json", "projects", "list", "--limit", "100"))
    check(pid in [p["id"] for p in data["projects"]] and "pagination" in data, data)

    check(js(cli("servers", "list", "--output", "json")) == D.get("/api/v1/servers").data, "servers")

    created = js(cli("containers", "create", "--project", pid, "--image", "busybox",
                     "--name", "json-one", "-o", "json"))
    cid = created["id"]
    check(created["name"] == "json-one" and created["status"] in ("creating", "running"), created)
    D.wait_status(cid, "running")
    got = js(cli("containers", "get", cid, "-o", "json"))
    check(got["id"] == cid and got["status"] == "running", got)
    lst = js(cli("containers", "list", "-o", "json"))
    check(cid in [c["id"] for c in lst["containers"]] and "pagination" in lst, lst)
    lst = js(cli("containers", "list", "--project", pid, "-o", "json"))
    check([c["id"] for c in lst["containers"]] == [cid], lst)
    check(ok(cli("containers", "list", "--project", pid, "-q")).split() == [cid], "quiet list")

    table = ok(cli("containers", "list", "--project", pid))
    head, row = table.splitlines()[:2]
    check(head.split() == ["ID", "NAME", "COLOR", "STATUS", "IMAGE", "SERVER", "CREATED"], head)
    check(row.split()[:2] == [cid, "json-one"] and "running" in row, row)
    check(re.search(r"(just now|\d+s ago)$", row), f"no relative time in {row!r}")
    check(table.index("NAME") == row.index("json-one"), "columns not aligned")
    check("\x1b" not in table, "colors on a pipe")

    check(D.post(f"/api/v1/containers/{cid}/pause").status == 200, "pause")
    op = js(cli("containers", "manage", cid, "resume", "-o", "json"))
    check(op["status"] == "running" and op["operation"] == "resume", op)
    check(ok(cli("containers", "delete", cid, "-q")) == "", "quiet delete printed something")


def test_wait_prints_urls():
    pid = ok(cli("projects", "create", "--alias", "wait-urls", "-q")).strip()
    p = cli("containers", "create", "--project", pid, "--image", "busybox", "--name", "waiter",
            "--wait")
    out = ok(p)
    check(kv(out, "status") == "running", out)
    cid = kv(out, "id")
    check(D.get(f"/api/v1/containers/{cid}").data["status"] == "running", "not running")
    check("Service URLs:" in out and f"{pid}-{cid}-terminal-1." in out, out)
    check(p.stderr == "", f"spinner or noise on a non-terminal: {p.stderr!r}")


def test_errors():
    pid = D.new_project()
    cid = busybox(pid, "--name", "err-one")

    # auth: no token (nothing configured), bad token
    p = run(["--base-url", D.base, "containers", "list"])
    fails(p, 3, *api_error_text(D.get("/api/v1/containers", token=None)))
    p = cli("containers", "list", "-t", "hdy_" + "x" * 30)
    fails(p, 3, *api_error_text(D.get("/api/v1/containers", token="hdy_" + "x" * 30)))

    # not found, invalid id
    missing = "0123456789abcdef01234567"
    fails(cli("containers", "get", missing), 4,
          *api_error_text(D.get(f"/api/v1/containers/{missing}")))
    fails(cli("projects", "get", missing), 4,
          *api_error_text(D.get(f"/api/v1/projects/{missing}")))
    fails(cli("containers", "create", "--project", missing, "--image", "busybox"), 4)
    fails(cli("containers", "get", "not-an-id"), 1, "INVALID_ID_FORMAT")
    fails(cli("containers", "delete", "not-an-id", "-y"), 1, "INVALID_ID_FORMAT")

    # conflict: the name is taken
    p = cli("containers", "create", "--project", pid, "--image", "busybox", "--name", "err-one")
    fails(p, 5, "CONTAINER_NAME_IN_USE")

    # an operation the state refuses (documented as 400 or 409)
    r = D.post(f"/api/v1/containers/{cid}/start")
    p = cli("containers", "manage", cid, "start")
    check(r.status == 400 and p.returncode == 1, (r, p.stderr))
    fails(p, p.returncode, *api_error_text(r))
    D.post(f"/api/v1/containers/{cid}/stop")
    p = cli("containers", "manage", cid, "pause")
    fails(p, 5, "OPERATION_STATE_CONFLICT")
    D.post(f"/api/v1/containers/{cid}/start")

    # validation
    p = cli("containers", "create", "--project", pid, "--image", "busybox", "--name", "a!")
    fails(p, 1, "INVALID_CONTAINER_NAME")

    # the daemon cannot be reached
    p = run(["--base-url", f"http://127.0.0.1:{free_port()}", "-t", "x", "servers", "list"])
    fails(p, 7, "cannot reach")

    # usage errors never reach the API
    fails(cli("containers", "list", "--bogus"), 2, "unknown option --bogus")
    fails(cli("containers", "create", "--image", "busybox"), 2, "--project is required")
    fails(cli("containers", "manage", cid, "explode"), 2, "unknown operation")
    fails(cli("containers", "get"), 2, "which container")
    fails(cli("containers", "get", cid, "extra"), 2, "unexpected argument")
    fails(cli("-o", "yaml", "servers", "list"), 2, "--output")
    fails(cli("containers", "update", cid, "-e", "NOEQUALS"), 2, "KEY=VALUE")
    fails(cli("containers", "frobnicate"), 2, "unknown command")
    fails(cli("projects", "create", "--max-containers", "ten", "--alias", "x"), 2, "whole number")
    fails(run(["--base-url", "ftp://x", "servers", "list"]), 2, "http://")
    fails(run([]), 2)
    check(D.get(f"/api/v1/containers/{cid}").data["status"] == "running", "usage error acted")


def test_global_options_and_discovery():
    base = ["--base-url", D.base, "-t", D.token]
    sid = D.server_id()
    # global options after the command, and before it
    check(ok(run(["servers", "list", "-q"] + base)).split() == [sid], "after")
    check(ok(run(base + ["-q", "servers", "list"])).split() == [sid], "before")
    check(ok(run(["-q", "servers"] + base + ["list"])).split() == [sid], "between")
    # environment
    env = {"HOODY_BASE_URL": D.base, "HOODY_TOKEN": D.token}
    check(ok(run(["servers", "list", "-q"], env=env)).split() == [sid], "env")
    # the local daemon's admin token, found through HOODY_STATE_DIR
    env = {"HOODY_BASE_URL": D.base, "HOODY_STATE_DIR": D.state}
    check(ok(run(["servers", "list", "-q"], env=env)).split() == [sid], "state dir")
    # ~/.hoody/config.json
    home = tempfile.mkdtemp(prefix="hoody-cli-cfg-")
    os.makedirs(os.path.join(home, ".hoody"))
    with open(os.path.join(home, ".hoody", "config.json"), "w") as f:
        json.dump({"baseUrl": D.base, "token": D.token}, f)
    check(ok(run(["servers", "list", "-q"], home=home)).split() == [sid], "config")
    # the saved token is for the saved base URL only
    other = D.base.replace("127.0.0.1", "localhost")
    fails(run(["--base-url", other, "servers", "list"], home=home), 3, "MISSING_TOKEN")
    # flags beat the environment
    env = {"HOODY_BASE_URL": "http://127.0.0.1:1", "HOODY_TOKEN": "nope"}
    check(ok(run(base + ["servers", "list", "-q"], env=env)).split() == [sid], "precedence")


def test_auth_login_whoami_tokens_logout():
    r = D.post("/api/v1/users", {"username": "cli-alice", "password": "Passw0rd-cli-alice"})
    served(route_missing(r), "users/login")
    check(r.status == 201, r)
    home = tempfile.mkdtemp(prefix="hoody-cli-login-")
    base = ["--base-url", D.base]
    fails(run(base + ["auth", "login", "--username", "cli-alice", "--password", "wrong"],
              home=home), 3, "INVALID_CREDENTIALS")
    out = ok(run(base + ["auth", "login", "--username", "cli-alice", "--password-stdin"],
                 home=home, input="Passw0rd-cli-alice\n"))
    check("cli-alice" in out, out)
    cfg_path = os.path.join(home, ".hoody", "config.json")
    check(os.stat(cfg_path).st_mode & 0o077 == 0, "config readable by others")
    with open(cfg_path) as f:
        cfg = json.load(f)
    check(cfg["baseUrl"] == D.base and cfg["token"], cfg)
    # from here on nothing but the config file
    out = ok(run(["auth", "whoami"], home=home))
    check(kv(out, "username") == "cli-alice", out)
    me = js(run(["auth", "whoami", "-o", "json"], home=home))
    check(me == D.get("/api/v1/users/auth/me", token=cfg["token"]).data, me)

    tok = ok(run(["auth", "tokens", "create", "--alias", "cli-ci", "-q"], home=home)).strip()
    check(tok.startswith("hdy_"), tok)
    tokens = js(run(["auth", "tokens", "list", "-o", "json"], home=home))
    rows = tokens if isinstance(tokens, list) else tokens.get("tokens", [])
    mine = [t for t in rows if t["alias"] == "cli-ci"]
    check(len(mine) == 1 and "token" not in mine[0], tokens)
    check(ok(run(["projects", "list", "-q"], env={"HOODY_TOKEN": tok, "HOODY_BASE_URL": D.base}))
          is not None, "hdy_ token refused")
    ok(run(["auth", "tokens", "delete", mine[0]["id"], "-y"], home=home))
    fails(run(["projects", "list"], env={"HOODY_TOKEN": tok, "HOODY_BASE_URL": D.base}), 3)

    ok(run(["auth", "logout"], home=home))
    with open(cfg_path) as f:
        check("token" not in json.load(f), "token kept after logout")
    fails(run(["auth", "whoami"], home=home), 3, "hoody auth login")
    check(D.get("/api/v1/users/auth/me", token=cfg["token"]).status == 401, "session survived")


def test_later_endpoints():
    """env, stats, status-logs, authorize, snapshots restore/delete, events."""
    pid = D.new_project()
    cid = busybox(pid, "--name", "later", "-e", "FIRST=1")

    ok(cli("containers", "env", "set", "-c", cid, "--key", "NODE_ENV", "--value", "production"))
    out = ok(cli("containers", "env", "list", "-c", cid))
    check(re.search(r"^NODE_ENV\s+production$", out, re.M) and "FIRST" in out, out)
    check(D.get(f"/api/v1/containers/{cid}/env").data["environment_vars"]["NODE_ENV"] ==
          "production", "env not set")
    ok(cli("containers", "env", "delete", cid, "--key", "NODE_ENV"))
    check("NODE_ENV" not in D.get(f"/api/v1/containers/{cid}/env").data["environment_vars"],
          "env not deleted")
    fails(cli("containers", "env", "set", "-c", cid, "--key", "HOODY_X", "--value", "1"), 1,
          "RESERVED_ENV_PREFIX")

    copied = js(cli("containers", "copy", cid, "--target-project", pid, "--name", "later-copy",
                    "-o", "json"))
    check(copied["source_container_id"] == cid and copied["name"] == "later-copy", copied)
    D.wait_status(copied["id"], "running")
    synced = js(cli("containers", "sync", copied["id"], "-o", "json"))
    check(synced["status"] == "copying" and synced["source_container_id"] == cid, synced)
    D.wait_status(copied["id"], "running")
    fails(cli("containers", "copy", cid), 2, "--target-project is required")
    fails(cli("containers", "sync", cid), 5, "CONTAINER_NOT_COPIED")

    check(js(cli("containers", "stats", cid, "-o", "json"))["id"] == cid, "stats")
    ok(cli("containers", "stats", cid))

    logs = js(cli("containers", "status-logs", cid, "-o", "json"))
    check(any(entry["to_status"] == "running" for entry in logs["logs"]), logs)
    out = ok(cli("containers", "status-logs", cid))
    check(out.splitlines()[0].split()[:3] == ["WHEN", "FROM", "TO"], out)

    claim = json.loads(ok(cli("containers", "authorize", cid, "-q")))
    check(set(claim) == {"kid", "payload_b64", "signature_hex"}, claim)

    r = D.get(f"/api/v1/containers/{cid}/snapshots")
    served(route_missing(r), "snapshots")
    name = ok(cli("snapshots", "create", "-c", cid, "--alias", "s1", "--expiry", "2",
                  "-q")).strip()
    lst = js(cli("snapshots", "list", "-c", cid, "-o", "json"))
    check([s["name"] for s in lst["snapshots"]] == [name], lst)
    check(lst["snapshots"][0]["expires_at"], lst)
    D.post(f"/api/v1/containers/{cid}/stop")  # restoring a running one may be refused
    ok(cli("snapshots", "restore", "-c", cid, name, "-y"))
    ok(cli("snapshots", "delete", cid, name, "-y"))
    check(D.get(f"/api/v1/containers/{cid}/snapshots").data["snapshots"] == [], "not deleted")
    fails(cli("snapshots", "delete", "-c", cid, name, "-y"), 4)

    r = D.get(f"/api/v1/events?container_id={cid}")
    served(route_missing(r), "events list")
    events = js(cli("events", "list", "-c", cid, "-o", "json"))
    check(events["events"] and all(e["resource_id"] == cid for e in events["events"]), events)
    ok(cli("events", "list", "--limit", "5"))
    follow_events(pid)


def stream_missing(path):
    """Like route_missing, for a stream: reads the status and headers only."""
    conn = http.client.HTTPConnection("127.0.0.1", D.port, timeout=10)
    try:
        conn.request("GET", path, headers={"Authorization": f"Bearer {D.token}"})
        resp = conn.getresponse()
        if resp.status == 200:
            return False
        body = json.loads(resp.read() or b"{}")
        return resp.status in (404, 405) and body.get("code") in ("ROUTE_NOT_FOUND",
                                                                   "METHOD_NOT_ALLOWED")
    finally:
        conn.close()


def follow_events(pid):
    served(stream_missing("/api/v1/events/stream"), "events follow")
    e = {k: v for k, v in os.environ.items() if not k.startswith("HOODY_")}
    e.update(HOME=HOME, HOODY_STATE_DIR=EMPTY_STATE)
    proc = subprocess.Popen([HOODY, "--base-url", D.base, "-t", D.token, "events", "follow",
                             "-o", "json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=e)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in proc.stdout], daemon=True).start()
    try:
        # A stream starts with the next event: the follower is known to be
        # listening once it has printed one (of a project made and deleted
        # for the purpose, again until it does), not 0.5 s after its start.
        deadline = time.time() + 120  # a deadlock guard
        while lines.empty():
            check(time.time() < deadline and proc.poll() is None,
                  f"events follow printed nothing: {proc.stderr.read() if proc.poll() is not None else ''}")
            check(D.delete(f"/api/v1/projects/{D.new_project()}").status == 200, "project delete")
            time.sleep(0.1)
        cid = D.create_container(pid, wait=False, name="followed")["id"]
        seen, deadline = False, time.time() + 120
        while not seen:
            try:
                line = lines.get(timeout=max(0.1, deadline - time.time()))
            except queue.Empty:
                break
            seen = json.loads(line).get("resource_id") == cid
        check(seen, f"no event for {cid}: {proc.stderr.read() if proc.poll() is not None else ''}")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def help_tree(words=()):
    """Every command path, found by reading `--help` recursively."""
    p = run(list(words) + ["--help"])
    out = ok(p)
    check("Example:" in out and "Usage: hoody" in out, f"{words}: {out}")
    if "Commands:" not in out:
        return [words]
    paths = [words]
    block = out.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    for line in block.splitlines():
        paths += help_tree(words + (line.split()[0],))
    return paths


def test_every_create_flag_and_admin_commands():
    """The flags of the issue not covered by the seed workflow, checked
    against what the API then reports, and the remaining commands."""
    pid = ok(cli("projects", "create", "--alias", "flags", "--color", "3498db", "-q")).strip()
    out = ok(cli("containers", "create", "--project", pid, "--container-image", "busybox",
                 "--no-hoody-kit", "--comment", "made by flags", "--no-autostart",
                 "--no-ramdisk", "--color", "#00ff00", "--name", "flagged", "--wait", "-q"))
    cid = out.strip()
    c = D.get(f"/api/v1/containers/{cid}").data
    check(c["hoody_kit"] is False and c["dev_kit"] is False and c["autostart"] is False and
          c["ramdisk"] is False and c["comment"] == "made by flags" and c["color"] == "#00FF00" and
          c["container_image"] == "busybox", c)
    ok(cli("containers", "update", cid, "--color", "#123456", "--autostart"))
    c = D.get(f"/api/v1/containers/{cid}").data
    check(c["color"] == "#123456" and c["autostart"] is True, c)
    ok(cli("projects", "update", pid, "--alias", "flags-renamed", "--color", "#ff0000"))
    p = D.get(f"/api/v1/projects/{pid}").data
    check(p["alias"] == "flags-renamed" and p["color"] == "#FF0000", p)
    sid = D.server_id()
    check(js(cli("servers", "get", sid, "-o", "json"))["server_id"] == sid, "servers get")
    imgs = js(cli("images", "list", "-o", "json"))
    check(any("busybox" in json.dumps(i) for i in (imgs.get("images") if isinstance(imgs, dict) else imgs)),
          imgs)
    ok(cli("containers", "delete", cid, "-y"))
    ok(cli("projects", "delete", pid, "-y"))
    fails(cli("projects", "get", pid), 4)


def on_terminal(args, answer=None, timeout=60):
    """Runs hoody on a pseudo-terminal (stdin, stdout and stderr); types
    answer after the [y/N] prompt. Returns (exit code, everything printed)."""
    import pty
    import select
    pid, fd = pty.fork()
    if pid == 0:
        os.environ.update(HOME=HOME, TERM="xterm-256color")
        os.environ.pop("NO_COLOR", None)
        os.execv(HOODY, [HOODY, "--base-url", D.base, "--token", D.token] + list(args))
    out, deadline, typed = b"", time.time() + timeout, False
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if answer is not None and not typed and b"[y/N]" in out:
                os.write(fd, answer.encode() + b"\n")
                typed = True
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out.decode(errors="replace")


def test_terminal_niceties():
    """What only a person at a terminal sees: color swatches, the spinner of
    --wait, and the confirmation of destructive commands."""
    pid = D.new_project()
    code, out = on_terminal(["containers", "create", "--project", pid, "--image", "busybox",
                             "--name", "on-a-tty", "--color", "#ff8800", "--wait"])
    check(code == 0, out)
    check(re.search("[\u2800-\u28ff]", out), f"no spinner frame on a terminal: {out!r}")
    cid = re.search(r"id:\s+([0-9a-f]{24})", out).group(1)
    code, out = on_terminal(["containers", "list", "--project", pid])
    check(code == 0 and "\x1b[" in out and "on-a-tty" in out, f"no colors: {out!r}")
    check("255;136;0" in out or "38;5;" in out or "48;5;" in out, f"no swatch of #FF8800: {out!r}")
    # no: nothing happens; yes: deleted
    code, out = on_terminal(["containers", "delete", cid], answer="n")
    check("[y/N]" in out and D.get(f"/api/v1/containers/{cid}").status == 200, (code, out))
    code, out = on_terminal(["containers", "delete", cid], answer="y")
    check(code == 0, (code, out))
    r = D.get(f"/api/v1/containers/{cid}")
    check(r.status == 404 or r.data["status"] in ("deleting", "deleted"), r)


def test_help_everywhere():
    paths = help_tree()
    leaves = {" ".join(p) for p in paths}
    for want in ("containers create", "containers manage", "containers env set", "snapshots restore",
                 "auth tokens create", "events follow", "projects update", "images list"):
        check(want in leaves, f"{want} missing from help: {sorted(leaves)}")
    # -h, and `hoody help <command>`
    check("Usage: hoody containers create" in ok(run(["containers", "create", "-h"])), "-h")
    check("Usage: hoody containers get" in ok(run(["help", "containers", "get"])), "help word")


if __name__ == "__main__":
    with Daemon() as D:
        main([test_seed_workflow, test_json_and_quiet_output, test_wait_prints_urls, test_errors,
              test_global_options_and_discovery, test_auth_login_whoami_tokens_logout,
              test_later_endpoints, test_every_create_flag_and_admin_commands,
              test_terminal_niceties, test_help_everywhere])
