"""The built book, as a reader sees it: every page opens in headless Chromium, offline.

Run by `make book-check` after `make book` (not collected by `pytest tests`, which must not
need a built book). Each page of the table of contents is opened in Chromium with the
network switched off, as on a train or behind a firewall, and must show:

- its title, and no traceback;
- its math typeset by the book's own copy of MathJax: every formula element holds MathJax's
  output, and no raw TeX delimiter (``\\(``, ``\\[``, ``$$``) is left in the text;
- every image loaded (natural width > 0), each chapter at least as many as its figures;
- no error in the browser's console, and no request for anything outside the book.

"Explain your own photo" (``book/explorer.md``), which runs EfficientNet-Lite0 in the page
with TensorFlow.js, is checked further (issue 18): on every photo the page ships, its input
is ``helpers.load_photo(name, size=224)`` to 12 bits, its probabilities are within 0.01 of
``helpers.imagenet``'s with the same top class, its class map correlates above 0.99 with
``helpers.explain.cam`` (and chelsea's saliency with ``helpers.explain.saliency``); bad
files, the keyboard, both themes, a phone's width and browsers without WebAssembly, WebGL
or ``DecompressionStream`` are tried. ``helpers``' side is computed in a thread while
Chromium opens the other pages.

A full-page screenshot of each page goes to ``_build/screenshots/`` for a person to look at
(the explorer's with the cat's class map, and in the dark theme, on a phone and on chapter
06's composite).
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
  // "Explain your own photo": its first explanation on screen (or its message).
  if (window.explorer && window.explorer.ready) await window.explorer.ready.catch(() => null);
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

    def open(self, url: str, width: int = WIDTH, mobile: bool = False,
             before_scripts: str | None = None) -> tuple[str, str]:
        """Open ``url`` offline in a new tab ``width`` pixels wide, running
        ``before_scripts`` (JavaScript) before the page's own; its (target, session)."""
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session)
        self.call("Network.emulateNetworkConditions", session, offline=True, latency=0,
                  downloadThroughput=-1, uploadThroughput=-1)
        self.call("Emulation.setDeviceMetricsOverride", session, width=width, height=900,
                  deviceScaleFactor=1, mobile=mobile)
        if before_scripts:
            self.call("Page.addScriptToEvaluateOnNewDocument", session, source=before_scripts)
        self.call("Page.navigate", session, url=url)
        self.wait_for("Page.loadEventFired", session)
        return target, session

    def evaluate(self, session: str, expression: str):
        """The value of a JavaScript expression in the tab, promises awaited."""
        result = self.call("Runtime.evaluate", session, expression=expression,
                           awaitPromise=True, returnByValue=True, timeout=TIMEOUT * 1000)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise RuntimeError(f"{expression[:80]!r} failed: "
                               f"{details.get('exception', {}).get('description', details)}")
        return result["result"].get("value")

    def screenshot(self, session: str, path: Path, width: int = WIDTH) -> None:
        """The whole page (at most MAX_HEIGHT pixels high) as a PNG at ``path``."""
        height = min(self.evaluate(session, "document.documentElement.scrollHeight"),
                     MAX_HEIGHT)
        shot = self.call("Page.captureScreenshot", session, format="png",
                         captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": width, "height": height, "scale": 1})
        path.write_bytes(base64.b64decode(shot["data"]))

    def close_tab(self, target: str, session: str) -> tuple[list[str], list[str]]:
        """Close the tab; its console errors and the requests it made outside the book."""
        self.call("Target.closeTarget", targetId=target)
        events = [e for e in self.events if e.get("sessionId") == session]
        self.events = [e for e in self.events if e.get("sessionId") != session]
        requests = sorted({e["params"]["request"]["url"] for e in events
                           if e.get("method") == "Network.requestWillBeSent"
                           and not e["params"]["request"]["url"].startswith(
                               ("file:", "data:", "blob:", "about:"))})
        return console_errors(events), requests

    def visit(self, url: str, screenshot: Path) -> dict:
        """Open ``url`` offline in a new tab; its report, console errors and requests."""
        target, session = self.open(url)
        try:
            report = self.evaluate(session, REPORT)
        except RuntimeError as err:
            raise RuntimeError(f"the report script failed: {err}") from None
        self.screenshot(session, screenshot)
        report["errors"], report["requests"] = self.close_tab(target, session)
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


# -- "Explain your own photo" (book/explorer.md): the network in the browser ---------------
EXPLORER = HTML / "book" / "explorer.html"
#: The page's first explanation on screen (its top 5 and class map)...
EXPLORER_STARTED = ("new Promise((done) => { const wait = () => window.explorer && "
                    "explorer.ready ? done() : setTimeout(wait, 20); wait(); })"
                    ".then(() => explorer.ready)")
#: ... and its saliency too.
EXPLORER_READY = EXPLORER_STARTED + ".then(() => explorer.idle())"


def _export_script():
    """scripts/export_tfjs.py as a module: the photos the page ships, made the same way."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("export_tfjs", ROOT / "scripts" /
                                                  "export_tfjs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _reference():
    """What ``helpers`` says on every photo the page ships: the photos in [0, 1], the
    probabilities, the top class, its CAM (``helpers.explain.cam``) and chelsea's saliency."""
    import numpy as np

    import helpers

    helpers.setup()
    photos = _export_script().book_photos()
    names = list(photos)
    model = helpers.imagenet.load_model()
    x = helpers.imagenet.preprocess(np.stack([photos[name] for name in names]))
    probabilities = np.asarray(model(x, training=False))
    top = probabilities.argmax(axis=1)
    cams = helpers.explain.cam(model, x, class_index=top.tolist(), layer="head_relu")
    saliency = helpers.explain.saliency(model, x[names.index("chelsea")])
    return {"names": names, "photos": photos, "model": model,
            "probabilities": dict(zip(names, probabilities, strict=True)),
            "top": dict(zip(names, top.tolist(), strict=True)),
            "cams": dict(zip(names, cams, strict=True)), "saliency": saliency}


@pytest.fixture(scope="module", autouse=True)
def reference():
    """:func:`_reference`, computed in a thread from the first test on, while Chromium
    opens the pages (TensorFlow on one core, the browser on the other): a future."""
    from concurrent.futures import ThreadPoolExecutor

    if CHROMIUM is None:  # every test is skipped: nothing to compare with
        yield None
        return
    with ThreadPoolExecutor(1) as pool:
        yield pool.submit(_reference)


def _predict(reference, images):
    """helpers.imagenet's probabilities for images in [0, 1] of any size, ``(N, 1000)``."""
    import numpy as np

    import helpers

    model = reference.result()["model"]
    return np.asarray(model(helpers.imagenet.preprocess(np.asarray(images)), training=False))


def _floats(encoded: str):
    import numpy as np

    return np.frombuffer(base64.b64decode(encoded), np.float32)


def _rgb(encoded: str):
    import numpy as np

    return np.frombuffer(base64.b64decode(encoded), np.uint8).reshape(224, 224, 4)[..., :3]


def _correlations(a, b) -> tuple[float, float]:
    from scipy.stats import pearsonr, spearmanr

    return float(pearsonr(a.ravel(), b.ravel())[0]), float(spearmanr(a.ravel(), b.ravel())[0])


def _agrees(result: dict, expected_probabilities, expected_top: int, label: str) -> None:
    import numpy as np

    probabilities = np.asarray(result["probabilities"])
    gap = np.abs(probabilities - expected_probabilities).max()
    assert gap < 0.01, f"{label}: probabilities differ from helpers.imagenet by up to {gap:.4f}"
    assert int(probabilities.argmax()) == expected_top == result["classIndex"], (
        f"{label}: top class {probabilities.argmax()} in the page, {expected_top} in helpers")


@pytest.fixture(scope="module")
def explorer_tab(browser):
    assert EXPLORER.is_file(), f"{EXPLORER} was not built; run `make book`"
    target, session = browser.open(EXPLORER.as_uri())
    browser.evaluate(session, EXPLORER_READY)
    yield session
    errors, requests = browser.close_tab(target, session)
    assert not errors, f"explorer: console errors: {errors}"
    assert not requests, f"explorer: asks the network for {requests}"


def test_explorer_matches_helpers_on_every_photo(browser, explorer_tab, reference):
    """Point 3 of issue 18: on each photo the book ships, the page's input pixels are
    ``helpers.load_photo(name, size=224)``'s (to 12 bits), its probabilities within
    0.01 of ``helpers.imagenet``'s, the same top class, and its class map correlates above
    0.99 with ``helpers.explain.cam``'s."""
    import numpy as np

    session = explorer_tab
    first = browser.evaluate(session, "explorer.result()")
    top5 = browser.evaluate(session, "[...document.querySelectorAll("
                            "'#explorer li[data-class-index]')].map((li) => "
                            "[Number(li.dataset.classIndex), Number(li.dataset.probability)])")
    names = json.loads(browser.evaluate(session, "JSON.stringify(Object.keys(EXPLORER_PHOTOS))"))
    results, timings = {}, {}
    for name in names:
        results[name] = browser.evaluate(session, f"explorer.showPhoto({json.dumps(name)})"
                                                  ".then(() => explorer.result())")
        timings[name] = round(browser.evaluate(session, "explorer.timings.lastPhoto"))
    # Chelsea again, and her saliency (a backward pass through the network).
    saliency = browser.evaluate(session, "explorer.showPhoto('chelsea').then(() => "
                                         "explorer.idle()).then(() => explorer.result())")
    browser.screenshot(session, SCREENSHOTS / "book--explorer.png")
    times = browser.evaluate(session, "explorer.timings")
    print(f"\n[explorer] backend {first['backend']}; first explanation "
          f"{times['firstExplanation']:.0f} ms after navigation; a saliency "
          f"{times['lastSaliency']:.0f} ms; ms per new photo: {timings}")

    expected = reference.result()
    assert names == expected["names"], "the page ships the photos export_tfjs.book_photos makes"
    assert first["photo"] == "chelsea", "the default photo is chelsea"
    chelsea = expected["probabilities"]["chelsea"]
    assert [index for index, _ in top5] == list(np.argsort(-chelsea)[:5])
    for index, probability in top5:
        assert abs(probability - chelsea[index]) < 0.01
    for name, result in results.items():
        # The page's input: helpers.load_photo's values to 12 bits (scripts/export_tfjs.py).
        gap = np.abs(_floats(result["values"]).reshape(224, 224, 3)
                     - expected["photos"][name]).max()
        assert gap <= 1 / 8160 + 1e-6, f"{name}: the page's pixels differ by up to {gap:.5f}"
        _agrees(result, expected["probabilities"][name], expected["top"][name], name)
        pearson, spearman = _correlations(_floats(result["cam"]), expected["cams"][name])
        assert pearson > 0.99 and spearman > 0.99, (
            f"{name}: the page's CAM correlates {pearson:.4f} (Pearson), {spearman:.4f} "
            "(Spearman) with helpers.explain.cam")
    assert saliency["saliency"] is not None
    pearson, spearman = _correlations(_floats(saliency["saliency"]), expected["saliency"])
    assert pearson > 0.95 and spearman > 0.95, (
        f"saliency: correlates {pearson:.4f} (Pearson), {spearman:.4f} (Spearman) with "
        "helpers.explain.saliency")


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory):
    """The inputs a reader may drop on the page, as files, and the pictures they hold."""
    import io

    import numpy as np
    from PIL import Image

    import helpers

    folder = tmp_path_factory.mktemp("explorer-inputs")
    files = {}
    files["text"] = folder / "notes.jpg"  # a text file with a photo's extension
    files["text"].write_text("These are my notes, not a photo.\n" * 20)
    cat = np.round(255 * helpers.load_photo("chelsea", size=224)).astype(np.uint8)
    # 6000 x 4000: chelsea (451 x 300) enlarged, as a JPEG.
    big = Image.fromarray(np.round(255 * helpers.load_photo("chelsea")).astype(np.uint8))
    files["huge"] = folder / "huge.jpg"
    big.resize((6000, 4000), Image.Resampling.BICUBIC).save(files["huge"], quality=90)
    # Transparent on its left half (whose color values are nonsense, as they may be).
    rgba = np.dstack([cat, np.full((224, 224), 255, np.uint8)])
    rgba[:, :112] = (0, 255, 0, 0)
    files["transparent"] = folder / "transparent.png"
    Image.fromarray(rgba, "RGBA").save(files["transparent"])
    files["gray"] = folder / "gray.jpg"
    Image.fromarray(cat).convert("L").save(files["gray"], quality=95)
    expected = {"transparent": np.where(rgba[..., 3:] == 255, rgba[..., :3], 255),
                "gray": np.asarray(Image.open(io.BytesIO(files["gray"].read_bytes())))}
    return files, expected


