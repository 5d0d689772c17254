"""The hostname proxy's network edge (docs/PROXY.md, kit-api.md §1-2): real
containers, real programs listening inside them, requests through the
proxy listener with the container's host names.

Access rules themselves (groups, aliases, documents) are tested by
test_proxy.py; here: the owner's claim pair, 401/403/404/502 envelopes,
streaming (1 GiB upload with the proxy's RSS measured), chunked and
keep-alive, WebSocket with its subprotocol, Server-Sent Events, hop-by-hop
and X-Forwarded-* fields, hostile heads, per-address limits and TLS with a
SIGHUP reload."""
import http.client
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from hoody_test import check, free_port, main
from proxy_util import (DOMAIN, SERVER, ProxyDaemon, raw_exchange, request, rss_kib,
                        start_busybox_httpd, start_upstream, upstream_container, ws_connect, ws_recv,
                        ws_send)


def setup(d):
    p = d.new_project()
    c = d.create_container(p)
    return p, c["id"]


def envelope(r, status, code=None):
    check(r.status == status, r)
    check(r.json and r.json.get("statusCode") == status and "message" in r.json, r)
    if code:
        check(r.json.get("code") == code, r)


def test_busybox_port_owner_and_strangers():
    with ProxyDaemon() as d:
        p, cid = setup(d)
        start_busybox_httpd(d, cid, 8000)
        host = d.host(p, cid, "http-8000")
        owner = d.claim_headers(cid)
        r = request(d.proxy_port, host, path="/", headers=owner)
        check(r.status == 200 and r.body == b"hello from busybox\n", r)
        # no credentials: 401 with the JSON envelope
        envelope(request(d.proxy_port, host), 401)
        # a claim that does not verify: 401
        bad = dict(owner, **{"X-Hoody-Container-Claim": owner["X-Hoody-Container-Claim"].replace('"kid":"', '"kid":"x')})
        envelope(request(d.proxy_port, host, headers=bad), 401)
        # another user's own claim pair for their own container, replayed on ours: 403/404
        tok = d.new_user("stranger")
        p2 = d.new_project(token=tok)
        c2 = d.create_container(p2, token=tok)["id"]
        theirs = d.claim_headers(c2, token=tok)
        r = request(d.proxy_port, host, headers=theirs)
        check(r.status in (403, 404), r)
        # and their API token with our claim: not the owner either
        mixed = dict(owner, **{"X-Hoody-Token": tok})
        r = request(d.proxy_port, host, headers=mixed)
        check(r.status in (401, 403, 404), r)
        # unknown container, unknown server, not our domain: 404 envelopes
        envelope(request(d.proxy_port, d.host(p, "0" * 24, "http-8000"), headers=owner), 404)
        envelope(request(d.proxy_port, f"{p}-{cid}-http-8000.other.containers.{DOMAIN}"), 404)
        envelope(request(d.proxy_port, "example.com"), 404)
        # a port where nothing listens: 502 envelope
        envelope(request(d.proxy_port, d.host(p, cid, "http-8001"), headers=owner), 502)
        # the Kit answers on its hosts (tests/e2e/test_kit_*.py test it)
        r = request(d.proxy_port, d.host(p, cid, "terminal-1"), path="/api/v1/terminal/health",
                    headers=owner)
        check(r.status == 200 and r.json["data"]["service"] == "terminal", r)
        # the API itself on the proxy listener
        r = request(d.proxy_port, f"api.{DOMAIN}", path="/api/v1/users/me",
                    headers={"Authorization": f"Bearer {d.token}"})
        check(r.status == 200 and r.json["data"]["username"] == "admin", r)


