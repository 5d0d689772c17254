"""Open tunnels lose the access that admitted them (docs/PROXY.md "What
closes a tunnel"). A WebSocket through the proxy, held by a relay worker
(plain listener) or by hoodyd itself (TLS listener), is decided again when
access changes and closed when the same request would now be refused:

- the container goes from public to private: its unauthenticated tunnels
  close (WebSockets, and a CONNECT tunnel of its egress proxy), the owner's
  and another container's stay and echo;
- the API token inside the owner's claim pair is revoked: those tunnels
  close, one admitted by another of the owner's credentials stays;
- the alias a tunnel came through is deleted: it closes, a tunnel to the
  container's own name stays;
- the claim that admitted it expires (time alone, no change);
- the container stops: a CONNECT of its egress proxy to a neighbour, which
  its programs' end would not close, is closed;
- another user can neither close them (their own changes touch only their
  containers) nor make the changes (404).

"Stays open" is shown after a barrier: a canary tunnel on the same path
(one proxy loop, one relay supervisor: changes are applied in order) closed
by a later change, so every earlier change has been applied by then."""
import os
import shutil
import socket
import ssl
import tempfile
import time

from hoody_test import check, free_port, main
from proxy_util import (ProxyDaemon, relay_pids, send_head, start_upstream, ws_connect,
                        ws_recv, ws_send)
from test_proxy_edge import make_cert

# A liveness bound, not a speed one: a close the proxy owes arrives long
# before; a test that waits it out fails.
CLOSE_DEADLINE_S = 120

TMP = tempfile.mkdtemp(prefix="hoody-revoke-")
CRT, KEY = make_cert(TMP, "revoke")
D = None


def daemon(extra=()):
    # one loop: the canary barrier and the tunnels it vouches for share it
    tls_port = free_port()
    d = ProxyDaemon(["--proxy-threads", "1", "--proxy-tls-listen", f"127.0.0.1:{tls_port}",
                     "--tls-cert", CRT, "--tls-key", KEY] + list(extra))
    d.tls_port = tls_port
    return d


def tls_socket(host):
    ctx = ssl.create_default_context(cafile=CRT)
    return ctx.wrap_socket(socket.create_connection(("127.0.0.1", D.tls_port), timeout=30),
                           server_hostname=host)


class Tunnel:
    """A WebSocket through the proxy: plain (relayed) or TLS (in hoodyd);
    with egress, a WebSocket inside a CONNECT tunnel of the container's
    -proxy name to its own 127.0.0.1:9000 (TLS, in hoodyd)."""

    def __init__(self, host, headers=None, tls=False, egress=False, target="127.0.0.1:9000"):
        port, sock, ws_host = D.proxy_port, None, host
        if tls or egress:
            port, sock = D.tls_port, tls_socket(host)
        if egress:
            lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
            head = send_head(sock, lines + [f"{k}: {v}" for k, v in (headers or {}).items()])
            check(head.startswith(b"HTTP/1.1 200"), f"CONNECT through the proxy: {head}")
            headers, ws_host = None, target
        self.s, status, head = ws_connect(port, ws_host, path="/ws", headers=headers,
                                          timeout=30, sock=sock)
        check(status == 101, f"upgrade through the proxy: {head}")
        self.echo()

    def echo(self, msg=b"still here"):
        ws_send(self.s, msg)
        check(ws_recv(self.s) == (1, msg), "echo through the tunnel")

    def closed_by_proxy(self):
        """True once the proxy ends the connection; False at the deadline."""
        self.s.settimeout(CLOSE_DEADLINE_S)
        try:
            while True:
                if not self.s.recv(4096):
                    return True
        except socket.timeout:
            return False
        except (ConnectionError, OSError, ssl.SSLError):
            return True

    def expect_closed(self, why):
        check(self.closed_by_proxy(), f"not closed within {CLOSE_DEADLINE_S} s: {why}")
        self.s.close()

    def close(self):
        self.s.close()


def put_doc(cid, doc, token=..., expect=(200, 201)):
    base = f"/api/v1/containers/{cid}/proxy/permissions"
    r = D.get(base, token=token)
    ver = r.data["file_version"] if r.status == 200 else 0
    r = D.put(base, dict(doc, container=cid), token=token, headers={"If-Match": f"file:v{ver}"})
    check(r.status in expect, r)
    return r


PUBLIC = {"groups": {}, "permissions": {}, "default": "allow"}
PRIVATE = {"groups": {}, "permissions": {}, "default": "deny"}


