"""The built book, as a reader sees it: every page opens in headless Chromium, offline.

Run by `make book-check` after `make book` (not collected by `pytest tests`, which must not
need a built book). Each page of the table of contents is opened in Chromium with the
network switched off, as on a train or behind a firewall, and must show:

- its title, and no traceback;
- its math typeset by the book's own copy of MathJax: every formula element holds MathJax's
  output, and no raw TeX delimiter (``\\(``, ``\\[``, ``$$``) is left in the text;
- every image loaded (natural width > 0), each chapter at least as many as its figures;
- no error in the browser's console, and no request for anything outside the book.

A full-page screenshot of each page goes to ``_build/screenshots/`` for a person to look at.
Chromium is driven over the DevTools protocol through a pipe (``--remote-debugging-pipe``),
so this needs nothing beyond the standard library and Debian's chromium.
``BOOK_HTML`` names another built book to check (default ``_build/html``).
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a sandboxed, offline machine: no background network, no first-run screens.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDTH, MAX_HEIGHT = 1280, 60000  # px
TIMEOUT = 60  # seconds for one page to load, typeset and report
# Console errors of the book's toolchain, harmless and not ours to fix, each with its cause:
KNOWN_ERRORS = [
    # sphinx-thebe 0.3.1 adds its inline config script twice under Sphinx 7; the second
    # copy's `const` fails, the first has already set everything.
    "SyntaxError: Identifier 'THEBE_JS_URL' has already been declared",
    # pydata-sphinx-theme 0.17 on a reader's very first page: no mode saved yet, so it
    # falls back to "auto", which is what it would have chosen anyway.
    "Got invalid theme mode: . Resetting to auto.",
]

# Run in the page once it has loaded: waits for MathJax and the images, then reports.
REPORT = """(async () => {
  const sleep = (ms) => new Promise((done) => setTimeout(done, ms));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    await MathJax.startup.promise;
  }
  for (const img of document.images) img.loading = "eager";  // lazy images load too
  await Promise.race([
    Promise.all([...document.images].map((img) => img.decode().catch(() => null))),
    sleep(20000)]);
  await document.fonts.ready;
  // All the prose, hidden dropdowns included, without code (which may quote TeX).
  const prose = document.body.cloneNode(true);
  prose.querySelectorAll("pre, code, script, style, textarea").forEach((e) => e.remove());
  const math = [...document.querySelectorAll(".math")];
  return {
    title: document.title,
    visibleText: document.body.innerText,
    proseText: prose.textContent,
    mathElements: math.length,
    untypeset: math.filter((e) => !e.querySelector("mjx-container"))
                   .map((e) => e.textContent.trim().slice(0, 80)),
    images: [...document.images].map((img) => img.getAttribute("src")),
    brokenImages: [...document.images].filter((img) => !img.complete || img.naturalWidth === 0)
                                      .map((img) => img.getAttribute("src")),
    height: document.documentElement.scrollHeight,
    html: document.documentElement.outerHTML,
  };
})()"""


class Chromium:
    """Headless Chromium spoken to over the DevTools protocol, on file descriptors 3 and 4."""

    def __init__(self, profile: Path):
        # Chromium reads commands from fd 3 and writes answers to fd 4 (NUL-terminated JSON).
        commands_read, self._commands = os.pipe()
        self._answers, answers_write = os.pipe()
        # Out of the way of 3 and 4, so that the child's dup2 cannot overwrite one of them.
        high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (commands_read, answers_write)]
        for fd in (commands_read, answers_write):
            os.close(fd)

        def plumb():
            os.dup2(high[0], 3)
            os.dup2(high[1], 4)

        self.process = subprocess.Popen(
            [CHROMIUM, *FLAGS, "--remote-debugging-pipe", f"--user-data-dir={profile}",
             "about:blank"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=(profile.parent / "chromium.log").open("wb"), preexec_fn=plumb,
            pass_fds=(3, 4))
        for fd in high:
            os.close(fd)
        self._next_id = 0
        self._messages: queue.Queue = queue.Queue()
        self.events: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        buffer = b""
        while chunk := os.read(self._answers, 1 << 20):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for message in messages:
                self._messages.put(json.loads(message))
        self._messages.put(None)  # the browser has gone

    def _next_message(self, deadline: float) -> dict:
        try:
            message = self._messages.get(timeout=max(deadline - time.monotonic(), 0.01))
        except queue.Empty:
            raise TimeoutError("Chromium did not answer in time") from None
        if message is None:
            raise RuntimeError("Chromium exited; see chromium.log next to its profile")
        return message

    def call(self, method: str, session: str | None = None, **params) -> dict:
        """Send one command and return its result; events that arrive meanwhile are kept."""
        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params}
        if session:
            command["sessionId"] = session
        os.write(self._commands, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + TIMEOUT
        while True:
            message = self._next_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, method: str, session: str) -> None:
        deadline = time.monotonic() + TIMEOUT
        while not any(e.get("method") == method and e.get("sessionId") == session
                      for e in self.events):
            self.events.append(self._next_message(deadline))

    def visit(self, url: str, screenshot: Path) -> dict:
        """Open ``url`` offline in a new tab; its report, console errors and requests."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session)
        self.call("Network.emulateNetworkConditions", session, offline=True, latency=0,
                  downloadThroughput=-1, uploadThroughput=-1)
        self.call("Emulation.setDeviceMetricsOverride", session, width=WIDTH, height=900,
                  deviceScaleFactor=1, mobile=False)
        self.call("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        result = self.call("Runtime.evaluate", session, expression=REPORT, awaitPromise=True,
                           returnByValue=True, timeout=TIMEOUT * 1000)
        if "exceptionDetails" in result:
            raise RuntimeError(f"the report script failed: {result['exceptionDetails']}")
        report = result["result"]["value"]
        height = min(report["height"], MAX_HEIGHT)
        shot = self.call("Page.captureScreenshot", session, format="png",
                         captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": WIDTH, "height": height, "scale": 1})
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        self.call("Target.closeTarget", targetId=target)
        events = [e for e in self.events if e.get("sessionId") == session]
        self.events = [e for e in self.events if e.get("sessionId") != session]
        report["errors"] = console_errors(events)
        report["requests"] = sorted({e["params"]["request"]["url"] for e in events
                                     if e.get("method") == "Network.requestWillBeSent"
                                     and not e["params"]["request"]["url"].startswith(
                                         ("file:", "data:", "blob:", "about:"))})
        return report

    def close(self):
        try:
            self.call("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._commands)


def console_errors(events: list[dict]) -> list[str]:
    """What the console shows as errors: uncaught exceptions, console.error, failed loads."""
    errors = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            errors.append(details.get("exception", {}).get("description") or details["text"])
        elif method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                   for a in params["args"]))
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            errors.append(f"{entry['text']} {entry.get('url', '')}".strip())
    return [error for error in errors if error not in KNOWN_ERRORS]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                pages.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []))
    return pages


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it as root)")
    chromium = Chromium(tmp_path_factory.mktemp("chromium") / "profile")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    yield chromium
    chromium.close()