def test_streaming_keepalive_chunked_headers():
    with ProxyDaemon() as d:
        p, cid, host, owner = upstream_container(d)
        conn = http.client.HTTPConnection("127.0.0.1", d.proxy_port, timeout=30)
        hdrs = dict(owner, Host=host)
        # keep-alive: several exchanges on one connection, the same socket
        for i in range(5):
            conn.request("GET", "/hello", headers=hdrs)
            r = conn.getresponse()
            check(r.status == 200 and r.read() == b"hello\n", r.status)
            if i == 0:
                sock = conn.sock
            check(conn.sock is sock, "the proxy closed a keep-alive connection")
        # a chunked response passes as chunked
        conn.request("GET", "/chunked", headers=hdrs)
        r = conn.getresponse()
        check(r.getheader("Transfer-Encoding") == "chunked", r.getheaders())
        check(r.read() == b"one\ntwo\nthree\n", "chunked body")
        # a chunked upload
        def gen():
            for _ in range(64):
                yield b"y" * 10000
        conn.request("POST", "/upload", body=gen(), headers=dict(hdrs, **{"Transfer-Encoding": "chunked"}),
                     encode_chunked=True)
        r = conn.getresponse()
        check(r.status == 200 and r.read() == b'{"bytes":640000}', "chunked upload")
        # a download of 50 MB streams through
        conn.request("GET", "/bytes/50000000", headers=hdrs)
        r = conn.getresponse()
        n = 0
        while True:
            b = r.read(1 << 20)
            if not b:
                break
            n += len(b)
        check(n == 50000000, n)
        conn.close()
        # hop-by-hop fields stay here, X-Forwarded-* are the edge's own
        r = request(d.proxy_port, host, path="/headers", headers=dict(owner, **{
            "Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1", "Keep-Alive": "timeout=5",
            "TE": "trailers", "Proxy-Authorization": "Basic eDp5", "X-Forwarded-For": "6.6.6.6",
            "X-Forwarded-Host": "evil", "X-Kept": "yes"}))
        seen = r.body.decode().lower()
        check(r.status == 200, r)
        for gone in ("x-secret-hop", "keep-alive", "te:", "proxy-authorization", "6.6.6.6", "evil",
                     "x-hoody-token", "x-hoody-container-claim", "connection:"):
            check(gone not in seen, f"{gone} reached the backend:\n{seen}")
        check("x-kept: yes" in seen, seen)
        check("x-forwarded-for: 127.0.0.1" in seen, seen)
        check("x-forwarded-proto: http\r\n" in seen, seen)
        check(f"x-forwarded-host: {host}" in seen, seen)
        check(f"host: {host}" in seen, seen)
        # Server-Sent Events arrive one by one, not when the stream ends
        c2 = http.client.HTTPConnection("127.0.0.1", d.proxy_port, timeout=30)
        c2.request("GET", "/sse", headers=hdrs)
        r = c2.getresponse()
        check(r.getheader("Content-Type") == "text/event-stream", r.getheaders())
        first = r.fp.readline()
        t_first = time.time()
        rest = r.read()
        check(first == b"id: 1\n", first)
        check(b"data: 3" in rest and time.time() - t_first >= 0.3, "events were held back")
        c2.close()


def test_hostile_heads():
    with ProxyDaemon(["--proxy-max-conns-per-ip", "8"]) as d:
        p, cid, host, _ = upstream_container(d)
        host = host.encode()
        port = d.proxy_port
        cases = {
            b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n": 400,
            b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n": 400,
            b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nTransfer-Encoding: gzip, chunked\r\n\r\n": 400,
            b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nBad Name: x\r\n\r\n": 400,
            b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nX: a\rb\r\n\r\n": 400,
            b"GET / HTTP/1.1\r\nHost: " + host + b"\r\n folded\r\n\r\n": 400,
            b"GET / HTTP/1.1\r\nHost: a\r\nHost: " + host + b"\r\n\r\n": 400,
            b"GET / HTTP/1.1\r\n\r\n": 400,
            b"GET http://x/ HTTP/1.1\r\nHost: " + host + b"\r\n\r\n": 400,
            b"GET / HTTP/2.0\r\nHost: " + host + b"\r\n\r\n": 400,
            b"GET / HTTP/1.1\r\nHost: " + host + b"\r\nX: " + b"a" * 20000 + b"\r\n\r\n": 431,
        }
        for data, status in cases.items():
            out = raw_exchange(port, data)
            check(out.startswith(f"HTTP/1.1 {status} ".encode()), f"{data[:80]!r} -> {out[:200]!r}")
            check(b'"statusCode":' + str(status).encode() in out, out[:300])
        # a slow or silent peer does not hold the proxy: others still answer
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(3)]
        idle[0].sendall(b"GET / HTTP/1.1\r\nHost: ")
        r = request(port, host.decode(), path="/hello")
        check(r.status == 401, r)
        # bounded connections per client address: the 9th is refused with 429
        more = [socket.create_connection(("127.0.0.1", port)) for _ in range(5)]
        time.sleep(0.2)
        out = raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        check(out.startswith(b"HTTP/1.1 429 "), out[:200])
        for s in idle + more:
            s.close()
        time.sleep(0.3)
        r = request(port, host.decode(), path="/hello")
        check(r.status == 401, f"after closing, the address may connect again: {r}")


