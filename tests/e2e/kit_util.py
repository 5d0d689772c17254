"""Helpers for the Kit tests and bench: a proxy daemon, a Kit container and a
terminal WebSocket client (Debian's python3-websockets) through the proxy."""
import asyncio
import json
import os
import subprocess
import sys
import time

try:
    import websockets
except ImportError:  # Debian's package, when python3 is not Debian's
    sys.path.append("/usr/lib/python3/dist-packages")
    import websockets

from hoody_test import check
from proxy_util import ProxyDaemon, init_pid, request


class Kit:
    """One container's Kit through the proxy, as its owner."""

    def __init__(self, d, image="busybox", **fields):
        self.d = d
        self.p = d.new_project()
        self.cid = d.create_container(self.p, container_image=image, **fields)["id"]
        self.owner = d.claim_headers(self.cid)

    def host(self, segment):
        return self.d.host(self.p, self.cid, segment)

    def req(self, segment, method="GET", path="/", body=None, headers=None, timeout=120):
        h = dict(self.owner)
        h.update(headers or {})
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        return request(self.d.proxy_port, self.host(segment), method, path, body, h, timeout)

    def wait_ready(self, timeout=120):
        """The agent answers its health route (hoody-init started it)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            r = self.req("terminal-1", path="/api/v1/terminal/health")
            if r.status == 200:
                return r
            time.sleep(0.05)
        check(False, f"the Kit of {self.cid} never answered: {r}")

    def execute(self, command, query="", **body):
        body["command"] = command
        r = self.req("terminal-0", "POST", "/api/v1/terminal/execute" + query, body)
        check(r.status == 200, r)
        return r.json["data"]

    def ws(self, query="", segment="terminal-1", headers=None):
        h = dict(self.owner)
        h.update(headers or {})
        uri = f"ws://{self.host(segment)}:{self.d.proxy_port}/api/v1/terminal/ws{query}"
        return websockets.connect(uri, host="127.0.0.1", port=self.d.proxy_port,
                                  subprotocols=["tty"], extra_headers=h, max_size=None,
                                  open_timeout=30)


def kit_pids(d, cid):
    """Host pids of hoody-kit processes inside the container (by its pid namespace)."""
    root = init_pid(d, cid)
    ns = os.readlink(f"/proc/{root}/ns/pid")
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            if os.readlink(f"/proc/{p}/ns/pid") != ns:
                continue
            with open(f"/proc/{p}/cmdline", "rb") as f:
                if f.read().split(b"\0")[0] == b"hoody-kit":
                    out.append(int(p))
        except OSError:
            pass
    return out


async def init(ws, cols=100, rows=30):
    """Sends the init frame, reads the four setup frames; returns them by command."""
    await ws.send(json.dumps({"command": "{", "columns": cols, "rows": rows}))
    frames = {}
    for _ in range(4):
        m = await asyncio.wait_for(ws.recv(), 30)
        check(isinstance(m, bytes), f"a text frame from the server: {m!r}")
        frames[m[:1]] = m[1:]
    return frames


async def read_until(ws, needle, timeout=120):
    """OUTPUT frames until needle shows up; returns everything read."""
    out = b""
    deadline = time.time() + timeout
    while needle not in out:
        left = deadline - time.time()
        check(left > 0, f"{needle!r} never came; got {out[-400:]!r}")
        m = await asyncio.wait_for(ws.recv(), left)
        check(isinstance(m, bytes) and m[:1] == b"0", f"not an OUTPUT frame: {m[:40]!r}")
        out += m[1:]
    return out


def run(coro):
    return asyncio.run(coro)
