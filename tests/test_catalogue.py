"""The catalogue (data/papers.yaml) against the notebooks and the triaged title list."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from scalinglab.site.catalogue import load_catalogue, read_titles

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


def test_reproduced_papers_have_notebooks_and_out_of_scope_papers_none(papers):
    for p in papers:
        if p.status == "reproduced":
            assert p.notebook == f"{p.id}.ipynb"
        if p.status == "out of scope":
            assert p.category == "C" and p.notebook is None


def test_the_reproduced_set(papers):
    reproduced = {p.id for p in papers if p.status == "reproduced"}
    assert {"kaplan2020_neural_lm", "hoffmann2022_chinchilla", "li2025_misfitting", "caballero2022_bnsl",
            "bahri2021_explaining", "maloney2022_solvable", "sorscher2022_data_pruning",
            "cabannes2023_associative_memory", "dohmatob2024_tale_of_tails"} <= reproduced


def test_loader_rejects_bad_entries(tmp_path):
    good = {"id": "x2020_y", "title": "T", "year": 2020, "arxiv": "2001.08361", "category": "A1",
            "topic": "t", "notebook": None, "status": "planned", "reason": "r"}

    def load(**change):
        path = tmp_path / "papers.yaml"
        path.write_text(yaml.safe_dump({"papers": [{**good, **change}]}))
        return load_catalogue(path)

    assert load()[0].arxiv_url == "https://arxiv.org/abs/2001.08361"
    for change, message in [({"category": "D"}, "category"), ({"status": "done"}, "status"),
                             ({"arxiv": "arXiv:2001.08361"}, "arxiv"), ({"id": "Bad Id"}, "slug"),
                             ({"notebook": "other.ipynb"}, "notebook"),
                             ({"status": "reproduced"}, "needs its notebook"),
                             ({"category": "C"}, "out of scope"), ({"colour": "red"}, "unknown")]:
        with pytest.raises(ValueError, match=message):
            load(**change)
    path = tmp_path / "papers.yaml"
    path.write_text(yaml.safe_dump({"papers": [good, {**good, "id": "other"}]}))
    with pytest.raises(ValueError, match="duplicate title"):
        load_catalogue(path)