def test_websocket_subprotocol():
    with ProxyDaemon() as d:
        p, cid, host, owner = upstream_container(d)
        # refused before the upgrade without credentials
        s, status, head = ws_connect(d.proxy_port, host, protocols=["tty"])
        check(status == 401, head)
        s.close()
        s, status, head = ws_connect(d.proxy_port, host, protocols=["tty", "binary"], headers=owner)
        check(status == 101, head)
        low = head.lower()
        check("sec-websocket-protocol: tty" in low and "upgrade: websocket" in low, head)
        for msg in (b"hello", b"x" * 300, os.urandom(60000)):
            ws_send(s, msg, opcode=2)
            op, data = ws_recv(s)
            check(op == 2 and data == msg, (op, len(data)))
        ws_send(s, b"\x03\xe8", opcode=8)  # close 1000
        op, data = ws_recv(s)
        check(op == 8, op)
        s.close()


def test_upload_memory_flat():
    """1 GiB through the proxy: hoodyd's RSS grows < 16 MiB (back-pressure,
    one fixed buffer per direction)."""
    with ProxyDaemon() as d:
        p, cid, host, owner = upstream_container(d)
        request(d.proxy_port, host, path="/hello", headers=owner)
        before = rss_kib(d.proc.pid)
        total = 1 << 30
        s = socket.create_connection(("127.0.0.1", d.proxy_port), timeout=120)
        head = [f"POST /upload HTTP/1.1", f"Host: {host}", f"Content-Length: {total}"]
        head += [f"{k}: {v}" for k, v in owner.items()]
        s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
        block = b"z" * (1 << 20)
        peak = before
        for i in range(total // len(block)):
            s.sendall(block)
            if i % 64 == 0:
                peak = max(peak, rss_kib(d.proc.pid))
        out = b""
        while b"}" not in out:
            b = s.recv(4096)
            if not b:
                break
            out += b
        s.close()
        peak = max(peak, rss_kib(d.proc.pid))
        check(f'{{"bytes":{total}}}'.encode() in out, out[-200:])
        grew = (peak - before) / 1024
        print(f"     1 GiB upload: RSS {before / 1024:.1f} MiB -> peak {peak / 1024:.1f} MiB")
        check(grew < 16, f"RSS grew {grew:.1f} MiB during a 1 GiB upload")


def make_cert(dirname, cn):
    key, crt = os.path.join(dirname, f"{cn}.key"), os.path.join(dirname, f"{cn}.crt")
    wildcard = f"*.{SERVER}.containers.{DOMAIN}"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={cn}", "-addext", f"subjectAltName=DNS:{wildcard}",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    return crt, key


def served_cn(port, host):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            der = s.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
                         input=der, capture_output=True).stdout.decode()
    return out.strip().split("CN", 1)[-1].lstrip(" =")


def test_tls_wildcard_and_reload():
    tmp = tempfile.mkdtemp(prefix="hoody-tls-")
    crt, key = make_cert(tmp, "first")
    live_crt, live_key = os.path.join(tmp, "live.crt"), os.path.join(tmp, "live.key")
    os.rename(crt, live_crt)
    os.rename(key, live_key)
    tport = free_port()
    with ProxyDaemon(["--proxy-tls-listen", f"127.0.0.1:{tport}", "--tls-cert", live_crt,
                      "--tls-key", live_key]) as d:
        p, cid, host, owner = upstream_container(d)
        ctx = ssl.create_default_context(cafile=live_crt)  # verifies name and chain
        r = request(tport, host, path="/headers", headers=owner, tls_ctx=ctx)
        check(r.status == 200 and b"X-Forwarded-Proto: https" in r.body, r)
        s_ctx = ssl.create_default_context(cafile=live_crt)
        raw = socket.create_connection(("127.0.0.1", tport), timeout=10)
        ws, status, head = ws_connect(tport, host, protocols=["tty"], headers=owner,
                                      sock=s_ctx.wrap_socket(raw, server_hostname=host))
        check(status == 101 and "Sec-WebSocket-Protocol: tty" in head, head)
        ws_send(ws, b"over tls")
        check(ws_recv(ws) == (1, b"over tls"), "tls websocket echo")
        ws.close()
        check(served_cn(tport, host) == "first", served_cn(tport, host))
        # a broken pair on SIGHUP: the old certificate stays
        with open(live_key, "w") as f:
            f.write("not a key\n")
        d.proc.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        check(served_cn(tport, host) == "first", "a bad reload replaced the certificate")
        check("TLS certificate not reloaded" in d.tail_log(), d.tail_log(5))
        # a new pair on SIGHUP: new handshakes get it, no restart
        crt2, key2 = make_cert(tmp, "second")
        os.replace(crt2, live_crt)
        os.replace(key2, live_key)
        d.proc.send_signal(signal.SIGHUP)
        deadline = time.time() + 10
        while served_cn(tport, host) != "second" and time.time() < deadline:
            time.sleep(0.1)
        check(served_cn(tport, host) == "second", "the new certificate is not served")
        ctx2 = ssl.create_default_context(cafile=live_crt)
        r = request(tport, host, path="/hello", headers=owner, tls_ctx=ctx2)
        check(r.status == 200 and r.body == b"hello\n", r)


