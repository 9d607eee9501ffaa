#!/usr/bin/env python3
"""Checks Parley's HTML reports in headless Chromium, driven over the DevTools protocol
(--remote-debugging-pipe), with the network cut off.

For each HTML[:JSON[:PNG]] argument:
  - static: no <script>, no <link>, no @import or url(), no src/href to http(s) or //, and no
    secret (--secret, and the base64 forms AUTH PLAIN would carry) anywhere in the file;
  - in the browser: every request the page made (Network.requestWillBeSent) is the file itself
    or a data: URL; the count of [data-event] elements equals the JSON report's event count;
    a failing run shows a failing step, its file:line:col and a TLS band;
  - a full-page screenshot to PNG.
Python 3 from Debian only: no packages beyond the standard library.
"""
import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile

failures = []


def fail(message):
    failures.append(message)
    print("FAIL " + message)


def static_checks(path, text, secrets):
    lowered = text.lower()
    for needle in ["<script", "<link", "@import", "url(", "<iframe", "<object", "<embed"]:
        if needle in lowered:
            fail(f"{path}: contains {needle!r}")
    for match in re.finditer(r'\b(?:src|href|xlink:href|action)\s*=\s*"([^"]*)"', text, re.I):
        value = match.group(1).strip().lower()
        if value.startswith(("http:", "https:", "//", "ftp:", "ws:", "wss:")):
            fail(f"{path}: fetches {value}")
    for secret in secrets:
        if secret and secret in text:
            fail(f"{path}: a secret appears in the file ({secret[:6]}...)")


class Browser:
    """One headless Chromium over a DevTools pipe (fd 3 in, fd 4 out; messages end with NUL)."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="parley-html-check-")
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()
        command = [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            "--remote-debugging-pipe", f"--user-data-dir={self.profile}",
            # The network cut off: no proxy reachable, no name resolves.
            "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--metrics-recording-only", "--no-default-browser-check",
            "about:blank",
        ]

        def plumbing():
            os.dup2(to_chrome_r, 3)
            os.dup2(from_chrome_w, 4)

        self.process = subprocess.Popen(
            command, pass_fds=(3, 4), preexec_fn=plumbing,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer = b""
        self.next_id = 0
        self.events = []

    def send(self, method, params=None, session=None):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self.to_chrome, json.dumps(message).encode() + b"\0")
        while True:
            reply = self.receive()
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def receive(self):
        while b"\0" not in self.buffer:
            chunk = os.read(self.from_chrome, 1 << 20)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def wait_for(self, method, session):
        for index, event in enumerate(self.events):
            if event.get("method") == method and event.get("sessionId") == session:
                return self.events.pop(index)
        while True:
            event = self.receive()
            if event.get("method") == method and event.get("sessionId") == session:
                return event
            self.events.append(event)

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        self.process.wait(timeout=20)
        subprocess.run(["rm", "-rf", self.profile])


def browser_checks(browser, html, expected_events, png, failing):
    url = "file://" + os.path.abspath(html)
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.send("Network.enable", {}, session)
    browser.send("Page.enable", {}, session)
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": 1100, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
    browser.events.clear()
    browser.send("Page.navigate", {"url": url}, session)
    browser.wait_for("Page.loadEventFired", session)

    def evaluate(expression):
        result = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, session)
        return result["result"].get("value")

    # Every request the page made, recorded by the browser itself.
    requests = [e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent" and e.get("sessionId") == session]
    outside = [r for r in requests if r != url and not r.startswith("data:")]
    if outside:
        fail(f"{html}: the page fetched {outside}")
    print(f"  {html}: {len(requests)} request(s), all local: {requests == [url] or not outside}")

    count = evaluate("document.querySelectorAll('[data-event]').length")
    if expected_events is not None:
        if count != expected_events:
            fail(f"{html}: {count} [data-event] elements, the JSON report has {expected_events} events")
        else:
            print(f"  {html}: {count} [data-event] elements = {expected_events} events in the JSON report")
    if failing:
        failed_steps = evaluate("document.querySelectorAll('.step.failed').length")
        where = evaluate("Array.from(document.querySelectorAll('.failure .where b')).map(e => e.textContent)")
        bands = evaluate("document.querySelectorAll('rect.band.handshake').length")
        tls_rows = evaluate("document.querySelectorAll('.step.failed g.in-tls').length")
        print(f"  {html}: failing steps {failed_steps}, at {where}, handshake bands {bands}, TLS rows in the failing step {tls_rows}")
        if failed_steps < 1 or not where or not all(re.search(r":\d+:\d+$", w) for w in where):
            fail(f"{html}: no failing step with its file:line:col")
        if bands < 1 or tls_rows < 1:
            fail(f"{html}: the failing step is not drawn after a TLS handshake band")
        reproducer = evaluate("Array.from(document.querySelectorAll('.failure')).map(e => e.textContent).join(' ')")
        if "openssl s_client" not in reproducer:
            fail(f"{html}: the failure box has no command to repeat it by hand")
        print(f"  {html}: the failure box holds the reproducer (openssl s_client ...)")
    charts = evaluate("document.querySelectorAll('svg[data-chart]').length")
    if charts:
        bars = evaluate("document.querySelectorAll('svg[data-chart] .bar').length")
        print(f"  {html}: {charts} charts, {bars} bars")
        if bars == 0:
            fail(f"{html}: charts without bars")

    height = evaluate("Math.ceil(document.documentElement.scrollHeight)")
    clip = {"x": 0, "y": 0, "width": 1100, "height": min(height, 6000), "scale": 1}
    shot = browser.send("Page.captureScreenshot",
                        {"format": "png", "captureBeyondViewport": True, "clip": clip}, session)
    with open(png, "wb") as out:
        out.write(base64.b64decode(shot["data"]))
    print(f"  {png}: 1100x{clip['height']}")
    browser.send("Target.closeTarget", {"targetId": target})


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--secret", action="append", default=[])
    parser.add_argument("reports", nargs="+", help="HTML[:JSON[:PNG]]")
    args = parser.parse_args()
    secrets = []
    for secret in args.secret:
        secrets.append(secret)
        # What AUTH PLAIN and AUTH LOGIN would have carried.
        for plain in [f"\0alice\0{secret}", secret]:
            secrets.append(base64.b64encode(plain.encode()).decode())
    browser = Browser()
    try:
        for spec in args.reports:
            html, json_path, png = (spec.split(":") + ["", ""])[:3]
            with open(html, encoding="utf-8") as f:
                text = f.read()
            static_checks(html, text, secrets)
            expected = None
            failing = False
            if json_path:
                with open(json_path, encoding="utf-8") as f:
                    report = json.load(f)
                expected = sum(len(s["events"]) for s in report["scenarios"])
                failing = report["summary"]["failed"] > 0
                for secret in secrets:
                    if secret and secret in json.dumps(report):
                        fail(f"{json_path}: a secret appears in the JSON report")
            browser_checks(browser, html, expected, png or html + ".png", failing)
    finally:
        browser.close()
    if failures:
        print(f"ci/html-check: {len(failures)} problem(s)")
        sys.exit(1)
    print("ci/html-check: every report passed")


if __name__ == "__main__":
    main()
