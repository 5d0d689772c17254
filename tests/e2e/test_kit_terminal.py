"""The Kit's terminal service through the proxy (kit-api.md §4, docs/KIT.md):
the WebSocket protocol of §4.3 with a real PTY in a busybox container (no
bash: the /bin/sh fallback) and a debian one (bash), shared and readonly
clients, reattaching with history, close 1000 on exit; sessions; execute
with wait=true/false, result polling, abort and timeout; the agent restarted
by hoody-init; hoody_kit false."""
import asyncio
import base64
import contextlib
import json
import os
import signal
import time

from hoody_test import check, ensure_image, main
from kit_util import Kit, init, kit_pids, read_until, run, websockets
from proxy_util import ProxyDaemon, request


SHARED = None


@contextlib.contextmanager
def shared_daemon():
    """One proxy daemon for the tests that need no flag of their own (a
    daemon's start and cleanup were most of each test's time): each still
    makes its own project and Kit container. Its exit is checked once, at
    the end (status 0, no sanitizer report)."""
    global SHARED
    if SHARED is None:
        SHARED = ProxyDaemon().start()
    yield SHARED


def test_websocket_protocol():
    with shared_daemon() as d:
        k = Kit(d)
        k.wait_ready()

        async def go():
            async with k.ws("?terminal_id=7") as ws:
                check(ws.subprotocol == "tty", ws.subprotocol)
                f = await init(ws)
                check(f[b"3"] == b"7" and f[b"4"] == b"sh", f)  # busybox: no bash
                await ws.send(b"0echo $((6*7))\r")
                await read_until(ws, b"42\r\n")
                await ws.send("1" + json.dumps({"columns": 123, "rows": 45}))
                await ws.send(b"0stty size\r")
                await read_until(ws, b"45 123")
                await ws.send(b"0echo mark-$((40+1))\r")
                await read_until(ws, b"mark-41")
            # reattach: the history comes back first
            async with k.ws("?terminal_id=7") as ws:
                await init(ws)
                await read_until(ws, b"mark-41")
                # two clients share the session; a readonly one cannot type
                async with k.ws("?terminal_id=7") as ws2, k.ws("?terminal_id=7&readonly=true") as ro:
                    await init(ws2)
                    await init(ro)
                    await ro.send(b"0echo from-readonly-$((1+1))\r")
                    await ws.send(b"0echo shared-$((2*50))\r")
                    await read_until(ws2, b"shared-100")
                    out = await read_until(ro, b"shared-100")
                    check(b"from-readonly-2" not in out, out)
                # pause stops output to nobody's loss; resume delivers it
                await ws.send(b"2")
                await ws.send(b"0echo after-$((3*3))\r")
                await asyncio.sleep(0.3)
                await ws.send(b"3")
                await read_until(ws, b"after-9")
                # unknown commands are ignored
                await ws.send(b"9whatever")
                await ws.send(b"0exit\r")
                try:
                    while True:
                        await asyncio.wait_for(ws.recv(), 30)
                except websockets.ConnectionClosed as e:
                    check(e.code == 1000, e)
            r = k.req("terminal-1", path="/api/v1/terminal/sessions")
            check(r.status == 200 and not any(s["terminal_id"] == "7" for s in r.json["data"]), r)

        run(go())
        # a client that skips the init frame is closed with a policy code
        async def no_init():
            async with k.ws("?terminal_id=8") as ws:
                await ws.send(b"0echo hi\r")
                try:
                    await asyncio.wait_for(ws.recv(), 30)
                except websockets.ConnectionClosed as e:
                    check(e.code == 1008, e)
        run(no_init())
        # no credentials: refused before the upgrade
        r = request(d.proxy_port, k.host("terminal-1"), path="/api/v1/terminal/ws")
        check(r.status == 401, r)


