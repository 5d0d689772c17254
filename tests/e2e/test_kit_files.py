"""The Kit's files, system and exec services through the proxy
(kit-api.md §5, §4.6, §6; docs/KIT.md): a 100 MiB upload sent with
Content-Type: application/json, downloaded back and compared; Range; both
path encodings; listings; mkdir 409; move, copy, delete; WebDAV verbs;
tar download; hostile paths; processes, ports, signal; exec scripts."""
import base64
import hashlib
import io
import json
import os
import socket
import tarfile
import time
import urllib.parse

from hoody_test import check, main
from kit_util import Kit
from proxy_util import ProxyDaemon, request


def stream_upload(d, k, path, size, headers):
    """PUT of size pseudo-random bytes, sent in pieces; returns (reply, sha256)."""
    h = hashlib.sha256()
    s = socket.create_connection(("127.0.0.1", d.proxy_port), timeout=300)
    head = [f"PUT {path} HTTP/1.1", f"Host: {k.host('files-1')}", f"Content-Length: {size}",
            "Connection: close"] + [f"{a}: {b}" for a, b in dict(k.owner, **headers).items()]
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    block = os.urandom(1 << 20)
    left = size
    i = 0
    while left:
        chunk = bytes([i & 0xff]) + block[1:min(len(block), left)]
        h.update(chunk)
        s.sendall(chunk)
        left -= len(chunk)
        i += 1
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        out += b
    s.close()
    return out, h.hexdigest()


def stream_download_sha(d, k, path):
    s = socket.create_connection(("127.0.0.1", d.proxy_port), timeout=300)
    head = [f"GET {path} HTTP/1.1", f"Host: {k.host('files-1')}", "Connection: close"] + \
        [f"{a}: {b}" for a, b in k.owner.items()]
    s.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    hd, _, rest = buf.partition(b"\r\n\r\n")
    h = hashlib.sha256(rest)
    n = len(rest)
    while True:
        b = s.recv(1 << 20)
        if not b:
            break
        h.update(b)
        n += len(b)
    s.close()
    return hd.decode(), n, h.hexdigest()


