"""Events: recorded for every transition and change, in order, on the list
and on the live stream (SSE, resumable), isolated per user, and a reader
that never reads does not slow anyone else down."""
import json
import socket
import threading
import time

from hoody_test import Daemon, check, main, server_end
from test_containers import cpath, expect, wait_gone, wait_until
from test_operations import op


class Stream:
    """A raw SSE client on its own socket; events are parsed as they come."""

    def __init__(self, d, query="", token=..., last_id=None, rcvbuf=None, read=True):
        self.events, self.ids = [], []
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.connect(("127.0.0.1", d.port))
        tok = d.token if token is ... else token
        head = f"GET /api/v1/events/stream{query} HTTP/1.1\r\nHost: x\r\n" \
               f"Authorization: Bearer {tok}\r\nAccept: text/event-stream\r\n"
        if last_id is not None:
            head += f"Last-Event-ID: {last_id}\r\n"
        self.sock.sendall((head + "\r\n").encode())
        self.status = None
        self.done = threading.Event()
        if read:
            self.thread = threading.Thread(target=self.run, daemon=True)
            self.thread.start()

    def run(self):
        buf = b""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if self.status is None and b"\r\n\r\n" in buf:
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    self.status = int(head.split()[1])
                    if self.status != 200:
                        break
                # chunked transfer: the data: lines are whole JSON objects
                for line in buf.split(b"\n")[:-1]:
                    if line.startswith(b"data: "):
                        self.events.append(json.loads(line[6:]))
                    elif line.startswith(b"id: "):
                        self.ids.append(int(line[4:]))
                buf = buf.split(b"\n")[-1]
        except OSError:
            pass
        self.done.set()

    def wait_for(self, pred, timeout=120):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(pred(e) for e in self.events):
                return True
            time.sleep(0.02)
        return False

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def events_of(d, cid, token=...):
    r = d.get(f"/api/v1/events?container_id={cid}&sort_order=asc&limit=500", token=token)
    expect(r, 200)
    return r.data["events"]


def lifecycle(d, pid):
    """Drives one container through its life; returns its id."""
    c = d.create_container(pid, hoody_kit=False, name="evented")
    cid = c["id"]
    for name in ("stop", "start", "pause", "resume", "restart"):
        expect(op(d, cid, name), 200)
    expect(d.patch(cpath(d, cid), {"name": "renamed", "autostart": False}), 200)
    expect(d.put(f"/api/v1/containers/{cid}/env/K", {"value": "v"}), 200)
    r = d.post(f"/api/v1/containers/{cid}/snapshots", {"alias": "s"})
    expect(r, 201)
    expect(d.delete(cpath(d, cid)), 200)
    wait_gone(d, cid)
    return cid


EXPECTED = [
    "container.creating", "container.running",
    "container.stopped", "container.operation.completed",
    "container.running", "container.operation.completed",
    "container.paused", "container.operation.completed",
    "container.running", "container.operation.completed",
    "container.running", "container.operation.completed",
    "container.renamed", "container.autostart_disabled", "container.updated",
    "container.env.applied",
    "container.snapshot.created",
    "container.deleting", "container.deleted",
]


