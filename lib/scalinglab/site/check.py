"""Check a built site in headless Chromium, as a reader would meet it.

    python -m scalinglab.site check [--dir build/site/html] [--screenshots build/screenshots]

Every page is loaded from a local server with no other host reachable: it must load
with no console error, no failed request and no request leaving the machine; every
image must have loaded, every internal link (and its #fragment) must resolve, no TeX may
be left untypeset, the home page's scorecard numbers must equal those of the scorecard
file it shows (the record's) and the smoke-test page's those of the ci run, on a phone
the scorecard's share column must stay in view, /favicon.ico must be served, and the
catalogue filters must show exactly the rows they select. Screenshots are taken 1400 and
390 px wide (NAME-1400.png, NAME-390.png). Uses Debian's chromium through the playwright
package.
"""
from __future__ import annotations

import contextlib
import functools
import http.server
import json
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlsplit

WIDTHS = (1400, 390)  # a desktop and a phone
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")


def find_chromium() -> str | None:
    for path in CHROMIUM_CANDIDATES:
        if Path(path).exists():
            return path
    return shutil.which("chromium")


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's name
        pass


@contextlib.contextmanager
def serve_in_thread(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) from a thread; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class CheckReport:
    pages: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    images: int = 0
    links: int = 0
    screenshots: list[Path] = field(default_factory=list)
    scorecards: list[Path] = field(default_factory=list)  # what the numbers were checked against

    def add(self, page: str, message: str) -> None:
        self.problems.append(f"{page}: {message}")


_ID_ATTR = re.compile(r"""\bid\s*=\s*["']([^"']+)["']""")


@functools.lru_cache(maxsize=None)
def _ids(path: Path) -> frozenset[str]:
    return frozenset(_ID_ATTR.findall(path.read_text(encoding="utf-8", errors="replace")))


def _html_pages(html_dir: Path) -> list[str]:
    return sorted(str(p.relative_to(html_dir)) for p in html_dir.rglob("*.html")
                  if not any(part.startswith(("_", ".")) for part in p.relative_to(html_dir).parts))


def _check_link(href: str, base: str, html_dir: Path) -> str | None:
    """None when an internal link resolves; else what is wrong."""
    parts = urlsplit(href)
    if not href.startswith(base):
        return None  # an external link: followed by nobody here
    rel = unquote(parts.path[len(urlsplit(base).path):])
    target = html_dir / rel
    if rel == "" or rel.endswith("/"):
        target = target / "index.html"
    if not target.is_file():
        return f"broken link {href}"
    if parts.fragment and target.suffix == ".html" and unquote(parts.fragment) not in _ids(target):
        return f"link to a missing anchor {href}"
    return None


_SOURCE = re.compile(r"""<table[^>]*\bid=["']scorecard-table["'][^>]*>""")


def site_source(html_dir: str | Path) -> tuple[str, str]:
    """(kind, profile) of the run a built site shows: ("record", "cpu") or ("run", "ci"),
    read from its home page's scorecard table."""
    text = (Path(html_dir) / "index.html").read_text(encoding="utf-8", errors="replace")
    table = _SOURCE.search(text)
    if not table:
        raise ValueError(f"{html_dir}/index.html has no scorecard table")
    attrs = dict(re.findall(r"""([\w-]+)=["']([^"']*)["']""", table.group(0)))
    return attrs.get("data-source", "run"), attrs.get("data-profile", "")


# TeX left as text (not typeset by MathJax) in a page's visible text
_RAW_TEX_JS = r"""() => {
  const bad = [];
  const skip = el => el.closest('pre, code, script, style, mjx-container, .math, .highlight, textarea');
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const tex = /\\(texttt|frac|alpha|beta|gamma|mathrm|sqrt|cdot|propto|sim)\b|\$[^$\s]+\$/;
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement && !skip(node.parentElement) && tex.test(node.textContent)) {
      bad.push(node.textContent.trim().slice(0, 80));
    }
  }
  return bad;
}"""


