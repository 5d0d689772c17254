"""The two special names of a container (kit-api.md §1.3, docs/PROXY.md,
docs/SSH.md) through a real hoodyd with real TLS and real containers:

- {p}-{c}-proxy: curl -x https://... reaches a server bound to 127.0.0.1
  INSIDE the container (absolute-form and CONNECT), host names resolved by
  the container's resolver (--dns, a DNS server in test_network's fake
  internet: found, unknown, silent, a denied address), credentials from the
  proxy headers only (owner's claim pair, Basic for a password group), 407
  without them, 403 for another user's claim and for a `proxy: false` rule;
  the plain HTTP listener refuses forward-proxy requests with a JSON error;
- {p}-{c}-ssh: a GET describes the SSH door, a real `ssh` with a ProxyCommand
  through the WebSocket (and through CONNECT) runs a command in the
  container, a key of another container is refused through this name, and
  the name is refused without access."""
import json
import os
import subprocess
import sys
import tempfile

from hoody_test import check, free_port, main
from proxy_util import ProxyDaemon, SERVER, DOMAIN, request, start_upstream, init_pid
from test_proxy_edge import envelope, make_cert
import test_network as net

D = None
TMP = tempfile.mkdtemp(prefix="hoody-egress-")
TPORT = free_port()
SSH_PORT = free_port()
CRT = KEY = None
P = CID = OTHER = None       # project, container (upstream on 127.0.0.1:9000), a second container
OWNER = None                 # owner's claim headers for CID
STRANGER = None              # another user's claim headers for their own container
KEYS = {}
BRIDGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "https_ssh_bridge.py")


def host(cid, segment, project=None):
    return f"{project or P}-{cid}-{segment}.{SERVER}.containers.{DOMAIN}"


def curl(proxy_host, url, *extra, headers=None, port=None):
    """curl through the container's forward proxy; (status, body, stderr).
    The status is the target's, or the proxy's own answer (absolute-form)
    or CONNECT's (with -p)."""
    port = port or TPORT
    args = ["curl", "-sS", "--max-time", "60", "-o", "-", "-w", "\n%{http_code} %{http_connect}",
            "--resolve", f"{proxy_host}:{port}:127.0.0.1",
            "-x", f"https://{proxy_host}:{port}", "--proxy-cacert", CRT]
    for k, v in (headers or {}).items():
        args += ["--proxy-header", f"{k}: {v}"]
    r = subprocess.run(args + list(extra) + [url], capture_output=True, text=True, timeout=90)
    body, _, codes = r.stdout.rpartition("\n")
    code, connect = codes.split(" ")
    return int(code), int(connect), body, r.stderr


def put_doc(cid, doc):
    base = f"/api/v1/containers/{cid}/proxy/permissions"
    ver = D.get(base).data["file_version"]
    r = D.put(base, dict(doc, project=P, container=cid), headers={"If-Match": f"file:v{ver}"})
    check(r.status in (200, 201), r)


def keygen(name):
    path = os.path.join(TMP, name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path], check=True)
    with open(path + ".pub") as f:
        KEYS[name] = f.read().strip()
    return path


def setup():
    global D, CRT, KEY, P, CID, OTHER, OWNER, STRANGER
    CRT, KEY = make_cert(TMP, "egress")
    keygen("a")
    keygen("other")
    D = ProxyDaemon(["--proxy-tls-listen", f"127.0.0.1:{TPORT}", "--tls-cert", CRT, "--tls-key", KEY,
                     "--ssh-listen", f"127.0.0.1:{SSH_PORT}", "--dns", net.PRIVATE,
                     # IPv6 off whatever the host has: test_proxy_egress6 has it on
                     "--ipv6", "off"]).start()
    P = D.new_project()
    CID = D.create_container(P, ssh_public_key=KEYS["a"])["id"]
    OTHER = D.create_container(P, ssh_public_key=KEYS["other"])["id"]
    for cid in (CID, OTHER):
        with open(f"/proc/{init_pid(D, cid)}/root/marker", "w") as f:
            f.write(cid + "\n")
    start_upstream(D, CID, 9000)
    OWNER = D.claim_headers(CID)
    tok = D.new_user("egress-stranger")
    p2 = D.new_project(token=tok)
    c2 = D.create_container(p2, token=tok)["id"]
    STRANGER = D.claim_headers(c2, token=tok)


