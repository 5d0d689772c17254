"""hoodyd never aborts on SIGTERM (issue 16 item 8). It used to, now and then,
with libmicrohttpd's "Failed to remove listen FD from epoll set": the
MHD_quiesce_daemon() it called at shutdown races the epoll loops of MHD's own
worker threads, which drop the listen socket from their epoll sets by
themselves once the daemon is quiesced; the loser's epoll_ctl() gets ENOENT
and MHD (0.9.75) aborts the process. hoodyd no longer quiesces (it refuses
new connections with its accept policy while stopping).

The attack: 200 start/SIGTERM cycles, each with clients connecting and
sending requests while the TERM lands, every exit checked (status 0, no
sanitizer report). In the sanitized pass this runs under ASan."""
import os
import signal
import socket
import subprocess
import threading
import time

from hoody_test import Daemon, check, ensure_image, main

# 200 under ASan (the pass that saw the aborts); fewer in the -O0 pass,
# which runs the same code without the sanitizer's slower timing
CYCLES = 200 if os.environ.get("HOODY_SANITIZED") else 20


class QuickDaemon(Daemon):
    """Starts without the image check and polls the port tightly: a cycle
    costs what hoodyd's own start and stop cost."""

    def start(self):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=self.log, stderr=self.log)
        deadline = time.time() + 120  # a loaded host's network locks: hoody_test.Daemon
        while time.time() < deadline:
            check(self.proc.poll() is None, f"hoodyd exited: {self.tail_log()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.005)
        else:
            check(False, "hoodyd did not listen in time")
        with open(os.path.join(self.state, "admin-token")) as f:
            self.token = f.read().strip()
        return self


def hammer(port, stop):
    """Connections opened, used and dropped in a loop: keeps MHD's workers
    busy in their epoll loops, accepting, when the TERM arrives."""
    req = b"GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\n\r\n"
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(req)
                s.recv(4096)
        except OSError:
            pass


def test_start_sigterm_cycles():
    ensure_image("busybox")
    d = QuickDaemon(extra_args=["--threads", "4"])
    try:
        for i in range(CYCLES):
            d.start()
            stop = threading.Event()
            clients = [threading.Thread(target=hammer, args=(d.port, stop))]
            for t in clients:
                t.start()
            # vary where in the request flow the TERM lands
            if i % 2:
                d.get("/api/v1/users/me")
            d.stop(signal.SIGTERM)  # checks exit status 0 and no sanitizer report
            stop.set()
            for t in clients:
                t.join()
            check("Failed to remove listen FD" not in d.tail_log(200),
                  f"cycle {i}: {d.tail_log(20)}")
    finally:
        d.cleanup()


if __name__ == "__main__":
    main([test_start_sigterm_cycles])
