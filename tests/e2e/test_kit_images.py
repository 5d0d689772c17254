"""The Kit in every kind of image issue 14 names: busybox, debian/12,
debian/13 and an imported one. In each, through the proxy: execute (wait=true
and wait=false + result), the terminal WebSocket with the image's shell,
files (upload with Content-Type: application/json, download, ?hash, ?lines,
a file written by a command read back and the reverse), and the web terminal
page with its xterm.js.

The imported image is made here, offline, from the host's busybox-static: a
merged-/usr tree (bin -> usr/bin) unlike the built busybox image, root's
login shell /bin/ash and an unprivileged user `app`, packed as .tar.gz and
imported with `hoodyd images import` as kittest/imported (removed at the
end, and before, when a killed run left it). The debian images are built by `images ensure` when missing, from
the host's Debian mirror, like the other tests' images."""
import asyncio
import hashlib
import os
import shutil
import subprocess
import tempfile
import time

from hoody_test import BIN, IMAGE_DIR, TEST_STATE, check, ensure_image, main
from kit_util import Kit, init, read_until, run
from proxy_util import ProxyDaemon


def hoodyd_images(*args):
    return subprocess.run([os.path.join(BIN, "hoodyd"), "--image-dir", IMAGE_DIR,
                           "--state-dir", os.path.join(TEST_STATE, "image-builder"), "images"] + list(args),
                          capture_output=True, text=True, timeout=600)


