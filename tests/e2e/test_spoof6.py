"""Hostile IPv6 from containers, on real containers with `--ipv6 on`
(firewall.c, docs/SECURITY.md "Network"): neighbour discovery spoofing,
router advertisements, redirects, forged sources, DHCPv6 servers, raw
sockets, and reach across tenants over link-local and multicast.

Tenants: the admin's project P1 holds the victim, its client (which talks
to the victim over IPv6) and an insider; user "mallory" owns the attacker.
Frames are written into the attacker's and the insider's own eth0 from the
host (as a container with CAP_NET_RAW could send them): isolation stops the
attacker anyway, so the insider, whom it does not stop, is the one that
proves the anti-spoofing rules.

No check waits for silence. Each listener is an AF_PACKET sniffer in the
receiver's namespace, read up to a packet that was sent after the hostile
ones and must arrive (a control packet of the insider, or a mark the
sniffer sends itself on lo): what it saw before that is what passed. The
frames are built here, in pure Python (struct and the ICMPv6 checksum)."""
import json
import os
import socket
import struct
import subprocess
import time

import test_network as net
from hoody_test import Daemon, check, main
from test_network import add, sh
from test_operations import crun_exec

C = net.C
D = None
PORT = 8600  # the victim's and the client's TCP servers
INET_NS = f"h6i{os.getpid() % 100000}"
INET_IF = f"h6i{os.getpid() % 100000}h"
INET_PREFIX = f"2001:db8:{0x4000 + os.getpid() % 0x4000:x}:"  # not test_network6's 2001:db8:6::
INET6 = INET_PREFIX + ":2"  # the fake internet; INET_PREFIX + ":1" is the host's end
ELSEWHERE = "2001:db8:bad::1"  # an address of no subnet here
RA_PREFIX = "2001:db8:99::"
LIVENESS_S = 120  # a deadlock guard for every wait, never a bound
HOST = None  # the host's sniffer on the bridge
INET = None  # the fake internet's sniffer

# A sniffer (and, with a port, a TCP server answering its name) in one
# network namespace; one JSON line per frame received on ifname (and one
# if the kernel ever dropped frames for it, which fails the test: it could
# have been a hostile one). A line on stdin makes it send itself a mark on
# lo, read after every frame before it.
AGENT_PY = r"""
import json, os, select, socket, struct, sys
log = open(sys.argv[1], "a", buffering=1)
name, ifname, port = sys.argv[2], sys.argv[3], int(sys.argv[4])
pk = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
pk.setsockopt(socket.SOL_SOCKET, 33, 1 << 24)  # SO_RCVBUFFORCE: a slow reader loses nothing
socks = [pk, 0]
if port:
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("::", port))
    srv.listen(16)
    socks.append(srv)
mark = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
def a6(b): return socket.inet_ntop(socket.AF_INET6, b)
def describe(f):
    d = {"src": f[6:12].hex(":"), "dst": f[0:6].hex(":"), "type": f[12:14].hex()}
    if f[12:14] != b"\x86\xdd" or len(f) < 54:
        return d
    nh, at = f[20], 54
    while nh in (0, 43, 44, 60) and len(f) >= at + 8:  # extension headers
        nh, at = f[at], at + (8 if nh == 44 else (f[at + 1] + 1) * 8)
    body = f[at:]
    d.update(s6=a6(f[22:38]), d6=a6(f[38:54]), nh=nh, hl=f[21], ext=at - 54)
    if nh == 58 and body:
        d["icmp"] = body[0]
        if body[0] in (135, 136, 137) and len(body) >= 24:
            d["target"] = a6(body[8:24])
    elif nh in (6, 17) and len(body) >= 4:
        d["sport"], d["dport"] = struct.unpack("!HH", body[:4])
        if nh == 17:
            d["data"] = body[8:80].decode("latin-1")
    return d
log.write('{"ready": 1}\n')
while True:
    for s in select.select(socks, [], [])[0]:
        if s == 0:
            line = os.read(0, 100)
            if not line:
                sys.exit(0)
            mark.sendto(b"H6T-MARK " + line.strip(), ("::1", 9))
        elif s is pk:
            f, addr = pk.recvfrom(65535)
            drops = struct.unpack("II", pk.getsockopt(263, 6, 8))[1]  # PACKET_STATISTICS
            if drops:
                log.write(json.dumps({"drops": drops}) + "\n")
            if addr[2] == socket.PACKET_OUTGOING:
                continue
            if addr[0] == "lo":
                i = f.find(b"H6T-MARK ")
                if i >= 0 and f[20] == 17:
                    log.write(json.dumps({"mark": f[i + 9:].decode()}) + "\n")
            elif addr[0] == ifname:
                log.write(json.dumps(describe(f)) + "\n")
        else:
            c, peer = srv.accept()
            log.write(json.dumps({"tcp": peer[0].split("%")[0]}) + "\n")
            c.sendall(name.encode())
            c.close()
"""