def _open_file(browser, session, path: Path, drop: bool = False) -> dict:
    """``path`` chosen in the page's file picker (or, ``drop``, dragged from the desktop and
    dropped on the explorer), as a reader would; the page's result once it has answered
    (the picture explained, or a message)."""
    before = browser.evaluate(session, "explorer.requests()")
    if drop:
        x, y = browser.evaluate(session, "(() => { const box = document.getElementById("
                                         "'explorer'); box.scrollIntoView(); const r = "
                                         "box.getBoundingClientRect(); "
                                         "return [r.left + r.width / 2, r.top + 60]; })()")
        data = {"items": [], "files": [str(path)], "dragOperationsMask": 1}
        for kind in ("dragEnter", "dragOver", "drop"):
            browser.call("Input.dispatchDragEvent", session, type=kind, x=x, y=y, data=data)
    else:
        handle = browser.call("Runtime.evaluate", session,
                              expression="document.getElementById('explorer-file')")
        browser.call("DOM.setFileInputFiles", session, files=[str(path)],
                     objectId=handle["result"]["objectId"])
    browser.evaluate(session, f"new Promise((done) => {{ const wait = () => "
                              f"explorer.requests() > {before} ? done() : setTimeout(wait, 20); "
                              "wait(); }).then(() => explorer.idle())")
    return browser.evaluate(session, "explorer.result()")


