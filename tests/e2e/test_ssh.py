"""The SSH front door (docs/SSH.md) against a real hoodyd and real containers,
with Debian's OpenSSH client: public-key login routed to the container that
holds the key, exec with its exit status, a shell with a terminal, SFTP, local
port forwarding to a port inside the container, and the refusals (unknown
key, container without a key, another user's container, ambiguous key,
stopped container, forwarding anywhere but the container's loopback)."""
import os
import fcntl
import pty
import select
import socket
import stat
import struct
import subprocess
import tempfile
import termios
import time
import urllib.request

from hoody_test import Daemon, check, free_port, main
from kit_util import Kit
from proxy_util import ProxyDaemon, crun_exec, init_pid

D = None
TMP = tempfile.mkdtemp(prefix="hoody-ssh-")
SSH_PORT = free_port()
KEYS = {}
A = B = C = None          # containers: A (admin, key a), B (admin, no key), C (user2, key c)
USER2 = None


def keygen(name):
    path = os.path.join(TMP, name)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@test",
                    "-f", path], check=True)
    with open(path + ".pub") as f:
        KEYS[name] = f.read().strip()
    return path


def ssh(key, *cmd, login="root", tty=False, timeout=60, extra=()):
    args = ["ssh", "-i", os.path.join(TMP, key), "-p", str(SSH_PORT),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
            "-o", "ConnectTimeout=20"] + (["-tt"] if tty else ["-T"]) + list(extra) + \
           [f"{login}@127.0.0.1"] + list(cmd)
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def sftp_batch(key, port, batch):
    """sftp -b batch as root@127.0.0.1 on port, with the test key `key`."""
    return subprocess.run(["sftp", "-i", os.path.join(TMP, key), "-P", str(port),
                           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                           "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-b", batch,
                           "root@127.0.0.1"], capture_output=True, text=True, timeout=60)


def mark(cid):
    """A file only this container has."""
    with open(f"/proc/{init_pid(D, cid)}/root/marker", "w") as f:
        f.write(cid + "\n")


def setup():
    global D, A, B, C, USER2
    for k in ("a", "b", "c", "stranger"):
        keygen(k)
    D = Daemon(["--ssh-listen", f"127.0.0.1:{SSH_PORT}"]).start()
    pid = D.new_project()
    A = D.create_container(pid, name="ssh-a", ssh_public_key=KEYS["a"])["id"]
    B = D.create_container(pid, name="ssh-b")["id"]
    USER2 = D.new_user("sshuser2")
    pid2 = D.new_project(token=USER2)
    C = D.create_container(pid2, token=USER2, name="ssh-c", ssh_public_key=KEYS["c"])["id"]
    for cid in (A, B, C):
        mark(cid)


def test_exec_in_the_right_container():
    r = ssh("a", "cat /marker; id -u; echo to-stderr >&2")
    check(r.returncode == 0, r)
    out = r.stdout.split()
    check(out == [A, "0"], r)
    check(r.stderr.strip() == "to-stderr", r)
    r = ssh("c", "cat", "/marker")
    check(r.returncode == 0 and r.stdout.strip() == C, r)
    # the login name may name the container too
    r = ssh("a", "cat /marker", login=A)
    check(r.returncode == 0 and r.stdout.strip() == A, r)
    r = ssh("a", "cat /marker", login="ssh-a")
    check(r.returncode == 0 and r.stdout.strip() == A, r)


def test_exit_status_and_stdin():
    for code in (0, 1, 7, 255):
        r = ssh("a", f"exit {code}")
        check(r.returncode == code, f"exit {code}: {r}")
    p = subprocess.run(["ssh", "-i", os.path.join(TMP, "a"), "-p", str(SSH_PORT),
                        "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                        "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-T",
                        "root@127.0.0.1", "wc -c"],
                       input="x" * 300000, capture_output=True, text=True, timeout=60)
    check(p.returncode == 0 and p.stdout.strip() == "300000", p)
    # a process killed by a signal: 128 + signal, as OpenSSH's sshd reports it
    r = ssh("a", "kill -9 $$")
    check(r.returncode != 0, r)