PROJECT = {}  # container id -> its project


def container(token=...):
    """A running container with the echo server on 9000; its http-9000 name."""
    p = D.new_project(token=token)
    cid = D.create_container(p, token=token)["id"]
    start_upstream(D, cid, 9000)
    PROJECT[cid] = p
    return cid, D.host(p, cid, "http-9000")


def relayed(n):
    """Waits until relay workers hold at least n tunnels (two sockets each)."""
    deadline = time.time() + CLOSE_DEADLINE_S
    while time.time() < deadline:
        socks = 0
        for pid in relay_pids(D.proc.pid):
            fd_dir = f"/proc/{pid}/fd"
            try:
                socks += sum(os.readlink(f"{fd_dir}/{f}").startswith("socket:")
                             for f in os.listdir(fd_dir))
            except OSError:
                pass
        # each worker also holds its control socket
        if socks - len(relay_pids(D.proc.pid)) >= 2 * n:
            return
        time.sleep(0.1)
    check(False, f"relay workers do not hold {n} tunnels")


CANARY = {}


def barrier():
    """Every access change made so far has been applied to every tunnel on
    both paths: a later change closes a canary tunnel on each."""
    if not CANARY:
        CANARY["cid"], CANARY["host"] = container()
    cid, host = CANARY["cid"], CANARY["host"]
    put_doc(cid, PUBLIC)
    canaries = [Tunnel(host), Tunnel(host, tls=True)]
    put_doc(cid, PRIVATE)
    for t in canaries:
        t.expect_closed("the canary of the barrier")


def withdraw(doomed, kept, path, why):
    """Everything before has been applied and left every tunnel open; the
    owner's DELETE of path closes the doomed ones and keeps the others."""
    barrier()
    for t in doomed + kept:
        t.echo()
    r = D.delete(path)
    check(r.status in (200, 204), r)
    for t in doomed:
        t.expect_closed(why)
    barrier()
    for t in kept:
        t.echo()
        t.close()


def test_public_to_private():
    a_cid, a_host = container()
    b_cid, b_host = container()
    put_doc(a_cid, PUBLIC)
    put_doc(b_cid, PUBLIC)
    owner = D.claim_headers(a_cid)
    a_egress = D.host(PROJECT[a_cid], a_cid, "proxy")
    anon = [Tunnel(a_host), Tunnel(a_host, tls=True), Tunnel(a_egress, egress=True)]
    kept = [Tunnel(a_host, owner), Tunnel(a_host, owner, tls=True), Tunnel(b_host),
            Tunnel(b_host, tls=True), Tunnel(a_egress, owner, egress=True),
            Tunnel(D.host(PROJECT[b_cid], b_cid, "proxy"), egress=True)]
    relayed(3)  # the plain ones
    put_doc(a_cid, PRIVATE)
    for t in anon:
        t.expect_closed("an unauthenticated tunnel to a container made private")
    barrier()
    for t in kept:
        t.echo()  # the owner's, and another container's
        t.close()
    # a new unauthenticated request is refused as the tunnels were
    s, status, _ = ws_connect(D.proxy_port, a_host, timeout=30)
    check(status == 401, status)
    s.close()


def test_revoked_token():
    cid, host = container()
    put_doc(cid, PRIVATE)
    r = D.post("/api/v1/auth/tokens", {"alias": "revoke-me"})
    check(r.status == 201, r)
    tok_id, secret = r.data["id"], r.data["token"]
    by_token = D.claim_headers(cid, token=secret)
    doomed = [Tunnel(host, by_token), Tunnel(host, by_token, tls=True),
              Tunnel(D.host(PROJECT[cid], cid, "proxy"), by_token, egress=True)]
    kept = [Tunnel(host, D.claim_headers(cid)), Tunnel(host, D.claim_headers(cid), tls=True)]
    # another user deletes the token: 404, nothing closes
    bob = D.new_user("bob-revoke")
    r = D.delete(f"/api/v1/auth/tokens/{tok_id}", token=bob)
    check(r.status == 404, r)
    # bob's own token changes touch only his containers
    r = D.post("/api/v1/auth/tokens", {"alias": "bobs"}, token=bob)
    check(r.status == 201, r)
    check(D.delete(f"/api/v1/auth/tokens/{r.data['id']}", token=bob).status in (200, 204), "bob")
    withdraw(doomed, kept, f"/api/v1/auth/tokens/{tok_id}",
             "a tunnel admitted by a revoked token")