def test_events_in_order_on_list_and_stream():
    with Daemon() as d:
        pid = d.new_project()
        live = Stream(d, f"?project_id={pid}")
        check(live.wait_for(lambda e: False, timeout=0.3) is False and live.status == 200,
              f"stream status {live.status}")
        cid = lifecycle(d, pid)
        evs = events_of(d, cid)
        check([e["event_type"] for e in evs] == EXPECTED, [e["event_type"] for e in evs])
        for e in evs:
            check(set(e) >= {"id", "event_type", "resource_type", "resource_id", "user_id",
                             "payload", "realm_ids", "created_at"}, e)
            check(e["resource_type"] == "container" and e["resource_id"] == cid, e)
        ops = [e for e in evs if e["event_type"] == "container.operation.completed"]
        check([e["payload"]["operation"] for e in ops] ==
              ["stop", "start", "pause", "resume", "restart"], ops)
        check(all(len(e["payload"]["operation_id"]) == 32 for e in ops), ops)
        check(evs[2]["payload"]["from_status"] == "running" and
              evs[2]["payload"]["triggered_by"] == "user", evs[2])
        check(evs[12]["payload"] == {"old_name": "evented", "name": "renamed",
                                     "status": "running"}, evs[12])

        # the live stream saw the same events in the same order
        check(live.wait_for(lambda e: e["event_type"] == "container.deleted"), live.events)
        streamed = [e["id"] for e in live.events if e["container_id"] == cid]
        check(streamed == [e["id"] for e in evs], (len(streamed), len(evs)))
        check(live.ids == sorted(live.ids), live.ids)

        # resumable: Last-Event-ID replays what came after it
        again = Stream(d, f"?container_id={cid}", last_id=live.ids[4])
        check(again.wait_for(lambda e: e["event_type"] == "container.deleted"), again.events)
        check([e["id"] for e in again.events] == [e["id"] for e in evs[5:]], again.events)
        live.close()
        again.close()

        # a project's own events
        r = d.get(f"/api/v1/events?resource_type=project&resource_id={pid}")
        check([e["event_type"] for e in r.data["events"]] == ["project.created"], r.data)


def test_filters_stats_delete_and_isolation():
    with Daemon() as d:
        pid = d.new_project()
        cid = lifecycle(d, pid)
        r = d.get(f"/api/v1/events?container_id={cid}&event_type=container.running")
        check(len(r.data["events"]) == 4 and r.data["pagination"]["total"] == 4, r.data)
        r = d.get(f"/api/v1/events?container_id={cid}&limit=5&offset=5&sort_order=asc")
        check(len(r.data["events"]) == 5 and r.data["pagination"]["has_more"] is True,
              r.data["pagination"])
        check([e["event_type"] for e in r.data["events"]] == EXPECTED[5:10], r.data)
        future = "2999-01-01T00:00:00Z"
        check(d.get(f"/api/v1/events?start_date={future}").data["events"] == [], "start_date")
        r = d.get(f"/api/v1/events/stats?container_id={cid}")
        expect(r, 200)
        check(r.data["total_events"] == len(EXPECTED) and
              r.data["by_type"]["container.operation.completed"] == 5 and
              r.data["by_resource"] == {"container": len(EXPECTED)}, r.data)
        one = events_of(d, cid)[0]
        r = d.get(f"/api/v1/events/{one['id']}")
        check(r.status == 200 and r.data == one, r)
        for q in ("limit=0", "limit=501", "offset=-1", "sort_by=nope", "sort_order=up",
                  "start_date=yesterday", "realm_id=xyz", "event_type="):
            expect(d.get(f"/api/v1/events?{q}"), 400, None)
        expect(d.get("/api/v1/events/nothex"), 400, "INVALID_ID_FORMAT")
        expect(d.get("/api/v1/events/" + "0" * 24), 404, "RESOURCE_NOT_FOUND")

        # another user sees none of it, on the list, by id and on a stream
        other = d.new_user("evother")
        # (its list holds only its own account's creation)
        theirs_list = d.get("/api/v1/events", token=other).data["events"]
        check([e["event_type"] for e in theirs_list] == ["user.created"], theirs_list)
        expect(d.get(f"/api/v1/events/{one['id']}", token=other), 404, "RESOURCE_NOT_FOUND")
        theirs = Stream(d, token=other)
        mine = Stream(d)
        c2 = d.create_container(pid, hoody_kit=False)["id"]
        check(mine.wait_for(lambda e: e["resource_id"] == c2), "own stream")
        time.sleep(0.3)
        check(theirs.events == [] and theirs.status == 200, theirs.events)
        theirs.close()
        mine.close()
        expect(Stream_status(d, token=None), 401)

        # a token without event_access reads no events; one with it does
        r = d.post("/api/v1/auth/tokens", {"alias": "noev", "event_access": False})
        expect(r, 201)
        noev = r.data["token"]
        for path in ("/api/v1/events", "/api/v1/events/stats", f"/api/v1/events/{one['id']}"):
            expect(d.get(path, token=noev), 403, "INSUFFICIENT_PERMISSIONS")
        expect(d.delete("/api/v1/events", {}, token=noev), 403, "INSUFFICIENT_PERMISSIONS")
        expect(Stream_status(d, token=noev), 403)
        r = d.post("/api/v1/auth/tokens", {"alias": "ev"})
        check(d.get("/api/v1/events", token=r.data["token"]).status == 200, "event_access default")

        # delete by filter and cleanup by age
        expect(d.delete("/api/v1/events", {"bogus": 1}), 400, "VALIDATION_ERROR")
        r = d.delete("/api/v1/events", {"event_type": "container.running"})
        check(r.status == 200 and r.data["deleted_count"] >= 4, r)
        check(d.get("/api/v1/events?event_type=container.running").data["events"] == [], "gone")
        expect(d.post("/api/v1/events/cleanup", {}), 400, "VALIDATION_ERROR")
        expect(d.post("/api/v1/events/cleanup", {"retention_days": 0}), 400, "VALIDATION_ERROR")
        r = d.post("/api/v1/events/cleanup", {"retention_days": 1})
        check(r.status == 200 and r.data["deleted_count"] == 0, r)
        check(d.get(f"/api/v1/events?container_id={cid}").data["pagination"]["total"] > 0, "kept")