def host_pids_of(argv0, arg):
    """Host pids whose command line is exactly argv0 arg (a unique arg)."""
    found = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/cmdline", "rb") as f:
                    if f.read().split(b"\0")[:2] == [argv0.encode(), arg.encode()]:
                        found.append(int(p))
            except OSError:
                pass
    return found


def test_processes_count_in_the_container():
    """The command runs in the container's cgroups (so its limits apply), and
    it goes when the client goes."""
    arg = str(3000 + os.getpid() % 1000)
    p = subprocess.Popen(["ssh", "-i", os.path.join(TMP, "a"), "-p", str(SSH_PORT),
                          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          "-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "-T",
                          "root@127.0.0.1", f"exec sleep {arg}"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        pids = []
        deadline = time.time() + 20
        while time.time() < deadline and not pids:
            pids = host_pids_of("sleep", arg)
            time.sleep(0.05)
        check(len(pids) == 1, pids)
        with open(f"/proc/{pids[0]}/cgroup") as f:
            cg = f.read()
        check(A in cg, cg)
    finally:
        p.kill()
        p.wait()
    deadline = time.time() + 20
    while time.time() < deadline and host_pids_of("sleep", arg):
        time.sleep(0.05)
    check(not host_pids_of("sleep", arg), "the command outlived its client")


def test_shell_with_terminal():
    r = ssh("a", "tty; stty size", tty=True)
    check(r.returncode == 0, r)
    check("/dev/pts/" in r.stdout and "24 80" in r.stdout, r)
    r = ssh("a", "test -t 0 && echo tty || echo notty")
    check(r.stdout.strip() == "notty", r)


def read_until(fd, want, timeout=120):
    buf = b""
    deadline = time.time() + timeout
    while want not in buf and time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
    check(want in buf, f"{want!r} not in {buf[-500:]!r}")
    return buf


def test_interactive_shell_resizes():
    """A real terminal on our side: the shell sees its size, then the new
    size after a resize (window-change), and `exit 3` is ssh's exit status."""
    master, slave = pty.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))

    def own_tty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    p = subprocess.Popen(base_args("a")[:-1] + ["-tt", "root@127.0.0.1"], stdin=slave,
                         stdout=slave, stderr=slave, preexec_fn=own_tty)
    os.close(slave)
    try:
        os.write(master, b"stty size; echo ok-$((6*7))\n")
        out = read_until(master, b"ok-42")
        check(b"30 100" in out, out)
        fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
        # ssh forwards SIGWINCH as window-change: asked again until it is in
        deadline, out = time.time() + 120, b""
        while b"50 120" not in out:
            check(time.time() < deadline, f"the new size never arrived: {out[-200:]!r}")
            os.write(master, b"stty size; echo as''ked\n")  # (the typed line's echo is not it)
            out += read_until(master, b"asked")
        os.write(master, b"exit 3\n")
        check(p.wait(timeout=30) == 3, p.returncode)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        os.close(master)


def test_wrong_key_refused():
    r = ssh("stranger", "true")
    check(r.returncode == 255 and "Permission denied" in r.stderr, r)
    # also when naming a container
    r = ssh("stranger", "true", login=A)
    check(r.returncode == 255 and "Permission denied" in r.stderr, r)


def test_container_without_key_unreachable():
    for key in ("a", "c", "stranger"):
        r = ssh(key, "cat /marker", login=B)
        check(r.returncode == 255 and B not in r.stdout, f"{key}: {r}")
    r = ssh("a", "cat /marker", login="ssh-b")   # a name, not an id: lands on the key's own
    check(r.stdout.strip() == A, r)


def test_other_users_key_cannot_reach():
    r = ssh("c", "cat /marker", login=A)
    check(r.returncode == 255 and A not in r.stdout, r)
    r = ssh("a", "cat /marker", login=C)
    check(r.returncode == 255 and C not in r.stdout, r)