def test_websocket_spawn_parameters():
    with shared_daemon() as d:
        k = Kit(d)
        k.wait_ready()
        cmd = base64.b64encode(b"echo cmd-$((2+3)) $FOO $(pwd) $(id -un)").decode()

        async def go():
            q = f"?terminal_id=21&cwd=/tmp/new/dir&cwd_auto_create=true&env=FOO=bar&user=nobody&cmd={cmd}"
            async with k.ws(q) as ws:
                await init(ws)
                await read_until(ws, b"cmd-5 bar /tmp/new/dir nobody")
            # a user name longer than any buffer, an unknown user: refused, nothing spawned
            for user in ("x" * 5000, "nobody-here"):
                async with k.ws(f"?terminal_id=22&user={user}") as ws:
                    await ws.send(json.dumps({"command": "{", "columns": 80, "rows": 24}))
                    try:
                        while True:
                            await asyncio.wait_for(ws.recv(), 30)
                    except websockets.ConnectionClosed as e:
                        check(e.code == 1011, e)
        run(go())
        r = k.req("terminal-1", path="/api/v1/terminal/sessions")
        check([s["terminal_id"] for s in r.json["data"]] == ["21"], r)
        # defer_pid only turns wait off; the shell asked for stays
        res = k.execute("echo $0", "?shell=sh&defer_pid=1")
        check(res["status"] in ("running", "completed") and "command_id" in res, res)


def test_sessions_and_history():
    with shared_daemon() as d:
        k = Kit(d)
        k.wait_ready()
        r = k.req("terminal-1", "POST", "/api/v1/terminal/create",
                  {"terminal_id": 12, "shell": "bash", "cwd": "/tmp"})
        check(r.status == 201 and r.json["data"]["terminal_id"] == "12", r)
        check(r.json["data"]["shell"] == "sh", r)  # bash is absent: /bin/sh
        r = k.req("terminal-1", "POST", "/api/v1/terminal/create", {"terminal_id": 12})
        check(r.status == 200 and r.json["data"]["status"] == "exists", r)
        r = k.req("terminal-1", "POST", "/api/v1/terminal/write?terminal_id=12", {"input": "echo written-$((5+5)) && pwd"})
        check(r.status == 200, r)
        deadline = time.time() + 30
        while time.time() < deadline:
            raw = k.req("terminal-1", path="/api/v1/terminal/raw?terminal_id=12&format=text")
            if b"written-10" in raw.body and b"/tmp" in raw.body:
                break
            time.sleep(0.1)
        check(b"written-10" in raw.body and b"\n/tmp" in raw.body.replace(b"\r", b""), raw)
        r = k.req("terminal-1", path="/api/v1/terminal/history/12")
        check(r.status == 200 and r.json["data"]["commands"][-1]["command"] == "echo written-$((5+5)) && pwd", r)
        r = k.req("terminal-1", path="/api/v1/terminal/sessions?history_limit=1")
        s = [x for x in r.json["data"] if x["terminal_id"] == "12"]
        check(len(s) == 1 and s[0]["command_history"] == ["echo written-$((5+5)) && pwd"], r)
        # the platform's runtime_info.terminals lists the Kit's sessions
        deadline = time.time() + 10
        while time.time() < deadline:
            c = d.get(f"/api/v1/containers/{k.cid}?runtime=true")
            terms = ((c.data or {}).get("runtime_info") or {}).get("terminals") or []
            if any(t.get("terminal_id") == "12" for t in terms):
                break
            time.sleep(0.5)
        check(any(t.get("terminal_id") == "12" for t in terms), c)
        # bad input
        r = k.req("terminal-1", "POST", "/api/v1/terminal/create", {"terminal_id": 70000})
        check(r.status == 400, r)
        r = k.req("terminal-1", "POST", "/api/v1/terminal/create", b"{nope")
        check(r.status == 400, r)
        r = k.req("terminal-1", "POST", "/api/v1/terminal/create", {"terminal_id": 13, "user": "nobody-here"})
        check(r.status == 400, r)
        r = k.req("terminal-1", "DELETE", "/api/v1/terminal/12")
        check(r.status == 200, r)
        r = k.req("terminal-1", path="/api/v1/terminal/history/12")
        check(r.status == 404, r)
        r = k.req("terminal-1", "DELETE", "/api/v1/terminal/12")
        check(r.status == 404, r)