def Stream_status(d, token):
    s = socket.create_connection(("127.0.0.1", d.port))
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    s.sendall(f"GET /api/v1/events/stream HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
    head = s.recv(4096)
    s.close()
    return type("R", (), {"status": int(head.split()[1]), "code": None, "json": {}})()


def unsent(d, sock):
    """Bytes hoodyd holds for this client and cannot send, or None once its
    end of the connection is gone."""
    end = server_end(d.port, sock)
    return end and end[0]


def test_slow_reader_does_not_slow_the_api():
    """Three readers that never read are stuck for the whole test (hoodyd holds
    bytes for them it cannot send); every API call and a reading stream are
    served all the same. The connection timeout is longer than any test run,
    so that hoodyd closing them cannot be what lets the others through. The
    latency among stuck readers is bench/hostile_bench.py's."""
    with Daemon(extra_args=["--conn-timeout", "3600"]) as d:
        pid = d.new_project()
        cid = d.create_container(pid, hoody_kit=False)["id"]
        # clients that open a stream and never read, with a tiny buffer
        stuck = [Stream(d, rcvbuf=1024, read=False) for _ in range(3)]
        fine = Stream(d, f"?container_id={cid}")
        wait_until("the reading stream open", lambda: fine.status == 200)
        i = 0

        def all_stuck():
            return all((unsent(d, s.sock) or 0) > 0 for s in stuck)
        while not all_stuck():  # events until every stuck reader's buffers are full
            check(i < 1000, f"readers not stuck after {i} events: {[unsent(d, s.sock) for s in stuck]}")
            expect(d.put(f"/api/v1/containers/{cid}/env/F{i % 50}", {"value": "x" * 200}), 200)
            i += 1
        want = i + 250
        for i in range(250):  # ~250 events of ~600 bytes: far more than the buffers
            expect(d.put(f"/api/v1/containers/{cid}/env/K{i % 50}", {"value": "x" * 200}), 200)
            expect(d.get(cpath(d, cid)), 200)
        check(fine.wait_for(lambda e: e["event_type"].startswith("container.env") and
                            len([x for x in fine.events if x["event_type"].startswith("container.env")]) >= want),
              f"reader got {len(fine.events)}")
        check(all_stuck(), f"a stuck reader was let go: {[unsent(d, s.sock) for s in stuck]}")
        for s in stuck:
            s.close()
        fine.close()
        # the daemon still serves and stops cleanly with streams open: it ends
        # them first (with an hour of connection timeout, nothing else would,
        # and the harness fails a stop that takes 120 s)
        open_one = Stream(d)
        wait_until("a stream open", lambda: open_one.status == 200)
        d.stop()
        check(open_one.done.wait(60), "the open stream was not ended by the stop")
        open_one.close()
        d.start()


if __name__ == "__main__":
    main([test_events_in_order_on_list_and_stream, test_filters_stats_delete_and_isolation,
          test_slow_reader_does_not_slow_the_api])