def check_built_site(html_dir: Path, *, results: Path, build: Path, root: Path | None = None,
                     scorecard: Path | None = None, screenshots: Path | None = None,
                     chromium: str | None = None) -> CheckReport:
    """``python -m scalinglab.site check``: check the site in ``html_dir`` against the
    scorecards it says it shows, found where the build finds them (the record of its
    profile under ``results``, the ci run under ``build``), unless ``scorecard`` is given."""
    from scalinglab.site.inputs import SiteInputError, resolve_runs, smoke_run
    if not (html_dir / "index.html").exists():
        raise SiteInputError(f"no site in {html_dir}: run `make site` first")
    smoke_scorecard = None
    if scorecard is None:
        kind, profile = site_source(html_dir)
        if kind == "record":
            record, smoke = resolve_runs(results, build, profile=profile, root=root)
            scorecard = record.scorecard_path
            if smoke is not None and (html_dir / "smoke.html").exists():
                smoke_scorecard = smoke.scorecard_path
        else:
            scorecard = smoke_run(build, root).scorecard_path
    report = check_site(html_dir, scorecard=scorecard, smoke_scorecard=smoke_scorecard,
                        screenshots=screenshots, chromium=chromium)
    report.scorecards = [p for p in (scorecard, smoke_scorecard) if p]
    return report


def check_site(html_dir: str | Path, *, scorecard: str | Path | None = None,
               smoke_scorecard: str | Path | None = None,
               screenshots: str | Path | None = None, chromium: str | None = None,
               pages: list[str] | None = None, check_filters: bool = True) -> CheckReport:
    from playwright.sync_api import sync_playwright

    html_dir = Path(html_dir)
    chromium = chromium or find_chromium()
    if not chromium:
        raise RuntimeError("no chromium found (apt-get install -y chromium)")
    report = CheckReport()
    pages = pages or _html_pages(html_dir)
    shots = Path(screenshots) if screenshots else None
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
    with serve_in_thread(html_dir) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": WIDTHS[0], "height": 900})
            host = urlsplit(base).netloc

            def guard(route):  # nothing may leave the machine
                if urlsplit(route.request.url).netloc == host or route.request.url.startswith("data:"):
                    route.continue_()
                else:
                    route.abort()
            context.route("**/*", guard)
            page = context.new_page()
            current: dict[str, str] = {"page": ""}
            page.on("console", lambda m: m.type == "error" and report.add(
                current["page"], f"console error: {m.text}"))
            page.on("pageerror", lambda e: report.add(current["page"], f"script error: {e}"))
            # (a request cut short by leaving the page, ERR_ABORTED, is not the site's fault)
            page.on("requestfailed", lambda r: "ERR_ABORTED" not in str(r.failure) and report.add(
                current["page"], f"request failed: {r.url} ({r.failure})"))
            page.on("response", lambda r: r.status >= 400 and report.add(
                current["page"], f"HTTP {r.status} for {r.url}"))
            for name in pages:
                current["page"] = name
                page.goto(base + name, wait_until="load")
                page.wait_for_load_state("networkidle")
                if page.locator("mjx-container, .math").count():
                    # MathJax typesets after load; wait until it has (it reports errors as above)
                    with contextlib.suppress(Exception):
                        page.wait_for_function(
                            "() => !document.querySelector('.math') || document.querySelector('mjx-container')",
                            timeout=15000)
                report.pages.append(name)
                images = page.eval_on_selector_all(
                    "img", "els => els.map(e => [e.getAttribute('src'), e.complete && e.naturalWidth > 0])")
                report.images += len(images)
                for src, ok in images:
                    if not ok:
                        report.add(name, f"image did not load: {src}")
                if page.locator(".math").count() and not page.locator("mjx-container").count():
                    report.add(name, "math was not typeset (MathJax did not run)")
                for text in page.evaluate(_RAW_TEX_JS)[:3]:
                    report.add(name, f"TeX shown as text: {text!r}")
                hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)")
                for href in sorted(set(hrefs)):
                    if href.startswith(base):
                        report.links += 1
                    problem = _check_link(href, base, html_dir)
                    if problem:
                        report.add(name, problem)
                if shots and _wants_screenshot(name, report):
                    _screenshots(page, name, shots, report)
            if scorecard:
                current["page"] = "index.html"
                page.goto(base + "index.html", wait_until="load")
                _check_scorecard(page, json.loads(Path(scorecard).read_text()), report,
                                 "index.html", "#scorecard-table")
                _check_phone(page, report)
            if smoke_scorecard:
                current["page"] = "smoke.html"
                page.goto(base + "smoke.html", wait_until="load")
                _check_scorecard(page, json.loads(Path(smoke_scorecard).read_text()), report,
                                 "smoke.html", "#smoke-table")
            current["page"] = "favicon.ico"
            response = page.request.get(base + "favicon.ico")
            if response.status != 200:
                report.add("favicon.ico", f"HTTP {response.status}")
            if check_filters and (html_dir / "catalogue.html").exists():
                current["page"] = "catalogue.html"
                _check_filters(page, base, report)
        finally:
            browser.close()
    return report


