"""Containers' IPv6: addresses, isolation, NAT66 and DNS over IPv6 on real
containers (ip6.c, firewall.c, docs/SECURITY.md "IPv6").

The daemons run with `--ipv6 on`, so the test does not depend on the host's
own IPv6. The test makes its own IPv6 "internet": a network namespace behind
a veth, 2001:db8:6::2 (2001:db8::/32 is documentation space, which the deny
list leaves open for this purpose), plus a unique-local resolver and service
(fdee:6e74::53, fdee:6e74::80) and the IPv6 metadata address clouds use
(fd00:ec2::254), routed to it by /128 routes the test adds. Nothing is sent
anywhere else: a rule that failed to refuse a private address would deliver
into this namespace, where a listener notices.

Tenants as in test_network.py (its helpers are reused: they work on its
module globals D and C, which this test points at its own daemon)."""
import fcntl
import os
import shutil
import socket
import subprocess
import time

import test_network as tn
from hoody_test import NET_LOCK_DIR, Daemon, check, main
from test_operations import crun_exec
from test_network import add, nft_json, serve, set_has, sh, tcp_from, tcp_from_host, tcp_from_ok

NS = f"hsix{os.getpid() % 100000}"
HOST_IF = f"hs{os.getpid() % 100000}h"
DUMMY = f"hs{os.getpid() % 100000}d"
NS_IF = "up0"
INET_HOST = "2001:db8:6::1"
INET = "2001:db8:6::2"
RESOLVER = "fdee:6e74::53"
PRIVATE = "fdee:6e74::80"
METADATA = "fd00:ec2::254"
ROUTED = (RESOLVER, PRIVATE, METADATA)
C = tn.C
D = None
INET_LOG = None
P1 = None

INTERNET_ARGS = (RESOLVER, f"tcp,{INET},8080", f"tcp,{PRIVATE},80", f"tcp,{METADATA},80",
                 f"http,{INET},80")

# A TCP client in a container's network namespace, for what busybox nc
# cannot say: a link-local address with its scope ("fe80::1%eth0").
CONNECT_PY = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
try:
    ai = socket.getaddrinfo(host, port, socket.AF_INET6, socket.SOCK_STREAM)[0]
    s = socket.socket(socket.AF_INET6)
    s.settimeout(3)
    s.connect(ai[4])
    print("CONNECTED", s.recv(100).decode().strip())
except OSError as e:
    print("FAILED", e)
"""


MCAST_LISTEN_PY = r"""
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::", 4001))
s.settimeout(5)
print("ready", flush=True)
try:
    while True:
        data, peer = s.recvfrom(100)
        print(data.decode(), peer[0].split("%")[0], flush=True)
except socket.timeout:
    pass
"""

MCAST_SEND_PY = r"""
import socket, sys
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], 0))
for _ in range(3):
    s.sendto(b"hello", socket.getaddrinfo("ff02::1%eth0", 4001, socket.AF_INET6,
                                          socket.SOCK_DGRAM)[0][4])
