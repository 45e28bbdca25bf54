"""What the site is built from: the scorecard, the claims files and the executed
notebooks of one profile, read into plain typed records.

The shapes are those the runner writes (``build/scorecard.json``,
``build/<profile>/claims/<paper>.json``, ``build/notebooks/<profile>/<paper>.ipynb`` with
``metadata["scalinglab"]``). Nothing here computes a verdict: the site shows what the
notebooks judged.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


# papermill marks the banner it puts on top of a failed notebook, and the anchor it puts
# before the failing cell, with this tag
PAPERMILL_ERROR_TAG = "papermill-error-cell-tag"


class SiteInputError(ValueError):
    """An input of the site build is missing or malformed (one-line message)."""


@dataclass
class ScorecardRow:
    paper: str
    title: str
    citation: str
    profile: str
    device: str
    status: str
    claims_total: int
    claims_judged: int
    claims_reproduced: int
    claims_indicative: int
    wall_time_s: float
    date: str
    notebook: str
    claims_file: str
    error: str


@dataclass
class Scorecard:
    profile: str
    generated_at: str
    totals: dict[str, int]
    papers: list[ScorecardRow]

    def row(self, paper: str) -> ScorecardRow | None:
        return next((r for r in self.papers if r.paper == paper), None)


TOTAL_KEYS = ("papers", "claims_total", "claims_judged", "claims_reproduced",
              "claims_indicative", "failed")


def read_scorecard(path: str | Path) -> Scorecard:
    path = Path(path)
    if not path.exists():
        raise SiteInputError(f"no scorecard at {path}: run `make reproduce` first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise SiteInputError(f"{path.name} is not valid JSON: {exc}") from None
    for key in ("profile", "totals", "papers"):
        if key not in data:
            raise SiteInputError(f"{path.name} lacks the field {key!r}")
    missing = [k for k in TOTAL_KEYS if k not in data["totals"]]
    if missing:
        raise SiteInputError(f"{path.name}: totals lack {', '.join(missing)}")
    rows = []
    for i, entry in enumerate(data["papers"]):
        try:
            rows.append(ScorecardRow(
                paper=str(entry["paper"]), title=entry.get("title") or "",
                citation=entry.get("citation") or "", profile=entry.get("profile") or data["profile"],
                device=entry.get("device") or "", status=entry.get("status") or "",
                claims_total=int(entry.get("claims_total", 0)),
                claims_judged=int(entry.get("claims_judged", 0)),
                claims_reproduced=int(entry.get("claims_reproduced", 0)),
                claims_indicative=int(entry.get("claims_indicative", 0)),
                wall_time_s=float(entry.get("wall_time_s") or 0.0), date=entry.get("date") or "",
                notebook=entry.get("notebook") or "", claims_file=entry.get("claims_file") or "",
                error=entry.get("error") or ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise SiteInputError(f"{path.name}: paper entry {i + 1} is malformed ({exc})") from None
    return Scorecard(profile=data["profile"], generated_at=data.get("generated_at", ""),
                     totals={k: int(data["totals"][k]) for k in TOTAL_KEYS}, papers=rows)


@dataclass
class ClaimRecord:
    paper: str
    id: str
    statement: str
    kind: str
    paper_value: float | None
    paper_source: str
    paper_interval: tuple[float, float] | None
    ours: float | None
    ours_interval: tuple[float, float] | None
    criterion_text: str
    min_profile: str
    verdict: str
    note: str
    reason: str
    unit: str
    tags: tuple[str, ...]


@dataclass
class Claims:
    paper: str
    title: str
    citation: str
    profile: str
    counts: dict[str, int]
    claims: list[ClaimRecord]
    provenance: dict[str, Any] = field(default_factory=dict)


def _interval(value: Any) -> tuple[float, float] | None:
    if not value or len(value) != 2 or any(v is None for v in value):
        return None
    return float(value[0]), float(value[1])


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def read_claims(path: str | Path) -> Claims:
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        claims = [ClaimRecord(
            paper=data["paper"], id=c["id"], statement=c.get("statement", ""), kind=c.get("kind", ""),
            paper_value=_number(c.get("paper_value")), paper_source=c.get("paper_source", ""),
            paper_interval=_interval(c.get("paper_interval")), ours=_number(c.get("ours")),
            ours_interval=_interval(c.get("ours_interval")),
            criterion_text=c.get("criterion_text", ""), min_profile=c.get("min_profile", ""),
            verdict=c.get("verdict", ""), note=c.get("note") or "", reason=c.get("reason") or "",
            unit=c.get("unit") or "", tags=tuple(c.get("tags") or ()),
        ) for c in data.get("claims", [])]
        return Claims(paper=data["paper"], title=data.get("title", ""),
                      citation=data.get("citation", ""), profile=data.get("profile", ""),
                      counts=dict(data.get("counts", {})), claims=claims,
                      provenance=dict(data.get("provenance") or {}))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SiteInputError(f"claims file {path.name} is unreadable or malformed ({exc})") from None


@dataclass
class ExecutedNotebook:
    paper: str
    path: Path
    notebook: dict[str, Any]
    run: dict[str, Any]  # metadata["scalinglab"]: profile, device, wall time, provenance

    @property
    def title(self) -> str:
        """The text of the first H1 of the first markdown cell, if any."""
        for cell in self.notebook.get("cells", []):
            if cell.get("cell_type") != "markdown" or PAPERMILL_ERROR_TAG in cell.get("metadata", {}).get("tags", []):
                continue
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            for line in source.splitlines():
                if line.startswith("# "):
                    return line[2:].strip()
            return ""
        return ""


def read_notebooks(folder: str | Path) -> list[ExecutedNotebook]:
    folder = Path(folder)
    if not folder.is_dir():
        raise SiteInputError(f"no executed notebooks in {folder}: run `make reproduce` for this profile first")
    found = []
    for path in sorted(folder.glob("*.ipynb")):
        if path.name.startswith((".", "_")):
            continue
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise SiteInputError(f"executed notebook {path.name} is not valid JSON: {exc}") from None
        found.append(ExecutedNotebook(paper=path.stem, path=path, notebook=nb,
                                      run=dict(nb.get("metadata", {}).get("scalinglab") or {})))
    return found
