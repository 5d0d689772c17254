"""The egress proxy's resolver (src/proxy/resolve.c, docs/PROXY.md "Host
names are resolved as the container resolves them") against
test_proxy_egress's resolver in test_network's fake internet, which never
answers for the names under silent.hoody.test:

- its bound: one proxy loop (--proxy-threads 1) holds at most 64 lookups in
  flight; with 64 held, a 65th request gets the documented 502 BAD_GATEWAY
  ("too busy resolving names") and a request that needs no lookup is still
  served, both while every one of the 64 is still unanswered; the 64 then
  end as 504 GATEWAY_TIMEOUT (they were real lookups);
- a stop of hoodyd with a lookup in flight cancels it (the log says so)
  rather than waiting out the lookup's deadline, and exits cleanly."""
import json
import shutil
import socket
import ssl
import tempfile
import time

from hoody_test import check, free_port, main
from proxy_util import ProxyDaemon, SERVER, DOMAIN, start_upstream
from test_proxy_edge import make_cert
import test_proxy_egress
from test_proxy_egress import DNS_INTERNET_PY
import test_network as net

RESOLVE_MAX = 64  # src/proxy/resolve.c
TMP = tempfile.mkdtemp(prefix="hoody-resolve-")
TPORT = free_port()
CRT = KEY = None
D = None
P = CID = None
OWNER = None

def proxy_host(cid):
    return f"{P}-{cid}-proxy.{SERVER}.containers.{DOMAIN}"


def setup():
    global CRT, KEY, D, P, CID, OWNER
    CRT, KEY = make_cert(TMP, "resolve")
    D = ProxyDaemon(["--proxy-tls-listen", f"127.0.0.1:{TPORT}", "--tls-cert", CRT,
                     "--tls-key", KEY, "--dns", net.PRIVATE, "--proxy-threads", "1"]).start()
    P = D.new_project()
    CID = D.create_container(P)["id"]
    start_upstream(D, CID, 9000)
    OWNER = D.claim_headers(CID)


def tls_conn():
    ctx = ssl.create_default_context(cafile=CRT)
    raw = socket.create_connection(("127.0.0.1", TPORT), timeout=60)
    return ctx.wrap_socket(raw, server_hostname=proxy_host(CID))


def head(target):
    lines = [f"GET {target} HTTP/1.1", "Host: x", "Connection: close"] + \
        [f"{k}: {v}" for k, v in OWNER.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_all(s):
    s.setblocking(True)
    s.settimeout(60)
    out = b""
    while True:
        try:
            b = s.recv(65536)
        except (ssl.SSLError, OSError):
            break
        if not b:
            break
        out += b
    return out.decode(errors="replace")


def early_answer(s):
    """What has arrived on s so far: None while nothing has (a TLS 1.3
    session ticket is no answer, hence a read and not select), else the
    bytes, b"" for a close."""
    s.setblocking(False)
    try:
        return s.recv(65536)
    except ssl.SSLWantReadError:
        return None
    finally:
        s.setblocking(True)


def asked(log, prefix):
    with open(log) as f:
        return {line.split()[1] for line in f if line.startswith(f"dns {prefix}")}


def wait_asked(log, prefix, count):
    # a deadlock guard, not a speed bound: the lookups exist once asked
    deadline = time.time() + 120
    while len(asked(log, prefix)) < count:
        check(time.time() < deadline, f"the resolver was asked {len(asked(log, prefix))} "
              f"of {count} names")
        time.sleep(0.02)


def body_of(answer):
    return json.loads(answer.split("\r\n\r\n", 1)[1])


def fill_round(log, attempt):
    """One try at holding 64 lookups; None when the 65th and the request
    without a lookup were both answered while all 64 were in flight (and
    checked), else what the 65th got."""
    prefix = f"held{attempt}-"
    # every TLS handshake first, so the 64 requests go out back to back
    held = [tls_conn() for _ in range(RESOLVE_MAX)]
    extra, plain = tls_conn(), tls_conn()
    for i, s in enumerate(held):
        s.sendall(head(f"http://{prefix}{i}.silent.hoody.test:9000/"))
    wait_asked(log, prefix, RESOLVE_MAX)
    # the 65th: refused at once, no question asked
    extra.sendall(head(f"http://{prefix}65.silent.hoody.test:9000/"))
    busy = read_all(extra)
    # an address needs no lookup: the loop still serves it
    plain.sendall(head("http://127.0.0.1:9000/hello"))
    served = read_all(plain)
    early = [early_answer(s) for s in held]
    in_flight = all(e is None for e in early)
    answers = [(e or b"").decode(errors="replace") + read_all(s) for e, s in zip(early, held)]
    for s in held + [extra, plain]:
        s.close()
    # judged only when all 64 were still held: else the host was too slow
    # for the lookups' 4 s and the round says nothing
    if not in_flight:
        return busy[:300] or "nothing"
    check(busy.startswith("HTTP/1.1 502 Bad Gateway"), busy[:300])
    e = body_of(busy)
    check(e["code"] == "BAD_GATEWAY" and "too busy resolving" in e["message"], e)
    check(f"{prefix}65.silent.hoody.test" not in asked(log, prefix), "the 65th was asked")
    check(served.startswith("HTTP/1.1 200") and served.endswith("hello\n"), served[:300])
    for a in answers:
        check(a.startswith("HTTP/1.1 504") and body_of(a)["code"] == "GATEWAY_TIMEOUT", a[:300])
    return None


def test_lookup_bound():
    with net.internet(D.state, DNS_INTERNET_PY) as log:
        for attempt in range(3):
            got = fill_round(log, attempt)
            if got is None:
                return
        # a 65th looked up (not refused) is answered only after the 64 end
        check(False, "in 3 rounds the 65th was never answered while the 64 lookups were "
              f"in flight; the 65th got: {got}")


def test_stop_cancels_lookups():
    with net.internet(D.state, DNS_INTERNET_PY) as log:
        s = tls_conn()
        s.sendall(head("http://at-stop.silent.hoody.test:9000/"))
        wait_asked(log, "at-stop", 1)
        check(early_answer(s) is None, "answered before the stop")
        D.stop()  # checks a clean exit (0, no sanitizer report)
        s.close()
        tail = D.tail_log(200)
        check("proxy: stopping: 1 name lookup(s) in flight cancelled" in tail, tail)


if __name__ == "__main__":
    try:
        setup()
        main([test_lookup_bound, test_stop_cancels_lookups])
    finally:
        if D:
            D.cleanup()
        # this file's certificates, and the directory test_proxy_egress made
        # for its own when imported
        for d in (TMP, test_proxy_egress.TMP):
            shutil.rmtree(d, ignore_errors=True)