def test_same_key_on_two_containers_is_ambiguous():
    """A key is unique per user (by type and blob), but two users may store
    the same one: the login name must then choose; an unnamed login is refused
    rather than guessed (it could land in the other user's container)."""
    blob = " ".join(KEYS["b"].split()[:2])
    pid = D.new_project()
    d1 = D.create_container(pid, name="amb-1", ssh_public_key=blob + " one")["id"]
    pid2 = D.new_project(token=USER2)
    d2 = D.create_container(pid2, token=USER2, name="amb-2", ssh_public_key=blob + " two")["id"]
    mark(d1)
    mark(d2)
    r = ssh("b", "cat /marker")
    check(r.returncode == 255 and d1 not in r.stdout and d2 not in r.stdout, r)
    for cid, login in ((d1, d1), (d2, "amb-2")):
        r = ssh("b", "cat /marker", login=login)
        check(r.returncode == 0 and r.stdout.strip() == cid, r)
    # one user cannot put the same key (whatever its comment) on two containers
    r = D.post(f"/api/v1/projects/{pid}/containers",
               {"container_image": "busybox", "ssh_public_key": blob + " three"})
    check(r.status == 409 and r.code == "SSH_PUBLIC_KEY_IN_USE", r)
    D.delete(f"/api/v1/containers/{d1}")
    D.delete(f"/api/v1/containers/{d2}", token=USER2)


def test_sftp_put_and_get():
    local = os.path.join(TMP, "upload.bin")
    data = os.urandom(200000)
    with open(local, "wb") as f:
        f.write(data)
    back = os.path.join(TMP, "back.bin")
    batch = os.path.join(TMP, "batch")
    with open(batch, "w") as f:
        f.write(f"mkdir /up\nput {local} /up/file.bin\nls -l /up\n"
                f"put {local} ../../../../up/escape.bin\nget /up/file.bin {back}\n"
                f"put {local} /up/file.bin\n"
                "rename /up/escape.bin /up/moved.bin\nrm /up/moved.bin\n")
    r = sftp_batch("a", SSH_PORT, batch)
    check(r.returncode == 0, r)
    root = f"/proc/{init_pid(D, A)}/root"
    with open(root + "/up/file.bin", "rb") as f:
        check(f.read() == data, "the uploaded file differs inside the container")
    with open(back, "rb") as f:
        check(f.read() == data, "the downloaded file differs")
    check(not os.path.exists(root + "/up/moved.bin"), "rm did not remove")
    # the container's own processes see it (and ".." did not leave the root)
    r = ssh("a", "md5sum /up/file.bin; ls /up")
    check(r.returncode == 0 and "file.bin" in r.stdout and "escape" not in r.stdout, r)
    # a symlink inside the container cannot lead out of it
    crun_exec(D, A, ["/bin/ln", "-s", "/", "/up/hostroot"], detach=False)
    with open(batch, "w") as f:
        f.write(f"get /up/hostroot{TMP}/upload.bin {TMP}/leak.bin\n")
    r = sftp_batch("a", SSH_PORT, batch)
    check(r.returncode != 0 and not os.path.exists(f"{TMP}/leak.bin"), r)
    # hoodyd is host root outside the container's device cgroup: a device
    # node or a FIFO in the container is never opened (nor does it hang)
    os.mkfifo(root + "/up/fifo")
    os.mknod(root + "/up/zero", 0o666 | stat.S_IFCHR, os.makedev(1, 5))
    for name in ("fifo", "zero"):
        with open(batch, "w") as f:
            f.write(f"get /up/{name} {TMP}/{name}.out\n")
        r = sftp_batch("a", SSH_PORT, batch)
        check(r.returncode != 0 and os.path.getsize(f"{TMP}/{name}.out") == 0
              if os.path.exists(f"{TMP}/{name}.out") else r.returncode != 0, r)