def make_rootfs_tarball(tmp):
    """A merged-/usr busybox tree as an operator would import it."""
    root = os.path.join(tmp, "rootfs")
    for d in ("usr/bin", "usr/sbin", "etc", "root", "home/app", "tmp", "proc", "sys", "dev", "run",
              "var/tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.symlink("usr/bin", os.path.join(root, "bin"))
    os.symlink("usr/sbin", os.path.join(root, "sbin"))
    shutil.copy("/bin/busybox", os.path.join(root, "usr/bin/busybox"))
    applets = subprocess.run(["/bin/busybox", "--list"], capture_output=True, text=True, check=True).stdout
    for a in applets.split():
        if a != "busybox":
            os.symlink("busybox", os.path.join(root, "usr/bin", a))
    files = {"etc/passwd": "root:x:0:0:root:/root:/bin/ash\napp:x:1000:1000:app:/home/app:/bin/sh\n",
             "etc/group": "root:x:0:\napp:x:1000:\n",
             "etc/os-release": "ID=imported\nNAME=\"imported test image\"\n"}
    for path, text in files.items():
        with open(os.path.join(root, path), "w") as f:
            f.write(text)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    os.chmod(os.path.join(root, "var/tmp"), 0o1777)
    os.chown(os.path.join(root, "home/app"), 1000, 1000)
    tarball = os.path.join(tmp, "imported.tar.gz")
    subprocess.run(["tar", "-C", root, "--numeric-owner", "-czf", tarball, "."], check=True)
    return tarball


def exercise(d, image, shell, os_id):
    k = Kit(d, image=image)
    k.wait_ready()
    what = f"[{image}]"
    res = k.execute("echo $((6*7)); . /etc/os-release; echo $ID; id -u")
    check(res["exit_code"] == 0 and res["stdout"] == f"42\n{os_id}\n0\n" and res["stderr"] == "",
          (what, res))
    r = k.req("terminal-0", "POST", "/api/v1/terminal/execute?ephemeral=true",
              {"command": "sleep 0.2; echo later; exit 3", "wait": False})
    check(r.status == 200 and r.json["data"]["command_id"], (what, r))
    cmd = r.json["data"]["command_id"]
    deadline = time.time() + 60
    while time.time() < deadline:
        r = k.req("terminal-0", path=f"/api/v1/terminal/result/{cmd}")
        if r.status == 200 and r.json["data"]["status"] not in ("pending", "running"):
            break
        time.sleep(0.1)
    check(r.json["data"]["status"] == "completed" and r.json["data"]["exit_code"] == 3 and
          r.json["data"]["stdout"] == "later\n", (what, r))
    # files: an upload the image's programs read, and a command's file downloaded
    blob = os.urandom(1 << 20) + b"\nlast line\n"
    r = k.req("files-1", "PUT", "/api/v1/files/tmp%2Fkit%2Fblob", blob, {"Content-Type": "application/json"})
    check(r.status == 200 and r.json["data"]["new_size"] == len(blob), (what, r))
    res = k.execute("wc -c < /tmp/kit/blob; tail -n 1 /tmp/kit/blob; seq 1 5 > /tmp/kit/five")
    check(res["stdout"].split() == [str(len(blob)), "last", "line"], (what, res))
    r = k.req("files-1", path="/tmp/kit/blob")
    check(r.status == 200 and r.body == blob, (what, r.status, len(r.body)))
    r = k.req("files-1", path="/tmp/kit/blob?hash")
    check(r.status == 200 and r.body == hashlib.sha256(blob).hexdigest().encode(), (what, r))
    r = k.req("files-1", path="/api/v1/files/tmp/kit/five?lines=-2")
    check(r.status == 200 and r.body == b"4\n5\n" and r.headers["X-Line-Range"] == "4-5", (what, r))
    r = k.req("files-1", path="/tmp/kit/?json")
    check(r.status == 200 and sorted(p["name"] for p in r.json["paths"]) == ["blob", "five"], (what, r))

    # the terminal: the image's shell (the login shell of /etc/passwd)
    async def terminal():
        async with k.ws("?terminal_id=5") as ws:
            f = await init(ws)
            check(f[b"4"] == shell.encode() and f[b"3"] == b"5", (what, f))
            await ws.send(b"0echo $((6*7))-$(cat /tmp/kit/five | wc -l)\r")
            await read_until(ws, b"42-5")
    run(terminal())
    # the web terminal page and its assets, served by the agent in this image
    r = k.req("terminal-1", path="/")
    check(r.status == 200 and r.headers["Content-Type"].startswith("text/html") and b"xterm" in r.body,
          (what, r))
    r = k.req("terminal-1", path="/__kit/xterm.js")
    check(r.status == 200 and len(r.body) > 100000 and r.headers["Content-Type"] == "application/javascript",
          (what, r.status, len(r.body)))
    return k


def test_kit_in_every_image():
    ensure_image("debian/12")
    ensure_image("debian/13")
    tmp = tempfile.mkdtemp(prefix="hoody-kit-img-")
    name = "kittest/imported"
    hoodyd_images("rm", name)  # left by a killed run: this run imports afresh
    imported = False
    try:
        r = hoodyd_images("import", name, make_rootfs_tarball(tmp))
        check(r.returncode == 0, f"images import: {r.returncode} {r.stderr}")
        imported = True
        with ProxyDaemon() as d:
            for image, shell, os_id in (("busybox", "sh", "busybox"), ("debian/12", "bash", "debian"),
                                        ("debian/13", "bash", "debian"), (name, "ash", "imported")):
                k = exercise(d, image, shell, os_id)
                if image.startswith("debian"):
                    res = k.execute(". /etc/os-release; echo $VERSION_ID")
                    check(res["stdout"] == image.split("/")[1] + "\n", (image, res))
                if image == name:  # the image's unprivileged user, its home as cwd
                    res = k.execute("id -u; pwd; touch mine; stat -c %u mine", "?user=app")
                    check(res["stdout"] == "1000\n/home/app\n1000\n", res)
                    r = k.req("files-1", path="/api/v1/files/stat/home/app/mine")
                    check(r.status == 200 and r.json["data"]["owner"] == "app", r)
                r = d.delete(f"/api/v1/containers/{k.cid}")
                check(r.status in (200, 202, 204), r)
            d.wait_all_gone()
    finally:
        if imported:
            r = hoodyd_images("rm", name)
            check(r.returncode == 0, f"images rm: {r.stderr}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main([test_kit_in_every_image])
