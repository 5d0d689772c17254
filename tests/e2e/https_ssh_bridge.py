"""An ssh ProxyCommand that reaches hoodyd's SSH front door through the
hostname proxy's HTTPS listener, like websocat would (docs/SSH.md):

  ssh -o ProxyCommand='python3 https_ssh_bridge.py PORT HOST CAFILE [--token T]
      [--header "K: V"]... [--connect]' root@HOST

Default: a WebSocket upgrade on wss://HOST/ (binary frames); --connect: an
HTTP CONNECT on the same name, then SSH's bytes as they are. The TLS server
name and certificate check use HOST; the TCP connection goes to 127.0.0.1.
Exits 1 with the refusal on stderr when the proxy does not switch."""
import base64
import os
import select
import socket
import ssl
import struct
import sys
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from proxy_util import send_head  # noqa: E402


def frame(payload):
    mask = os.urandom(4)
    n = len(payload)
    hdr = struct.pack("!BB", 0x82, 0x80 | n) if n < 126 else struct.pack("!BBH", 0x82, 0x80 | 126, n)
    return hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class Frames:
    """Server frames (unmasked) from a byte stream."""

    def __init__(self):
        self.buf = b""

    def feed(self, data):
        self.buf += data
        out = []
        while len(self.buf) >= 2:
            op, n, hl = self.buf[0] & 0x0f, self.buf[1] & 0x7f, 2
            if n == 126:
                if len(self.buf) < 4:
                    break
                n, hl = struct.unpack("!H", self.buf[2:4])[0], 4
            elif n == 127:
                if len(self.buf) < 10:
                    break
                n, hl = struct.unpack("!Q", self.buf[2:10])[0], 10
            if len(self.buf) < hl + n:
                break
            out.append((op, self.buf[hl:hl + n]))
            self.buf = self.buf[hl + n:]
        return out


def write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


def main():
    args = sys.argv[1:]
    port, host, cafile = int(args[0]), args[1], args[2]
    token, headers, connect = None, [], False
    i = 3
    while i < len(args):
        if args[i] == "--token":
            token, i = args[i + 1], i + 2
        elif args[i] == "--header":
            headers.append(args[i + 1])
            i += 2
        elif args[i] == "--connect":
            connect, i = True, i + 1
        else:
            sys.exit(f"unknown argument {args[i]}")
    ctx = ssl.create_default_context(cafile=cafile)
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname=host)
    if connect:
        head = send_head(s, [f"CONNECT {host}:22 HTTP/1.1", f"Host: {host}:22"] + headers)
        ok = head.startswith(b"HTTP/1.1 200")
    else:
        path = "/" + ("?token=" + urllib.parse.quote(token) if token else "")
        key = base64.b64encode(os.urandom(16)).decode()
        head = send_head(s, [f"GET {path} HTTP/1.1", f"Host: {host}", "Upgrade: websocket",
                             "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                             "Sec-WebSocket-Version: 13", "Sec-WebSocket-Protocol: binary"] + headers)
        ok = head.startswith(b"HTTP/1.1 101")
    if not ok:
        sys.stderr.write("bridge refused: " + head.decode(errors="replace").split("\r\n")[0] + "\n")
        sys.exit(1)
    s.settimeout(None)
    frames = Frames()
    stdin, stdout = sys.stdin.buffer.raw, sys.stdout.fileno()
    while True:
        ready = [s] if s.pending() else select.select([s, stdin], [], [])[0]
        if stdin in ready:
            data = os.read(stdin.fileno(), 16384)
            if not data:
                return
            s.sendall(data if connect else frame(data))
        if s in ready:
            data = s.recv(65536)
            if not data:
                return
            if connect:
                write_all(stdout, data)
                continue
            for op, payload in frames.feed(data):
                if op == 8:
                    return
                if op in (0, 1, 2):
                    write_all(stdout, payload)


if __name__ == "__main__":
    main()