def test_deleted_alias():
    cid, host = container()
    put_doc(cid, PUBLIC)
    r = D.post("/api/v1/proxy/aliases", {"container_id": cid, "alias": "revoke-echo",
                                         "program": "http-9000"})
    check(r.status == 201, r)
    alias_id = r.data["id"]
    ahost = "revoke-echo.node-local.containers.hoody.local"
    doomed = [Tunnel(ahost), Tunnel(ahost, tls=True)]
    kept = [Tunnel(host), Tunnel(host, tls=True)]
    # another user: not their alias, not their container
    bob = D.new_user("bob-alias")
    check(D.delete(f"/api/v1/proxy/aliases/{alias_id}", token=bob).status == 404, "bob deletes")
    check(D.patch(f"/api/v1/proxy/aliases/{alias_id}/state", {"enabled": False},
                  token=bob).status == 404, "bob disables")
    put_doc(cid, PRIVATE, token=bob, expect=(404,))
    # bob's own container going private touches only his tunnels
    bob_cid, bob_host = container(token=bob)
    put_doc(bob_cid, PUBLIC, token=bob)
    bobs = Tunnel(bob_host)
    put_doc(bob_cid, PRIVATE, token=bob)
    bobs.expect_closed("bob's own tunnel, when bob makes his container private")
    withdraw(doomed, kept, f"/api/v1/proxy/aliases/{alias_id}",
             "a tunnel through a deleted alias")


def test_stopped_container():
    """A CONNECT of a container's egress proxy to a neighbour (same project)
    does not depend on the container's programs, and its namespace outlives
    a stop: the stop itself closes it. The neighbour's own tunnel stays."""
    p = D.new_project()
    a_cid = D.create_container(p)["id"]
    b_cid = D.create_container(p)["id"]
    start_upstream(D, b_cid, 9000)
    for cid in (a_cid, b_cid):
        put_doc(cid, PUBLIC)
    b_ip = os.readlink(os.path.join(D.state, "ipam", f"id-{b_cid}"))
    doomed = Tunnel(D.host(p, a_cid, "proxy"), egress=True, target=f"{b_ip}:9000")
    kept = Tunnel(D.host(p, b_cid, "http-9000"), tls=True)
    r = D.post(f"/api/v1/containers/{a_cid}/stop", {})
    check(r.status in (200, 202), r)
    D.wait_status(a_cid, "stopped")
    doomed.expect_closed("a CONNECT of a stopped container's egress proxy")
    barrier()
    kept.echo()
    kept.close()


def test_claim_expiry():
    """Time alone withdraws a claim: tunnels it admitted close at its exp
    (a daemon of its own, claims of 10 s); a tunnel of a token group stays."""
    global D
    shared = D
    try:
        with daemon(["--claim-ttl", "10"]) as d:
            D = d
            cid, host = container()
            put_doc(cid, {"groups": {"k": {"header": "X-Key", "value": "s3cret"}},
                          "permissions": {"k": {"http": True}}, "default": "deny"})
            owner = D.claim_headers(cid)
            doomed = [Tunnel(host, owner), Tunnel(host, owner, tls=True)]
            key = {"X-Key": "s3cret"}
            kept = [Tunnel(host, key), Tunnel(host, key, tls=True)]
            for t in doomed:
                t.expect_closed("a tunnel admitted by a claim past its exp")
            for t in kept:  # no expiry behind them: never decided again
                t.echo()
                t.close()
    finally:
        D = shared


def test_bad_input_changes_nothing():
    """Refused writes (stale If-Match, bad documents) note no change: the
    tunnels they would have closed stay."""
    cid, host = container()
    put_doc(cid, PUBLIC)
    t = Tunnel(host)
    base = f"/api/v1/containers/{cid}/proxy/permissions"
    r = D.put(base, dict(PRIVATE, container=cid), headers={"If-Match": "file:v0"})
    check(r.status == 412, r)
    r = D.put(base, dict(PRIVATE, container=cid))
    check(r.status == 428, r)
    ver = D.get(base).data["file_version"]
    r = D.put(base, {"default": "nope", "container": cid}, headers={"If-Match": f"file:v{ver}"})
    check(r.status == 400, r)
    barrier()
    t.echo()
    t.close()


def run_all():
    global D
    with daemon() as d:
        D = d
        main([test_public_to_private, test_revoked_token, test_deleted_alias,
              test_stopped_container, test_claim_expiry, test_bad_input_changes_nothing])


if __name__ == "__main__":
    try:
        run_all()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)  # this file's certificates
