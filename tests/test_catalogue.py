"""The catalogue (data/papers.yaml) against the notebooks and the triaged title list, and
the rule that derives each paper's status from the results of record."""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
import yaml

from scalinglab.site.catalogue import Paper, derive_status, load_catalogue, read_titles, with_record

ROOT = Path(__file__).resolve().parents[1]
CATALOGUE = ROOT / "data" / "papers.yaml"
SHARED_TITLES = ROOT.parent / "shared" / "papers" / "titles.txt"


@pytest.fixture(scope="module")
def papers():
    return load_catalogue(CATALOGUE)


def test_every_notebook_is_catalogued(papers):
    listed = {p.notebook for p in papers if p.notebook}
    on_disk = {path.name for path in (ROOT / "notebooks").glob("*.ipynb")}
    assert not on_disk - listed, f"notebooks missing from data/papers.yaml: {sorted(on_disk - listed)}"


def test_every_catalogued_notebook_exists(papers):
    missing = [p.notebook for p in papers if p.notebook and not (ROOT / "notebooks" / p.notebook).exists()]
    assert not missing, f"data/papers.yaml names notebooks that are not in notebooks/: {missing}"


def test_every_title_appears_exactly_once(papers):
    titles = read_titles(ROOT / "data" / "titles.txt")
    assert len(titles) == len(set(titles)), "data/titles.txt repeats a title"
    counts = Counter(p.title for p in papers)
    missing = [t for t in titles if counts[t] == 0]
    repeated = [t for t in titles if counts[t] > 1]
    assert not missing, f"{len(missing)} titles are not in the catalogue, e.g. {missing[:3]}"
    assert not repeated, f"titles listed more than once: {repeated}"
    from_titles = {p.title for p in papers if p.source == "titles.txt"}
    assert from_titles == set(titles), "entries marked source: titles.txt must be exactly data/titles.txt"


@pytest.mark.skipif(not SHARED_TITLES.exists(), reason="no shared title list beside this checkout")
def test_title_list_matches_the_shared_list():
    assert read_titles(ROOT / "data" / "titles.txt") == read_titles(SHARED_TITLES)


def test_out_of_scope_papers_have_no_notebook(papers):
    for p in papers:
        if p.category == "C":
            assert p.notebook is None and p.status == "out of scope"


def test_the_reproduction_set_has_notebooks(papers):
    with_notebook = {p.id for p in papers if p.notebook}
    assert {"kaplan2020_neural_lm", "hoffmann2022_chinchilla", "li2025_misfitting", "caballero2022_bnsl",
            "bahri2021_explaining", "maloney2022_solvable", "sorscher2022_data_pruning",
            "cabannes2023_associative_memory", "dohmatob2024_tale_of_tails"} <= with_notebook


def test_status_is_derived_never_typed(papers):
    text = CATALOGUE.read_text(encoding="utf-8")
    assert not re.search(r"^\s+status:", text, re.M), "data/papers.yaml types a status"
    header = "".join(line for line in text.splitlines(True) if line.startswith("#"))
    assert "status is not typed" in header and "derives it from the results of record" in header
    # documented fields are the loader's fields
    documented = set(re.findall(r"^#   (\w+) ", header, re.M))
    assert documented == set(Paper.__dataclass_fields__) - {"status", "title", "year", "arxiv"}
    # without a record, a paper with a notebook is in progress
    for p in papers:
        expected = ("out of scope" if p.category == "C" else "planned" if p.notebook is None
                    else "in progress")
        assert p.status == expected, p.id


def test_derived_status_rule():
    paper = Paper(id="x2020_y", title="T", year=2020, arxiv=None, category="A1", topic="t",
                  notebook="x2020_y.ipynb", reason="r")
    assert derive_status(paper) == "in progress"  # no record
    assert derive_status(paper, 0, 0) == "in progress"  # nothing judged at the profile
    assert derive_status(paper, 3, 3) == "reproduced"
    assert derive_status(paper, 3, 1) == "partly reproduced"
    assert derive_status(paper, 3, 0) == "not reproduced"
    planned = Paper(id="p", title="P", year=None, arxiv=None, category="B", topic="t",
                    notebook=None, reason="r")
    assert derive_status(planned, 3, 3) == "planned"
    out = Paper(id="c", title="C", year=None, arxiv=None, category="C", topic="t",
                notebook=None, reason="r")
    assert out.status == "out of scope"
    updated = with_record([paper, planned, out], {"x2020_y": (2, 1)})
    assert [p.status for p in updated] == ["partly reproduced", "planned", "out of scope"]


def test_loader_rejects_bad_entries(tmp_path):
    good = {"id": "x2020_y", "title": "T", "year": 2020, "arxiv": "2001.08361", "category": "A1",
            "topic": "t", "notebook": None, "reason": "r"}

    def load(**change):
        path = tmp_path / "papers.yaml"
        path.write_text(yaml.safe_dump({"papers": [{**good, **change}]}))
        return load_catalogue(path)

    assert load()[0].arxiv_url == "https://arxiv.org/abs/2001.08361"
    assert load()[0].status == "planned"
    for change, message in [({"category": "D"}, "category"), ({"status": "planned"}, "derived"),
                             ({"arxiv": "arXiv:2001.08361"}, "arxiv"), ({"id": "Bad Id"}, "slug"),
                             ({"notebook": "other.ipynb"}, "notebook"),
                             ({"category": "C", "notebook": "x2020_y.ipynb"}, "out of scope"),
                             ({"colour": "red"}, "unknown")]:
        with pytest.raises(ValueError, match=message):
            load(**change)
    path = tmp_path / "papers.yaml"
    path.write_text(yaml.safe_dump({"papers": [good, {**good, "id": "other"}]}))
    with pytest.raises(ValueError, match="duplicate title"):
        load_catalogue(path)