@pytest.mark.parametrize("name", toc_pages())
def test_page_opens_offline_in_a_browser(name, browser):
    page = HTML / f"{name}.html"
    assert page.is_file(), f"{page} was not built; run `make book`"
    report = browser.visit(page.as_uri(), SCREENSHOTS / f"{name.replace('/', '--')}.png")

    assert "Inside the ConvNet" in report["title"]
    assert "Traceback (most recent call last)" not in report["html"]
    assert not report["errors"], f"{name}: console errors: {report['errors']}"
    assert not report["requests"], f"{name}: asks the network for {report['requests']}"

    # Math: typeset by MathJax, nothing left as raw TeX, visible or in a closed dropdown.
    if 'class="math' in page.read_text():
        assert report["mathElements"] > 0
    assert not report["untypeset"], f"{name}: formulas left as TeX: {report['untypeset'][:3]}"
    for text in (report["visibleText"], report["proseText"]):
        for delimiter in ("\\(", "\\[", "$$"):
            assert delimiter not in text, (
                f"{name}: raw {delimiter} in the text: "
                f"...{text[max(text.index(delimiter) - 60, 0):text.index(delimiter) + 60]}...")

    # Images: every one loaded, every one exists in the build.
    assert not report["brokenImages"], f"{name}: images that did not load: " \
                                       f"{report['brokenImages']}"
    for src in report["images"]:
        if not re.match(r"(https?:|data:)", src):
            assert (page.parent / src.split("#")[0]).is_file(), f"{name}: missing image {src}"
    if name.startswith("notebooks/"):
        notebook = json.loads((ROOT / f"{name}.ipynb").read_text())
        figures = sum(1 for c in notebook["cells"] for o in c.get("outputs", [])
                      if "image/png" in o.get("data", {}))
        shown = [s for s in report["images"] if not s.startswith(("http", "data:"))
                 and "logo" not in s]
        assert len(shown) >= figures > 0, f"{name}: {len(shown)} images for {figures} figures"


def test_pages_with_math_exist():
    """The math checks above check something: the chapters have formulas."""
    page = HTML / "notebooks" / "01_convolution.html"
    assert page.is_file(), f"{page} was not built; run `make book`"
    assert page.read_text().count('class="math') > 10
