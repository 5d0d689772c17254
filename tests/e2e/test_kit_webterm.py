"""The web terminal at / of the terminal host, in Debian's headless Chromium
driven over the DevTools protocol (python3-websockets): the page and
xterm.js come from the Kit (no internet), the browser types `echo hi` and
the terminal shows `hi`."""
import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.request

from hoody_test import check, main
from kit_util import Kit, websockets
from proxy_util import DOMAIN, ProxyDaemon

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

SCREEN_JS = """(() => { const t = window.hoodyTerm; if (!t) return null;
  const b = t.buffer.active, out = [];
  for (let i = 0; i < b.length; i++) out.push(b.getLine(i).translateToString(true));
  return JSON.stringify({lines: out, id: window.hoodyTerminalId || null,
                         closed: window.hoodyClosed || null}); })()"""


def start_browser(profile):
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            f"--user-data-dir={profile}", "--remote-debugging-port=0",
            f"--host-resolver-rules=MAP *.{DOMAIN} 127.0.0.1", "about:blank"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = os.path.join(profile, "DevToolsActivePort")
    deadline = time.time() + 60
    while time.time() < deadline and not os.path.exists(port_file):
        check(proc.poll() is None, "chromium exited at start")
        time.sleep(0.1)
    check(os.path.exists(port_file), "chromium never opened its DevTools port")
    with open(port_file) as f:
        port = int(f.read().split()[0])
    return proc, port


class Cdp:
    def __init__(self, ws):
        self.ws = ws
        self.n = 0

    async def call(self, method, **params):
        self.n += 1
        my = self.n
        await self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            m = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if m.get("id") == my:
                check("error" not in m, m)
                return m.get("result", {})

    async def eval(self, expr):
        r = await self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        return r.get("result", {}).get("value")


async def drive(k, devport):
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{devport}/json/list", timeout=10))
    page = [t for t in targets if t["type"] == "page"][0]
    async with websockets.connect(page["webSocketDebuggerUrl"], max_size=None) as ws:
        cdp = Cdp(ws)
        await cdp.call("Network.enable")
        # the owner's claim pair on every request, the WebSocket upgrade included
        await cdp.call("Network.setExtraHTTPHeaders", headers=k.owner)
        url = f"http://{k.host('terminal-1')}:{k.d.proxy_port}/?terminal_id=9"
        await cdp.call("Page.navigate", url=url)
        screen = None
        deadline = time.time() + 60
        while time.time() < deadline:
            raw = await cdp.eval(SCREEN_JS)
            screen = json.loads(raw) if raw else None
            if screen and screen["id"] == "9" and any(l.strip() for l in screen["lines"]):
                break
            await asyncio.sleep(0.1)
        check(screen and screen["id"] == "9", f"the terminal never connected: {screen}")
        await cdp.eval("window.hoodyTerm.focus()")
        await cdp.call("Input.insertText", text="echo hi")
        await cdp.call("Input.dispatchKeyEvent", type="keyDown", key="Enter", code="Enter",
                       windowsVirtualKeyCode=13, text="\r")
        await cdp.call("Input.dispatchKeyEvent", type="keyUp", key="Enter", code="Enter",
                       windowsVirtualKeyCode=13)
        deadline = time.time() + 30
        while time.time() < deadline:
            screen = json.loads(await cdp.eval(SCREEN_JS))
            if "hi" in [l.strip() for l in screen["lines"]]:
                break
            await asyncio.sleep(0.1)
        lines = [l.strip() for l in screen["lines"]]
        check(any(l.endswith("echo hi") for l in lines) and "hi" in lines, screen["lines"][:10])
        # what the browser typed went to the shared session the API sees
        r = k.req("terminal-1", path="/api/v1/terminal/history/9")
        check(r.status == 200 and r.json["data"]["commands"][-1]["command"] == "echo hi", r)
        # a browser without the owner's headers: a token group in the query
        # (README), the same token reaching the WebSocket through ?token=
        await cdp.call("Network.setExtraHTTPHeaders", headers={})
        # as a fresh browser: nothing the owner's visit cached (the page's
        # xterm.js and xterm.css must pass the same token)
        await cdp.call("Network.setCacheDisabled", cacheDisabled=True)
        r = k.d.request("PUT", f"/api/v1/containers/{k.cid}/proxy/permissions",
                        {"groups": {"browser": {"param": "token", "value": "s3cret-browser"}},
                         "permissions": {"browser": {"terminal": True}}},
                        headers={"If-Match": "file:v0"})
        check(r.status == 200, r)
        await cdp.call("Page.navigate", url=url + "&token=wrong")
        await asyncio.sleep(1)
        check(await cdp.eval("window.hoodyTerm ? 1 : 0") == 0, "a wrong token opened the page")
        await cdp.call("Page.navigate", url=url + "&token=s3cret-browser")
        deadline = time.time() + 30
        while time.time() < deadline:
            raw = await cdp.eval(SCREEN_JS)
            screen = json.loads(raw) if raw else None
            if screen and "hi" in [l.strip() for l in screen["lines"]]:
                break
            await asyncio.sleep(0.1)
        check(screen and "hi" in [l.strip() for l in screen["lines"]], f"token reattach: {screen}")


def test_web_terminal_in_chromium():
    with ProxyDaemon() as d:
        k = Kit(d)
        k.wait_ready()
        r = k.req("terminal-1", path="/")
        check(r.status == 200 and b"/__kit/xterm.js" in r.body, r)
        check(b"https://" not in r.body and b"cdn" not in r.body.lower(), "the page fetches from the internet")
        r = k.req("terminal-1", path="/__kit/xterm.js")
        check(r.status == 200 and b"Terminal" in r.body and len(r.body) > 100000, r.status)
        profile = tempfile.mkdtemp(prefix="hoody-chromium-")
        proc, devport = start_browser(profile)
        try:
            asyncio.run(drive(k, devport))
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    main([test_web_terminal_in_chromium])