def _wants_screenshot(name: str, report: CheckReport) -> bool:
    """The home page, the smoke test, the catalogue, two methods pages and the first two
    paper pages."""
    if name in ("index.html", "smoke.html", "catalogue.html", "methods/index.html",
                "methods/fitters.html"):
        return True
    papers = {p.name.rsplit("-", 1)[0] for p in report.screenshots if p.name.startswith("papers_")}
    return name.startswith("papers/") and name != "papers/index.html" and len(papers) < 2


def _screenshots(page, name: str, shots: Path, report: CheckReport) -> None:
    """The page at each of WIDTHS; long pages down to 6000 px."""
    stem = name.replace("/", "_").removesuffix(".html")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        height = page.evaluate("() => document.documentElement.scrollHeight")
        path = shots / f"{stem}-{width}.png"
        page.screenshot(path=str(path), full_page=True,
                        clip={"x": 0, "y": 0, "width": width, "height": min(height, 6000)})
        report.screenshots.append(path)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    page.wait_for_load_state("networkidle")  # what the narrow layout loaded (fonts, math)


def _check_phone(page, report: CheckReport) -> None:
    """On a phone the home scorecard's share column stays in view, or its table scrolls
    and says so."""
    page.set_viewport_size({"width": WIDTHS[-1], "height": 800})
    try:
        found = page.evaluate("""() => {
            const cell = document.querySelector('#scorecard-table tbody tr .sl-share');
            const wrap = document.querySelector('#scorecard-table').closest('.sl-table-wrap');
            if (!cell || !wrap) return null;
            const r = cell.getBoundingClientRect();
            return {right: r.right, width: window.innerWidth,
                    scrolls: wrap.scrollWidth > wrap.clientWidth,
                    hinted: wrap.classList.contains('sl-scrolls')};
        }""")
    finally:
        page.set_viewport_size({"width": WIDTHS[0], "height": 900})
    if found is None:
        return
    if found["right"] > found["width"] and not (found["scrolls"] and found["hinted"]):
        report.add("index.html", f"on a {WIDTHS[-1]} px screen the scorecard's share column is out "
                                 "of view and the table gives no sign that it scrolls")