# What a TCP client in this namespace reads from [addr]:port ("" = no
# connection); a link-local addr carries its %eth0.
CONNECT_PY = r"""
import socket, sys
try:
    a = socket.getaddrinfo(sys.argv[1], int(sys.argv[2]), socket.AF_INET6, socket.SOCK_STREAM)[0][4]
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.settimeout(3)
    s.connect(a)
    print(s.recv(100).decode())
except OSError:
    print("")
"""

SEND_PY = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("eth0", 0))
for f in sys.argv[1:]:
    s.send(bytes.fromhex(f))
"""

# Datagrams through an ordinary UDP socket (no CAP_NET_RAW needed): for
# each "sport dport addr text".
UDP_SEND_PY = r"""
import socket, sys
for spec in sys.argv[1:]:
    sport, dport, addr, text = spec.split(" ", 3)
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("::", int(sport)))
    a = socket.getaddrinfo(addr, int(dport), socket.AF_INET6, socket.SOCK_DGRAM)[0][4]
    s.sendto(text.encode(), a)
    s.close()
"""


# ---------------------------------------------------------------- frames

def mac_b(s):
    return bytes.fromhex(s.replace(":", ""))


def ip6_b(a):
    return socket.inet_pton(socket.AF_INET6, a)


def csum(b):
    if len(b) % 2:
        b += b"\0"
    t = sum(struct.unpack(f"!{len(b) // 2}H", b))
    while t >> 16:
        t = (t & 0xffff) + (t >> 16)
    return ~t & 0xffff


def mcast_mac(addr):
    return "33:33:" + ip6_b(addr)[12:].hex(":")


def solicited(addr):
    return socket.inet_ntop(socket.AF_INET6, ip6_b("ff02::1:ff00:0")[:13] + ip6_b(addr)[13:])


def ip6_frame(smac, dmac, src, dst, nh, seg, hop=255):
    """An Ethernet frame holding seg (ICMPv6 or UDP, its checksum zero) in
    IPv6, the checksum filled in over the pseudo-header."""
    pseudo = ip6_b(src) + ip6_b(dst) + struct.pack("!IxxxB", len(seg), nh)
    at = {58: 2, 17: 6}[nh]
    seg = seg[:at] + struct.pack("!H", csum(pseudo + seg)) + seg[at + 2:]
    hdr = struct.pack("!IHBB", 6 << 28, len(seg), nh, hop) + ip6_b(src) + ip6_b(dst)
    return mac_b(dmac) + mac_b(smac) + b"\x86\xdd" + hdr + seg


def icmp6(smac, dmac, src, dst, typ, rest, hop=255):
    return ip6_frame(smac, dmac, src, dst, 58, struct.pack("!BBH", typ, 0, 0) + rest, hop)


def udp6(smac, dmac, src, dst, sport, dport, text):
    data = text.encode()
    return ip6_frame(smac, dmac, src, dst, 17,
                     struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data, hop=64)


def behind_options(frame):
    """frame's IPv6 packet with a destination options header (PadN) before
    its ICMPv6 or UDP: the same message to the receiver, another shape to a
    filter."""
    ip = frame[14:54]
    plen = struct.unpack("!H", ip[4:6])[0] + 8
    return (frame[:14] + ip[:4] + struct.pack("!HB", plen, 60) + ip[7:] +
            bytes([ip[6], 0, 1, 4, 0, 0, 0, 0]) + frame[54:])


def lla(kind, mac):
    """Source (1) or target (2) link-layer address option."""
    return struct.pack("!BB", kind, 1) + mac_b(mac)


def na(smac, src, target, dst="ff02::1", dmac=None):
    """Unsolicited neighbour advertisement, override flag set: target is at
    smac."""
    return icmp6(smac, dmac or mcast_mac(dst), src, dst, 136,
                 struct.pack("!I", 0x20000000) + ip6_b(target) + lla(2, smac))


def ns(smac, src, target, slla):
    """Neighbour solicitation for target from src, which claims to be at slla."""
    dst = solicited(target)
    return icmp6(smac, mcast_mac(dst), src, dst, 135, b"\0" * 4 + ip6_b(target) + lla(1, slla))


def ra(smac, src, dst="ff02::1", dmac=None):
    """Router advertisement: default router for 1800 s, RA_PREFIX/64 on-link
    and for autoconfiguration."""
    pio = struct.pack("!BBBBIII", 3, 4, 64, 0xc0, 86400, 14400, 0) + ip6_b(RA_PREFIX)
    return icmp6(smac, dmac or mcast_mac(dst), src, dst, 134,
                 struct.pack("!BBHII", 64, 0, 1800, 0, 0) + lla(1, smac) + pio)


def mld_query(smac, src):
    """A general multicast listener query (a router's)."""
    return icmp6(smac, mcast_mac("ff02::1"), src, "ff02::1", 130, b"\x27\x10\0\0" + b"\0" * 16,
                 hop=1)


def renumbering(smac, src):
    """A router renumbering command (sequence 1, no prefix control)."""
    return icmp6(smac, mcast_mac("ff02::1"), src, "ff02::1", 138, struct.pack("!IBBH", 1, 0, 0, 0) +
                 b"\0" * 4)


def redirect(smac, src, to, target, dest):
    """Redirect to container `to`: the better first hop for dest is target,
    at smac."""
    return icmp6(smac, to["mac"], src, to["g6"], 137,
                 b"\0" * 4 + ip6_b(target) + ip6_b(dest) + lla(2, smac))


def control(who, n):
    """A datagram from who's own addresses to all nodes: after the hostile
    frames, the one that must arrive."""
    a = C[who]
    return udp6(a["mac"], mcast_mac("ff02::1"), a["ll"], "ff02::1", 9, 9, f"H6T-CTL {n}")


# ---------------------------------------------------------------- plumbing

def netns(name):
    return f"{D.run_dir}/netns/{C[name]['id']}"


def in_ns(name, *cmd):
    return (["nsenter", f"--net={netns(name)}"] if name else []) + list(cmd)


class Agent:
    """AGENT_PY in container `name`'s namespace, or (name None) in the one
    ns_cmd enters (the host's: [])."""

    def __init__(self, name, ifname="eth0", port=0, ns_cmd=None, label=None):
        self.label = label or name
        self.group = C[name]["group"] if name else None  # who reaches it: None = all
        self.log = os.path.join(D.state, f"agent-{self.label}.log")
        open(self.log, "w").close()
        cmd = (in_ns(name) if name else ns_cmd) + \
            ["python3", "-c", AGENT_PY, self.log, self.label, ifname, str(port)]
        self.err = open(self.log + ".err", "w")
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=self.err)
        self.done = 0  # events consumed
        self.marks = 0
        self.until(lambda e: "ready" in e, "its start")

    def events(self):
        with open(self.log) as f:
            text = f.read()
        return [json.loads(line) for line in text[:text.rfind("\n") + 1].splitlines()]

    def until(self, pred, what):
        """The events since the last call up to the first that matches pred
        (consumed too)."""
        deadline = time.time() + LIVENESS_S
        while True:
            ev = self.events()
            for i in range(self.done, len(ev)):
                check("drops" not in ev[i], f"{self.label}'s sniffer lost frames: {ev[i]}")
                if pred(ev[i]):
                    got, self.done = ev[self.done:i], i + 1
                    return got
            if time.time() > deadline or self.proc.poll() is not None:
                with open(self.log + ".err") as f:
                    check(False, f"{self.label} never saw {what} (it saw {ev[self.done:][-5:]}) "
                          f"{f.read()[-300:]}")
            time.sleep(0.05)

    def mark(self):
        """Everything received so far."""
        self.marks += 1
        self.proc.stdin.write(f"{self.marks}\n".encode())
        self.proc.stdin.flush()
        return self.until(lambda e: e.get("mark") == str(self.marks), f"mark {self.marks}")

    def until_data(self, text):
        return self.until(lambda e: e.get("data") == text, repr(text))

    def until_control(self, n):
        return self.until_data(f"H6T-CTL {n}")

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.err.close()


