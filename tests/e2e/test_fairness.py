"""Fair scheduling and connection limits (issue 16 item 5), written as the
attack. Structural checks only (no wall-clock bounds; the timing ratio is in
bench/fairness.sh and docs/PERFORMANCE.md):
- another user's 16 slow stops and 32 bad logins are in flight; a restart of
  the victim's container is answered while every one of those stops is still
  running or queued, the attacker runs at most its share of the workers, and
  the daemon's peak memory stays within the password-hashing cap;
- 1,024 idle connections from one address (and more) do not lock the CLI
  out."""
import os
import resource
import socket
import subprocess
import threading
import time
import urllib.request

from hoody_test import BIN, Daemon, check, main
from test_containers import init_pid, wait_until
from test_operations import crun_exec

WORKERS = 16
OWNER_CAP = WORKERS // 4   # common/workq.c: a quarter of the workers
PASSWORD_MAX = 4           # WQ_PASSWORD_MAX
ARGON2_MIB = 64            # crypto_pwhash_MEMLIMIT_INTERACTIVE
# In the background, so that it is orphaned to the container's init, whose
# shutdown waits for it: the stop lasts its whole timeout. It notes the TERM,
# and that its trap is set (traps_set).
STUBBORN = ("rm -f /tmp/trapped; (trap 'echo x >> /tmp/got-term' TERM; touch /tmp/trapped; "
            "while true; do sleep 0.2; done) &")


def traps_set(d, cids):
    return all(os.path.exists(f"/proc/{init_pid(d, c)}/root/tmp/trapped") for c in cids)


