"""Network isolation, spoofing, NAT and DNS on real containers (firewall.c,
docs/SECURITY.md "Network").

The test makes its own "internet": a network namespace behind a veth with
198.51.100.2 (TEST-NET-2), plus a private (172.31.255.53) and a link-local
(169.254.169.254) address routed to it by /32 routes the test adds. Nothing
is ever sent anywhere else: a rule that failed to refuse a private or
metadata address would deliver into this namespace, where a listener notices.

Tenants: the admin's project P1 holds the victim V, its friend F and an
insider M; the admin's project P2 holds X; user "mallory" owns A."""
import contextlib
import fcntl
import json
import os
import shutil
import socket
import subprocess
import time

from hoody_test import NET_LOCK_DIR, Daemon, check, main
from test_operations import crun_exec

NS = f"hnet{os.getpid() % 100000}"
HOST_IF = f"hn{os.getpid() % 100000}h"
NS_IF = "up0"
INET_HOST = "198.51.100.1"
INET = "198.51.100.2"
PRIVATE = "172.31.255.53"   # resolver and a "private service"
METADATA = "169.254.169.254"
D = None
C = {}   # name -> {"id", "ip", "mac"}

# The fake internet's programs, also test_network6's: a resolver answering
# every name with the A record 198.51.100.7 but AAAA_ONLY's names (for
# test_proxy_egress6), and TCP ("tcp") or HTTP ("http") services answering
# with the peer's address; IPv4 or IPv6 by the address.
# The question of a DNS query: (lower-case name, type bytes, offset past it),
# for the fake resolvers of these tests.
DNS_QUESTION_PY = r"""
def question(q):
    end, labels = 12, []
    while q[end]:
        labels.append(q[end + 1:end + 1 + q[end]].decode().lower())
        end += q[end] + 1
    return ".".join(labels), q[end + 1:end + 3], end + 5
"""

# argv: log resolver kind,addr,port...
INTERNET_PY = DNS_QUESTION_PY + r"""
import socket, sys, threading
log = open(sys.argv[1], "a", buffering=1)
AAAA_ONLY = {"v6only.hoody.test": "2001:db8:6::2", "private6.hoody.test": "fdee:6e74::80"}

def sock(addr, kind):
    return socket.socket(socket.AF_INET6 if ":" in addr else socket.AF_INET, kind)

def dns(addr):
    s = sock(addr, socket.SOCK_DGRAM)
    s.bind((addr, 53))
    while True:
        q, peer = s.recvfrom(512)
        log.write(f"dns {peer[0]}\n")
        name, qtype, end = question(q)
        log.write(f"dns {name} {int.from_bytes(qtype, 'big')}\n")
        if name in AAAA_ONLY:
            aaaa = qtype == b"\x00\x1c"
            ans = b"\xc0\x0c\x00\x1c\x00\x01\x00\x00\x00\x3c\x00\x10" + \
                socket.inet_pton(socket.AF_INET6, AAAA_ONLY[name]) if aaaa else b""
        else:
            aaaa = True
            ans = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04" + \
                socket.inet_aton("198.51.100.7")
        hdr = q[:2] + b"\x81\x80" + q[4:6] + (b"\x00\x01" if aaaa else b"\x00\x00") + \
            b"\x00\x00\x00\x00"
        s.sendto(hdr + q[12:end] + ans, peer)

def serve(kind, addr, port):
    s = sock(addr, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    s.listen(64)
    shown = f"[{addr}]" if ":" in addr else addr
    while True:
        c, peer = s.accept()
        if kind == "http":
            c.recv(65536)
        log.write(f"{kind} {shown}:{port} from {peer[0]}\n")
        head = b"HTTP/1.0 200 OK\r\n\r\n" if kind == "http" else b""
        c.sendall(head + f"internet {peer[0]}\n".encode())
        c.close()

threading.Thread(target=dns, args=(sys.argv[2],), daemon=True).start()
for kind, addr, port in (a.split(",") for a in sys.argv[3:]):
    threading.Thread(target=serve, args=(kind, addr, int(port)), daemon=True).start()
threading.Event().wait()
"""
INTERNET_ARGS = (PRIVATE, f"tcp,{INET},8080", f"tcp,{PRIVATE},80", f"tcp,{METADATA},80")