def test_explorer_takes_bad_inputs(browser, explorer_tab, reference, bad_inputs):
    """A text file renamed .jpg, a 6000x4000 photo, a transparent PNG (opened with the
    page's file picker) and a grayscale JPEG (dropped on it): a clear message, or a
    correct result."""
    import numpy as np

    session, (files, expected) = explorer_tab, bad_inputs
    browser.evaluate(session, "explorer.showPhoto('coffee')")
    text = _open_file(browser, session, files["text"])
    assert "explorer-error" in text["statusKind"]
    assert "notes.jpg" in text["status"] and "not a picture" in text["status"], text["status"]
    assert text["photo"] == "coffee", "the last explanation stays on screen"

    # Chelsea enlarged to 6000 x 4000: read, reduced to 224 x 224 by the browser, still
    # the class helpers gives chelsea, with about the same probability.
    huge = _open_file(browser, session, files["huge"])
    assert "6000 x 4000" in huge["photo"], huge["status"]
    cat = reference.result()["probabilities"]["chelsea"]
    assert np.argmax(huge["probabilities"]) == cat.argmax()
    assert abs(huge["probabilities"][cat.argmax()] - cat.max()) < 0.1

    for name in ("transparent", "gray"):
        result = _open_file(browser, session, files[name], drop=name == "gray")
        pixels = _rgb(result["pixels"])
        picture = expected[name] if expected[name].ndim == 3 else np.dstack([expected[name]] * 3)
        assert np.abs(pixels.astype(int) - picture).max() <= 1, f"{name}: other pixels"
        probabilities = _predict(reference, (pixels / 255)[None])[0]
        _agrees(result, probabilities, int(probabilities.argmax()), name)
    assert not browser.evaluate(session, "document.querySelector('#explorer [role=alert]')")