def put_doc(d, p, cid, doc):
    base = f"/api/v1/containers/{cid}/proxy/permissions"
    ver = d.get(base).data["file_version"]
    r = d.put(base, dict(doc, project=p, container=cid), headers={"If-Match": f"file:v{ver}"})
    check(r.status in (200, 201), r)


def test_documents_and_aliases_through_the_listener():
    """The platform's rules, seen from the network: default allow, the kill
    switch, a token group limited to terminal 2, aliases with a target path,
    disabled aliases; each change is served by the next request."""
    with ProxyDaemon() as d:
        p, cid, host, owner = upstream_container(d)
        envelope(request(d.proxy_port, host, path="/hello"), 401)
        # default allow makes the port public, at once
        put_doc(d, p, cid, {"groups": {}, "permissions": {}, "default": "allow"})
        r = request(d.proxy_port, host, path="/hello")
        check(r.status == 200 and r.body == b"hello\n", r)
        # enable_proxy false: 403, the owner too... and back
        put_doc(d, p, cid, {"groups": {}, "permissions": {}, "default": "allow", "enable_proxy": False})
        envelope(request(d.proxy_port, host, path="/hello"), 403)
        r = request(d.proxy_port, host, path="/hello", headers=owner)
        check(r.status in (200, 403), r)  # the owner's claim: the platform's call
        # a token group allowed terminal 2 only: terminal-2 reaches the Kit (its page),
        # terminal-1 is 403, no token 401, a wrong token 401
        put_doc(d, p, cid, {"groups": {"ops": {"header": "X-Key", "value": "s3cret"}},
                            "permissions": {"ops": {"terminal": 2}}, "default": "deny"})
        key = {"X-Key": "s3cret"}
        r = request(d.proxy_port, d.host(p, cid, "terminal-2"), headers=key)
        check(r.status == 200 and b"Hoody terminal" in r.body, r)
        envelope(request(d.proxy_port, d.host(p, cid, "terminal-1"), headers=key), 403)
        envelope(request(d.proxy_port, d.host(p, cid, "terminal-2")), 401)
        r = request(d.proxy_port, d.host(p, cid, "terminal-2"), headers={"X-Key": "wrong"})
        check(r.status in (401, 403), r)
        envelope(request(d.proxy_port, host, path="/hello", headers=key), 403)
        # the same connection, credentials changed between requests: decided again each time
        conn = http.client.HTTPConnection("127.0.0.1", d.proxy_port, timeout=30)
        for hdrs, status in (({"X-Key": "s3cret"}, 200), ({}, 401), ({"X-Key": "s3cret"}, 200),
                             ({"X-Key": "s3cret", "Host": d.host(p, cid, "terminal-1")}, 403)):
            h = {"Host": d.host(p, cid, "terminal-2")}
            h.update(hdrs)
            conn.request("GET", "/", headers=h)
            r = conn.getresponse()
            r.read()
            check(r.status == status, (hdrs, r.status))
        conn.close()
        # an alias with a target path, no deeper paths: always exactly that path
        put_doc(d, p, cid, {"groups": {}, "permissions": {}, "default": "allow"})
        r = d.post("/api/v1/proxy/aliases", {"container_id": cid, "alias": "pinned", "program": "http",
                                              "port": 9000, "target_path": "/headers",
                                              "allow_path_override": False})
        check(r.status == 201, r)
        alias_id = r.data["id"]
        ahost = f"pinned.{SERVER}.containers.{DOMAIN}"
        r = request(d.proxy_port, ahost, path="/anything/else?q=1")
        check(r.status == 200 and r.body.startswith(b"GET /headers"), r)
        check(f"host: {ahost}".encode() in r.body.lower(), r.body)
        # with deeper paths allowed: target path + path
        r = d.post("/api/v1/proxy/aliases", {"container_id": cid, "alias": "deeper", "program": "http",
                                              "port": 9000, "target_path": "/", "allow_path_override": True})
        check(r.status == 201, r)
        r = request(d.proxy_port, f"deeper.{SERVER}.containers.{DOMAIN}", path="/hello")
        check(r.status == 200 and r.body == b"hello\n", r)
        # disabled or deleted: 404 at the next request
        r = d.patch(f"/api/v1/proxy/aliases/{alias_id}/state", {"enabled": False})
        check(r.status == 200, r)
        envelope(request(d.proxy_port, ahost, path="/"), 404)
        r = d.delete(f"/api/v1/proxy/aliases/{alias_id}")
        check(r.status == 200, r)
        envelope(request(d.proxy_port, ahost, path="/"), 404)


