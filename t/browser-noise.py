"""browser-noise.py PROXY_PORT ARTIFACTS: the demo noise meter in headless Chromium through proxyd with the cookie login,
by path (http://127.0.0.1:PORT/noise/) and by host (http://noise.localhost:PORT/). The watcher page logs in with ?key=,
the producer page comes in another tab with the cookie alone; headless Chromium has no microphone, so the producer sends
its generated signal. Then the watcher's tab is brought to the front, the producer's goes to the background (where
Chromium runs a page's own timers once a second), and the watcher's #count is read every half second until it passes
20. Prints one JSON object; t/70browser-noise.t judges it.
"""
import json
import sys
import time

from browser import Browser

port, artifacts = sys.argv[1], sys.argv[2]
BASES = {"path": "http://127.0.0.1:%s/noise/" % port, "host": "http://noise.localhost:%s/" % port}
CONNECTED = "document.getElementById('status').dataset.state === 'open'"
WANTED = 20  # readings the watcher must pass, at 10 a second


def text(page, element_id):
    return page.eval("document.getElementById(%s).textContent" % json.dumps(element_id))


def run(browser, how):
    watcher = browser.open(BASES[how] + "?key=supersecret")
    watcher.wait(CONNECTED)
    producer = browser.open(BASES[how] + "producer.html")
    producer.wait(CONNECTED)
    watcher.call("Page.bringToFront")  # the chart is drawn on animation frames, which a tab in the background does not get
    started, counts = time.monotonic(), []
    while time.monotonic() - started < 30:
        counts.append(int(text(watcher, "count")))
        if counts[-1] > WANTED:
            break
        browser.sleep(0.5)
    seconds = time.monotonic() - started
    producer_visibility = producer.eval("document.visibilityState")
    watcher.screenshot("noise-%s-watcher.png" % how)
    producer.call("Page.bringToFront")
    browser.sleep(0.3)
    producer.screenshot("noise-%s-producer.png" % how)
    seen = {
        "counts": counts,
        "seconds": round(seconds, 1),
        "producer_visibility": producer_visibility,
        "watcher": {k: text(watcher, k) for k in ("status", "count", "missed", "source", "db")},
        "producer": {k: text(producer, k) for k in ("status", "sent", "source", "mic-note")},
        "producer_url": producer.eval("location.href"),
        "watcher_errors": watcher.errors,
        "producer_errors": producer.errors,
    }
    # the next run's watcher must count only its own producer's readings
    producer.close()
    watcher.close()
    return seen


with Browser(artifacts) as browser:
    result = {how: run(browser, how) for how in ("path", "host")}
print(json.dumps(result))