def test_files():
    with ProxyDaemon() as d:
        k = Kit(d)
        k.wait_ready()
        size = 100 << 20
        out, sha = stream_upload(d, k, "/api/v1/files/tmp%2Fbig%2Fblob.bin", size,
                                 {"Content-Type": "application/json"})
        check(out.startswith(b"HTTP/1.1 200"), out[:300])
        check(json.loads(out.partition(b"\r\n\r\n")[2])["data"]["new_size"] == size, out[-300:])
        head, n, sha2 = stream_download_sha(d, k, "/tmp/big/blob.bin")
        check(head.startswith("HTTP/1.1 200") and n == size and sha2 == sha, (head, n))
        # Range: middle, suffix, unsatisfiable
        r = k.req("files-1", path="/tmp/big/blob.bin", headers={"Range": "bytes=1048576-1048579"})
        check(r.status == 206 and len(r.body) == 4 and r.body[0] == 1, r)
        check(r.headers["Content-Range"] == f"bytes 1048576-1048579/{size}", r.headers)
        r = k.req("files-1", path="/tmp/big/blob.bin", headers={"Range": "bytes=-10"})
        check(r.status == 206 and len(r.body) == 10, r)
        r = k.req("files-1", path="/tmp/big/blob.bin", headers={"Range": f"bytes={size}-"})
        check(r.status == 416, r)
        # both path encodings, REST and root
        for p in ("/api/v1/files/tmp/t/a.txt", "/api/v1/files/%2Ftmp%2Ft%2Fb.txt", "//tmp/t/c.txt"):
            r = k.req("files-1", "PUT", p, b"hello " + p.encode(), {"Content-Type": "application/json"})
            check(r.status in (200, 201), (p, r))
        r = k.req("files-1", path="/api/v1/files/tmp%2Ft")
        names = sorted(x["name"] for x in r.json["data"]["paths"])
        check(r.status == 200 and names == ["a.txt", "b.txt", "c.txt"], r)
        r = k.req("files-1", path="/tmp/t/?json")
        check(r.status == 200 and r.json["kind"] == "Index" and len(r.json["paths"]) == 3, r)
        e = [x for x in r.json["paths"] if x["name"] == "a.txt"][0]
        check(e["path_type"] == "File" and e["mtime"] > 1e12, e)  # ms
        r = k.req("files-1", path="/api/v1/files/stat/tmp/t/a.txt")
        check(r.status == 200 and r.json["data"]["size"] == len(b"hello /api/v1/files/tmp/t/a.txt"), r)
        check(r.json["data"]["mtime"] < 1e11 and r.json["data"]["owner"] == "root", r)  # s
        r = k.req("files-1", path="/api/v1/files/tmp/t/b.txt")
        check(r.body == b"hello /api/v1/files/%2Ftmp%2Ft%2Fb.txt", r)
        r = k.req("files-1", "PUT", "/api/v1/files/tmp/t/a.txt?append", b"+more")
        check(r.status == 200 and k.req("files-1", path="/tmp/t/a.txt").body.endswith(b"+more"), r)
        # mkdir: 201 then 409; MKCOL 201 then 405
        r = k.req("files-1", "POST", "/api/v1/files/tmp/t/d1?mkdir")
        check(r.status == 201, r)
        r = k.req("files-1", "POST", "/api/v1/files/tmp/t/d1?mkdir")
        check(r.status == 409, r)
        r = k.req("files-1", "MKCOL", "/tmp/t/d2")
        check(r.status == 201, r)
        r = k.req("files-1", "MKCOL", "/tmp/t/d2")
        check(r.status == 405, r)
        r = k.req("files-1", "MKCOL", "/tmp/nope/d3")
        check(r.status == 409, r)
        # move / copy (REST and WebDAV)
        r = k.req("files-1", "POST", "/api/v1/files/move/tmp/t/a.txt?move_to=/tmp/t/d1/a2.txt")
        check(r.status == 200 and r.json["data"]["destination"] == "/tmp/t/d1/a2.txt", r)
        r = k.req("files-1", "POST", "/api/v1/files/copy/tmp/t/d1?copy_to=/tmp/t/d1copy")
        check(r.status == 200, r)
        check(k.req("files-1", path="/tmp/t/d1copy/a2.txt").body.endswith(b"+more"), "copy")
        r = k.req("files-1", "POST", "/api/v1/files/copy/tmp/t/d1?copy_to=/tmp/t/d1copy")
        check(r.status == 412, r)
        r = k.req("files-1", "COPY", "/tmp/t/c.txt", headers={"Destination": f"http://{k.host('files-1')}/tmp/t/d2/c.txt"})
        check(r.status == 201, r)
        r = k.req("files-1", "MOVE", "/tmp/t/c.txt", headers={"Destination": "/tmp/t/d2/c.txt", "Overwrite": "F"})
        check(r.status == 412, r)
        r = k.req("files-1", "MOVE", "/tmp/t/c.txt", headers={"Destination": "/tmp/t/d2/c.txt"})
        check(r.status == 204, r)
        r = k.req("files-1", "MOVE", "/tmp/t/d2", headers={"Destination": "/tmp/t/d2/inside"})
        check(r.status == 403, r)
        # WebDAV discovery
        r = k.req("files-1", "OPTIONS", "/tmp/t")
        check(r.status == 200 and "1" in r.headers["DAV"] and "PROPFIND" in r.headers["Allow"], r.headers)
        r = k.req("files-1", "PROPFIND", "/tmp/t", headers={"Depth": "1"})
        check(r.status == 207 and r.body.count(b"<D:response>") == 5, r)  # t + d1 d1copy d2 b.txt
        check(b"<D:collection/>" in r.body and b"/tmp/t/b.txt" in r.body, r)
        r = k.req("files-1", "PROPFIND", "/tmp/t/b.txt", headers={"Depth": "0"})
        check(r.status == 207 and r.body.count(b"<D:response>") == 1 and b"getcontentlength" in r.body, r)
        r = k.req("files-1", "PROPFIND", "/tmp/none", headers={"Depth": "0"})
        check(r.status == 404, r)
        # tar of a directory
        r = k.req("files-1", path="/tmp/t?tar")
        check(r.status == 200 and r.headers["Content-Type"] == "application/x-tar", r.headers)
        names = tarfile.open(fileobj=io.BytesIO(r.body)).getnames()
        check("d1copy/a2.txt" in names and "d2/c.txt" in names, names)
        # HEAD, delete (recursive), missing
        # ?hash / ?sha256 stream the whole 100 MiB through SHA-256
        r = k.req("files-1", path="/tmp/big/blob.bin?hash")
        check(r.status == 200 and r.body == sha.encode(), (r, sha))
        r = k.req("files-1", path="/api/v1/files/tmp%2Fbig%2Fblob.bin?sha256=")
        check(r.status == 200 and r.body == sha.encode(), (r, sha))
        r = k.req("files-1", "HEAD", "/tmp/big/blob.bin")
        check(r.status == 200 and r.headers["Content-Length"] == str(size) and r.body == b"", r)
        r = k.req("files-1", "DELETE", "/tmp/t")
        check(r.status == 200 and r.json["success"] is True, r)
        check(k.req("files-1", path="/tmp/t/b.txt").status == 404, "deleted")
        r = k.req("files-1", "DELETE", "/api/v1/files/tmp/big/blob.bin")
        check(r.status == 200, r)
        # hostile paths: climbing out, the root itself, an encoded NUL
        for p in ("/../../etc/passwd", "/api/v1/files/..%2F..%2Fetc"):
            r = k.req("files-1", path=p)
            check(r.status in (400, 403, 404) or (r.status == 200 and b"root:" not in r.body), (p, r))
        r = k.req("files-1", "GET", "/api/v1/files/%2E%2E%2F%2E%2E")
        check(r.status == 403, r)
        check(k.req("files-1", "DELETE", "/").status == 403, "root delete")
        check(k.req("files-1", path="/tmp/a%00b").status == 400, "NUL")
        r = k.req("files-1", "POST", "/api/v1/files/move/tmp?move_to=")
        check(r.status == 400, r)


