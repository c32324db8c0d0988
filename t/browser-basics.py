"""browser-basics.py BASE ARTIFACTS: what headless Chromium sees of proxyd's answers,
and that the driver observes what the page tests rely on (typing, clicks, console
errors, screenshots). Prints one JSON object."""
import json
import sys

from browser import Browser

base, artifacts = sys.argv[1], sys.argv[2]
seen = {}
with Browser(artifacts) as browser:
    page = browser.open(base + "/weather/today?key=supersecret")
    seen["allowed_text"] = page.eval("document.body.innerText")
    seen["allowed_errors"] = list(page.errors)
    page.screenshot("weather.png")

    page = browser.open(base + "/weather/today")
    seen["denied_text"] = page.eval("document.body.innerText")
    seen["denied_errors"] = list(page.errors)

    page = browser.open("data:text/html,<input id=in><button id=go onclick=\"document.getElementById('out')"
                        ".textContent=document.getElementById('in').value;console.error('clicked')\">go</button>"
                        "<p id=out></p>")
    page.type("#in", "typed by a user")
    page.click("#go")
    seen["echoed"] = page.wait("document.getElementById('out').textContent")
    seen["click_errors"] = list(page.errors)
    seen["screenshot"] = page.screenshot("form.png")
print(json.dumps(seen))