CONTROLS = [0]


def inject(who, frames, *receivers):
    """Writes frames into who's eth0 three times, then a control datagram;
    returns what each receiver (an Agent) received up to that control, or,
    where who cannot reach it, up to a mark sent after it."""
    CONTROLS[0] += 1
    n = CONTROLS[0]
    sh(*in_ns(who, "python3", "-c", SEND_PY, *[f.hex() for f in frames * 3], control(who, n).hex()))
    return [r.until_control(n) if r.group in (None, C[who]["group"]) else r.mark()
            for r in receivers]


def addrs6(name=None, dev="eth0"):
    """{"g6": global, "ll": link-local} of dev, once past duplicate address
    detection (None where there is none)."""
    deadline = time.time() + LIVENESS_S
    while True:
        out = sh(*in_ns(name, "ip", "-6", "-o", "addr", "show", "dev", dev)).stdout
        if "tentative" not in out or time.time() > deadline:
            break
        time.sleep(0.1)
    got = {"g6": None, "ll": None}
    for line in out.splitlines():
        f = line.split()
        a = f[3].split("/")[0]
        if "global" in f and got["g6"] is None:
            got["g6"] = a
        elif "link" in f:
            got["ll"] = a
    return got


def scoped(name, addr):
    """addr as a socket address text for a sender in name's namespace."""
    if not addr.startswith("fe80"):
        return addr
    return f"{addr}%{'eth0' if name else D.bridge}"