INJECT_PY = r"""
import socket, struct, sys
kind, mac, victim_ip, victim_mac = sys.argv[1:5]
def m(s): return bytes.fromhex(s.replace(":", ""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
bc = b"\xff" * 6
def arp(src_mac, op):
    return (bc + m(src_mac) + b"\x08\x06" + struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) +
            m(src_mac) + socket.inet_aton(victim_ip) + bc + socket.inet_aton(victim_ip))
def csum(b):
    if len(b) % 2: b += b"\0"
    t = sum(struct.unpack(f"!{len(b)//2}H", b))
    while t >> 16: t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff
def ra():
    src = socket.inet_pton(socket.AF_INET6, "fe80::bad")
    dst = socket.inet_pton(socket.AF_INET6, "ff02::1")
    opts = struct.pack("!BB", 1, 1) + m(mac)
    opts += struct.pack("!BBBBIII", 3, 4, 64, 0xc0, 86400, 14400, 0) + \
        socket.inet_pton(socket.AF_INET6, "2001:db8:99::")
    body = struct.pack("!BBHBBHII", 134, 0, 0, 64, 0, 1800, 0, 0) + opts
    pseudo = src + dst + struct.pack("!IxxxB", len(body), 58)
    c = csum(pseudo + body)
    body = body[:2] + struct.pack("!H", c) + body[4:]
    ip6 = struct.pack("!IHBB", 6 << 28, len(body), 58, 255) + src + dst
    return b"\x33\x33\x00\x00\x00\x01" + m(mac) + b"\x86\xdd" + ip6 + body
frames = []
if kind == "arp":    # gratuitous ARP: the victim's address at our MAC
    frames = [arp(mac, 2), arp(mac, 1)]
elif kind == "mac":  # the victim's MAC as our source (bridge FDB poisoning)
    frames = [arp(victim_mac, 2), arp(victim_mac, 1)]
elif kind == "ra":
    frames = [ra()]
for _ in range(5):
    for f in frames:
        s.send(f)
"""


def sh(*args, check_rc=True, **kw):
    r = subprocess.run(list(args), capture_output=True, text=True, **kw)
    if check_rc:
        check(r.returncode == 0, f"{args}: {r.returncode} {r.stderr}")
    return r


def internet_up(state, script=INTERNET_PY, args=INTERNET_ARGS):
    """The fake internet, its programs those of script run with the log and
    args (listening on two ports with ":80" in them before it counts as
    up); (process, log)."""
    internet_down()
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF, "netns", NS)
    sh("ip", "addr", "add", f"{INET_HOST}/24", "dev", HOST_IF)
    sh("ip", "link", "set", HOST_IF, "up")
    for a in (f"{INET}/24", f"{PRIVATE}/32", f"{METADATA}/32"):
        sh("ip", "-n", NS, "addr", "add", a, "dev", NS_IF)
    sh("ip", "-n", NS, "link", "set", NS_IF, "up")
    sh("ip", "-n", NS, "link", "set", "lo", "up")
    for a in (PRIVATE, METADATA):
        sh("ip", "route", "add", f"{a}/32", "via", INET, "dev", HOST_IF)
    log = os.path.join(state, "internet.log")
    open(log, "w").close()
    proc = subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-c", script, log, *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120  # a deadlock guard: python starts slowly on a loaded host
    while sh("ip", "netns", "exec", NS, "ss", "-ltn", check_rc=False).stdout.count(":80") < 2:
        check(time.time() < deadline and proc.poll() is None, "the fake internet never listened")
        time.sleep(0.05)
    return proc, log


def internet_down():
    for a in (PRIVATE, METADATA):
        subprocess.run(["ip", "route", "del", f"{a}/32"], capture_output=True)
    subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)