"""


def internet_up():
    internet_down()
    sh("ip", "netns", "add", NS)
    sh("ip", "link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF, "netns", NS)
    sh("ip", "addr", "add", f"{INET_HOST}/64", "dev", HOST_IF, "nodad")
    sh("ip", "link", "set", HOST_IF, "up")
    sh("ip", "-n", NS, "addr", "add", f"{INET}/64", "dev", NS_IF, "nodad")
    for a in ROUTED:
        sh("ip", "-n", NS, "addr", "add", f"{a}/128", "dev", NS_IF, "nodad")
    sh("ip", "-n", NS, "link", "set", NS_IF, "up")
    sh("ip", "-n", NS, "link", "set", "lo", "up")
    # replies to any source go back through the host: without the rules
    # (no NAT, no deny list) a refused connection would then complete and
    # be logged
    sh("ip", "-n", NS, "-6", "route", "add", "default", "via", INET_HOST)
    for a in ROUTED:
        sh("ip", "-6", "route", "add", f"{a}/128", "via", INET, "dev", HOST_IF)
    log = os.path.join(D.state, "internet6.log")
    open(log, "w").close()
    proc = subprocess.Popen(["ip", "netns", "exec", NS, "python3", "-c", tn.INTERNET_PY, log,
                             *INTERNET_ARGS],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120  # a deadlock guard: python starts slowly on a loaded host
    while sh("ip", "netns", "exec", NS, "ss", "-ltn", check_rc=False).stdout.count(":80") < 3:
        check(time.time() < deadline and proc.poll() is None, "the fake internet never listened")
        time.sleep(0.05)
    return proc, log


def internet_down():
    for a in ROUTED:
        subprocess.run(["ip", "-6", "route", "del", f"{a}/128"], capture_output=True)
    subprocess.run(["ip", "link", "del", HOST_IF], capture_output=True)
    subprocess.run(["ip", "netns", "del", NS], capture_output=True)


def addrs6(name):
    """(global, link-local) IPv6 addresses of a container's eth0, from inside,
    once none is tentative (duplicate address detection, with --ipv6 off)."""
    deadline = time.time() + 120  # a deadlock guard
    while True:
        out = crun_exec(D, C[name]["id"], "cat /proc/net/if_inet6")
        rows = [f for f in map(str.split, out.splitlines()) if f[5] == "eth0"]
        if not any(int(f[4], 16) & 0x40 for f in rows) or time.time() > deadline:
            break
        time.sleep(0.1)
    glob, link = [], []
    for f in rows:
        a = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(f[0]))
        (link if f[3] == "20" else glob).append(a)
    return glob, link


def add6(name, pid, token=...):
    c = add(name, pid, token)
    c["ip6"], c["ll6"] = addrs6(name)[0][0], addrs6(name)[1][0]
    return c


def bridge_addrs6():
    """(global, link-local) IPv6 addresses of the daemon's bridge."""
    out = sh("ip", "-6", "-o", "addr", "show", "dev", D.bridge).stdout
    glob = [f[3].split("/")[0] for f in map(str.split, out.splitlines()) if "global" in f]
    link = [f[3].split("/")[0] for f in map(str.split, out.splitlines()) if "link" in f]
    return glob, link


def expected6(ipv4):
    """subnet6 + the IPv4 address in the low 32 bits."""
    net = socket.inet_pton(socket.AF_INET6, D.subnet6.split("/")[0])
    return socket.inet_ntop(socket.AF_INET6, net[:12] + socket.inet_aton(ipv4))


def connect6_from(name, host, port):
    out = sh("nsenter", f"--net={D.run_dir}/netns/{C[name]['id']}", "python3", "-c", CONNECT_PY,
             host, str(port), timeout=60).stdout
    return out.startswith("CONNECTED"), out


def host_own6():
    """The host's own global/ULA IPv6 addresses outside the test's links."""
    out = sh("ip", "-6", "-o", "addr", "show", "scope", "global").stdout
    own = [f[3].split("/")[0] for f in map(str.split, out.splitlines())
           if not f[1].startswith(("hdy", "hoody", "hs", "hn", "vh"))]
    check(own, f"no global IPv6 address on the host: {out}")
    return own


# ---------------------------------------------------------------- tests

def test_bad_ipv6_config():
    """Bad IPv6 settings stop hoodyd at start, naming the setting, before
    it touches the host."""
    for flag, value, word in (("--subnet6", "fd00:1::/97", "subnet6"),
                              ("--subnet6", "fd00:1::", "subnet6"),
                              ("--subnet6", "not-a-prefix/64", "subnet6"),
                              ("--subnet6", "ff02::/64", "subnet6"),
                              ("--subnet6", "fe80::/64", "subnet6"),
                              ("--ipv6", "maybe", "ipv6"),
                              ("--dns", "::1", "dns"),
                              ("--dns", "fe80::1", "dns"),
                              ("--net-allow", "2001:db8::/129", "net_allow")):
        d = Daemon()
        r = subprocess.run(d.args() + ["--ipv6", "on", flag, value], capture_output=True,
                           text=True, timeout=60)
        check(r.returncode != 0 and word in r.stderr, f"{flag} {value}: {r.returncode} {r.stderr}")
        check(nft_json("table", "bridge", f"hoody_{d.bridge}") is None, "tables made anyway")
        shutil.rmtree(d.state, ignore_errors=True)
    # the environment and the config file name the same settings
    d = Daemon()
    r = subprocess.run(d.args(), capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, HOODY_SUBNET6="fd00:1::/100"))
    check(r.returncode != 0 and "subnet6" in r.stderr, f"HOODY_SUBNET6: {r.stderr}")
    conf = os.path.join(d.state, "conf.json")
    with open(conf, "w") as f:
        f.write('{"ipv6": "sometimes"}')
    r = subprocess.run(d.args() + ["--config", conf], capture_output=True, text=True, timeout=60)
    check(r.returncode != 0 and "ipv6" in r.stderr, f"config file ipv6: {r.stderr}")
    shutil.rmtree(d.state, ignore_errors=True)
    # an IPv6 resolver needs IPv6
    d = Daemon()
    r = subprocess.run(d.args() + ["--ipv6", "off", "--dns", RESOLVER], capture_output=True,
                       text=True, timeout=60)
    check(r.returncode != 0 and "dns" in r.stderr and "off" in r.stderr, r.stderr)
    shutil.rmtree(d.state, ignore_errors=True)