def tcp6(name, addr, want=None):
    """What a TCP client in name's namespace (None: the host) reads from
    [addr]:PORT; with want, retried until it is that."""
    deadline = time.time() + LIVENESS_S  # with want
    while True:
        r = subprocess.run(in_ns(name, "python3", "-c", CONNECT_PY, scoped(name, addr), str(PORT)),
                           capture_output=True, text=True, timeout=60)
        got = r.stdout.strip()
        if want is None or got == want or time.time() > deadline:
            return got
        time.sleep(0.1)


def neigh(name, addr):
    """The MAC name's namespace (None: the host, on the bridge) holds for addr."""
    out = sh(*in_ns(name, "ip", "-6", "neigh", "show", addr, "dev",
                    "eth0" if name else D.bridge)).stdout.split()
    return out[out.index("lladdr") + 1] if "lladdr" in out else None


def ip6_state(name=None):
    """The IPv6 addresses and routes of name's eth0 (None: the bridge)."""
    dev = "eth0" if name else D.bridge
    return (sh(*in_ns(name, "ip", "-6", "addr", "show", "dev", dev)).stdout +
            sh(*in_ns(name, "ip", "-6", "route", "show", "table", "all", "dev", dev)).stdout)


def served(addr, by):
    """The victim's server is reached at addr by one of by's addresses."""
    check(tcp6(by, addr, "victim") == "victim", f"{by} reaches the victim at {addr}")
    peers = [e["tcp"] for e in VICTIM.mark() if "tcp" in e]
    check(C[by]["g6"] in peers or C[by]["ll"] in peers, f"the victim's server saw {peers}")


def from_mac(events, who, pred=lambda e: True):
    return [e for e in events if e.get("src") == C[who]["mac"] and "d6" in e and pred(e)]


VICTIM = CLIENT = None
INJECTORS = ("attacker", "insider")


# ---------------------------------------------------------------- tests

def poisoning_holds(addr, send):
    """send(who) are the frames who writes to poison the neighbour entries
    for the victim's addr: the host's and the client's entries must keep
    the victim's MAC, no such frame may reach them, the client's traffic
    must reach the victim and none of it the sender."""
    v = C["victim"]
    check(tcp6(None, addr, "victim") == "victim", f"the host reaches the victim at {addr}")
    served(addr, "client")
    check(neigh(None, addr) == v["mac"] and neigh("client", addr) == v["mac"],
          f"entries before: {neigh(None, addr)} {neigh('client', addr)}")
    for who in INJECTORS:
        for where, saw in zip(("host", "client"), inject(who, send(who), HOST, CLIENT)):
            # (the sender's kernel soliciting from its own address is not
            # the attack: a message that puts addr at the sender's MAC is)
            nd = from_mac(saw, who, lambda e: e.get("icmp") in (135, 136) and
                          addr in (e["s6"], e.get("target") if e["icmp"] == 136 else None))
            check(not nd, f"{who}'s neighbour discovery for {addr} reached the {where}: {nd[:2]}")
        check(neigh(None, addr) == v["mac"], f"host's entry for {addr}: {neigh(None, addr)}")
        check(neigh("client", addr) == v["mac"], f"client's entry for {addr}: {neigh('client', addr)}")
        served(addr, "client")
        stolen = [e for e in AGENTS[who].mark() if e.get("d6") == addr]
        check(not stolen, f"traffic for the victim at {addr} went to the {who}: {stolen[:2]}")