def _key(browser, session, key: str, code: int) -> None:
    """A key pressed and released, as from a keyboard (Enter also types its character,
    which is what activates a focused button)."""
    text = {"Enter": "\r"}.get(key)
    browser.call("Input.dispatchKeyEvent", session, type="keyDown" if text else "rawKeyDown",
                 key=key, code=key, windowsVirtualKeyCode=code, **({"text": text} if text else {}))
    browser.call("Input.dispatchKeyEvent", session, type="keyUp", key=key, code=key,
                 windowsVirtualKeyCode=code)


def test_explorer_is_keyboard_usable(browser, explorer_tab):
    """Tab reaches every control; Enter on a class of the top 5, or after a typed class
    name, explains that class; on chapter 06's composite, each class finds its half."""

    session = explorer_tab
    browser.evaluate(session, "explorer.showPhoto('chelsea|coffee').then(() => explorer.idle())")
    browser.evaluate(session, "document.getElementById('explorer-photo').focus()")
    reached = []
    for _ in range(14):
        _key(browser, session, "Tab", 9)
        reached.append(browser.evaluate(session, "document.activeElement.id || "
                                                 "document.activeElement.className"))
    for control in ("explorer-file", "explorer-class", "explorer-opacity"):
        assert control in reached, f"Tab never reaches #{control}: {reached}"
    assert reached.count("explorer-class") >= 1 and "explorer-button" in reached
    assert browser.evaluate(session, "document.getElementById('explorer-class').list"
                                     ".options.length") == 1000, "the class names to pick from"

    second = browser.evaluate(session, "(() => { const li = document.querySelectorAll("
                                       "'#explorer li[data-class-index]')[1]; "
                                       "li.querySelector('button').focus(); "
                                       "return Number(li.dataset.classIndex); })()")
    _key(browser, session, "Enter", 13)
    result = browser.evaluate(session, "explorer.idle().then(() => explorer.result())")
    assert result["classIndex"] == second
    assert browser.evaluate(session, f"document.querySelector('li[data-class-index=\"{second}\"] "
                                     "button').getAttribute('aria-pressed')") == "true"

    halves = {}
    for typed, index in (("espresso", 967), ("Egyptian cat", 285)):
        browser.evaluate(session, "(() => { const input = document.getElementById("
                                  "'explorer-class'); input.value = ''; input.focus(); })()")
        browser.call("Input.insertText", session, text=typed)
        _key(browser, session, "Enter", 13)
        result = browser.evaluate(session, "explorer.idle().then(() => explorer.result())")
        assert result["classIndex"] == index, result["status"]
        cam = _floats(result["cam"]).reshape(224, 224)
        halves[typed] = cam[:, 112:].sum() / cam.sum()
    browser.screenshot(session, SCREENSHOTS / "book--explorer-composite-cat.png")
    assert halves["espresso"] > 0.5 > halves["Egyptian cat"], halves


