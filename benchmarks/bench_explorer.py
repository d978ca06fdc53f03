"""How fast is "Explain your own photo" (book/explorer.md) in headless Chromium?

``python -m benchmarks.bench_explorer`` after ``make book``: opens the built page from
``_build/html`` as a file, offline, with each TensorFlow.js backend in turn (the page's own
choice, then ``?backend=cpu``, then ``?backend=webgl``, which is software WebGL,
SwiftShader, in headless Chromium without a GPU) and prints, per backend, the median of

- ``first``: navigation start to the first explanation on screen (the network's script
  parsed, its weights decoded, the default photo's top 5 and class map drawn), one value
  per page load (``--loads``, default 3), and two parts of it: ``scripts``, until the
  page's own script starts (the page, TensorFlow.js and the 12 MB of generated scripts
  loaded and parsed), and ``network``, from there until the network is ready (the
  backend started, the weights decoded into tensors);
- ``photo``: a new photo, from the click to its top 5 and map on screen, over every photo
  the page ships;
- ``class``: a new class, its map from the last feature maps (no pass through the network);
- ``saliency``: the gradient for a class, after the map (a forward and a backward pass).

The browser is driven as in ``tests/book_check.py`` (DevTools over a pipe). Figures are in
benchmarks/README.md, "Explain your own photo in the browser".
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
import book_check  # noqa: E402  (tests/ is not a package)

BACKENDS = {"default": "", "cpu": "?backend=cpu", "webgl (SwiftShader)": "?backend=webgl"}
CLASSES = (281, 282, 285, 967, 1, 500, 999, 620)


def measure(browser: book_check.Chromium, query: str, loads: int) -> dict:
    page = book_check.EXPLORER.as_uri() + query
    first, parsed, network, photos, classes, saliency = [], [], [], [], [], []
    backend = None
    for load in range(loads):
        target, session = browser.open(page)
        browser.evaluate(session, book_check.EXPLORER_READY)
        timings = browser.evaluate(session, "explorer.timings")
        first.append(timings["firstExplanation"])
        parsed.append(timings["firstExplanation"] - timings["firstExplanationSinceScript"])
        network.append(timings["modelLoaded"])
        saliency.append(timings["lastSaliency"])
        backend = browser.evaluate(session, "explorer.backend")
        if load == 0:
            names = json.loads(browser.evaluate(
                session, "JSON.stringify(Object.keys(EXPLORER_PHOTOS))"))
            for name in names:
                photos.append(browser.evaluate(
                    session, f"explorer.showPhoto({json.dumps(name)}).then(() => "
                             "explorer.timings.lastPhoto)"))
            browser.evaluate(session, "explorer.showPhoto('chelsea').then(() => explorer.idle())")
            for index in CLASSES:
                classes.append(browser.evaluate(
                    session, f"explorer.showClass({index}).then(() => explorer.timings.lastClass)"))
            browser.evaluate(session, "explorer.idle()")
            saliency.append(browser.evaluate(session, "explorer.timings.lastSaliency"))
        browser.close_tab(target, session)
    return {"backend": backend, "first": statistics.median(first),
            "parsed": statistics.median(parsed), "network": statistics.median(network),
            "photo": statistics.median(photos), "class": statistics.median(classes),
            "saliency": statistics.median(saliency), "loads": loads, "photos": len(photos),
            "classes": len(classes)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loads", type=int, default=3, help="page loads per backend")
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help=f"any of {','.join(BACKENDS)}")
    args = parser.parse_args(argv)
    if book_check.CHROMIUM is None:
        sys.exit("chromium is not installed (scripts/setup.sh installs it as root)")
    if not book_check.EXPLORER.is_file():
        sys.exit(f"{book_check.EXPLORER} is missing: run `make book` first")
    book_check.TIMEOUT = 300
    with tempfile.TemporaryDirectory() as folder:
        browser = book_check.Chromium(Path(folder) / "profile")
        try:
            print(f"{'backend':24} {'first (ms)':>11} {'photo':>8} {'class':>8} {'saliency':>9}"
                  f"   first = {'scripts':>7} + {'network':>7} + rest")
            for label in args.backends.split(","):
                row = measure(browser, BACKENDS[label], args.loads)
                name = f"{label}: {row['backend']}" if label == "default" else label
                print(f"{name:24} {row['first']:11.0f} {row['photo']:8.0f} {row['class']:8.1f} "
                      f"{row['saliency']:9.0f}   {row['parsed']:15.0f} + {row['network']:7.0f}",
                      flush=True)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