def test_na_poisoning():
    """Unsolicited override NAs naming the victim's addresses (global, then
    link-local) at the sender's MAC, to all nodes and to the client and the
    host directly, from the sender's own link-local and from the target;
    each also behind a destination options header."""
    v, c = C["victim"], C["client"]
    for target in (v["g6"], v["ll"]):
        def send(who, target=target):
            a = C[who]
            out = [na(a["mac"], src, target, *to) for src in (a["ll"], target)
                   for to in (("ff02::1",), (c["g6"], c["mac"]), (GW["g6"], GW["mac"]))]
            return out + [behind_options(f) for f in out]
        poisoning_holds(target, send)


def client_out(text):
    """A datagram of the client's to the internet, which must arrive there."""
    sh(*in_ns("client", "python3", "-c", UDP_SEND_PY, f"7002 7000 {INET6} {text}"))
    INET.until_data(text)


def test_router_impersonation():
    """Override NAs naming the router's addresses (the gateway's global and
    link-local) at the sender's MAC, to all nodes and to the client, also
    behind a destination options header: the client's entries for the
    router keep the bridge's MAC, and its traffic out still leaves through
    the host, none of it through the sender."""
    c = C["client"]
    INET.mark()
    client_out("H6T-OUT before")  # the client's entry for the router's global address
    sh(*in_ns("client", "python3", "-c", UDP_SEND_PY, f"7002 9 {GW['ll']}%eth0 H6T-LL"))
    deadline = time.time() + LIVENESS_S
    while neigh("client", GW["ll"]) != GW["mac"] and time.time() < deadline:
        time.sleep(0.05)
    check(neigh("client", GW["g6"]) == GW["mac"] and neigh("client", GW["ll"]) == GW["mac"],
          f"the client's entries for the router before: {neigh('client', GW['g6'])}")
    for who in INJECTORS:
        a = C[who]
        frames = [na(a["mac"], src, GW[key], *to) for key in ("g6", "ll") for src in (a["ll"], GW[key])
                  for to in (("ff02::1",), (c["g6"], c["mac"]))]
        saw, = inject(who, frames + [behind_options(f) for f in frames], CLIENT)
        got = from_mac(saw, who, lambda e: e.get("icmp") == 136 and e["target"] in (GW["g6"], GW["ll"]))
        check(not got, f"{who}'s advertisements for the router reached the client: {got[:2]}")
        for key in ("g6", "ll"):
            got = neigh("client", GW[key])
            check(got == GW["mac"], f"the client's entry for the router at {GW[key]}: {got}")
        client_out(f"H6T-OUT after {who}")
        stolen = [e for e in AGENTS[who].mark() if e.get("d6") == INET6]
        check(not stolen, f"the client's traffic out went to the {who}: {stolen[:2]}")


def test_ns_forged_source():
    """Neighbour solicitations from the victim's address (global, then
    link-local) with the sender's MAC as source link-layer address, for
    addresses of the client and of the host: each would note the victim at
    the sender's MAC."""
    v, c = C["victim"], C["client"]
    for key in ("g6", "ll"):
        def send(who, key=key):
            a = C[who]
            out = [ns(a["mac"], v[key], c[key], a["mac"]), ns(a["mac"], v[key], GW[key], a["mac"])]
            return out + [behind_options(f) for f in out]
        poisoning_holds(v[key], send)


KNOBS = ("accept_ra", "autoconf", "accept_redirects")


def knobs(name, value=None):
    """name's eth0 IPv6 sysctls KNOBS; with value, set to it first."""
    conf = "/proc/sys/net/ipv6/conf/eth0/"
    if value is not None:
        sh(*in_ns(name, "sh", "-c", "; ".join(f"echo {value} >{conf}{k}" for k in KNOBS)))
    out = sh(*in_ns(name, "cat", *[conf + k for k in KNOBS])).stdout.split()
    return dict(zip(KNOBS, out))


