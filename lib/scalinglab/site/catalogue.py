"""The catalogue: every paper the suite reproduces, plans or has judged out of scope.

``data/papers.yaml`` is the single source; the site's catalogue page, its per-paper
pages and the catalogue test all read it through :func:`load_catalogue`, which checks
every entry so a typo fails loudly instead of rendering a blank cell.
"""
from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from pathlib import Path

import yaml

from scalinglab.repro.paths import project_root

CATEGORIES = ("A1", "A2", "A3", "B", "C")
STATUSES = ("reproduced", "in progress", "planned", "out of scope")
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
    status: str
    reason: str
    source: str = "titles.txt"

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
    fields = set(Paper.__dataclass_fields__)
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
    if paper.status not in STATUSES:
        raise ValueError(f"{where}: status must be one of {', '.join(STATUSES)}, got {paper.status!r}")
    if paper.source not in SOURCES:
        raise ValueError(f"{where}: source must be one of {', '.join(SOURCES)}, got {paper.source!r}")
    if not isinstance(paper.topic, str) or not paper.topic.strip():
        raise ValueError(f"{where}: topic must be a non-empty string")
    if not isinstance(paper.reason, str) or not paper.reason.strip():
        raise ValueError(f"{where}: reason must be a non-empty string")
    if paper.notebook is not None:
        if not (isinstance(paper.notebook, str) and paper.notebook == f"{paper.id}.ipynb"):
            raise ValueError(f"{where}: notebook must be '{paper.id}.ipynb' or null, got {paper.notebook!r}")
    if paper.status == "reproduced" and paper.notebook is None:
        raise ValueError(f"{where}: a reproduced paper needs its notebook")
    if (paper.category == "C") != (paper.status == "out of scope"):
        raise ValueError(f"{where}: category C and status 'out of scope' go together")
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