# ------------------------------------------------------------------ egress


def test_owner_reaches_the_containers_loopback():
    ph = host(CID, "proxy")
    # absolute-form: the upstream listens in the container's network only
    code, _, body, err = curl(ph, "http://127.0.0.1:9000/hello", headers=OWNER)
    check(code == 200 and body == "hello\n", (code, body, err))
    code, _, body, err = curl(ph, "http://localhost:9000/hello", headers=OWNER)
    check(code == 200 and body == "hello\n", (code, body, err))
    # CONNECT (-p): a tunnel, then the request inside it
    code, connect, body, err = curl(ph, "http://127.0.0.1:9000/hello", "-p", headers=OWNER)
    check(connect == 200 and code == 200 and body == "hello\n", (code, connect, body, err))
    # the host's own loopback is not what the container reaches: nothing
    # listens on 9000 inside the other container
    code, _, body, _ = curl(host(OTHER, "proxy"), "http://127.0.0.1:9000/hello",
                            headers=D.claim_headers(OTHER))
    check(code == 502, (code, body))
    r = json.loads(body)
    check(r["code"] == "BAD_GATEWAY", r)


def test_credentials_stay_with_the_proxy():
    """The proxy's credentials never reach the target; the client's own
    Authorization does; hop-by-hop fields do not cross."""
    code, _, body, err = curl(host(CID, "proxy"), "http://127.0.0.1:9000/headers",
                              "-H", "Authorization: Bearer for-the-target", "-H", "X-Keep: 1",
                              headers=OWNER)
    check(code == 200, (code, body, err))
    low = body.lower()
    check("authorization: bearer for-the-target" in low and "x-keep: 1" in low, body)
    for gone in ("x-hoody-container-claim", "x-hoody-token", "proxy-authorization",
                 "proxy-connection"):
        check(gone not in low, (gone, body))
    check("host: 127.0.0.1:9000" in low, body)


def test_refusals():
    ph = host(CID, "proxy")
    # nothing: 407 with Proxy-Authenticate, both forms
    r = subprocess.run(["curl", "-sS", "-i", "--resolve", f"{ph}:{TPORT}:127.0.0.1",
                        "-x", f"https://{ph}:{TPORT}", "--proxy-cacert", CRT,
                        "http://127.0.0.1:9000/hello"], capture_output=True, text=True, timeout=60)
    check(r.stdout.startswith("HTTP/1.1 407") and "Proxy-Authenticate: Basic" in r.stdout, r.stdout)
    check('"code":"MISSING_TOKEN"' in r.stdout, r.stdout)
    code, connect, _, err = curl(ph, "http://127.0.0.1:9000/hello", "-p")
    check(connect == 407, (code, connect, err))
    # another user's claim: 403, both forms
    code, _, body, _ = curl(ph, "http://127.0.0.1:9000/hello", headers=STRANGER)
    check(code == 403, (code, body))
    code, connect, _, _ = curl(ph, "http://127.0.0.1:9000/hello", "-p", headers=STRANGER)
    check(connect == 403, (code, connect))
    # a name that is not a proxy name as the TLS server name: refused
    code, _, body, _ = curl(host(CID, "http-9000"), "http://127.0.0.1:9000/hello", headers=OWNER)
    check(code == 400 and "proxy" in json.loads(body)["message"], (code, body))
    # a bad target: an IPv6 literal while containers have no IPv6
    for url in ("http://[::1]:9000/",):
        code, _, body, _ = curl(ph, url, headers=OWNER)
        check(code == 400 and json.loads(body)["code"] == "VALIDATION_ERROR", (url, code, body))
        check("no IPv6" in json.loads(body)["message"], body)
    code, connect, _, _ = curl(ph, "http://[::1]:9000/", "-p", headers=OWNER)
    check(connect == 400, (code, connect))
    # an unknown container under a well-formed name: 404
    code, _, body, _ = curl(host("0" * 24, "proxy"), "http://127.0.0.1:9000/", headers=OWNER)
    check(code == 404, (code, body))