class Lowered:
    """The victim's own fence, taking no configuration from the network
    (hoodyd sets KNOBS to 0 in every container), checked, then lowered for
    the block, so that only the bridge's rules stand between."""

    def __enter__(self):
        got = knobs("victim")
        check(got == dict.fromkeys(KNOBS, "0"), f"the victim takes configuration: {got}")
        knobs("victim", 1)

    def __exit__(self, *exc):
        knobs("victim", 0)


def test_router_advertisement():
    """RAs (a default router, a prefix to autoconfigure) from the sender's
    own link-local and from the router's, to all nodes and to the victim,
    also behind a destination options header; a listener query and a
    router renumbering command besides: none reaches the bridge or a
    container, and neither the bridge nor a container gains an address or
    a route."""
    v = C["victim"]
    with Lowered():
        before = {n: ip6_state(n) for n in (None, "victim", "client")}
        for who in INJECTORS:
            a = C[who]
            frames = [ra(a["mac"], a["ll"]), ra(a["mac"], GW["ll"]),
                      ra(a["mac"], a["ll"], v["ll"], v["mac"])]
            frames += [behind_options(f) for f in frames]
            frames += [mld_query(a["mac"], a["ll"]), renumbering(a["mac"], a["ll"])]
            for where, saw in zip(("host", "victim", "client"),
                                  inject(who, frames, HOST, VICTIM, CLIENT)):
                got = from_mac(saw, who, lambda e: e.get("icmp") in (130, 134, 138))
                check(not got, f"{who}'s router messages reached the {where}: {got[:2]}")
        for n, text in before.items():
            now = ip6_state(n)
            check(RA_PREFIX[:-1] not in now, f"{n or 'the bridge'} took the RA: {now}")
            check(now == text, f"{n or 'the bridge'} changed:\n{text}\n->\n{now}")
    served(v["g6"], "client")


def route_get(name, dest):
    return sh(*in_ns(name, "ip", "-6", "route", "get", dest)).stdout


def test_redirect():
    """Redirects to the victim for the internet and for the client, naming
    the sender as the better first hop, from the router's link-local (the
    only source a host takes them from) and from the sender's own: none
    reaches the victim, its routes stay. The victim routes the internet via
    the router's link-local here, as a host configured by router
    advertisements does, so that a redirect that arrived would be taken.
    Each also behind a destination options header."""
    v, c = C["victim"], C["client"]
    via = [INET_PREFIX + ":/64", "via", GW["ll"], "dev", "eth0"]
    with Lowered():
        sh(*in_ns("victim", "ip", "-6", "route", "replace", *via))
        try:
            dests = (INET6, c["g6"])
            before = {d: route_get("victim", d) for d in dests}
            check(GW["ll"] in before[INET6], f"the test's route: {before[INET6]}")
            for who in INJECTORS:
                a = C[who]
                frames = [redirect(a["mac"], src, v, a["ll"], d) for src in (GW["ll"], a["ll"])
                          for d in dests]
                frames += [behind_options(f) for f in frames]
                saw, = inject(who, frames, VICTIM)
                got = from_mac(saw, who, lambda e: e.get("icmp") == 137)
                check(not got, f"{who}'s redirect reached the victim: {got[:2]}")
                for d in dests:
                    now = route_get("victim", d)
                    check(now == before[d], f"the victim's route to {d}: {before[d]!r} -> {now!r}")
                cache = sh(*in_ns("victim", "ip", "-6", "route", "show", "cache")).stdout
                check(a["ll"] not in cache, f"the victim's route cache: {cache}")
            # traffic still flows: to the client, and out through the router
            served(v["g6"], "client")
            INET.mark()
            sh(*in_ns("victim", "python3", "-c", UDP_SEND_PY, f"7001 7000 {INET6} H6T-OUT"))
            INET.until_data("H6T-OUT")
        finally:
            sh(*in_ns("victim", "ip", "-6", "route", "del", *via), check_rc=False)