def lines(k, spec, path="/api/v1/files/tmp/l/ten.txt"):
    return k.req("files-1", path=f"{path}?lines={urllib.parse.quote(spec)}")


def check_lines(r, body, first_last, total=None):
    check(r.status == 200 and r.body == body, (r, body))
    check(r.headers["Content-Type"].startswith("text/plain"), r.headers)
    check(r.headers["X-Line-Range"] == first_last, (r.headers["X-Line-Range"], first_last))
    check(r.headers.get("X-Total-Lines") == (None if total is None else str(total)),
          (r.headers.get("X-Total-Lines"), total))


def test_lines_and_hash():
    """?lines= of the REST family (kit-api.md §5.1: 10-50, 100, -20, 50-;
    text/plain, X-Line-Range, X-Total-Lines when the scan reached the end;
    at most 100 000 lines or 64 MiB), ?hash/?sha256 and ?base64 on both
    families."""
    with ProxyDaemon() as d:
        k = Kit(d)
        k.wait_ready()
        ten = "".join(f"line {i}\n" for i in range(1, 10)) + "line 10"  # no final newline
        check(k.req("files-1", "PUT", "/api/v1/files/tmp/l/ten.txt", ten.encode()).status == 200, "put")
        check(k.req("files-1", "PUT", "/api/v1/files/tmp/l/empty.txt", b"").status == 200, "put")
        check_lines(lines(k, "3-5"), b"line 3\nline 4\nline 5\n", "3-5")
        check_lines(lines(k, "4"), b"line 4\n", "4-4")
        check_lines(lines(k, "-3"), b"line 8\nline 9\nline 10", "8-10", 10)
        check_lines(lines(k, "8-"), b"line 8\nline 9\nline 10", "8-10", 10)
        check_lines(lines(k, "9-50"), b"line 9\nline 10", "9-10", 10)
        check_lines(lines(k, "10"), b"line 10", "10-10", 10)  # the span ends the file
        check_lines(lines(k, "-50"), ten.encode(), "1-10", 10)
        check_lines(lines(k, "2", "/api/v1/files/%2Ftmp%2Fl%2Ften.txt"), b"line 2\n", "2-2")
        r = k.req("files-1", "PUT", "/api/v1/files/tmp/l/nl.txt", b"a\nb\n")
        check_lines(lines(k, "2-", "/api/v1/files/tmp/l/nl.txt"), b"b\n", "2-2", 2)
        check_lines(lines(k, "-5", "/api/v1/files/tmp/l/empty.txt"), b"", "0-0", 0)
        r = k.req("files-1", "HEAD", "/api/v1/files/tmp/l/ten.txt?lines=1-2")
        check(r.status == 200 and r.headers["Content-Length"] == "14" and r.body == b"", r)
        # past the end: 416 with the count; a flag value of the root family is not lines
        for spec, path in (("11", "ten.txt"), ("11-12", "ten.txt"), ("1", "empty.txt")):
            r = lines(k, spec, "/api/v1/files/tmp/l/" + path)
            check(r.status == 416 and "past the end" in r.json["message"], (spec, r))
        # bad input: 400 with the reason, nothing read
        for spec in ("", "0", "0-3", "5-3", "abc", "1-2-3", "--3", "3--", " 3", "1-100001", "-100001",
                     "1" * 16, "-0", "2-x"):
            r = lines(k, spec)
            msg = (r.json or {}).get("message", "")
            check(r.status == 400 and r.json["success"] is False and ("lines" in msg or "100000" in msg),
                  (spec, r))
        r = lines(k, "1" * 60)
        check(r.status == 400, r)
        for path, status in (("/api/v1/files/tmp/l", 400), ("/api/v1/files/tmp/l/none", 404),
                             ("/api/v1/files/dev/zero", 400), ("/api/v1/files/dev/null", 400)):
            r = lines(k, "1", path)
            check(r.status == status, (path, r))
        for q in ("lines=1&hash", "hash&base64", "lines=1&base64=true"):
            r = k.req("files-1", path="/api/v1/files/tmp/l/ten.txt?" + q)
            check(r.status == 400 and "combined" in r.json["message"], (q, r))
        # the limits: 100 000 lines for an open end, 64 MiB of bytes
        res = k.execute("seq 1 100005 > /tmp/l/many.txt; cd /tmp/l; "
                        "for n in 26214400 26214400 20971520; do head -c $n /dev/zero | tr '\\0' a; echo; done > wide.txt; "
                        "head -c 70000000 /dev/zero | tr '\\0' b > one.txt; echo ok")
        check(res["stdout"] == "ok\n", res)
        r = lines(k, "1-", "/api/v1/files/tmp/l/many.txt")
        check(r.status == 200 and r.headers["X-Line-Range"] == "1-100000" and "X-Total-Lines" not in r.headers, r.headers)
        check(r.body == "".join(f"{i}\n" for i in range(1, 100001)).encode(), "the first 100000 lines")
        check_lines(lines(k, "100001-", "/api/v1/files/tmp/l/many.txt"), b"100001\n100002\n100003\n100004\n100005\n",
                    "100001-100005", 100005)
        check_lines(lines(k, "-2", "/api/v1/files/tmp/l/many.txt"), b"100004\n100005\n", "100004-100005", 100005)
        r = lines(k, "1-3", "/api/v1/files/tmp/l/wide.txt")  # the third line would pass 64 MiB
        check(r.status == 200 and r.headers["X-Line-Range"] == "1-2" and len(r.body) == 2 * 26214401, r.headers)
        check_lines(lines(k, "-1", "/api/v1/files/tmp/l/wide.txt"), b"a" * 20971520 + b"\n", "3-3", 3)
        r = lines(k, "-3", "/api/v1/files/tmp/l/wide.txt")
        check(r.status == 413, r)
        r = lines(k, "1", "/api/v1/files/tmp/l/one.txt")
        check(r.status == 413, r)
        # hash: known digests, both families, the flag's false value, Range ignored
        abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        check(k.req("files-1", "PUT", "/tmp/l/abc", b"abc").status == 201, "put abc")
        for path in ("/tmp/l/abc?hash", "/tmp/l/abc?sha256", "/api/v1/files/tmp/l/abc?hash=1",
                     "/%2Ftmp%2Fl%2Fabc?hash"):
            r = k.req("files-1", path=path, headers={"Range": "bytes=0-0"})
            check(r.status == 200 and r.body == abc.encode() and r.headers["Content-Type"].startswith("text/plain"), (path, r))
        r = k.req("files-1", path="/tmp/l/empty.txt?hash")
        check(r.status == 200 and r.body == empty.encode(), r)
        r = k.req("files-1", path="/tmp/l/abc?hash=false")
        check(r.status == 200 and r.body == b"abc", r)
        for path, status in (("/tmp/l?hash", 400), ("/tmp/l/none?hash", 404), ("/dev/zero?hash", 400),
                             ("/api/v1/files/tmp/l?sha256", 400), ("/../etc/passwd?hash", 403),
                             ("/tmp/l?base64", 400), ("/dev/zero?base64", 400), ("/tmp/l/none?base64", 404)):
            r = k.req("files-1", path=path)
            check(r.status == status, (path, r))
        # base64 (kit-api.md §5.1): both families, streamed in blocks (many.txt spans twelve)
        many = "".join(f"{i}\n" for i in range(1, 100006)).encode()
        for path, raw in (("/tmp/l/abc?base64", b"abc"), ("/api/v1/files/tmp/l/ten.txt?base64=1", ten.encode()),
                          ("/tmp/l/empty.txt?base64", b""), ("/api/v1/files/tmp/l/many.txt?base64", many)):
            r = k.req("files-1", path=path)
            check(r.status == 200 and r.body == base64.b64encode(raw), (path, r.status, r.body[:80]))
        r = k.req("files-1", "HEAD", "/tmp/l/many.txt?base64")
        check(r.status == 200 and r.headers["Content-Length"] == str(len(base64.b64encode(many))) and r.body == b"", r)