@contextlib.contextmanager
def internet(state, script):
    """The fake internet for a test of another file, running script: taken
    in turns with every other user of its fixed addresses, torn down after;
    yields its log."""
    os.makedirs(NET_LOCK_DIR, exist_ok=True)
    lock = os.open(os.path.join(NET_LOCK_DIR, "test_network.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    proc = None
    try:
        proc, log = internet_up(state, script, ())
        yield log
    finally:
        if proc:
            proc.kill()
            proc.wait()
        internet_down()
        os.close(lock)


def lease_ip(d, cid):
    return os.readlink(os.path.join(d.state, "ipam", f"id-{cid}"))


def add(name, pid, token=...):
    c = D.create_container(pid, token=token, name=name)
    ip = lease_ip(D, c["id"])
    mac = crun_exec(D, c["id"], "cat /sys/class/net/eth0/address").strip()
    C[name] = {"id": c["id"], "ip": ip, "mac": mac}
    return C[name]


def serve(name, port=8000):
    crun_exec(D, C[name]["id"],
              f"while true; do echo {name} | nc -l -p {port}; done >/dev/null 2>&1", detach=True)


def tcp_from(name, ip, port, want=None):
    """What a TCP client in container `name` reads from ip:port ("" = no
    connection); with want, retried until it is that."""
    args = ["crun", "--root", f"{D.run_dir}/crun", "exec", C[name]["id"], "/bin/sh", "-c",
            f"nc -w 2 {ip} {port} </dev/null"]
    deadline = time.time() + 120  # with want: a deadlock guard, not a bound
    while True:
        got = subprocess.run(args, capture_output=True, text=True, timeout=30).stdout.strip()
        if want is None or got == want or time.time() > deadline:
            return got
        time.sleep(0.1)


def tcp_from_host(ip, port, want=None):
    """What the host reads from ip:port; with want, retried until it is
    that (the servers in containers restart between clients)."""
    deadline = time.time() + 120  # with want: a deadlock guard, not a bound
    while True:
        try:
            with socket.create_connection((ip, port), timeout=3) as s:
                got = s.recv(100).decode().strip()
        except OSError:
            got = ""
        if want is None or got == want or time.time() > deadline:
            return got
        time.sleep(0.1)


def wait_served(name, port=8000):
    deadline = time.time() + 120  # a deadlock guard
    while time.time() < deadline:
        if tcp_from_host(C[name]["ip"], port) == name:
            return
        time.sleep(0.05)
    ip = C[name]["ip"]
    seen = [sh(*c, check_rc=False) for c in (("ip", "route", "get", ip), ("ip", "neigh", "show", ip),
                                              ("ip", "-br", "addr"))]
    check(False, f"{name} does not serve on {port}: " +
          " | ".join((r.stdout + r.stderr).strip() for r in seen))


def nft_json(*what):
    r = sh("nft", "-j", "list", *what, check_rc=False)
    return json.loads(r.stdout) if r.returncode == 0 else None


def set_has(setname, needle):
    j = nft_json("set", "bridge", f"hoody_{D.bridge}", setname)
    return j is not None and needle in json.dumps(j)


def host_global_ip():
    """One of the host's own addresses outside our bridges (delivered locally)."""
    out = sh("ip", "-4", "-o", "addr", "show", "scope", "global").stdout
    for line in out.splitlines():
        f = line.split()
        if not f[1].startswith(("hdy", "hoody", "hn")):
            return f[3].split("/")[0]
    check(False, f"no global address on the host: {out}")


# ---------------------------------------------------------------- tests

def test_no_raw_sockets():
    v = C["victim"]
    out = crun_exec(D, C["attacker"]["id"],
                    f"grep CapEff /proc/self/status; ping -c 1 -W 1 {v['ip']} 2>&1; "
                    f"arping -c 1 -w 1 -U -s {v['ip']} -I eth0 {v['ip']} 2>&1; true")
    cap = int(out.split()[1], 16)
    check(not cap & (1 << 13), f"CAP_NET_RAW in {out}")
    check(out.count("ermission denied") + out.count("not permitted") >= 2, out)


def test_cross_tenant_and_same_project():
    v = C["victim"]
    check(tcp_from("friend", v["ip"], 8000, "victim") == "victim", "same project reaches the victim")
    check(tcp_from("attacker", v["ip"], 8000) == "", "another user's container reaches it")
    check(tcp_from("other_project", v["ip"], 8000) == "", "another project reaches it")
    # and the other way round
    check(tcp_from("victim", C["attacker"]["ip"], 8000) == "", "victim reaches attacker")
    # hoodyd (the host) opens connections to any container
    check(tcp_from_host(v["ip"], 8000, "victim") == "victim", "host -> container")
    check(tcp_from_host(C["attacker"]["ip"], 8000, "attacker") == "attacker", "host -> attacker")


def inject(attacker, kind):
    a, v = C[attacker], C["victim"]
    sh("nsenter", f"--net={D.run_dir}/netns/{a['id']}", "python3", "-c", INJECT_PY, kind,
       a["mac"], v["ip"], v["mac"])


def arp_of(name, ip):
    arp = crun_exec(D, C[name]["id"], "cat /proc/net/arp")
    for line in arp.splitlines()[1:]:
        f = line.split()
        if f[0] == ip:
            return f[3]
    return None


def host_neigh(ip):
    out = sh("ip", "neigh", "show", ip, "dev", D.bridge).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def test_spoofing_moves_no_traffic():
    v = C["victim"]
    # caches hold the victim's real MAC before the attack
    check(tcp_from("friend", v["ip"], 8000, "victim") == "victim", "friend before")
    check(tcp_from_host(v["ip"], 8000, "victim") == "victim", "host before")
    check(host_neigh(v["ip"]) == v["mac"], host_neigh(v["ip"]))
    time.sleep(1.2)  # past the neighbour tables' locktime: updates would be taken
    # frames injected into the attackers' own eth0, as a container with
    # CAP_NET_RAW would send them: another tenant, and an insider of the
    # victim's own project (whom isolation does not stop)
    for who in ("attacker", "insider"):
        for kind in ("mac", "arp", "ra"):
            inject(who, kind)
    time.sleep(0.3)
    check(arp_of("friend", v["ip"]) == v["mac"], f"friend's ARP entry {arp_of('friend', v['ip'])}")
    check(host_neigh(v["ip"]) == v["mac"], f"host's neighbour entry {host_neigh(v['ip'])}")
    check(tcp_from("friend", v["ip"], 8000, "victim") == "victim", "a third container still reaches the victim")
    check(tcp_from_host(v["ip"], 8000, "victim") == "victim", "the host still reaches the victim")
    # the router advertisement configured nothing: not the host's bridge,
    # not the victim
    br6 = sh("ip", "-6", "addr", "show", "dev", D.bridge).stdout
    check("2001:db8:99" not in br6, br6)
    addrs = crun_exec(D, v["id"], "cat /proc/net/if_inet6")
    check("20010db8009900" not in addrs, addrs)
    # no default route but the daemon's own (the bridge's global IPv6
    # address, when containers have IPv6)
    ours = {socket.inet_pton(socket.AF_INET6, f[3].split("/")[0]).hex()
            for f in map(str.split, sh("ip", "-6", "-o", "addr", "show", "dev", D.bridge,
                                       "scope", "global").stdout.splitlines())}
    routes = crun_exec(D, v["id"], "cat /proc/net/ipv6_route")
    check(not any(f[0] == "0" * 32 and f[1] == "00" and f[-1] == "eth0" and f[4] not in ours
                  for f in map(str.split, routes.splitlines())), f"default route: {routes}")


UDP_LISTEN_PY = r"""
import select, socket
socks = []
for port in (68, 6800):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind(("0.0.0.0", port))
    socks.append(s)
print("ready", flush=True)
while True:
    r, _, _ = select.select(socks, [], [], 3)
    if not r:
        break
    for s in r:
        data, peer = s.recvfrom(100)
        print(s.getsockname()[1], data.decode(), peer[1], flush=True)
"""

UDP_SEND_PY = r"""
import socket, sys
for sport, dport, text in ((67, 68, "offer"), (6767, 68, "offer from another port"),
                          (6700, 6800, "control")):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", sport))
    s.sendto(text.encode(), (sys.argv[1], dport))
"""


def in_netns(name, script, *args, **kw):
    return ["nsenter", f"--net={D.run_dir}/netns/{C[name]['id']}", "python3", "-c", script] + \
        list(args)


def test_dhcp_server_dropped():
    # sockets in the containers' namespaces (a container may bind port 67:
    # it has CAP_NET_BIND_SERVICE); the insider is in the friend's project
    f = C["friend"]
    lis = subprocess.Popen(in_netns("friend", UDP_LISTEN_PY), stdout=subprocess.PIPE, text=True)
    check(lis.stdout.readline().strip() == "ready", "listener")
    sh(*in_netns("insider", UDP_SEND_PY, f["ip"]))
    out = lis.communicate(timeout=30)[0]
    check("6800 control 6700" in out, f"control datagram lost: {out!r}")
    check("offer" not in out, f"DHCP server packet passed: {out!r}")


def test_host_unreachable():
    v = C["victim"]
    gw = D.subnet.split("/")[0].rsplit(".", 1)[0] + ".1"
    host = host_global_ip()
    # the API listens on 0.0.0.0 and answers from the host on both addresses
    check(tcp_connects(host, D.port), "API on the host's address from the host")
    for addr in (gw, host, "127.0.0.1"):
        check(not tcp_from_ok("victim", addr, D.port), f"API at {addr} from a container")
        check(not tcp_from_ok("victim", addr, 22), f"port 22 at {addr} from a container")
    # metadata and private ranges: refused before they leave the host
    before = open(INET_LOG).read()
    check(not tcp_from_ok("victim", METADATA, 80), "metadata address reached")
    check(not tcp_from_ok("victim", PRIVATE, 80), "private address reached")
    after = open(INET_LOG).read()
    check(after == before, f"the internet namespace saw: {after[len(before):]}")


def tcp_connects(ip, port):
    try:
        socket.create_connection((ip, port), timeout=3).close()
        return True
    except OSError:
        return False


def tcp_from_ok(name, ip, port):
    """True when container `name` completes a TCP handshake with ip:port."""
    args = ["crun", "--root", f"{D.run_dir}/crun", "exec", C[name]["id"], "/bin/sh", "-c",
            f"nc -w 2 {ip} {port} </dev/null >/dev/null 2>&1 && echo CONNECTED"]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    return "CONNECTED" in r.stdout


def test_outbound_nat_and_dns():
    out = tcp_from("victim", INET, 8080)
    check(out == f"internet {INET_HOST}", f"through NAT: {out!r}")
    res = crun_exec(D, C["victim"]["id"], "cat /etc/resolv.conf; nslookup example.test 2>&1; true")
    check(f"nameserver {PRIVATE}" in res and "198.51.100.7" in res, res)
    check(f"dns {INET_HOST}" in open(INET_LOG).read(), "the resolver saw the masqueraded query")


def test_rules_follow_containers():
    v = C["victim"]
    check(set_has("port_ip4", v["ip"]), "victim's address in port_ip4")
    rec = os.path.join(D.run_dir, "fw", v["id"])
    check(os.path.exists(rec), rec)
    # a daemon restart re-adopts: rules rebuilt, isolation unchanged
    D.restart()
    check(set_has("port_ip4", v["ip"]), "victim's rules after restart")
    check(tcp_from("friend", v["ip"], 8000, "victim") == "victim", "same project after restart")
    check(tcp_from("attacker", v["ip"], 8000) == "", "cross tenant after restart")
    # rules lost behind hoodyd's back come back with the next restart
    sh("nft", "delete", "table", "bridge", f"hoody_{D.bridge}")
    D.restart()
    check(set_has("port_ip4", v["ip"]), "victim's rules rebuilt")
    check(tcp_from("attacker", v["ip"], 8000) == "", "cross tenant after rebuild")
    # delete removes them
    gone = C.pop("other_project")
    r = D.delete(f"/api/v1/containers/{gone['id']}")
    check(r.status == 200, r)
    for _ in range(200):
        if not set_has("port_ip4", gone["ip"]):
            break
        time.sleep(0.05)
    check(not set_has("port_ip4", gone["ip"]) and not set_has("port_mac", gone["mac"]),
          "rules of a deleted container")
    check(not os.path.exists(os.path.join(D.run_dir, "fw", gone["id"])), "record left")


def test_prespawn_claim_joins_project():
    # a pool member has no group: nobody reaches it; claimed into P1 it
    # reaches the victim and vice versa
    r = D.put("/api/v1/admin/prespawn", {"pools": [{"image": "busybox", "hoody_kit": False, "target": 1}]})
    check(r.status == 200, r)
    for _ in range(300):
        r = D.get("/api/v1/admin/prespawn")
        if all(p["ready"] >= 1 for p in r.data["pools"]):
            break
        time.sleep(0.1)
    r = D.post(f"/api/v1/projects/{P1}/containers",
               {"container_image": "busybox", "hoody_kit": False, "name": "claimed"})
    check(r.status == 201 and r.data["status"] == "running", r)
    C["claimed"] = {"id": r.data["id"], "ip": lease_ip(D, r.data["id"])}
    check(tcp_from("claimed", C["victim"]["ip"], 8000, "victim") == "victim", "claimed -> victim")
    check(D.put("/api/v1/admin/prespawn", {"pools": []}).status == 200, "pool off")


def test_no_nat():
    """--no-nat: the internet sees the container's own address (routed
    back to the daemon's subnet by the test), and isolation still holds."""
    global D
    main_d, D = D, Daemon()
    D.extra += ["--no-nat", "--dns", PRIVATE]
    route = ["ip", "-n", NS, "route", "add", D.subnet, "via", INET_HOST]
    try:
        D.start()
        sh(*route)
        pid = D.new_project()
        add("routed", pid)
        out = tcp_from("routed", INET, 8080)
        check(out == f"internet {C['routed']['ip']}", f"without NAT: {out!r}")
        check(not tcp_from_ok("routed", METADATA, 80), "metadata address reached")
    finally:
        subprocess.run(route[:4] + ["del", D.subnet], capture_output=True)
        D.cleanup()
        C.pop("routed", None)
        D = main_d


def test_bad_network_config():
    """Bad settings stop hoodyd at start, naming the setting, before it
    touches the host."""
    for flag, value, word in (("--dns", "not-an-address", "dns"),
                              ("--dns", "10.0.0.1,::1", "dns"),
                              ("--net-allow", "10.0.0.0/33", "net_allow"),
                              ("--net-allow", "10.0.0.0/8,bogus", "net_allow"),
                              ("--bridge", "bad/name", "bridge")):
        d = Daemon()
        r = subprocess.run(d.args() + [flag, value], capture_output=True, text=True, timeout=60)
        check(r.returncode != 0 and word in r.stderr, f"{flag} {value}: {r.returncode} {r.stderr}")
        check(nft_json("table", "bridge", f"hoody_{d.bridge}") is None, "tables made anyway")
        shutil.rmtree(d.state, ignore_errors=True)


P1 = None
INET_LOG = None


def run():
    global D, P1, INET_LOG
    # The "internet" uses fixed addresses and host routes: another clone's
    # test_network running at the same time waits here (lock held for life).
    os.makedirs(NET_LOCK_DIR, exist_ok=True)
    lock = os.open(os.path.join(NET_LOCK_DIR, "test_network.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    D = Daemon()
    D.extra += ["--listen", f"0.0.0.0:{D.port}", "--dns", PRIVATE] + \
        os.environ.get("HOODY_NET_TEST_EXTRA", "").split()
    proc = None
    try:
        D.start()
        proc, INET_LOG = internet_up(D.state)
        P1 = D.new_project()
        p2 = D.new_project()
        mallory = D.new_user("mallory")
        pm = D.new_project(token=mallory)
        add("victim", P1)
        add("friend", P1)
        add("insider", P1)
        add("other_project", p2)
        add("attacker", pm, token=mallory)
        for n in ("victim", "attacker", "other_project"):
            serve(n)
        for n in ("victim", "attacker", "other_project"):
            wait_served(n)
        main([test_bad_network_config, test_no_raw_sockets, test_cross_tenant_and_same_project,
              test_spoofing_moves_no_traffic, test_dhcp_server_dropped, test_host_unreachable,
              test_outbound_nat_and_dns, test_no_nat, test_prespawn_claim_joins_project,
              test_rules_follow_containers, test_purge_removes_rules])
    finally:
        if proc:
            proc.kill()
        internet_down()
        if D.proc:
            D.cleanup()


def test_purge_removes_rules():
    D.cleanup()
    check(nft_json("table", "bridge", f"hoody_{D.bridge}") is None, "bridge table after purge")
    check(nft_json("table", "inet", f"hoody_{D.bridge}") is None, "inet table after purge")
    check(not os.path.exists(os.path.join(D.run_dir, "fw")), "records after purge")


if __name__ == "__main__":
    run()