def test_subnet6_overlap_named():
    """A subnet6 that another interface holds (here the fake internet's
    link) would take the containers' packets: no bridge, and the reason
    names the interface and --subnet6."""
    d = Daemon(["--ipv6", "on", "--subnet6", "2001:db8:6::/64"])
    try:
        d.start()
        c = d.create_container(d.new_project(), wait=False)
        d.wait_status(c["id"], "failed")
        log = open(d.log_path).read()
        check(f"subnet6 2001:db8:6::/64 overlaps {INET_HOST}/64 on interface {HOST_IF}" in log,
              log[-2000:])
        r = sh("ip", "link", "show", d.bridge, check_rc=False)
        check(r.returncode != 0, f"bridge made: {r.stdout}")
    finally:
        d.cleanup()


def test_addresses_and_stats():
    v = C["victim"]
    glob, link = addrs6("victim")
    check(glob == [expected6(v["ip"])], f"global addresses {glob}, want {expected6(v['ip'])}")
    mac = bytes.fromhex(v["mac"].replace(":", ""))
    eui = bytes([mac[0] ^ 2]) + mac[1:3] + b"\xff\xfe" + mac[3:]
    check(link == [socket.inet_ntop(socket.AF_INET6, b"\xfe\x80" + b"\0" * 6 + eui)], link)
    routes = crun_exec(D, v["id"], "ip -6 route show default")
    gw = bridge_addrs6()[0]
    check(gw == [expected6(D.subnet.split("/")[0][:-1] + "1")], f"bridge {gw}")
    check(f"default via {gw[0]} dev eth0" in routes, routes)
    # stats list them
    r = D.get(f"/api/v1/containers/{v['id']}/stats")
    check(r.status == 200, r)
    eth0 = [n for n in r.data["network"] if n["interface"] == "eth0"][0]
    got = {(a["family"], a["address"], a["netmask"], a["scope"]) for a in eth0["addresses"]}
    check(("inet6", glob[0], D.subnet6.split("/")[1], "global") in got, got)
    check(("inet6", link[0], "64", "link") in got, got)
    check(("inet", v["ip"], "16", "global") in got, got)


def test_cross_tenant_and_same_project6():
    v = C["victim"]
    check(tcp_from("friend", v["ip6"], 8000, "victim") == "victim", "same project over IPv6")
    check(tcp_from("attacker", v["ip6"], 8000) == "", "another user's container over IPv6")
    check(tcp_from("other_project", v["ip6"], 8000) == "", "another project over IPv6")
    check(tcp_from("victim", C["attacker"]["ip6"], 8000) == "", "victim reaches attacker")
    # link-local, same link: the group rule holds there too
    ok, out = connect6_from("friend", f"{v['ll6']}%eth0", 8000)
    check(ok, f"same project over link-local: {out}")
    ok, out = connect6_from("attacker", f"{v['ll6']}%eth0", 8000)
    check(not ok, f"another user's container over link-local: {out}")
    # the host (the hostname proxy) reaches any container
    check(tcp_from_host(v["ip6"], 8000, "victim") == "victim", "host -> container over IPv6")


def test_multicast_keeps_its_source():
    """Multicast between containers of a project stays on the link as sent:
    with br_netfilter, bridged frames pass the NAT hook, which must not
    masquerade them (they are outside subnet6 without leaving the link)."""
    v, f = C["victim"], C["friend"]
    lis = subprocess.Popen(tn.in_netns("friend", MCAST_LISTEN_PY), stdout=subprocess.PIPE,
                           text=True)
    check(lis.stdout.readline().strip() == "ready", "listener")
    sh(*tn.in_netns("victim", MCAST_SEND_PY, v["ip6"]))
    out = lis.communicate(timeout=60)[0]
    check(f"hello {v['ip6']}" in out, f"multicast from the victim arrived as: {out!r}")
    check(f["ip6"] != v["ip6"], "two containers")


