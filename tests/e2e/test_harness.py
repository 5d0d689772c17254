"""The e2e harness's own housekeeping (hoody_test.py), which every other
e2e test relies on:

- run dirs of killed test processes (/run/hoody-e2e-<pid>-<n>) are swept
  at the first Daemon: the dead run's kit.sock and empty directories go;
  a live run's directory, one a process still runs with, and anything in a
  dead run's directory that is not a socket or an empty directory stay;
- Daemon.cleanup deletes every container, page after page, not only the
  first page of the list."""
import os
import shutil
import socket
import subprocess
import sys

import hoody_test
from hoody_test import Daemon, check, main

# Subnet numbers from the developers' range (hoody_test.reserve_subnet hands
# out 2-197), so no test run of any clone holds their locks.
DEAD_N, LIVE_N, BUSY_N = 251, 252, 253


def dead_pid():
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid  # reaped: no process has it until the kernel reuses it


def fake_run_dir(pid, n):
    """A run dir as a killed hoodyd leaves it: a Kit socket and a file."""
    path = hoody_test.run_dir_of(pid, n)
    kit = os.path.join(path, "kit", "0" * 24)
    os.makedirs(kit, exist_ok=True)
    s = socket.socket(socket.AF_UNIX)
    s.bind(os.path.join(kit, "kit.sock"))
    s.close()
    return path


def test_sweep_removes_only_dead_runs():
    pid = dead_pid()
    check(not hoody_test.pid_alive(pid), f"pid {pid} was reused at once")
    dead = fake_run_dir(pid, DEAD_N)
    kept = fake_run_dir(dead_pid(), DEAD_N + 3)
    with open(os.path.join(kept, "notes"), "w") as f:
        f.write("not the harness's to delete\n")
    live_proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    busy_run = hoody_test.run_dir_of(dead_pid(), BUSY_N)
    busy_proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", busy_run])
    try:
        live = fake_run_dir(live_proc.pid, LIVE_N)
        busy = fake_run_dir(int(busy_run.split("-")[-2]), BUSY_N)
        hoody_test.sweep_dead_runs()
        check(not os.path.lexists(dead), f"{dead} left: {list(os.walk(dead))}")
        check(os.path.exists(os.path.join(live, "kit", "0" * 24, "kit.sock")),
              "a live run's socket was removed")
        check(os.path.exists(os.path.join(busy, "kit", "0" * 24, "kit.sock")),
              "the socket of a run dir still in use was removed")
        check(os.path.exists(os.path.join(kept, "notes")), "a file was removed")
        check(not os.path.lexists(os.path.join(kept, "kit")), "the dead run's socket dir stayed")
    finally:
        for p in (live_proc, busy_proc):
            p.kill()
            p.wait()
        for n in (DEAD_N, DEAD_N + 3, LIVE_N, BUSY_N):
            for name in os.listdir("/run"):
                if name.startswith("hoody-e2e-") and name.endswith(f"-{n}"):
                    shutil.rmtree(os.path.join("/run", name), ignore_errors=True)


def test_cleanup_pages_through_all_containers():
    d = Daemon().start()
    try:
        pid = d.new_project()
        made = {d.create_container(pid, wait=False, container_image="busybox",
                                   hoody_kit=False)["id"] for _ in range(5)}
        ids = d.container_ids(page_limit=2)
        check(len(ids) == len(set(ids)) and set(ids) == made, (ids, made))
        for cid in made:
            d.wait_status(cid, "running")
        ids = d.container_ids(page_limit=2)
        for cid in ids:
            d.delete(f"/api/v1/containers/{cid}")
        d.wait_all_gone()
        r = d.get("/api/v1/containers?include_deleting=true&include_prespawn=true"
                  "&include_expired=true")
        check(r.data["pagination"]["total"] == 0, r.data["pagination"])
    finally:
        d.cleanup()


if __name__ == "__main__":
    main([test_sweep_removes_only_dead_runs, test_cleanup_pages_through_all_containers])
