"""The built site in headless Chromium: every page loads with no console error and no
failed or outside request, every image loads, internal links resolve, no TeX is left as
text, the home page's numbers are the record's scorecard's and the smoke-test page's the
ci run's, the scorecard's share stays in view on a phone, and the catalogue filters
work. Skips, saying why, where chromium, playwright or MathJax is not installed.
Screenshots of the pages, 1400 and 390 px wide, land in build/screenshots/site-test/ for
people to look at."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from scalinglab.site.build import find_mathjax
from scalinglab.site.catalogue import load_catalogue
from scalinglab.site.fixtures import fixture_catalogue, shared_fixture_site
from scalinglab.site.inputs import SiteInputError

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.browser


def shared_site_folder(tmp_path_factory) -> Path:
    """The folder test_site.py builds its site in (one per session, shared by workers)."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "fixture-site"

try:
    import playwright.sync_api  # noqa: F401
    from scalinglab.site.check import check_built_site, check_site, find_chromium
    CHROMIUM = find_chromium()
    SKIP = None if CHROMIUM else "no chromium installed (apt-get install -y chromium): browser test skipped"
except ImportError:
    CHROMIUM, SKIP = None, "the playwright package is not installed: browser test skipped"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    if SKIP:
        pytest.skip(SKIP)
    try:
        find_mathjax(ROOT)
    except SiteInputError as exc:
        pytest.skip(str(exc))
    # the site test_site.py builds, built once per session whichever module asks first
    catalogue = load_catalogue(ROOT / "data" / "papers.yaml") + fixture_catalogue()
    built = shared_fixture_site(shared_site_folder(tmp_path_factory), catalogue)
    return {"html": built["html"], "inputs": built, "catalogue": catalogue}


def test_every_page_works_in_a_browser(site):
    shots = ROOT / "build" / "screenshots" / "site-test"
    # as `python -m scalinglab.site check` does: against the scorecards the site says it shows
    report = check_built_site(site["html"], results=site["inputs"]["results"],
                              build=site["inputs"]["build"], screenshots=shots, chromium=CHROMIUM)
    assert not report.problems, "\n".join(report.problems)
    assert report.scorecards == [site["inputs"]["scorecard_path"],
                                 site["inputs"]["smoke_run"].scorecard_path]
    html_pages = [p for p in site["html"].rglob("*.html") if not p.relative_to(site["html"]).parts[0].startswith("_")]
    assert len(report.pages) == len(html_pages)
    assert report.images >= 5  # four notebook figures and the exponent plot
    assert report.links > 100
    for width in (1400, 390):
        assert (shots / f"index-{width}.png").stat().st_size > 10_000
        assert (shots / f"smoke-{width}.png").is_file()


def test_catalogue_filter_shows_exactly_the_selected_rows(site):
    from playwright.sync_api import sync_playwright
    from scalinglab.site.check import CHROMIUM_ARGS, serve_in_thread

    planned = sum(p.status == "planned" for p in site["catalogue"])
    vision_planned = sum(p.status == "planned" and p.topic == "vision" for p in site["catalogue"])
    with serve_in_thread(site["html"]) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(base + "catalogue.html")
            visible = "#catalogue-table tbody tr:not([hidden])"
            assert page.locator(visible).count() == len(site["catalogue"])
            page.select_option("#filter-status", "planned")
            assert page.locator(visible).count() == planned
            assert page.locator("#catalogue-shown").inner_text() == str(planned)
            page.select_option("#filter-topic", "vision")
            assert page.locator(visible).count() == vision_planned > 0
            assert "status=planned" in page.url and "topic=vision" in page.url
            page.fill("#filter-text", "no title contains this phrase")
            assert page.locator(visible).count() == 0
            assert page.locator("#catalogue-empty").is_visible()
            page.click("#filter-reset")
            assert page.locator(visible).count() == len(site["catalogue"])
        finally:
            browser.close()


def test_the_check_finds_a_broken_site(site, tmp_path):
    """The checks can fail: a missing figure, a dead link, a script error, an outside
    request and a wrong scorecard number are each reported."""
    broken = tmp_path / "html"
    shutil.copytree(site["html"], broken)
    page = broken / "papers" / "fixture2020_power.html"
    text = page.read_text(encoding="utf-8")
    text = text.replace("</article>", "<a href='../no-such-page.html'>dead</a>"
                        "<img src='https://example.org/logo.png'>"
                        "<script>undefinedFunction()</script></article>", 1)
    page.write_text(text, encoding="utf-8")
    for image in (broken / "_images").glob("*.png"):
        if image.name != "exponents.png":
            image.unlink()
    catalogue = broken / "catalogue.html"
    catalogue.write_text(catalogue.read_text(encoding="utf-8").replace(
        "<code>t5x</code>", "$\\texttt{t5x}$", 1), encoding="utf-8")
    (broken / "favicon.ico").unlink()
    card = json.loads(site["inputs"]["scorecard_path"].read_text())
    card["papers"][0]["claims_reproduced"] += 1
    card["totals"]["claims_reproduced"] += 1
    wrong = tmp_path / "scorecard.json"
    wrong.write_text(json.dumps(card))
    # on a phone the scorecard's share column no longer fits and nothing says it scrolls
    css = broken / "_static" / "scalinglab.css"
    css.write_text(css.read_text(encoding="utf-8") + "\ntable.sl-scorecard td:first-child "
                   "{ min-width: 40rem !important; }\n.sl-table-wrap.sl-scrolls { outline: 0; }\n",
                   encoding="utf-8")
    js = broken / "_static" / "scalinglab.js"
    js.write_text("", encoding="utf-8")
    report = check_site(broken, scorecard=wrong, chromium=CHROMIUM, check_filters=False,
                        pages=["index.html", "catalogue.html", "papers/fixture2020_power.html"])
    problems = "\n".join(report.problems)
    assert "image did not load" in problems
    assert "broken link" in problems and "no-such-page.html" in problems
    assert "undefinedFunction" in problems
    assert "example.org" in problems
    assert "claims_reproduced: page shows" in problems
    assert "TeX shown as text" in problems and "texttt" in problems
    assert "favicon.ico: HTTP 404" in problems
    assert "share column is out of view" in problems
