"""The socket.io channel of /api/v1/events, driven by the real socket.io
client from npm (tests/socketio, pinned by its package-lock.json) over
long-polling only, WebSocket only, and polling upgraded to WebSocket; plus
the raw Engine.IO exchanges a client may get wrong."""
import json
import os
import queue
import socket
import subprocess
import threading
import time

from hoody_test import Daemon, check, main

SIO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "socketio")


def npm_ci():
    """The client comes from the npm registry, pinned; installed once."""
    if not os.path.isdir(os.path.join(SIO_DIR, "node_modules", "socket.io-client")):
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=SIO_DIR, check=True,
                       capture_output=True, timeout=600)


class Client:
    """node tests/socketio/client.js, its JSON lines read by a thread."""

    def __init__(self, d, token, transports):
        self.lines = queue.Queue()
        self.seen = []
        self.p = subprocess.Popen(["node", os.path.join(SIO_DIR, "client.js"), d.base, token or "",
                                   transports], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(json.loads(line))

    def wait(self, pred, timeout=20):
        """The first line (seen before or arriving) that pred accepts, else None."""
        for x in self.seen:
            if pred(x):
                return x
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                x = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(x)
            if pred(x):
                return x
        return None

    def drain(self, seconds):
        self.wait(lambda x: False, timeout=seconds)
        return self.seen

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()


def event_of(c, etype, cid):
    return c.wait(lambda x: x.get("event") == etype and x["data"].get("container_id") == cid)


def check_channel(transports):
    """Alice's client gets her container's events under their names, with
    the event object; Bob's client sees none of them, only his own; no
    token is refused."""
    npm_ci()
    with Daemon() as d:
        bob = d.new_user("bob")
        alice = Client(d, d.token, transports)
        spy = Client(d, bob, transports)
        anon = Client(d, None, transports)
        try:
            hello = alice.wait(lambda x: "connected" in x or "connect_error" in x)
            check(hello and "connected" in hello, (transports, hello, alice.seen))
            check(spy.wait(lambda x: "connected" in x), spy.seen)
            refused = anon.wait(lambda x: "connect_error" in x or "connected" in x)
            check(refused and "connect_error" in refused, (transports, anon.seen))
            check("Authentication" in refused["connect_error"], refused)

            pid = d.new_project()
            cid = d.create_container(pid)["id"]
            ev = event_of(alice, "container.running", cid)
            check(ev, (transports, alice.seen))
            data = ev["data"]
            check(data["event_type"] == "container.running" and data["resource_type"] == "container"
                  and data["resource_id"] == cid and data["project_id"] == pid, data)
            check(data["payload"]["to_status"] == "running", data)
            # the same object as the REST list
            r = d.get(f"/api/v1/events/{data['id']}")
            check(r.status == 200 and r.data == data, (r, data))
            check(event_of(alice, "container.creating", cid), alice.seen)

            bob_pid = d.new_project(token=bob)
            bob_cid = d.create_container(bob_pid, token=bob)["id"]
            check(event_of(spy, "container.running", bob_cid), spy.seen)
            check(all(x["data"]["container_id"] != cid for x in spy.seen if "event" in x), spy.seen)
            check(all(x["data"].get("container_id") != bob_cid and
                      x["data"]["user_id"] == data["user_id"]
                      for x in alice.drain(0.5) if "event" in x), alice.seen)
            first = transports.split(",")[0]
            check(alice.wait(lambda x: "open" in x)["open"] == first, alice.seen)
            if transports == "polling,websocket":
                check(alice.wait(lambda x: x.get("upgrade") == "websocket"), alice.seen)
            d.delete(f"/api/v1/containers/{cid}")
            d.delete(f"/api/v1/containers/{bob_cid}", token=bob)
            check(event_of(alice, "container.deleted", cid), alice.seen)
        finally:
            for c in (alice, spy, anon):
                c.close()


def test_polling_only():
    check_channel("polling")


def test_websocket_only():
    check_channel("websocket")


def test_polling_upgraded_to_websocket():
    check_channel("polling,websocket")


def test_token_without_event_access_refused():
    npm_ci()
    with Daemon() as d:
        r = d.post("/api/v1/auth/tokens", {"alias": "no-events", "event_access": False})
        check(r.status == 201, r)
        c = Client(d, r.data["token"], "websocket")
        try:
            x = c.wait(lambda x: "connect_error" in x or "connected" in x)
            check(x and "connect_error" in x, c.seen)
        finally:
            c.close()
        c = Client(d, "hdy_" + "x" * 40, "polling")
        try:
            x = c.wait(lambda x: "connect_error" in x or "connected" in x)
            check(x and "connect_error" in x, c.seen)
        finally:
            c.close()


def raw(d, method, query, body=b"", headers=""):
    """One HTTP request on its own socket: (status, body bytes)."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
    head = (f"{method} /api/v1/events/?{query} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            f"Content-Length: {len(body)}\r\n{headers}\r\n").encode()
    s.sendall(head + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, rest = data.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        out = b""
        while rest:
            size, _, rest = rest.partition(b"\r\n")
            n = int(size, 16)
            if n == 0:
                break
            out, rest = out + rest[:n], rest[n + 2:]
        rest = out
    return int(head.split()[1]), rest


def test_engine_io_protocol():
    """Handshake, CONNECT by POST, ping answered, the errors of Engine.IO,
    and GET /api/v1/events without EIO still the JSON list."""
    with Daemon() as d:
        st, body = raw(d, "GET", "EIO=4&transport=polling")
        check(st == 200 and body.startswith(b"0{"), (st, body))
        hs = json.loads(body[1:])
        check(hs["upgrades"] == ["websocket"] and hs["pingInterval"] == 25000 and
              hs["pingTimeout"] == 20000 and hs["maxPayload"] == 65536, hs)
        sid = hs["sid"]
        st, body = raw(d, "POST", f"EIO=4&transport=polling&sid={sid}",
                       ('40' + json.dumps({"token": d.token})).encode())
        check(st == 200 and body == b"ok", (st, body))
        st, body = raw(d, "GET", f"EIO=4&transport=polling&sid={sid}")
        check(st == 200 and body.startswith(b'40{"sid":"'), (st, body))
        # a pong is accepted, an unknown namespace refused
        st, body = raw(d, "POST", f"EIO=4&transport=polling&sid={sid}", b"3\x1e40/admin,{}")
        check(st == 200, (st, body))
        st, body = raw(d, "GET", f"EIO=4&transport=polling&sid={sid}")
        check(body == b'44{"message":"Invalid namespace"}', body)
        # an event arrives on the next poll
        d.new_project(alias="sio-raw")
        st, body = raw(d, "GET", f"EIO=4&transport=polling&sid={sid}")
        packets = body.split(b"\x1e")
        check(any(p.startswith(b'42["project.created"') for p in packets), body)
        # close, then the sid is unknown
        st, body = raw(d, "POST", f"EIO=4&transport=polling&sid={sid}", b"1")
        check(st == 200, (st, body))
        time.sleep(0.7)
        st, body = raw(d, "GET", f"EIO=4&transport=polling&sid={sid}")
        check(st == 400 and json.loads(body) == {"code": 1, "message": "Session ID unknown"}, body)

        st, body = raw(d, "GET", "EIO=3&transport=polling")
        check(st == 400 and json.loads(body)["code"] == 5, body)
        st, body = raw(d, "GET", "EIO=4&transport=carrier-pigeon")
        check(st == 400 and json.loads(body)["code"] == 0, body)
        st, body = raw(d, "POST", "EIO=4&transport=polling", b"40")
        check(st == 400 and json.loads(body)["code"] == 2, body)
        st, body = raw(d, "GET", "EIO=4&transport=polling&sid=nope")
        check(st == 400 and json.loads(body)["code"] == 1, body)
        st, body = raw(d, "GET", "EIO=4&transport=websocket")  # no Upgrade headers
        check(st == 400, (st, body))
        # an oversize POST ends the session
        st, body = raw(d, "GET", "EIO=4&transport=polling")
        sid = json.loads(body[1:])["sid"]
        st, body = raw(d, "POST", f"EIO=4&transport=polling&sid={sid}", b"4" + b"x" * 70000)
        check(st == 413, (st, body))

        # the REST list is unchanged, and still needs a token
        r = d.get("/api/v1/events")
        check(r.status == 200 and "events" in r.data, r)
        r = d.get("/api/v1/events/", token=None)
        check(r.status == 401, r)


if __name__ == "__main__":
    main([test_engine_io_protocol, test_polling_only, test_websocket_only,
          test_polling_upgraded_to_websocket, test_token_without_event_access_refused])
