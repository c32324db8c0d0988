"""browser.py: headless Chromium driven over its DevTools protocol, for the page tests.

A test scenario (a small script next to the .t file that runs it) does:

    with Browser(artifacts) as browser:
        page = browser.open("http://127.0.0.1:8080/chat/?key=...")
        page.wait("document.querySelector('#log') !== null")
        page.type("#message", "hello")
        page.click("#send")
        page.screenshot("chat.png")
        errors = page.errors          # console errors, exceptions, failed loads

and prints what it saw as one JSON object, on which the .t file asserts.

Chromium runs in its own process group with a fresh profile folder; the group
is killed when the Browser is left, also on an exception or a signal, so no
renderer outlives the test. Only python3-websockets is needed besides chromium.
"""

import asyncio
import base64
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import websockets

CHROMIUM = os.environ.get("PROXYD_CHROMIUM", "chromium")


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, artifacts, args=()):
        self.artifacts = artifacts
        self.extra_args = list(args)
        self.loop = asyncio.new_event_loop()
        self.proc = None
        self.profile = None
        self.ws = None
        self.next_id = 0
        self.pending = {}  # command id -> future
        self.sessions = {}  # session id -> Page, for its events
        self.reader = None

    # ---- lifetime ----

    def __enter__(self):
        os.makedirs(self.artifacts, exist_ok=True)
        self.profile = tempfile.mkdtemp(prefix="proxyd-chromium-")
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, self._on_signal)
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--no-default-browser-check", "--disable-extensions", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-proxy-server",
             "--remote-debugging-port=0", "--remote-allow-origins=*",
             "--user-data-dir=" + self.profile, "--window-size=1200,900"]
            + self.extra_args + ["about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.loop.run_until_complete(self._connect())
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _on_signal(self, signum, frame):
        self.close()
        sys.exit(128 + signum)

    def close(self):
        if self.ws is not None:
            try:
                self.loop.run_until_complete(asyncio.wait_for(self.ws.close(), 2))
            except Exception:
                pass
            self.ws = None
        if self.reader is not None:
            self.reader.cancel()
            try:
                self.loop.run_until_complete(self.reader)
            except BaseException:
                pass
            self.reader = None
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the group we started: browser and renderers
            except ProcessLookupError:
                pass
            self.proc.wait()
            self.proc = None
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None

    async def _connect(self):
        """Chromium writes its port and the browser target's path into the profile."""
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise BrowserError("chromium exited with status %d" % self.proc.returncode)
            try:
                with open(port_file) as f:
                    lines = f.read().split("\n")
                if len(lines) >= 2 and lines[1]:
                    break
            except FileNotFoundError:
                pass
            if time.monotonic() > deadline:
                raise BrowserError("chromium did not open its DevTools port")
            await asyncio.sleep(0.05)
        url = "ws://127.0.0.1:%s%s" % (lines[0].strip(), lines[1].strip())
        self.ws = await websockets.connect(url, max_size=64 * 1024 * 1024, ping_interval=None)
        self.reader = self.loop.create_task(self._read())

    async def _read(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            if "id" in msg:
                fut = self.pending.pop(msg["id"], None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            elif msg.get("sessionId") in self.sessions:
                self.sessions[msg["sessionId"]]._on_event(msg["method"], msg.get("params", {}))

    # ---- commands ----

    async def _call(self, method, params=None, session=None, timeout=30):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session is not None:
            msg["sessionId"] = session
        fut = self.loop.create_future()
        self.pending[self.next_id] = fut
        await self.ws.send(json.dumps(msg))
        reply = await asyncio.wait_for(fut, timeout)
        if "error" in reply:
            raise BrowserError("%s: %s" % (method, reply["error"].get("message")))
        return reply.get("result", {})

    def call(self, method, params=None, session=None, timeout=30):
        return self.loop.run_until_complete(self._call(method, params, session, timeout))

    def sleep(self, seconds):
        """Lets events arrive while the test waits."""
        self.loop.run_until_complete(asyncio.sleep(seconds))

    def open(self, url, wait_load=True):
        """A new tab showing `url`; returns once it loaded (or with wait_load=False, at once)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        self.sessions[session] = page
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable", session=session)
        page.goto(url, wait_load)
        return page


class Page:
    def __init__(self, browser, target, session):
        self.browser = browser
        self.target = target
        self.session = session
        self.errors = []  # console errors, uncaught exceptions, failed loads: what a user's console shows
        self.console = []  # every console message, for diagnosis
        self.loaded = False

    def _on_event(self, method, params):
        if method == "Page.loadEventFired":
            self.loaded = True
        elif method == "Runtime.consoleAPICalled":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", []))
            self.console.append("%s: %s" % (params.get("type"), text))
            if params.get("type") in ("error", "assert"):
                self.errors.append("console.%s: %s" % (params.get("type"), text))
        elif method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.errors.append("exception: %s" % d.get("exception", {}).get("description", d.get("text")))
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            # the browser's own favicon fetch is not the page's doing
            if entry.get("level") == "error" and not entry.get("url", "").endswith("/favicon.ico"):
                self.errors.append("%s: %s %s" % (entry.get("source"), entry.get("text"), entry.get("url", "")))

    def call(self, method, params=None, timeout=30):
        return self.browser.call(method, params, self.session, timeout)

    def goto(self, url, wait_load=True, timeout=30):
        self.loaded = False
        nav = self.call("Page.navigate", {"url": url})
        if nav.get("errorText"):
            raise BrowserError("navigating to %s: %s" % (url, nav["errorText"]))
        if wait_load:
            deadline = time.monotonic() + timeout
            while not self.loaded:
                if time.monotonic() > deadline:
                    raise BrowserError("%s did not load" % url)
                self.browser.sleep(0.05)

    def eval(self, expression, timeout=30):
        """The value of a JavaScript expression (awaited when it is a promise)."""
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True, "awaitPromise": True},
                      timeout)
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise BrowserError("%s: %s" % (expression, d.get("exception", {}).get("description", d.get("text"))))
        return r.get("result", {}).get("value")

    def wait(self, expression, timeout=20):
        """Waits until `expression` is truthy; returns its value, or raises naming it."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.eval(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise BrowserError("timed out waiting for: " + expression)
            self.browser.sleep(0.1)

    def type(self, selector, text):
        """Focuses the element and types `text` as key events, as a user would."""
        self.eval("document.querySelector(%s).focus()" % json.dumps(selector))
        self.call("Input.insertText", {"text": text})

    def click(self, selector):
        """A real mouse click at the element's centre."""
        box = self.eval("(() => { const r = document.querySelector(%s).getBoundingClientRect();"
                        " return [r.x + r.width / 2, r.y + r.height / 2]; })()" % json.dumps(selector))
        for kind in ("mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent",
                      {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1})

    def cookies(self):
        return self.call("Network.getCookies").get("cookies", [])

    def screenshot(self, name):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        path = os.path.join(self.browser.artifacts, name)
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        self.browser.call("Target.closeTarget", {"targetId": self.target})
        self.browser.sessions.pop(self.session, None)