def test_execute():
    with shared_daemon() as d:
        k = Kit(d)
        k.wait_ready()
        res = k.execute("echo $((6*7)); echo oops >&2; exit 3", "?terminal_id=0&ephemeral=true")
        check(res["stdout"] == "42\n" and res["stderr"] == "oops\n" and res["exit_code"] == 3, res)
        check(res["status"] == "completed" and res["timed_out"] is False, res)
        # cwd, env (query and body), user
        res = k.execute("pwd; echo $A $B; id -u", "?cwd=/tmp&env=A=1&user=nobody", env={"B": "two"})
        check(res["stdout"] == "/tmp\n1 two\n65534\n", res)
        # wait=false: poll the result (ids are kit-global: any host)
        res = k.execute("sleep 0.5; echo late", wait=False)
        cid_ = res["command_id"]
        check(res["status"] in ("running", "pending"), res)
        deadline = time.time() + 30
        while time.time() < deadline:
            r = k.req("terminal-5", path=f"/api/v1/terminal/result/{cid_}")
            check(r.status == 200, r)
            if r.json["data"]["status"] not in ("pending", "running"):
                break
            time.sleep(0.1)
        check(r.json["data"]["stdout"] == "late\n" and r.json["data"]["exit_code"] == 0, r)
        # abort: graceful (SIGINT to the group), then 409 once finished
        res = k.execute("echo started; sleep 60", wait=False, id=4242)
        check(res["command_id"] == "4242", res)
        deadline = time.time() + 120  # aborted once it has started (its output says so)
        while k.req("terminal-0", path="/api/v1/terminal/result/4242").json["data"]["stdout"] != \
                "started\n":
            check(time.time() < deadline, "the command never started")
            time.sleep(0.05)
        r = k.req("terminal-0", "POST", "/api/v1/terminal/execute/4242/abort", {})
        check(r.status == 200, r)
        deadline = time.time() + 30
        while time.time() < deadline:
            r = k.req("terminal-0", path="/api/v1/terminal/result/4242")
            if r.json["data"]["status"] not in ("pending", "running"):
                break
            time.sleep(0.1)
        check(r.json["data"]["status"] == "failed" and r.json["data"]["stdout"] == "started\n", r)
        r = k.req("terminal-0", "POST", "/api/v1/terminal/execute/4242/abort", {"force": True})
        check(r.status == 409 and r.json["data"]["command_id"] == "4242", r)
        # the same custom id again: 409
        r = k.req("terminal-0", "POST", "/api/v1/terminal/execute", {"command": "true", "id": 4242})
        check(r.status == 409, r)
        # timeout
        res = k.execute("echo t; sleep 30", timeout=1)
        check(res["status"] == "timed_out" and res["timed_out"] is True and res["stdout"] == "t\n", res)
        # bad input
        for body in ({}, {"command": ""}, {"command": "true", "timeout": -1}, {"command": "true", "id": 0}):
            r = k.req("terminal-0", "POST", "/api/v1/terminal/execute", body)
            check(r.status == 400, (body, r))
        r = k.req("terminal-0", "POST", "/api/v1/terminal/execute?cwd=/no/such", {"command": "true"})
        check(r.status == 400, r)
        r = k.req("terminal-0", path="/api/v1/terminal/result/99999")
        check(r.status == 404, r)


def test_debian_bash():
    ensure_image("debian/12")
    with shared_daemon() as d:
        k = Kit(d, image="debian/12")
        k.wait_ready()
        res = k.execute("echo $BASH_VERSION | cut -c1; ls /.hoody", "?shell=bash")
        check(res["exit_code"] == 0 and res["stdout"].startswith("5\n"), res)

        async def go():
            async with k.ws("?terminal_id=3&shell=bash") as ws:
                f = await init(ws)
                check(f[b"4"] == b"bash", f)
                await ws.send(b"0echo $((6*7))\r")
                await read_until(ws, b"42\r\n")
        run(go())