def test_host_unreachable6():
    glob, link = bridge_addrs6()
    own = host_own6()
    # the API listens on [::]: the host reaches it at its own IPv6 address
    with socket.create_connection((own[0], D.port), timeout=5):
        pass
    for addr in glob + own + ["::1"]:
        check(not tcp_from_ok("victim", addr, D.port), f"API at {addr} from a container")
        check(not tcp_from_ok("victim", addr, 22), f"port 22 at {addr} from a container")
    for addr in link:
        ok, out = connect6_from("victim", f"{addr}%eth0", D.port)
        check(not ok, f"API at the bridge's link-local {addr}: {out}")


def test_private_ranges_refused6():
    before = open(INET_LOG).read()
    for addr, port in ((PRIVATE, 80), (METADATA, 80)):
        check(not tcp_from_ok("victim", addr, port), f"{addr} reached")
    after = open(INET_LOG).read()
    check(after == before, f"the internet namespace saw: {after[len(before):]}")


def test_outbound_nat66_and_dns6():
    out = tcp_from("victim", INET, 8080)
    check(out == f"internet {INET_HOST}", f"through NAT66: {out!r}")
    res = crun_exec(D, C["victim"]["id"], "cat /etc/resolv.conf; nslookup example.test 2>&1; true")
    check(f"nameserver {RESOLVER}" in res and "198.51.100.7" in res, res)
    check(f"dns {INET_HOST}" in open(INET_LOG).read(), "the resolver saw the masqueraded query")


def test_host_sysctls():
    for knob, want in ((f"{DUMMY}/accept_ra", "2"), ("all/forwarding", "1"),
                       (f"{D.bridge}/accept_ra", "0"), (f"{D.bridge}/autoconf", "0")):
        with open(f"/proc/sys/net/ipv6/conf/{knob}") as f:
            got = f.read().strip()
        check(got == want, f"{knob} = {got}, want {want}")
    log = open(D.log_path).read()
    check(f"conf/{DUMMY}/accept_ra 1 -> 2" in log, "the change is logged")


def test_ipv6_off():
    """--ipv6 off: no IPv6 address beyond the kernel's link-local, and no
    IPv6 passes the bridge (IPv4 still does)."""
    global D
    main_d, D = D, Daemon()
    tn.D = D
    D.extra += ["--ipv6", "off"]
    try:
        D.start()
        pid = D.new_project()
        add("off_a", pid)
        add("off_b", pid)
        serve("off_b")
        check(tcp_from("off_a", C["off_b"]["ip"], 8000, "off_b") == "off_b", "IPv4 passes")
        glob, link = addrs6("off_b")
        check(glob == [], f"global IPv6 with --ipv6 off: {glob}")
        check(bridge_addrs6()[0] == [], "bridge has a global IPv6 address")
        ok, out = connect6_from("off_a", f"{link[0]}%eth0", 8000)
        check(not ok, f"IPv6 passed the bridge with --ipv6 off: {out}")
        table = sh("nft", "list", "table", "bridge", f"hoody_{D.bridge}").stdout
        check("jump ip6_in" not in table, table)
    finally:
        D.cleanup()
        for n in ("off_a", "off_b"):
            C.pop(n, None)
        D = tn.D = main_d


def elements6(cid):
    c = next(x for x in C.values() if x["id"] == cid)
    return [("port_ip6", c["ip6"]), ("port_ip6", c["ll6"])]