def got_term(d, cid):
    pid = init_pid(d, cid)
    try:
        with open(f"/proc/{pid}/root/tmp/got-term") as f:
            return bool(f.read())
    except OSError:
        return False


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def reset_hwm(pid):
    # "5" to clear_refs resets the peak RSS (VmHWM) of the process
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def test_slow_stops_and_bad_logins_do_not_hold_a_restart():
    # ASan keeps freed memory in quarantine; keep it small so the peak RSS
    # measures what is live at once
    os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
    with Daemon(extra_args=["--workers", str(WORKERS)]) as d:
        bad = d.new_user("fair-attacker")
        good = d.new_user("fair-victim")
        pa, pv = d.new_project(token=bad), d.new_project(token=good)
        victim = d.create_container(pv, token=good)
        slow = [d.create_container(pa, token=bad) for _ in range(16)]
        for c in slow:
            crun_exec(d, c["id"], STUBBORN, detach=True)
        wait_until("the traps set", lambda: traps_set(d, [c["id"] for c in slow]))

        results = {}

        def stop(cid):
            results[cid] = d.post(f"/api/v1/containers/{cid}/stop", {"timeout": 600}, token=bad)

        def login(i):
            results[f"login{i}"] = d.post("/api/v1/users/auth/login",
                                          {"username": f"nobody-{i}", "password": "wrong-pass"},
                                          token=None)

        reset_hwm(d.proc.pid)
        base_kib = vm_hwm_kib(d.proc.pid)
        threads = [threading.Thread(target=stop, args=(c["id"],)) for c in slow]
        threads += [threading.Thread(target=login, args=(i,)) for i in range(32)]
        for t in threads:
            t.start()
        # the attacker's first stops run (their processes got TERM) ...
        deadline = time.time() + 60
        while time.time() < deadline and sum(got_term(d, c["id"]) for c in slow) < OWNER_CAP:
            time.sleep(0.05)
        time.sleep(0.5)  # room for more to start, if the cap did not hold
        running = sum(got_term(d, c["id"]) for c in slow)
        check(running == OWNER_CAP, f"{running} of the attacker's stops run at once, "
                                    f"its share is {OWNER_CAP} of {WORKERS} workers")
        # ... and the victim's restart is served while all 16 are in flight
        r = d.post(f"/api/v1/containers/{victim['id']}/restart", token=good)
        check(r.status == 200 and r.data["status"] == "running", r)
        in_flight = [c["id"] for c in slow if c["id"] not in results]
        check(len(in_flight) == 16, f"only {len(in_flight)} stops in flight at the restart")
        r = d.get(f"/api/v1/containers/{victim['id']}", token=good)
        check(r.status == 200 and r.data["status"] == "running", r)

        # end the slow work: kill the stubborn containers
        for c in slow:
            subprocess.run(["crun", "--root", f"{d.run_dir}/crun", "kill", c["id"], "KILL"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for t in threads:
            t.join(timeout=120)
        check(not any(t.is_alive() for t in threads), "requests still hanging")
        logins = [results[f"login{i}"].status for i in range(32)]
        check(all(s in (401, 429) for s in logins), logins)
        # 32 concurrent argon2 hashes would be 2 GiB; the cap allows 4
        peak_mib = (vm_hwm_kib(d.proc.pid) - base_kib) / 1024
        limit = (PASSWORD_MAX + 2) * ARGON2_MIB
        print(f"peak memory growth during 32 logins: {peak_mib:.0f} MiB", flush=True)
        check(peak_mib < limit, f"peak memory grew {peak_mib:.0f} MiB during 32 logins "
                                f"(cap: {PASSWORD_MAX} x {ARGON2_MIB} MiB, bound {limit})")


def cli(d, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOODY_")}
    env.update(HOODY_BASE_URL=d.base, HOODY_TOKEN=d.token)
    return subprocess.run([os.path.join(BIN, "hoody")] + list(args), capture_output=True,
                          text=True, env=env, timeout=60)


def test_idle_connections_do_not_lock_out_the_cli():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    with Daemon() as d:
        idle = []
        try:
            # one local process: 1,024 idle connections (the old per-address
            # cap), then 1,100 more, all from 127.0.0.1 like the CLI
            for n in (1024, 1100):
                while len(idle) < n:
                    idle.append(socket.create_connection(("127.0.0.1", d.port), timeout=10))
                time.sleep(0.2)
                r = cli(d, "projects", "list")
                check(r.returncode == 0, f"CLI with {n} idle connections: {r.returncode} "
                                         f"{r.stderr[-300:]}")
                r = cli(d, "servers", "list", "-q")
                check(r.returncode == 0 and r.stdout.strip(), r)
            # an authenticated client keeps its connection among them
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10)
            req = (f"GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\n"
                   f"Authorization: Bearer {d.token}\r\n\r\n").encode()
            s.sendall(req)
            check(b" 200 " in s.recv(65536).split(b"\r\n")[0], "keep-alive request")
            for _ in range(1100):  # more idle anonymous connections arrive
                idle.append(socket.create_connection(("127.0.0.1", d.port), timeout=10))
            time.sleep(0.2)
            s.sendall(req)
            check(b" 200 " in s.recv(65536).split(b"\r\n")[0],
                  "the signed-in keep-alive connection was evicted by anonymous ones")
            s.close()
            # the oldest idle anonymous connections were the ones closed (as
            # soon as hoodyd has accepted the new ones: waited for, up to a
            # deadlock guard for all of them)
            evicted, deadline = 0, time.time() + 120
            for sock in idle[:200]:
                sock.settimeout(max(0.1, deadline - time.time()))
                try:
                    evicted += sock.recv(1) == b""
                except (ConnectionResetError, socket.timeout) as e:
                    evicted += isinstance(e, ConnectionResetError)
            check(evicted == 200, f"{evicted} of the 200 oldest idle connections closed")
            r = d.get("/api/v1/users/me")
            check(r.status == 200, r)
        finally:
            for sock in idle:
                sock.close()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


if __name__ == "__main__":
    main([test_slow_stops_and_bad_logins_do_not_hold_a_restart,
          test_idle_connections_do_not_lock_out_the_cli])
