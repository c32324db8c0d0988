"""browser-dashboard.py ARTIFACTS: headless Chromium on the admin dashboard, driven one command at a time.

Reads one JSON command a line on stdin and answers each with one JSON line on
stdout, so that the test (t/PageDriver.pm) can send traffic, edit files and
restart proxyd between the steps and assert on what the page shows:

    {"op": "open", "url": "...", "scripts": true}   a new tab (scripts false: as before its script ran)
    {"op": "fill", "selector": "#token", "text": "..."}   clears the input and types as a user
    {"op": "click", "selector": "#connect"}          a real mouse click
    {"op": "enter", "selector": "#token"}            Enter pressed in that input
    {"op": "state"}                                  what the dashboard shows (see STATE)
    {"op": "chart", "service": "one"}                the pixels of that service's chart
    {"op": "eval", "expr": "..."}                    any expression's value
    {"op": "screenshot", "name": "x.png"}
    {"op": "errors", "settle": 0.3}                  just the errors, after letting events arrive

Every answer carries "errors": the console errors, exceptions and failed loads
seen since the previous answer. At the end of its input the browser is closed.
"""
import json
import sys

from browser import Browser, BrowserError

# Everything the tests look at, read in one evaluation.
STATE = r"""(() => {
  const $ = (id) => document.getElementById(id);
  const text = (id) => ($(id) ? $(id).textContent : null);
  const rows = [...document.querySelectorAll('#services tbody tr')].map((tr) => {
    const row = { service: tr.dataset.service, errors: tr.classList.contains('errors') };
    tr.querySelectorAll('td[data-field]').forEach((td) => { row[td.dataset.field] = td.textContent; });
    return row;
  });
  const tiles = {};
  document.querySelectorAll('#summary strong').forEach((s) => { tiles[s.id] = s.textContent; });
  const form = {};
  document.querySelectorAll('#edit-form input').forEach((i) => { form[i.id] = i.type === 'checkbox' ? i.checked : i.value; });
  const storage = (s) => { const o = {}; for (let i = 0; i < s.length; i++) o[s.key(i)] = s.getItem(s.key(i)); return o; };
  return {
    status: $('status').dataset.state, status_text: text('status'),
    login_visible: !$('login-section').hidden, dashboard_visible: !$('dashboard').hidden,
    stale: $('dashboard').classList.contains('stale'),
    login_error: text('login-error'), token_input: $('token').value, version: text('version'), tiles, rows,
    events: [...document.querySelectorAll('#events li')].map((li) => ({ cause: li.dataset.cause,
      version: li.dataset.version, text: li.textContent })),
    edit_title: text('edit-title'), edit_error: text('edit-error'), edit_message: text('edit-message'), form,
    invalid: [...document.querySelectorAll('#edit-form input.invalid')].map((i) => i.id),
    href: location.href, local_storage: storage(localStorage), session_storage: storage(sessionStorage),
    cookie: document.cookie,
  };
})()"""

# Pixels of a chart by kind: the blue requests line (upper and lower half), the red 5xx bars, anything drawn.
CHART = r"""((name) => {
  const c = document.querySelector('#services tr[data-service="' + CSS.escape(name) + '"] canvas');
  if (!c) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const out = { width: c.width, height: c.height, ink: 0, blue_top: 0, blue_bottom: 0, red: 0 };
  for (let i = 0; i < d.length; i += 4) {
    if (d[i + 3] === 0) continue;
    out.ink++;
    const top = Math.floor(i / 4 / c.width) < c.height / 2;
    if (d[i + 2] > d[i] + 60 && d[i + 2] > d[i + 1]) out[top ? 'blue_top' : 'blue_bottom']++;
    else if (d[i] > d[i + 2] + 60 && d[i] > d[i + 1] + 60) out.red++;
  }
  return out;
})"""


def run(browser, page, cmd):
    op = cmd["op"]
    if op == "open":
        if page is not None:
            page.close()
        page = browser.open("about:blank")
        if not cmd.get("scripts", True):
            page.call("Emulation.setScriptExecutionDisabled", {"value": True})
        page.goto(cmd["url"])
        return page, {}
    if page is None:
        raise BrowserError("no page open")
    if op == "fill":
        page.eval("(() => { const i = document.querySelector(%s); i.value = ''; })()" % json.dumps(cmd["selector"]))
        page.type(cmd["selector"], cmd["text"])
        return page, {}
    if op == "click":
        page.click(cmd["selector"])
        return page, {}
    if op == "enter":
        page.eval("document.querySelector(%s).focus()" % json.dumps(cmd["selector"]))
        for kind in ("keyDown", "keyUp"):
            page.call("Input.dispatchKeyEvent", {"type": kind, "key": "Enter", "code": "Enter",
                                                 "windowsVirtualKeyCode": 13, "text": "\r"})
        return page, {}
    if op == "state":
        return page, {"value": page.eval(STATE)}
    if op == "chart":
        return page, {"value": page.eval("%s(%s)" % (CHART, json.dumps(cmd["service"])))}
    if op == "eval":
        return page, {"value": page.eval(cmd["expr"])}
    if op == "screenshot":
        return page, {"path": page.screenshot(cmd["name"])}
    if op == "errors":
        browser.sleep(cmd.get("settle", 0.3))
        return page, {}
    raise BrowserError("unknown op " + op)


def main():
    artifacts = sys.argv[1]
    page = None
    with Browser(artifacts) as browser:
        for line in sys.stdin:
            try:
                page, answer = run(browser, page, json.loads(line))
            except (BrowserError, KeyError, ValueError, TimeoutError) as e:
                answer = {"error": "%s: %s" % (type(e).__name__, e)}
            browser.sleep(0.01)  # events that came with the answer
            answer["errors"] = page.errors[:] if page is not None else []
            if page is not None:
                page.errors.clear()
            print(json.dumps(answer), flush=True)


main()
