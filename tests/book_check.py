"""The built book, as a reader sees it: every page opens in headless Chromium.

Run by `make book-check` after `make book` (not collected by `pytest tests`, which must not
need a built book). Checks that each page of the table of contents was built, that the
browser renders it with its title and no error output, that every image it shows exists,
and that each chapter shows its figures.
"""

import json
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Flags for a sandboxed, offline machine: no background network, no first-run screens.
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--virtual-time-budget=5000"]


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


class PageParser(HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.title, self._in_title = [], "", False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        self._in_title = tag == "title"

    def handle_data(self, data):
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag):
        self._in_title = False


def render(page: Path, tmp_path: Path) -> str:
    """The page's DOM after Chromium has loaded it and run its scripts."""
    result = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


@pytest.mark.parametrize("name", toc_pages())
def test_page_opens_in_a_browser(name, tmp_path):
    if CHROMIUM is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs it as root)")
    page = HTML / f"{name}.html"
    assert page.is_file(), f"{page} was not built; run `make book`"
    dom = render(page, tmp_path)
    parser = PageParser()
    parser.feed(dom)
    assert "Inside the ConvNet" in parser.title
    for src in parser.images:
        if not re.match(r"(https?:|data:)", src):
            assert (page.parent / src.split("#")[0]).is_file(), f"{name}: missing image {src}"
    if name.startswith("notebooks/"):
        notebook = json.loads((ROOT / f"{name}.ipynb").read_text())
        figures = sum(1 for c in notebook["cells"] for o in c.get("outputs", [])
                      if "image/png" in o.get("data", {}))
        shown = [s for s in parser.images if not s.startswith(("http", "data:"))
                 and "logo" not in s]
        assert len(shown) >= figures > 0, f"{name}: {len(shown)} images for {figures} figures"
        assert "Traceback (most recent call last)" not in dom