def test_local_port_forward():
    # bound to the container's loopback only: not reachable any other way
    root = f"/proc/{init_pid(D, A)}/root"
    os.makedirs(root + "/www", exist_ok=True)
    with open(root + "/www/index.html", "w") as f:
        f.write("hello through ssh\n")
    crun_exec(D, A, ["/bin/busybox", "httpd", "-p", "127.0.0.1:8000", "-h", "/www"])
    deadline = time.time() + 20
    while time.time() < deadline:
        r = subprocess.run(["nsenter", f"--net={D.run_dir}/netns/{A}", "cat", "/proc/net/tcp"],
                           capture_output=True, text=True)
        if "0100007F:1F40 00000000:0000 0A" in r.stdout:
            break
        time.sleep(0.05)
    else:
        check(False, "busybox httpd did not start")
    lport, other = free_port(), free_port()
    p = subprocess.Popen(["ssh", "-i", os.path.join(TMP, "a"), "-p", str(SSH_PORT),
                          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          "-o", "BatchMode=yes", "-o", "LogLevel=ERROR",
                          "-o", "ExitOnForwardFailure=yes", "-N",
                          "-L", f"127.0.0.1:{lport}:localhost:8000",
                          "-L", f"127.0.0.1:{other}:10.0.0.1:8000",
                          "root@127.0.0.1"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        body = None
        deadline = time.time() + 20
        while time.time() < deadline and body is None:
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{lport}/", timeout=10).read()
            except OSError:
                time.sleep(0.1)
        check(body == b"hello through ssh\n", body)
        # a destination other than the container's loopback is refused
        got = b""
        try:
            with socket.create_connection(("127.0.0.1", other), timeout=10) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                got = s.recv(100)
        except OSError:
            pass
        check(got == b"", got)
    finally:
        p.kill()
        p.wait()


def test_stopped_container_refused_with_message():
    r = D.post(f"/api/v1/containers/{C}/stop", token=USER2)
    check(r.status in (200, 202), r)
    D.wait_status(C, "stopped", token=USER2)
    r = ssh("c", "cat /marker")
    check(r.returncode == 255 and "stopped" in r.stderr and C not in r.stdout, r)
    r = D.post(f"/api/v1/containers/{C}/start", token=USER2)
    D.wait_status(C, "running", token=USER2)
    r = ssh("c", "echo back")
    check(r.returncode == 0 and r.stdout.strip() == "back", r)


def base_args(key, port=None):
    return ["ssh", "-i", os.path.join(TMP, key), "-p", str(port or SSH_PORT),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-T"]


def test_key_removal_takes_effect():
    """Removing the key closes the door for new logins and for the next
    command of a connection that is already open."""
    ctl = os.path.join(TMP, "ctl")
    master = subprocess.Popen(base_args("a") + ["-o", "ControlMaster=yes", "-o",
                                                f"ControlPath={ctl}", "-N", "root@127.0.0.1"],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 20
        while not os.path.exists(ctl) and time.time() < deadline:
            time.sleep(0.05)
        via = base_args("a") + ["-o", f"ControlPath={ctl}", "root@127.0.0.1"]
        r = subprocess.run(via + ["cat /marker"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and r.stdout.strip() == A, r)
        r = D.patch(f"/api/v1/containers/{A}", {"ssh_public_key": None})
        check(r.status == 200, r)
        r = subprocess.run(via + ["cat /marker"], capture_output=True, text=True, timeout=60)
        check(r.returncode == 255 and A not in r.stdout and "key" in r.stderr, r)
        r = ssh("a", "cat /marker")
        check(r.returncode == 255 and A not in r.stdout, r)
    finally:
        master.kill()
        master.wait()
        r = D.patch(f"/api/v1/containers/{A}", {"ssh_public_key": KEYS["a"]})
        check(r.status == 200, r)
    r = ssh("a", "cat /marker")
    check(r.returncode == 0 and r.stdout.strip() == A, r)


def test_bounds_per_address_and_login_timeout():
    """A daemon with 2 connections per address and 2 s to log in: silent
    connections fill the quota, the next client is turned away, and once the
    silent ones are dropped at their login timeout a real client gets in."""
    port = free_port()
    # (the login timeout is long enough that the refused client below comes
    # well before it on any host, and the silent ones are hung up after it)
    d = Daemon(["--ssh-listen", f"127.0.0.1:{port}", "--ssh-max-conns-per-ip", "2",
                "--ssh-auth-timeout", "10"]).start()
    try:
        pid = d.new_project()
        cid = d.create_container(pid, ssh_public_key=KEYS["stranger"])["id"]
        silent = [socket.create_connection(("127.0.0.1", port), timeout=120) for _ in range(2)]
        for s in silent:  # accepted and counted: the daemon's banner came
            check(s.recv(4096).startswith(b"SSH-2.0-"), "no banner on a silent connection")
        r = subprocess.run(base_args("stranger", port) + ["root@127.0.0.1", "echo in"],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 255 and "in" not in r.stdout.split(), r)
        for s in silent:
            s.settimeout(120)
            while True:  # the daemon hangs up on them at their login timeout
                try:
                    if not s.recv(4096):
                        break
                except OSError:
                    break
            s.close()
        deadline = time.time() + 30
        ok = None
        while time.time() < deadline:
            ok = subprocess.run(base_args("stranger", port) + ["root@127.0.0.1", "echo in"],
                                capture_output=True, text=True, timeout=60)
            if ok.returncode == 0:
                break
            time.sleep(0.1)
        check(ok.returncode == 0 and ok.stdout.strip() == "in", ok)
        check(cid, cid)
    finally:
        d.cleanup()


def test_host_key_is_kept():
    path = os.path.join(D.state, "ssh_host_ed25519_key")
    st = os.stat(path)
    check(st.st_mode & 0o077 == 0, oct(st.st_mode))


def test_bad_client_input():
    """Garbage instead of an SSH banner, and a client that never logs in, do
    not hurt the daemon."""
    with socket.create_connection(("127.0.0.1", SSH_PORT), timeout=10) as s:
        s.sendall(b"GET / HTTP/1.1\r\n\r\n" + os.urandom(5000))
        try:
            s.recv(1000)
        except OSError:
            pass
    r = ssh("a", "echo alive")
    check(r.returncode == 0 and r.stdout.strip() == "alive", r)
    check(D.get("/api/v1/servers").status == 200, "API still answers")


def test_shutdown_ends_sessions():
    """SIGTERM with a command running and a client stalled in its handshake
    (login timeout 600 s): hoodyd stops within the harness's 30 s with status
    0, the command is gone, the container keeps running."""
    port = free_port()
    d = Daemon(["--ssh-listen", f"127.0.0.1:{port}", "--ssh-auth-timeout", "600"]).start()
    arg = str(4000 + os.getpid() % 1000)
    p = None
    try:
        pid = d.new_project()
        cid = d.create_container(pid, ssh_public_key=KEYS["stranger"])["id"]
        p = subprocess.Popen(base_args("stranger", port) + ["root@127.0.0.1", f"exec sleep {arg}"],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
        stalled = socket.create_connection(("127.0.0.1", port), timeout=30)
        deadline = time.time() + 20
        while time.time() < deadline and not host_pids_of("sleep", arg):
            time.sleep(0.05)
        check(host_pids_of("sleep", arg), "the command did not start")
        d.stop()  # checks: exited 0 within 30 s of SIGTERM
        check(p.wait(timeout=30) == 255, p.returncode)
        deadline = time.time() + 20
        while time.time() < deadline and host_pids_of("sleep", arg):
            time.sleep(0.05)
        check(not host_pids_of("sleep", arg), "the command outlived the daemon")
        check(os.path.exists(f"/proc/{init_pid(d, cid)}"), "the container stopped with hoodyd")
        stalled.close()
        d.start()  # for the cleanup
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        d.cleanup()


def test_userns_container():
    """Under --userns the container's root is an unprivileged host id: exec
    runs as the container's root, and a file put by SFTP belongs to it (uid 0
    inside, the mapped id outside), not to the host's root."""
    port = free_port()
    d = Daemon(["--ssh-listen", f"127.0.0.1:{port}", "--userns"]).start()
    try:
        pid = d.new_project()
        cid = d.create_container(pid, ssh_public_key=KEYS["stranger"])["id"]
        r = subprocess.run(base_args("stranger", port) + ["root@127.0.0.1", "id -u"],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and r.stdout.strip() == "0", r)
        local = os.path.join(TMP, "userns.txt")
        with open(local, "w") as f:
            f.write("mapped\n")
        batch = os.path.join(TMP, "batch-userns")
        with open(batch, "w") as f:
            f.write(f"mkdir /u\nput {local} /u/f.txt\n")
        r = sftp_batch("stranger", port, batch)
        check(r.returncode == 0, r)
        r = subprocess.run(base_args("stranger", port) +
                           ["root@127.0.0.1", "stat -c '%u %g' /u /u/f.txt; cat /u/f.txt; echo more >> /u/f.txt"],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and r.stdout.split() == ["0", "0", "0", "0", "mapped"], r)
        root = f"/proc/{init_pid(d, cid)}/root"
        st = os.stat(root + "/u/f.txt")
        check(st.st_uid == os.stat(root + "/").st_uid != 0, (st.st_uid, os.stat(root + "/").st_uid))
    finally:
        d.cleanup()


def test_sftp_file_read_by_the_kit_files_service():
    """What SFTP puts, the Kit's files service (through the hostname proxy)
    reads back, and the other way round: one filesystem, two front doors."""
    port = free_port()
    d = ProxyDaemon(["--ssh-listen", f"127.0.0.1:{port}"]).start()
    try:
        k = Kit(d, ssh_public_key=KEYS["stranger"])
        k.wait_ready()
        local = os.path.join(TMP, "kit.txt")
        with open(local, "w") as f:
            f.write("put by sftp\n")
        batch = os.path.join(TMP, "batch-kit")
        with open(batch, "w") as f:
            f.write(f"mkdir /srv-up\nput {local} /srv-up/kit.txt\n")
        r = sftp_batch("stranger", port, batch)
        check(r.returncode == 0, r)
        r = k.req("files-1", path="/srv-up/kit.txt")
        check(r.status == 200 and r.body == b"put by sftp\n", r)
        r = k.req("files-1", "PUT", "/srv-up/back.txt", b"put by the kit\n")
        check(r.status in (200, 201, 204), r)
        r = subprocess.run(base_args("stranger", port) + ["root@127.0.0.1", "cat /srv-up/back.txt"],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0 and r.stdout == "put by the kit\n", r)
    finally:
        d.cleanup()


def test_bad_listen_address_stops_the_daemon():
    for bad in ("nonsense", "127.0.0.1:99999", "256.1.1.1:22"):
        d = Daemon(["--ssh-listen", bad])
        try:
            d.start()
            check(False, f"hoodyd started with --ssh-listen {bad}")
        except RuntimeError as e:
            check("--ssh-listen" in str(e), e)
            check(d.exit_status == 1, d.exit_status)
        finally:
            d.proc = None  # it stopped by itself, with status 1
            d.cleanup()


if __name__ == "__main__":
    try:
        setup()
        main([test_exec_in_the_right_container, test_exit_status_and_stdin,
              test_processes_count_in_the_container, test_shell_with_terminal,
              test_interactive_shell_resizes,
              test_wrong_key_refused, test_container_without_key_unreachable,
              test_other_users_key_cannot_reach, test_same_key_on_two_containers_is_ambiguous,
              test_sftp_put_and_get, test_local_port_forward,
              test_key_removal_takes_effect, test_stopped_container_refused_with_message,
              test_bounds_per_address_and_login_timeout, test_host_key_is_kept,
              test_bad_client_input, test_shutdown_ends_sessions, test_userns_container,
              test_sftp_file_read_by_the_kit_files_service,
              test_bad_listen_address_stops_the_daemon])
    finally:
        if D:
            D.cleanup()