def raw_exchange(lines, body=b""):
    """One request on a TLS connection to the proxy name; the whole answer."""
    import socket
    import ssl
    ctx = ssl.create_default_context(cafile=CRT)
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", TPORT), timeout=30),
                         server_hostname=host(CID, "proxy")) as s:
        s.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                return out.decode(errors="replace")
            out += b


def test_bad_requests_and_keep_alive():
    claim = [f"{k}: {v}" for k, v in OWNER.items()]
    for target in ("http://u:p@127.0.0.1:9000/", "https://127.0.0.1:9000/", "http://127.0.0.1:0/",
                   "http://127.0.0.1:99999/", "http://127.0.0.1:9000?x", "*", "ftp://127.0.0.1/",
                   # names no resolver is asked about
                   "http://-lead.test:9000/", "http://trail-.test/", "http://a..b/", "http://.a/",
                   "http://under%20score/", "http://1.2.3/", "http://dot.test./", "http://a_b!.test/",
                   f"http://{'a' * 64}.test/", f"http://{'a.' * 126}ab/"):
        out = raw_exchange([f"GET {target} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"] + claim)
        check(out.startswith("HTTP/1.1 400") and "VALIDATION_ERROR" in out, (target, out[:300]))
    out = raw_exchange(["CONNECT 127.0.0.1:9000 HTTP/1.1", "Host: 127.0.0.1:9000", "Content-Length: 3"] + claim,
                       b"abc")
    check(out.startswith("HTTP/1.1 400"), out[:300])
    out = raw_exchange(["CONNECT x..y:443 HTTP/1.1", "Host: x..y:443", "Connection: close"] + claim)
    check(out.startswith("HTTP/1.1 400") and "DNS name" in out, out[:300])
    # a head too large is 431, before any decision
    out = raw_exchange(["GET http://127.0.0.1:9000/hello HTTP/1.1", "Host: 127.0.0.1",
                        "X-Big: " + "a" * 20000] + claim)
    check(out.startswith("HTTP/1.1 431"), out[:300])
    # keep-alive: two targets on one connection, each answered by its own
    out = raw_exchange(["GET http://127.0.0.1:9000/hello HTTP/1.1", "Host: 127.0.0.1:9000"] + claim +
                       ["", "GET http://localhost:9000/headers HTTP/1.1", "Host: x",
                        "Connection: close"] + claim)
    check(out.count("HTTP/1.1 200") == 2 and "hello\n" in out and "Host: localhost:9000" in out, out)


def test_password_group_and_proxy_rule():
    ph = host(CID, "proxy")
    put_doc(CID, {"groups": {"ops": {"username": "ops", "password": "s3cret", "salt": "pepper"}},
                  "permissions": {"ops": {"proxy": True}}})
    try:
        code, _, body, err = curl(ph, "http://127.0.0.1:9000/hello", "--proxy-user", "ops:s3cret")
        check(code == 200 and body == "hello\n", (code, body, err))
        code, connect, body, _ = curl(ph, "http://127.0.0.1:9000/hello", "-p",
                                      "--proxy-user", "ops:s3cret")
        check(connect == 200 and body == "hello\n", (code, connect, body))
        code, _, body, _ = curl(ph, "http://127.0.0.1:9000/hello", "--proxy-user", "ops:wrong")
        check(code == 407 and json.loads(body)["code"] == "INVALID_TOKEN", (code, body))
        # Basic in Authorization (meant for the target) is not a proxy credential
        code, _, body, _ = curl(ph, "http://127.0.0.1:9000/hello", "-u", "ops:s3cret")
        check(code == 407, (code, body))
        # the group may not use the proxy: 403
        put_doc(CID, {"groups": {"ops": {"username": "ops", "password": "s3cret", "salt": "pepper"}},
                      "permissions": {"ops": {"proxy": False, "http": True}}})
        code, _, body, _ = curl(ph, "http://127.0.0.1:9000/hello", "--proxy-user", "ops:s3cret")
        check(code == 403, (code, body))
        # the kill switch, the owner included
        put_doc(CID, {"groups": {}, "permissions": {}, "enable_proxy": False})
        code, _, body, _ = curl(ph, "http://127.0.0.1:9000/hello", headers=OWNER)
        check(code == 403, (code, body))
    finally:
        put_doc(CID, {"groups": {}, "permissions": {}})


