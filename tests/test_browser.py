"""Open the built book in a real browser, with the network cut off.

Serves ``_build/html`` on 127.0.0.1 and drives the system's Chromium (headless,
through Playwright's Python package; never a downloaded browser). Every request
to another host is blocked and counted. For every page in ``_toc.yml``: HTTP 200,
no console errors, no blocked or failed requests, every image loaded and with alt
text, figures sharp on a 2x screen (at least 1.5 image pixels per CSS pixel),
maths rendered by the MathJax that the book carries, no display equation wider
than its column, and no code or output that scrolls sideways. The search page
must find "gradient". A full-page screenshot of each page goes to
``_build/screenshots/`` for people to look at.

Run by ``make test`` after the book is built (``pytest -m browser``).
"""

from __future__ import annotations

import functools
import os
import re
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
# BOOK_HTML: a book built elsewhere (jupyter-book build . --path-output DIR puts it in DIR/_build/html).
HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
# Launch buttons load these only when clicked; a page may mention them, never fetch them.
ON_DEMAND = re.compile(r"mybinder\.org|thebe", re.IGNORECASE)


def toc_documents() -> list[str]:
    """Every document in _toc.yml (root first), as paths without suffix."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    docs = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries or []:
            if "file" in entry:
                docs.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []))
    return [str(Path(d).with_suffix("")) if Path(d).suffix in (".md", ".ipynb") else d for d in docs]


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def server():
    """The built book, served on 127.0.0.1 at an ephemeral port."""
    if not (HTML / "index.html").is_file():
        pytest.fail(f"No built book in {HTML}: run `make book` (or `make test`) first.", pytrace=False)
    handler = functools.partial(_QuietHandler, directory=str(HTML))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium from the system, driven by Playwright."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser test needs Chromium at {CHROMIUM}, which is missing. Install it with\n"
            "    sudo apt-get install chromium\n"
            "(`make test` does this itself when run as root), or set CHROMIUM=/path/to/chromium.",
            pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageVisit:
    """One page opened in a fresh context, with everything that went wrong recorded."""

    def __init__(self, browser, server: str) -> None:
        self.server = server
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.blocked: list[str] = []
        self.failed: list[str] = []
        self.console_errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(f"uncaught: {e}"))
        self.page.on("requestfailed", self._request_failed)
        self.page.on("response", self._response)

    def _local(self, url: str) -> bool:
        return url.startswith(self.server + "/") or url.startswith(("data:", "blob:", "about:"))

    def _route(self, route) -> None:
        url = route.request.url
        if self._local(url):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort("blockedbyclient")

    def _request_failed(self, request) -> None:
        if self._local(request.url):
            self.failed.append(f"{request.url} ({request.failure})")

    def _response(self, response) -> None:
        if self._local(response.url) and response.status >= 400:
            self.failed.append(f"{response.url} (HTTP {response.status})")

    def open(self, path: str) -> int:
        response = self.page.goto(f"{self.server}/{path}", wait_until="load")
        self.page.wait_for_load_state("networkidle")
        return response.status if response else 0

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, server):
    visit = PageVisit(browser, server)
    yield visit
    visit.close()


def _screenshot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name.replace('/', '_')}.png"), full_page=True)


WAIT_FOR_IMAGES = """() => Promise.all([...document.images].map(img => {
    img.loading = "eager";
    return img.complete ? null : new Promise(done => { img.onload = img.onerror = done; });
}))"""

BROKEN_IMAGES = """() => [...document.images]
    .filter(img => !(img.complete && img.naturalWidth > 0))
    .map(img => img.currentSrc || img.src)"""

IMAGES_WITHOUT_ALT = """() => [...document.images]
    .filter(img => !(img.getAttribute("alt") || "").trim())
    .map(img => img.currentSrc || img.src)"""

UNRENDERED_MATHS = """() => [...document.querySelectorAll(".math")]
    .filter(el => !el.querySelector("mjx-container"))
    .map(el => el.textContent.slice(0, 60))"""


# Figures are drawn at 2x (InlineBackend "retina") and shown at half their pixel size.
MIN_DENSITY = 1.5
BLURRY_IMAGES = """(minimum) => [...document.querySelectorAll("article img")]
    .filter(img => img.clientWidth > 0 && img.naturalWidth / img.clientWidth < minimum)
    .map(img => `${(img.currentSrc || img.src).split("/").pop()}: ${img.naturalWidth} px `
               + `shown at ${img.clientWidth} CSS px`)"""

# A display equation wider than its column is cut off (or scrolls with no visible cue).
OVERFLOWING_MATHS = """() => [...document.querySelectorAll('mjx-container[display="true"]')]
    .filter(el => {
        const maths = el.querySelector("mjx-math");
        const column = el.closest("div.math, .math") || el.parentElement;
        return maths && maths.getBoundingClientRect().width > column.clientWidth + 1;
    })
    .map(el => (el.closest(".math") || el).textContent.slice(0, 60))"""

# Solutions (toggle buttons) and hidden inputs (<details>) open, as a reader opens them,
# so that what they hide is measured too.
OPEN_EVERYTHING = """() => {
    document.querySelectorAll("details").forEach(d => { d.open = true; });
    document.querySelectorAll(".toggle-button.toggle-button-hidden").forEach(b => b.click());
    return document.querySelectorAll(".toggle-hidden").length;
}"""

# Code and outputs wrap or fit: nothing a reader must scroll sideways to read.
SIDEWAYS = """() => [...document.querySelectorAll("article pre")]
    .filter(pre => pre.scrollWidth > pre.clientWidth + 1)
    .map(pre => pre.textContent.split("\\n").reduce((a, b) => a.length >= b.length ? a : b).slice(0, 80))"""


def test_toc_lists_pages():
    docs = toc_documents()
    assert docs[0] == "book/intro" and len(docs) >= 2, docs


@pytest.mark.parametrize("doc", toc_documents())
def test_page(visit, doc):
    status = visit.open(f"{doc}.html")
    page = visit.page
    assert status == 200, f"{doc}.html: HTTP {status}"

    page.evaluate(WAIT_FOR_IMAGES)
    maths = page.locator(".math").count()
    if maths:
        page.wait_for_selector("mjx-container", state="attached", timeout=20_000)
        page.evaluate("() => window.MathJax.startup.promise")
    _screenshot(page, doc)

    problems = []
    if visit.console_errors:
        problems.append(f"console errors: {visit.console_errors}")
    blocked = [url for url in visit.blocked if not ON_DEMAND.search(url)]
    if blocked:
        problems.append(f"requests to other hosts (blocked): {blocked}")
    if visit.failed:
        problems.append(f"failed requests: {visit.failed}")
    broken = page.evaluate(BROKEN_IMAGES)
    if broken:
        problems.append(f"images that did not load: {broken}")
    no_alt = page.evaluate(IMAGES_WITHOUT_ALT)
    if no_alt:
        problems.append(f"images without alt text: {no_alt}")
    still_hidden = page.evaluate(OPEN_EVERYTHING)
    if still_hidden:
        problems.append(f"{still_hidden} toggled elements did not open")
    if maths:
        page.evaluate("() => window.MathJax.startup.promise")
    blurry = page.evaluate(BLURRY_IMAGES, MIN_DENSITY)
    if blurry:
        problems.append(f"figures below {MIN_DENSITY} image pixels per CSS pixel: {blurry}")
    sideways = page.evaluate(SIDEWAYS)
    if sideways:
        problems.append(f"code or output that scrolls sideways (longest lines): {sideways}")
    if maths:
        overflowing = page.evaluate(OVERFLOWING_MATHS)
        if overflowing:
            problems.append(f"display equations wider than the column at 1280 px: {overflowing}")
        unrendered = page.evaluate(UNRENDERED_MATHS)
        if unrendered:
            problems.append(f"maths not rendered by MathJax: {unrendered}")
        if page.locator("mjx-merror").count():
            problems.append("MathJax reported a TeX error (mjx-merror)")
        mathjax = page.evaluate(
            "() => [...document.scripts].map(s => s.src).filter(s => /mathjax/i.test(s))")
        if not mathjax or not all(src.startswith(visit.server) for src in mathjax):
            problems.append(f"MathJax not served by the book itself: {mathjax}")
    assert not problems, f"{doc}.html:\n  " + "\n  ".join(problems)


def test_search_finds_gradient(visit):
    status = visit.open("search.html?q=gradient")
    assert status == 200
    page = visit.page
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=20_000)
    _screenshot(page, "search")
    assert results.count() > 0
    assert not visit.console_errors, visit.console_errors
    assert not [url for url in visit.blocked if not ON_DEMAND.search(url)], visit.blocked
    assert not visit.failed, visit.failed