def test_backend_connections_outlive_clients():
    """The loop's pool (docs/PROXY.md "Keep-alive"): a backend connection
    whose client connection closed serves the next client connection to the
    same place; another port gets its own; a stopped container's connections
    leave the pool with it, and nobody gets an answer from the old program."""
    with ProxyDaemon(["--proxy-threads", "1"]) as d:  # one loop: one pool
        p, cid, host, owner = upstream_container(d)
        ids = [request(d.proxy_port, host, path="/conn", headers=owner) for _ in range(4)]
        check(all(r.status == 200 for r in ids), ids)
        check(len({r.body for r in ids}) == 1, f"four client connections, backends {ids}")
        # a second program on another port: its own backend connection
        start_upstream(d, cid, 9001, path="/hoody-upstream-2")
        other = request(d.proxy_port, d.host(p, cid, "http-9001"), path="/conn", headers=owner)
        check(other.status == 200 and other.body == b"1\n", other)
        again = request(d.proxy_port, host, path="/conn", headers=owner)
        check(again.body == ids[0].body, (again, ids[0]))
        # restart: the parked connections closed with the old program
        check(d.post(f"/api/v1/containers/{cid}/stop", {}).status == 200, "stop")
        envelope(request(d.proxy_port, host, path="/conn", headers=owner), 502)
        check(d.post(f"/api/v1/containers/{cid}/start", {}).status == 200, "start")
        start_upstream(d, cid, 9000)
        owner = d.claim_headers(cid)
        r = request(d.proxy_port, host, path="/conn", headers=owner)
        check(r.status == 200 and r.body == b"1\n", r)
        # a POST (never retried) on the pooled connection after the restart
        r = request(d.proxy_port, host, method="POST", path="/upload", body=b"x" * 10,
                    headers=owner)
        check(r.status == 200 and r.body == b'{"bytes":10}', r)


def loop_clients(pid, port):
    """Client connections (local port = the proxy's) registered in each
    epoll instance of hoodyd, i.e. held by each proxy loop."""
    inodes = set()
    for line in open("/proc/net/tcp").readlines()[1:] + open("/proc/net/tcp6").readlines()[1:]:
        f = line.split()
        if int(f[1].rsplit(":", 1)[1], 16) == port and f[3] == "01":  # ESTABLISHED
            inodes.add(f[9])
    per_loop = []
    for name in os.listdir(f"/proc/{pid}/fdinfo"):
        try:
            with open(f"/proc/{pid}/fdinfo/{name}") as fh:
                info = fh.read()
        except OSError:
            continue
        fds = [ln.split()[1] for ln in info.splitlines() if ln.startswith("tfd:")]
        if not fds:
            continue
        n = 0
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            n += link.startswith("socket:[") and link[8:-1] in inodes
        per_loop.append(n)
    return sorted(per_loop, reverse=True)


def test_connections_spread_over_loops():
    """Connections are steered to the loop of the CPU that received them
    (docs/PROXY.md); a client whose connections all come from one CPU must
    still get both loops: a loop holding more than the least loaded one plus
    a small slack gives new connections away (src/proxy/server.c)."""
    with ProxyDaemon(["--proxy-threads", "2"]) as d:
        before = os.sched_getaffinity(0)
        os.sched_setaffinity(0, {min(before)})  # every SYN from one CPU
        socks = []
        try:
            for _ in range(24):
                socks.append(socket.create_connection(("127.0.0.1", d.proxy_port)))
        finally:
            os.sched_setaffinity(0, before)
        deadline = time.time() + 60  # liveness: until both loops registered all 24
        while sum(loop_clients(d.proc.pid, d.proxy_port)[:2]) < 24 and time.time() < deadline:
            time.sleep(0.05)
        loops = loop_clients(d.proc.pid, d.proxy_port)
        check(sum(loops[:2]) == 24, f"24 connections held by the loops: {loops}")
        check(loops[0] - loops[1] <= 5, f"24 connections from one CPU split {loops[:2]}")
        for s in socks:
            s.close()


if __name__ == "__main__":
    main([test_busybox_port_owner_and_strangers, test_streaming_keepalive_chunked_headers,
          test_hostile_heads, test_websocket_subprotocol, test_upload_memory_flat,
          test_tls_wildcard_and_reload, test_documents_and_aliases_through_the_listener,
          test_backend_connections_outlive_clients, test_connections_spread_over_loops])