def test_plain_listener_refuses_forward_proxying():
    """Over plain HTTP there is no server name: the container is unknown."""
    r = subprocess.run(["curl", "-sS", "-x", f"http://127.0.0.1:{D.proxy_port}", "-w", "\n%{http_code}",
                        "http://127.0.0.1:9000/hello"], capture_output=True, text=True, timeout=60)
    body, _, code = r.stdout.rpartition("\n")
    check(code == "400", r.stdout)
    e = json.loads(body)
    check(e["code"] == "VALIDATION_ERROR" and "TLS" in e["message"] and "-proxy" in e["message"], e)
    r = subprocess.run(["curl", "-sS", "-p", "-x", f"http://127.0.0.1:{D.proxy_port}", "-w", "%{http_connect}",
                        "-o", "/dev/null", "http://127.0.0.1:9000/hello"],
                       capture_output=True, text=True, timeout=60)
    check(r.stdout == "400", r)
    # an ordinary request to the proxy name explains how to use it
    r = request(D.proxy_port, host(CID, "proxy"), headers=OWNER)
    envelope(r, 400, "VALIDATION_ERROR")
    check("forward proxy" in r.json["message"], r)


def test_stopped_container():
    """A stopped container keeps its network namespace, where nothing runs:
    502 from inside it, never a connection from the host."""
    cid = D.create_container(P)["id"]
    claim = D.claim_headers(cid)
    r = D.post(f"/api/v1/containers/{cid}/stop", {})
    check(r.status == 200, r)
    D.wait_status(cid, "stopped")
    code, _, body, _ = curl(host(cid, "proxy"), "http://127.0.0.1:9000/hello", headers=claim)
    check(code == 502 and json.loads(body)["code"] == "BAD_GATEWAY", (code, body))
    code, connect, _, _ = curl(host(cid, "proxy"), "http://127.0.0.1:9000/hello", "-p", headers=claim)
    check(connect == 502, (code, connect))


# ------------------------------------------------------------------ names

# The fake internet's programs for this test: a resolver on net.PRIVATE:53
# that knows four names and never answers for silent.hoody.test and the
# names under it (test_proxy_resolve's), and an HTTP server on net.INET:8080.
DNS_INTERNET_PY = (net.DNS_QUESTION_PY + r"""
import socket, sys, threading
log = open(sys.argv[1], "a", buffering=1)
NAMES = {"inside.hoody.test": "127.0.0.1", "web.hoody.test": "%s",
         "private.hoody.test": "%s"}
SILENT = "silent.hoody.test"
V6ONLY = "v6only.hoody.test"  # exists, with no A record (an AAAA-only name)

def dns(s):
    while True:
        q, peer = s.recvfrom(512)
        name, qtype, end = question(q)
        log.write(f"dns {name} {peer[0]}\n")
        if name == SILENT or name.endswith("." + SILENT):
            continue
        known = name in NAMES or name == V6ONLY
        answer = name in NAMES and qtype == b"\x00\x01"
        hdr = q[:2] + (b"\x81\x80" if known else b"\x81\x83") + q[4:6] + \
            (b"\x00\x01" if answer else b"\x00\x00") + b"\x00\x00\x00\x00"
        ans = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + \
            socket.inet_aton(NAMES[name]) if answer else b""
        s.sendto(hdr + q[12:end] + ans, peer)

def http(s):
    while True:
        c, peer = s.accept()
        c.recv(65536)
        log.write(f"tcp {s.getsockname()[0]}:{s.getsockname()[1]} from {peer[0]}\n")
        c.sendall(f"HTTP/1.0 200 OK\r\n\r\ninternet {peer[0]}\n".encode())
        c.close()

u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.bind(("%s", 53))
threading.Thread(target=dns, args=(u,), daemon=True).start()
for a, p in (("%s", 8080), ("%s", 80)):
    t = socket.socket()
    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    t.bind((a, p))
    t.listen(64)
    threading.Thread(target=http, args=(t,), daemon=True).start()
threading.Event().wait()
""") % (net.INET, net.PRIVATE, net.PRIVATE, net.INET, net.PRIVATE)


