"""Helpers for tests (and the bench) that go through the hostname proxy:
a daemon with a proxy listener, programs started inside containers, the
owner's claim pair, raw HTTP and WebSocket clients that set any Host."""
import base64
import http.client
import json
import os
import re
import shutil
import socket
import struct
import subprocess
import time

from hoody_test import BIN, Daemon, check, free_port

TESTS_BIN = os.path.join(os.path.dirname(BIN.rstrip("/")), "tests")
UPSTREAM = os.path.join(TESTS_BIN, "hoody-upstream")
DOMAIN = "hoody.local"
SERVER = "node-local"


class ProxyDaemon(Daemon):
    """A hoodyd with its hostname proxy on a loopback port of its own."""

    def __init__(self, extra_args=(), **kw):
        self.proxy_port = free_port()
        super().__init__(["--proxy-listen", f"127.0.0.1:{self.proxy_port}"] + list(extra_args), **kw)

    def host(self, project, cid, segment):
        return f"{project}-{cid}-{segment}.{SERVER}.containers.{DOMAIN}"

    def claim_headers(self, cid, token=...):
        """The owner's container claim pair (kit-api.md 2.3)."""
        tok = self.token if token is ... else token
        r = self.post(f"/api/v1/containers/{cid}/authorize", {}, token=tok)
        check(r.status in (200, 201), r)
        return {"X-Hoody-Container-Claim": json.dumps(r.data["container_claim"], separators=(",", ":")),
                "X-Hoody-Token": tok}


def init_pid(d, cid):
    with open(f"{d.state}/containers/{cid}/init.pid") as f:
        return int(f.read().strip())


def crun_exec(d, cid, argv, detach=True):
    args = ["crun", "--root", f"{d.run_dir}/crun", "exec"] + (["-d"] if detach else []) + [cid] + argv
    # a detached program must not hold our pipes open
    r = subprocess.run(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=60)
    check(r.returncode == 0, f"crun exec {argv}: {r.returncode}")


def copy_in(d, cid, src, dst):
    """Copies a host file into the container's root (through /proc/PID/root)."""
    root = f"/proc/{init_pid(d, cid)}/root"
    shutil.copy(src, root + dst)
    os.chmod(root + dst, 0o755)


def wait_listening(d, cid, port, timeout=120):
    """Waits until something listens on port inside the container's netns."""
    ns = f"{d.run_dir}/netns/{cid}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = subprocess.run(["nsenter", f"--net={ns}", "cat", "/proc/net/tcp"],
                           capture_output=True, text=True)
        if f":{port:04X} 00000000:0000 0A" in r.stdout:
            return
        r = subprocess.run(["nsenter", f"--net={ns}", "cat", "/proc/net/tcp6"],
                           capture_output=True, text=True)
        if f":{port:04X} 00000000000000000000000000000000:0000 0A" in r.stdout:
            return
        time.sleep(0.05)
    check(False, f"nothing listens on {port} in {cid}")


def start_upstream(d, cid, port=9000, path="/hoody-upstream"):
    """hoody-upstream (tests/tools/upstream.c) inside the container; a second
    one at once needs its own path (a running binary cannot be replaced)."""
    copy_in(d, cid, UPSTREAM, path)
    crun_exec(d, cid, [path, str(port)])
    wait_listening(d, cid, port)


def start_busybox_httpd(d, cid, port=8000, text="hello from busybox\n"):
    root = f"/proc/{init_pid(d, cid)}/root"
    os.makedirs(root + "/www", exist_ok=True)
    with open(root + "/www/index.html", "w") as f:
        f.write(text)
    crun_exec(d, cid, ["/bin/busybox", "httpd", "-p", str(port), "-h", "/www"])
    wait_listening(d, cid, port)


class Reply:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.body[:400]!r}>"


def request(port, host, method="GET", path="/", body=None, headers=None, timeout=60, tls_ctx=None):
    """One request through the proxy with the given Host."""
    hdrs = {"Host": host}
    hdrs.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    if tls_ctx:
        # TLS names the service's host (SNI, certificate check), not 127.0.0.1
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        conn.sock = tls_ctx.wrap_socket(raw, server_hostname=host)
    try:
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Reply(r.status, r.headers, r.read())
    finally:
        conn.close()


def raw_exchange(port, data, timeout=10, until_close=False):
    """Sends raw bytes, returns the answer (until it closes with until_close)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # refused before the whole head was sent: read the answer
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except (socket.timeout, ConnectionResetError):
                break
            if not b:
                break
            out += b
            if not until_close and b"\r\n\r\n" in out:
                head, _, body = out.partition(b"\r\n\r\n")
                m = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
                if not m or len(body) >= int(m.group(1)):
                    break
        return out
    finally:
        s.close()


# ---------------------------------------------------------------- WebSocket

def send_head(s, lines):
    """Sends a request head, returns the response head (byte by byte, so
    nothing after it is consumed)."""
    s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1)
        if not b:
            break
        head += b
    return head


def ws_connect(port, host, path="/ws", protocols=None, headers=None, timeout=10, sock=None):
    """A WebSocket client handshake (on sock when given, e.g. a TLS socket);
    returns (socket, status, response head)."""
    s = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13"]
    if protocols:
        lines.append("Sec-WebSocket-Protocol: " + ", ".join(protocols))
    for k, v in (headers or {}).items():
        lines.append(f"{k}: {v}")
    head = send_head(s, lines)
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return s, status, head.decode(errors="replace")


def ws_send(s, payload, opcode=1):
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
    else:
        hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
    data = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    s.sendall(hdr + mask + data)


def _recv_exact(s, n):
    out = b""
    while len(out) < n:
        b = s.recv(n - len(out))
        if not b:
            raise ConnectionError("closed")
        out += b
    return out


def ws_recv(s):
    """One unmasked server frame: (opcode, payload)."""
    b0, b1 = _recv_exact(s, 2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack("!H", _recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", _recv_exact(s, 8))[0]
    return b0 & 0x0f, _recv_exact(s, n)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


RELAY_ARGV = b"hoodyd-relay\0__relay-worker\0"


def relay_pids(hoodyd_pid):
    """hoodyd's relay workers (docs/PROXY.md): its children started with the
    relay argv."""
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read()
        except (OSError, ValueError, IndexError):
            continue
        if ppid == hoodyd_pid and cmd.startswith(RELAY_ARGV):
            out.append(int(name))
    return sorted(out)


def upstream_container(d):
    """A project, a running container with hoody-upstream on 9000, its
    http-9000 host name and the owner's claim headers."""
    p = d.new_project()
    cid = d.create_container(p)["id"]
    start_upstream(d, cid, 9000)
    return p, cid, d.host(p, cid, "http-9000"), d.claim_headers(cid)