def _check_scorecard(page, card: dict, report: CheckReport, name: str = "index.html",
                     table: str = "#scorecard-table") -> None:
    profile = page.eval_on_selector(table, "t => t.dataset.profile") if page.locator(table).count() else None
    if profile is None:
        report.add(name, f"no scorecard table {table}")
        return
    if profile != card["profile"]:
        report.add(name, f"the page shows the {profile} profile, the scorecard is {card['profile']}'s")
    rows = page.eval_on_selector_all(f"{table} tbody tr", """rows => rows.map(r => {
        const out = {paper: r.dataset.paper, profile: r.dataset.profile};
        r.querySelectorAll('[data-field]').forEach(e => { out[e.dataset.field] = e.dataset.value || e.textContent.trim(); });
        return out; })""")
    shown = {r["paper"]: r for r in rows}
    expected = [p["paper"] for p in card["papers"]]
    if [r["paper"] for r in rows] != expected:
        report.add(name, f"scorecard rows {[r['paper'] for r in rows]} != scorecard.json {expected}")
    for p in card["papers"]:
        row = shown.get(p["paper"])
        if row is None:
            continue
        keys = ["claims_reproduced", "claims_judged", "claims_indicative", "profile", "date"]
        keys += [k for k in ("checks", "checks_hold") if k in p]
        for key in keys:
            if str(row.get(key)) != str(p[key]):
                report.add(name, f"{p['paper']} {key}: page shows {row.get(key)!r}, "
                                 f"scorecard.json has {p[key]!r}")
        if float(row.get("wall_time_s", "nan")) != float(p["wall_time_s"]):
            report.add(name, f"{p['paper']} wall time differs from scorecard.json")
        if str(row.get("device")) != str(p["device"] or "—"):
            report.add(name, f"{p['paper']} device differs from scorecard.json")
    totals = page.eval_on_selector_all(
        "[data-total]", "els => els.map(e => [e.dataset.total, e.textContent.trim()])")
    shown_keys = {key for key, _ in totals}
    for key in ("papers", "claims_reproduced", "claims_judged"):
        if key not in shown_keys:
            report.add(name, f"the scorecard total {key} is not shown")
    for key, value in totals:
        if str(card["totals"].get(key)) != value:
            report.add(name, f"total {key}: page shows {value}, scorecard.json has "
                             f"{card['totals'].get(key)}")


def _visible_rows(page) -> list[dict]:
    return page.eval_on_selector_all("#catalogue-table tbody tr", """rows => rows.map(r => ({
        status: r.dataset.status, topic: r.dataset.topic, category: r.dataset.category,
        text: r.textContent.toLowerCase(), visible: !r.hidden && r.offsetParent !== null }))""")


def _check_filters(page, base: str, report: CheckReport) -> None:
    page.goto(base + "catalogue.html", wait_until="load")
    rows = _visible_rows(page)
    if not rows or not all(r["visible"] for r in rows):
        report.add("catalogue.html", "the catalogue does not show every paper before filtering")
        return

    def expect(label: str, keep) -> None:
        now = _visible_rows(page)
        wanted = [keep(r) for r in now]
        shown = [r["visible"] for r in now]
        if wanted != shown:
            report.add("catalogue.html", f"filter {label}: shows {sum(shown)} rows, should show {sum(wanted)}")
        count = page.locator("#catalogue-shown").inner_text().strip()
        if count != str(sum(wanted)):
            report.add("catalogue.html", f"filter {label}: the count says {count}, rows shown {sum(wanted)}")

    statuses = sorted({r["status"] for r in rows})
    topics = sorted({r["topic"] for r in rows})
    for status in statuses:
        page.select_option("#filter-status", status)
        expect(f"status={status}", lambda r, s=status: r["status"] == s)
    status = statuses[0]
    page.select_option("#filter-status", status)
    topic = next((r["topic"] for r in rows if r["status"] == status), topics[0])
    page.select_option("#filter-topic", topic)
    expect(f"status={status} and topic={topic}", lambda r: r["status"] == status and r["topic"] == topic)
    page.click("#filter-reset")
    expect("reset", lambda r: True)
    word = rows[-1]["text"].split()[0]
    page.fill("#filter-text", word)
    expect(f"search {word!r}", lambda r: word in r["text"])
    page.click("#filter-reset")
    # a filtered view can be linked to
    page.goto(base + "catalogue.html?status=" + status.replace(" ", "+"), wait_until="load")
    expect(f"address ?status={status}", lambda r: r["status"] == status)