def test_host_names():
    """Names are resolved by the container's resolver (--dns), the target
    reached from inside the container: a name for 127.0.0.1 is the
    container's loopback, a name for a public address goes out through its
    NAT, a name for a denied private address meets its firewall."""
    with net.internet(D.state, DNS_INTERNET_PY) as log:
        ph = host(CID, "proxy")
        code, _, body, err = curl(ph, "http://inside.hoody.test:9000/hello", headers=OWNER)
        check(code == 200 and body == "hello\n", (code, body, err))
        code, connect, body, err = curl(ph, "http://Inside.Hoody.Test:9000/hello", "-p", headers=OWNER)
        check(connect == 200 and code == 200 and body == "hello\n", (code, connect, body, err))
        code, _, body, err = curl(ph, "http://inside.hoody.test:9000/headers", headers=OWNER)
        check(code == 200 and "host: inside.hoody.test:9000" in body.lower(), (code, body, err))
        code, _, body, err = curl(ph, "http://web.hoody.test:8080/", headers=OWNER)
        check(code == 200 and body == f"internet {net.INET_HOST}\n", (code, body, err))
        with open(log) as f:
            seen = f.read()
        check(f"dns web.hoody.test {net.INET_HOST}" in seen, seen)
        # keep-alive: a name, then an address, each answered by its own
        claim = [f"{k}: {v}" for k, v in OWNER.items()]
        out = raw_exchange(["GET http://inside.hoody.test:9000/hello HTTP/1.1", "Host: x"] + claim +
                           ["", f"GET http://{net.INET}:8080/ HTTP/1.1", "Host: x",
                            "Connection: close"] + claim)
        check(out.count("HTTP/1.1 200") == 2 and "hello\n" in out and
              f"internet {net.INET_HOST}" in out, out)
        # a name the resolver does not know: 502, both forms
        code, _, body, _ = curl(ph, "http://unknown.hoody.test:9000/", headers=OWNER)
        e = json.loads(body)
        check(code == 502 and e["code"] == "BAD_GATEWAY" and "unknown.hoody.test" in e["message"],
              (code, body))
        code, connect, _, _ = curl(ph, "http://unknown.hoody.test:9000/", "-p", headers=OWNER)
        check(connect == 502, (code, connect))
        # a name with no A record, IPv6 off: the same 502 as an unknown name
        code, _, body, _ = curl(ph, "http://v6only.hoody.test:9000/", headers=OWNER)
        e = json.loads(body)
        check(code == 502 and e["code"] == "BAD_GATEWAY" and
              "v6only.hoody.test does not resolve (no IPv4 address)" in e["message"], (code, body))
        # a resolver that never answers: 504
        code, _, body, _ = curl(ph, "http://silent.hoody.test:9000/", headers=OWNER)
        e = json.loads(body)
        check(code == 504 and e["code"] == "GATEWAY_TIMEOUT" and "silent.hoody.test" in e["message"],
              (code, body))
        # a name for a private address: the container's firewall applies
        code, _, body, _ = curl(ph, "http://private.hoody.test:80/", headers=OWNER)
        check(code in (502, 504) and json.loads(body)["code"] in ("BAD_GATEWAY", "GATEWAY_TIMEOUT"),
              (code, body))
        with open(log) as f:
            seen = f.read()
        check(f"tcp {net.PRIVATE}:80" not in seen, seen)
        # no credentials: refused before any lookup
        code, _, _, _ = curl(ph, "http://nobody-asked.hoody.test:9000/")
        check(code == 407, code)
        with open(log) as f:
            check("nobody-asked" not in f.read(), "a lookup before the decision")


