"""Relay workers (docs/PROXY.md "WebSockets live in relay workers"): once a
WebSocket is upgraded, hoodyd hands its two sockets to a relay worker process
and keeps neither. Real containers, a real echo server inside them, real
WebSocket clients through the proxy listener.

- more WebSockets held than hoodyd's own descriptor limit allows (it is
  lowered with --fd-limit), spread over several workers (--proxy-relay-conns),
  every one echoing; the workers run as nobody without capabilities; the
  per-address limit still counts relayed connections, and gives them back
  when they close;
- a killed worker takes its connections with it, not hoodyd; a new worker
  replaces it and serves the next WebSocket;
- deleting the container closes its WebSockets;
- the workers end with hoodyd (SIGTERM and SIGKILL alike)."""
import os
import signal
import socket
import subprocess
import time

from hoody_test import BIN, check, main
from proxy_util import ProxyDaemon, relay_pids as worker_pids, upstream_container, ws_connect, ws_recv, ws_send


def relay_pids(d):
    return worker_pids(d.proc.pid)


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def status_field(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return line.split()[1:]
    return []


def soft_nofile(pid):
    with open(f"/proc/{pid}/limits") as f:
        for line in f:
            if line.startswith("Max open files"):
                return int(line.split()[3])
    return 0


def wait_for(cond, what, timeout=60):
    """A liveness bound, not a speed one."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    check(False, f"not within {timeout} s: {what}")


def open_ws(d, host, owner):
    s, status, head = ws_connect(d.proxy_port, host, protocols=["tty"], headers=owner, timeout=30)
    check(status == 101 and "sec-websocket-protocol: tty" in head.lower(), head)
    return s


def echo(s, msg=b"ping"):
    ws_send(s, msg)
    check(ws_recv(s) == (1, msg), "echo through the relay")


def closed_by_peer(s, timeout=60):
    """True when the proxy ends the connection (EOF, reset, or a close frame)."""
    s.settimeout(timeout)
    try:
        while True:
            b = s.recv(4096)
            if not b:
                return True
    except (ConnectionError, OSError):
        return True
    except socket.timeout:
        return False


N = 200
FD_LIMIT = 256  # below the 2 * N descriptors N proxied WebSockets need
PER_WORKER = 64
PER_IP = N + 5


def test_more_websockets_than_hoodyd_descriptors():
    with ProxyDaemon(["--fd-limit", str(FD_LIMIT), "--proxy-relay-conns", str(PER_WORKER),
                      "--proxy-max-conns-per-ip", str(PER_IP)]) as d:
        check(soft_nofile(d.proc.pid) == FD_LIMIT, "hoodyd's lowered descriptor limit")
        p, cid, host, owner = upstream_container(d)
        socks = []
        for i in range(N):
            s = open_ws(d, host, owner)
            echo(s, f"ws {i}".encode())
            socks.append(s)
            if len(socks) % (PER_WORKER // 2) == 0 or len(socks) == N:
                # a WebSocket that came while a spare worker was starting
                # waits in hoodyd and is moved by its next sweep
                wait_for(lambda: sum(fd_count(w) for w in relay_pids(d)) >= 2 * len(socks),
                         f"the workers hold both sockets of {len(socks)} WebSockets")
        # hoodyd's table cannot hold 2 * N: the sockets are in the workers
        check(fd_count(d.proc.pid) < FD_LIMIT, fd_count(d.proc.pid))
        pids = relay_pids(d)
        check(len(pids) >= (N + PER_WORKER - 1) // PER_WORKER, f"workers {pids} for {N}")
        for w in pids:
            check(status_field(w, "Uid")[:2] == ["65534", "65534"], status_field(w, "Uid"))
            check(status_field(w, "CapEff") == ["0000000000000000"], status_field(w, "CapEff"))
            check(fd_count(w) <= 2 * PER_WORKER + 8, f"worker {w} over its share: {fd_count(w)}")
        for i, s in enumerate(socks):
            echo(s, f"again {i}".encode())
        # relayed connections still count against the per-address limit
        extra = [open_ws(d, host, owner) for _ in range(PER_IP - N)]
        s, status, head = ws_connect(d.proxy_port, host, protocols=["tty"], headers=owner)
        check(status == 429, f"over the per-address limit: {head}")
        s.close()
        # a close frame goes through and the backend's answer comes back
        ws_send(socks[0], b"\x03\xe8", opcode=8)
        check(ws_recv(socks[0])[0] == 8, "close frame answered")
        for s in socks + extra:
            s.close()

        # ... and give it back once closed (the workers report each close)
        def reopen():
            s, status, _ = ws_connect(d.proxy_port, host, protocols=["tty"], headers=owner)
            s.close()
            return status == 101

        wait_for(reopen, "per-address slots given back")
        again = [open_ws(d, host, owner) for _ in range(N)]
        echo(again[-1])
        for s in again:
            s.close()


def test_killed_worker_is_replaced():
    with ProxyDaemon() as d:
        p, cid, host, owner = upstream_container(d)
        s = open_ws(d, host, owner)
        echo(s)
        old = wait_for(lambda: relay_pids(d), "a relay worker")
        for w in old:
            os.kill(w, signal.SIGKILL)
        check(closed_by_peer(s), "a WebSocket of the killed worker is closed")
        s.close()
        check(d.proc.poll() is None, "hoodyd survives its worker")
        new = wait_for(lambda: [w for w in relay_pids(d) if w not in old], "a new worker")
        before = sum(fd_count(w) for w in new)
        s = open_ws(d, host, owner)
        echo(s, b"after the kill")
        check(sum(fd_count(w) for w in relay_pids(d) if w not in old) >= before + 2,
              "the new worker holds the new WebSocket")
        check("relay worker" in d.tail_log(200), "the death is logged")
        r = d.get(f"/api/v1/containers/{cid}")
        check(r.status == 200, r)
        s.close()


def test_container_deletion_closes_its_websockets():
    with ProxyDaemon() as d:
        p, cid, host, owner = upstream_container(d)
        socks = [open_ws(d, host, owner) for _ in range(3)]
        for s in socks:
            echo(s)
        check(relay_pids(d), "relayed")
        r = d.delete(f"/api/v1/containers/{cid}")
        check(r.status in (200, 202), r)
        for s in socks:
            check(closed_by_peer(s), "the container's WebSocket closed with it")
            s.close()


def test_workers_end_with_hoodyd():
    d = ProxyDaemon()
    with d:
        p, cid, host, owner = upstream_container(d)
        s = open_ws(d, host, owner)
        workers = wait_for(lambda: relay_pids(d), "a relay worker")
        # SIGKILL: no cleanup in hoodyd, the parent-death signal ends them
        d.proc.kill()
        d.proc.wait()
        for w in workers:
            wait_for(lambda: not alive(w), f"worker {w} ends with a killed hoodyd")
        s.close()
        d.proc = None
        d.start()
        s = open_ws(d, host, owner)
        echo(s)
        workers = relay_pids(d)
        check(workers, "a worker after the restart")
        s.close()
    # SIGTERM (the with block's stop, which also checks a clean exit)
    for w in workers:
        check(not alive(w), f"worker {w} left after hoodyd stopped")


def test_bad_flags_and_a_worker_started_by_hand():
    for args in (["--fd-limit", "-1"], ["--proxy-relay-conns", "many"],
                 ["--proxy-relay-conns", "1000001"]):
        d = ProxyDaemon(args)
        try:
            d.start()
            check(False, f"hoodyd started with {args}")
        except RuntimeError:
            check(d.exit_status == 2, (args, d.exit_status))
        finally:
            d.proc = None
            d.cleanup()
    # the relay argv outside hoodyd: wrong arguments, or a parent that is not
    # the caller, end it before it serves anything
    hoodyd = os.path.join(BIN, "hoodyd")
    for argv, status in (([], 2), (["10"], 2), (["0", str(os.getpid())], 1),
                         (["10", "1"], 1), (["10", str(os.getpid() + 1)], 1)):
        r = subprocess.run([hoodyd, "__relay-worker"] + argv, capture_output=True, timeout=60)
        check(r.returncode == status and b"relay" in r.stderr, (argv, r))


if __name__ == "__main__":
    main([test_more_websockets_than_hoodyd_descriptors, test_killed_worker_is_replaced,
          test_container_deletion_closes_its_websockets, test_workers_end_with_hoodyd,
          test_bad_flags_and_a_worker_started_by_hand])
