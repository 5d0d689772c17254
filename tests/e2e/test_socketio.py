"""The socket.io channel of /api/v1/events, driven by the real socket.io
client from npm (tests/socketio, pinned by its package-lock.json) over
long-polling only, WebSocket only, and polling upgraded to WebSocket; plus
the raw Engine.IO exchanges a client may get wrong."""
import base64
import json
import os
import queue
import socket
import struct
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


def raw(d, method, query, body=b"", headers="", host="x"):
    """One HTTP request on its own socket: (status, body bytes)."""
    s = socket.create_connection(("127.0.0.1", d.port), timeout=30)
    head = (f"{method} /api/v1/events/?{query} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
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
        st, body = raw(d, "GET", "EIO=4&transport=polling", host="nothex.api.hoody.local")
        check(st == 400 and "realm" in json.loads(body)["message"], body)
        st, body = raw(d, "GET", "EIO=4&transport=websocket")  # no Upgrade headers
        check(st == 400, (st, body))
        # an oversize POST ends the session
        st, body = raw(d, "GET", "EIO=4&transport=polling")
        sid = json.loads(body[1:])["sid"]
        st, body = raw(d, "POST", f"EIO=4&transport=polling&sid={sid}", b"4" + b"x" * 70000)
        check(st == 413, (st, body))

        # one address holds at most 64 sessions (the table holds 1024)
        sids = []
        for _ in range(70):
            st, body = raw(d, "GET", "EIO=4&transport=polling")
            if st != 200:
                break
            sids.append(json.loads(body[1:])["sid"])
        check(st == 503 and json.loads(body)["message"] == "Too many sessions", (st, body))
        check(60 <= len(sids) <= 64, len(sids))
        for sid in sids:  # closing them frees the slots
            raw(d, "POST", f"EIO=4&transport=polling&sid={sid}", b"1")
        time.sleep(1.2)
        st, body = raw(d, "GET", "EIO=4&transport=polling")
        check(st == 200, (st, body))

        # the REST list is unchanged, and still needs a token
        r = d.get("/api/v1/events")
        check(r.status == 200 and "events" in r.data, r)
        r = d.get("/api/v1/events/", token=None)
        check(r.status == 401, r)


class RawWs:
    """A minimal WebSocket client of our own (masked text frames), to control
    exactly when it reads."""

    def __init__(self, d, rcvbuf=None):
        self.s = socket.socket()
        if rcvbuf:
            self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.s.connect(("127.0.0.1", d.port))
        self.s.settimeout(30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.s.sendall((f"GET /api/v1/events/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\n"
                        f"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                        f"Sec-WebSocket-Version: 13\r\n\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            self.buf += self.s.recv(4096)
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        self.head = head.decode()

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        hdr = bytes([0x81]) + (bytes([0x80 | len(data)]) if len(data) < 126 else
                               bytes([0x80 | 126]) + struct.pack(">H", len(data)))
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _need(self, n):
        while len(self.buf) < n:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def recv(self):
        """The next text message (answers pings with pongs on the way)."""
        while True:
            self._need(2)
            op, n, pos = self.buf[0] & 0x0f, self.buf[1] & 0x7f, 2
            if n == 126:
                self._need(4)
                n, pos = struct.unpack(">H", self.buf[2:4])[0], 4
            elif n == 127:
                self._need(10)
                n, pos = struct.unpack(">Q", self.buf[2:10])[0], 10
            self._need(pos + n)
            payload, self.buf = self.buf[pos:pos + n], self.buf[pos + n:]
            if op == 1:
                text = payload.decode()
                if text == "2":
                    self.send("3")
                    continue
                return text
            if op == 8:
                raise EOFError

    def close(self):
        self.s.close()


def test_slow_readers_hold_nothing_back():
    """A WebSocket client that stops reading and a polling session that never
    polls, while 300 events happen: the API and a reading client carry on,
    and the stalled client, once it reads again, gets every event in order."""
    npm_ci()
    with Daemon() as d:
        stalled = RawWs(d, rcvbuf=4096)
        check(" 101 " in stalled.head.split("\r\n")[0], stalled.head)
        check(stalled.recv().startswith('0{"sid"'), "no open packet")
        stalled.send("40" + json.dumps({"token": d.token}))
        check(stalled.recv().startswith('40{"sid"'), "no CONNECT answer")
        st, body = raw(d, "GET", "EIO=4&transport=polling")
        sid = json.loads(body[1:])["sid"]
        raw(d, "POST", f"EIO=4&transport=polling&sid={sid}", ('40' + json.dumps({"token": d.token})).encode())
        reader = Client(d, d.token, "websocket")
        try:
            check(reader.wait(lambda x: "connected" in x), reader.seen)
            n = 300
            for i in range(n):
                r = d.post("/api/v1/projects", {"alias": f"flood-{i}-" + "x" * 40})
                check(r.status == 201, r)
            got = reader.wait(lambda x: x.get("event") == "project.created" and
                              x["data"]["payload"]["alias"].startswith(f"flood-{n - 1}-"), timeout=60)
            check(got, f"reader got {len(reader.seen)} lines")
            aliases = [x["data"]["payload"]["alias"].split("-")[1] for x in reader.seen
                       if x.get("event") == "project.created"]
            check(aliases == [str(i) for i in range(n)], aliases[:20])
            # the stalled one reads now: everything, in order, nothing twice
            seen = []
            while len(seen) < n:
                m = stalled.recv()
                if m.startswith('42["project.created"'):
                    seen.append(json.loads(m[2:])[1]["payload"]["alias"].split("-")[1])
            check(seen == [str(i) for i in range(n)], seen[:20])
            # and the silent polling session is still there to poll
            st, body = raw(d, "GET", f"EIO=4&transport=polling&sid={sid}")
            check(st == 200 and body.startswith(b'40{"sid"'), (st, body[:200]))
        finally:
            reader.close()
            stalled.close()


def test_revoked_token_is_disconnected():
    """The credential is checked again at the next ping: a deleted token's
    client is told DISCONNECT; a live one stays."""
    npm_ci()
    with Daemon() as d:
        r = d.post("/api/v1/auth/tokens", {"alias": "short-lived"})
        check(r.status == 201, r)
        doomed = Client(d, r.data["token"], "websocket")
        keeper = Client(d, d.token, "polling")
        try:
            check(doomed.wait(lambda x: "connected" in x), doomed.seen)
            check(keeper.wait(lambda x: "connected" in x), keeper.seen)
            check(d.delete(f"/api/v1/auth/tokens/{r.data['id']}").status == 200, "delete")
            gone = doomed.wait(lambda x: "disconnect" in x, timeout=40)
            check(gone and gone["disconnect"] == "io server disconnect", doomed.seen)
            check(not any("disconnect" in x for x in keeper.drain(0.2)), keeper.seen)
        finally:
            doomed.close()
            keeper.close()


def test_stop_with_sessions_open():
    """hoodyd stops cleanly (exit 0, no sanitizer report) and promptly with a
    WebSocket and a suspended long-poll open, and both clients see their
    connection end."""
    with Daemon() as d:
        ws = RawWs(d)
        check(ws.recv().startswith('0{"sid"'), "no open packet")
        ws.send("40" + json.dumps({"token": d.token}))
        check(ws.recv().startswith('40{"sid"'), "no CONNECT answer")
        st, body = raw(d, "GET", "EIO=4&transport=polling")
        sid = json.loads(body[1:])["sid"]
        polled = []
        t = threading.Thread(target=lambda: polled.append(
            raw(d, "GET", f"EIO=4&transport=polling&sid={sid}")), daemon=True)
        t.start()
        time.sleep(0.3)  # the poll is suspended by now (nothing to send)
        d.stop()
        t.join(30)
        # the poll ends: with a close packet, or cut by the stopping server
        # before it could be answered (both make a client reconnect)
        check(polled and polled[0] in ((200, b"1"), (200, b"")), polled)
        try:
            while True:
                ws.recv()
        except (EOFError, OSError):
            pass
        ws.close()
        d.start()


if __name__ == "__main__":
    main([test_engine_io_protocol, test_polling_only, test_websocket_only,
          test_polling_upgraded_to_websocket, test_token_without_event_access_refused,
          test_slow_readers_hold_nothing_back, test_revoked_token_is_disconnected,
          test_stop_with_sessions_open])