def test_rules_follow_containers6():
    v = C["victim"]
    for s, a in elements6(v["id"]):
        check(set_has(s, a), f"{a} in {s}")
    rec = open(os.path.join(D.run_dir, "fw", v["id"])).read().split()
    check(rec[4:] == [v["ip6"], v["ll6"]], f"record {rec}")
    # rules lost behind hoodyd's back come back from the records with the
    # next restart (the rebuild writes the elements in nft's language)
    sh("nft", "delete", "table", "bridge", f"hoody_{D.bridge}")
    D.restart()
    for s in ("port_ip6", "port_nd", "port_ll"):
        j = nft_json("set", "bridge", f"hoody_{D.bridge}", s)
        check(j is not None and str(j).count(rec[0]) == (1 if s == "port_ll" else 2),
              f"{rec[0]} in {s} after the rebuild: {j}")
    check(tcp_from("friend", v["ip6"], 8000, "victim") == "victim", "same project after rebuild")
    check(tcp_from("attacker", v["ip6"], 8000) == "", "cross tenant after rebuild")
    # a record of the previous version (no IPv6 fields) is still read: the
    # restart rebuilds its IPv4 elements; the container's next start heals
    # the IPv6 ones
    with open(os.path.join(D.run_dir, "fw", v["id"]), "w") as f:
        f.write(" ".join(rec[:4]) + "\n")
    sh("nft", "delete", "table", "bridge", f"hoody_{D.bridge}")
    D.restart()
    check(set_has("port_ip4", v["ip"]), "IPv4 elements from an old record")
    check(not set_has("port_ip6", v["ip6"]), "IPv6 elements without a record of them")
    r = D.post(f"/api/v1/containers/{v['id']}/restart")
    check(r.status == 200, r)
    D.wait_status(v["id"], "running")
    check(set_has("port_ip6", v["ip6"]) and set_has("port_ip6", v["ll6"]), "healed by the start")
    serve("victim")
    check(tcp_from("friend", v["ip6"], 8000, "victim") == "victim", "same project after heal")
    check(tcp_from("attacker", v["ip6"], 8000) == "", "cross tenant after heal")
    # delete removes them
    gone = C.pop("other_project")
    veth = open(os.path.join(D.run_dir, "fw", gone["id"])).read().split()[0]
    r = D.delete(f"/api/v1/containers/{gone['id']}")
    check(r.status == 200, r)
    for _ in range(200):
        if not set_has("port_ip6", gone["ip6"]):
            break
        time.sleep(0.05)
    for s in ("port_ip6", "port_nd", "port_ll"):
        j = nft_json("set", "bridge", f"hoody_{D.bridge}", s)
        check(j is not None, f"set {s}")
        check(veth not in str(j) and gone["ip6"] not in str(j), f"{veth} left in {s}: {j}")


def test_purge_removes_rules6():
    D.cleanup()
    check(nft_json("table", "bridge", f"hoody_{D.bridge}") is None, "bridge table after purge")
    check(nft_json("table", "inet", f"hoody_{D.bridge}") is None, "inet table after purge")
    check(not os.path.exists(os.path.join(D.run_dir, "fw")), "records after purge")


def run():
    global D, P1, INET_LOG
    # fixed addresses and host routes: one run at a time on this host
    os.makedirs(NET_LOCK_DIR, exist_ok=True)
    lock = os.open(os.path.join(NET_LOCK_DIR, "test_network6.lock"), os.O_CREAT | os.O_RDWR, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    D = tn.D = Daemon()
    # --listen on every IPv6 address: the harness comes in over ::1
    D.api_addr = "::1"
    D.base = f"http://[::1]:{D.port}"
    D.extra += ["--listen", f"[::]:{D.port}", "--ipv6", "on", "--dns", RESOLVER] + \
        os.environ.get("HOODY_NET_TEST_EXTRA", "").split()
    D.subnet6 = f"fd{os.getpid() % 256:02x}:6e74:{D.n:x}::/64"
    D.extra += ["--subnet6", D.subnet6]
    # an "uplink" configured by router advertisements (a veth: this kernel
    # has no dummy links): the daemon must
    # move it to accept_ra 2 before it turns forwarding on
    subprocess.run(["ip", "link", "del", DUMMY], capture_output=True)
    sh("ip", "link", "add", DUMMY, "type", "veth", "peer", "name", DUMMY + "p")
    with open(f"/proc/sys/net/ipv6/conf/{DUMMY}/accept_ra", "w") as f:
        f.write("1")
    proc = None
    try:
        D.start()
        proc, INET_LOG = internet_up()
        P1 = D.new_project()
        p2 = D.new_project()
        mallory = D.new_user("mallory")
        pm = D.new_project(token=mallory)
        add6("victim", P1)
        add6("friend", P1)
        add6("other_project", p2)
        add6("attacker", pm, token=mallory)
        for n in ("victim", "attacker", "other_project"):
            serve(n)
        for n in ("victim", "attacker", "other_project"):
            tn.wait_served(n)
        main([test_bad_ipv6_config, test_subnet6_overlap_named, test_addresses_and_stats, test_host_sysctls,
              test_cross_tenant_and_same_project6, test_multicast_keeps_its_source,
              test_host_unreachable6,
              test_private_ranges_refused6, test_outbound_nat66_and_dns6, test_ipv6_off,
              test_rules_follow_containers6, test_purge_removes_rules6])
    finally:
        if proc:
            proc.kill()
            proc.wait()
        internet_down()
        subprocess.run(["ip", "link", "del", DUMMY], capture_output=True)
        if D.proc:
            D.cleanup()


if __name__ == "__main__":
    run()