def test_forged_source():
    """Datagrams from the attacker and the insider with a source not
    theirs (the victim's, the client's, another subnet's, the host's
    addresses) to the victim and to the internet: none arrives, while the
    insider's own ones, sent after them, do."""
    v, c = C["victim"], C["client"]
    forged = {"victim": v["g6"], "victim-ll": v["ll"], "client": c["g6"], "elsewhere": ELSEWHERE,
              "gateway": GW["g6"], "gateway-ll": GW["ll"], "host": INET_PREFIX + ":1"}
    VICTIM.mark()
    INET.mark()
    for who in INJECTORS:
        a = C[who]
        frames = [udp6(a["mac"], to_mac, src, dst, 7000, 7000, f"H6T-FORGED {who} {label}")
                  for label, src in forged.items()
                  for dst, to_mac in ((v["g6"], v["mac"]), (INET6, GW["mac"]))]
        sh(*in_ns(who, "python3", "-c", SEND_PY, *[f.hex() for f in frames]))
    sh(*in_ns("insider", "python3", "-c", UDP_SEND_PY, f"7000 7000 {v['g6']} H6T-OWN",
              f"7000 7000 {INET6} H6T-OWN"))
    for where, agent in (("victim", VICTIM), ("internet", INET)):
        saw = agent.until_data("H6T-OWN")
        got = [e["data"] for e in saw if e.get("data", "").startswith("H6T-FORGED")]
        check(not got, f"forged sources reached the {where}: {got}")


def test_dhcpv6_server_dropped():
    """DHCPv6 server messages (to client port 546) through ordinary sockets
    (no CAP_NET_RAW needed) to the victim's link-local, its global address
    and all nodes, from the server port 547 and from another one (clients
    do not check the source port), and one behind a destination options
    header; the insider's datagram on other ports, sent after them,
    arrives."""
    v = C["victim"]
    for who in INJECTORS:
        a = C[who]
        raw = udp6(a["mac"], v["mac"], a["ll"], v["ll"], 547, 546, f"H6T-DHCP6 {who} raw")
        sh(*in_ns(who, "python3", "-c", SEND_PY, behind_options(raw).hex()))
        sh(*in_ns(who, "python3", "-c", UDP_SEND_PY,
                  *[f"{sport} 546 {to} H6T-DHCP6 {who} {sport}" for sport in (547, 5470)
                    for to in (v["ll"] + "%eth0", v["g6"], "ff02::1%eth0")]))
    sh(*in_ns("insider", "python3", "-c", UDP_SEND_PY, f"5470 5460 {v['ll']}%eth0 H6T-OWN"))
    saw = VICTIM.until_data("H6T-OWN")
    for sport in (547, 5470):
        got = [e["data"] for e in saw if e.get("sport") == sport and e.get("dport") == 546]
        check(not got, f"DHCPv6 server messages from port {sport} reached the victim: {got}")


def test_no_raw_sockets6():
    """Inside a container (as its processes run: no CAP_NET_RAW) raw ICMPv6
    (busybox ping6, traceroute6) and packet sockets (arping, udhcpc) are
    refused; the same commands given CAP_NET_RAW get their sockets, so the
    refusal is the capability's."""
    v = C["victim"]
    probes = (f"ping6 -c 1 -W 1 {v['g6']}", f"traceroute6 -m 1 -w 1 -q 1 {v['g6']}",
              f"arping -c 1 -w 1 -I eth0 {v['ip']}", "udhcpc -q -n -t 1 -T 1 -i eth0 -s /bin/true")
    refused = ("ermission denied", "not permitted")
    for p in probes:
        out = crun_exec(D, C["attacker"]["id"], f"{p} 2>&1; true")
        check(any(r in out for r in refused), f"{p}: {out!r}")
        args = ["crun", "--root", f"{D.run_dir}/crun", "exec", "--cap", "CAP_NET_RAW",
                C["attacker"]["id"], "/bin/sh", "-c", f"{p} 2>&1; true"]
        out = subprocess.run(args, capture_output=True, text=True, timeout=60).stdout
        check(not any(r in out for r in refused), f"{p} with CAP_NET_RAW: {out!r}")


def test_link_local_and_multicast_across_tenants():
    """Another user's container reaches no container of the victim's
    project: not over link-local TCP or UDP, not over all-nodes multicast;
    the same project does, over link-local and multicast."""
    v, c = C["victim"], C["client"]
    check(tcp6("attacker", v["ll"]) == "", "the attacker reaches the victim's link-local")
    check(tcp6("attacker", v["g6"]) == "", "the attacker reaches the victim's global address")
    served(v["ll"], "client")
    sh(*in_ns("attacker", "python3", "-c", UDP_SEND_PY, "8601 8601 ff02::1%eth0 H6T-MC attacker",
              f"8601 8601 {v['ll']}%eth0 H6T-LL attacker", f"8601 8601 {c['ll']}%eth0 H6T-LL attacker"))
    sh(*in_ns("insider", "python3", "-c", UDP_SEND_PY, "8601 8601 ff02::1%eth0 H6T-MC insider"))
    for where, agent in (("victim", VICTIM), ("client", CLIENT)):
        saw = agent.until_data("H6T-MC insider")
        got = from_mac(saw, "attacker")
        check(not got, f"the attacker's frames reached the {where}: {got[:3]}")