CONTRAST = r"""(() => {
  // The WCAG contrast ratio of every piece of text in the explorer with what is behind it.
  const luminance = (color) => {
    const [r, g, b] = color.match(/[\d.]+/g).slice(0, 3).map((v) => {
      const c = Number(v) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const background = (node) => {
    for (let e = node; e; e = e.parentElement) {
      const color = getComputedStyle(e).backgroundColor;
      const alpha = color.match(/[\d.]+/g)[3];
      if (alpha === undefined || Number(alpha) > 0.5) return color;
    }
    return "rgb(255, 255, 255)";
  };
  const worst = [];
  for (const e of document.querySelectorAll("#explorer *")) {
    const own = [...e.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !e.getClientRects().length) continue;
    const [a, b] = [luminance(getComputedStyle(e).color), luminance(background(e))];
    worst.push([(Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), e.textContent.slice(0, 40)]);
  }
  return worst.sort((x, y) => x[0] - y[0]).slice(0, 3);
})()"""


def test_explorer_reads_in_both_themes_and_on_a_phone(browser, explorer_tab):
    """Text contrast of at least 4.5 (WCAG AA) in the book's light and dark themes; at a
    phone's 375 pixels nothing sticks out sideways."""
    session = explorer_tab
    browser.evaluate(session, "explorer.showPhoto('chelsea').then(() => explorer.idle())")
    browser.evaluate(session, "document.activeElement.blur(); window.scrollTo(0, 0)")
    for theme in ("light", "dark"):
        browser.evaluate(session, f"document.documentElement.dataset.theme = '{theme}'")
        worst = browser.evaluate(session, CONTRAST)
        assert worst and worst[0][0] >= 4.5, f"{theme} theme: low contrast {worst}"
    browser.screenshot(session, SCREENSHOTS / "book--explorer-dark.png")
    browser.evaluate(session, "document.documentElement.dataset.theme = 'light'")

    # A phone: the page opened afresh at 375 pixels.
    target, phone = browser.open(EXPLORER.as_uri(), width=375, mobile=True)
    browser.evaluate(phone, EXPLORER_STARTED)
    overflow = browser.evaluate(phone, "(() => { const box = document.getElementById("
                                       "'explorer'); return [box.scrollWidth - box.clientWidth,"
                                       " box.getBoundingClientRect().right]; })()")
    browser.screenshot(phone, SCREENSHOTS / "book--explorer-phone.png", width=375)
    errors, requests = browser.close_tab(target, phone)
    assert not errors and not requests
    assert overflow[0] <= 0 and overflow[1] <= 375, f"wider than a phone: {overflow}"