def test_agent_restarted_and_disabled():
    with shared_daemon() as d:
        k = Kit(d)
        k.wait_ready()
        pids = kit_pids(d, k.cid)
        check(len(pids) == 1, pids)
        os.kill(pids[0], signal.SIGKILL)
        deadline = time.time() + 30
        while time.time() < deadline:
            now = kit_pids(d, k.cid)
            if now and now != pids:
                break
            time.sleep(0.02)
        check(now and now != pids, (pids, now))
        k.wait_ready()
        with open(f"{d.state}/containers/{k.cid}/init.log") as f:
            check("hoody-kit killed by signal 9" in f.read(), "the crash is not in init.log")
        # and in the container's status logs, once
        for _ in range(2):
            r = d.get(f"/api/v1/containers/{k.cid}/status-logs?limit=100")
            rows = [l for l in r.data["logs"] if l["triggered_by"] == "kit"]
            check(len(rows) == 1 and rows[0]["metadata"]["event"] == "kit_restart" and
                  rows[0]["metadata"]["signal"] == 9, r)
        # a forged record in the container's directory is a regular line or
        # nothing: a symlink to a host file is never read
        os.symlink("/etc/shadow", f"{d.run_dir}/kit/{k.cid}/events")
        r = d.get(f"/api/v1/containers/{k.cid}/status-logs?limit=100")
        check(r.status == 200 and len([l for l in r.data["logs"] if l["triggered_by"] == "kit"]) == 1, r)
        check(not os.path.lexists(f"{d.run_dir}/kit/{k.cid}/events"), "the link stayed")
        # a stop ends the agent with everything else; a start brings it back
        r = d.post(f"/api/v1/containers/{k.cid}/stop", {"timeout": 5})
        check(r.status == 200 and r.data["status"] == "stopped", r)
        r = k.req("terminal-1", path="/api/v1/terminal/health")
        check(r.status == 502, r)
        r = d.post(f"/api/v1/containers/{k.cid}/start", {})
        check(r.status == 200, r)
        k.wait_ready()
        check(len(kit_pids(d, k.cid)) == 1, "one agent after a start")
        # the agent's socket directory is not shared with any other container
        other = Kit(d)
        other.wait_ready()
        check(not os.path.samefile(f"{d.run_dir}/kit/{k.cid}", f"{d.run_dir}/kit/{other.cid}"), "shared dir")
        # hoody_kit false: no agent, its Kit hosts answer 404
        off = Kit(d, hoody_kit=False)
        check(kit_pids(d, off.cid) == [], "a kit process without hoody_kit")
        for seg in ("terminal-1", "files-1", "exec-1"):
            r = off.req(seg, path="/api/v1/terminal/health")
            check(r.status == 404, (seg, r))


def test_user_namespace():
    """With --userns the agent is the container's root, an unprivileged id on
    the host, and still owns its socket directory."""
    with ProxyDaemon(["--userns"]) as d:
        k = Kit(d)
        k.wait_ready()
        res = k.execute("id -u; echo hi > /tmp/f; stat -c %u /tmp/f")
        check(res["stdout"] == "0\n0\n", res)
        pid = kit_pids(d, k.cid)[0]
        with open(f"/proc/{pid}/status") as f:
            uid = [l.split()[1] for l in f if l.startswith("Uid:")][0]
        check(int(uid) >= 65536, f"the agent runs as host uid {uid}")
        st = os.stat(f"{d.run_dir}/kit/{k.cid}")
        check(st.st_uid == int(uid) and st.st_mode & 0o777 == 0o700, (st.st_uid, oct(st.st_mode)))


if __name__ == "__main__":
    try:
        main([test_websocket_protocol, test_websocket_spawn_parameters, test_sessions_and_history, test_execute, test_debian_bash,
              test_agent_restarted_and_disabled, test_user_namespace])
    finally:
        if SHARED:
            SHARED.cleanup()