def test_cross_tenant_via_router():
    """The attacker's datagram for the victim, from its own addresses but
    sent to the router's MAC, as a host routes traffic for another subnet:
    the host would route it straight back into the bridge, past the
    isolation between ports. It reaches no one; the insider's own
    datagram, sent after it, does."""
    v, a = C["victim"], C["attacker"]
    VICTIM.mark()
    frames = [udp6(a["mac"], GW["mac"], a["g6"], v["g6"], 7000, 7000, "H6T-ROUTED attacker")]
    sh(*in_ns("attacker", "python3", "-c", SEND_PY, *[f.hex() for f in frames]))
    sh(*in_ns("insider", "python3", "-c", UDP_SEND_PY, f"5470 5460 {v['ll']}%eth0 H6T-OWN"))
    got = [e["data"] for e in VICTIM.until_data("H6T-OWN") if "ROUTED" in e.get("data", "")]
    check(not got, f"the attacker's datagram reached the victim through the router: {got}")


# ---------------------------------------------------------------- setup

AGENTS = {}
GW = {}


def internet_up():
    """A namespace standing in for the IPv6 internet, behind a veth with
    INET_PREFIX/64."""
    internet_down()
    sh("ip", "netns", "add", INET_NS)
    sh("ip", "link", "add", INET_IF, "type", "veth", "peer", "name", "up0", "netns", INET_NS)
    sh("ip", "addr", "add", INET_PREFIX + ":1/64", "dev", INET_IF, "nodad")
    sh("ip", "link", "set", INET_IF, "up")
    sh("ip", "-n", INET_NS, "addr", "add", INET6 + "/64", "dev", "up0", "nodad")
    for dev in ("up0", "lo"):
        sh("ip", "-n", INET_NS, "link", "set", dev, "up")
    sh("ip", "-n", INET_NS, "route", "add", "default", "via", INET_PREFIX + ":1")


def internet_down():
    subprocess.run(["ip", "link", "del", INET_IF], capture_output=True)
    subprocess.run(["ip", "netns", "del", INET_NS], capture_output=True)


def run():
    global D, VICTIM, CLIENT, HOST, INET
    D = net.D = Daemon()
    D.extra += ["--ipv6", "on"] + os.environ.get("HOODY_NET_TEST_EXTRA", "").split()
    agents = []
    try:
        D.start()
        internet_up()
        p1 = D.new_project()
        mallory = D.new_user("mallory")
        pm = D.new_project(token=mallory)
        for n in ("victim", "client", "insider"):
            add(n, p1)["group"] = p1
        add("attacker", pm, token=mallory)["group"] = pm
        for n in list(C):
            C[n].update(addrs6(n))
            check(C[n]["g6"] and C[n]["ll"], f"{n} has no IPv6 addresses: {C[n]}")
        GW.update(addrs6(None, D.bridge))
        with open(f"/sys/class/net/{D.bridge}/address") as f:
            GW["mac"] = f.read().strip()
        VICTIM = Agent("victim", port=PORT)
        CLIENT = Agent("client", port=PORT)
        AGENTS.update({n: Agent(n) for n in INJECTORS})
        HOST = Agent(None, D.bridge, ns_cmd=[], label="host")
        INET = Agent(None, "up0", ns_cmd=["ip", "netns", "exec", INET_NS], label="internet")
        agents = [VICTIM, CLIENT, HOST, INET] + list(AGENTS.values())
        # the cross-tenant tests first: without the rules (--no-firewall)
        # the poisoning tests would leave the host's entries pointing at
        # the attacker, and its routed datagram would miss the victim
        main([test_no_raw_sockets6, test_link_local_and_multicast_across_tenants,
              test_cross_tenant_via_router, test_na_poisoning, test_router_impersonation,
              test_ns_forged_source, test_router_advertisement, test_redirect, test_forged_source,
              test_dhcpv6_server_dropped])
    finally:
        for a in agents:
            a.stop()
        internet_down()
        if D.proc:
            D.cleanup()


if __name__ == "__main__":
    run()