def test_system_and_exec():
    with ProxyDaemon() as d:
        k = Kit(d)
        k.wait_ready()
        res = k.execute("sleep 300 >/dev/null 2>&1 & busybox httpd -p 7777 & echo ok", wait=True)
        check(res["stdout"] == "ok\n", res)
        r = k.req("terminal-1", path="/api/v1/system/processes?filter=sleep")
        check(r.status == 200 and [p["name"] for p in r.json["data"]] == ["sleep"], r)
        r = k.req("terminal-1", path="/api/v1/system/processes?sort=memory&limit=2")
        check(r.status == 200 and len(r.json["data"]) == 2, r)
        check(k.req("terminal-1", path="/api/v1/system/processes?sort=bogus").status == 400, "sort")
        deadline = time.time() + 10
        while time.time() < deadline:
            r = k.req("terminal-1", path="/api/v1/system/ports?protocol=tcp")
            if any(p["port"] == 7777 for p in r.json["data"]):
                break
            time.sleep(0.1)
        p = [p for p in r.json["data"] if p["port"] == 7777]
        check(p and p[0]["program"] == "busybox" and "httpd" in p[0]["args"], r)
        r = k.req("terminal-1", path="/api/v1/system/resources")
        check(r.status == 200 and r.json["data"]["memory"]["total"] > 0 and r.json["data"]["disk"]["total"] > 0, r)
        r = k.req("terminal-1", "POST", "/api/v1/system/process/signal", {"name": "sleep", "signal": "SIGTERM"})
        check(r.status == 200 and r.json["data"]["signaled"] == 1, r)
        r = k.req("terminal-1", "POST", "/api/v1/system/process/signal", {"pid": 1, "name": "x"})
        check(r.status == 400, r)
        r = k.req("terminal-1", "POST", "/api/v1/system/process/signal", {"name": "nothing-like-this"})
        check(r.status == 404, r)
        for svc in ("terminal", "files", "exec"):
            r = k.req(f"{svc}-1", path=f"/api/v1/{svc}/health")
            data = r.json["data"]
            check(r.status == 200 and data["service"] == svc, r)
            check(set(data) == {"status", "service", "built", "started", "memory", "fds", "pid", "ip", "userAgent"}, data)
        # exec: scripts written through the files service become endpoints
        scripts = {"/hoody/exec/scripts/hello.sh": b'echo "{\\"q\\":\\"$QUERY_STRING\\"}"\n',
                   "/hoody/exec/scripts/users/[id].sh": b'echo "user=$HOODY_PARAM_id method=$REQUEST_METHOD body=$(cat)"\n',
                   "/hoody/exec/scripts/docs/[...slug].sh": b'printf "Status: 201\\nContent-Type: text/x-doc\\n\\n%s" "$HOODY_PARAM_slug"\n',
                   "/hoody/exec/scripts/fail.sh": b"echo bad >&2; exit 4\n",
                   "/hoody/exec/scripts/app.js": b"console.log('js')\n"}
        for path, body in scripts.items():
            r = k.req("files-1", "PUT", "/api/v1/files" + urllib.parse.quote(path), body)
            check(r.status == 200, r)
        r = k.req("exec-1", path="/hello?a=1")
        check(r.status == 200 and r.json == {"q": "a=1"} and r.headers["Content-Type"] == "application/json", r)
        r = k.req("exec-1", "POST", "/users/42", b"payload")
        check(r.status == 200 and r.body == b"user=42 method=POST body=payload\n", r)
        r = k.req("exec-1", path="/docs/a/b")
        check(r.status == 201 and r.body == b"a/b" and r.headers["Content-Type"] == "text/x-doc", r)
        r = k.req("exec-1", path="/fail")
        check(r.status == 500 and r.json["data"]["stderr"] == "bad\n" and r.json["data"]["exit_code"] == 4, r)
        r = k.req("exec-1", path="/app")
        check(r.status == 501, r)  # busybox has no node
        check(k.req("exec-1", path="/missing").status == 404, "missing")
        check(k.req("exec-1", path="/../etc/passwd").status == 404, "climb")
        r = k.req("exec-1", path="/api/v1/exec/user-openapi/list")
        routes = sorted(s["routePath"] for s in r.json["data"]["scripts"])
        check(routes == ["/app", "/docs/{slug*}", "/fail", "/hello", "/users/{id}"], routes)


if __name__ == "__main__":
    main([test_files, test_lines_and_hash, test_system_and_exec])
