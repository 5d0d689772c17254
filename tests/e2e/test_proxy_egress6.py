"""The egress forward proxy ({p}-{c}-proxy, docs/PROXY.md) over IPv6, with a
real hoodyd running `--ipv6 on`, real TLS and a real container:

- a name with AAAA records only (the resolver is asked for A first, then
  AAAA) and IPv6 literals (absolute-form and CONNECT) reach test_network6's
  fake IPv6 internet (2001:db8:6::2), which sees the NAT66 source, never the
  container's ULA;
- the container's resolver is an IPv6 address (--dns fdee:6e74::53), asked
  from inside the container's namespace;
- a private IPv6 destination (a ULA "service", the metadata address, the
  bridge's and the host's own IPv6 addresses where the API listens) is refused through the proxy exactly as a direct
  connection from the container is, by literal and by name;
- malformed IPv6 literals are 400.

(test_proxy_egress runs `--ipv6 off`: an IPv6 literal is 400 there and an
AAAA-only name 502 like an unknown one.)"""
import fcntl
import json
import os
import subprocess
import tempfile

import test_network as tn
import test_network6 as t6
import test_proxy_egress as eg
from hoody_test import NET_LOCK_DIR, check, free_port, main
from proxy_util import ProxyDaemon
from test_proxy_edge import make_cert

D = None
LOG = None
NAME = "egress6"
OWNER = None
TMP = tempfile.mkdtemp(prefix="hoody-egress6-")


def seen():
    with open(LOG) as f:
        return f.read()


def via(url, *extra):
    return eg.curl(eg.host(eg.CID, "proxy"), url, "-g", *extra, headers=OWNER)


def test_ipv6_literals():
    ula = t6.addrs6(NAME)[0][0]
    inet = f"[{t6.INET}]"
    code, _, body, err = via(f"http://{inet}/")
    check(code == 200 and body == f"internet {t6.INET_HOST}\n", (code, body, err))
    code, _, body, err = via(f"http://{inet}:80/")
    check(code == 200 and body == f"internet {t6.INET_HOST}\n", (code, body, err))
    # the backend's close ends the body and the TLS tunnel (curl fails on
    # a timeout or a cut)
    code, connect, body, err = via(f"http://{inet}:80/", "-p")
    check(connect == 200 and code == 200 and body == f"internet {t6.INET_HOST}\n" and not err,
          (code, connect, body, err))
    log = seen()
    check(f"http [{t6.INET}]:80 from {t6.INET_HOST}" in log, log)
    check(ula not in log, f"the internet saw the container's ULA {ula}: {log}")


def test_aaaa_only_name():
    code, _, body, err = via("http://v6only.hoody.test/")
    check(code == 200 and body == f"internet {t6.INET_HOST}\n", (code, body, err))
    code, connect, body, err = via("http://v6only.hoody.test:80/", "-p")
    check(connect == 200 and code == 200 and body == f"internet {t6.INET_HOST}\n" and not err,
          (code, connect, body, err))
    log = seen()
    # asked over IPv6, from the container (NAT66), A first then AAAA
    check("dns v6only.hoody.test 1" in log and "dns v6only.hoody.test 28" in log, log)
    check(log.index("dns v6only.hoody.test 1") < log.index("dns v6only.hoody.test 28"), log)
    check(f"dns {t6.INET_HOST}" in log, log)


def private_targets():
    glob, _ = t6.bridge_addrs6()
    check(glob, "the bridge has no IPv6 address")
    # a ULA service, the metadata address, the API on the bridge's IPv6
    # address and on the host's own
    return [(t6.PRIVATE, 80), (t6.METADATA, 80), (glob[0], D.port), (t6.host_own6()[0], D.port)]


def test_private_refused_as_direct():
    before = seen()
    for addr, port in private_targets():
        direct, out = t6.connect6_from(NAME, addr, port)
        check(not direct, f"{addr}:{port} reached directly: {out}")
        for extra in ((), ("-p",)):
            code, connect, body, _ = via(f"http://[{addr}]:{port}/", *extra)
            status = connect if extra else code
            check(status in (502, 504), (addr, port, extra, code, connect, body))
            if not extra:
                check(json.loads(body)["code"] in ("BAD_GATEWAY", "GATEWAY_TIMEOUT"), body)
    code, _, body, _ = via("http://private6.hoody.test:80/")
    check(code in (502, 504), (code, body))
    after = seen()
    new = after[len(before):]
    check("tcp [" not in new and "http [" not in new, f"the internet namespace saw: {new}")


def test_bad_literals():
    claim = [f"{k}: {v}" for k, v in OWNER.items()]
    for target in (f"http://[{t6.INET}/", f"http://[{t6.INET}]x/", f"http://[{t6.INET}]:0/",
                   f"http://[{t6.INET}]:/", "http://[zz::1]/", "http://[fe80::1%25eth0]/",
                   f"http://[{t6.INET}]:99999/", "http://[]/", "http://[1.2.3.4]/",
                   f"http://u@[{t6.INET}]/"):
        out = eg.raw_exchange([f"GET {target} HTTP/1.1", "Host: x", "Connection: close"] + claim)
        check(out.startswith("HTTP/1.1 400") and "VALIDATION_ERROR" in out, (target, out[:300]))
    out = eg.raw_exchange([f"CONNECT [{t6.INET}]x HTTP/1.1", "Host: x", "Connection: close"] + claim)
    check(out.startswith("HTTP/1.1 400"), out[:300])
    # no credentials: 407 before anything is connected
    code, _, _, _ = eg.curl(eg.host(eg.CID, "proxy"), f"http://[{t6.INET}]/", "-g")
    check(code == 407, code)


def run():
    global D, LOG, OWNER
    # test_network6's fixed addresses and host routes: one user at a time
    os.makedirs(NET_LOCK_DIR, exist_ok=True)
    lock = os.open(os.path.join(NET_LOCK_DIR, "test_network6.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    eg.CRT, _key = make_cert(TMP, "egress6")
    eg.TPORT = free_port()
    D = ProxyDaemon(["--proxy-tls-listen", f"127.0.0.1:{eg.TPORT}", "--tls-cert", eg.CRT,
                     "--tls-key", _key, "--ipv6", "on", "--dns", t6.RESOLVER])
    # the API on every address, so that the bridge's IPv6 address has a
    # listener the container must still not reach
    D.api_addr = "::1"
    D.base = f"http://[::1]:{D.port}"
    D.subnet6 = f"fd{os.getpid() % 256:02x}:6e75:{D.n:x}::/64"
    D.extra += ["--listen", f"[::]:{D.port}", "--subnet6", D.subnet6]
    t6.D = tn.D = D
    proc = None
    try:
        D.start()
        proc, LOG = t6.internet_up()
        eg.P = D.new_project()
        eg.CID = tn.add(NAME, eg.P)["id"]
        t6.addrs6(NAME)  # past duplicate address detection
        OWNER = D.claim_headers(eg.CID)
        main([test_ipv6_literals, test_aaaa_only_name, test_private_refused_as_direct,
              test_bad_literals])
    finally:
        if proc:
            proc.kill()
            proc.wait()
        t6.internet_down()
        if D.proc:
            D.cleanup()


if __name__ == "__main__":
    run()
