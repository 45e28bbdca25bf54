"""The static site built from small inputs the test makes (no `make reproduce` needed):
the pages exist, their numbers are the scorecard's, nothing loads from another host,
and Sphinx warnings fail the build."""
from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scalinglab.site.build import SiteBuildError, build_site, find_mathjax
from scalinglab.site.catalogue import load_catalogue
from scalinglab.site.exponents import exponent_points
from scalinglab.site.fixtures import PAPERS, make_fixture_inputs
from scalinglab.site.inputs import SiteInputError, read_claims

ROOT = Path(__file__).resolve().parents[1]


def _mathjax_or_skip() -> Path:
    try:
        return find_mathjax(ROOT)
    except SiteInputError as exc:
        pytest.skip(f"{exc}")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _mathjax_or_skip()
    folder = tmp_path_factory.mktemp("site")
    inputs = make_fixture_inputs(folder / "inputs")
    docs = folder / "docs"
    docs.mkdir()
    (docs / "cluster.md").write_text("# Running on a cluster\n\nUse `EXECUTOR=slurm`.\n")
    (docs / "notes.md").write_text("A guide without a title of its own.\n")
    # the real catalogue, plus the fixture papers that have notebooks
    catalogue = load_catalogue(ROOT / "data" / "papers.yaml") + inputs["catalogue"]
    result = build_site(inputs["notebooks_dir"], inputs["scorecard_path"], catalogue,
                        folder / "out", claims_dir=inputs["claims_dir"], docs_dir=docs)
    return {"result": result, "html": result.html_dir, "inputs": inputs, "catalogue": catalogue}