# ------------------------------------------------------------------ ssh bridge


def ssh_through(key, *cmd, bridge_args=(), login="root", dry=False):
    pc = " ".join([sys.executable, BRIDGE, str(TPORT), host(CID, "ssh"), CRT] +
                  [f"'{a}'" for a in bridge_args])
    args = ["ssh", "-i", os.path.join(TMP, key), "-o", f"ProxyCommand={pc}",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=30", "-T", f"{login}@{host(CID, 'ssh')}"] + list(cmd)
    if dry:
        return args
    return subprocess.run(args, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def owner_args():
    return [a for k, v in OWNER.items() for a in ("--header", f"{k}: {v}")]


def test_ssh_description():
    import ssl
    ctx = ssl.create_default_context(cafile=CRT)
    r = request(TPORT, host(CID, "ssh"), headers=OWNER, tls_ctx=ctx)
    check(r.status == 200, r)
    data = r.json["data"]
    check(data["ssh_hostname"] == host(CID, "ssh") and data["port"] == SSH_PORT and
          data["user"] == CID and data["websocket"] == f"wss://{host(CID, 'ssh')}/", data)
    pub = subprocess.run(["ssh-keygen", "-y", "-f", f"{D.state}/ssh_host_ed25519_key"],
                         capture_output=True, text=True, check=True).stdout.split()
    check(data["host_key"].split() == pub[:2], (data["host_key"], pub))
    fp = subprocess.run(["ssh-keygen", "-l", "-f", "-"], input=" ".join(pub), capture_output=True,
                        text=True, check=True).stdout.split()[1]
    check(data["host_key_fingerprint"] == fp, (data, fp))
    # without access: 401, another user's claim: 403
    envelope(request(TPORT, host(CID, "ssh"), tls_ctx=ctx), 401)
    envelope(request(TPORT, host(CID, "ssh"), headers=STRANGER, tls_ctx=ctx), 403)


def test_ssh_over_websocket():
    r = ssh_through("a", "cat /marker; echo $((6*7))", bridge_args=owner_args())
    check(r.returncode == 0 and r.stdout == f"{CID}\n42\n", r)
    # a token group allowed on ssh, its token on the upgrade (?token=)
    put_doc(CID, {"groups": {"term": {"param": "token", "value": "bridge-secret"}},
                  "permissions": {"term": {"ssh": True}}})
    try:
        r = ssh_through("a", "cat /marker", bridge_args=["--token", "bridge-secret"])
        check(r.returncode == 0 and r.stdout == f"{CID}\n", r)
        # a big transfer both ways keeps its bytes (frames split and joined)
        r = subprocess.run(["sh", "-c", "head -c 3000000 /dev/urandom | tee " + TMP + "/blob | "
                            + " ".join(["ssh", "-i", os.path.join(TMP, "a"), "-o",
                                        f"'ProxyCommand={sys.executable} {BRIDGE} {TPORT} {host(CID, 'ssh')} {CRT} --token bridge-secret'",
                                        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                                        "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
                                        "-T", "root@x", "'cat > /blob; md5sum < /blob'"])],
                           capture_output=True, text=True, timeout=300)
        want = subprocess.run(["md5sum", TMP + "/blob"], capture_output=True, text=True).stdout.split()[0]
        check(r.returncode == 0 and r.stdout.split()[0] == want, (r, want))
        # and back: SSH's bytes in many binary frames
        args = ssh_through("a", "cat /blob", bridge_args=["--token", "bridge-secret"], dry=True)
        back = subprocess.run(args, capture_output=True, timeout=300, stdin=subprocess.DEVNULL)
        check(back.returncode == 0 and len(back.stdout) == 3000000, (back.returncode, len(back.stdout)))
        with open(TMP + "/blob", "rb") as f:
            check(back.stdout == f.read(), "the blob came back changed")
        # the token does not open what its rules do not name
        put_doc(CID, {"groups": {"term": {"param": "token", "value": "bridge-secret"}},
                      "permissions": {"term": {"terminal": True}}})
        r = ssh_through("a", "true", bridge_args=["--token", "bridge-secret"])
        check(r.returncode != 0 and "403" in r.stderr, r)
    finally:
        put_doc(CID, {"groups": {}, "permissions": {}})
    # nothing: refused before any SSH byte
    r = ssh_through("a", "true")
    check(r.returncode != 0 and "401" in r.stderr, r)


def test_ssh_bridge_is_pinned_to_its_container():
    """The key of another container (one the plain door would open) gets
    nothing through this container's name, whatever the login."""
    r = ssh_through("other", "cat /marker", bridge_args=owner_args(), login=OTHER)
    check(r.returncode == 255 and OTHER not in r.stdout, r)
    r = ssh_through("a", "cat /marker", bridge_args=owner_args(), login=OTHER)
    check(r.returncode == 0 and r.stdout == f"{CID}\n", r)


def test_ssh_websocket_frames():
    """The bridge speaks RFC 6455 to any client: SSH's banner in a binary
    frame, a ping answered, an unmasked (server-style) frame closed with
    1002, a close echoed."""
    import socket
    import ssl
    import struct
    from proxy_util import ws_connect, ws_recv, ws_send
    ctx = ssl.create_default_context(cafile=CRT)

    def open_ws():
        raw = socket.create_connection(("127.0.0.1", TPORT), timeout=30)
        ws, status, head = ws_connect(TPORT, host(CID, "ssh"), path="/", protocols=["ssh"],
                                      headers=OWNER, sock=ctx.wrap_socket(raw, server_hostname=host(CID, "ssh")))
        check(status == 101 and "Sec-WebSocket-Protocol: ssh" in head, head)
        return ws

    ws = open_ws()
    op, banner = ws_recv(ws)
    check(op == 2 and banner.startswith(b"SSH-2.0-"), (op, banner))
    ws_send(ws, b"are you there", opcode=9)
    check(ws_recv(ws) == (10, b"are you there"), "pong")
    ws_send(ws, struct.pack("!H", 1000), opcode=8)
    check(ws_recv(ws) == (8, struct.pack("!H", 1000)), "close echoed")
    ws.close()
    ws = open_ws()
    ws_recv(ws)  # the banner
    ws.sendall(b"\x82\x03abc")  # not masked: a protocol error
    op, payload = ws_recv(ws)
    check(op == 8 and payload == struct.pack("!H", 1002), (op, payload))
    ws.close()
    # a request that is neither GET nor an upgrade: 405 from the bridge
    r = request(TPORT, host(CID, "ssh"), method="POST", body=b"x", headers=OWNER, tls_ctx=ctx)
    check(r.status == 405 and r.json["statusCode"] == 405, r)


def test_ssh_over_connect():
    r = ssh_through("a", "cat /marker", bridge_args=owner_args() + ["--connect"])
    check(r.returncode == 0 and r.stdout == f"{CID}\n", r)
    r = ssh_through("a", "true", bridge_args=["--connect"])
    check(r.returncode != 0 and "407" in r.stderr, r)


if __name__ == "__main__":
    try:
        setup()
        main([test_owner_reaches_the_containers_loopback, test_credentials_stay_with_the_proxy,
              test_refusals, test_bad_requests_and_keep_alive, test_host_names,
              test_password_group_and_proxy_rule,
              test_plain_listener_refuses_forward_proxying,
              test_ssh_description, test_ssh_over_websocket,
              test_ssh_bridge_is_pinned_to_its_container, test_ssh_websocket_frames,
              test_ssh_over_connect, test_stopped_container])
    finally:
        if D:
            D.cleanup()
