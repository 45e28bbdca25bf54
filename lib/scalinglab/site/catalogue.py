"""The catalogue: every paper the suite reproduces, plans or has judged out of scope.

``data/papers.yaml`` is the single source of what is listed; the site's catalogue page,
its per-paper pages and the catalogue test all read it through :func:`load_catalogue`,
which checks every entry so a typo fails loudly instead of rendering a blank cell.

A paper's *status* is never typed: it is derived (:func:`derive_status`) from its
category, whether it has a notebook, and the results of record:

- out of scope: category C;
- planned: category A or B without a notebook;
- in progress: a notebook, but no record of it, or a record with no judged claim;
- reproduced: every judged counted claim of the record reproduced;
- partly reproduced: some of them;
- not reproduced: none of them.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml

from scalinglab.base.paths import project_root

CATEGORIES = ("A1", "A2", "A3", "B", "C")
# in the order the catalogue lists them
STATUSES = ("reproduced", "partly reproduced", "not reproduced", "in progress", "planned",
            "out of scope")
STATUS_MEANING = {
    "reproduced": "every judged claim of the record reproduced",
    "partly reproduced": "some judged claims of the record reproduced, not all",
    "not reproduced": "no judged claim of the record reproduced",
    "in progress": "a notebook, but no record of it yet, or no claim judged at the recorded profile",
    "planned": "in scope (category A or B), no notebook yet",
    "out of scope": "category C",
}
SOURCES = ("titles.txt", "added")

CATEGORY_MEANING = {
    "A1": "theory or simulation on a CPU in minutes",
    "A2": "one GPU under an hour, or a reduced CPU form",
    "A3": "refit of publicly released data",
    "B": "needs large compute or unreleased data",
    "C": "out of scope",
}

CATEGORY_SHORT = {"A1": "CPU minutes", "A2": "one GPU hour", "A3": "refit of released data",
                  "B": "large compute", "C": "out of scope"}

_ID = re.compile(r"^[a-z0-9][a-z0-9_\-]*$")
_ARXIV = re.compile(r"^\d{4}\.\d{4,5}$")


@dataclass(frozen=True)
class Paper:
    id: str
    title: str
    year: int | None
    arxiv: str | None
    category: str
    topic: str
    notebook: str | None
    reason: str
    source: str = "titles.txt"
    # derived, never typed: derive_status() with the record, or without one
    status: str = ""

    def __post_init__(self):
        if not self.status:
            object.__setattr__(self, "status", derive_status(self))

    @property
    def arxiv_url(self) -> str | None:
        return f"https://arxiv.org/abs/{self.arxiv}" if self.arxiv else None

    def to_dict(self) -> dict:
        return asdict(self)


def catalogue_path() -> Path:
    return project_root() / "data" / "papers.yaml"


def titles_path() -> Path:
    return project_root() / "data" / "titles.txt"


def read_titles(path: str | Path | None = None) -> list[str]:
    """The triaged titles, one a line after the header line ``title``."""
    lines = Path(path or titles_path()).read_text(encoding="utf-8").splitlines()
    if lines and lines[0].strip() == "title":
        lines = lines[1:]
    return [line for line in lines if line.strip()]


def _paper(entry: object, where: str) -> Paper:
    if not isinstance(entry, dict):
        raise ValueError(f"{where}: expected a mapping, got {type(entry).__name__}")
    if "status" in entry:
        raise ValueError(f"{where}: status is derived from the results of record, not typed: "
                         f"remove the field")
    fields = set(Paper.__dataclass_fields__) - {"status"}
    required = fields - {"source"}
    missing = sorted(required - set(entry))
    unknown = sorted(set(entry) - fields)
    if missing:
        raise ValueError(f"{where}: missing field(s) {', '.join(missing)}")
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)}")
    paper = Paper(**entry)
    where = f"{where} ({paper.id})"
    if not isinstance(paper.id, str) or not _ID.match(paper.id):
        raise ValueError(f"{where}: id must be a lowercase slug, got {paper.id!r}")
    if not isinstance(paper.title, str) or not paper.title.strip():
        raise ValueError(f"{where}: title must be a non-empty string")
    if paper.year is not None and not (isinstance(paper.year, int) and 1950 <= paper.year <= 2100):
        raise ValueError(f"{where}: year must be an integer year or null, got {paper.year!r}")
    if paper.arxiv is not None and not (isinstance(paper.arxiv, str) and _ARXIV.match(paper.arxiv)):
        raise ValueError(f"{where}: arxiv must look like '2001.08361' or be null, got {paper.arxiv!r}")
    if paper.category not in CATEGORIES:
        raise ValueError(f"{where}: category must be one of {', '.join(CATEGORIES)}, got {paper.category!r}")
    if paper.source not in SOURCES:
        raise ValueError(f"{where}: source must be one of {', '.join(SOURCES)}, got {paper.source!r}")
    if not isinstance(paper.topic, str) or not paper.topic.strip():
        raise ValueError(f"{where}: topic must be a non-empty string")
    if not isinstance(paper.reason, str) or not paper.reason.strip():
        raise ValueError(f"{where}: reason must be a non-empty string")
    if paper.notebook is not None:
        if not (isinstance(paper.notebook, str) and paper.notebook == f"{paper.id}.ipynb"):
            raise ValueError(f"{where}: notebook must be '{paper.id}.ipynb' or null, got {paper.notebook!r}")
    if paper.category == "C" and paper.notebook is not None:
        raise ValueError(f"{where}: a category C (out of scope) paper has no notebook")
    return paper


def load_catalogue(path: str | Path | None = None) -> list[Paper]:
    """Read and check ``data/papers.yaml``; entries come back in file order."""
    path = Path(path or catalogue_path())
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not isinstance(data.get("papers"), list):
        raise ValueError(f"{path.name}: expected a top-level 'papers:' list")
    papers = [_paper(entry, f"{path.name} entry {i + 1}") for i, entry in enumerate(data["papers"])]
    seen: dict[str, str] = {}
    for paper in papers:
        for key in (paper.id, "title:" + paper.title):
            if key in seen:
                raise ValueError(f"{path.name}: duplicate {'title' if key.startswith('title:') else 'id'} "
                                 f"{key.removeprefix('title:')!r}")
            seen[key] = paper.id
    return papers


def by_id(papers: list[Paper]) -> dict[str, Paper]:
    return {paper.id: paper for paper in papers}


def derive_status(paper: Paper, judged: int | None = None, reproduced: int | None = None) -> str:
    """The paper's status from its category, its notebook and its record: ``judged`` and
    ``reproduced`` are the record's counts of judged counted claims (None: no record)."""
    if paper.category == "C":
        return "out of scope"
    if paper.notebook is None:
        return "planned"
    if not judged:
        return "in progress"
    if reproduced == judged:
        return "reproduced"
    return "partly reproduced" if reproduced else "not reproduced"


def with_record(papers: list[Paper], counts: dict[str, tuple[int, int]]) -> list[Paper]:
    """The catalogue with each status derived from the record: ``counts`` maps a paper
    id to (judged, reproduced) counted claims at the recorded profile."""
    out = []
    for paper in papers:
        judged, reproduced = counts.get(paper.id, (None, None))
        out.append(replace(paper, status=derive_status(paper, judged, reproduced)))
    return out