class _Collector(HTMLParser):
    """Tags with their attributes, and the text of elements carrying data-field/data-total."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.values: list[tuple[str, str, str]] = []  # (kind, key, text)
        self._open: list[tuple[str, str, str, list[str]]] = []
        self._row: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: v or "" for k, v in attrs}
        self.tags.append((tag, attrs))
        if tag == "tr" and "data-paper" in attrs:
            self._row = attrs["data-paper"]
        for kind in ("data-field", "data-total"):
            if kind in attrs:
                key = attrs[kind] if kind == "data-total" else f"{self._row}:{attrs[kind]}"
                self._open.append((tag, kind, key, []))

    def handle_data(self, data):
        for entry in self._open:
            entry[3].append(data)

    def handle_endtag(self, tag):
        if self._open and self._open[-1][0] == tag:
            _, kind, key, text = self._open.pop()
            self.values.append((kind, key, "".join(text).strip()))


def _parse(path: Path) -> _Collector:
    parser = _Collector()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_page_is_built(site):
    html = site["html"]
    expected = ["index.html", "catalogue.html", "papers/index.html", "methods/index.html",
                "methods/profiles.html", "methods/run-cache.html", "methods/fitters.html",
                "methods/claims.html", "methods/adding-a-paper.html",
                "methods/guides/cluster.html", "methods/guides/notes.html"]
    expected += [f"papers/{paper}.html" for paper, *_ in PAPERS]
    missing = [name for name in expected if not (html / name).is_file()]
    assert not missing
    assert site["result"].papers == sorted(paper for paper, *_ in PAPERS)
    assert site["result"].pages == len(expected)


def test_home_numbers_are_the_scorecards(site):
    card = json.loads(site["inputs"]["scorecard_path"].read_text())
    values = _parse(site["html"] / "index.html").values
    fields = {key: text for kind, key, text in values if kind == "data-field"}
    for p in card["papers"]:
        for key in ("claims_reproduced", "claims_judged", "claims_indicative", "profile", "date"):
            assert fields[f"{p['paper']}:{key}"] == str(p[key]), (p["paper"], key)
    totals = [(key, text) for kind, key, text in values if kind == "data-total"]
    assert {key for key, _ in totals} == set(card["totals"])
    for key, text in totals:
        assert text == str(card["totals"][key]), key


def test_no_page_loads_anything_from_another_host(site):
    for page in site["html"].rglob("*.html"):
        for tag, attrs in _parse(page).tags:
            for attr in ("src", "srcset"):
                assert not re.match(r"^(https?:)?//", attrs.get(attr, "")), (page.name, tag, attrs)
            if tag == "link" and attrs.get("rel") not in ("canonical",):
                assert not re.match(r"^(https?:)?//", attrs.get("href", "")), (page.name, attrs)
    static = site["html"] / "_static"
    # MathJax's own code names CDN addresses only as defaults that the site's config replaces
    assets = [p for p in static.rglob("*") if p.suffix in (".css", ".js") and "mathjax" not in p.parts]
    assert len(assets) > 5
    for asset in assets:
        text = asset.read_text(encoding="utf-8", errors="replace")
        assert not re.search(r"""url\(\s*["']?https?://""", text), asset.name
        assert not re.search(r"""@import\s+["']?(url\()?["']?https?://""", text), asset.name


def test_math_is_served_by_the_site(site):
    html = site["html"]
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert list((html / "_static" / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))
    page = (html / "papers" / f"{PAPERS[0][0]}.html").read_text(encoding="utf-8")
    assert re.search(r'<script[^>]+src="\.\./_static/mathjax/tex-chtml\.js', page)


def test_paper_pages_have_summary_provenance_and_download(site):
    html, inputs = site["html"], site["inputs"]
    good = (html / "papers" / "fixture2020_power.html").read_text(encoding="utf-8")
    assert "2 of 3</strong> judged claims reproduced" in good
    assert 'id="run-provenance"' in good and "0123456789ab" in good
    assert "../notebooks/fixture2020_power.ipynb" in good
    assert re.search(r'<img[^>]+src="\.\./_images/[0-9a-f]+\.png"', good), "the notebook's figure"
    downloaded = html / "notebooks" / "fixture2020_power.ipynb"
    assert downloaded.read_bytes() == (inputs["notebooks_dir"] / "fixture2020_power.ipynb").read_bytes()
    cached = (html / "papers" / "fixture2021_theory.html").read_text(encoding="utf-8")
    assert "1 indicative" in cached
    failed = (html / "papers" / "fixture2022_broken.html").read_text(encoding="utf-8")
    assert "This notebook failed" in failed and "the sweep diverged" in failed


def test_catalogue_lists_every_paper_once(site):
    tags = _parse(site["html"] / "catalogue.html").tags
    rows = [a for t, a in tags if t == "tr" and "data-status" in a]
    assert sorted(r["id"] for r in rows) == sorted(f"paper-{p.id}" for p in site["catalogue"])
    status = {f"paper-{p.id}": p.status for p in site["catalogue"]}
    assert all(r["data-status"] == status[r["id"]] for r in rows)
    order = ["reproduced", "in progress", "planned", "out of scope"]
    ranks = [order.index(r["data-status"]) for r in rows]
    assert ranks == sorted(ranks), "reproduced papers first, out-of-scope last"
    topics = {a["value"] for t, a in tags if t == "option" and a.get("value")}
    assert {p.topic for p in site["catalogue"]} <= topics


def test_exponent_plot_shows_every_tagged_claim_with_both_values(site):
    claims = [read_claims(p) for p in sorted(site["inputs"]["claims_dir"].glob("*.json"))]
    points = exponent_points(claims)
    expected = [(paper, c[0]) for paper, _, _, cl in PAPERS for c in cl
                if "exponent" in c[5] and c[2] is not None and c[3] is not None]
    assert sorted((p.paper, p.claim) for p in points) == sorted(expected)
    home = (site["html"] / "index.html").read_text(encoding="utf-8")
    assert len(re.findall(r"<tr data-claim=", home)) == len(expected)
    assert re.search(r'<img[^>]+src="_images/exponents\.png"', home)


def test_a_sphinx_warning_fails_the_build(tmp_path):
    _mathjax_or_skip()
    inputs = make_fixture_inputs(tmp_path / "inputs")
    path = inputs["notebooks_dir"] / "fixture2020_power.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"].insert(1, {"cell_type": "markdown", "id": "bad", "metadata": {},
                           "source": "See {ref}`a-label-that-does-not-exist`."})
    path.write_text(json.dumps(nb))
    with pytest.raises(SiteBuildError, match="a-label-that-does-not-exist"):
        build_site(inputs["notebooks_dir"], inputs["scorecard_path"], inputs["catalogue"],
                   tmp_path / "out", claims_dir=inputs["claims_dir"])


def test_missing_inputs_are_clear_errors(tmp_path):
    inputs = make_fixture_inputs(tmp_path / "inputs")
    with pytest.raises(SiteInputError, match="make reproduce"):
        build_site(tmp_path / "nowhere", inputs["scorecard_path"], inputs["catalogue"], tmp_path / "out")
    with pytest.raises(SiteInputError, match="make reproduce"):
        build_site(inputs["notebooks_dir"], tmp_path / "scorecard.json", inputs["catalogue"], tmp_path / "out")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"profile": "ci", "papers": []}))
    with pytest.raises(SiteInputError, match="totals"):
        build_site(inputs["notebooks_dir"], bad, inputs["catalogue"], tmp_path / "out")
    with pytest.raises(SiteInputError, match="npm ci"):
        find_mathjax(tmp_path)


def test_the_site_folder_has_no_cdn_reference():
    for path in (ROOT / "site").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".js", ".css", ".html", ".md"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"cdn\.|jsdelivr|unpkg|googleapis|cdnjs", text), path