# Run before the page's scripts: a browser without WebAssembly and WebGL, and one too old
# to stream-decompress (DecompressionStream: Chrome 80, Firefox 113, Safari 16.4).
NO_WASM_NO_WEBGL = """delete window.WebAssembly;
HTMLCanvasElement.prototype.getContext = ((get) => function (type, ...rest) {
  return /webgl/.test(type) ? null : get.call(this, type, ...rest);
})(HTMLCanvasElement.prototype.getContext);"""
TOO_OLD = "delete window.DecompressionStream;"


def test_explorer_without_webassembly_webgl_or_a_recent_browser(browser):
    target, session = browser.open(EXPLORER.as_uri(), before_scripts=NO_WASM_NO_WEBGL)
    browser.evaluate(session, EXPLORER_STARTED)
    result = browser.evaluate(session, "explorer.result()")
    text = browser.evaluate(session, "document.getElementById('explorer').innerText")
    errors, requests = browser.close_tab(target, session)
    assert result["backend"] == "cpu" and result["classIndex"] == 285, result["status"]
    assert "without WebAssembly" in text, "the reader is told why it is slow"
    assert not errors and not requests

    target, session = browser.open(EXPLORER.as_uri(), before_scripts=TOO_OLD)
    message = browser.evaluate(session, "explorer.ready.then(() => 'ran', () => "
                                        "document.querySelector('#explorer [role=alert]')"
                                        ".textContent)")
    errors, requests = browser.close_tab(target, session)
    assert "needs a newer browser" in message and "DecompressionStream" in message, message
    assert not errors and not requests
