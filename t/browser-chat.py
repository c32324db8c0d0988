"""browser-chat.py login|fresh PROXY_PORT OTHER_ORIGIN ARTIFACTS: the demo chat in headless Chromium through proxyd
with the cookie login. Prints one JSON object; t/70browser-chat.t judges it.

login: by path (http://127.0.0.1:PORT/chat/) and by host (http://chat.localhost:PORT/, which Chromium resolves to the
loopback address by itself), page A opens the chat with ?key= (the login), page B in the same browser without it; once
both show they are connected, A sends a message (typed, then the Send button clicked) and B answers. Then a page of
OTHER_ORIGIN (another port of the same host: the same site, so the browser sends the cookie) opens the chat's WebSocket
as a hijacking page would.
fresh: a browser with a new profile, so without the cookie, opens both chats.
"""
import json
import sys

from browser import Browser

mode, port, other_origin, artifacts = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
BASES = {"path": "http://127.0.0.1:%s/chat/" % port, "host": "http://chat.localhost:%s/" % port}
SOCKETS = {"path": "ws://127.0.0.1:%s/chat/chatsocket" % port, "host": "ws://chat.localhost:%s/chatsocket" % port}
CONNECTED = "document.getElementById('status').dataset.state === 'open'"
# what a hijacking page runs: how its own WebSocket to the chat ends
OPEN_SOCKET = """new Promise((resolve) => {
  const ws = new WebSocket(%s);
  ws.onopen = () => { resolve('open'); ws.close(); };
  ws.onclose = (event) => resolve('closed ' + event.code);
})"""


def messages(page):
    return page.eval("[...document.querySelectorAll('#messages li .text')].map((e) => e.textContent)")


def shows(page, text):
    return page.wait("[...document.querySelectorAll('#messages li .text')].some((e) => e.textContent === %s)"
                     % json.dumps(text))


def page_state(page):
    return {
        "url": page.eval("location.href"),
        "status": page.eval("document.getElementById('status').dataset.state"),
        "status_text": page.eval("document.getElementById('status').textContent"),
    }


def chat_pair(browser, how):
    """A logs in with the key, B comes with the cookie alone; each sends, both see."""
    base = BASES[how]
    a = browser.open(base + "?key=supersecret")
    a.wait(CONNECTED)
    cookies = [{k: c[k] for k in ("name", "domain", "path", "httpOnly", "sameSite")} for c in a.cookies()]
    b = browser.open(base)
    b.wait(CONNECTED)
    sent_a, sent_b = "hello from A, by %s" % how, "hello back from B, by %s" % how
    a.type("#message", sent_a)
    a.click("#send")
    shows(b, sent_a)
    shows(a, sent_a)
    input_after = a.eval("document.getElementById('message').value")
    b.type("#message", sent_b)
    b.click("#send")
    shows(a, sent_b)
    shows(b, sent_b)
    a.screenshot("chat-%s-a.png" % how)
    b.screenshot("chat-%s-b.png" % how)
    return {
        "a": dict(page_state(a), messages=messages(a), errors=a.errors, input_after_send=input_after),
        "b": dict(page_state(b), messages=messages(b), errors=b.errors),
        "cookies": cookies,
    }


def hijack(browser):
    """A page of another origin opens the chat's WebSockets with the visitor's cookie (if the browser sends it)."""
    page = browser.open(other_origin)
    seen = {how: page.eval(OPEN_SOCKET % json.dumps(SOCKETS[how])) for how in ("path", "host")}
    page.eval("document.body.innerText = %s" % json.dumps(
        "A page of %s opened the chat's WebSockets:\n%s" % (other_origin, json.dumps(seen, indent=2))))
    page.screenshot("hijack.png")
    return {"origin": page.eval("location.origin"), "result": seen, "errors": page.errors}


def fresh(browser):
    """No cookie: the pages are 401, and the chat's WebSocket too."""
    seen = {}
    for how in ("path", "host"):
        page = browser.open(BASES[how])
        seen[how] = {
            "text": page.eval("document.body.innerText"),
            "has_chat": page.eval("document.getElementById('messages') !== null"),
            "socket": page.eval(OPEN_SOCKET % json.dumps(SOCKETS[how])),
            "errors": page.errors,
            "cookies": page.cookies(),
        }
        page.screenshot("fresh-%s.png" % how)
    return seen


with Browser(artifacts) as browser:
    if mode == "login":
        result = {how: chat_pair(browser, how) for how in ("path", "host")}
        result["hijack"] = hijack(browser)
    else:
        result = fresh(browser)
print(json.dumps(result))
