"""The static site built from small inputs the test makes (no `make record` needed): a
record at the cpu profile and a ci run. The pages exist, their numbers are the record's
scorecard's, the ci run is shown apart as the smoke test, statuses are derived, nothing
loads from another host, and Sphinx warnings fail the build."""
from __future__ import annotations

import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from scalinglab.repro.record import load_notebook
from scalinglab.site.build import SiteBuildError, build_site, find_mathjax
from scalinglab.site.catalogue import load_catalogue
from scalinglab.site.exponents import alt_text, exponent_points
from scalinglab.site.fixtures import (
    PAPERS, RECORD_PAPERS, RECORD_PROFILE, fixture_catalogue, make_fixture_inputs,
    make_fixture_record, shared_fixture_site,
)
from scalinglab.site.inputs import SiteInputError, read_claims, resolve_runs, smoke_run

ROOT = Path(__file__).resolve().parents[1]


def _mathjax_or_skip() -> Path:
    try:
        return find_mathjax(ROOT)
    except SiteInputError as exc:
        pytest.skip(f"{exc}")


def shared_site_folder(tmp_path_factory) -> Path:
    """One folder per test session, shared by pytest-xdist's workers."""
    base = tmp_path_factory.getbasetemp()
    return (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "fixture-site"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    _mathjax_or_skip()
    # the real catalogue, plus the fixture papers
    catalogue = load_catalogue(ROOT / "data" / "papers.yaml") + fixture_catalogue()
    built = shared_fixture_site(shared_site_folder(tmp_path_factory), catalogue)
    return {**built, "catalogue": catalogue, "inputs": built}


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


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


RECORDED = sorted(paper for paper, *_ in RECORD_PAPERS)


def test_every_page_is_built(site):
    html = site["html"]
    expected = ["index.html", "smoke.html", "catalogue.html", "papers/index.html",
                "methods/index.html", "methods/profiles.html", "methods/run-cache.html",
                "methods/fitters.html", "methods/fit-your-own-runs.html", "methods/claims.html", "methods/adding-a-paper.html",
                "methods/guides/cluster.html", "methods/guides/notes.html"]
    expected += [f"papers/{paper}.html" for paper in RECORDED]
    missing = [name for name in expected if not (html / name).is_file()]
    assert not missing
    assert site["papers"] == RECORDED, "paper pages come from the record, not the ci run"
    assert site["pages"] == len(expected)
    assert (html / "favicon.ico").is_file() and (html / "_static" / "favicon.svg").is_file()
    assert 'rel="icon"' in _text(html / "index.html")


def test_home_numbers_are_the_records(site):
    card = json.loads(site["inputs"]["scorecard_path"].read_text())
    assert card["record"] and card["profile"] == RECORD_PROFILE
    home = site["html"] / "index.html"
    values = _parse(home).values
    fields = {key: text for kind, key, text in values if kind == "data-field"}
    rows = {a["data-paper"]: a for t, a in _parse(home).tags if t == "tr" and "data-paper" in a}
    for p in card["papers"]:
        for key in ("claims_reproduced", "claims_judged", "claims_indicative", "date",
                    "checks", "checks_hold"):
            assert fields[f"{p['paper']}:{key}"] == str(p[key]), (p["paper"], key)
        assert rows[p["paper"]]["data-profile"] == p["profile"]
    totals = [(key, text) for kind, key, text in values if kind == "data-total"]
    assert {"papers", "claims_total", "claims_judged", "claims_reproduced", "claims_indicative",
            "checks", "checks_hold"} <= {key for key, _ in totals}
    for key, text in totals:
        assert text == str(card["totals"][key]), key
    text = _text(home)
    assert "Scorecard of record" in text and f"results/{RECORD_PROFILE}/" in text
    assert re.search(r"data-profile='cpu' data-source='record'", text)


def test_home_counts_only_counted_claims(site):
    claims = [read_claims(p) for p in sorted((site["inputs"]["record_dir"] / "claims").glob("*.json"))]
    counted = [c for cl in claims for c in cl.claims if c.counted]
    judged = [c for c in counted if c.verdict not in ("indicative", "not testable")]
    card = json.loads(site["inputs"]["scorecard_path"].read_text())
    assert card["totals"]["claims_judged"] == len(judged)
    assert card["totals"]["claims_reproduced"] == sum(c.verdict == "reproduced" for c in judged)
    assert card["totals"]["claims_total"] == len(counted) < sum(len(cl.claims) for cl in claims)
    home = _text(site["html"] / "index.html")
    # indicative claims say whether they would pass
    assert "2 would pass, 1 would fail" in home


def test_the_site_says_what_it_shows(site):
    from scalinglab.site.check import site_source
    assert site_source(site["html"]) == ("record", RECORD_PROFILE)
    home = _text(site["html"] / "index.html")
    assert f"at the <strong><code>{RECORD_PROFILE}</code> profile</strong>" in home
    # the paper page's summary comes right under its title
    page = _text(site["html"] / "papers" / "fixture2020_power.html")
    assert page.index("sl-paper-summary") < page.index("The paper claims that the loss follows")


def test_the_smoke_test_is_shown_apart_and_labelled(site):
    card = json.loads((site["inputs"]["build"] / "ci" / "scorecard.json").read_text())
    page = site["html"] / "smoke.html"
    text = _text(page)
    assert "A smoke test, not a result" in text
    assert re.search(r"id='smoke-table' data-profile='ci' data-source='run'", text)
    fields = {key: t for kind, key, t in _parse(page).values if kind == "data-field"}
    for p in card["papers"]:
        for key in ("claims_reproduced", "claims_judged", "claims_indicative", "status"):
            expected = {"ok": "ran"}.get(p[key], p[key]) if key == "status" else p[key]
            assert fields[f"{p['paper']}:{key}"] == str(expected), (p["paper"], key)
    for paper, *_ in PAPERS[:2]:  # the ci notebooks can be downloaded from the smoke page
        assert f"smoke/notebooks/{paper}.ipynb" in text
        assert (site["html"] / "smoke" / "notebooks" / f"{paper}.ipynb").is_file()
    assert "smoke.html" in _text(site["html"] / "index.html")


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


def test_math_is_served_by_the_site_and_rendered_as_math(site):
    html = site["html"]
    assert (html / "_static" / "mathjax" / "tex-chtml.js").is_file()
    assert list((html / "_static" / "mathjax" / "output" / "chtml" / "fonts").rglob("*.woff"))
    page = _text(html / "papers" / f"{RECORDED[0]}.html")
    assert re.search(r'<script[^>]+src="\.\./_static/mathjax/tex-chtml\.js', page)
    fitters = _text(html / "methods" / "fitters.html")
    assert "^(" not in fitters and "x^(" not in fitters, "caret formulas left as text"
    assert fitters.count('class="math') >= 5, "the laws and the power law are math"


def test_paper_pages_show_the_record(site):
    html, inputs = site["html"], site["inputs"]
    good = _text(html / "papers" / "fixture2020_power.html")
    assert "1 of 2</strong> judged claims reproduced at the <code>cpu</code> profile" in good
    assert "results of record" in good and "partly reproduced" in good
    assert "1 indicative, judged only at gpu: 0 would pass, 1 would fail" in good
    assert 'id="run-provenance"' in good and "0123456789ab" in good and "Fixture CPU" in good
    assert "../notebooks/fixture2020_power.ipynb" in good
    assert re.search(r'<img[^>]+src="\.\./_images/[0-9a-f]+\.png"', good), "the notebook's figure"
    # the download is the executed notebook with its images inline
    downloaded = json.loads((html / "notebooks" / "fixture2020_power.ipynb").read_text())
    assert downloaded == load_notebook(inputs["record_dir"] / "notebooks" / "fixture2020_power.ipynb")
    assert any("image/png" in o.get("data", {}) for c in downloaded["cells"] for o in c.get("outputs", []))
    # claims and checks in tables of their own
    claims_table = re.search(r"id='claims-table'.*?</table>", good, re.S).group(0)
    checks_table = re.search(r"id='checks-table'.*?</table>", good, re.S).group(0)
    assert "alpha_N" in claims_table and "compute_6ND" not in claims_table
    assert "L ∝ N<sup>−α<sub>N</sub></sup>" in claims_table, "powers as superscripts"
    assert "compute_6ND" in checks_table and "holds" in checks_table
    assert "indicative (would fail)" in claims_table
    theory = _text(html / "papers" / "fixture2021_theory.html")
    assert "1 would pass, 0 would fail" in theory and "1 fails" in theory
    refit = _text(html / "papers" / "fixture2023_refit.html")
    assert "departs from the rule: the paper states its exponent to two digits only" in refit


def test_parameters_are_shown_once_with_the_run_values(site):
    page = _text(site["html"] / "papers" / "fixture2020_power.html")
    assert "tag_injected-parameters" not in page
    assert page.count("tag_parameters") == 1 and "Parameters of this run" in page
    source = json.loads((site["source"] / "papers" / "fixture2020_power.ipynb").read_text())
    params = next(c for c in source["cells"] if "parameters" in c["metadata"].get("tags", []))
    text = "".join(params["source"])
    assert 'profile: str = "cpu"' in text and '(default "ci")' in text
    assert 'seed: int = 0  # >= 0' in text  # not injected: left as declared


def test_fact_sheet_is_defined(site):
    page = _text(site["html"] / "papers" / "fixture2020_power.html")
    assert "methods/claims.html#where-the-paper-values-come-from" in page
    claims = _text(site["html"] / "methods" / "claims.html")
    assert 'id="where-the-paper-values-come-from"' in claims and "fact sheet" in claims


def test_catalogue_statuses_are_derived_from_the_record(site):
    tags = _parse(site["html"] / "catalogue.html").tags
    rows = {a["id"]: a for t, a in tags if t == "tr" and "data-status" in a}
    assert sorted(rows) == sorted(f"paper-{p.id}" for p in site["catalogue"])
    derived = {"fixture2020_power": "partly reproduced", "fixture2021_theory": "reproduced",
               "fixture2023_refit": "not reproduced", "fixture2024_pending": "in progress",
               "fixture2022_broken": "in progress",  # a notebook, but no record of it
               "planned-vision-paper": "planned", "some-method": "out of scope"}
    for paper, status in derived.items():
        assert rows[f"paper-{paper}"]["data-status"] == status, paper
    # the real notebooks are not in the fixture record: in progress, never typed
    real = load_catalogue(ROOT / "data" / "papers.yaml")
    for p in real:
        if p.notebook:
            assert rows[f"paper-{p.id}"]["data-status"] == "in progress"
    order = ["reproduced", "partly reproduced", "not reproduced", "in progress", "planned",
             "out of scope"]
    ranks = [order.index(a["data-status"]) for t, a in tags if t == "tr" and "data-status" in a]
    assert ranks == sorted(ranks), "reproduced papers first, out-of-scope last"
    topics = {a["value"] for t, a in tags if t == "option" and a.get("value")}
    assert {p.topic for p in site["catalogue"]} <= topics
    text = _text(site["html"] / "catalogue.html")
    assert "<code>t5x</code>" in text and "texttt" not in text
    home = _text(site["html"] / "index.html")
    assert "1 reproduced, 1 partly reproduced, 1 not reproduced" in home


def test_exponent_plot_shows_every_counted_claim_with_both_values(site):
    claims = [read_claims(p) for p in sorted((site["inputs"]["record_dir"] / "claims").glob("*.json"))]
    points = exponent_points(claims)
    expected = [(paper, c[0]) for paper, _, cl in RECORD_PAPERS for c in cl
                if "exponent" in c[5] and c[2] is not None and c[3] is not None
                and (len(c) < 8 or c[7].get("kind") != "check")]
    assert sorted((p.paper, p.claim) for p in points) == sorted(expected)
    assert {p.name for p in points} == {f"Fixture et al. {2020 + i}" for i in range(4)}
    home = _text(site["html"] / "index.html")
    assert len(re.findall(r"<tr data-claim=", home)) == len(expected)
    assert re.search(r'<img[^>]+src="_images/exponents\.png"', home)
    alt = alt_text(points, "cpu")
    assert "2 not reproduced (filled crosses)" in alt and "Fixture et al. 2022 beta" in alt
    img = next(a for t, a in _parse(site["html"] / "index.html").tags
               if t == "img" and a.get("src", "").endswith("exponents.png"))
    assert img["alt"] == alt, "the alt text says what the plot draws"


def test_a_site_without_a_record_shows_the_smoke_test_as_such(tmp_path):
    _mathjax_or_skip()
    inputs = make_fixture_inputs(tmp_path / "inputs")
    record, smoke = resolve_runs(tmp_path / "inputs" / "results", inputs["build"])
    assert record is None and smoke is not None
    result = build_site(None, inputs["catalogue"], tmp_path / "out", smoke=smoke)
    html = result.html_dir
    home = _text(html / "index.html")
    assert "These are not results" in home and "make record" in home
    assert "data-source='run'" in home and not (html / "smoke.html").exists()
    paper = _text(html / "papers" / "fixture2020_power.html")
    assert "Smoke test, not a result" in paper
    statuses = {a["id"]: a["data-status"] for t, a in _parse(html / "catalogue.html").tags
                if t == "tr" and "data-status" in a}
    assert statuses["paper-fixture2021_theory"] == "in progress"  # no record: nothing derived


def test_a_sphinx_warning_fails_the_build(tmp_path):
    _mathjax_or_skip()
    inputs = make_fixture_record(tmp_path / "inputs", smoke=False)
    path = inputs["record_dir"] / "notebooks" / "fixture2020_power.ipynb"
    nb = json.loads(path.read_text())
    nb["cells"].insert(1, {"cell_type": "markdown", "id": "bad", "metadata": {},
                           "source": "See {ref}`a-label-that-does-not-exist`."})
    path.write_text(json.dumps(nb))
    with pytest.raises(SiteBuildError, match="a-label-that-does-not-exist"):
        build_site(inputs["record_run"], inputs["catalogue"], tmp_path / "out")


def test_missing_inputs_are_clear_errors(tmp_path, capsys):
    from scalinglab.site.__main__ import main
    with pytest.raises(SiteInputError, match="make record"):
        resolve_runs(tmp_path / "results", tmp_path / "build")
    inputs = make_fixture_record(tmp_path / "inputs")
    with pytest.raises(SiteInputError, match=r"make record PROFILE=gpu"):
        resolve_runs(inputs["results"], inputs["build"], profile="gpu")
    record, smoke = resolve_runs(inputs["results"], inputs["build"])
    assert (record.profile, smoke.profile) == ("cpu", "ci")
    # a gpu record is shown before the cpu one
    gpu = inputs["results"] / "gpu"
    gpu.mkdir()
    (gpu / "record.json").write_text(json.dumps({"profile": "gpu", "papers": {}}))
    assert resolve_runs(inputs["results"], inputs["build"])[0].profile == "gpu"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"profile": "ci", "papers": []}))
    run = smoke_run(inputs["build"])
    run.scorecard_path = bad
    with pytest.raises(SiteInputError, match="totals"):
        run.scorecard()
    with pytest.raises(SiteInputError, match="npm ci"):
        find_mathjax(tmp_path)
    # the command line says it in one line
    assert main(["build", "--results", str(tmp_path / "none"), "--build", str(tmp_path / "none"),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "make record" in err


def test_the_site_folder_has_no_cdn_reference():
    for path in (ROOT / "site").rglob("*"):
        if path.is_file() and path.suffix in (".py", ".js", ".css", ".html", ".md", ".svg"):
            text = path.read_text(encoding="utf-8")
            assert not re.search(r"cdn\.|jsdelivr|unpkg|googleapis|cdnjs", text), path


# -- pieces --------------------------------------------------------------------------
def test_formulas_become_tex():
    from scalinglab.site.mathtext import formula_tex
    assert formula_tex("A·x^(−alpha)") == r"A\cdot x^{-\alpha}"
    assert formula_tex("(N_c/N)^alpha_N") == r"(N_{c}/N)^{\alpha_{N}}"
    assert formula_tex("E + A/N^alpha + B/D^beta") == r"E + A/N^{\alpha} + B/D^{\beta}"
    assert formula_tex("L ~ N^-0.076") == r"L \sim N^{-0.076}"
    with pytest.raises(ValueError):
        formula_tex("(unbalanced")


def test_titles_render_tex_text_commands():
    from scalinglab.site.pages import title_html, title_text
    title = r"Scaling Up Models and Data with $\texttt{t5x}$ and $\texttt{seqio}$"
    assert title_html(title) == "Scaling Up Models and Data with <code>t5x</code> and <code>seqio</code>"
    assert title_text(title) == "Scaling Up Models and Data with t5x and seqio"
    assert title_html("A < B") == "A &lt; B"


def test_merge_parameters_keeps_one_cell():
    from scalinglab.site.pages import merge_parameters
    cells = [
        {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "outputs": [],
         "source": 'profile: str = "ci"  # ci|cpu|gpu\nworkers: int = 1'},
        {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "outputs": [],
         "source": '# Parameters\nprofile = "cpu"\nworkers = 1\nextra = 2\n'},
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": "run = 1"},
    ]
    out = merge_parameters(cells)
    assert [c["cell_type"] for c in out] == ["markdown", "code", "code"]
    assert out[1]["source"].splitlines() == [
        'profile: str = "cpu"  # ci|cpu|gpu (default "ci")', "workers: int = 1",
        "extra = 2  # set by the runner (not declared above)"]
    assert "`profile`, `extra`" in out[0]["source"]
    # without a parameters cell the injected one stays, labelled
    alone = merge_parameters(cells[1:])
    assert alone[0]["cell_type"] == "markdown" and "injected-parameters" in alone[1]["metadata"]["tags"]


def test_powers_in_claim_statements_are_superscripts():
    from scalinglab.site.mathtext import caret_html
    assert caret_html("L ∝ N^-alpha_N") == "L ∝ N<sup>−α<sub>N</sub></sup>"
    assert caret_html("error scales as T^-(1-1/alpha)") == "error scales as T<sup>−(1−1/α)</sup>"
    assert caret_html("k ~ T0^(1/beta), a < b") == "k ~ T0<sup>1/β</sup>, a &lt; b"
    assert caret_html("falls as C_min^-0.050") == "falls as C<sub>min</sub><sup>−0.050</sup>"
