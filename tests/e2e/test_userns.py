"""User-namespace mode (--userns): container root is an unprivileged host id.

Checked from both sides on real containers: inside, root is uid 0 and the
image looks owned by root; on the host, the container's processes and the
files they write belong to 2^30 + n, and the image stays untouched. The mode
survives stop/start, a daemon restart, snapshots and copies; a container
keeps the mode it was created in when the setting changes, and a copy across
modes has its files moved to the copy's ids."""
import os
import subprocess

import tempfile

from hoody_test import BIN, IMAGE_DIR, Daemon, check, main
from test_containers import cpath, expect, init_pid
from test_operations import crun_exec, op

BASE = 1 << 30


def uid_map(d, cid):
    return crun_exec(d, cid, "cat /proc/self/uid_map").split()


def host_ids(pid):
    """Real uid and gid of a host process (first field of Uid:/Gid:)."""
    ids = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("Uid:", "Gid:")):
                ids[line[:3]] = int(line.split()[1])
    return ids["Uid"], ids["Gid"]


def upper(d, cid, rel=""):
    cdir = f"{d.state}/containers/{cid}"
    # the layer's own filesystem (disk limit), or the host's for older layers
    base = f"{cdir}/layer/upper" if os.path.isdir(f"{cdir}/layer/upper") else f"{cdir}/upper"
    return f"{base}/{rel}"


def test_userns_mode():
    with Daemon(extra_args=["--userns"]) as d:
        pid = d.new_project()
        c = d.create_container(pid, hoody_kit=False, ramdisk=True)
        cid = c["id"]
        # inside: root, owning the image's files and its own
        check(uid_map(d, cid) == ["0", str(BASE), "65536"], uid_map(d, cid))
        out = crun_exec(d, cid, "id -u; stat -c %u:%g /bin/busybox /etc/passwd; "
                                "echo hi > /root/mine; echo x > /tmp/app-file; "
                                "chown 1000:1000 /tmp/app-file; "
                                "stat -c %u /root/mine /tmp/app-file; "
                                "echo r > /ramdisk/r && stat -c %u /ramdisk/r")
        check(out.split() == ["0", "0:0", "0:0", "0", "1000", "0"], out)
        # on the host: unprivileged ids, image untouched
        ipid = init_pid(d, cid)
        check(host_ids(ipid) == (BASE, BASE), host_ids(ipid))
        st = os.stat(upper(d, cid, "root/mine"))
        check((st.st_uid, st.st_gid) == (BASE, BASE), (st.st_uid, st.st_gid))
        check(os.stat(upper(d, cid, "tmp/app-file")).st_uid == BASE + 1000, "uid 1000 shifted")
        check(os.stat(f"{IMAGE_DIR}/busybox/rootfs/bin/busybox").st_uid == 0,
              "the image tree stays owned by host root")
        # root inside is nobody to the host: host-owned files bound in stay
        # read-only to it even when the bind is read-write
        out = crun_exec(d, cid, "cat /proc/sys/kernel/hostname >/dev/null; "
                                "echo 1 > /proc/sys/kernel/core_pattern 2>/dev/null && echo W || echo R; "
                                "mount -t tmpfs t /mnt 2>/dev/null && echo M || echo N")
        check(out.split()[-2:] == ["R", "N"], out)
        # /etc/hosts is the container's own (edits allowed, as without userns)
        crun_exec(d, cid, "echo '10.0.0.9 extra' >> /etc/hosts")

        # restart and a daemon restart keep the mapping and the files
        expect(op(d, cid, "restart"), 200)
        check(uid_map(d, cid)[1] == str(BASE), "mapped after restart")
        check(crun_exec(d, cid, "cat /root/mine /ramdisk/r").split() == ["hi", "r"], "kept")
        d.restart()
        check(d.get(cpath(d, cid)).data["status"] == "running", "re-adopted")
        expect(op(d, cid, "stop"), 200)
        expect(op(d, cid, "start"), 200)
        check(host_ids(init_pid(d, cid)) == (BASE, BASE), "mapped after a daemon restart")

        # a second container: same range, still its own pid namespace
        other = d.create_container(pid, hoody_kit=False)["id"]
        check(uid_map(d, other)[1] == str(BASE), "shared range")
        ps = crun_exec(d, other, "ls /proc | grep -c '^[0-9]'")
        check(int(ps) <= 4, f"sees only its own processes (init, sh, ls, grep): {ps}")

        # snapshot and restore in userns mode
        r = d.post(f"/api/v1/containers/{cid}/snapshots")
        expect(r, 201)
        snap = r.data["snapshot"]["name"]
        crun_exec(d, cid, "rm /root/mine")
        expect(d.put(f"/api/v1/containers/{cid}/snapshots/{snap}"), 200)
        check(crun_exec(d, cid, "stat -c %u /root/mine").strip() == "0", "restored, root's")

        # the setting changes: old containers keep their mapping, new ones
        # get none, and a copy moves the files to its own ids
        d.extra = []
        d.restart()
        check(uid_map(d, cid)[1] == str(BASE), "userns container keeps its mode")
        plain = d.create_container(pid, hoody_kit=False)["id"]
        check(uid_map(d, plain)[:2] == ["0", "0"], "no userns now")
        r = d.post(f"/api/v1/containers/{cid}/copy", {"name": "plain-copy", "target_project_id": pid})
        expect(r, 201)
        cp = d.wait_status(r.data["id"], "running")["id"]
        check(uid_map(d, cp)[:2] == ["0", "0"], "copy made without userns")
        out = crun_exec(d, cp, "stat -c %u /root/mine /tmp/app-file; cat /root/mine")
        check(out.split() == ["0", "1000", "hi"], out)
        check(os.stat(upper(d, cp, "tmp/app-file")).st_uid == 1000, "shifted back on the host")
        check(os.stat(upper(d, cid, "tmp/app-file")).st_uid == BASE + 1000, "source untouched")


def test_userns_bad_config():
    """A base off the 65536 grid or out of range: hoodyd refuses to start."""
    for bad in ("100000", "12345", "4294967295", "x"):
        state = tempfile.mkdtemp(prefix="hoody-e2e-")
        r = subprocess.run([os.path.join(BIN, "hoodyd"), "--userns", "--userns-base", bad,
                            "--state-dir", state, "--image-dir", IMAGE_DIR,
                            "--run-dir", f"/run/hoody-e2e-bad-{os.getpid()}",
                            "--listen", "127.0.0.1:1"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and "userns" in r.stderr.lower(), (bad, r.returncode, r.stderr))
        check(not os.path.exists(f"{state}/containers"), "nothing set up")
        subprocess.run(["rm", "-rf", state, f"/run/hoody-e2e-bad-{os.getpid()}"])


if __name__ == "__main__":
    main([test_userns_mode, test_userns_bad_config])
